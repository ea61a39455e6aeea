//! The workloads, each run once per process on a 2-worker runtime.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::kits::{Kit, parked_traced};

/// Sizes of the workloads (the defaults; `--scale` multiplies).
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub spawn_tasks: usize,
    pub poll_tasks: usize,
    pub poll_yields: u32,
    pub lock_tasks: usize,
    pub lock_rounds: u32,
    pub chain_tasks: usize,
    pub timer_tasks: usize,
    pub idle_tasks: usize,
    pub snapshot_tasks: usize,
    pub graph_edges: usize,
}

impl Sizes {
    pub fn scaled(scale: f64) -> Self {
        let n = |base: f64| ((base * scale).round() as usize).max(1);
        Self {
            spawn_tasks: n(200_000.0),
            poll_tasks: n(1_000.0),
            poll_yields: 2_000,
            lock_tasks: n(200.0),
            lock_rounds: 1_000,
            chain_tasks: n(10_000.0),
            timer_tasks: n(10_000.0),
            idle_tasks: n(100_000.0),
            snapshot_tasks: n(100_000.0),
            graph_edges: n(10_000.0),
        }
    }
}

/// What one run measured.
#[derive(Debug, Default, Serialize, serde::Deserialize, Clone)]
pub struct Measured {
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub max_rss_kb: u64,
    /// W5: resident bytes per live idle task.
    pub bytes_per_task: Option<f64>,
    /// W6: median time of one snapshot.
    pub snapshot_ms: Option<f64>,
    /// W6: the first snapshot's time (the process's first: its memory is
    /// all new, as for a one-off dump).
    #[serde(default)]
    pub first_snapshot_ms: Option<f64>,
    /// W6: the deadlock check of one new wait on a wait-for graph of
    /// `graph_edges` edges, in microseconds.
    pub deadlock_check_us: Option<f64>,
    /// While recording: the events lost during the run (rings the collector
    /// did not drain in time, batches the recorder did not take).
    #[serde(default)]
    pub events_lost: Option<u64>,
    /// The runtime's worker threads (tokio's, as its metrics count them;
    /// on smol, the executor threads the kit started).
    #[serde(default)]
    pub workers: usize,
}

/// Worker threads of every runtime (tokio's workers, smol's executor
/// threads): 2 but when `run --workers` says otherwise.
static WORKERS: AtomicUsize = AtomicUsize::new(2);

/// Iterations of busy work inside each critical section of W3 (0 but when
/// `run --lock-work` says otherwise): a fixed cost per acquisition, the
/// same for every contender, to see what such a cost does to the wall
/// time on this machine's runtime.
static LOCK_WORK: AtomicU64 = AtomicU64::new(0);

/// The executor threads a smol kit started for the run under way, as it
/// counted them (what a run reports on smol, whose executor has no count
/// of its own).
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A smol kit started `threads` executor threads.
pub fn note_started(threads: usize) {
    STARTED.store(threads, Ordering::Relaxed);
}

/// Sets the worker threads of the runtimes this process builds.
pub fn set_workers(workers: usize) {
    WORKERS.store(workers.max(1), Ordering::Relaxed);
}

/// The worker threads of the runtimes this process builds.
pub fn workers() -> usize {
    WORKERS.load(Ordering::Relaxed)
}

/// Sets W3's busy work per critical section (see [`LOCK_WORK`]).
pub fn set_lock_work(iterations: u64) {
    LOCK_WORK.store(iterations, Ordering::Relaxed);
}

