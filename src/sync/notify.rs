//! `Notify`, as `tokio::sync::Notify`, whose waits the inspector sees: a
//! task awaiting `notified()` shows "Waiting for: Notify `purge`" (and
//! where it waits), not an unknown await. No task holds a `Notify` (any
//! task that can reach it may notify), so its waits close no deadlock.
//!
//! ```
//! # #[async_inspect::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use async_inspect::sync::Notify;
//!
//! let ready = Arc::new(Notify::named("ready"));
//! let waiter = {
//!     let ready = ready.clone();
//!     async_inspect::spawn(async move { ready.notified().await })
//! };
//! ready.notify_one();
//! waiter.await.unwrap();
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::tracker::{Kind, Tracker, Waiting};

/// Notifies one task or all tasks waiting, as tokio's.
pub struct Notify {
    inner: tokio::sync::Notify,
    tracker: Tracker,
}

impl Notify {
    /// A new `Notify`, known by where it is created.
    #[track_caller]
    pub fn new() -> Self {
        Self::with_name(None, Location::caller())
    }

    /// A new `Notify` with a name for reports.
    #[track_caller]
    pub fn named(name: impl Into<String>) -> Self {
        Self::with_name(Some(name.into()), Location::caller())
    }

    fn with_name(name: Option<String>, site: &'static Location<'static>) -> Self {
        Self {
            inner: tokio::sync::Notify::new(),
            tracker: Tracker::new(Kind::Notify, name, site),
        }
    }

    /// A future that completes when this is notified; the wait is
    /// recorded, at the caller's line, while it is pending.
    #[track_caller]
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            inner: self.inner.notified(),
            tracker: &self.tracker,
            site: Location::caller(),
            waiting: None,
        }
    }

    /// Wakes one waiting task, or stores a permit for the next one.
    pub fn notify_one(&self) {
        self.inner.notify_one();
    }

    /// Wakes every task waiting now.
    pub fn notify_waiters(&self) {
        self.inner.notify_waiters();
    }
}

impl Default for Notify {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

pin_project! {
    /// The future of [`Notify::notified`], as tokio's `Notified`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Notified<'a> {
        #[pin]
        inner: tokio::sync::futures::Notified<'a>,
        tracker: &'a Tracker,
        site: &'static Location<'static>,
        waiting: Option<Waiting>,
    }
}

impl Notified<'_> {
    /// Registers this future to receive a `notify_waiters` before it is
    /// first polled, as tokio's; whether it was notified already.
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.project().inner.enable()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(()) => {
                *this.waiting = None;
                Poll::Ready(())
            }
            Poll::Pending => {
                if this.waiting.is_none() {
                    *this.waiting = Some(this.tracker.wait(this.site));
                }
                Poll::Pending
            }
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").finish_non_exhaustive()
    }
}
