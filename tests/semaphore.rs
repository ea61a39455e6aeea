//! The inspected Semaphore: every permit holder in the snapshot, and a
//! deadlock only when every holder is stuck (any of them could release the
//! permits a waiter needs).

mod common;

use std::sync::Arc;

use async_inspect::sync::{Mutex, Semaphore, TryAcquireError};
use async_inspect::{Deadlock, ResourceInfo, Snapshot, TaskId, WaitReason};
use common::eventually;
use tokio::sync::{Barrier, oneshot};

fn deadlock_of(snapshot: &Snapshot, task: TaskId) -> Option<&Deadlock> {
    snapshot
        .deadlocks()
        .iter()
        .find(|d| d.cycle.iter().any(|l| l.task == task))
}

fn resource<'a>(snapshot: &'a Snapshot, name: &str) -> &'a ResourceInfo {
    snapshot
        .resources()
        .iter()
        .find(|r| r.resource.name == name)
        .unwrap_or_else(|| panic!("no resource {name}:\n{snapshot:#?}"))
}

/// The holders the task `id` waits for on the semaphore `name`, once it
/// waits for it.
fn waits_for(snapshot: &Snapshot, id: TaskId, name: &str) -> Option<Vec<(TaskId, u32)>> {
    snapshot
        .task(id)?
        .waits
        .iter()
        .find_map(|w| match &w.reason {
            WaitReason::Lock { resource, holders } if resource.name == name => {
                Some(holders.iter().map(|h| (h.task, h.permits)).collect())
            }
            _ => None,
        })
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_sees_every_permit_holder_and_is_not_a_deadlock() {
    let pool = Arc::new(Semaphore::named("pool", 3));
    let mut releases = Vec::new();
    let mut holders = Vec::new();
    for _ in 0..3 {
        let (release, released) = oneshot::channel::<()>();
        let pool = pool.clone();
        let permit = pool.clone().acquire_owned().await.unwrap();
        // Moved into the task, as permits usually are.
        holders.push(async_inspect::spawn(async move {
            let _permit = permit;
            released.await.unwrap();
        }));
        releases.push(release);
    }
    let waiter = {
        let pool = pool.clone();
        async_inspect::spawn(async move { pool.acquire_many(2).await.unwrap().num_permits() })
    };
    let id = waiter.inspect_id().unwrap();
    // Resources are read before tasks: the count may lag the task's wait.
    let me = async_inspect::current_task().unwrap();
    let snapshot = eventually("the waiter to wait, each permit in its task", |s| {
        waits_for(s, id, "pool").is_some_and(|h| h.iter().all(|&(task, _)| task != me))
            && resource(s, "pool").waiters == 1
    })
    .await;
    // Taken by this task, then moved: each is found in its task's future.
    let mut seen = waits_for(&snapshot, id, "pool").unwrap();
    seen.sort();
    let expected: Vec<(TaskId, u32)> = holders
        .iter()
        .map(|h| (h.inspect_id().unwrap(), 1))
        .collect();
    assert_eq!(seen, expected, "{snapshot}");
    let later = common::after_checks();
    assert!(deadlock_of(&later, id).is_none(), "{later}");
    let info = resource(&snapshot, "pool");
    assert_eq!(info.holders.len(), 3);
    assert_eq!(info.waiters, 1);
    let report = snapshot.to_string();
    assert!(
        report.contains("Waiting for: Semaphore `pool` held by 3 tasks:"),
        "{report}"
    );
    assert!(report.contains("(1 permit)"), "{report}");

    for release in releases.drain(..2) {
        release.send(()).unwrap();
    }
    assert_eq!(waiter.await.unwrap(), 2);
    let snapshot = async_inspect::snapshot();
    let info = resource(&snapshot, "pool");
    assert_eq!(info.holders.len(), 1, "{info:?}");
    assert_eq!((info.acquisitions, info.contended), (4, 1));
    assert_eq!((info.waiters, info.max_waiters), (0, 1));
    assert!(info.longest_hold.is_some(), "two holds ended");
    releases.pop().unwrap().send(()).unwrap();
    for holder in holders {
        holder.await.unwrap();
    }
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_holders_each_waiting_for_another_permit_deadlock() {
    let pool = Arc::new(Semaphore::named("pairs", 2));
    let barrier = Arc::new(Barrier::new(2));
    let take_two = |pool: Arc<Semaphore>, barrier: Arc<Barrier>| async move {
        let _one = pool.acquire().await.unwrap();
        barrier.wait().await;
        let _two = pool.acquire().await.unwrap();
    };
    let a = async_inspect::spawn(take_two(pool.clone(), barrier.clone()));
    let b = async_inspect::spawn(take_two(pool.clone(), barrier.clone()));
    let (a_id, b_id) = (a.inspect_id().unwrap(), b.inspect_id().unwrap());
    let snapshot = eventually("the deadlock", |s| deadlock_of(s, a_id).is_some()).await;
    let deadlock = deadlock_of(&snapshot, a_id).unwrap();
    assert_eq!(deadlock.cycle.len(), 2, "{deadlock}");
    let tasks: Vec<TaskId> = deadlock.cycle.iter().map(|l| l.task).collect();
    assert!(tasks.contains(&a_id) && tasks.contains(&b_id), "{deadlock}");
    for link in &deadlock.cycle {
        assert_eq!(link.resource.as_ref().unwrap().name, "pairs");
        assert_ne!(link.held_by, link.task, "a ring through both: {deadlock}");
    }
    a.abort();
    b.abort();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_free_to_move_is_not_a_deadlock() {
    let pool = Arc::new(Semaphore::named("half stuck", 2));
    let (held_tx, held_rx) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let free = {
        let pool = pool.clone();
        async_inspect::spawn(async move {
            let _permit = pool.acquire().await.unwrap();
            held_tx.send(()).unwrap();
            released.await.unwrap();
        })
    };
    held_rx.await.unwrap();
    let greedy = {
        let pool = pool.clone();
        async_inspect::spawn(async move {
            let _one = pool.acquire().await.unwrap();
            let _two = pool.acquire().await.unwrap();
        })
    };
    let (free_id, greedy_id) = (free.inspect_id().unwrap(), greedy.inspect_id().unwrap());
    let snapshot = eventually("the greedy task to wait", |s| {
        waits_for(s, greedy_id, "half stuck").is_some()
    })
    .await;
    let mut holders = waits_for(&snapshot, greedy_id, "half stuck").unwrap();
    holders.sort();
    assert_eq!(holders, [(free_id, 1), (greedy_id, 1)]);
    let later = common::after_checks();
    assert!(deadlock_of(&later, greedy_id).is_none(), "{later}");
    release.send(()).unwrap();
    free.await.unwrap();
    greedy.await.unwrap();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_through_a_semaphore_and_a_mutex_deadlocks() {
    let permits = Arc::new(Semaphore::named("S", 1));
    let lock = Arc::new(Mutex::named("M", ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = {
        let (permits, lock, barrier) = (permits.clone(), lock.clone(), barrier.clone());
        async_inspect::spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            barrier.wait().await;
            let _guard = lock.lock().await;
        })
    };
    let b = async_inspect::spawn(async move {
        let _guard = lock.lock().await;
        barrier.wait().await;
        let _permit = permits.acquire().await.unwrap();
    });
    let (a_id, b_id) = (a.inspect_id().unwrap(), b.inspect_id().unwrap());
    let snapshot = eventually("the deadlock", |s| deadlock_of(s, b_id).is_some()).await;
    let deadlock = deadlock_of(&snapshot, b_id).unwrap();
    let a_link = deadlock.cycle.iter().find(|l| l.task == a_id).unwrap();
    let b_link = deadlock.cycle.iter().find(|l| l.task == b_id).unwrap();
    assert_eq!(a_link.resource.as_ref().unwrap().name, "M");
    assert_eq!(a_link.held_by, b_id);
    assert_eq!(b_link.resource.as_ref().unwrap().name, "S");
    assert_eq!(b_link.held_by, a_id);
    assert!(deadlock.to_string().contains("Semaphore `S`"), "{deadlock}");
    a.abort();
    b.abort();
}

#[async_inspect::test]
async fn taking_a_permit_while_holding_the_only_one_is_a_deadlock_of_one() {
    let permits = Arc::new(Semaphore::named("single", 1));
    let task = {
        let permits = permits.clone();
        async_inspect::spawn(async move {
            let _first = permits.acquire().await.unwrap();
            let _second = permits.acquire().await.unwrap();
        })
    };
    let id = task.inspect_id().unwrap();
    let snapshot = eventually("the self-deadlock", |s| deadlock_of(s, id).is_some()).await;
    let deadlock = deadlock_of(&snapshot, id).unwrap();
    assert_eq!(deadlock.cycle.len(), 1);
    assert_eq!(deadlock.cycle[0].held_by, id);
    task.abort();
}

#[async_inspect::test]
async fn owned_permits_handed_to_workers_are_not_a_deadlock() {
    let permits = Arc::new(Semaphore::named("workers", 2));
    let me = async_inspect::current_task().unwrap();
    let mut releases = Vec::new();
    let mut workers = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let producer = {
        let permits = permits.clone();
        // A producer that hands each permit to a worker through a channel,
        // then waits for a third: all the permits look like its own.
        let producer = async_inspect::spawn(async move {
            for _ in 0..3 {
                let permit = permits.clone().acquire_owned().await.unwrap();
                tx.send(permit).unwrap();
            }
        });
        for _ in 0..2 {
            let permit = rx.recv().await.unwrap();
            let (release, released) = oneshot::channel::<()>();
            workers.push(async_inspect::spawn(async move {
                released.await.unwrap();
                drop(permit);
            }));
            releases.push(release);
        }
        producer
    };
    let id = producer.inspect_id().unwrap();
    let snapshot = eventually("the producer to wait", |s| {
        waits_for(s, id, "workers").is_some()
    })
    .await;
    assert_eq!(
        waits_for(&snapshot, id, "workers").unwrap(),
        [(id, 1), (id, 1)],
        "taken by the producer, held by the workers"
    );
    let later = common::after_checks();
    assert!(deadlock_of(&later, id).is_none(), "{later}");
    assert_ne!(me, id);
    releases.pop().unwrap().send(()).unwrap();
    producer.await.unwrap();
    drop(rx.recv().await.unwrap());
    releases.pop().unwrap().send(()).unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
}

#[async_inspect::test]
async fn split_merge_and_forget_keep_the_holders_right() {
    let permits = Semaphore::named("split", 5);
    let holders = |permits_of: &str| -> Vec<u32> {
        let snapshot = async_inspect::snapshot();
        let mut held: Vec<u32> = resource(&snapshot, permits_of)
            .holders
            .iter()
            .map(|h| h.permits)
            .collect();
        held.sort();
        held
    };
    let mut three = permits.acquire_many(3).await.unwrap();
    let one = three.split(1).unwrap();
    assert!(three.split(3).is_none(), "only two are left");
    assert_eq!(holders("split"), [1, 2]);
    three.merge(one);
    assert_eq!(three.num_permits(), 3);
    assert_eq!(holders("split"), [3]);
    three.forget();
    assert_eq!(holders("split"), Vec::<u32>::new());
    assert_eq!(permits.available_permits(), 2);
    let snapshot = async_inspect::snapshot();
    let me = async_inspect::current_task().unwrap();
    let task = common::task(&snapshot, me);
    assert!(task.holds.is_empty(), "{task:?}");
}

#[async_inspect::test]
async fn try_acquire_and_close() {
    let permits = Arc::new(Semaphore::named("closing", 1));
    let held = permits.try_acquire().unwrap();
    assert!(matches!(
        permits.try_acquire(),
        Err(TryAcquireError::NoPermits)
    ));
    let snapshot = async_inspect::snapshot();
    let me = async_inspect::current_task().unwrap();
    let report = snapshot.to_string();
    assert!(
        report.contains("holds 1 permit of Semaphore `closing`"),
        "{report}"
    );
    assert_eq!(common::task(&snapshot, me).holds.len(), 1);

    let waiter = {
        let permits = permits.clone();
        async_inspect::spawn(async move { permits.acquire().await.is_err() })
    };
    let id = waiter.inspect_id().unwrap();
    eventually("the waiter to wait", |s| {
        waits_for(s, id, "closing").is_some()
    })
    .await;
    permits.close();
    assert!(waiter.await.unwrap(), "a closed semaphore fails the wait");
    assert!(permits.is_closed());
    assert!(matches!(
        permits.try_acquire(),
        Err(TryAcquireError::Closed)
    ));
    assert!(permits.acquire().await.is_err());
    let snapshot = async_inspect::snapshot();
    assert_eq!(resource(&snapshot, "closing").waiters, 0);
    drop(held);
}

#[test]
fn blocking_acquire_waits_on_a_plain_thread_for_a_permit_released_elsewhere() {
    let permits = Arc::new(Semaphore::new(1));
    let held = permits.try_acquire().unwrap();
    let (taken_tx, taken_rx) = std::sync::mpsc::channel();
    let waiter = {
        let permits = Arc::clone(&permits);
        std::thread::spawn(move || {
            let permit = permits.blocking_acquire().unwrap();
            taken_tx.send(()).unwrap();
            let more = permits.blocking_acquire_many(0).unwrap();
            drop((permit, more));
        })
    };
    // Held here: the thread waits (a generous bound: it must not take it).
    assert!(
        taken_rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_err()
    );
    drop(held);
    taken_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the permit, once released");
    waiter.join().unwrap();
    assert_eq!(permits.available_permits(), 1);
}

#[async_inspect::test]
#[should_panic(expected = "Cannot block the current thread from within a runtime")]
async fn blocking_acquire_inside_a_runtime_panics_as_tokios_does() {
    let permits = Semaphore::new(1);
    let _ = permits.blocking_acquire();
}