/// W3's busy work inside one critical section: `LOCK_WORK` iterations
/// the compiler cannot fold away.
#[inline]
pub fn lock_work() {
    let mut sum = 0u64;
    for i in 0..LOCK_WORK.load(Ordering::Relaxed) {
        sum = std::hint::black_box(sum.wrapping_add(i));
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `body` on a fresh tokio runtime and measures its wall and CPU time.
fn measure<F: Future<Output = Option<f64>>>(body: impl FnOnce() -> F) -> (Measured, Option<f64>) {
    measure_on(crate::kits::Bare, body)
}

/// Runs `body` on `kit`'s runtime and measures its wall and CPU time (the
/// body alone: not building the runtime or tearing it down).
fn measure_on<K: Kit, F: Future<Output = Option<f64>>>(
    kit: K,
    body: impl FnOnce() -> F,
) -> (Measured, Option<f64>) {
    let recording = async_inspect_core::record::recording();
    let lost_before = async_inspect_core::record::events_dropped();
    let (extra, wall, cpu, workers) = kit.block_on(async move {
        let cpu_before = cpu_ns();
        let start = Instant::now();
        let extra = body().await;
        let (wall, cpu) = (start.elapsed(), cpu_ns().saturating_sub(cpu_before));
        let workers = tokio::runtime::Handle::try_current().map_or_else(
            |_| STARTED.load(Ordering::Relaxed),
            |runtime| runtime.metrics().num_workers(),
        );
        (extra, wall, cpu, workers)
    });
    (
        Measured {
            wall_ns: wall.as_nanos() as u64,
            cpu_ns: cpu,
            max_rss_kb: max_rss_kb(),
            events_lost: recording
                .then(|| async_inspect_core::record::events_dropped() - lost_before),
            workers,
            ..Measured::default()
        },
        extra,
    )
}

pub fn w1_spawn<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    measure_on(kit, || async move {
        let handles: Vec<_> = (0..sizes.spawn_tasks)
            .map(|_| kit.spawn(kit.spin(1)))
            .collect();
        for handle in handles {
            handle.await;
        }
        None
    })
    .0
}

pub fn w2_poll<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    measure_on(kit, || async move {
        let handles: Vec<_> = (0..sizes.poll_tasks)
            .map(|_| kit.spawn(kit.spin(sizes.poll_yields)))
            .collect();
        for handle in handles {
            handle.await;
        }
        None
    })
    .0
}

pub fn w3_lock<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    measure_on(kit, || async move {
        let handles = kit.lock_loops(sizes.lock_tasks, sizes.lock_rounds);
        for handle in handles {
            handle.await;
        }
        None
    })
    .0
}

pub fn w4_chain<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    measure_on(kit, || async move {
        let handles: Vec<_> = (0..sizes.chain_tasks)
            .map(|_| kit.spawn(kit.chain()))
            .collect();
        for handle in handles {
            handle.await;
        }
        None
    })
    .0
}

/// W4s: W4 with each level sleeping 50 µs on the kit's timer instead of
/// yielding, as user code pauses.
pub fn w4_sleeping_chain<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    measure_on(kit, || async move {
        let pause = Duration::from_micros(50);
        let handles: Vec<_> = (0..sizes.chain_tasks)
            .map(|_| kit.spawn(kit.sleeping_chain(pause)))
            .collect();
        for handle in handles {
            handle.await;
        }
        None
    })
    .0
}

/// W7: many tasks sleeping on the kit's timer: 10 000 tasks × 10 sleeps
/// of 1 ms.
pub fn w7_timers<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    measure_on(kit, || async move {
        let handles: Vec<_> = (0..sizes.timer_tasks)
            .map(|_| kit.spawn(kit.timers(10, Duration::from_millis(1))))
            .collect();
        for handle in handles {
            handle.await;
        }
        None
    })
    .0
}

