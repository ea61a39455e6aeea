//! Inspected channels: a receiver's wait names who holds the senders, a
//! full channel's sender names who holds the receiver, and those waits
//! close deadlocks with locks and with each other.

mod common;

use std::sync::Arc;

use async_inspect::sync::{Mutex, mpsc, oneshot};
use async_inspect::{Deadlock, ResourceKind, Snapshot, TaskId, WaitReason};
use common::eventually;
use tokio::sync::Barrier;

fn deadlock_of(snapshot: &Snapshot, task: TaskId) -> Option<&Deadlock> {
    snapshot
        .deadlocks()
        .iter()
        .find(|d| d.cycle.iter().any(|l| l.task == task))
}

/// The holders of the channel end `name` of `kind` the task waits for.
fn waits_on(
    snapshot: &Snapshot,
    task: TaskId,
    kind: ResourceKind,
    name: &str,
) -> Option<Vec<TaskId>> {
    snapshot
        .task(task)?
        .waits
        .iter()
        .find_map(|w| match &w.reason {
            WaitReason::Channel { end, holders } if end.kind == kind && end.name == name => {
                Some(holders.iter().map(|h| h.task).collect())
            }
            _ => None,
        })
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_receiver_names_the_task_holding_the_sender() {
    let (tx, mut rx) = mpsc::named_channel("jobs", 4);
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let producer = async_inspect::spawn(async move {
        tx.send(1).await.unwrap();
        released.await.unwrap();
    });
    let producer_id = producer.inspect_id().unwrap();
    assert_eq!(rx.recv().await, Some(1));
    let me = async_inspect::current_task().unwrap();
    let waiting = async {
        let snapshot = eventually("the receiver to wait", |s| {
            waits_on(s, me, ResourceKind::ChannelSenders, "jobs").is_some()
        });
        let (received, snapshot) = tokio::join!(rx.recv(), async {
            let snapshot = snapshot.await;
            release.send(()).unwrap();
            snapshot
        });
        (received, snapshot)
    };
    let (received, snapshot) = waiting.await;
    assert_eq!(received, None, "the producer ended, dropping the sender");
    assert_eq!(
        waits_on(&snapshot, me, ResourceKind::ChannelSenders, "jobs").unwrap(),
        [producer_id],
        "the sender is held by the task that used it"
    );
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!(
            "a message on channel `jobs` from senders held by task {producer_id}"
        )),
        "{report}"
    );
    assert!(
        report.contains("holds a sender of channel `jobs`"),
        "{report}"
    );
    producer.await.unwrap();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_channel_and_a_lock_deadlock() {
    let (tx, mut rx) = mpsc::named_channel::<u32>("results", 1);
    let state = Arc::new(Mutex::named("state", ()));
    let barrier = Arc::new(Barrier::new(2));
    let consumer = {
        let (state, barrier) = (state.clone(), barrier.clone());
        async_inspect::spawn(async move {
            assert!(
                rx.try_recv().is_err(),
                "nothing yet; now it holds the receiver"
            );
            barrier.wait().await;
            let _state = state.lock().await;
            rx.recv().await
        })
    };
    let producer = async_inspect::spawn(async move {
        let _state = state.lock().await;
        barrier.wait().await;
        tx.send(1).await.unwrap();
        let _ = tx.send(2).await;
    });
    let (consumer_id, producer_id) = (
        consumer.inspect_id().unwrap(),
        producer.inspect_id().unwrap(),
    );
    let snapshot = eventually("the deadlock", |s| deadlock_of(s, producer_id).is_some()).await;
    let deadlock = deadlock_of(&snapshot, producer_id).unwrap();
    let sending = deadlock
        .cycle
        .iter()
        .find(|l| l.task == producer_id)
        .unwrap();
    let locking = deadlock
        .cycle
        .iter()
        .find(|l| l.task == consumer_id)
        .unwrap();
    let channel = sending.resource.as_ref().unwrap();
    assert_eq!(
        (channel.kind, channel.name.as_str()),
        (ResourceKind::ChannelReceiver, "results")
    );
    assert_eq!(sending.held_by, consumer_id);
    assert_eq!(locking.resource.as_ref().unwrap().name, "state");
    assert_eq!(locking.held_by, producer_id);
    assert!(
        deadlock
            .to_string()
            .contains("do not hold a lock (or the other end) while waiting on a channel"),
        "{deadlock}"
    );
    consumer.abort();
    producer.abort();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_each_waiting_for_the_others_message_deadlock() {
    let (to_a, mut a_inbox) = mpsc::named_unbounded_channel::<u32>("to a");
    let (to_b, mut b_inbox) = mpsc::named_unbounded_channel::<u32>("to b");
    let a = async_inspect::spawn(async move {
        to_b.send(0).unwrap();
        let reply = a_inbox.recv().await;
        // Waits for a second message only B could send, while B waits for
        // one from A.
        (reply, a_inbox.recv().await)
    });
    let b = async_inspect::spawn(async move {
        let ping = b_inbox.recv().await.unwrap();
        to_a.send(ping + 1).unwrap();
        b_inbox.recv().await
    });
    let (a_id, b_id) = (a.inspect_id().unwrap(), b.inspect_id().unwrap());
    let snapshot = eventually("the deadlock", |s| deadlock_of(s, a_id).is_some()).await;
    let deadlock = deadlock_of(&snapshot, a_id).unwrap();
    assert_eq!(deadlock.cycle.len(), 2, "{deadlock}");
    let a_link = deadlock.cycle.iter().find(|l| l.task == a_id).unwrap();
    assert_eq!(a_link.resource.as_ref().unwrap().name, "to a");
    assert_eq!(a_link.held_by, b_id);
    a.abort();
    b.abort();
}

#[async_inspect::test]
async fn a_sender_handed_to_a_worker_unused_is_not_a_deadlock() {
    let (tx, mut rx) = mpsc::named_channel::<u32>("handed", 1);
    let (go, went) = tokio::sync::oneshot::channel::<()>();
    let worker = async_inspect::spawn(async move {
        went.await.unwrap();
        tx.send(7).await.unwrap();
    });
    let me = async_inspect::current_task().unwrap();
    let receiving = async {
        eventually("the receiver to wait", |s| {
            waits_on(s, me, ResourceKind::ChannelSenders, "handed").is_some()
        })
        .await;
        let later = common::after_checks();
        go.send(()).unwrap();
        later
    };
    let (received, later) = tokio::join!(rx.recv(), receiving);
    assert_eq!(received, Some(7));
    assert_eq!(
        waits_on(&later, me, ResourceKind::ChannelSenders, "handed").unwrap(),
        [me],
        "made here, moved unseen"
    );
    assert!(deadlock_of(&later, me).is_none(), "{later}");
    worker.await.unwrap();
}

/// A receiver put aside unfinished by `select!` still shows its wait
/// while it lives (it is a `Future` anyone may poll again), but closes no
/// deadlock once its task was polled without polling it: here the task
/// holding its sender waits for a lock the receiver's task holds while
/// parked elsewhere, and that is no deadlock.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_oneshot_receiver_put_aside_by_select_closes_no_deadlock() {
    let state = Arc::new(Mutex::named("state", ()));
    let (hand, handed) = tokio::sync::oneshot::channel();
    let (go, mut went) = tokio::sync::oneshot::channel::<()>();
    let (park, parked) = tokio::sync::oneshot::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let state = state.clone();
        async_inspect::spawn(async move {
            // Made here: this task holds the sender.
            let (tx, rx) = oneshot::named_channel::<u32>("reply");
            hand.send(rx).unwrap();
            is_locked.await.unwrap();
            let _turn = state.lock().await;
            tx.send(5).unwrap();
        })
    };
    let mut rx = handed.await.unwrap();
    let waiter = {
        let state = state.clone();
        async_inspect::spawn(async move {
            let _guard = state.lock().await;
            locked.send(()).unwrap();
            tokio::select! {
                biased;
                _ = &mut went => {}
                _ = &mut rx => unreachable!("nothing is sent while the lock is held"),
            }
            // `rx` is put aside, unfinished, while this task holds the lock.
            parked.await.unwrap();
            drop(_guard);
            rx.await
        })
    };
    let (w, s) = (waiter.inspect_id().unwrap(), sender.inspect_id().unwrap());
    eventually("the await of the reply", |snap| {
        waits_on(snap, w, ResourceKind::ChannelSenders, "reply").is_some()
    })
    .await;
    go.send(()).unwrap();
    eventually("the waiter parked after the select, and the sender at the lock", |snap| {
        snap.task(w).is_some_and(|t| t.polls >= 2)
            && snap.task(s).is_some_and(|t| {
                t.waits.iter().any(|wait| {
                    matches!(&wait.reason, WaitReason::Lock { resource, .. } if resource.name == "state")
                })
            })
    })
    .await;
    let later = common::after_checks();
    assert!(deadlock_of(&later, w).is_none(), "{later}");
    park.send(()).unwrap();
    assert_eq!(waiter.await.unwrap(), Ok(5));
    sender.await.unwrap();
}

