//! The hot path in isolation, without a runtime's noise: one poll of a task,
//! one traced await, one snapshot of 100 000 tasks. Each measured against
//! the bare equivalent in the same run.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use async_inspect_core::{Config, Inspected, TaskKind};
use criterion::{Criterion, criterion_group, criterion_main};

/// Never ready; counts its polls so the poll is not optimised away.
struct Forever(u64);

impl Future for Forever {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0 = black_box(self.0 + 1);
        Poll::Pending
    }
}

/// Pending on its first poll, ready on the next.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

async fn plain_loop() {
    loop {
        YieldOnce(false).await;
    }
}

#[async_inspect::trace]
async fn traced_loop() {
    loop {
        YieldOnce(false).await;
    }
}

async fn plain_leaf() {
    YieldOnce(false).await;
}

#[async_inspect::trace]
async fn traced_leaf() {
    YieldOnce(false).await;
}

async fn plain_calls() {
    loop {
        plain_leaf().await;
    }
}

async fn traced_calls() {
    loop {
        traced_leaf().await;
    }
}

/// Two arguments a call keeps as values (`ArgValue`s), formatted only
/// when read.
#[async_inspect::trace]
async fn traced_leaf_values(id: u64, pause: std::time::Duration) {
    YieldOnce(false).await;
    black_box((id, pause));
}

/// The same with a `&str`: kept as a copy when short, else formatted when
/// the call starts.
#[async_inspect::trace]
async fn traced_leaf_text(id: u64, name: &'static str) {
    YieldOnce(false).await;
    black_box((id, name));
}

async fn traced_calls_values() {
    let pause = std::time::Duration::from_micros(50);
    for id in 0.. {
        traced_leaf_values(id, pause).await;
    }
}

async fn traced_calls_text(name: &'static str) {
    for id in 0.. {
        traced_leaf_text(id, name).await;
    }
}

fn poll_n<F: Future>(future: Pin<&mut F>, cx: &mut Context<'_>) {
    let _ = black_box(future.poll(cx));
}

/// Benches two polls of `future` inside an inspected task: one await that
/// is pending once, then ready.
fn bench_two_polls<F: Future>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    future: F,
) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut task = Box::pin(Inspected::new(future, TaskKind::Spawned, None));
    group.bench_function(name, |b| {
        b.iter(|| {
            poll_n(task.as_mut(), &mut cx);
            poll_n(task.as_mut(), &mut cx);
        })
    });
}

/// [`bench_two_polls`] for a task that is not inspected.
fn bench_two_polls_bare<F: Future>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    future: F,
) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut task = Box::pin(future);
    group.bench_function(name, |b| {
        b.iter(|| {
            poll_n(task.as_mut(), &mut cx);
            poll_n(task.as_mut(), &mut cx);
        })
    });
}

fn task_poll(c: &mut Criterion) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut group = c.benchmark_group("task poll");
    let mut bare = Box::pin(Forever(0));
    group.bench_function("bare", |b| b.iter(|| poll_n(bare.as_mut(), &mut cx)));

    let mut inspected = Box::pin(Inspected::new(Forever(0), TaskKind::Spawned, None));
    group.bench_function("inspected", |b| {
        b.iter(|| poll_n(inspected.as_mut(), &mut cx))
    });

    // Every poll becomes an event: two precise clock reads and a push into
    // this thread's ring (dropped and counted when the collector, every
    // 10 ms, has not drained it yet).
    let recorder = async_inspect_core::record::Recorder::start();
    group.bench_function("inspected, recording", |b| {
        b.iter(|| poll_n(inspected.as_mut(), &mut cx))
    });
    drop(recorder);

    // Wake counting is on by default; off, the task is polled with its
    // runtime's waker as it is.
    Config::current().count_wakes(false).apply();
    group.bench_function("inspected, wakes off", |b| {
        b.iter(|| poll_n(inspected.as_mut(), &mut cx))
    });
    Config::current().count_wakes(true).apply();

    Config::current().enabled(false).apply();
    let mut disabled = Box::pin(Inspected::new(Forever(0), TaskKind::Spawned, None));
    Config::current().enabled(true).apply();
    group.bench_function("inspected, ASYNC_INSPECT=0", |b| {
        b.iter(|| poll_n(disabled.as_mut(), &mut cx))
    });
    group.finish();
}

