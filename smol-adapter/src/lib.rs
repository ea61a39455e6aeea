//! The smol adapter of async-inspect.
//!
//! [`spawn`] and [`block_on`] wrap smol's so that every task is an
//! [`Inspected`] future, and [`Executor`] / [`LocalExecutor`] do the same
//! for applications that own their executor. A [`Task`] keeps smol's
//! semantics (dropping it cancels the task, [`Task::detach`] lets it run,
//! [`Task::cancel`] stops it and says whether it had finished), and
//! awaiting it records "waiting for task #N". Timers come from
//! [`time`], on async-io's clock.
//!
//! Users reach all of it through the `async-inspect` facade's `smol`
//! feature, as `async_inspect::smol`.
//!
//! ```
//! let answer = async_inspect_smol::block_on(async {
//!     let task = async_inspect_smol::spawn(async { 6 * 7 });
//!     task.await
//! });
//! assert_eq!(answer, 42);
//! ```

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use async_inspect_adapters::time;
use async_inspect_adapters::{JoinWait, Runtime};
use async_inspect_core::{Inspected, TaskId, TaskKind, config};

/// Whether tasks are wrapped: compiled in and on at run time.
fn inspecting() -> bool {
    async_inspect_agent::init();
    cfg!(feature = "inspect") && config::enabled()
}

/// Spawns `future` through `spawn` as an inspected task (or as it is, when
/// inspection is off), named `name` if given.
fn spawn_with<F, T>(
    future: F,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
    spawn_inspected: impl FnOnce(Inspected<F>) -> smol::Task<T>,
    spawn_plain: impl FnOnce(F) -> smol::Task<T>,
) -> Task<T>
where
    F: Future<Output = T>,
{
    if !inspecting() {
        return Task::new(spawn_plain(future), None);
    }
    let task = Inspected::at(future, TaskKind::Spawned, name, location);
    let id = task.id();
    Task::new(spawn_inspected(task), id)
}

/// Spawns an inspected task on smol's global executor, as `smol::spawn`.
///
/// # Cancel safety
///
/// As smol's: dropping the returned [`Task`] cancels it; detach it to let
/// it run.
#[track_caller]
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    spawn_with(future, None, Location::caller(), smol::spawn, smol::spawn)
}

/// Runs `future` to completion on this thread as the inspected root task,
/// as `smol::block_on`. The root is named after where it is called.
#[track_caller]
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    let location = Location::caller();
    if !inspecting() {
        return smol::block_on(future);
    }
    smol::block_on(Inspected::at(future, TaskKind::Root, None, location))
}

/// Runs `future` on this thread as the inspected root task `name` (what
/// `#[async_inspect::main(runtime = "smol")]` calls).
#[track_caller]
pub fn block_on_named<T>(name: &str, future: impl Future<Output = T>) -> T {
    if !inspecting() {
        return smol::block_on(future);
    }
    smol::block_on(Inspected::new(future, TaskKind::Root, Some(name.into())))
}

/// A spawned task, as `smol::Task`: awaiting it gives its output (and
/// records "waiting for task #N" meanwhile); dropping it cancels the task.
///
/// If the task panicked, awaiting it panics too, as smol's does.
#[must_use = "a task is cancelled when dropped; use `.detach()` to let it run"]
#[derive(Debug)]
pub struct Task<T> {
    inner: smol::Task<T>,
    join: JoinWait,
}

impl<T> Task<T> {
    fn new(inner: smol::Task<T>, id: Option<TaskId>) -> Self {
        Self {
            inner,
            join: JoinWait::new(id),
        }
    }

    /// Lets the task run to completion without anyone awaiting it.
    pub fn detach(self) {
        self.inner.detach();
    }

    /// Cancels the task and waits until it has stopped: its output if it
    /// had already finished.
    pub async fn cancel(self) -> Option<T> {
        self.inner.cancel().await
    }

    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The inspector's id of the task, `None` when inspection was off at
    /// spawn.
    pub fn inspect_id(&self) -> Option<TaskId> {
        self.join.id()
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        this.join.polled(Pin::new(&mut this.inner).poll(cx))
    }
}

/// What both executors have alike; `$send` bounds what they spawn.
macro_rules! executor {
    ($(#[$doc:meta])* $executor:ident, $($send:ident)?) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub struct $executor<'a> {
            inner: smol::$executor<'a>,
        }

        impl<'a> $executor<'a> {
            /// An empty executor.
            pub fn new() -> Self {
                Self {
                    inner: smol::$executor::new(),
                }
            }

            /// Spawns an inspected task on this executor.
            #[track_caller]
            pub fn spawn<T: $($send +)? 'a>(
                &self,
                future: impl Future<Output = T> $(+ $send)? + 'a,
            ) -> Task<T> {
                let spawn_inspected = |task| self.inner.spawn(task);
                let spawn_plain = |future| self.inner.spawn(future);
                let location = Location::caller();
                spawn_with(future, None, location, spawn_inspected, spawn_plain)
            }

            /// Runs tasks until `future` completes; its output.
            pub async fn run<T>(&self, future: impl Future<Output = T>) -> T {
                self.inner.run(future).await
            }

            /// Runs one scheduled task, waiting for one if none is.
            pub async fn tick(&self) {
                self.inner.tick().await;
            }

            /// Runs one scheduled task if there is one; whether it did.
            pub fn try_tick(&self) -> bool {
                self.inner.try_tick()
            }

            /// Whether it has no unfinished task.
            pub fn is_empty(&self) -> bool {
                self.inner.is_empty()
            }
        }
    };
}

executor!(
    /// An executor whose tasks are inspected, with the API of
    /// `smol::Executor`.
    ///
    /// ```
    /// use async_inspect_smol::Executor;
    ///
    /// let executor = Executor::new();
    /// let task = executor.spawn(async { 1 + 1 });
    /// assert_eq!(async_inspect_smol::block_on(executor.run(task)), 2);
    /// ```
    Executor,
    Send
);

executor!(
    /// A single-thread executor whose tasks are inspected, with the API of
    /// `smol::LocalExecutor`: its tasks need not be `Send`.
    LocalExecutor,
);

/// smol as an async-inspect [`Runtime`]: its global executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct Smol;

impl Runtime for Smol {
    type JoinError = std::convert::Infallible;

    fn spawn_named<F>(
        &self,
        name: &str,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::JoinError>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = spawn_with(
            future,
            Some(name.into()),
            Location::caller(),
            smol::spawn,
            smol::spawn,
        );
        async move { Ok(task.await) }
    }

    fn spawn_and_cancel<F>(
        &self,
        name: &str,
        future: F,
        started: impl Future<Output = ()>,
    ) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let location = Location::caller();
        let task = spawn_with(
            future,
            Some(name.into()),
            location,
            smol::spawn,
            smol::spawn,
        );
        async move {
            started.await;
            // Dropping a smol task cancels it; `cancel` waits until it is gone.
            task.cancel().await;
        }
    }

    fn block_on<F: Future>(&self, name: &str, future: F) -> F::Output {
        block_on_named(name, future)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        time::sleep(duration)
    }

    fn block_on_uninspected<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(future)
    }
}
