//! The report's view of a task's future decoded from debuginfo: its async
//! fns and blocks from root to leaf, the `.await` each is suspended at,
//! the locals alive there, and what the leaf waits on.
//!
//! The program's own futures are shown in full; once the chain enters a
//! library (the runtime, async-inspect's wrappers, `std`), the rest is one
//! line: where it entered and the future it ends on.

use std::fmt::{self, Formatter};

use super::{FrameInfo, Snapshot, TaskInfo};
use crate::state_machine::{NodeKind, NodeState, StateNode};

/// How many locals of one future the report lists.
const LOCALS_LISTED: usize = 12;

/// How many characters of a local's value the report shows (the snapshot
/// keeps all the decoder read).
const VALUE_SHOWN: usize = 240;

/// `value`, cut to [`VALUE_SHOWN`] characters with `…`.
fn bounded(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(VALUE_SHOWN) {
        Some((at, _)) => format!("{}…", &value[..at]).into(),
        None => value.into(),
    }
}

impl Snapshot {
    /// Writes `task`'s decoded future, one line per future in the chain it
    /// awaits (a join's or select's branches each on their own line).
    pub(super) fn write_state_machine(
        &self,
        f: &mut Formatter<'_>,
        task: &TaskInfo,
        root: &StateNode,
    ) -> fmt::Result {
        write_node(f, root, "│ ", "", task)
    }

    /// Writes what the innermost traced call `frame` waits on when it is
    /// parked at no traced await, as in a `select!` or `join!` (whose
    /// awaits the macro writes, out of `#[trace]`'s sight): the futures its
    /// decoded body awaits, every branch on its own line with the line it
    /// is at.
    pub(super) fn write_branches_below(
        &self,
        f: &mut Formatter<'_>,
        task: &TaskInfo,
        frame: &FrameInfo,
        indent: &str,
    ) -> fmt::Result {
        match task
            .state_machine
            .as_ref()
            .and_then(|root| body_of(root, frame))
        {
            Some(body) => {
                if let NodeState::Suspended { file, line, .. } = &body.state {
                    writeln!(f, "{indent}└─ parked at {file}:{line}, on:")?;
                }
                write_children(f, &body.children, &format!("{indent}   "), task)
            }
            None => Ok(()),
        }
    }

    /// Writes, under the blocked await of `frame` (a task's innermost
    /// traced call), the program's own async fns that await decoded below
    /// it: the untraced code a traced call waits in. The frame's own line,
    /// arguments and steps stay as `#[trace]` recorded them.
    pub(super) fn write_untraced_below(
        &self,
        f: &mut Formatter<'_>,
        task: &TaskInfo,
        frame: &FrameInfo,
        indent: &str,
    ) -> fmt::Result {
        let Some(own) = task
            .state_machine
            .as_ref()
            .and_then(|root| body_of(root, frame))
        else {
            return Ok(());
        };
        let below = own.first_chain().skip(1).find(|n| {
            matches!(n.kind, NodeKind::AsyncFn | NodeKind::AsyncBlock) && !n.is_library()
        });
        match below {
            Some(node) => write_node(f, node, indent, "└─> ", task),
            None => Ok(()),
        }
    }
}

/// The decoded node of a traced call's body: the innermost on the first
/// chain that is the fn `frame` runs or a block inside it.
fn body_of<'a>(root: &'a StateNode, frame: &FrameInfo) -> Option<&'a StateNode> {
    let path = format!("{}::{}", frame.module_path, frame.function);
    let inside = format!("{path}::");
    root.first_chain()
        .filter(|n| n.path == path || n.path.starts_with(&inside))
        .last()
}

