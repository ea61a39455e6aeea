//! `ASYNC_INSPECT_ON_DEADLOCK=panic`: the task whose wait closes a cycle
//! panics, and its wait goes with it (its edge in the wait-for graph, its
//! record), so nothing of it outlives the locks it names.

mod common;

use std::sync::Arc;

use async_inspect::sync::Mutex;
use common::{eventually, task};
use tokio::sync::oneshot;

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
        let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
        let (first_holds, first_held) = oneshot::channel();
        let (first_go, first_went) = oneshot::channel::<()>();
        let first = async_inspect::spawn({
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            async move {
                let _a = a.lock().await;
                first_holds.send(()).unwrap();
                first_went.await.unwrap();
                drop(b.lock().await);
            }
        });
        first_held.await.unwrap();
        let (second_holds, second_held) = oneshot::channel();
        let (second_go, second_went) = oneshot::channel::<()>();
        let second = async_inspect::spawn({
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            async move {
                let _b = b.lock().await;
                second_holds.send(()).unwrap();
                second_went.await.unwrap();
                // Closes the cycle: this wait's check panics.
                drop(a.lock().await);
            }
        });
        second_held.await.unwrap();
        let first_id = first.inspect_id().unwrap();
        first_go.send(()).unwrap();
        eventually("the first task to wait for b", |s| {
            s.task(first_id).is_some_and(|t| !t.waits.is_empty())
        })
        .await;
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
        drop((a, b));

        // The locks are gone; the deadlock and every wait with them.
        let snapshot = eventually("no deadlock", |s| s.deadlocks().is_empty()).await;
        assert!(task(&snapshot, first_id).waits.is_empty(), "{snapshot}");
        assert!(
            snapshot.tasks().iter().all(|t| t.waits.is_empty()),
            "{snapshot}"
        );
    });
}
