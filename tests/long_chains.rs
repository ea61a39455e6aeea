//! Long chains of waits: the walk that looks for a cycle is bounded in
//! depth, so thousands of tasks each waiting for the next cannot overflow a
//! thread's stack, while rings of hundreds of tasks are still found.

mod common;

use std::sync::Arc;

use async_inspect::sync::Mutex;
use common::eventually;
use tokio::sync::Barrier;

/// `n` tasks, task `i` holding lock `i` and then waiting for lock `i + 1`
/// (for a ring, lock `(i + 1) % n`); the last lock of a chain is `end`.
fn chain(
    locks: &[Arc<Mutex<()>>],
    ring: bool,
) -> (Vec<async_inspect::JoinHandle<()>>, Arc<Barrier>) {
    let n = if ring { locks.len() } else { locks.len() - 1 };
    let all_hold = Arc::new(Barrier::new(n + 1));
    let tasks = (0..n)
        .map(|i| {
            let mine = locks[i].clone();
            let next = locks[(i + 1) % locks.len()].clone();
            let all_hold = all_hold.clone();
            async_inspect::spawn(async move {
                let _mine = mine.lock().await;
                all_hold.wait().await;
                let _next = next.lock().await;
            })
        })
        .collect();
    (tasks, all_hold)
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_tasks_waiting_in_a_chain_do_not_overflow_the_stack() {
    let locks: Vec<Arc<Mutex<()>>> = (0..3001).map(|_| Arc::new(Mutex::new(()))).collect();
    let end = locks[3000].clone().lock_owned().await;
    let (tasks, all_hold) = chain(&locks, false);
    all_hold.wait().await;
    let ids: Vec<_> = tasks.iter().map(|t| t.inspect_id().unwrap()).collect();
    eventually("the whole chain to wait", |s| {
        ids.iter()
            .all(|id| s.task(*id).is_some_and(|t| !t.waits.is_empty()))
    })
    .await;
    // One more wait at the head walks the chain (as far as the bound).
    let head = locks[0].clone();
    let waiter = async_inspect::spawn(async move {
        let _head = head.lock().await;
    });
    let later = common::after_checks();
    assert!(
        !later
            .deadlocks()
            .iter()
            .any(|d| d.cycle.iter().any(|l| ids.contains(&l.task))),
        "a chain is no cycle"
    );
    drop(end);
    for task in tasks {
        task.await.unwrap();
    }
    waiter.await.unwrap();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_three_hundred_tasks_is_a_deadlock() {
    let locks: Vec<Arc<Mutex<()>>> = (0..300).map(|_| Arc::new(Mutex::new(()))).collect();
    let (tasks, all_hold) = chain(&locks, true);
    all_hold.wait().await;
    let first = tasks[0].inspect_id().unwrap();
    let snapshot = eventually("the ring", |s| {
        s.deadlocks()
            .iter()
            .any(|d| d.cycle.iter().any(|l| l.task == first))
    })
    .await;
    let deadlock = snapshot
        .deadlocks()
        .iter()
        .find(|d| d.cycle.iter().any(|l| l.task == first))
        .unwrap();
    assert_eq!(deadlock.cycle.len(), 300);
    for task in tasks {
        task.abort();
    }
}
