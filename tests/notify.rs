//! The inspected `Notify`: a task awaiting `notified()` waits for the
//! Notify by name, at the line of its call; notifying ends the wait.

mod common;

use std::sync::Arc;

use async_inspect::sync::Notify;
use async_inspect::{ResourceKind, WaitReason};
use common::eventually;

#[async_inspect::test]
async fn a_task_awaiting_notified_waits_for_the_notify_by_name() {
    let purge = Arc::new(Notify::named("purge"));
    let line = line!() + 3;
    let waiter = {
        let purge = purge.clone();
        async_inspect::spawn(async move { purge.notified().await })
    };
    let id = waiter.inspect_id().unwrap();
    let snapshot = eventually("the waiter to wait on the Notify", |s| {
        s.task(id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let task = snapshot.task(id).unwrap();
    let wait = &task.waits[0];
    let WaitReason::Channel { end, holders } = &wait.reason else {
        panic!("{:?}", wait.reason);
    };
    assert_eq!(
        (end.kind, end.name.as_str()),
        (ResourceKind::Notify, "purge")
    );
    assert!(holders.is_empty(), "nobody holds a Notify");
    let at = wait.at.as_ref().expect("where it waits");
    assert_eq!((at.file.as_ref(), at.line), (file!(), line));
    assert_eq!(
        task.parked_at().as_deref(),
        Some(format!("Notify `purge` · at {at}").as_str())
    );
    let report = snapshot.to_string();
    assert!(report.contains("Waiting for: Notify `purge`"), "{report}");
    assert!(snapshot.deadlocks().is_empty());

    purge.notify_one();
    waiter.await.unwrap();
    let after = async_inspect::snapshot();
    assert!(after.task(id).is_none_or(|t| t.waits.is_empty()));
}

#[async_inspect::test]
async fn a_permit_stored_before_the_wait_completes_it_at_once() {
    let ready = Notify::new();
    ready.notify_one();
    ready.notified().await;
    let mut late = std::pin::pin!(ready.notified());
    assert!(!late.as_mut().enable(), "no permit left");
    ready.notify_waiters();
    late.await;
}
