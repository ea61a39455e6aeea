//! Traced code in tasks the shim did not spawn (a handler in a task hyper
//! spawned with plain `tokio::spawn`, a future driven by another executor)
//! becomes an *adopted* task: named after its outermost traced call, with
//! its stack, waits, locks and polls, the id of the runtime task it runs
//! in, and gone when that call ends or is dropped.

mod common;

use std::sync::Arc;

use async_inspect::sync::Mutex;
use async_inspect::{Snapshot, TaskKind, TaskState};
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn handler(route: &'static str, user: u32, reply: oneshot::Receiver<u32>) -> u32 {
    let profile = load_profile(user, reply).await;
    profile + route.len() as u32
}

#[async_inspect::trace(skip(reply))]
async fn load_profile(user: u32, reply: oneshot::Receiver<u32>) -> u32 {
    reply.await.unwrap_or(0) + user
}

fn adopted_in(snapshot: &Snapshot, name: &str) -> Vec<async_inspect::TaskInfo> {
    snapshot
        .tasks()
        .iter()
        .filter(|t| t.kind == TaskKind::Adopted && t.name.starts_with(name))
        .cloned()
        .collect()
}

#[test]
fn a_handler_in_a_plain_tokio_task_is_adopted_with_its_whole_stack() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = oneshot::channel();
    // As hyper spawns a connection task: plain tokio::spawn.
    let handle = runtime.spawn(handler("/users", 41, rx));
    let name = "handler(route=\"/users\", user=41";
    let snapshot = common::eventually_blocking("the handler to park", |s| {
        adopted_in(s, name)
            .first()
            .is_some_and(|t| t.state == TaskState::Blocked)
    });
    let task = &adopted_in(&snapshot, name)[0];
    let stack: Vec<&str> = task.frames.iter().map(|f| f.function.as_ref()).collect();
    assert_eq!(stack, ["handler", "load_profile"], "one stack");
    assert_eq!(task.frames[1].args.as_deref(), Some("user=41"));
    let (_, step) = task.blocked_at().unwrap();
    assert_eq!(step.expr, "reply");
    assert_eq!(task.polls, 1);
    assert_eq!(task.location.file, file!(), "adopted where its root fn is");
    let host = task.host_task.clone().expect("tokio's task id");
    assert_eq!(host, handle.id().to_string());
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!(
            "adopted: runs in a task spawned elsewhere (runtime task {host})"
        )),
        "{report}"
    );

    tx.send(1).unwrap();
    assert_eq!(runtime.block_on(handle).unwrap(), 48);
    let snapshot = async_inspect::snapshot();
    let ended = snapshot.task(task.id).expect("kept as finished");
    assert_eq!((ended.state, ended.polls), (TaskState::Done, 2));
}

#[test]
fn any_executor_adopts_and_a_lock_wait_in_an_adopted_task_is_seen() {
    let lock = Arc::new(Mutex::named("accounts", 0u32));
    let guard = futures::executor::block_on(lock.lock());
    let waiting = Arc::clone(&lock);
    // A plain thread driving the future with another executor.
    let thread = std::thread::spawn(move || futures::executor::block_on(add(waiting, 5)));
    let snapshot = common::eventually_blocking("the adopted task to wait", |s| {
        adopted_in(s, "add(").iter().any(|t| !t.waits.is_empty())
    });
    let task = &adopted_in(&snapshot, "add(")[0];
    assert_eq!(task.host_task, None, "no tokio task around it");
    let report = snapshot.to_string();
    assert!(report.contains("Mutex `accounts`"), "{report}");
    drop(guard);
    assert_eq!(thread.join().unwrap(), 5);
}

#[async_inspect::trace(skip(lock))]
async fn add(lock: Arc<Mutex<u32>>, amount: u32) -> u32 {
    let mut total = lock.lock().await;
    *total += amount;
    *total
}

#[async_inspect::trace]
async fn quick(i: u32) -> u32 {
    tokio::task::yield_now().await;
    i
}

#[test]
fn adopted_roots_that_end_or_are_dropped_leave_no_live_entry() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for i in 0..10_000 {
            if i % 2 == 0 {
                assert_eq!(quick(i).await, i);
            } else {
                // Polled once, then dropped mid-await (a cancelled request).
                let mut call = Box::pin(quick(i));
                let waker = std::task::Waker::noop();
                let mut cx = std::task::Context::from_waker(waker);
                assert!(std::future::Future::poll(call.as_mut(), &mut cx).is_pending());
                drop(call);
            }
        }
    });
    let snapshot = async_inspect::snapshot();
    let live = snapshot
        .tasks()
        .iter()
        .filter(|t| t.name.starts_with("quick(") && !t.state.is_finished())
        .count();
    assert_eq!(live, 0, "no live adopted task left");
    let kept = snapshot
        .tasks()
        .iter()
        .filter(|t| t.name.starts_with("quick("))
        .count();
    assert!(
        kept <= 1024,
        "finished ones are kept within the bound: {kept}"
    );
    let aborted = snapshot
        .tasks()
        .iter()
        .filter(|t| t.name.starts_with("quick(") && t.state == TaskState::Aborted)
        .count();
    assert!(aborted > 0, "the dropped ones show as aborted");
}
