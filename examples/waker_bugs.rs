//! Three waker bugs no wait-for graph sees, none annotated: a hand-written
//! future that returns `Pending` without keeping its waker (its task can
//! never run again), a task that spins on self-wakes waiting for a flag,
//! and a task woken but starved behind another task's blocking poll. The
//! report names each, where it is parked and why.
//!
//! Run it with `cargo run --example waker_bugs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_inspect::Lint;

/// Asks for a reply and forgets to keep the waker: the bug.
struct ReplyFuture {
    asked: bool,
}

impl Future for ReplyFuture {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u32> {
        // (The waker should be stored where the reply will come from.)
        self.asked = true;
        Poll::Pending
    }
}

async fn wait_for_reply(request: &str) -> u32 {
    let id = request.len() as u32;
    ReplyFuture { asked: false }.await + id
}

/// Polls a flag instead of being woken when it is set.
async fn wait_for_ready(ready: Arc<AtomicBool>) {
    std::future::poll_fn(|cx| {
        if ready.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

#[async_inspect::main(flavor = "current_thread")]
async fn main() {
    let lost = async_inspect::spawn(async { wait_for_reply("GET /user/7").await });

    let ready = Arc::new(AtomicBool::new(false));
    let spinner = async_inspect::spawn(wait_for_ready(ready.clone()));

    // One thread: a task that wakes another, then holds the thread.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let starved = async_inspect::spawn(async move { rx.await.ok() });
    async_inspect::time::sleep(Duration::from_millis(10)).await;
    let hog = async_inspect::spawn(async move {
        let _ = tx.send(());
        std::thread::sleep(Duration::from_millis(120));
    });
    hog.await.unwrap();
    starved.await.unwrap();

    // The spinner spins on: a self-wake storm shows after 100 ms of it.
    async_inspect::time::sleep(Duration::from_millis(400)).await;
    let snapshot = async_inspect::snapshot();
    println!("{snapshot}");
    let found = |kind: fn(&Lint) -> bool| snapshot.lints().iter().any(kind);
    assert!(
        found(|l| matches!(l, Lint::Unwakeable { .. })),
        "the lost waker"
    );
    assert!(
        found(|l| matches!(l, Lint::SelfWakeStorm { .. })),
        "the spinner"
    );
    assert!(
        found(|l| matches!(l, Lint::SchedulingDelay { .. })),
        "the starved task"
    );
    ready.store(true, Ordering::Release);
    spinner.await.unwrap();
    lost.abort();
}
