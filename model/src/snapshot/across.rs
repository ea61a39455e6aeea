//! Several processes' snapshots joined by the calls between them: a task
//! waiting for a [`RemoteRequest`] leads to the task that serves the same
//! call in the next process, and from there on to whatever that one waits
//! for (a lock's holder, a joined task, the next call). Chains that come
//! back to where they began are deadlocks across processes.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Snapshot, TaskInfo, WaitReason};
use crate::TaskId;
use crate::duration::format_duration;
use crate::span::RemoteRequest;

/// How far a chain is followed.
const DEPTH: usize = 32;

/// One process's snapshot, and what to call the process.
#[derive(Clone, Copy, Debug)]
pub struct Process<'a> {
    /// `checkout (pid 100)`.
    pub name: &'a str,
    /// Its snapshot.
    pub snapshot: &'a Snapshot,
}

/// A task of one of the joined processes: the process's index, the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Node {
    /// Which process, by its index among those joined.
    pub process: usize,
    /// The task.
    pub task: TaskId,
}

/// A call from a task of one process to the task serving it in another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLink {
    /// The waiting task.
    pub from: Node,
    /// The serving task.
    pub to: Node,
    /// The call.
    pub call: RemoteRequest,
}

/// What joining several processes' snapshots found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Across {
    /// The processes' names, by index.
    pub processes: Vec<String>,
    /// Every call whose two ends were found.
    pub calls: Vec<CallLink>,
    /// Calls whose serving task was not found in any joined process.
    pub unanswered: Vec<(Node, RemoteRequest)>,
    /// Chains from a task nobody waits for, through at least one call,
    /// to where the wait ends (a task that waits for nothing known).
    pub chains: Vec<Vec<Node>>,
    /// Cycles of waits through at least one call: deadlocks that no
    /// process sees alone.
    pub deadlocks: Vec<Vec<Node>>,
    /// What each node of a chain or cycle is doing, in one line.
    lines: HashMap<String, String>,
}

