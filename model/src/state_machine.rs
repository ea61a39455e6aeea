//! A task's future as its state machine: which async fn or block it is,
//! the `.await` it is suspended at, the locals alive there, and the futures
//! it awaits, decoded from the program's debuginfo (no annotation needed;
//! see the `async-inspect-debuginfo` crate).
//!
//! Every string in it is display text: paths and type names as the DWARF
//! spells them, values printed roughly like `{:?}`.

use serde::{Deserialize, Serialize};

/// One future in a task's tree: an `async fn`, an `async {}` block, a
/// combinator holding other futures, or a leaf future.
///
/// The root is the task's own future; `children` are the futures it is
/// awaiting (one for an `.await`, one per branch for a join or select).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateNode {
    /// The fn path for an `async fn` (`app::fetch_user`, generic instances
    /// keep their arguments: `app::get<u8>`), the enclosing fn path plus
    /// `::{async block}` for an async block, the type name otherwise.
    pub path: String,
    /// What kind of future this is.
    pub kind: NodeKind,
    /// Where the state machine is; [`NodeState::Unknown`] for futures that
    /// are not compiler-generated state machines.
    pub state: NodeState,
    /// Where the `async fn` or block is written, when the debuginfo says.
    pub defined_at: Option<SourceLine>,
    /// The variables alive in this state: for a suspended state machine, the
    /// locals saved across the current `.await`; for an unresumed one, its
    /// arguments or captures.
    pub locals: Vec<Local>,
    /// The futures this one is waiting on.
    pub children: Vec<StateNode>,
    /// Something under this node was left out or shortened because the
    /// decode's budget ran out: a deeper child, a long value, an unread
    /// pointer.
    pub truncated: bool,
    /// Why this node could not be decoded further, when it could not.
    pub error: Option<String>,
    /// For a leaf future the decoder knows: what it waits for, in a few
    /// words (`deadline in 58s`, `no value sent yet; its sender is alive`,
    /// `3 senders alive`, `joins task #4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl StateNode {
    /// Whether this node or any node below it was truncated by the budget.
    ///
    /// ```
    /// use async_inspect_model::state_machine::{NodeKind, NodeState, StateNode};
    ///
    /// let mut leaf = StateNode::new("tokio::time::Sleep".into(), NodeKind::Leaf("tokio::time::Sleep".into()));
    /// leaf.truncated = true;
    /// let mut root = StateNode::new("app::main".into(), NodeKind::AsyncFn);
    /// root.children.push(leaf);
    /// assert!(root.any_truncated());
    /// ```
    pub fn any_truncated(&self) -> bool {
        self.truncated || self.children.iter().any(StateNode::any_truncated)
    }

    /// A node with the given path and kind, in [`NodeState::Unknown`], with
    /// no locals, children or error.
    pub fn new(path: String, kind: NodeKind) -> StateNode {
        StateNode {
            path,
            kind,
            state: NodeState::Unknown,
            defined_at: None,
            locals: Vec::new(),
            children: Vec::new(),
            truncated: false,
            error: None,
            detail: None,
        }
    }

    /// The chain of nodes from this one down through first children, this
    /// one first: the "logical stack" of a task that awaits one thing at a
    /// time.
    ///
    /// ```
    /// use async_inspect_model::state_machine::{NodeKind, StateNode};
    ///
    /// let mut root = StateNode::new("app::a".into(), NodeKind::AsyncFn);
    /// root.children.push(StateNode::new("app::b".into(), NodeKind::AsyncFn));
    /// let paths: Vec<&str> = root.first_chain().map(|n| n.path.as_str()).collect();
    /// assert_eq!(paths, ["app::a", "app::b"]);
    /// ```
    pub fn first_chain(&self) -> impl Iterator<Item = &StateNode> {
        std::iter::successors(Some(self), |n| n.children.first())
    }

    /// Whether this is a library's future (the runtime's, async-inspect's
    /// wrappers, `std`, or any defined outside the program's package)
    /// rather than the program's own: the report folds those.
    pub fn is_library(&self) -> bool {
        let path = match &self.kind {
            NodeKind::Leaf(name) => name.as_str(),
            _ => self.path.as_str(),
        };
        let first = path.split("::").next().unwrap_or(path);
        let defined_outside = self
            .defined_at
            .as_ref()
            .is_some_and(|at| at.file.starts_with('/'));
        LIBRARIES.contains(&first) || defined_outside
    }

    /// The innermost of the program's own futures on the first chain that
    /// is suspended at an `.await`: where a person would say the task is
    /// parked.
    ///
    /// ```
    /// use async_inspect_model::state_machine::{NodeKind, NodeState, StateNode};
    ///
    /// let mut root = StateNode::new("app::a".into(), NodeKind::AsyncFn);
    /// root.state = NodeState::Suspended { index: 0, file: "src/a.rs".into(), line: 3, column: None };
    /// let mut lib = StateNode::new("tokio::sync::oneshot::Receiver<u8>".into(), NodeKind::Leaf("tokio::sync::oneshot::Receiver<u8>".into()));
    /// root.children.push(lib);
    /// assert_eq!(root.parked_in().unwrap().path, "app::a");
    /// ```
    pub fn parked_in(&self) -> Option<&StateNode> {
        self.first_chain()
            .take_while(|n| !n.is_library())
            .filter(|n| matches!(n.state, NodeState::Suspended { .. }))
            .last()
    }

    /// The local with this name, if the node has one.
    pub fn local(&self, name: &str) -> Option<&Local> {
        self.locals.iter().find(|l| l.name == name)
    }
}

