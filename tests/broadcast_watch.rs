//! The inspected broadcast and watch channels and `Barrier`: a receiver
//! waiting for a message waits for the channel's senders, named, at the
//! line of its call, and joins the wait-for graph; a message sent after the
//! wait began ends it at once (no false deadlock while the receiver is
//! about to run); a barrier's wait is named and closes no deadlock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_inspect::sync::{Barrier, Mutex, broadcast, oneshot, watch};
use async_inspect::{ResourceKind, TaskId, TaskInfo, WaitReason};
use common::{after_checks, eventually, task};

/// The one channel wait of `task`: its kind, name and holders' ids.
fn channel_wait(task: &TaskInfo) -> Option<(ResourceKind, String, Vec<TaskId>, u32)> {
    task.waits.iter().find_map(|wait| match &wait.reason {
        WaitReason::Channel { end, holders } => Some((
            end.kind,
            end.name.clone(),
            holders.iter().map(|h| h.task).collect(),
            wait.at.as_ref().map_or(0, |at| at.line),
        )),
        _ => None,
    })
}

#[async_inspect::test]
async fn a_broadcast_receiver_waits_for_the_senders_by_name_until_a_send() {
    let (shutdown, mut rx) = broadcast::named_channel::<u32>("shutdown", 4);
    let mut late = shutdown.subscribe();
    let line = line!() + 1;
    let waiter = async_inspect::spawn(async move { rx.recv().await });
    let id = waiter.inspect_id().unwrap();
    let main = async_inspect::current_task().unwrap();
    let snapshot = eventually("the receiver to wait", |s| {
        s.task(id).is_some_and(|t| channel_wait(t).is_some())
    })
    .await;
    let waiting = task(&snapshot, id);
    assert_eq!(
        channel_wait(waiting),
        Some((
            ResourceKind::ChannelSenders,
            "shutdown".to_owned(),
            vec![main],
            line
        ))
    );
    let report = snapshot.to_string();
    assert!(
        report.contains("Waiting for: a message on channel `shutdown` from senders held by task"),
        "{report}"
    );
    assert!(
        waiting
            .parked_at()
            .is_some_and(|p| p.starts_with(&format!("recv on channel `shutdown` held by {main}"))),
        "{:?}",
        waiting.parked_at()
    );
    assert!(snapshot.deadlocks_of(id).next().is_none());

    assert_eq!(shutdown.send(7).unwrap(), 2);
    assert_eq!(waiter.await.unwrap(), Ok(7));
    assert_eq!(late.try_recv(), Ok(7));
    let after = async_inspect::snapshot();
    assert!(after.task(id).is_none_or(|t| t.waits.is_empty()));
    drop(shutdown);
    assert_eq!(late.recv().await, Err(broadcast::error::RecvError::Closed));
}

