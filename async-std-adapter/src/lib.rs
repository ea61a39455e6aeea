//! The async-std adapter of async-inspect.
//!
//! [`spawn`], [`spawn_blocking`], [`block_on`] and [`task::Builder`] wrap
//! `async_std::task`'s so that every task is an [`Inspected`] future. A
//! [`JoinHandle`] awaits to the task's output as async-std's does (dropping
//! it detaches the task) and records "waiting for task #N" meanwhile.
//! Timers come from [`time`], on async-io's clock.
//!
//! async-std is discontinued upstream in favour of smol; this adapter is
//! for existing code bases. Users reach it through the `async-inspect`
//! facade's `async-std` feature, as `async_inspect::async_std`.
//!
//! ```
//! let answer = async_inspect_async_std::block_on(async {
//!     async_inspect_async_std::spawn(async { 6 * 7 }).await
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

/// Spawns an inspected task, as `async_std::task::spawn`.
#[track_caller]
pub fn spawn<F, T>(future: F) -> JoinHandle<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    spawn_named(future, None, Location::caller())
}

fn spawn_named<F, T>(
    future: F,
    name: Option<String>,
    location: &'static Location<'static>,
) -> JoinHandle<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut builder = async_std::task::Builder::new();
    if let Some(name) = &name {
        builder = builder.name(name.clone());
    }
    let spawned = if inspecting() {
        let task = Inspected::at(future, TaskKind::Spawned, name.map(Into::into), location);
        let id = task.id();
        builder.spawn(task).map(|inner| JoinHandle::new(inner, id))
    } else {
        builder
            .spawn(future)
            .map(|inner| JoinHandle::new(inner, None))
    };
    spawned.expect("async-std's spawn does not fail")
}

/// Runs a blocking closure on async-std's blocking pool, recorded as a task
/// of kind `Blocking` that is running until the closure returns, as
/// `async_std::task::spawn_blocking`.
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !inspecting() {
        return JoinHandle::new(async_std::task::spawn_blocking(f), None);
    }
    let (id, run) = async_inspect_adapters::blocking_task(f, None, Location::caller());
    JoinHandle::new(async_std::task::spawn_blocking(run), id)
}

/// Runs `future` to completion on this thread as the inspected root task,
/// as `async_std::task::block_on`. The root is named after where it is
/// called.
#[track_caller]
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    let location = Location::caller();
    if !inspecting() {
        return async_std::task::block_on(future);
    }
    async_std::task::block_on(Inspected::at(future, TaskKind::Root, None, location))
}

/// Runs `future` on this thread as the inspected root task `name` (what
/// `#[async_inspect::main(runtime = "async-std")]` calls).
#[track_caller]
pub fn block_on_named<T>(name: &str, future: impl Future<Output = T>) -> T {
    if !inspecting() {
        return async_std::task::block_on(future);
    }
    async_std::task::block_on(Inspected::new(future, TaskKind::Root, Some(name.into())))
}

/// A handle to a spawned task, as `async_std::task::JoinHandle`: awaiting
/// it gives the task's output (and records "waiting for task #N"
/// meanwhile); dropping it lets the task run on.
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: async_std::task::JoinHandle<T>,
    join: JoinWait,
}

impl<T> JoinHandle<T> {
    fn new(inner: async_std::task::JoinHandle<T>, id: Option<TaskId>) -> Self {
        Self {
            inner,
            join: JoinWait::new(id),
        }
    }

    /// Cancels the task and waits until it has stopped: its output if it
    /// had already finished.
    pub async fn cancel(self) -> Option<T> {
        self.inner.cancel().await
    }

    /// async-std's record of the task (its id and name).
    pub fn task(&self) -> &async_std::task::Task {
        self.inner.task()
    }

    /// The inspector's id of the task, `None` when inspection was off at
    /// spawn.
    pub fn inspect_id(&self) -> Option<TaskId> {
        self.join.id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        this.join.polled(Pin::new(&mut this.inner).poll(cx))
    }
}

/// Tasks, as `async_std::task`.
pub mod task {
    use std::io;
    use std::panic::Location;

    pub use super::{JoinHandle, block_on, spawn, spawn_blocking};
    pub use async_std::task::yield_now;

    /// Builds a task with a name, as `async_std::task::Builder`; the
    /// inspector shows the name too.
    ///
    /// ```
    /// use async_inspect_async_std::task::Builder;
    ///
    /// let handle = async_inspect_async_std::block_on(async {
    ///     Builder::new().name("worker".into()).spawn(async { 7 })
    /// });
    /// assert_eq!(async_inspect_async_std::block_on(handle.unwrap()), 7);
    /// ```
    #[derive(Debug, Default)]
    pub struct Builder {
        name: Option<String>,
    }

    impl Builder {
        /// A builder with no name.
        pub fn new() -> Self {
            Self::default()
        }

        /// Names the task.
        pub fn name(mut self, name: String) -> Self {
            self.name = Some(name);
            self
        }

        /// Spawns `future` as an inspected task.
        ///
        /// # Errors
        ///
        /// As async-std's: never, today.
        #[track_caller]
        pub fn spawn<F, T>(self, future: F) -> io::Result<JoinHandle<T>>
        where
            F: Future<Output = T> + Send + 'static,
            T: Send + 'static,
        {
            Ok(super::spawn_named(future, self.name, Location::caller()))
        }
    }
}

/// async-std as an async-inspect [`Runtime`]: its global executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
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
        let handle = spawn_named(future, Some(name.to_owned()), Location::caller());
        async move { Ok(handle.await) }
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
        let handle = spawn_named(future, Some(name.to_owned()), Location::caller());
        async move {
            started.await;
            handle.cancel().await;
        }
    }

    fn block_on<F: Future>(&self, name: &str, future: F) -> F::Output {
        block_on_named(name, future)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        time::sleep(duration)
    }

    fn block_on_uninspected<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}
