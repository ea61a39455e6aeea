use std::future::Future;
use std::io;
use std::panic::Location;

use async_inspect_core::{Inspected, TaskKind, config};
use tokio::runtime::Handle;

use super::join::JoinHandle;

/// Spawns an inspected task: `tokio::spawn` with the task recorded (name
/// from its root traced fn, else where it was spawned).
///
/// # Panics
///
/// As `tokio::spawn`: when called outside a tokio runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    inspect_or_not(future, None, location, tokio::spawn, tokio::spawn)
}

/// Spawns `future` wrapped in an [`Inspected`] when inspection is on, and
/// as it is when it is off (`ASYNC_INSPECT=0`): then the task is exactly the
/// runtime's own, not even the size of a pointer bigger.
fn inspect_or_not<F, T>(
    future: F,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
    spawn_inspected: impl FnOnce(Inspected<F>) -> tokio::task::JoinHandle<T>,
    spawn_plain: impl FnOnce(F) -> tokio::task::JoinHandle<T>,
) -> JoinHandle<T>
where
    F: Future<Output = T>,
{
    async_inspect_agent::init();
    if !config::enabled() {
        return JoinHandle::new(spawn_plain(future), None);
    }
    let task = Inspected::at(future, TaskKind::Spawned, name, location);
    let id = task.id();
    JoinHandle::new(crate::ours(|| spawn_inspected(task)), id)
}

/// Spawns an inspected `!Send` task on the current `LocalSet`, as
/// `tokio::task::spawn_local`.
///
/// # Panics
///
/// As tokio's: when called outside a `LocalSet`.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    inspect_or_not(
        future,
        None,
        location,
        tokio::task::spawn_local,
        tokio::task::spawn_local,
    )
}

/// Runs a blocking closure on tokio's blocking pool, recorded as a task of
/// kind `Blocking` that is running until the closure returns.
///
/// # Panics
///
/// As `tokio::task::spawn_blocking`: when called outside a tokio runtime.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_blocking_named(f, None, Location::caller(), None)
}

fn spawn_blocking_named<F, R>(
    f: F,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
    handle: Option<&Handle>,
) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (id, run) = async_inspect_adapters::blocking_task(f, name, location);
    let inner = crate::ours(|| match handle {
        Some(handle) => handle.spawn_blocking(run),
        None => tokio::task::spawn_blocking(run),
    });
    JoinHandle::new(inner, id)
}

/// The root task of `block_on`, `#[main]` or `#[test]`: `future` inspected
/// as a task named `name`.
#[track_caller]
pub fn root_task<F: Future>(name: &str, future: F) -> impl Future<Output = F::Output> {
    async_inspect_agent::init();
    Inspected::new(future, TaskKind::Root, Some(name.into()))
}

/// Builds a task with a name, as `tokio::task::Builder` (which needs
/// `tokio_unstable`; this one does not).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use async_inspect_tokio::task::Builder;
///
/// let handle = Builder::new().name("worker").spawn(async { 7 })?;
/// assert_eq!(handle.await.unwrap(), 7);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Builder<'a> {
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder with no name.
    pub fn new() -> Self {
        Self { name: None }
    }

    /// Names the task; the report and every view show it.
    pub fn name(self, name: &'a str) -> Self {
        Self { name: Some(name) }
    }

    fn name_box(&self) -> Option<Box<str>> {
        self.name.map(Into::into)
    }

    /// Spawns the task on the current runtime.
    ///
    /// # Errors
    ///
    /// Never, today; the `io::Result` mirrors `tokio::task::Builder`.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        Ok(inspect_or_not(
            future,
            self.name_box(),
            location,
            tokio::spawn,
            tokio::spawn,
        ))
    }

    /// Spawns the task on the runtime of `handle`.
    ///
    /// # Errors
    ///
    /// Never, today; the `io::Result` mirrors `tokio::task::Builder`.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        Ok(inspect_or_not(
            future,
            self.name_box(),
            location,
            |task| handle.spawn(task),
            |task| handle.spawn(task),
        ))
    }

    /// Spawns a `!Send` task on the current `LocalSet`.
    ///
    /// # Errors
    ///
    /// Never, today; the `io::Result` mirrors `tokio::task::Builder`.
    ///
    /// # Panics
    ///
    /// When called outside a `LocalSet`.
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = Location::caller();
        Ok(inspect_or_not(
            future,
            self.name_box(),
            location,
            tokio::task::spawn_local,
            tokio::task::spawn_local,
        ))
    }

    /// Runs a blocking closure on the blocking pool, as a named task.
    ///
    /// # Errors
    ///
    /// Never, today; the `io::Result` mirrors `tokio::task::Builder`.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Ok(spawn_blocking_named(
            f,
            self.name_box(),
            Location::caller(),
            None,
        ))
    }
}
