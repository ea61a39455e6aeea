//! `ASYNC_INSPECT_ON_DEADLOCK=panic`: the task whose wait closes a cycle
//! panics, and its wait goes with it (its edge in the wait-for graph, its
//! record): no later wait finds a cycle through the task that is gone.

mod common;

use std::sync::Arc;

use async_inspect::sync::Mutex;
use async_inspect::{TaskId, TaskState};
use common::{after_checks, eventually, task};
use tokio::sync::oneshot;

type Lock = Arc<Mutex<()>>;

/// Spawns a task that takes `held` (and `kept`, for ever, if given), says
/// so, then on `go` waits for `wanted`; returns once it holds them.
async fn holder(
    held: &Lock,
    kept: Option<&Lock>,
    wanted: &Lock,
) -> (async_inspect::JoinHandle<()>, oneshot::Sender<()>) {
    let (holds, held_now) = oneshot::channel();
    let (go, went) = oneshot::channel::<()>();
    let (held, kept, wanted) = (Arc::clone(held), kept.cloned(), Arc::clone(wanted));
    let handle = async_inspect::spawn(async move {
        let _held = held.lock().await;
        if let Some(kept) = kept {
            // Held for ever, as the inspector sees it.
            std::mem::forget(kept.lock().await);
        }
        holds.send(()).unwrap();
        went.await.unwrap();
        drop(wanted.lock().await);
    });
    held_now.await.unwrap();
    (handle, go)
}

/// Waits until the task `id` shows a wait.
async fn waits(id: TaskId) {
    eventually("the task to wait", |s| {
        s.task(id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
}

#[test]
fn the_task_that_closes_a_deadlock_panics_and_takes_its_wait_along() {
    // The only test in this binary, and it runs before anything reads the
    // action.
    // SAFETY: no other thread of this process reads or writes the
    // environment at this point.
    unsafe { std::env::set_var("ASYNC_INSPECT_ON_DEADLOCK", "panic") };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let [a, b, c]: [Lock; 3] = Default::default();
        let (first, first_go) = holder(&a, None, &b).await;
        // The second also keeps `c`, which outlives it.
        let (second, second_go) = holder(&b, Some(&c), &a).await;
        let first_id = first.inspect_id().unwrap();
        first_go.send(()).unwrap();
        waits(first_id).await;
        // Closes the cycle: this wait's check panics.
        second_go.send(()).unwrap();

        let panic = second.await.expect_err("the closing wait panics");
        let message = panic.into_panic();
        let message = message
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(message.contains("deadlock"), "{message}");
        // Its guard of b went as it unwound: the first task goes on.
        first.await.unwrap();

        // A third task takes `a` and waits for `c`, which the second one
        // holds still. Had the second's wait for `a` outlived it, this
        // wait would close a cycle through it, and panic.
        let (third, third_go) = holder(&a, None, &c).await;
        let third_id = third.inspect_id().unwrap();
        third_go.send(()).unwrap();
        waits(third_id).await;
        let snapshot = after_checks();
        assert!(snapshot.deadlocks().is_empty(), "{snapshot}");
        assert_eq!(
            task(&snapshot, third_id).state,
            TaskState::Blocked,
            "{snapshot}"
        );
        third.abort();
    });
}
