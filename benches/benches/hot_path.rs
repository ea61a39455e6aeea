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

fn poll_n<F: Future>(future: Pin<&mut F>, cx: &mut Context<'_>) {
    let _ = black_box(future.poll(cx));
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

    Config::default().enabled(false).apply();
    let mut disabled = Box::pin(Inspected::new(Forever(0), TaskKind::Spawned, None));
    Config::default().apply();
    group.bench_function("inspected, ASYNC_INSPECT=0", |b| {
        b.iter(|| poll_n(disabled.as_mut(), &mut cx))
    });
    group.finish();
}

fn traced_await(c: &mut Criterion) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut group = c.benchmark_group("await (two polls) in a task");
    let mut plain = Box::pin(Inspected::new(plain_loop(), TaskKind::Spawned, None));
    group.bench_function("untraced fn", |b| {
        b.iter(|| {
            poll_n(plain.as_mut(), &mut cx);
            poll_n(plain.as_mut(), &mut cx);
        })
    });
    let mut traced = Box::pin(Inspected::new(traced_loop(), TaskKind::Spawned, None));
    group.bench_function("#[trace] fn", |b| {
        b.iter(|| {
            poll_n(traced.as_mut(), &mut cx);
            poll_n(traced.as_mut(), &mut cx);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("call with one await (two polls) in a task");
    let mut plain = Box::pin(Inspected::new(plain_calls(), TaskKind::Spawned, None));
    group.bench_function("untraced fn", |b| {
        b.iter(|| {
            poll_n(plain.as_mut(), &mut cx);
            poll_n(plain.as_mut(), &mut cx);
        })
    });
    let mut traced = Box::pin(Inspected::new(traced_calls(), TaskKind::Spawned, None));
    group.bench_function("#[trace] fn", |b| {
        b.iter(|| {
            poll_n(traced.as_mut(), &mut cx);
            poll_n(traced.as_mut(), &mut cx);
        })
    });
    group.finish();
}

fn mutex(c: &mut Criterion) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut group = c.benchmark_group("uncontended lock + unlock in a task");
    let tokio_mutex = tokio::sync::Mutex::new(0u64);
    let inspected = async_inspect::sync::Mutex::new(0u64);
    let mut task = Box::pin(Inspected::new(
        async {
            loop {
                *tokio_mutex.lock().await += 1;
                YieldOnce(false).await;
            }
        },
        TaskKind::Spawned,
        None,
    ));
    group.bench_function("tokio::sync::Mutex", |b| {
        b.iter(|| {
            poll_n(task.as_mut(), &mut cx);
            poll_n(task.as_mut(), &mut cx);
        })
    });
    let mut task = Box::pin(Inspected::new(
        async {
            loop {
                *inspected.lock().await += 1;
                YieldOnce(false).await;
            }
        },
        TaskKind::Spawned,
        None,
    ));
    group.bench_function("async_inspect::sync::Mutex", |b| {
        b.iter(|| {
            poll_n(task.as_mut(), &mut cx);
            poll_n(task.as_mut(), &mut cx);
        })
    });
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

criterion_group!(benches, task_poll, traced_await, mutex, snapshot);
criterion_main!(benches);
