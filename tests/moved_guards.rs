//! Owned guards move between tasks without the inspector seeing it: a
//! guard handed to a child must not make its parent look deadlocked, while
//! an owned guard its task keeps still closes a real cycle.

mod common;

use std::sync::Arc;

use async_inspect::sync::Mutex;
use async_inspect::{Snapshot, TaskId, WaitReason};
use common::eventually;
use tokio::sync::{Barrier, oneshot};

fn deadlock_of(snapshot: &Snapshot, task: TaskId) -> bool {
    snapshot
        .deadlocks()
        .iter()
        .any(|d| d.cycle.iter().any(|l| l.task == task))
}

fn waits_for_lock(snapshot: &Snapshot, task: TaskId, name: &str) -> bool {
    snapshot.task(task).is_some_and(|t| {
        t.waits.iter().any(
            |w| matches!(&w.reason, WaitReason::Lock { resource, .. } if resource.name == name),
        )
    })
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_again_after_handing_the_guard_to_a_child_is_not_a_deadlock() {
    let lock = Arc::new(Mutex::named("handed", 0));
    let (release, released) = oneshot::channel::<()>();
    let parent = {
        let lock = lock.clone();
        async_inspect::spawn(async move {
            let guard = lock.clone().lock_owned().await;
            let child = async_inspect::spawn(async move {
                let mut guard = guard;
                released.await.unwrap();
                *guard += 1;
            });
            let value = *lock.lock().await;
            child.await.unwrap();
            value
        })
    };
    let id = parent.inspect_id().unwrap();
    eventually("the parent to wait", |s| waits_for_lock(s, id, "handed")).await;
    let snapshot = common::after_checks();
    assert!(!deadlock_of(&snapshot, id), "{snapshot}");
    release.send(()).unwrap();
    assert_eq!(parent.await.unwrap(), 1);
}

/// A takes `first` owned, then waits for `second`, which B holds while it
/// waits for `first`. If A `hands_off` its guard to a child first, the
/// cycle may not exist and is not reported; if A keeps it, it is.
async fn cross(hands_off: bool) -> (Snapshot, TaskId, TaskId) {
    let first = Arc::new(Mutex::named(format!("first {hands_off}"), ()));
    let second = Arc::new(Mutex::named(format!("second {hands_off}"), ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = {
        let (first, second, barrier) = (first.clone(), second.clone(), barrier.clone());
        async_inspect::spawn(async move {
            let guard = first.lock_owned().await;
            let _kept = if hands_off {
                async_inspect::spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                });
                None
            } else {
                Some(guard)
            };
            barrier.wait().await;
            let _second = second.lock().await;
        })
    };
    let b = async_inspect::spawn(async move {
        let _second = second.lock().await;
        barrier.wait().await;
        let _first = first.lock().await;
    });
    let (a_id, b_id) = (a.inspect_id().unwrap(), b.inspect_id().unwrap());
    let name = format!("first {hands_off}");
    eventually("both to wait", |s| {
        waits_for_lock(s, b_id, &name) && waits_for_lock(s, a_id, &format!("second {hands_off}"))
    })
    .await;
    // Whichever wait came last ran the check; both showed, so both ran.
    let snapshot = if hands_off {
        common::after_checks()
    } else {
        eventually("the deadlock", |s| deadlock_of(s, a_id)).await
    };
    a.abort();
    b.abort();
    (snapshot, a_id, b_id)
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_guard_its_task_keeps_closes_a_cycle() {
    let (snapshot, a, b) = cross(false).await;
    assert!(
        deadlock_of(&snapshot, a) && deadlock_of(&snapshot, b),
        "{snapshot}"
    );
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_guard_handed_to_a_child_closes_no_cycle() {
    let (snapshot, a, b) = cross(true).await;
    assert!(
        !deadlock_of(&snapshot, a) && !deadlock_of(&snapshot, b),
        "{snapshot}"
    );
}
