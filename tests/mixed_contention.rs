//! Every kind of inspected resource under contention on two worker threads,
//! always taken in one global order (so no deadlock can exist), with
//! cancelled waits, owned guards handed to children and a channel at the
//! end: any deadlock reported is a false positive of the graph's updates.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_inspect::sync::{Mutex, RwLock, Semaphore, mpsc};

const TASKS: u64 = 100;
const ROUNDS: u64 = 40;

struct Shared {
    config: RwLock<u64>,
    state: Arc<Mutex<u64>>,
    pool: Arc<Semaphore>,
    events: mpsc::Sender<u64>,
}

/// One task's rounds: each takes a random subset in the order config →
/// state → pool → events.
async fn rounds(shared: Arc<Shared>, seed: u64) {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for round in 0..ROUNDS {
        let _config_read;
        let _config_write;
        match next(3) {
            0 => _config_read = Some(shared.config.read().await),
            1 => _config_write = Some(shared.config.write().await),
            _ => {}
        }
        let mut state = None;
        match next(4) {
            0 => state = Some(shared.state.lock().await),
            1 => {
                // Given up after a moment: a cancelled wait.
                let timed =
                    async_inspect::time::timeout(Duration::from_millis(1), shared.state.lock());
                state = timed.await.ok();
            }
            2 => {
                // Taken owned and handed to a child that lets it go.
                let guard = shared.state.clone().lock_owned().await;
                let child = async_inspect::spawn(async move {
                    tokio::task::yield_now().await;
                    drop(guard);
                });
                child.await.unwrap();
            }
            _ => {}
        }
        tokio::task::yield_now().await;
        let _permits = match next(3) {
            0 => Some(shared.pool.acquire_many(2).await.unwrap()),
            1 => {
                // Taken owned and handed to a child; then one of its own
                // (never two in steps: that can deadlock for real).
                let permit = shared.pool.clone().acquire_owned().await.unwrap();
                async_inspect::spawn(async move { drop(permit) })
                    .await
                    .unwrap();
                Some(shared.pool.acquire().await.unwrap())
            }
            _ => None,
        };
        if let Some(state) = &mut state {
            **state += 1;
        }
        tokio::task::yield_now().await;
        if next(2) == 0 {
            shared.events.send(round).await.unwrap();
        }
    }
}

/// Deadlocks reported in this binary, where none can exist.
static REPORTED: AtomicUsize = AtomicUsize::new(0);

fn count_deadlocks() {
    async_inspect::on_deadlock(|d| {
        eprintln!("{d}");
        REPORTED.fetch_add(1, Ordering::Relaxed);
    });
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_resource_in_one_order_never_reports_a_deadlock() {
    count_deadlocks();
    let (events, mut received) = mpsc::named_channel("events", 4);
    let collector = async_inspect::spawn(async move {
        let mut count = 0u64;
        while received.recv().await.is_some() {
            count += 1;
        }
        count
    });
    let shared = Arc::new(Shared {
        config: RwLock::named("config", 0),
        state: Arc::new(Mutex::named("state", 0)),
        pool: Arc::new(Semaphore::named("pool", 3)),
        events,
    });
    let tasks: Vec<_> = (0..TASKS)
        .map(|seed| async_inspect::spawn(rounds(shared.clone(), seed)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let snapshot = async_inspect::snapshot();
    assert!(snapshot.deadlocks().is_empty(), "{snapshot}");
    for name in ["config", "state", "pool"] {
        let info = snapshot
            .resources()
            .iter()
            .find(|r| r.resource.name == name);
        let info = info.unwrap_or_else(|| panic!("{name} is in the snapshot"));
        assert!(info.contended > 0, "{name} was contended: {info:?}");
        assert!(info.holders.is_empty(), "{name} is free: {info:?}");
    }
    drop(shared);
    let sent = collector.await.unwrap();
    assert!(sent > 0);
    assert_eq!(REPORTED.load(Ordering::Relaxed), 0);
}

/// A producer filling a channel of one while its consumer empties it: each
/// side is often woken by the other and not yet polled when the other
/// waits. Those waits the channel could already end are in no cycle.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_and_consumer_in_lockstep_never_report_a_deadlock() {
    count_deadlocks();
    const MESSAGES: u64 = 5_000;
    let (tx, mut rx) = mpsc::named_channel("lockstep", 1);
    let (back_tx, mut back_rx) = mpsc::named_unbounded_channel("acks");
    let producer = async_inspect::spawn(async move {
        for i in 0..MESSAGES {
            tx.send(i).await.unwrap();
            if i % 64 == 0 {
                back_rx.recv().await.unwrap();
            }
        }
    });
    let consumer = async_inspect::spawn(async move {
        let mut sum = 0;
        while let Some(i) = rx.recv().await {
            if i % 64 == 0 {
                back_tx.send(()).unwrap();
            }
            sum += i;
        }
        sum
    });
    producer.await.unwrap();
    assert_eq!(consumer.await.unwrap(), MESSAGES * (MESSAGES - 1) / 2);
    assert_eq!(REPORTED.load(Ordering::Relaxed), 0);
}
