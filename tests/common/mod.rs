//! Helpers shared by the behaviour tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use async_inspect::{Snapshot, TaskId, TaskInfo};

/// The safety net: no test waits longer than this for an event.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Takes snapshots, yielding to the runtime in between, until `ready` holds.
/// Panics (naming `what`) if it does not within [`PATIENCE`].
pub async fn eventually(what: &str, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let start = Instant::now();
    loop {
        if let Some(snapshot) = check(what, &ready, start) {
            return snapshot;
        }
        tokio::task::yield_now().await;
    }
}

/// [`eventually`] for a test thread outside any runtime.
pub fn eventually_blocking(what: &str, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let start = Instant::now();
    loop {
        if let Some(snapshot) = check(what, &ready, start) {
            return snapshot;
        }
        std::thread::yield_now();
    }
}

/// One look: the snapshot if `ready` holds; a panic past [`PATIENCE`].
fn check(what: &str, ready: impl Fn(&Snapshot) -> bool, start: Instant) -> Option<Snapshot> {
    let snapshot = async_inspect::snapshot();
    if ready(&snapshot) {
        return Some(snapshot);
    }
    assert!(
        start.elapsed() < PATIENCE,
        "timed out waiting for {what}; last snapshot:\n{snapshot}"
    );
    None
}

/// Takes a snapshot after one where a wait showed: a lock wait is checked
/// for deadlocks before it shows, but a snapshot reads deadlocks before
/// tasks, so only the next one surely has any deadlock the wait closed.
pub fn after_checks() -> Snapshot {
    async_inspect::snapshot()
}

/// The task `id` in `snapshot`, which must be there.
pub fn task(snapshot: &Snapshot, id: TaskId) -> &TaskInfo {
    snapshot
        .task(id)
        .unwrap_or_else(|| panic!("task {id} missing from the snapshot:\n{snapshot}"))
}

/// The task `id` is parked (its poll has ended) at a traced await of
/// `function`.
pub fn blocked_in(snapshot: &Snapshot, id: TaskId, function: &str) -> bool {
    snapshot
        .task(id)
        .filter(|t| t.state == async_inspect::TaskState::Blocked)
        .and_then(|t| t.blocked_at())
        .is_some_and(|(frame, _)| frame.function == function)
}

/// The functions of the task's stack, outermost first.
pub fn stack_names(task: &TaskInfo) -> Vec<String> {
    task.stack()
        .iter()
        .map(|f| f.function.to_string())
        .collect()
}

/// The task `id` is parked (its poll has ended) at the traced await of
/// `expr`.
pub fn parked_at(snapshot: &Snapshot, id: TaskId, expr: &str) -> bool {
    snapshot
        .task(id)
        .filter(|t| t.state == async_inspect::TaskState::Blocked)
        .and_then(|t| t.blocked_at())
        .is_some_and(|(_, step)| step.expr == expr)
}

/// Everything `recorder` gets until `done` holds of it; panics past
/// [`PATIENCE`].
pub fn recorded_until(
    recorder: &async_inspect::record::Recorder,
    done: impl Fn(&[async_inspect::record::Batch]) -> bool,
) -> Vec<async_inspect::record::Batch> {
    let start = Instant::now();
    let mut batches = Vec::new();
    while !done(&batches) {
        assert!(start.elapsed() < PATIENCE, "the recording never had it");
        batches.extend(recorder.recv_timeout(Duration::from_millis(50)));
    }
    batches
}

/// The events of `batches`, in order.
pub fn events(
    batches: &[async_inspect::record::Batch],
) -> impl Iterator<Item = &async_inspect::record::Event> {
    batches.iter().flat_map(|b| b.events.iter())
}
