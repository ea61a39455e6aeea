//! One-shot channels, as `tokio::sync::oneshot`, that the inspector sees: a
//! task awaiting the receiver shows who holds the sender, and the wait
//! joins the wait-for graph (the sender is held by the task that last used
//! it, as a channel's senders are: see [`mpsc`](super::mpsc)).
//!
//! The receiver is a `Future`, as tokio's: awaited by value (`rx.await`,
//! `timeout(d, rx)`), through `&mut` (`select! { v = &mut rx => … }`), or
//! combined (`rx.map(…)`, in a `FuturesUnordered`). Its wait shows from
//! its first pending poll until the value comes or the receiver is
//! dropped, so a receiver put aside unfinished after `select!` chose
//! another branch still shows waiting while it lives; such a wait closes
//! no deadlock once a poll of its task did not poll it (no false
//! deadlock; the price: a receiver in a `FuturesUnordered`, polled only
//! when woken, closes none either).
//!
//! ```
//! # #[async_inspect::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_inspect::sync::oneshot;
//!
//! let (tx, rx) = oneshot::named_channel("reply");
//! async_inspect::spawn(async move { tx.send(42).unwrap() });
//! assert_eq!(rx.await, Ok(42));
//! # }
//! ```

use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use tokio::sync::oneshot::error;
use tokio::sync::oneshot::error::{RecvError, TryRecvError};

use super::tracker::{Counts, End, Kind, Tracker, Waiting};

/// A one-shot channel, known by where it is created.
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    make(None, Location::caller())
}

/// A one-shot channel with a name for reports.
#[track_caller]
pub fn named_channel<T>(name: impl Into<String>) -> (Sender<T>, Receiver<T>) {
    make(Some(name.into()), Location::caller())
}

fn make<T>(name: Option<String>, site: &'static Location<'static>) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let counts = Counts::new(Some(1));
    let senders = Tracker::channel_end(Kind::ChannelSenders, name, site, &counts);
    let sender = Sender {
        inner: tx,
        end: End::new(&senders, site),
        counts,
    };
    let receiver = Receiver {
        inner: rx,
        senders,
        site,
        waiting: None,
    };
    (sender, receiver)
}

/// The sending half, as `tokio::sync::oneshot::Sender`.
pub struct Sender<T> {
    inner: tokio::sync::oneshot::Sender<T>,
    end: End,
    counts: Counts,
}

impl<T> Sender<T> {
    /// Sends `value`, consuming the sender.
    ///
    /// # Errors
    ///
    /// The value back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        self.end.used();
        self.inner.send(value)?;
        self.counts.sent(1);
        Ok(())
    }

    /// Completes when the receiver is gone.
    pub async fn closed(&mut self) {
        self.end.used();
        self.inner.closed().await;
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Polls for the receiver to be gone.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_closed(cx)
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// The receiving half, as `tokio::sync::oneshot::Receiver`: a `Future`,
/// awaited by value or through `&mut`, or polled by hand.
pub struct Receiver<T> {
    inner: tokio::sync::oneshot::Receiver<T>,
    /// The sender's resource, which an await waits for.
    senders: Tracker,
    /// Where the channel was made: where an await of it is reported.
    site: &'static Location<'static>,
    /// The wait, from the first pending poll until the value comes or the
    /// receiver goes.
    waiting: Option<Waiting>,
}

impl<T> Receiver<T> {
    /// Receives the value if it was sent.
    ///
    /// # Errors
    ///
    /// [`TryRecvError`] if it was not yet, or the sender is gone.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv()
    }

    /// Receives from synchronous code, blocking the thread.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender is gone without sending.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        self.inner.blocking_recv()
    }

    /// Refuses the value: the sender sees the channel closed.
    pub fn close(&mut self) {
        self.inner.close();
    }

    /// Tokio's receiver, for code that needs tokio's type; its waits are
    /// no longer recorded.
    pub fn into_inner(self) -> tokio::sync::oneshot::Receiver<T> {
        self.inner
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(value) => {
                this.waiting = None;
                Poll::Ready(value)
            }
            Poll::Pending => {
                // A wait begun by another task (the receiver moved) is
                // begun again, for this one.
                if !this.waiting.as_ref().is_some_and(Waiting::polled) {
                    this.waiting = Some(this.senders.wait_polled(this.site));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