/// What kind of future a [`StateNode`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// The state machine of an `async fn`.
    AsyncFn,
    /// The state machine of an `async {}` block (or closure).
    AsyncBlock,
    /// A future that is not a compiler-generated state machine and holds
    /// none, named by its type (`tokio::time::Sleep`).
    Leaf(String),
    /// A future that is not a state machine but holds others, each a child:
    /// joins, selects, timeouts, `MaybeDone`.
    Combinator,
    /// A future that could not be decoded: the budget ran out, memory was
    /// unreadable, or the debuginfo does not describe it.
    Opaque,
}

/// Where a state machine is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Created, never polled: the arguments are still in place.
    Unresumed,
    /// Suspended at an `.await`.
    Suspended {
        /// The number of the suspension point in the fn (`Suspend{index}`),
        /// counted by the compiler from 0.
        index: u32,
        /// The source file of the `.await`.
        file: String,
        /// The line of the `.await`.
        line: u32,
        /// The column of the `.await`; the DWARF does not carry it today.
        column: Option<u32>,
    },
    /// Finished: it returned `Poll::Ready`.
    Returned,
    /// A poll panicked; polling it again panics.
    Panicked,
    /// Not a state machine, or its state could not be read.
    Unknown,
}

/// A source line as the debuginfo gives it (it has no columns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLine {
    /// The file path as the compiler was given it (relative to the
    /// package for the program's own files, as `file!()` has it).
    pub file: String,
    /// The 1-based line.
    pub line: u32,
}

/// A variable saved in a state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Local {
    /// The variable's name; compiler temporaries held across an `.await`
    /// (a guard in an expression, say) are named `__0`, `__1`, ….
    pub name: String,
    /// Its type as the debuginfo names it (`alloc::string::String`).
    pub type_name: String,
    /// Its value, printed roughly like `{:?}` and bounded by the budget;
    /// memory that cannot be read prints as `<unreadable 0x…>`.
    pub value: String,
}

/// Crates whose futures are a library's, not the program's own.
const LIBRARIES: &[&str] = &[
    "async_inspect",
    "tokio",
    "futures",
    "std",
    "core",
    "alloc",
    "smol",
    "async_std",
    "async_io",
    "async_task",
    "async_executor",
    "async_channel",
    "event_listener",
    "hyper",
    "tower",
    "axum",
];