fn write_node(
    f: &mut Formatter<'_>,
    node: &StateNode,
    indent: &str,
    connector: &str,
    task: &TaskInfo,
) -> fmt::Result {
    let inner = if connector.is_empty() {
        indent.to_owned()
    } else {
        format!("{indent}    ")
    };
    if node.is_library() && !connector.is_empty() {
        return write_library(f, node, indent, connector, task);
    }
    // A wrapper around one future (`Instrumented`, `Pin<Box<…>>`): only
    // the future it wraps.
    if let (NodeKind::Combinator, [only]) = (&node.kind, node.children.as_slice()) {
        return write_node(f, only, indent, connector, task);
    }
    write!(f, "{indent}{connector}{}", title(node))?;
    match &node.state {
        NodeState::Suspended { file, line, .. } => {
            write!(f, "   {file}:{line}")?;
            if node.children.is_empty() {
                write!(f, " ◄─── {}", leaf_word(task, node))?;
            }
        }
        NodeState::Unresumed => write!(f, "   (not started)")?,
        NodeState::Returned => write!(f, "   (done)")?,
        NodeState::Panicked => write!(f, "   (panicked)")?,
        NodeState::Unknown => {
            if matches!(node.kind, NodeKind::Leaf(_)) {
                write!(f, " ◄─── {}", leaf_word(task, node))?;
            }
        }
    }
    if let Some(error) = &node.error {
        write!(f, "   ({error})")?;
    }
    writeln!(f)?;
    // Compiler temporaries held across the await (`__0`) say nothing.
    let locals: Vec<_> = node
        .locals
        .iter()
        .filter(|l| !l.name.starts_with("__"))
        .collect();
    for local in locals.iter().take(LOCALS_LISTED) {
        writeln!(f, "{inner}      {} = {}", local.name, bounded(&local.value))?;
    }
    if locals.len() > LOCALS_LISTED {
        writeln!(
            f,
            "{inner}      … {} more locals",
            locals.len() - LOCALS_LISTED
        )?;
    }
    write_children(f, &node.children, &inner, task)
}

/// Each of `children` under its parent, the last with a closing corner.
fn write_children(
    f: &mut Formatter<'_>,
    children: &[StateNode],
    indent: &str,
    task: &TaskInfo,
) -> fmt::Result {
    let last = children.len().saturating_sub(1);
    for (i, child) in children.iter().enumerate() {
        let connector = if i == last { "└─> " } else { "├─> " };
        write_node(f, child, indent, connector, task)?;
    }
    Ok(())
}

/// A library's future and everything it awaits, on one line: the library
/// code it entered (`tokio::sync::mutex::lock`) and the future the chain
/// ends on, or its branches when it splits.
fn write_library(
    f: &mut Formatter<'_>,
    node: &StateNode,
    indent: &str,
    connector: &str,
    task: &TaskInfo,
) -> fmt::Result {
    let mut leaf = node;
    while let [only] = leaf.children.as_slice() {
        leaf = only;
    }
    write!(f, "{indent}{connector}{}", short_path(node))?;
    if !std::ptr::eq(leaf, node) {
        write!(f, " … {}", short_path(leaf))?;
    }
    if leaf.children.is_empty() {
        writeln!(f, " ◄─── {}", leaf_word(task, leaf))?;
        return Ok(());
    }
    writeln!(f)?;
    write_children(f, &leaf.children, &format!("{indent}    "), task)
}

/// A future's path without generic arguments, rustc's impl and closure
/// namespaces: `tokio::sync::mutex::{impl#10}::lock<u32>` reads
/// `tokio::sync::mutex::lock`.
fn short_path(node: &StateNode) -> String {
    let path = match &node.kind {
        NodeKind::Leaf(name) => name.as_str(),
        _ => node.path.as_str(),
    };
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split("::")
        .filter(|segment| !segment.starts_with('{'))
        .collect::<Vec<_>>()
        .join("::")
}

/// What a future is called in the report: `app::fetch_user`, `async block
/// in app::main`, or a leaf future's type.
fn title(node: &StateNode) -> String {
    match &node.kind {
        NodeKind::AsyncFn => node.path.clone(),
        NodeKind::AsyncBlock => {
            // `app::serve::{async_fn#0}::{async block}`: in `app::serve`.
            let mut owner = node.path.as_str();
            while let Some((outer, last)) = owner.rsplit_once("::")
                && last.starts_with('{')
                && !last.starts_with("{impl#")
            {
                owner = outer;
            }
            format!("async block in {owner}")
        }
        // A long generic type reads by its path alone.
        NodeKind::Leaf(name) if name.len() > 80 => format!("`{}`", short_path(node)),
        NodeKind::Leaf(name) => format!("`{name}`"),
        NodeKind::Combinator => format!("{} (each branch:)", node.path),
        NodeKind::Opaque if node.path.is_empty() => "(the task's future)".to_owned(),
        NodeKind::Opaque => format!("`{}`", node.path),
    }
}

