//! Lock order is not recorded by default (nor with
//! `Config::lock_order(false)`), so even opposite orders go unreported;
//! switched on, they are.

use std::sync::Arc;

use async_inspect::sync::Mutex;
use async_inspect::{Config, Lint};

/// One task takes `a` then `b`, another `b` then `a`.
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

#[async_inspect::test]
async fn with_lock_order_off_inversions_are_not_recorded() {
    assert!(!Config::current().lock_order, "off by default");
    let a = Arc::new(Mutex::named("a", ()));
    let b = Arc::new(Mutex::named("b", ()));
    take_in_both_orders(&a, &b).await;
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
    take_in_both_orders(&a, &b).await;
    assert!(
        async_inspect::snapshot()
            .lints()
            .iter()
            .any(|l| matches!(l, Lint::LockOrderInversion { .. }))
    );
}
