//! Inspected sleeps, timeouts and joins say what a task waits for and
//! whether anything will end the wait.

mod common;

use std::time::Duration;

use async_inspect::WaitReason;
use common::{eventually, task};
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn nap() {
    async_inspect::time::sleep(Duration::from_secs(60)).await;
}

#[async_inspect::test]
async fn a_sleeping_task_says_when_it_wakes() {
    let handle = async_inspect::spawn(nap());
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("nap to sleep", |s| {
        s.task(id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let info = task(&snapshot, id);
    let wait = &info.waits[0];
    let WaitReason::Sleep { until } = wait.reason else {
        panic!("expected a sleep, got {:?}", wait.reason);
    };
    let left = until.saturating_sub(snapshot.taken_at());
    assert!(
        left > Duration::from_secs(50) && left <= Duration::from_secs(60),
        "{left:?}"
    );
    assert_eq!(
        wait.frame,
        Some(info.frames[0].id),
        "the wait belongs to nap's await"
    );
    let report = snapshot.to_string();
    assert!(
        report.contains("Waiting for: sleep, wakes in 5"),
        "{report}"
    );
    handle.abort();
}

/// Spawns `sleeper` and asserts that the sleep it parks in has between
/// `least` (excluded) and `most` left; the task is aborted after.
async fn assert_sleep_left(
    sleeper: impl Future<Output = ()> + Send + 'static,
    least: Duration,
    most: Duration,
) {
    let handle = async_inspect::spawn(sleeper);
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the task to sleep", |s| {
        s.task(id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let WaitReason::Sleep { until } = task(&snapshot, id).waits[0].reason else {
        panic!("expected a sleep: {snapshot}");
    };
    let left = until.saturating_sub(snapshot.taken_at());
    assert!(
        left > least && left <= most,
        "{left:?} left, not in ({least:?}, {most:?}]"
    );
    assert!(!handle.is_finished());
    handle.abort();
}

#[async_inspect::test]
async fn a_sleep_awaited_after_it_was_made_counts_from_when_it_was_made() {
    let secs = Duration::from_secs;
    let made_early = async move {
        let nap = async_inspect::time::sleep(secs(60));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        nap.await;
    };
    assert_sleep_left(made_early, secs(50), Duration::from_millis(58_500)).await;
    // A deadline, and a sleep moved to a new one, say their own.
    let until = async move {
        let deadline = async_inspect::time::Instant::now() + secs(60);
        async_inspect::time::sleep_until(deadline).await;
    };
    assert_sleep_left(until, secs(50), secs(60)).await;
    let moved = async move {
        let mut nap = std::pin::pin!(async_inspect::time::sleep(secs(5)));
        nap.as_mut()
            .reset(async_inspect::time::Instant::now() + secs(300));
        nap.await;
    };
    assert_sleep_left(moved, secs(290), secs(300)).await;
}

#[async_inspect::test]
async fn a_sleep_for_ever_sleeps_as_tokio_s_does() {
    // `Duration::MAX` is how a sleep "for ever" is often written: tokio
    // caps it at about 30 years; an `Instant` that far would overflow.
    let years = Duration::from_secs(86_400 * 365);
    assert_sleep_left(
        async_inspect::time::sleep(Duration::MAX),
        29 * years,
        30 * years,
    )
    .await;
}

#[async_inspect::trace]
async fn patient(rx: oneshot::Receiver<()>) {
    let _ = async_inspect::time::timeout(Duration::from_secs(30), inner_wait(rx)).await;
}

#[async_inspect::trace]
async fn inner_wait(rx: oneshot::Receiver<()>) {
    rx.await.ok();
}

#[async_inspect::trace]
async fn forever(rx: oneshot::Receiver<()>) {
    inner_wait(rx).await;
}

#[async_inspect::test]
async fn an_await_under_a_timeout_shows_its_deadline_and_one_without_waits_forever() {
    let (tx_a, rx_a) = oneshot::channel();
    let (tx_b, rx_b) = oneshot::channel();
    let with = async_inspect::spawn(patient(rx_a));
    let without = async_inspect::spawn(forever(rx_b));
    let (with_id, without_id) = (with.inspect_id().unwrap(), without.inspect_id().unwrap());
    let snapshot = eventually("both to park", |s| {
        common::parked_at(s, with_id, "rx") && common::parked_at(s, without_id, "rx")
    })
    .await;

    let (frame, _) = task(&snapshot, with_id).blocked_at().unwrap();
    let deadline = frame
        .timeout_at
        .expect("inner_wait runs under patient's timeout");
    let left = deadline.saturating_sub(snapshot.taken_at());
    assert!(
        left > Duration::from_secs(25) && left <= Duration::from_secs(30),
        "{left:?}"
    );

    let (frame, _) = task(&snapshot, without_id).blocked_at().unwrap();
    assert_eq!(frame.timeout_at, None);

    let report = snapshot.to_string();
    let section = |id: async_inspect::TaskId| {
        let start = report.find(&format!("Task {id} ")).unwrap();
        let end = report[start..]
            .find("\n\n")
            .map_or(report.len(), |e| start + e);
        report[start..end].to_owned()
    };
    assert!(section(with_id).contains("Timeout: in 2"), "{report}");
    assert!(
        section(without_id).contains("Timeout: None (will wait forever!)"),
        "{report}"
    );

    tx_a.send(()).unwrap();
    tx_b.send(()).unwrap();
    with.await.unwrap();
    without.await.unwrap();
    let snapshot = async_inspect::snapshot();
    assert!(task(&snapshot, with_id).frames.is_empty());
}

#[async_inspect::test]
async fn awaiting_a_join_handle_waits_for_that_task() {
    let (tx, rx) = oneshot::channel::<()>();
    let child = async_inspect::spawn(async move {
        rx.await.ok();
    });
    let child_id = child.inspect_id().unwrap();
    let parent = async_inspect::spawn(async move { child.await.unwrap() });
    let parent_id = parent.inspect_id().unwrap();

    let snapshot = eventually("the parent to wait on the child", |s| {
        s.task(parent_id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let info = task(&snapshot, parent_id);
    assert_eq!(info.state, async_inspect::TaskState::Blocked);
    assert_eq!(info.waits[0].reason, WaitReason::Join { task: child_id });
    assert_eq!(info.waits[0].frame, None, "the parent is not traced");
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!("Waiting for: task {child_id} ")),
        "{report}"
    );

    tx.send(()).unwrap();
    parent.await.unwrap();
    let snapshot = async_inspect::snapshot();
    assert!(
        task(&snapshot, parent_id).waits.is_empty(),
        "the wait ended"
    );
}

#[async_inspect::test]
async fn a_cancelled_sleep_leaves_no_wait_behind() {
    let (tx, rx) = oneshot::channel::<()>();
    let handle = async_inspect::spawn(async move {
        tokio::select! {
            _ = async_inspect::time::sleep(Duration::from_secs(60)) => {}
            _ = rx => {}
        }
        std::future::pending::<()>().await;
    });
    let id = handle.inspect_id().unwrap();
    eventually("the sleep to register", |s| {
        s.task(id).is_some_and(|t| t.waits.len() == 1)
    })
    .await;
    tx.send(()).unwrap();
    let snapshot = eventually("the select to finish", |s| {
        s.task(id).is_some_and(|t| t.polls >= 2)
    })
    .await;
    assert!(task(&snapshot, id).waits.is_empty());
    assert_eq!(task(&snapshot, id).state, async_inspect::TaskState::Idle);
    handle.abort();
}

/// The ids of the locks `info`'s waits are for.
fn waited_locks(info: &async_inspect::TaskInfo) -> Vec<async_inspect::ResourceId> {
    info.waits
        .iter()
        .map(|wait| match &wait.reason {
            WaitReason::Lock { resource, .. } => resource.id,
            other => panic!("expected a lock wait, got {other:?}"),
        })
        .collect()
}

#[async_inspect::test]
async fn one_of_many_waits_can_end_and_its_lock_go() {
    use futures::stream::{FuturesUnordered, StreamExt};
    use std::sync::Arc;

    // More waits than a task removes one by one: an ended wait in the
    // middle is marked, and kept until enough others end.
    let locks: Vec<_> = (0..20)
        .map(|_| Arc::new(async_inspect::sync::Mutex::new(())))
        .collect();
    let mut guards: Vec<_> = locks
        .iter()
        .map(|lock| Arc::clone(lock).try_lock_owned().unwrap())
        .collect();
    let waiter = async_inspect::spawn(async move {
        let mut waits: FuturesUnordered<_> = locks
            .into_iter()
            .map(|lock| async move { drop(lock.lock_owned().await) })
            .collect();
        while waits.next().await.is_some() {}
    });
    let id = waiter.inspect_id().unwrap();
    let before = eventually("20 waits", |s| {
        s.task(id).is_some_and(|t| t.waits.len() == 20)
    })
    .await;
    let all = waited_locks(task(&before, id));
    // The sixth lock's last owner is the waiter's future, which drops it
    // as soon as it got it: the wait ends and the lock goes.
    drop(guards.remove(5));
    let after = eventually("19 waits", |s| {
        s.task(id).is_some_and(|t| t.waits.len() == 19)
    })
    .await;
    let left = waited_locks(task(&after, id));
    // Exactly one wait went, and the others are as they were.
    let gone: Vec<_> = all.iter().filter(|lock| !left.contains(lock)).collect();
    assert_eq!(gone.len(), 1, "{after}");
    assert_ne!(
        Some(gone[0]),
        all.last(),
        "the wait that ended is not the latest"
    );
    let kept: Vec<_> = all
        .iter()
        .filter(|lock| *lock != gone[0])
        .copied()
        .collect();
    assert_eq!(left, kept, "{after}");
    drop(guards);
    waiter.await.unwrap();
}

#[async_inspect::trace]
async fn lock_with_patience(mutex: std::sync::Arc<async_inspect::sync::Mutex<()>>) {
    let _ = async_inspect::time::timeout(Duration::from_secs(30), mutex.lock()).await;
}

/// A lock wait is kept as its edge in the wait-for graph, not in the
/// task's own record: a task with no record of its own (unnamed, untraced)
/// still shows it, and one in a traced call under a timeout shows the call
/// and the deadline.
#[async_inspect::test]
async fn a_lock_wait_shows_its_holder_its_traced_call_and_its_deadline() {
    let mutex = std::sync::Arc::new(async_inspect::sync::Mutex::named("gate", ()));
    let guard = mutex.lock().await;
    let holder = async_inspect::current_task().expect("the test runs in an inspected task");
    let plain = async_inspect::spawn({
        let mutex = mutex.clone();
        async move {
            drop(mutex.lock().await);
        }
    });
    let traced = async_inspect::spawn(lock_with_patience(mutex.clone()));
    let (plain_id, traced_id) = (plain.inspect_id().unwrap(), traced.inspect_id().unwrap());
    let waits_for_gate = |s: &async_inspect::Snapshot, id| {
        s.task(id).is_some_and(|t| {
            t.waits.iter().any(|w| {
                matches!(&w.reason, WaitReason::Lock { resource, .. }
                    if resource.name == "gate")
            })
        })
    };
    let snapshot = eventually("both tasks to wait for the gate", |s| {
        waits_for_gate(s, plain_id) && waits_for_gate(s, traced_id)
    })
    .await;

    let plain_info = task(&snapshot, plain_id);
    assert_eq!(plain_info.waits.len(), 1, "{:?}", plain_info.waits);
    let wait = &plain_info.waits[0];
    let WaitReason::Lock { holders, .. } = &wait.reason else {
        unreachable!()
    };
    assert_eq!(holders.iter().map(|h| h.task).collect::<Vec<_>>(), [holder]);
    assert_eq!((wait.frame, wait.timeout_at), (None, None));
    assert!(
        wait.at
            .as_ref()
            .is_some_and(|at| at.file.ends_with("waits.rs"))
    );
    assert_eq!(plain_info.state, async_inspect::TaskState::Blocked);

    let traced_info = task(&snapshot, traced_id);
    let wait = &traced_info.waits[0];
    let frame = traced_info
        .frames
        .iter()
        .find(|f| f.function == "lock_with_patience")
        .expect("the traced call");
    assert_eq!(wait.frame, Some(frame.id));
    let left = wait
        .timeout_at
        .expect("the wait runs under a timeout")
        .saturating_sub(snapshot.taken_at());
    assert!(
        left > Duration::from_secs(25) && left <= Duration::from_secs(30),
        "{left:?}"
    );

    drop(guard);
    plain.await.unwrap();
    traced.await.unwrap();
    let after = async_inspect::snapshot();
    assert!(!waits_for_gate(&after, plain_id) && !waits_for_gate(&after, traced_id));
}
