//! The stall log of services (`ASYNC_INSPECT_STALL_LOG`): a task waiting
//! for an inspected lock past the threshold is reported once, with the
//! full report, and a deadlock forming is reported too; the program runs
//! on. Checked from a child process (this binary again), whose stderr is
//! read whole.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_inspect::sync::{Mutex, mpsc};

const CHILD: &str = "ASYNC_INSPECT_TEST_STALL_CHILD";

/// In the child only: a lock wait past the threshold, a channel receive
/// that waits as long (at rest, not a stall), then a deadlock.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_stalls_then_deadlocks() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let (_tx, mut rx) = mpsc::named_channel::<()>("idle", 1);
    let resting = async_inspect::spawn(async move { rx.recv().await });
    // Well past the 200 ms threshold: one report, then none for it again.
    wait_for_db(tokio::time::sleep(Duration::from_secs(2))).await;

    let (alice, bob) = (
        Arc::new(Mutex::named("alice", ())),
        Arc::new(Mutex::named("bob", ())),
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    for (first, second) in [(alice.clone(), bob.clone()), (bob, alice)] {
        let barrier = barrier.clone();
        async_inspect::spawn(async move {
            let _first = first.lock().await;
            barrier.wait().await;
            let _second = second.lock().await;
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!("child: done");
    resting.abort();
}

/// A task waits for the Mutex `db` that this one holds until `release`
/// completes; then the wait ends.
async fn wait_for_db(release: impl std::future::Future<Output = ()>) {
    let db = Arc::new(Mutex::named("db", ()));
    let held = db.clone().lock_owned().await;
    let waiter = {
        let db = db.clone();
        async_inspect::spawn(async move { drop(db.lock().await) })
    };
    release.await;
    drop(held);
    waiter.await.unwrap();
}

/// Runs the test `child` of this binary with `marker` set and the stall
/// log at 200 ms: its stderr, once it succeeded.
fn run_child(child: &str, marker: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([child, "--exact", "--nocapture"])
        .env(marker, "1")
        .env("ASYNC_INSPECT_STALL_LOG", "200ms")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_lock_wait_past_the_threshold_and_a_deadlock_are_logged_once_each() {
    let stderr = run_child("child_stalls_then_deadlocks", CHILD);
    assert!(
        stderr.contains("child: done"),
        "the program ran on: {stderr}"
    );
    let reports: Vec<&str> = stderr
        .split("async-inspect: stalled (over 200ms): ")
        .skip(1)
        .collect();
    let waits: Vec<&&str> = reports
        .iter()
        .filter(|r| r.contains("has waited") && r.contains("for Mutex `db` held by"))
        .collect();
    assert_eq!(waits.len(), 1, "the db wait once: {stderr}");
    assert!(
        waits[0].contains("Waiting for: Mutex `db` held by task"),
        "with the full report: {stderr}"
    );
    // What each report is for is its first line: never the channel at rest.
    assert!(
        reports
            .iter()
            .all(|r| !r.lines().next().unwrap_or("").contains("`idle`")),
        "a channel at rest is no stall: {stderr}"
    );
    let deadlocks = reports
        .iter()
        .filter(|r| r.starts_with("a deadlock formed"))
        .count();
    assert_eq!(deadlocks, 1, "{stderr}");
}

const TRACED_CHILD: &str = "ASYNC_INSPECT_TEST_STALL_TRACED_CHILD";

/// Prints each `tracing` event's target, level and message to stderr,
/// marked, so the parent can tell them from plain stderr writes; notes
/// that the stall log wrote through it.
struct Marked;

/// The stall log's report came through the subscriber.
static TRACED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Marked {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let meta = event.metadata();
        eprintln!("TRACED {} {}: {}", meta.level(), meta.target(), message.0);
        if meta.target() == "async_inspect" {
            TRACED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// In the child only: a global subscriber, then a lock wait past the
/// threshold.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_stalls_with_a_subscriber() {
    if std::env::var_os(TRACED_CHILD).is_none() {
        return;
    }
    use tracing_subscriber::layer::SubscriberExt;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Marked)).unwrap();
    // Held until the report came through the subscriber (20 s at most).
    wait_for_db(async {
        let start = std::time::Instant::now();
        while !TRACED.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[test]
fn with_a_subscriber_the_stall_goes_through_tracing() {
    let stderr = run_child("child_stalls_with_a_subscriber", TRACED_CHILD);
    assert!(
        stderr.contains("TRACED WARN async_inspect: async-inspect: stalled (over 200ms): "),
        "{stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("async-inspect: stalled")),
        "not to stderr as well: {stderr}"
    );
}