/// Code written for tokio's receiver, which is a `Future`: combinators,
/// a `FuturesUnordered`, a hand-written poll (bb8's own tests do all
/// three). Each receiver's wait shows while its task polls it.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_oneshot_receiver_is_a_future_for_combinators_and_hand_polls() {
    use futures::{FutureExt, TryStreamExt, stream::FuturesUnordered};
    let (tx, rx) = oneshot::named_channel::<u32>("mapped");
    let (senders, receivers): (Vec<_>, FuturesUnordered<_>) = (0..3)
        .map(|_| oneshot::named_channel::<u32>("many"))
        .unzip();
    let waiter = async_inspect::spawn(async move {
        let doubled = rx.map(|v| v.map(|v| v * 2)).await;
        let all: Vec<u32> = receivers.try_collect().await.unwrap();
        (doubled, all.into_iter().sum::<u32>())
    });
    let id = waiter.inspect_id().unwrap();
    eventually("the mapped receiver's wait", |s| {
        waits_on(s, id, ResourceKind::ChannelSenders, "mapped").is_some()
    })
    .await;
    tx.send(4).unwrap();
    eventually("the waits of the unordered receivers", |s| {
        s.task(id).is_some_and(|t| {
            t.waits
                .iter()
                .filter(
                    |w| matches!(&w.reason, WaitReason::Channel { end, .. } if end.name == "many"),
                )
                .count()
                == 3
        })
    })
    .await;
    for (n, tx) in senders.into_iter().enumerate() {
        tx.send(n as u32 + 1).unwrap();
    }
    assert_eq!(waiter.await.unwrap(), (Ok(8), 6));

    let (tx, mut rx) = oneshot::channel::<&str>();
    let mut polled = std::pin::pin!(&mut rx);
    assert!(futures::poll!(polled.as_mut()).is_pending());
    tx.send("by hand").unwrap();
    assert_eq!(
        futures::poll!(polled),
        std::task::Poll::Ready(Ok("by hand"))
    );
}

