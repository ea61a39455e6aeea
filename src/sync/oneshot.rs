//! One-shot channels, as `tokio::sync::oneshot`, that the inspector sees: a
//! task awaiting the receiver shows who holds the sender, and the wait
//! joins the wait-for graph (the sender is held by the task that last used
//! it, as a channel's senders are: see [`mpsc`](super::mpsc)).
//!
//! The receiver is awaited by value (`rx.await`, `timeout(d, rx)`) or by
//! reference (`select! { v = &mut rx => … }`): it is [`IntoFuture`], not a
//! `Future` itself, so that a wait lasts exactly as long as an await of it
//! and a receiver put aside after `select!` chose another branch is not
//! left waiting. Code that polls it by hand can take tokio's receiver with
//! [`Receiver::into_inner`].
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
use std::future::IntoFuture;
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

/// The receiving half, as `tokio::sync::oneshot::Receiver`; await it by
/// value or through `&mut`.
pub struct Receiver<T> {
    inner: tokio::sync::oneshot::Receiver<T>,
    /// The sender's resource, which an await waits for.
    senders: Tracker,
    /// Where the channel was made: where an await of it is reported.
    site: &'static Location<'static>,
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

    /// Tokio's receiver, for code that polls it as a `Future` by hand; its
    /// waits are no longer recorded.
    pub fn into_inner(self) -> tokio::sync::oneshot::Receiver<T> {
        self.inner
    }

    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        waiting: &mut Option<Waiting>,
    ) -> Poll<Result<T, RecvError>> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(value) => {
                *waiting = None;
                Poll::Ready(value)
            }
            Poll::Pending => {
                if waiting.is_none() {
                    *waiting = Some(self.senders.wait(self.site));
                }
                Poll::Pending
            }
        }
    }
}

impl<T> IntoFuture for Receiver<T> {
    type Output = Result<T, RecvError>;
    type IntoFuture = Recv<T>;

    fn into_future(self) -> Recv<T> {
        Recv {
            receiver: self,
            waiting: None,
        }
    }
}

impl<'a, T> IntoFuture for &'a mut Receiver<T> {
    type Output = Result<T, RecvError>;
    type IntoFuture = RecvRef<'a, T>;

    fn into_future(self) -> RecvRef<'a, T> {
        RecvRef {
            receiver: self,
            waiting: None,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// An await of a [`Receiver`] by value; its wait is recorded while it is
/// pending.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Recv<T> {
    receiver: Receiver<T>,
    waiting: Option<Waiting>,
}

impl<T> Future for Recv<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receiver.poll_recv(cx, &mut this.waiting)
    }
}

/// An await of a [`Receiver`] through `&mut`; its wait is recorded while
/// it is pending and ends when it is dropped.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct RecvRef<'a, T> {
    receiver: &'a mut Receiver<T>,
    waiting: Option<Waiting>,
}

impl<T> Future for RecvRef<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receiver.poll_recv(cx, &mut this.waiting)
    }
}