/// Keeps the waker of its first poll in `slot`; never ready.
struct KeepsWaker(std::sync::Arc<std::sync::Mutex<Option<Waker>>>);

impl Future for KeepsWaker {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0
            .lock()
            .unwrap()
            .get_or_insert_with(|| cx.waker().clone());
        Poll::Pending
    }
}

/// One wake of a task through the waker it registered: the runtime's
/// waker (here a no-op) against the task's wrapped one, which counts the
/// wake and notes who woke it.
fn wake(c: &mut Criterion) {
    let mut group = c.benchmark_group("wake");
    let bare = Waker::noop().clone();
    group.bench_function("bare", |b| b.iter(|| black_box(&bare).wake_by_ref()));
    let slot = std::sync::Arc::default();
    let mut task = Box::pin(Inspected::new(
        KeepsWaker(std::sync::Arc::clone(&slot)),
        TaskKind::Spawned,
        None,
    ));
    poll_n(task.as_mut(), &mut Context::from_waker(Waker::noop()));
    let wrapped = slot
        .lock()
        .unwrap()
        .clone()
        .expect("the task kept its waker");
    group.bench_function("inspected task's waker", |b| {
        b.iter(|| black_box(&wrapped).wake_by_ref())
    });
    group.finish();
}

fn traced_await(c: &mut Criterion) {
    let mut group = c.benchmark_group("await (two polls) in a task");
    bench_two_polls(&mut group, "untraced fn", plain_loop());
    bench_two_polls(&mut group, "#[trace] fn", traced_loop());
    group.finish();

    let mut group = c.benchmark_group("call with one await (two polls) in a task");
    bench_two_polls(&mut group, "untraced fn", plain_calls());
    bench_two_polls(&mut group, "#[trace] fn", traced_calls());
    bench_two_polls(
        &mut group,
        "#[trace] fn(u64, Duration): kept as values",
        traced_calls_values(),
    );
    bench_two_polls(
        &mut group,
        "#[trace] fn(u64, &str), 3 bytes: kept as a copy",
        traced_calls_text("ada"),
    );
    bench_two_polls(
        &mut group,
        "#[trace] fn(u64, &str), 20 bytes: formatted",
        traced_calls_text("ada lovelace, london"),
    );
    // Inspection off at run time: a task is the runtime's own future, and
    // a traced call only checks that it is not recorded.
    Config::current().enabled(false).apply();
    bench_two_polls_bare(&mut group, "untraced fn, ASYNC_INSPECT=0", plain_calls());
    bench_two_polls_bare(&mut group, "#[trace] fn, ASYNC_INSPECT=0", traced_calls());
    Config::current().enabled(true).apply();
    group.finish();
}

fn mutex(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended lock + unlock in a task");
    let tokio_mutex = tokio::sync::Mutex::new(0u64);
    let inspected = async_inspect::sync::Mutex::new(0u64);
    bench_two_polls(&mut group, "tokio::sync::Mutex", async {
        loop {
            *tokio_mutex.lock().await += 1;
            YieldOnce(false).await;
        }
    });
    bench_two_polls(&mut group, "async_inspect::sync::Mutex", async {
        loop {
            *inspected.lock().await += 1;
            YieldOnce(false).await;
        }
    });
    // Lock order is recorded by default; off, a lock keeps no held list.
    Config::current().lock_order(false).apply();
    let unordered = async_inspect::sync::Mutex::new(0u64);
    bench_two_polls(
        &mut group,
        "async_inspect::sync::Mutex, lock order off",
        async {
            loop {
                *unordered.lock().await += 1;
                YieldOnce(false).await;
            }
        },
    );
    Config::current().lock_order(true).apply();
    // The second lock taken while the first is held: a pair, found in
    // this thread's cache of known pairs after the first time.
    let outer = async_inspect::sync::Mutex::new(0u64);
    let inner = async_inspect::sync::Mutex::new(0u64);
    bench_two_polls(&mut group, "two nested async_inspect::sync::Mutex", async {
        loop {
            let _outer = outer.lock().await;
            *inner.lock().await += 1;
            YieldOnce(false).await;
        }
    });
    let tokio_outer = tokio::sync::Mutex::new(0u64);
    let tokio_inner = tokio::sync::Mutex::new(0u64);
    bench_two_polls(&mut group, "two nested tokio::sync::Mutex", async {
        loop {
            let _outer = tokio_outer.lock().await;
            *tokio_inner.lock().await += 1;
            YieldOnce(false).await;
        }
    });
    group.finish();
}

