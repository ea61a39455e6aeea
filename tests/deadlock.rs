//! Deadlocks through inspected Mutexes are found the moment the cycle
//! closes, with every task, lock and line named; waits that end (a lock
//! future cancelled, a task aborted) leave no phantom.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_inspect::sync::Mutex;
use async_inspect::{Snapshot, TaskId};
use common::eventually;
use tokio::sync::Barrier;

fn deadlock_of(snapshot: &Snapshot, task: TaskId) -> Option<&async_inspect::Deadlock> {
    snapshot
        .deadlocks()
        .iter()
        .find(|d| d.cycle.iter().any(|l| l.task == task))
}

/// The line of `take_both`'s first `lock()`; the second is two lines on.
const FIRST_LOCK: u32 = line!() + 4;

#[rustfmt::skip] // The lines of the lock() calls are asserted below.
async fn take_both(first: Arc<Mutex<u32>>, second: Arc<Mutex<u32>>, barrier: Arc<Barrier>) -> u32 {
    let a = first.lock().await;
    barrier.wait().await;
    let b = second.lock().await;
    *a + *b
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_taking_two_locks_in_opposite_orders_deadlock() {
    let a = Arc::new(Mutex::named("A", 1));
    let b = Arc::new(Mutex::named("B", 2));
    let barrier = Arc::new(Barrier::new(2));
    let t1 = async_inspect::spawn(take_both(a.clone(), b.clone(), barrier.clone()));
    let t2 = async_inspect::spawn(take_both(b.clone(), a.clone(), barrier.clone()));
    let (id1, id2) = (t1.inspect_id().unwrap(), t2.inspect_id().unwrap());

    let snapshot = eventually("the deadlock", |s| deadlock_of(s, id1).is_some()).await;
    let deadlock = deadlock_of(&snapshot, id1).unwrap();
    assert_eq!(deadlock.cycle.len(), 2);
    let link1 = deadlock.cycle.iter().find(|l| l.task == id1).unwrap();
    let link2 = deadlock.cycle.iter().find(|l| l.task == id2).unwrap();
    assert_eq!(link1.resource.as_ref().unwrap().name, "B");
    assert_eq!(link1.held_by, id2);
    assert_eq!(link2.resource.as_ref().unwrap().name, "A");
    assert_eq!(link2.held_by, id1);
    for link in [link1, link2] {
        let waits_at = link.waits_at.as_ref().expect("where it waits");
        assert_eq!(waits_at.file, file!());
        assert_eq!(waits_at.line, FIRST_LOCK + 2, "the second lock() call");
        let taken = link.acquired_at.as_ref().expect("where the holder took it");
        assert_eq!(taken.line, FIRST_LOCK, "the first lock() call");
    }
    let report = snapshot.to_string();
    assert!(
        report.contains("💀 DEADLOCK DETECTED: 2 tasks wait for each other forever"),
        "{report}"
    );
    assert!(
        report.contains(&format!("Cycle: Task {} → Mutex ", deadlock.cycle[0].task)),
        "{report}"
    );
    assert!(
        report.contains("take these locks in one order everywhere"),
        "{report}"
    );
    assert!(
        report.contains(&format!("Waiting for: Mutex `B` held by task {id2}")),
        "{report}"
    );

    t1.abort();
    t2.abort();
    let _ = t1.await;
    let _ = t2.await;
    let snapshot = async_inspect::snapshot();
    assert!(
        deadlock_of(&snapshot, id1).is_none(),
        "aborted, the cycle is gone"
    );
}

#[async_inspect::test]
async fn relocking_a_held_mutex_is_a_deadlock_of_one() {
    let m = Arc::new(Mutex::named("config", ()));
    let task = {
        let m = m.clone();
        async_inspect::spawn(async move {
            let _first = m.lock().await;
            let _second = m.lock().await;
        })
    };
    let id = task.inspect_id().unwrap();
    let snapshot = eventually("the self-deadlock", |s| deadlock_of(s, id).is_some()).await;
    let deadlock = deadlock_of(&snapshot, id).unwrap();
    assert_eq!(deadlock.cycle.len(), 1);
    assert_eq!(deadlock.cycle[0].held_by, id);
    assert!(
        deadlock
            .to_string()
            .contains("a task waits for a lock it holds itself")
    );
    task.abort();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_lock_wait_leaves_no_phantom_edge() {
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", ()));
    let (b_held_tx, b_held_rx) = tokio::sync::oneshot::channel::<()>();
    let (t1_parked_tx, t1_parked_rx) = tokio::sync::oneshot::channel::<()>();
    // T2 holds B, then (once T1 gave up on B) waits for A.
    let t2 = {
        let (a, b) = (a.clone(), b.clone());
        async_inspect::spawn(async move {
            let _b = b.lock().await;
            b_held_tx.send(()).unwrap();
            t1_parked_rx.await.unwrap();
            let _a = a.lock().await;
        })
    };
    b_held_rx.await.unwrap();
    // T1 holds A and waits for B under a timeout that elapses, then parks
    // still holding A. Had its wait for B stayed in the graph, T2's wait
    // for A would close a cycle T2 → A → T1 → B → T2 that does not exist.
    let t1 = {
        let (a, b) = (a.clone(), b.clone());
        async_inspect::spawn(async move {
            let _a = a.lock().await;
            let timed_out = async_inspect::time::timeout(Duration::from_millis(20), b.lock()).await;
            assert!(timed_out.is_err());
            t1_parked_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        })
    };
    let (t1_id, t2_id) = (t1.inspect_id().unwrap(), t2.inspect_id().unwrap());
    let snapshot = eventually("T2 to wait for A", |s| {
        s.task(t2_id).is_some_and(|t| {
            t.waits
                .iter()
                .any(|w| matches!(&w.reason, async_inspect::WaitReason::Lock { resource, .. } if resource.name == "A"))
        })
    })
    .await;
    let later = common::after_checks();
    assert!(
        deadlock_of(&later, t1_id).is_none() && deadlock_of(&later, t2_id).is_none(),
        "{later}"
    );
    assert!(
        common::task(&snapshot, t1_id).waits.is_empty(),
        "T1's cancelled wait is gone"
    );

    t1.abort();
    let _ = t1.await;
    t2.await.unwrap();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_holding_a_lock_while_awaiting_the_child_that_wants_it_deadlocks() {
    let lock = Arc::new(Mutex::named("state", ()));
    let (child_tx, child_rx) = tokio::sync::oneshot::channel();
    let parent = {
        let lock = lock.clone();
        async_inspect::spawn(async move {
            let _held = lock.lock().await;
            let child = {
                let lock = lock.clone();
                async_inspect::spawn(async move {
                    let _wanted = lock.lock().await;
                })
            };
            child_tx.send(child.inspect_id().unwrap()).unwrap();
            child.await.unwrap();
        })
    };
    let parent_id = parent.inspect_id().unwrap();
    let child_id = child_rx.await.unwrap();
    let snapshot = eventually("the join deadlock", |s| {
        deadlock_of(s, parent_id).is_some_and(|d| d.cycle.iter().any(|l| l.task == child_id))
    })
    .await;
    let deadlock = deadlock_of(&snapshot, parent_id).unwrap();
    let parent_link = deadlock.cycle.iter().find(|l| l.task == parent_id).unwrap();
    assert_eq!(
        parent_link.resource, None,
        "the parent waits for the child to end"
    );
    assert_eq!(parent_link.held_by, child_id);
    let child_link = deadlock.cycle.iter().find(|l| l.task == child_id).unwrap();
    assert_eq!(child_link.resource.as_ref().unwrap().name, "state");
    assert_eq!(child_link.held_by, parent_id);
    assert!(
        deadlock
            .to_string()
            .contains(&format!("waits for Task {child_id} to finish")),
        "{deadlock}"
    );
    parent.abort();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tasks_in_a_ring_deadlock() {
    let locks: Vec<Arc<Mutex<u32>>> = ["X", "Y", "Z"]
        .into_iter()
        .map(|name| Arc::new(Mutex::named(name, 0)))
        .collect();
    let barrier = Arc::new(Barrier::new(3));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let first = locks[i].clone();
            let next = locks[(i + 1) % 3].clone();
            async_inspect::spawn(take_both(first, next, barrier.clone()))
        })
        .collect();
    let ids: Vec<TaskId> = tasks.iter().map(|t| t.inspect_id().unwrap()).collect();
    let snapshot = eventually("the three-task deadlock", |s| {
        deadlock_of(s, ids[0]).is_some()
    })
    .await;
    let deadlock = deadlock_of(&snapshot, ids[0]).unwrap();
    assert_eq!(deadlock.cycle.len(), 3, "{deadlock}");
    for (i, id) in ids.iter().enumerate() {
        let link = deadlock.cycle.iter().find(|l| l.task == *id).unwrap();
        let wanted = ["Y", "Z", "X"][i];
        assert_eq!(link.resource.as_ref().unwrap().name, wanted);
        assert_eq!(link.held_by, ids[(i + 1) % 3]);
    }
    assert!(
        deadlock
            .to_string()
            .contains("💀 DEADLOCK DETECTED: 3 tasks wait for each other forever"),
        "{deadlock}"
    );
    for task in tasks {
        task.abort();
    }
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_holder_frees_the_lock_and_its_record() {
    let lock = Arc::new(Mutex::named("abandoned", 0));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let holder = {
        let lock = lock.clone();
        async_inspect::spawn(async move {
            let _guard = lock.lock().await;
            held_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        })
    };
    held_rx.await.unwrap();
    let holder_id = holder.inspect_id().unwrap();
    let waiter = {
        let lock = lock.clone();
        async_inspect::spawn(async move { *lock.lock().await + 1 })
    };
    let waiter_id = waiter.inspect_id().unwrap();
    eventually("the waiter to wait for the holder", |s| {
        s.task(waiter_id).is_some_and(|t| {
            t.waits.iter().any(|w| {
                matches!(&w.reason, async_inspect::WaitReason::Lock { holders, .. }
                    if holders.iter().any(|h| h.task == holder_id))
            })
        })
    })
    .await;
    holder.abort();
    assert!(holder.await.unwrap_err().is_cancelled());
    assert_eq!(waiter.await.unwrap(), 1);
    let snapshot = async_inspect::snapshot();
    let info = snapshot
        .resources()
        .iter()
        .find(|r| r.resource.name == "abandoned")
        .unwrap();
    assert!(info.holders.is_empty(), "{info:?}");
    assert_eq!(info.waiters, 0);
    assert!(common::task(&snapshot, holder_id).holds.is_empty());
}
