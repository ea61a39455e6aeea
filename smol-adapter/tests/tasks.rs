//! smol's task semantics kept: dropping a task cancels it (the inspector
//! shows it aborted), `detach` lets it run, `cancel` stops it; executors
//! the application owns inspect their tasks too.

use std::time::{Duration, Instant};

use async_inspect_core::{Snapshot, TaskId, TaskState, snapshot};
use async_inspect_smol::{Executor, LocalExecutor, block_on, spawn};

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

fn state(id: TaskId) -> impl Fn(&Snapshot) -> Option<TaskState> {
    move |s| s.task(id).map(|t| t.state)
}

#[test]
fn dropping_a_task_cancels_it_and_it_shows_aborted() {
    let task = spawn(std::future::pending::<()>());
    let id = task.inspect_id().unwrap();
    eventually("the task to run", |s| {
        s.task(id).is_some_and(|t| t.polls > 0)
    });
    drop(task);
    eventually("the task to be aborted", |s| {
        state(id)(s) == Some(TaskState::Aborted)
    });
}

#[test]
fn a_detached_task_runs_to_the_end() {
    let (tx, rx) = std::sync::mpsc::channel();
    let task = spawn(async move { tx.send(5).unwrap() });
    let id = task.inspect_id().unwrap();
    task.detach();
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(5));
    eventually("the task to be done", |s| {
        state(id)(s) == Some(TaskState::Done)
    });
}

#[test]
fn cancel_returns_the_output_only_if_it_finished() {
    block_on(async {
        let pending = spawn(std::future::pending::<u32>());
        assert_eq!(pending.cancel().await, None);
        let finished = spawn(async { 3 });
        while !finished.is_finished() {
            async_inspect_smol::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(finished.cancel().await, Some(3));
    });
}

#[test]
fn owned_executors_inspect_their_tasks() {
    let executor = Executor::new();
    let task = executor.spawn(async { 2 });
    let id = task.inspect_id().unwrap();
    assert_eq!(block_on(executor.run(task)), 2);
    assert_eq!(state(id)(&snapshot()), Some(TaskState::Done));

    let local = LocalExecutor::new();
    let shared = std::rc::Rc::new(7);
    let task = local.spawn(async move { *shared });
    let id = task.inspect_id().unwrap();
    assert!(local.try_tick(), "one task to run");
    assert!(!local.try_tick(), "and no more");
    assert_eq!(block_on(task), 7);
    assert_eq!(state(id)(&snapshot()), Some(TaskState::Done));
}