pub fn w5_memory<K: Kit>(kit: K, sizes: Sizes) -> Measured {
    let (mut measured, bytes) = measure(|| async move {
        let polled = Arc::new(AtomicUsize::new(0));
        let before = rss_bytes();
        for _ in 0..sizes.idle_tasks {
            let polled = polled.clone();
            // Detached, as idle server tasks usually are: only the tasks'
            // own memory is measured, not a vector of join handles.
            drop(kit.spawn(async move {
                polled.fetch_add(1, Ordering::Relaxed);
                std::future::pending::<()>().await;
            }));
        }
        while polled.load(Ordering::Relaxed) < sizes.idle_tasks {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let after = rss_bytes();
        Some((after.saturating_sub(before)) as f64 / sizes.idle_tasks as f64)
    });
    measured.bytes_per_task = bytes;
    measured
}

/// W6: a snapshot of many tasks, each parked in a traced fn.
pub fn w6_snapshot(sizes: Sizes) -> Measured {
    let first = std::rc::Rc::new(std::cell::Cell::new(None));
    let first_seen = first.clone();
    let (mut measured, ms) = measure(|| async move {
        let gate = Arc::new(tokio::sync::Notify::new());
        let handles: Vec<_> = (0..sizes.snapshot_tasks)
            .map(|i| async_inspect::spawn(parked_traced(i, gate.clone())))
            .collect();
        loop {
            let parked = async_inspect_core::registry::live_count();
            if parked >= sizes.snapshot_tasks {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Let every task reach its second await.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let start = Instant::now();
                let snapshot = async_inspect::snapshot();
                let took = start.elapsed().as_secs_f64() * 1e3;
                assert!(snapshot.tasks().len() >= sizes.snapshot_tasks);
                took
            })
            .collect();
        first_seen.set(times.first().copied());
        times.sort_by(f64::total_cmp);
        for handle in handles {
            handle.abort();
        }
        Some(times[times.len() / 2])
    });
    measured.snapshot_ms = ms;
    measured.first_snapshot_ms = first.get();
    measured.deadlock_check_us = deadlock_check(sizes.graph_edges);
    measured
}

/// The deadlock check of a new wait that walks `edges` edges: a chain of
/// tasks, each holding one lock and waiting for the next one's, ends at a
/// lock this function holds; a new wait for the chain's first lock walks
/// all of it and finds no cycle. The median of 50 waits, each polled once
/// and given up.
fn deadlock_check(edges: usize) -> Option<f64> {
    use async_inspect::sync::Mutex;
    let runtime = runtime();
    runtime.block_on(async {
        let locks: Vec<Arc<Mutex<()>>> = (0..=edges).map(|_| Arc::new(Mutex::new(()))).collect();
        let _end = locks[edges].clone().lock_owned().await;
        // Every task takes its own lock before any asks for the next.
        let all_hold = Arc::new(tokio::sync::Barrier::new(edges + 1));
        let chain: Vec<_> = (0..edges)
            .map(|i| {
                let (mine, next) = (locks[i].clone(), locks[i + 1].clone());
                let all_hold = all_hold.clone();
                async_inspect::spawn(async move {
                    let _mine = mine.lock().await;
                    all_hold.wait().await;
                    let _next = next.lock().await;
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        all_hold.wait().await;
        // Until every task waits for its next lock (never, if inspection
        // is off: then there is nothing to measure).
        let patience = Instant::now();
        loop {
            if patience.elapsed() > Duration::from_secs(60) {
                return None;
            }
            let waiting: u32 = async_inspect::snapshot()
                .resources()
                .iter()
                .map(|r| r.waiters)
                .sum();
            if waiting as usize >= edges {
                break;
            }

            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let first = locks[0].clone();
        let mut times: Vec<f64> = Vec::new();
        for _ in 0..50 {
            let first = first.clone();
            let took = async_inspect::spawn(async move {
                // Polled once: the wait begins (and is checked), then it
                // is given up.
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                let start = Instant::now();
                let mut waiting = std::pin::pin!(first.lock());
                let polled = waiting.as_mut().poll(&mut cx);
                let took = start.elapsed().as_secs_f64() * 1e6;
                assert!(polled.is_pending(), "the first lock is held");
                took
            })
            .await
            .expect("the waiter ends");
            times.push(took);
        }
        for task in chain {
            task.abort();
        }
        times.sort_by(f64::total_cmp);
        Some(times[times.len() / 2])
    })
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the zeroed struct it is given and reads
    // nothing else; RUSAGE_SELF is always valid.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

fn cpu_ns() -> u64 {
    let usage = rusage();
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn max_rss_kb() -> u64 {
    rusage().ru_maxrss as u64
}

/// Resident set size now, from `/proc/self/statm` (0 where there is none).
fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}
