//! With tokio's task hooks, a task a library spawns with plain
//! `tokio::spawn` is listed (where it was spawned, its state, its polls),
//! traced code inside it belongs to it rather than to an adopted root, it
//! is done when it ends, and tasks spawned through async-inspect are not
//! listed twice.

use std::time::{Duration, Instant};

use async_inspect::{Snapshot, TaskKind, TaskState};

#[async_inspect::trace]
async fn handler(user: u32, reply: tokio::sync::oneshot::Receiver<u32>) -> u32 {
    reply.await.unwrap_or(0) + user
}

/// A library spawning its own tasks.
fn library_spawn(reply: tokio::sync::oneshot::Receiver<u32>) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move { handler(5, reply).await })
}

fn eventually(what: &str, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let start = Instant::now();
    loop {
        let snapshot = async_inspect::snapshot();
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {what}:\n{snapshot}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_library_spawned_task_is_listed_and_owns_its_traced_code() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    async_inspect::tokio::instrument_runtime(&mut builder);
    let runtime = builder.build().unwrap();

    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = runtime.block_on(async { library_spawn(rx) });
    let ours = runtime.block_on(async { async_inspect::spawn(async { 1 }).await.unwrap() });
    assert_eq!(ours, 1);

    let hosted = |s: &Snapshot| {
        s.tasks()
            .iter()
            .find(|t| t.kind == TaskKind::Hosted && t.name == "handler" && !t.state.is_finished())
            .cloned()
    };
    let snapshot = eventually("the library's task parked in handler", |s| {
        hosted(s).is_some_and(|t| t.state == TaskState::Blocked)
    });
    let task = hosted(&snapshot).unwrap();
    assert!(
        task.location.file.ends_with("all_tasks.rs"),
        "{}",
        task.location
    );
    let spawned_line = include_str!("all_tasks.rs")
        .lines()
        .position(|l| l.contains("tokio::spawn(async move { handler(5, reply)"))
        .unwrap()
        + 1;
    assert_eq!(
        task.location.line as usize, spawned_line,
        "where the library spawned it"
    );
    let stack: Vec<&str> = task.frames.iter().map(|f| f.function.as_ref()).collect();
    assert_eq!(stack, ["handler"], "its traced code belongs to it");
    assert!(task.polls >= 1);
    assert!(
        !snapshot
            .tasks()
            .iter()
            .any(|t| t.kind == TaskKind::Adopted && t.name.starts_with("handler(")),
        "no adopted root besides"
    );
    let spawned_by_us = snapshot
        .tasks()
        .iter()
        .filter(|t| t.kind == TaskKind::Hosted && t.location.file.ends_with("spawn.rs"))
        .count();
    assert_eq!(
        spawned_by_us, 0,
        "tasks spawned through async-inspect are not listed twice"
    );

    tx.send(1).unwrap();
    assert_eq!(runtime.block_on(handle).unwrap(), 6);
    let id = task.id;
    eventually("the task done", |s| {
        s.task(id).is_some_and(|t| t.state == TaskState::Done)
    });
}

/// Spawned like a library would, from inside the test's body; with the
/// line it was spawned on.
async fn plain_spawn() -> (u32, tokio::task::JoinHandle<()>) {
    #[rustfmt::skip]
    let spawned = (line!(), tokio::spawn(async { tokio::task::yield_now().await }));
    spawned
}

#[async_inspect::test(all_tasks = true, flavor = "multi_thread", worker_threads = 2)]
async fn the_test_attribute_instruments_the_runtime() {
    let (spawned_line, handle) = plain_spawn().await;
    handle.await.unwrap();
    // tokio runs the terminate hook after it wakes the join handle, so the
    // end may land a moment after `handle.await` returns.
    let start = Instant::now();
    loop {
        let snapshot = async_inspect::snapshot();
        let seen = snapshot.tasks().iter().any(|t| {
            t.kind == TaskKind::Hosted
                && t.location.file.ends_with("all_tasks.rs")
                && t.location.line == spawned_line
                && t.state == TaskState::Done
        });
        if seen {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the plain task was not recorded as done:\n{snapshot}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
