//! `Config::lock_order(false)` (or `ASYNC_INSPECT_LOCK_ORDER=0`) records no
//! lock order, so even opposite orders go unreported.

use std::sync::Arc;

use async_inspect::sync::Mutex;
use async_inspect::{Config, Lint};

#[async_inspect::test]
async fn with_lock_order_off_inversions_are_not_recorded() {
    Config::current().lock_order(false).apply();
    let a = Arc::new(Mutex::named("a", ()));
    let b = Arc::new(Mutex::named("b", ()));
    for (first, second) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        async_inspect::spawn(async move {
            let _x = first.lock().await;
            let _y = second.lock().await;
        })
        .await
        .unwrap();
    }
    let snapshot = async_inspect::snapshot();
    assert!(
        !snapshot
            .lints()
            .iter()
            .any(|l| matches!(l, Lint::LockOrderInversion { .. })),
        "{snapshot}"
    );
    // Switched back on, the same two orders are reported.
    Config::current().lock_order(true).apply();
    for (first, second) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        async_inspect::spawn(async move {
            let _x = first.lock().await;
            let _y = second.lock().await;
        })
        .await
        .unwrap();
    }
    assert!(
        async_inspect::snapshot()
            .lints()
            .iter()
            .any(|l| matches!(l, Lint::LockOrderInversion { .. }))
    );
}
