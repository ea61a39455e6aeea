//! Lock order is recorded by default: a new user's two tasks taking two
//! locks in opposite orders are reported with no variable set, though the
//! run never deadlocked. `ASYNC_INSPECT_LOCK_ORDER=0` (checked in a child
//! process, this binary again, since the environment is read once) and
//! `Config::lock_order(false)` turn it off. A hot lock taken a million
//! times by 200 tasks is no inversion.

use std::process::Command;
use std::sync::Arc;

use async_inspect::sync::Mutex;
use async_inspect::{Config, Lint};

const CHILD: &str = "ASYNC_INSPECT_TEST_LOCK_ORDER_CHILD";

/// One task takes `a` then `b`, another `b` then `a`, one after the other.
async fn take_in_both_orders(a: &Arc<Mutex<()>>, b: &Arc<Mutex<()>>) {
    for (first, second) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        async_inspect::spawn(async move {
            let _x = first.lock().await;
            let _y = second.lock().await;
        })
        .await
        .unwrap();
    }
}

fn inversion_between(lints: &[Lint], a: &str, b: &str) -> bool {
    lints.iter().any(|l| match l {
        Lint::LockOrderInversion { cycle } => {
            cycle.iter().any(|s| s.took.name == a) && cycle.iter().any(|s| s.took.name == b)
        }
        _ => false,
    })
}

#[async_inspect::test]
async fn an_inversion_is_reported_with_no_variable_set() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    assert!(Config::current().lock_order, "on by default");
    let a = Arc::new(Mutex::named("ledger", ()));
    let b = Arc::new(Mutex::named("accounts", ()));
    take_in_both_orders(&a, &b).await;
    let snapshot = async_inspect::snapshot();
    assert!(
        inversion_between(snapshot.lints(), "ledger", "accounts"),
        "{snapshot}"
    );
    assert!(snapshot.to_string().contains("lock order inversion"));
}

/// In the child only: with `ASYNC_INSPECT_LOCK_ORDER=0`, opposite orders
/// go unreported; `Config::lock_order(true)` turns it back on.
#[async_inspect::test]
async fn child_with_lock_order_off() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    assert!(!Config::current().lock_order);
    let a = Arc::new(Mutex::named("a", ()));
    let b = Arc::new(Mutex::named("b", ()));
    take_in_both_orders(&a, &b).await;
    assert!(!inversion_between(
        async_inspect::snapshot().lints(),
        "a",
        "b"
    ));
    Config::current().lock_order(true).apply();
    take_in_both_orders(&a, &b).await;
    assert!(inversion_between(
        async_inspect::snapshot().lints(),
        "a",
        "b"
    ));
    eprintln!("child: checked");
}

#[test]
fn the_variable_turns_it_off() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["child_with_lock_order_off", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .env("ASYNC_INSPECT_LOCK_ORDER", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("child: checked"), "{stderr}");
}

/// 200 tasks take one lock 5 000 times each (10⁶ acquisitions), some
/// while holding a lock of their own, always in the same order: no
/// inversion.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_lock_taken_a_million_times_is_no_inversion() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let hot = Arc::new(Mutex::named("hot", 0_u64));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let hot = hot.clone();
        let own = Arc::new(Mutex::named("own", ()));
        tasks.push(async_inspect::spawn(async move {
            for round in 0..5_000 {
                if round % 10 == 0 {
                    let _own = own.lock().await;
                    *hot.lock().await += 1;
                } else {
                    *hot.lock().await += 1;
                }
                if round % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*hot.lock().await, 1_000_000);
    let snapshot = async_inspect::snapshot();
    let about_hot = snapshot.lints().iter().any(|l| match l {
        Lint::LockOrderInversion { cycle } | Lint::LockSiteOrderInversion { cycle } => cycle
            .iter()
            .any(|s| s.took.name == "hot" || s.held.name == "hot"),
        _ => false,
    });
    assert!(!about_hot, "{snapshot}");
}

/// A guard taken by one task and dropped by another leaves the first
/// task's held locks: what the first takes afterwards is not ordered after
/// it (else a later opposite order would be a false inversion).
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_released_by_another_task_leaves_its_taker() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let first = Arc::new(Mutex::named("handed over", ()));
    let second = Arc::new(Mutex::named("taken after", ()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let dropper = async_inspect::spawn(async move {
        let guard: async_inspect::sync::OwnedMutexGuard<()> = rx.await.unwrap();
        drop(guard);
    });
    {
        let (first, second) = (first.clone(), second.clone());
        async_inspect::spawn(async move {
            let guard = first.clone().lock_owned().await;
            tx.send(guard).unwrap();
            // Released by the other task before this one goes on.
            tokio::task::yield_now().await;
            while first.try_lock().is_err() {
                tokio::task::yield_now().await;
            }
            let _taken = second.lock().await;
        })
        .await
        .unwrap();
    }
    dropper.await.unwrap();
    // The opposite order, in a task of its own: fine, since nothing was
    // ever taken while `handed over` was held.
    async_inspect::spawn(async move {
        let _taken = second.lock().await;
        let _handed = first.lock().await;
    })
    .await
    .unwrap();
    let snapshot = async_inspect::snapshot();
    assert!(
        !inversion_between(snapshot.lints(), "handed over", "taken after"),
        "{snapshot}"
    );
}
