//! Multi-producer, single-consumer channels, as `tokio::sync::mpsc`, that
//! the inspector sees: a receiver waiting for a message shows who holds
//! the senders, a sender waiting for room shows who holds the receiver, and
//! those waits join the wait-for graph, so a channel closes a deadlock like
//! a lock does.
//!
//! Ends move between tasks unseen (into a spawned task, inside a message):
//! an end is held by the task that last used it (made, sent, received). A
//! receiver's wait is a deadlock only if every task holding a sender is
//! stuck in it; an end counts only while its task spawned nothing since it
//! last used it, and never for the task that waits itself.
//!
//! ```
//! # #[async_inspect::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_inspect::sync::mpsc;
//!
//! let (tx, mut rx) = mpsc::named_channel("jobs", 8);
//! async_inspect::spawn(async move {
//!     for job in 0..3 {
//!         tx.send(job).await.unwrap();
//!     }
//! });
//! let mut done = Vec::new();
//! while let Some(job) = rx.recv().await {
//!     done.push(job);
//! }
//! assert_eq!(done, [0, 1, 2]);
//! # }
//! ```
//!
//! Not wrapped yet: `reserve_owned`, `WeakSender` and `poll_recv`'s wait
//! (it forwards, without recording one).

use std::fmt;
use std::panic::Location;
use std::task::{Context, Poll};

pub use tokio::sync::mpsc::error;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};
pub use tokio::sync::mpsc::{Permit, PermitIterator};

use super::tracker::{End, Kind, Tracker};

/// The two resources of a channel: its senders and its receiver.
fn ends(name: Option<String>, site: &'static Location<'static>) -> (Tracker, Tracker) {
    let senders = Tracker::new(Kind::ChannelSenders, name.clone(), site);
    let receiver = Tracker::new(Kind::ChannelReceiver, name, site);
    (senders, receiver)
}

/// A bounded channel with room for `buffer` messages, known by where it is
/// created.
///
/// # Panics
///
/// As tokio's: if `buffer` is 0.
#[track_caller]
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    bounded(None, buffer, Location::caller())
}

/// A bounded channel with room for `buffer` messages and a name for
/// reports.
///
/// # Panics
///
/// As tokio's: if `buffer` is 0.
#[track_caller]
pub fn named_channel<T>(name: impl Into<String>, buffer: usize) -> (Sender<T>, Receiver<T>) {
    bounded(Some(name.into()), buffer, Location::caller())
}

fn bounded<T>(
    name: Option<String>,
    buffer: usize,
    site: &'static Location<'static>,
) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(buffer);
    let (senders, receiver) = ends(name, site);
    let sender = Sender {
        inner: tx,
        end: End::new(&senders, site),
        receiver: receiver.clone(),
    };
    let receiver = Receiver {
        inner: rx,
        end: End::new(&receiver, site),
        senders,
    };
    (sender, receiver)
}

/// An unbounded channel, known by where it is created.
#[track_caller]
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded(None, Location::caller())
}

/// An unbounded channel with a name for reports.
#[track_caller]
pub fn named_unbounded_channel<T>(
    name: impl Into<String>,
) -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded(Some(name.into()), Location::caller())
}

fn unbounded<T>(
    name: Option<String>,
    site: &'static Location<'static>,
) -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (senders, receiver) = ends(name, site);
    let sender = UnboundedSender {
        inner: tx,
        end: End::new(&senders, site),
    };
    let receiver = UnboundedReceiver {
        inner: rx,
        end: End::new(&receiver, site),
        senders,
    };
    (sender, receiver)
}

/// The sending half of a bounded channel, as `tokio::sync::mpsc::Sender`.
pub struct Sender<T> {
    inner: tokio::sync::mpsc::Sender<T>,
    end: End,
    /// The receiver's resource, which a send on a full channel waits for.
    receiver: Tracker,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room; the wait is recorded (and checked
    /// for a deadlock) only if the channel is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue and
    /// the value.
    #[track_caller]
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        let site = Location::caller();
        async move {
            self.end.used();
            match self.inner.try_send(value) {
                Ok(()) => Ok(()),
                Err(TrySendError::Closed(value)) => Err(SendError(value)),
                Err(TrySendError::Full(value)) => {
                    self.receiver.wait_for(site, self.inner.send(value)).await
                }
            }
        }
    }