/// Joins `processes`' snapshots by the calls between them.
///
/// ```
/// use async_inspect_model::Snapshot;
/// use async_inspect_model::snapshot::across::{Process, join};
///
/// let (a, b) = (Snapshot::compiled_out(), Snapshot::compiled_out());
/// let joined = join(&[Process { name: "a", snapshot: &a }, Process { name: "b", snapshot: &b }]);
/// assert!(joined.calls.is_empty() && joined.deadlocks.is_empty());
/// ```
pub fn join(processes: &[Process<'_>]) -> Across {
    let task = |node: Node| processes[node.process].snapshot.task(node.task);
    // Who serves each call, by (trace, span).
    let mut servers: HashMap<(&str, &str), Node> = HashMap::new();
    for (process, p) in processes.iter().enumerate() {
        for t in p.snapshot.tasks().iter().filter(|t| !t.state.is_finished()) {
            if let Some(call) = &t.serves {
                let node = Node {
                    process,
                    task: t.id,
                };
                servers.insert((&call.trace_id, &call.span_id), node);
            }
        }
    }
    let mut calls = Vec::new();
    let mut unanswered = Vec::new();
    let mut edges: HashMap<Node, Vec<(Node, bool)>> = HashMap::new();
    for (process, p) in processes.iter().enumerate() {
        for t in p.snapshot.tasks().iter().filter(|t| !t.state.is_finished()) {
            let from = Node {
                process,
                task: t.id,
            };
            for wait in &t.waits {
                let local = |task: TaskId| (Node { process, task }, false);
                match &wait.reason {
                    WaitReason::Lock { holders, .. } | WaitReason::Channel { holders, .. } => {
                        let to = holders.iter().map(|h| local(h.task));
                        edges.entry(from).or_default().extend(to);
                    }
                    WaitReason::Join { task } => edges.entry(from).or_default().push(local(*task)),
                    WaitReason::Remote(call) => {
                        match servers.get(&(call.trace_id.as_str(), call.span_id.as_str())) {
                            Some(&to) => {
                                edges.entry(from).or_default().push((to, true));
                                calls.push(CallLink {
                                    from,
                                    to,
                                    call: call.clone(),
                                });
                            }
                            None => unanswered.push((from, call.clone())),
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let deadlocks = cycles(&edges);
    let in_cycle: HashSet<Node> = deadlocks.iter().flatten().copied().collect();
    let waited_for: HashSet<Node> = edges.values().flatten().map(|(to, _)| *to).collect();
    let mut chains = Vec::new();
    let mut heads: Vec<Node> = calls.iter().map(|c| c.from).collect();
    heads.sort_unstable();
    heads.dedup();
    for head in heads {
        if waited_for.contains(&head) || in_cycle.contains(&head) {
            continue;
        }
        chains.push(chain(head, &edges));
    }
    let mut lines = HashMap::new();
    for &node in chains.iter().chain(&deadlocks).flatten() {
        let line = match task(node) {
            Some(t) => describe(t, processes[node.process]),
            None => format!("task {} (not in the snapshot)", node.task),
        };
        lines.insert(key(node), line);
    }
    Across {
        processes: processes.iter().map(|p| p.name.to_owned()).collect(),
        calls,
        unanswered,
        chains,
        deadlocks,
        lines,
    }
}

fn key(node: Node) -> String {
    format!("{}/{}", node.process, node.task.as_u64())
}

/// From `head`, the first wait of each task on, until a task that waits
/// for nothing known, or one seen already.
fn chain(head: Node, edges: &HashMap<Node, Vec<(Node, bool)>>) -> Vec<Node> {
    let mut chain = vec![head];
    let mut seen = HashSet::from([head]);
    let mut at = head;
    while chain.len() < DEPTH {
        let Some(&(next, _)) = edges.get(&at).and_then(|e| e.first()) else {
            break;
        };
        if !seen.insert(next) {
            break;
        }
        chain.push(next);
        at = next;
    }
    chain
}

/// The cycles of `edges` that go through a call (a remote edge), each
/// once, from its smallest node.
fn cycles(edges: &HashMap<Node, Vec<(Node, bool)>>) -> Vec<Vec<Node>> {
    let mut found: Vec<Vec<Node>> = Vec::new();
    let mut starts: Vec<Node> = edges.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        // Depth-first along the waits, looking for a way back to `start`
        // through nodes no smaller than it (so each cycle is found once,
        // from its smallest node).
        let mut stack: Vec<(Node, usize)> = vec![(start, 0)];
        let mut path = vec![start];
        let mut remote = vec![false];
        let mut on_path = HashSet::from([start]);
        while let Some((node, next)) = stack.pop() {
            let out = edges.get(&node).map_or(&[][..], Vec::as_slice);
            let Some(&(to, is_remote)) = out.get(next) else {
                on_path.remove(&node);
                path.pop();
                remote.pop();
                continue;
            };
            stack.push((node, next + 1));
            if to == start {
                if is_remote || remote.iter().any(|r| *r) {
                    found.push(path.clone());
                }
                continue;
            }
            if to < start || on_path.contains(&to) || path.len() >= DEPTH {
                continue;
            }
            on_path.insert(to);
            path.push(to);
            remote.push(is_remote);
            stack.push((to, 0));
        }
    }
    found
}

/// `Task #9 POST /reserve in inventory (pid 200) · BLOCKED for 2.0s ·
/// Mutex `stock` held by #7 · at src/db.rs:40:9`.
fn describe(task: &TaskInfo, process: Process<'_>) -> String {
    let mut line = format!(
        "Task {} {} in {} · {} for {}",
        task.id,
        task.name,
        process.name,
        task.state.label(),
        format_duration(task.in_state_for(process.snapshot))
    );
    let remote = task.waits.iter().find_map(|w| match &w.reason {
        WaitReason::Remote(call) => Some(call),
        _ => None,
    });
    if let Some(call) = remote {
        line.push_str(&format!(" · waits for {}", call.request));
    } else if let Some(at) = task.parked_at() {
        line.push_str(&format!(" · {at}"));
    }
    if let Some(trace) = &task.trace_id {
        line.push_str(&format!(" · trace {trace}"));
    }
    line
}

impl Across {
    /// What the node is doing, in one line.
    pub fn line(&self, node: Node) -> Option<&str> {
        self.lines.get(&key(node)).map(String::as_str)
    }
}

impl fmt::Display for Across {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |node: Node| self.line(node).unwrap_or("?").to_owned();
        writeln!(
            f,
            "Across {} processes: {} calls followed",
            self.processes.len(),
            self.calls.len()
        )?;
        for cycle in &self.deadlocks {
            writeln!(f)?;
            writeln!(
                f,
                "DEADLOCK across processes: {} tasks wait for each other",
                cycle.len()
            )?;
            for node in cycle {
                writeln!(f, "  {}", line(*node))?;
                writeln!(f, "  ↓")?;
            }
            if let Some(first) = cycle.first() {
                writeln!(
                    f,
                    "  back to task {} in {}",
                    first.task, self.processes[first.process]
                )?;
            }
        }
        for chain in &self.chains {
            writeln!(f)?;
            for (i, node) in chain.iter().enumerate() {
                let indent = "  ".repeat(i);
                let arrow = if i == 0 { "" } else { "→ " };
                writeln!(f, "{indent}{arrow}{}", line(*node))?;
            }
        }
        for (from, call) in &self.unanswered {
            writeln!(
                f,
                "\nTask {} in {} waits for {}: no joined process serves it (trace {}, span {})",
                from.task, self.processes[from.process], call.request, call.trace_id, call.span_id
            )?;
        }
        Ok(())
    }
}
