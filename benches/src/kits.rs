//! The contenders, as "kits": the same workload bodies spawned and
//! instrumented the way each tool asks its users to.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::yield_now;

/// W3's tasks over one shared `$mutex` (anything with an async `lock`).
macro_rules! lock_loops {
    ($kit:expr, $mutex:expr, $tasks:expr, $rounds:expr) => {{
        let mutex = Arc::new($mutex);
        (0..$tasks)
            .map(|_| {
                let mutex = mutex.clone();
                $kit.spawn(async move {
                    for _ in 0..$rounds {
                        let mut guard = mutex.lock().await;
                        yield_now().await;
                        *guard += 1;
                        crate::workloads::lock_work();
                    }
                })
            })
            .collect()
    }};
}

/// How a contender spawns tasks and instruments the workloads' functions.
pub trait Kit: Copy + Send + Sync + 'static {
    /// Spawns `task`; the returned future waits for it.
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static;

    /// A task body that yields `n` times (W1, W2).
    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static;

    /// Three nested functions that each yield twice (W4).
    fn chain(self) -> impl Future<Output = ()> + Send + 'static;

    /// Three nested functions that each sleep `pause` once, on the kit's
    /// timer (W4s): tokio's `sleep`, or the kit's own.
    fn sleeping_chain(self, pause: Duration) -> impl Future<Output = ()> + Send + 'static {
        plain::sleepy1(pause)
    }

    /// A task body of `n` sleeps of `pause` (W7), on the kit's timer.
    fn timers(self, n: u32, pause: Duration) -> impl Future<Output = ()> + Send + 'static {
        plain::timers(n, pause)
    }

    /// `tasks` tasks that each lock, yield and unlock one shared mutex
    /// `rounds` times (W3): tokio's mutex, or the kit's own.
    fn lock_loops(
        self,
        tasks: usize,
        rounds: u32,
    ) -> Vec<impl Future<Output = ()> + Send + 'static> {
        lock_loops!(self, tokio::sync::Mutex::new(0u64), tasks, rounds)
    }

    /// Runs `body` on the kit's runtime, with two worker threads: tokio's
    /// multi-thread runtime unless the kit says otherwise.
    fn block_on<F: Future>(self, body: F) -> F::Output {
        crate::workloads::runtime().block_on(body)
    }
}

macro_rules! workload_fns {
    ($sleep:path $(, $attr:meta)?) => {
        $(#[$attr])?
        pub async fn sleepy1(pause: std::time::Duration) {
            $sleep(pause).await;
            sleepy2(pause).await;
        }

        $(#[$attr])?
        pub async fn sleepy2(pause: std::time::Duration) {
            $sleep(pause).await;
            sleepy3(pause).await;
        }

        $(#[$attr])?
        pub async fn sleepy3(pause: std::time::Duration) {
            $sleep(pause).await;
        }

        /// `n` sleeps of `pause` in a row (not instrumented: W7 measures
        /// the timers).
        pub async fn timers(n: u32, pause: std::time::Duration) {
            for _ in 0..n {
                $sleep(pause).await;
            }
        }

        $(#[$attr])?
        pub async fn spin(n: u32) {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        }

        $(#[$attr])?
        pub async fn level1() {
            tokio::task::yield_now().await;
            level2().await;
            tokio::task::yield_now().await;
        }

        $(#[$attr])?
        pub async fn level2() {
            tokio::task::yield_now().await;
            level3().await;
            tokio::task::yield_now().await;
        }

        $(#[$attr])?
        pub async fn level3() {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        }
    };
}

mod plain {
    workload_fns!(tokio::time::sleep);
}

#[allow(
    dead_code,
    reason = "W1 and W2 spin untraced: they measure the task wrapper"
)]
mod traced {
    workload_fns!(async_inspect::time::sleep, async_inspect::trace);
}

mod framed {
    workload_fns!(tokio::time::sleep, async_backtrace::framed);
}

/// Plain `tokio::spawn`, nothing instrumented.
#[derive(Clone, Copy, Debug)]
pub struct Bare;

impl Kit for Bare {
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        async move { handle.await.expect("task ran") }
    }

    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        plain::spin(n)
    }

    fn chain(self) -> impl Future<Output = ()> + Send + 'static {
        plain::level1()
    }
}

/// `async_inspect::spawn` for every task; `#[trace]` on the chain's
/// functions. Task bodies of W1/W2 are not traced: those workloads measure
/// the per-task, per-poll cost.
#[derive(Clone, Copy, Debug)]
pub struct Inspect;

impl Kit for Inspect {
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = async_inspect::spawn(task);
        async move { handle.await.expect("task ran") }
    }

    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        plain::spin(n)
    }

    fn chain(self) -> impl Future<Output = ()> + Send + 'static {
        traced::level1()
    }

    fn sleeping_chain(self, pause: Duration) -> impl Future<Output = ()> + Send + 'static {
        traced::sleepy1(pause)
    }

    fn timers(self, n: u32, pause: Duration) -> impl Future<Output = ()> + Send + 'static {
        traced::timers(n, pause)
    }

    fn lock_loops(
        self,
        tasks: usize,
        rounds: u32,
    ) -> Vec<impl Future<Output = ()> + Send + 'static> {
        lock_loops!(self, async_inspect::sync::Mutex::new(0u64), tasks, rounds)
    }
}

