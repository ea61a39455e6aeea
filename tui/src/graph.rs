//! The Graph tab's text: the wait-for graph walked from the selected task
//! (what it waits for, who holds that, what they wait for in turn, a
//! cycle marked as the deadlock it is) and the task tree around it.

use std::collections::HashSet;

use async_inspect_model::format_duration;
use async_inspect_model::{Snapshot, TaskId, TaskInfo, WaitReason};

/// How deep the walk goes before it says "…".
const DEEPEST: usize = 16;

/// The lines of the graph around `task`.
pub(crate) fn lines(snapshot: &Snapshot, task: TaskId) -> Vec<String> {
    let mut out = vec![format!("Wait-for graph from task {task}")];
    let mut on_path = Vec::new();
    walk(snapshot, task, 0, &mut on_path, &mut out);
    out.push(String::new());
    out.push("Task tree".to_owned());
    let root = root_of(snapshot, task);
    tree(
        snapshot,
        root,
        task,
        "",
        true,
        &mut out,
        &mut HashSet::new(),
    );
    out
}

fn describe(snapshot: &Snapshot, task: &TaskInfo) -> String {
    let parked = task
        .blocked_at()
        .map(|(_, step)| format!(" at {}.await", step.expr))
        .unwrap_or_default();
    format!(
        "{} {} · {} for {}{parked}",
        task.id,
        task.name,
        task.state.label(),
        format_duration(task.in_state_for(snapshot))
    )
}

fn walk(
    snapshot: &Snapshot,
    id: TaskId,
    depth: usize,
    on_path: &mut Vec<TaskId>,
    out: &mut Vec<String>,
) {
    let indent = "    ".repeat(depth);
    let Some(task) = snapshot.task(id) else {
        out.push(format!("{indent}{id} (not in this snapshot)"));
        return;
    };
    out.push(format!("{indent}{}", describe(snapshot, task)));
    if depth >= DEEPEST {
        out.push(format!("{indent}    …"));
        return;
    }
    on_path.push(id);
    for wait in &task.waits {
        let (what, next): (String, Vec<TaskId>) = match &wait.reason {
            WaitReason::Lock { resource, holders } => (
                format!("{} `{}`", resource.kind, resource.name),
                holders.iter().map(|h| h.task).collect(),
            ),
            WaitReason::Channel { end, holders } => (
                format!("channel `{}`", end.name),
                holders.iter().map(|h| h.task).collect(),
            ),
            WaitReason::Join { task } => (format!("task {task} to finish"), vec![*task]),
            WaitReason::Sleep { until } => {
                let left = until.saturating_sub(snapshot.taken_at());
                (
                    format!("a sleep (wakes in {})", format_duration(left)),
                    vec![],
                )
            }
            WaitReason::Other(text) => (text.clone(), vec![]),
            WaitReason::Remote(call) => (call.request.clone(), vec![]),
            WaitReason::Paused { breakpoint, place } => (
                format!("nothing: paused at breakpoint {breakpoint} in {place}"),
                vec![],
            ),
            _ => ("something".to_owned(), vec![]),
        };
        let held = if next.is_empty() || matches!(wait.reason, WaitReason::Join { .. }) {
            String::new()
        } else {
            let names: Vec<String> = next.iter().map(ToString::to_string).collect();
            format!(", held by {}", names.join(", "))
        };
        out.push(format!("{indent}└─ waits for {what}{held}"));
        for holder in next {
            if let Some(at) = on_path.iter().position(|t| *t == holder) {
                let cycle: Vec<String> = on_path[at..]
                    .iter()
                    .chain(std::iter::once(&holder))
                    .map(ToString::to_string)
                    .collect();
                out.push(format!(
                    "{indent}    ↺ {holder}: a cycle, {} — DEADLOCK",
                    cycle.join(" → ")
                ));
            } else {
                walk(snapshot, holder, depth + 1, on_path, out);
            }
        }
    }
    on_path.pop();
}

fn root_of(snapshot: &Snapshot, mut id: TaskId) -> TaskId {
    for _ in 0..snapshot.tasks().len() {
        match snapshot.task(id).and_then(|t| t.parent) {
            Some(parent) if snapshot.task(parent).is_some() => id = parent,
            _ => break,
        }
    }
    id
}

fn tree(
    snapshot: &Snapshot,
    id: TaskId,
    selected: TaskId,
    prefix: &str,
    last: bool,
    out: &mut Vec<String>,
    seen: &mut HashSet<TaskId>,
) {
    if !seen.insert(id) {
        return;
    }
    let Some(task) = snapshot.task(id) else {
        return;
    };
    let branch = if prefix.is_empty() {
        ""
    } else if last {
        "└─ "
    } else {
        "├─ "
    };
    let mark = if id == selected {
        "   ◄ selected"
    } else {
        ""
    };
    out.push(format!(
        "{prefix}{branch}{} {} · {}{mark}",
        task.id,
        task.name,
        task.state.label()
    ));
    let children: Vec<TaskId> = snapshot
        .tasks()
        .iter()
        .filter(|t| t.parent == Some(id))
        .map(|t| t.id)
        .collect();
    let deeper = if prefix.is_empty() {
        "  ".to_owned()
    } else if last {
        format!("{prefix}   ")
    } else {
        format!("{prefix}│  ")
    };
    let count = children.len();
    for (i, child) in children.into_iter().enumerate() {
        tree(
            snapshot,
            child,
            selected,
            &deeper,
            i + 1 == count,
            out,
            seen,
        );
    }
}
