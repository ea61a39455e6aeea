//! Every spawned task is recorded: id, name, spawn location, parent, kind,
//! state through its life, polls and wakes.

mod common;

use async_inspect::{TaskKind, TaskState};
use common::{eventually, task};
use tokio::sync::oneshot;

#[async_inspect::test]
async fn a_named_task_is_recorded_from_spawn_to_done() {
    let (tx, rx) = oneshot::channel::<()>();
    let spawn_line = line!() + 3;
    let handle = async_inspect::task::Builder::new()
        .name("worker")
        .spawn(async move {
            rx.await.ok();
            5
        })
        .unwrap();
    let id = handle.inspect_id().expect("inspection is on");

    let snapshot = eventually("the worker to park", |s| {
        s.task(id)
            .is_some_and(|t| t.polls == 1 && t.state == TaskState::Idle)
    })
    .await;
    let info = task(&snapshot, id);
    assert_eq!(info.name, "worker");
    assert_eq!(info.kind, TaskKind::Spawned);
    assert_eq!(info.location.file, file!());
    assert_eq!(info.location.line, spawn_line);
    assert_eq!(info.parent, async_inspect::current_task());
    assert_eq!(
        info.last_poll_at,
        Some(info.state_since),
        "parked since its poll ended"
    );

    tx.send(()).unwrap();
    assert_eq!(handle.await.unwrap(), 5);
    let snapshot = async_inspect::snapshot();
    let info = task(&snapshot, id);
    assert_eq!(info.state, TaskState::Done);
    assert_eq!(info.polls, 2);
}

#[async_inspect::test]
async fn the_test_itself_is_the_root_task() {
    let id = async_inspect::current_task().expect("the test body is inspected");
    let snapshot = async_inspect::snapshot();
    let root = task(&snapshot, id);
    assert_eq!(root.name, "the_test_itself_is_the_root_task");
    assert_eq!(root.kind, TaskKind::Root);
    assert_eq!(root.state, TaskState::Running);
    assert_eq!(
        root.last_poll_at, None,
        "inside a poll, no poll has just ended"
    );
}

#[async_inspect::trace]
async fn named_after_me() {
    std::future::pending::<()>().await;
}

#[async_inspect::test]
async fn an_unnamed_task_is_named_after_its_root_traced_fn_else_its_location() {
    let traced = async_inspect::spawn(named_after_me());
    let line = line!() + 1;
    let plain = async_inspect::spawn(std::future::pending::<()>());
    let (traced_id, plain_id) = (traced.inspect_id().unwrap(), plain.inspect_id().unwrap());
    let snapshot = eventually("both tasks polled", |s| {
        [traced_id, plain_id]
            .iter()
            .all(|id| s.task(*id).is_some_and(|t| t.polls > 0))
    })
    .await;
    assert_eq!(task(&snapshot, traced_id).name, "named_after_me");
    assert_eq!(
        task(&snapshot, plain_id).name,
        format!("{}:{line}:17", file!())
    );
    traced.abort();
    plain.abort();
}

#[async_inspect::test]
async fn a_panicking_task_is_panicked_with_its_message() {
    let handle = async_inspect::spawn(async {
        tokio::task::yield_now().await;
        panic!("the answer was not 42");
    });
    let id = handle.inspect_id().unwrap();
    let error = handle.await.expect_err("the task panicked");
    assert!(error.is_panic(), "tokio still sees the panic");
    let snapshot = async_inspect::snapshot();
    let info = task(&snapshot, id);
    assert_eq!(info.state, TaskState::Panicked);
    assert_eq!(info.panic.as_deref(), Some("the answer was not 42"));
    assert!(
        snapshot
            .to_string()
            .contains("panicked: the answer was not 42")
    );
}

#[async_inspect::test]
async fn an_aborted_task_is_aborted() {
    let handle = async_inspect::spawn(std::future::pending::<()>());
    let id = handle.inspect_id().unwrap();
    eventually("the task to be polled", |s| {
        s.task(id).is_some_and(|t| t.polls == 1)
    })
    .await;
    assert!(!handle.is_finished());
    handle.abort_handle().abort();
    let error = handle.await.expect_err("aborted");
    assert!(error.is_cancelled());
    let snapshot = async_inspect::snapshot();
    assert_eq!(task(&snapshot, id).state, TaskState::Aborted);
}

#[async_inspect::test]
async fn ids_are_never_reused() {
    let mut last = None;
    for _ in 0..100 {
        let handle = async_inspect::spawn(async {});
        let id = handle.inspect_id().unwrap();
        handle.await.unwrap();
        if let Some(last) = last {
            assert!(id > last, "{id} after {last}");
        }
        last = Some(id);
    }
}

#[async_inspect::test]
async fn join_handles_keep_tokios_api() {
    let handle = async_inspect::spawn(async { 7 });
    let tokio_id: tokio::task::Id = handle.id();
    let _abort: tokio::task::AbortHandle = handle.abort_handle();
    let output: Result<u32, tokio::task::JoinError> = handle.await;
    assert_eq!(output.unwrap(), 7);
    assert_ne!(format!("{tokio_id}"), "");
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_is_a_blocking_task_running_while_its_closure_runs() {
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let handle = async_inspect::task::Builder::new()
        .name("hashing")
        .spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            "digest"
        })
        .unwrap();
    let id = handle.inspect_id().unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    let snapshot = async_inspect::snapshot();
    let info = task(&snapshot, id);
    assert_eq!(info.kind, TaskKind::Blocking);
    assert_eq!(info.name, "hashing");
    assert_eq!(info.state, TaskState::Running);

    release_tx.send(()).unwrap();
    assert_eq!(handle.await.unwrap(), "digest");
    assert_eq!(task(&async_inspect::snapshot(), id).state, TaskState::Done);

    let plain = async_inspect::spawn_blocking(|| 3);
    let plain_id = plain.inspect_id().unwrap();
    assert_eq!(plain.await.unwrap(), 3);
    let snapshot = async_inspect::snapshot();
    assert_eq!(task(&snapshot, plain_id).kind, TaskKind::Blocking);
}
