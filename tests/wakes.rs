//! With wake counting on (`ASYNC_INSPECT_WAKES=1` or `Config::count_wakes`),
//! each task counts the wakes it receives; off, a poll pays nothing for it.

mod common;

use std::sync::Arc;

use async_inspect::{Config, TaskState};
use common::{eventually, task};
use tokio::sync::Notify;

#[async_inspect::test]
async fn every_wake_is_counted_when_counting_is_on() {
    Config::default().count_wakes(true).apply();
    let notify = Arc::new(Notify::new());
    let handle = {
        let notify = notify.clone();
        async_inspect::spawn(async move {
            for _ in 0..3 {
                notify.notified().await;
            }
        })
    };
    let id = handle.inspect_id().unwrap();
    for round in 1..=3 {
        eventually("the task to wait on the notify", |s| {
            s.task(id)
                .is_some_and(|t| t.polls == round && t.state == TaskState::Idle)
        })
        .await;
        notify.notify_one();
    }
    handle.await.unwrap();
    let snapshot = async_inspect::snapshot();
    let info = task(&snapshot, id);
    assert_eq!(info.polls, 4);
    assert_eq!(info.wakes, 3);
    assert!(snapshot.to_string().contains("wakes 3"));
}
