//! The contract between async-inspect's core and a runtime adapter.
//!
//! An adapter is small: it wraps its runtime's spawn in
//! [`Inspected`](async_inspect_core::Inspected), maps its join handle so that
//! awaiting it records a join wait, and provides `block_on` for the root
//! task and a timer for `sleep`. [`Runtime`] names those operations so that
//! one conformance suite can run against every adapter.

use std::future::Future;
use std::time::Duration;

#[cfg(any(feature = "tokio-timer", feature = "io-timer"))]
pub mod time;

/// What async-inspect needs from an async runtime.
pub trait Runtime {
    /// What a join handle resolves to when the task panicked or was aborted.
    type JoinError: std::fmt::Debug;

    /// Spawns `future` as an inspected task named `name` and returns a
    /// future of its output.
    fn spawn_named<F>(
        &self,
        name: &str,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::JoinError>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns `future` as an inspected task named `name`, waits for
    /// `started`, then cancels the task the runtime's way (tokio: abort;
    /// smol: drop the task; async-std: cancel) and waits until it is gone.
    fn spawn_and_cancel<F>(
        &self,
        name: &str,
        future: F,
        started: impl Future<Output = ()>,
    ) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static;

    /// Runs `future` to completion as the inspected root task `name`.
    fn block_on<F: Future>(&self, name: &str, future: F) -> F::Output;

    /// An inspected sleep.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static;

    /// Runs `future` with the runtime's own `block_on`, no inspected task
    /// around it: as a library runs code the user did not spawn.
    fn block_on_uninspected<F: Future>(&self, future: F) -> F::Output;
}

/// A blocking closure as an inspected task of kind `Blocking`, for an
/// adapter's `spawn_blocking`: the task's id, and what the runtime's
/// blocking pool runs instead of `f`. The task is `Running` exactly while
/// `f` runs, and a panic in it is recorded as any task's.
pub fn blocking_task<F, R>(
    f: F,
    name: Option<Box<str>>,
    location: &'static std::panic::Location<'static>,
) -> (
    Option<async_inspect_core::TaskId>,
    impl FnOnce() -> R + Send + 'static,
)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // The closure runs as a one-poll future.
    let mut f = Some(f);
    let task = async_inspect_core::Inspected::at(
        std::future::poll_fn(move |_| std::task::Poll::Ready(f.take().map(|f| f()))),
        async_inspect_core::TaskKind::Blocking,
        name,
        location,
    );
    let id = task.id();
    let run = move || {
        let mut task = std::pin::pin!(task);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match task.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Some(output)) => output,
            _ => unreachable!("a blocking closure's future is ready at once, with its output"),
        }
    };
    (id, run)
}

/// What an adapter's join handle adds to its runtime's: the task's
/// inspector id, and the join wait ("waiting for task #N") recorded on the
/// awaiting task while an await of the handle is pending.
///
/// Two words: a program that keeps many handles (a `Vec` of 200 000 of
/// them) pays little for them, also with inspection off. The wait's record
/// is boxed when an await is first pending, once per await that waits.
#[derive(Debug)]
pub struct JoinWait {
    /// The task; `None` when inspection was off at spawn. (Named `id`: the
    /// state-machine decoder reads it to say which task a handle joins.)
    id: Option<async_inspect_core::TaskId>,
    /// The wait recorded while an await of the handle is pending.
    wait: Option<Box<async_inspect_core::wait::WaitSlot>>,
}

impl JoinWait {
    /// For the task `id`, `None` when inspection was off at spawn.
    pub fn new(id: Option<async_inspect_core::TaskId>) -> Self {
        Self { id, wait: None }
    }

    /// The inspector's id of the task.
    pub fn id(&self) -> Option<async_inspect_core::TaskId> {
        self.id
    }

    /// Records or ends the wait after the runtime's handle was polled to
    /// `poll`, which it returns.
    pub fn polled<T>(&mut self, poll: std::task::Poll<T>) -> std::task::Poll<T> {
        use async_inspect_core::wait::{Wait, WaitSlot};
        match (&poll, self.id) {
            (std::task::Poll::Pending, Some(task)) => self
                .wait
                .get_or_insert_with(|| Box::new(WaitSlot::new()))
                .pending(|| Wait::Join(task)),
            // The wait ends with its record.
            (std::task::Poll::Ready(_), _) => self.wait = None,
            _ => {}
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_wait_is_two_words_and_boxes_its_wait_only_while_pending() {
        assert_eq!(
            std::mem::size_of::<JoinWait>(),
            2 * std::mem::size_of::<usize>()
        );
        let task = async_inspect_core::TaskId::from_u64(7);
        let mut join = JoinWait::new(Some(task));
        assert!(join.wait.is_none());
        assert!(join.polled(std::task::Poll::<()>::Pending).is_pending());
        assert!(join.wait.is_some());
        assert_eq!(join.id(), Some(task));
        assert!(join.polled(std::task::Poll::Ready(())).is_ready());
        assert!(join.wait.is_none());
        let mut plain = JoinWait::new(None);
        assert!(plain.polled(std::task::Poll::<()>::Pending).is_pending());
        assert!(plain.wait.is_none() && plain.id().is_none());
    }
}
