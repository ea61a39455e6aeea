//! Locks taken in opposite orders by different tasks are a deadlock waiting
//! to happen: reported as a lint with both paths, though this run, one task
//! after the other, never deadlocked (with lock order recorded:
//! `ASYNC_INSPECT_LOCK_ORDER=1` or `Config::lock_order`).

use std::sync::Arc;

use async_inspect::sync::{Mutex, RwLock};
use async_inspect::{Lint, LockOrderStep};

fn inversions_between(a: &str, b: &str) -> Vec<Vec<LockOrderStep>> {
    async_inspect::snapshot()
        .lints()
        .iter()
        .filter_map(|lint| match lint {
            Lint::LockOrderInversion { cycle } => Some(cycle.clone()),
            _ => None,
        })
        .filter(|cycle| {
            let names: Vec<&str> = cycle.iter().map(|s| s.took.name.as_str()).collect();
            names.contains(&a) && names.contains(&b)
        })
        .collect()
}

#[rustfmt::skip] // The lines of the lock() calls are asserted below.
async fn in_order(first: Arc<Mutex<()>>, second: Arc<Mutex<()>>) -> u32 {
    let _a = first.lock().await;
    let _b = second.lock().await;
    line!() - 2
}

fn record_lock_order() {
    async_inspect::Config::current().lock_order(true).apply();
}

#[async_inspect::test]
async fn opposite_orders_in_two_tasks_are_reported_without_a_deadlock() {
    record_lock_order();
    let accounts = Arc::new(Mutex::named("accounts", ()));
    let ledger = Arc::new(Mutex::named("ledger", ()));
    let first = async_inspect::spawn(in_order(accounts.clone(), ledger.clone()));
    let first_id = first.inspect_id().unwrap();
    let line = first.await.unwrap();
    let second = async_inspect::spawn(in_order(ledger.clone(), accounts.clone()));
    let second_id = second.inspect_id().unwrap();
    second.await.unwrap();

    let found = inversions_between("accounts", "ledger");
    assert_eq!(found.len(), 1, "{found:?}");
    let cycle = &found[0];
    assert_eq!(cycle.len(), 2);
    let forward = cycle.iter().find(|s| s.held.name == "accounts").unwrap();
    assert_eq!(forward.took.name, "ledger");
    assert_eq!(forward.task, first_id);
    assert_eq!(
        (forward.held_at.line, forward.took_at.line),
        (line, line + 1)
    );
    assert_eq!(forward.took_at.file, file!());
    let backward = cycle.iter().find(|s| s.held.name == "ledger").unwrap();
    assert_eq!(backward.took.name, "accounts");
    assert_eq!(backward.task, second_id);

    let text = Lint::LockOrderInversion {
        cycle: cycle.clone(),
    }
    .to_string();
    assert!(
        text.starts_with("potential deadlock: lock order inversion between"),
        "{text}"
    );
    let snapshot = async_inspect::snapshot();
    assert!(
        !snapshot.deadlocks().iter().any(|d| d
            .cycle
            .iter()
            .any(|l| l.task == first_id || l.task == second_id)),
        "nothing deadlocked"
    );
    assert!(
        snapshot
            .to_string()
            .contains("potential deadlock: lock order inversion")
    );
}

#[async_inspect::test]
async fn one_consistent_order_is_not_reported() {
    record_lock_order();
    let config = Arc::new(RwLock::named("config", ()));
    let cache = Arc::new(Mutex::named("cache", ()));
    for _ in 0..3 {
        let (config, cache) = (config.clone(), cache.clone());
        async_inspect::spawn(async move {
            let _c = config.read().await;
            let _m = cache.lock().await;
        })
        .await
        .unwrap();
    }
    // Released in between: taking `cache` alone, then `config`, orders nothing.
    {
        let _m = cache.lock().await;
    }
    let _c = config.write().await;
    assert!(inversions_between("config", "cache").is_empty());
}
