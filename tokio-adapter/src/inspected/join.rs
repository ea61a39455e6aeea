use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_inspect_adapters::JoinWait;
use async_inspect_core::TaskId;
use tokio::task::{AbortHandle, Id, JoinError};

/// An owned permission to join an inspected task: `tokio::task::JoinHandle`
/// plus the inspector's task id. Awaiting it records "waiting for task #N"
/// on the awaiting task.
///
/// Awaits to the same `Result<T, JoinError>` as tokio's, and has the same
/// `abort`, `is_finished`, `id` and `abort_handle`.
///
/// # Cancel safety
///
/// As tokio's: dropping the handle detaches the task, and a dropped await
/// leaves no wait behind.
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: tokio::task::JoinHandle<T>,
    join: JoinWait,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(inner: tokio::task::JoinHandle<T>, task: Option<TaskId>) -> Self {
        Self {
            inner,
            join: JoinWait::new(task),
        }
    }

    /// Aborts the task (see `tokio::task::JoinHandle::abort`). The inspector
    /// then shows it as aborted.
    pub fn abort(&self) {
        self.inner.abort();
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// tokio's id of the task.
    pub fn id(&self) -> Id {
        self.inner.id()
    }

    /// A handle that can abort the task.
    pub fn abort_handle(&self) -> AbortHandle {
        self.inner.abort_handle()
    }

    /// The inspector's id of the task, `None` when inspection was off at
    /// spawn.
    pub fn inspect_id(&self) -> Option<TaskId> {
        self.join.id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.join.polled(Pin::new(&mut this.inner).poll(cx))
    }
}