/// Benches one poll of each of two tasks, `a` and `b`, in turn.
fn bench_turns<A: Future, B: Future>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    a: A,
    b: B,
) {
    let mut cx = Context::from_waker(Waker::noop());
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    group.bench_function(name, |bench| {
        bench.iter(|| {
            poll_n(a.as_mut(), &mut cx);
            poll_n(b.as_mut(), &mut cx);
        })
    });
}

/// A task that takes `$mutex` (an `Arc` of a mutex), holds it across a
/// yield and yields again after letting go, for ever.
macro_rules! taking_turns {
    ($mutex:expr) => {{
        let mutex = std::sync::Arc::clone(&$mutex);
        async move {
            loop {
                let mut guard = mutex.lock().await;
                YieldOnce(false).await;
                *guard += 1;
                drop(guard);
                YieldOnce(false).await;
            }
        }
    }};
}

/// Two tasks taking turns on one lock: every turn is a contended wait
/// (its edge in the wait-for graph and the deadlock check), a handing on
/// of the lock, and two polls of each task.
fn contended_mutex(c: &mut Criterion) {
    use std::sync::Arc;
    fn inspected<F: Future>(future: F) -> Inspected<F> {
        Inspected::new(future, TaskKind::Spawned, None)
    }
    let mut group = c.benchmark_group("contended lock, two tasks taking turns");
    let tokio_mutex = Arc::new(tokio::sync::Mutex::new(0u64));
    bench_turns(
        &mut group,
        "tokio::sync::Mutex",
        taking_turns!(tokio_mutex),
        taking_turns!(tokio_mutex),
    );
    bench_turns(
        &mut group,
        "tokio::sync::Mutex, inspected tasks",
        inspected(taking_turns!(tokio_mutex)),
        inspected(taking_turns!(tokio_mutex)),
    );
    let mutex = Arc::new(async_inspect::sync::Mutex::new(0u64));
    bench_turns(
        &mut group,
        "async_inspect::sync::Mutex",
        inspected(taking_turns!(mutex)),
        inspected(taking_turns!(mutex)),
    );
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut cx = Context::from_waker(Waker::noop());
    let tasks: Vec<_> = (0..100_000)
        .map(|_| {
            let mut task = Box::pin(Inspected::new(traced_loop(), TaskKind::Spawned, None));
            poll_n(task.as_mut(), &mut cx);
            task
        })
        .collect();
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    group.bench_function("100 000 tasks parked in a traced fn", |b| {
        b.iter(|| black_box(async_inspect::snapshot()))
    });
    group.finish();
    drop(tasks);
}

fn semaphore(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended acquire + release of a permit in a task");
    let tokio_semaphore = tokio::sync::Semaphore::new(4);
    let inspected = async_inspect::sync::Semaphore::new(4);
    bench_two_polls(&mut group, "tokio::sync::Semaphore", async {
        loop {
            drop(tokio_semaphore.acquire().await);
            YieldOnce(false).await;
        }
    });
    bench_two_polls(&mut group, "async_inspect::sync::Semaphore", async {
        loop {
            drop(inspected.acquire().await);
            YieldOnce(false).await;
        }
    });
    group.finish();
}

fn channel(c: &mut Criterion) {
    let mut group = c.benchmark_group("bounded channel send + recv in a task");
    let (tokio_tx, mut tokio_rx) = tokio::sync::mpsc::channel::<u64>(16);
    let (tx, mut rx) = async_inspect::sync::mpsc::channel::<u64>(16);
    bench_two_polls(&mut group, "tokio::sync::mpsc", async move {
        loop {
            tokio_tx.send(1).await.unwrap();
            std::hint::black_box(tokio_rx.recv().await);
            YieldOnce(false).await;
        }
    });
    bench_two_polls(&mut group, "async_inspect::sync::mpsc", async move {
        loop {
            tx.send(1).await.unwrap();
            std::hint::black_box(rx.recv().await);
            YieldOnce(false).await;
        }
    });
    group.finish();
}

criterion_group!(
    benches,
    task_poll,
    wake,
    traced_await,
    mutex,
    contended_mutex,
    semaphore,
    channel,
    snapshot
);
criterion_main!(benches);