/// A receiver holding a lock, about to wake with a message, while the
/// sender's task waits for that lock: not a deadlock (the message ends
/// the receiver's wait before its task runs again). On one thread the
/// receiver cannot run between the send and the lock's wait.
#[async_inspect::test(flavor = "current_thread")]
async fn a_message_sent_after_the_wait_began_ends_it_before_the_receiver_runs() {
    let state = Arc::new(Mutex::named("state", 0));
    let (news, mut rx) = broadcast::named_channel::<u32>("news", 4);
    let (locked, is_locked) = oneshot::channel();
    let receiver = {
        let state = state.clone();
        async_inspect::spawn(async move {
            let mut guard = state.lock().await;
            locked.send(()).unwrap();
            *guard = rx.recv().await.unwrap();
        })
    };
    is_locked.await.unwrap();
    let id = receiver.inspect_id().unwrap();
    eventually("the receiver to wait", |s| {
        s.task(id).is_some_and(|t| channel_wait(t).is_some())
    })
    .await;
    news.send(5).unwrap();
    // This task (the sender's holder) waits for the lock the receiver
    // holds while the receiver waits for the news it was just sent.
    assert_eq!(*state.lock().await, 5);
    receiver.await.unwrap();
    let snapshot = after_checks();
    assert!(snapshot.deadlocks_of(id).next().is_none(), "{snapshot}");
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_whose_senders_wait_for_its_lock_is_in_a_deadlock() {
    let state = Arc::new(Mutex::named("state", 0));
    let (news, mut rx) = broadcast::named_channel::<u32>("news", 4);
    let received = Arc::new(AtomicUsize::new(0));
    let (locked, is_locked) = oneshot::channel();
    let receiver = {
        let (state, received) = (state.clone(), received.clone());
        async_inspect::spawn(async move {
            let _guard = state.lock().await;
            locked.send(()).unwrap();
            while rx.recv().await.is_ok() {
                received.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    is_locked.await.unwrap();
    let sender = async_inspect::spawn(async move {
        news.send(1).unwrap();
        while received.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Holding the only sender, it waits for the receiver's lock: the
        // receiver will never hear from it again.
        let _never = state.lock().await;
        drop(news);
    });
    let (r, s) = (receiver.inspect_id().unwrap(), sender.inspect_id().unwrap());
    let snapshot = eventually("the deadlock through the channel", |s| {
        s.deadlocks_of(r).next().is_some()
    })
    .await;
    let deadlock = snapshot.deadlocks_of(r).next().unwrap();
    let mut tasks: Vec<TaskId> = deadlock.cycle.iter().map(|l| l.task).collect();
    tasks.sort();
    let mut expected = vec![r, s];
    expected.sort();
    assert_eq!(tasks, expected, "{snapshot}");
    let through: Vec<&str> = deadlock
        .cycle
        .iter()
        .filter_map(|l| l.resource.as_ref().map(|r| r.name.as_str()))
        .collect();
    assert!(
        through.contains(&"news") && through.contains(&"state"),
        "{through:?}"
    );
    receiver.abort();
    sender.abort();
}

#[async_inspect::test]
async fn a_watch_receiver_waits_in_changed_until_a_new_value() {
    let (config, mut seen) = watch::named_channel("config", 1);
    let line = line!() + 2;
    let reader = async_inspect::spawn(async move {
        seen.changed().await.unwrap();
        let value = *seen.borrow_and_update();
        let big = seen.wait_for(|v| *v > 10).await.map(|v| *v).unwrap();
        (value, big)
    });
    let id = reader.inspect_id().unwrap();
    let snapshot = eventually("the reader to wait for a change", |s| {
        s.task(id).is_some_and(|t| channel_wait(t).is_some())
    })
    .await;
    let (kind, name, _, at) = channel_wait(task(&snapshot, id)).unwrap();
    assert_eq!(
        (kind, name.as_str(), at),
        (ResourceKind::ChannelSenders, "config", line)
    );
    config.send(2).unwrap();
    let waiting_big = eventually("the reader to wait for a big value", |s| {
        s.task(id)
            .and_then(channel_wait)
            .is_some_and(|(_, _, _, at)| at == line + 2)
    })
    .await;
    assert!(waiting_big.deadlocks_of(id).next().is_none());
    config.send_modify(|v| *v = 11);
    assert_eq!(reader.await.unwrap(), (2, 11));
    assert_eq!(*config.borrow(), 11);
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_wait_is_named_and_ends_when_all_arrive() {
    let start = Arc::new(Barrier::named("start", 3));
    let line = line!() + 4;
    let early: Vec<_> = (0..2)
        .map(|_| {
            let start = start.clone();
            async_inspect::spawn(async move { start.wait().await.is_leader() })
        })
        .collect();
    let ids: Vec<TaskId> = early.iter().map(|t| t.inspect_id().unwrap()).collect();
    let snapshot = eventually("two tasks at the barrier", |s| {
        ids.iter()
            .all(|&id| s.task(id).is_some_and(|t| channel_wait(t).is_some()))
    })
    .await;
    for &id in &ids {
        let (kind, name, holders, at) = channel_wait(task(&snapshot, id)).unwrap();
        assert_eq!(
            (kind, name.as_str(), holders.len(), at),
            (ResourceKind::Barrier, "start", 0, line)
        );
    }
    assert!(
        snapshot
            .to_string()
            .contains("Waiting for: Barrier `start`")
    );
    let mut leaders = usize::from(start.wait().await.is_leader());
    for task in early {
        leaders += usize::from(task.await.unwrap());
    }
    assert_eq!(leaders, 1);
}
