//! Multi-producer, multi-consumer broadcast channels, as
//! `tokio::sync::broadcast`, that the inspector sees: a receiver waiting
//! for a message shows "a message on channel `shutdown` from senders held
//! by task #1", and that wait joins the wait-for graph (a receiver whose
//! every sender is held by tasks stuck on it is in a deadlock).
//!
//! Senders are held as an `mpsc` channel's are (see
//! [`mpsc`](super::mpsc)): by the task that last used one (made, cloned,
//! sent). A message sent after a receiver began to wait ends its wait,
//! even before its task runs again, so a receiver about to wake is in no
//! deadlock.
//!
//! ```
//! # #[async_inspect::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_inspect::sync::broadcast;
//!
//! let (shutdown, mut first) = broadcast::named_channel::<()>("shutdown", 1);
//! let mut second = shutdown.subscribe();
//! let waiters = [
//!     async_inspect::spawn(async move { first.recv().await }),
//!     async_inspect::spawn(async move { second.recv().await }),
//! ];
//! assert_eq!(shutdown.send(()).unwrap(), 2);
//! for waiter in waiters {
//!     assert_eq!(waiter.await.unwrap(), Ok(()));
//! }
//! # }
//! ```
//!
//! Not wrapped (tokio's newer methods, missing from the oldest tokio
//! supported): `Sender::closed`, `downgrade`/`WeakSender`, the strong and
//! weak counts.

use std::fmt;
use std::panic::Location;

pub use tokio::sync::broadcast::error;
use tokio::sync::broadcast::error::{RecvError, SendError, TryRecvError};

use super::tracker::{Counts, End, Kind, Tracker};

/// A channel that keeps up to `capacity` messages for its slowest
/// receiver, known by where it is created.
///
/// # Panics
///
/// As tokio's: if `capacity` is 0 or too large.
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    make(None, capacity, Location::caller())
}

/// A channel that keeps up to `capacity` messages for its slowest
/// receiver, with a name for reports.
///
/// # Panics
///
/// As tokio's: if `capacity` is 0 or too large.
#[track_caller]
pub fn named_channel<T: Clone>(
    name: impl Into<String>,
    capacity: usize,
) -> (Sender<T>, Receiver<T>) {
    make(Some(name.into()), capacity, Location::caller())
}

fn make<T: Clone>(
    name: Option<String>,
    capacity: usize,
    site: &'static Location<'static>,
) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::broadcast::channel(capacity);
    let counts = Counts::new(None);
    let senders = Tracker::channel_end(Kind::ChannelSenders, name, site, &counts);
    let receiver = Receiver {
        inner: rx,
        senders: senders.clone(),
    };
    let sender = Sender {
        inner: tx,
        end: End::new(&senders, site),
        senders,
        counts,
    };
    (sender, receiver)
}

/// The sending half of a broadcast channel, as
/// `tokio::sync::broadcast::Sender`. Sending never waits.
pub struct Sender<T> {
    inner: tokio::sync::broadcast::Sender<T>,
    end: End,
    /// The senders' resource, which receivers wait for.
    senders: Tracker,
    counts: Counts,
}

impl<T> Sender<T> {
    /// A channel with no receiver yet (make them with
    /// [`subscribe`](Self::subscribe)), known by where it is created.
    ///
    /// # Panics
    ///
    /// As tokio's: if `capacity` is 0 or too large.
    #[track_caller]
    pub fn new(capacity: usize) -> Self
    where
        T: Clone,
    {
        make(None, capacity, Location::caller()).0
    }

    /// Sends `value` to every receiver there is now; how many.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if there is no receiver.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        self.end.used();
        let receivers = self.inner.send(value)?;
        self.counts.sent(1);
        Ok(receivers)
    }

    /// A new receiver, which gets the messages sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            inner: self.inner.subscribe(),
            senders: self.senders.clone(),
        }
    }

    /// How many messages the slowest receiver has not received yet.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether every receiver has received every message.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// How many receivers there are.
    pub fn receiver_count(&self) -> usize {
        self.inner.receiver_count()
    }

    /// Whether both send on the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for Sender<T> {
    /// Another sender, held by the task that clones it until another uses it.
    #[track_caller]
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            end: self.end.another(Location::caller()),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// The receiving half of a broadcast channel, as
/// `tokio::sync::broadcast::Receiver`.
pub struct Receiver<T> {
    inner: tokio::sync::broadcast::Receiver<T>,
    /// The senders' resource, which a receive waits for.
    senders: Tracker,
}

impl<T: Clone> Receiver<T> {
    /// Receives the next message, waiting for one; the wait is recorded
    /// (and checked for a deadlock) while it is pending.
    ///
    /// # Errors
    ///
    /// As tokio's: [`RecvError::Closed`] once every sender is gone and
    /// every message was received, [`RecvError::Lagged`] with how many
    /// messages this receiver missed.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: no message is lost if the future is dropped.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Result<T, RecvError>> + '_ {
        let site = Location::caller();
        async move {
            let Self { inner, senders } = self;
            senders.while_pending(site, true, inner.recv()).await
        }
    }

    /// Receives a message if one is there now.
    ///
    /// # Errors
    ///
    /// As tokio's [`TryRecvError`]: empty, closed, or lagged.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv()
    }

    /// Receives from synchronous code, blocking the thread.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        self.inner.blocking_recv()
    }

    /// A new receiver of the same channel, which gets the messages sent
    /// from now on.
    pub fn resubscribe(&self) -> Self {
        Self {
            inner: self.inner.resubscribe(),
            senders: self.senders.clone(),
        }
    }
}

impl<T> Receiver<T> {
    /// How many messages this receiver has not received yet.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether this receiver has received every message.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether both receive from the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