/// The mark at the end of the chain, with what the leaf waits for when
/// the decoder knows: `waiting here: deadline in 58s`.
fn leaf_word(task: &TaskInfo, leaf: &StateNode) -> String {
    let word = if task.state == super::TaskState::Blocked {
        "BLOCKED here"
    } else {
        "waiting here"
    };
    match &leaf.detail {
        Some(detail) => format!("{word}: {detail}"),
        None => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use crate::state_machine::{Local, NodeKind, NodeState, StateNode};

    fn suspended(path: &str, line: u32, locals: &[(&str, &str)]) -> StateNode {
        let mut node = StateNode::new(path.into(), NodeKind::AsyncFn);
        node.state = NodeState::Suspended {
            index: 0,
            file: "src/app.rs".into(),
            line,
            column: None,
        };
        node.locals = locals
            .iter()
            .map(|(name, value)| Local {
                name: (*name).into(),
                type_name: "u32".into(),
                value: (*value).into(),
            })
            .collect();
        node
    }

    /// The report of the sample snapshot whose first task is untraced,
    /// with `machine` decoded; and where that task is suspended.
    fn report_of(machine: StateNode) -> (String, Option<String>) {
        let mut snapshot = crate::snapshot::sample();
        let task = &mut snapshot.tasks_mut()[0];
        task.frames.clear();
        task.waits.clear();
        task.state_machine = Some(Box::new(machine));
        let at = task.suspended_at();
        (snapshot.to_string(), at)
    }

    #[test]
    fn the_chain_shows_each_await_line_and_its_locals_and_folds_library_futures() {
        let mut root = suspended("app::handle", 10, &[("user", "\"ann\""), ("__3", "false")]);
        let mut inner = suspended("app::fetch", 20, &[("page", "2")]);
        let mut lib = suspended(
            "tokio::sync::mutex::{impl#10}::lock<u32>",
            436,
            &[("x", "1")],
        );
        let mut acquire = StateNode::new(
            "tokio::sync::batch_semaphore::Acquire".into(),
            NodeKind::Leaf("tokio::sync::batch_semaphore::Acquire".into()),
        );
        acquire.detail = Some("1 permit short".into());
        lib.children.push(acquire);
        inner.children.push(lib);
        root.children.push(inner);
        let (text, at) = report_of(root);
        assert!(text.contains("app::handle   src/app.rs:10"), "{text}");
        assert!(text.contains("└─> app::fetch   src/app.rs:20"), "{text}");
        assert!(
            text.contains(r#"user = "ann""#) && text.contains("page = 2"),
            "{text}"
        );
        assert!(!text.contains("__3"), "temporaries are hidden: {text}");
        assert!(
            text.contains(
                "└─> tokio::sync::mutex::lock … tokio::sync::batch_semaphore::Acquire ◄───"
            ),
            "{text}"
        );
        assert!(
            text.contains(" here: 1 permit short\n"),
            "the leaf says what it waits for: {text}"
        );
        assert!(
            !text.contains("x = 1"),
            "a library's locals are folded: {text}"
        );
        assert_eq!(at.as_deref(), Some("fetch  src/app.rs:20"));
    }

    #[test]
    fn a_long_value_is_cut_in_the_report() {
        let long = format!("Listener {{ {} }}", "x".repeat(400));
        let root = suspended("app::serve", 3, &[("server", long.as_str())]);
        let (text, _) = report_of(root);
        let line = text.lines().find(|l| l.contains("server = ")).unwrap();
        assert!(line.ends_with('…'), "{line}");
        assert!(line.chars().count() < 280, "{line}");
    }

    #[test]
    fn branches_are_siblings() {
        let mut root = StateNode::new("app::both::{async_block#0}".into(), NodeKind::AsyncBlock);
        root.state = NodeState::Suspended {
            index: 0,
            file: "src/app.rs".into(),
            line: 5,
            column: None,
        };
        root.children.push(suspended("app::left", 7, &[]));
        root.children.push(suspended("app::right", 9, &[]));
        let (text, _) = report_of(root);
        assert!(
            text.contains("async block in app::both   src/app.rs:5"),
            "{text}"
        );
        assert!(text.contains("├─> app::left   src/app.rs:7"), "{text}");
        assert!(text.contains("└─> app::right   src/app.rs:9"), "{text}");
    }
}