/// The rest of tokio's bounded sender: `reserve_owned` waits for room as a
/// send does (recorded, with the receiver's holder) and gives the sender
/// back; `reserve_many`, `send_timeout`, a weak sender upgraded.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_and_many_reservations_weak_senders_and_send_timeout() {
    let (tx, mut rx) = mpsc::named_channel::<u32>("jobs", 2);
    let weak = tx.downgrade();
    assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
    let mut two = tx.reserve_many(2).await.unwrap();
    assert_eq!(two.len(), 2);
    two.next().unwrap().send(1);
    two.next().unwrap().send(2);
    drop(two);
    let timed_out = tx
        .send_timeout(3, std::time::Duration::from_millis(10))
        .await;
    assert!(matches!(
        timed_out,
        Err(mpsc::error::SendTimeoutError::Timeout(3))
    ));
    let line = line!() + 2;
    let sender = async_inspect::spawn(async move {
        let permit = tx.reserve_owned().await.unwrap();
        let tx = permit.send(4);
        // Full again (2 and 4): the sender comes back in the error.
        match tx.try_reserve_owned() {
            Err(mpsc::error::TrySendError::Full(tx)) => tx.is_closed(),
            _ => true,
        }
    });
    let id = sender.inspect_id().unwrap();
    let me = async_inspect::current_task().unwrap();
    let snapshot = eventually("the owned reservation to wait for room", |s| {
        waits_on(s, id, ResourceKind::ChannelReceiver, "jobs").is_some()
    })
    .await;
    assert_eq!(
        waits_on(&snapshot, id, ResourceKind::ChannelReceiver, "jobs").unwrap(),
        [me]
    );
    let wait = &common::task(&snapshot, id).waits[0];
    assert_eq!(wait.at.as_ref().map(|at| at.line), Some(line));
    assert_eq!(rx.recv().await, Some(1));
    assert!(!sender.await.unwrap(), "full, and open");
    let upgraded = weak.upgrade();
    assert!(upgraded.is_none(), "every strong sender is gone");
    let mut got = Vec::new();
    rx.recv_many(&mut got, 10).await;
    assert_eq!(got, [2, 4]);
}
