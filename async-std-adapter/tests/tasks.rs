//! async-std's task semantics kept: a join handle awaits to the output,
//! dropping it lets the task run on, `cancel` stops it; names and blocking
//! tasks are inspected.

use std::time::{Duration, Instant};

use async_inspect_async_std::{block_on, spawn, spawn_blocking, task::Builder};
use async_inspect_core::{Snapshot, TaskKind, TaskState, snapshot};

fn eventually(what: &str, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let start = Instant::now();
    loop {
        let snapshot = snapshot();
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_dropped_handle_lets_the_task_run_on() {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = spawn(async move { tx.send(5).unwrap() });
    let id = handle.inspect_id().unwrap();
    drop(handle);
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(5));
    eventually("the task to be done", |s| {
        s.task(id).is_some_and(|t| t.state == TaskState::Done)
    });
}

#[test]
fn cancel_stops_a_pending_task() {
    block_on(async {
        let handle = spawn(std::future::pending::<u32>());
        let id = handle.inspect_id().unwrap();
        assert_eq!(handle.cancel().await, None);
        eventually("the task to be aborted", |s| {
            s.task(id).is_some_and(|t| t.state == TaskState::Aborted)
        });
    });
}

#[test]
fn names_and_blocking_tasks_are_inspected() {
    let handle = Builder::new()
        .name("async-std worker".into())
        .spawn(async { 1 })
        .unwrap();
    assert_eq!(handle.task().name(), Some("async-std worker"));
    let id = handle.inspect_id().unwrap();
    assert_eq!(block_on(handle), 1);
    let named = snapshot();
    assert_eq!(named.task(id).unwrap().name, "async-std worker");

    let blocking = spawn_blocking(|| 2);
    let id = blocking.inspect_id().unwrap();
    assert_eq!(block_on(blocking), 2);
    let snapshot = snapshot();
    let task = snapshot.task(id).unwrap();
    assert_eq!(
        (task.kind, task.state),
        (TaskKind::Blocking, TaskState::Done)
    );
}