/// async-backtrace: `#[framed]` on the task body and on the chain's
/// functions (it has no task-level hook: a framed root is how its users
/// see a task).
#[derive(Clone, Copy, Debug)]
pub struct Backtrace;

impl Kit for Backtrace {
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        async move { handle.await.expect("task ran") }
    }

    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        framed::spin(n)
    }

    fn chain(self) -> impl Future<Output = ()> + Send + 'static {
        framed::level1()
    }

    fn sleeping_chain(self, pause: Duration) -> impl Future<Output = ()> + Send + 'static {
        framed::sleepy1(pause)
    }

    fn timers(self, n: u32, pause: Duration) -> impl Future<Output = ()> + Send + 'static {
        framed::timers(n, pause)
    }
}

/// tokio-metrics: every task instrumented by one `TaskMonitor`.
#[derive(Clone, Copy, Debug)]
pub struct Metrics;

fn monitor() -> &'static tokio_metrics::TaskMonitor {
    static MONITOR: OnceLock<tokio_metrics::TaskMonitor> = OnceLock::new();
    MONITOR.get_or_init(tokio_metrics::TaskMonitor::new)
}

impl Kit for Metrics {
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(monitor().instrument(task));
        async move { handle.await.expect("task ran") }
    }

    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        plain::spin(n)
    }

    fn chain(self) -> impl Future<Output = ()> + Send + 'static {
        plain::level1()
    }
}

/// The traced parked body of W6: a frame with an await in progress.
#[async_inspect::trace]
pub async fn parked_traced(index: usize, gate: Arc<tokio::sync::Notify>) {
    tokio::task::yield_now().await;
    gate.notified().await;
    let _ = index;
}

/// Plain smol: tasks on one `smol::Executor` run by two threads (smol's
/// multi-threaded pattern), nothing instrumented. The workload bodies are
/// the same (tokio's `yield_now` and `Mutex` need no tokio runtime).
#[derive(Clone, Copy, Debug)]
pub struct SmolBare;

fn smol_executor() -> &'static smol::Executor<'static> {
    static EXECUTOR: OnceLock<smol::Executor<'static>> = OnceLock::new();
    EXECUTOR.get_or_init(smol::Executor::new)
}

/// async-inspect on smol: `async_inspect::smol::Executor`, the same
/// `#[trace]` and inspected `Mutex` as on tokio.
#[derive(Clone, Copy, Debug)]
pub struct SmolInspect;

fn inspected_executor() -> &'static async_inspect::smol::Executor<'static> {
    static EXECUTOR: OnceLock<async_inspect::smol::Executor<'static>> = OnceLock::new();
    EXECUTOR.get_or_init(async_inspect::smol::Executor::new)
}

/// Runs `body` on this thread while the worker threads (two, unless `run
/// --workers` says otherwise) run `run` (an executor's `run` until the
/// given future ends), as smol's docs show for a multi-threaded executor.
fn on_worker_threads<F, R>(run: fn(smol::channel::Receiver<()>) -> R, body: F) -> F::Output
where
    F: Future,
    R: Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let workers: Vec<_> = (0..crate::workloads::workers())
        .map(|_| {
            let stopped = stopped.clone();
            std::thread::spawn(move || smol::block_on(run(stopped)))
        })
        .collect();
    crate::workloads::note_started(workers.len());
    let output = smol::block_on(body);
    drop(stop);
    for worker in workers {
        worker.join().expect("a worker thread");
    }
    output
}

impl Kit for SmolBare {
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        smol_executor().spawn(task)
    }

    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        plain::spin(n)
    }

    fn chain(self) -> impl Future<Output = ()> + Send + 'static {
        plain::level1()
    }

    fn block_on<F: Future>(self, body: F) -> F::Output {
        on_worker_threads(
            |stopped| async move {
                let _ = smol_executor().run(stopped.recv()).await;
            },
            body,
        )
    }
}

impl Kit for SmolInspect {
    fn spawn<F>(self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        inspected_executor().spawn(task)
    }

    fn spin(self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        plain::spin(n)
    }

    fn chain(self) -> impl Future<Output = ()> + Send + 'static {
        traced::level1()
    }

    fn lock_loops(
        self,
        tasks: usize,
        rounds: u32,
    ) -> Vec<impl Future<Output = ()> + Send + 'static> {
        lock_loops!(self, async_inspect::sync::Mutex::new(0u64), tasks, rounds)
    }

    fn block_on<F: Future>(self, body: F) -> F::Output {
        on_worker_threads(
            |stopped| async move {
                let _ = inspected_executor().run(stopped.recv()).await;
            },
            body,
        )
    }
}
