//! Decoding parked tasks' futures from the program's own debuginfo, off
//! the hot path: a snapshot of 10 000 tasks parked two async fns deep, with
//! their futures decoded (`async_inspect::snapshot()`) and without
//! (`async_inspect_core::snapshot()`), in the same run. Before the timed
//! runs, the cold cost: opening and indexing this binary's debuginfo on
//! the first decode, and the resident memory that added.
//!
//! Needs the bench profile's full debuginfo (`[profile.bench]`).

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::oneshot;

const TASKS: usize = 10_000;

async fn parked_outer(index: usize, rx: oneshot::Receiver<()>) -> usize {
    let label = format!("task {index}");
    parked_inner(rx).await;
    label.len()
}

async fn parked_inner(rx: oneshot::Receiver<()>) {
    let attempt = 1_u32;
    let _ = rx.await;
    std::hint::black_box(attempt);
}

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn decode(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut senders = Vec::with_capacity(TASKS);
    runtime.block_on(async {
        for index in 0..TASKS {
            let (tx, rx) = oneshot::channel();
            senders.push(tx);
            async_inspect::spawn(parked_outer(index, rx));
        }
        // Each parks at its first poll.
        while async_inspect_core::snapshot()
            .tasks()
            .iter()
            .filter(|t| t.polls > 0)
            .count()
            < TASKS
        {
            tokio::task::yield_now().await;
        }
    });
    let (before, started) = (resident(), Instant::now());
    let first = async_inspect::snapshot();
    let decoded = first
        .tasks()
        .iter()
        .filter(|t| t.state_machine.is_some())
        .count();
    assert_eq!(
        decoded,
        TASKS,
        "every parked task decoded (the bench profile needs debug = \"full\"): {:?}",
        first.state_machines_note()
    );
    eprintln!(
        "cold: the first snapshot with {TASKS} tasks decoded took {:?}; resident memory +{} KiB",
        started.elapsed(),
        (resident().saturating_sub(before)) / 1024
    );

    let mut group = c.benchmark_group("snapshot of 10 000 parked tasks");
    group.sample_size(10);
    group.bench_function("without decoding (core)", |b| {
        b.iter(async_inspect_core::snapshot)
    });
    group.bench_function("with their futures decoded", |b| {
        b.iter(async_inspect::snapshot)
    });
    group.finish();
    drop(senders);
}

criterion_group!(benches, decode);
criterion_main!(benches);