    /// Sends `value` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError`] with the value if the channel is full or closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.end.used();
        self.inner.try_send(value)
    }

    /// Sends from synchronous code, blocking the thread while the channel
    /// is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver is gone.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        self.inner.blocking_send(value)
    }

    /// Waits for room for one message and reserves it; the wait is recorded
    /// as a send's is.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the receiver is gone.
    #[track_caller]
    pub fn reserve(&self) -> impl Future<Output = Result<Permit<'_, T>, SendError<()>>> + '_ {
        let site = Location::caller();
        async move {
            self.end.used();
            match self.inner.try_reserve() {
                Ok(permit) => Ok(permit),
                Err(TrySendError::Closed(())) => Err(SendError(())),
                Err(TrySendError::Full(())) => {
                    self.receiver.wait_for(site, self.inner.reserve()).await
                }
            }
        }
    }

    /// Reserves room for one message if there is some now.
    ///
    /// # Errors
    ///
    /// [`TrySendError`] if the channel is full or closed.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.end.used();
        self.inner.try_reserve()
    }

    /// Completes when the receiver is gone.
    pub async fn closed(&self) {
        self.inner.closed().await;
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The room left now.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The room it was made with.
    pub fn max_capacity(&self) -> usize {
        self.inner.max_capacity()
    }

    /// Whether both send on the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }

    /// How many senders the channel has.
    pub fn strong_count(&self) -> usize {
        self.inner.strong_count()
    }
}

impl<T> Clone for Sender<T> {
    /// Another sender, held by the task that clones it until another uses it.
    #[track_caller]
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            end: self.end.another(Location::caller()),
            receiver: self.receiver.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// The sending half of an unbounded channel, as
/// `tokio::sync::mpsc::UnboundedSender`. Sending never waits.
pub struct UnboundedSender<T> {
    inner: tokio::sync::mpsc::UnboundedSender<T>,
    end: End,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.end.used();
        self.inner.send(value)
    }

    /// Completes when the receiver is gone.
    pub async fn closed(&self) {
        self.inner.closed().await;
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether both send on the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }

    /// How many senders the channel has.
    pub fn strong_count(&self) -> usize {
        self.inner.strong_count()
    }
}

impl<T> Clone for UnboundedSender<T> {
    /// Another sender, held by the task that clones it until another uses it.
    #[track_caller]
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            end: self.end.another(Location::caller()),
        }
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// What both receivers have alike; `$what` names the tokio type in docs.
macro_rules! receiver {
    ($receiver:ident, $what:literal) => {
        #[doc = concat!("The receiving half of a channel, as `", $what, "`.")]
        pub struct $receiver<T> {
            inner: tokio::sync::mpsc::$receiver<T>,
            end: End,
            /// The senders' resource, which a receive waits for.
            senders: Tracker,
        }

        impl<T> $receiver<T> {
            /// Receives the next message, waiting for one; the wait is
            /// recorded (and checked for a deadlock) only if the channel is
            /// empty. `None` once every sender is gone and the channel is
            /// empty.
            ///
            /// # Cancel safety
            ///
            /// As tokio's: no message is lost if the future is dropped.
            #[track_caller]
            pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
                let site = Location::caller();
                async move {
                    self.end.used();
                    match self.inner.try_recv() {
                        Ok(value) => Some(value),
                        Err(TryRecvError::Disconnected) => None,
                        Err(TryRecvError::Empty) => {
                            self.senders.wait_for(site, self.inner.recv()).await
                        }
                    }
                }
            }

            /// Receives up to `limit` messages into `buffer`, waiting for at
            /// least one; how many it received (0 once the channel is
            /// closed and empty).
            ///
            /// # Cancel safety
            ///
            /// As tokio's: no message is lost if the future is dropped.
            #[track_caller]
            pub fn recv_many<'a>(
                &'a mut self,
                buffer: &'a mut Vec<T>,
                limit: usize,
            ) -> impl Future<Output = usize> + 'a {
                let site = Location::caller();
                async move {
                    self.end.used();
                    if !self.inner.is_empty() || limit == 0 {
                        return self.inner.recv_many(buffer, limit).await;
                    }
                    let receiving = self.inner.recv_many(buffer, limit);
                    self.senders.wait_for(site, receiving).await
                }
            }

            /// Receives a message if one is there now.
            ///
            /// # Errors
            ///
            /// [`TryRecvError`] if the channel is empty, or closed and empty.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.end.used();
                self.inner.try_recv()
            }

            /// Receives from synchronous code, blocking the thread.
            ///
            /// # Panics
            ///
            /// As tokio's: when called inside an asynchronous execution
            /// context.
            pub fn blocking_recv(&mut self) -> Option<T> {
                self.inner.blocking_recv()
            }

            /// Polls for the next message (for `Stream` implementations);
            /// forwards without recording a wait.
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.end.used();
                self.inner.poll_recv(cx)
            }

            /// Closes the channel to new messages; those sent stay to be
            /// received.
            pub fn close(&mut self) {
                self.inner.close();
            }

            /// Whether it is closed.
            pub fn is_closed(&self) -> bool {
                self.inner.is_closed()
            }

            /// Whether no message waits.
            pub fn is_empty(&self) -> bool {
                self.inner.is_empty()
            }

            /// How many messages wait.
            pub fn len(&self) -> usize {
                self.inner.len()
            }

            /// How many senders the channel has.
            pub fn sender_strong_count(&self) -> usize {
                self.inner.sender_strong_count()
            }
        }

        impl<T> fmt::Debug for $receiver<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}

receiver!(Receiver, "tokio::sync::mpsc::Receiver");
receiver!(UnboundedReceiver, "tokio::sync::mpsc::UnboundedReceiver");
