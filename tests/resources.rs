//! A snapshot lists every inspected lock with its holders and counters,
//! and each task with the locks it holds.

mod common;

use std::sync::Arc;

use async_inspect::sync::{Mutex, RwLock};
use common::eventually;

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_and_their_holders_are_in_the_snapshot() {
    let cache = Arc::new(Mutex::named("cache", 0));
    let config = Arc::new(RwLock::named("config", 0));
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let cache_line = line!() + 4;
    let holder = {
        let (cache, config) = (cache.clone(), config.clone());
        async_inspect::spawn(async move {
            let _c = cache.lock().await;
            let _r = config.read().await;
            release_rx.await.ok();
        })
    };
    let holder_id = holder.inspect_id().unwrap();
    // The waiter starts once the holder holds both: on two workers it
    // could otherwise take the lock first.
    eventually("the holder to hold both", |s| {
        s.task(holder_id).is_some_and(|t| t.holds.len() == 2)
    })
    .await;
    let waiter = {
        let cache = cache.clone();
        async_inspect::spawn(async move {
            let _c = cache.lock().await;
        })
    };
    let snapshot = eventually("the waiter to wait", |s| {
        s.resources()
            .iter()
            .any(|r| r.resource.name == "cache" && r.waiters == 1)
    })
    .await;
    let task = common::task(&snapshot, holder_id);
    let held_cache = task
        .holds
        .iter()
        .find(|h| h.resource.name == "cache")
        .unwrap();
    let at = held_cache.acquired_at.as_ref().unwrap();
    assert_eq!((at.file.as_ref(), at.line), (file!(), cache_line));
    assert!(task.holds.iter().any(|h| h.resource.name == "config"));

    let cache_info = snapshot
        .resources()
        .iter()
        .find(|r| r.resource.name == "cache")
        .unwrap();
    assert_eq!(cache_info.holders.len(), 1);
    assert_eq!(cache_info.holders[0].task, holder_id);
    assert_eq!(cache_info.acquisitions, 1);
    assert_eq!(cache_info.contended, 1);
    assert_eq!(cache_info.created_at.file, file!());
    let report = snapshot.to_string();
    assert!(report.contains("holds Mutex `cache` for"), "{report}");
    assert!(report.contains("holds RwLock `config` for"), "{report}");

    release_tx.send(()).unwrap();
    holder.await.unwrap();
    waiter.await.unwrap();
    let snapshot = async_inspect::snapshot();
    assert!(common::task(&snapshot, holder_id).holds.is_empty());
    let cache_info = snapshot
        .resources()
        .iter()
        .find(|r| r.resource.name == "cache")
        .unwrap();
    assert!(cache_info.holders.is_empty());
    assert_eq!(cache_info.acquisitions, 2);
    assert_eq!(cache_info.waiters, 0);
}
