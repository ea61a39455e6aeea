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
//! `poll_recv` and `poll_recv_many` forward without recording a wait (a
//! `Stream` built on them is polled by code that may put it aside); a
//! `WeakSender` is held by no task.

use std::fmt;
use std::panic::Location;
use std::task::{Context, Poll};

pub use tokio::sync::mpsc::error;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

use super::tracker::{Counts, End, Kind, Tracker};

/// The two resources of a channel with room for `capacity` messages: its
/// senders and its receiver, and the counts of its traffic.
fn ends(
    name: Option<String>,
    capacity: Option<usize>,
    site: &'static Location<'static>,
) -> (Tracker, Tracker, Counts) {
    let counts = Counts::new(capacity);
    let senders = Tracker::channel_end(Kind::ChannelSenders, name.clone(), site, &counts);
    let receiver = Tracker::channel_end(Kind::ChannelReceiver, name, site, &counts);
    (senders, receiver, counts)
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
    let (senders, receiver, counts) = ends(name, Some(buffer), site);
    let sender = Sender {
        inner: tx,
        end: End::new(&senders, site),
        receiver: receiver.clone(),
        senders: senders.clone(),
        counts: counts.clone(),
    };
    let receiver = Receiver {
        inner: rx,
        end: End::new(&receiver, site),
        senders,
        counts,
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
    let (senders, receiver, counts) = ends(name, None, site);
    let sender = UnboundedSender {
        inner: tx,
        end: End::new(&senders, site),
        senders: senders.clone(),
        counts: counts.clone(),
    };
    let receiver = UnboundedReceiver {
        inner: rx,
        end: End::new(&receiver, site),
        senders,
        counts,
    };
    (sender, receiver)
}

/// The sending half of a bounded channel, as `tokio::sync::mpsc::Sender`.
pub struct Sender<T> {
    inner: tokio::sync::mpsc::Sender<T>,
    end: End,
    /// The receiver's resource, which a send on a full channel waits for.
    receiver: Tracker,
    /// The senders' resource, for the senders a weak one upgrades to.
    senders: Tracker,
    counts: Counts,
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
            let sent = match self.inner.try_send(value) {
                Ok(()) => Ok(()),
                Err(TrySendError::Closed(value)) => Err(SendError(value)),
                Err(TrySendError::Full(value)) => {
                    self.receiver.wait_for(site, self.inner.send(value)).await
                }
            };
            if sent.is_ok() {
                self.counts.sent(1);
            }
            sent
        }
    }

    /// Sends `value` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError`] with the value if the channel is full or closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.end.used();
        self.inner.try_send(value)?;
        self.counts.sent(1);
        Ok(())
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
        self.inner.blocking_send(value)?;
        self.counts.sent(1);
        Ok(())
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
            let permit = match self.inner.try_reserve() {
                Ok(permit) => permit,
                Err(TrySendError::Closed(())) => return Err(SendError(())),
                Err(TrySendError::Full(())) => {
                    let reserving = self.inner.reserve();
                    self.receiver.wait_for(site, reserving).await?
                }
            };
            Ok(self.permit(permit))
        }
    }

    /// Reserves room for one message if there is some now.
    ///
    /// # Errors
    ///
    /// [`TrySendError`] if the channel is full or closed.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.end.used();
        Ok(self.permit(self.inner.try_reserve()?))
    }

    fn permit<'a>(&'a self, inner: tokio::sync::mpsc::Permit<'a, T>) -> Permit<'a, T> {
        self.counts.reserved(true);
        Permit {
            inner: Some(inner),
            counts: &self.counts,
        }
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

    /// How many weak senders the channel has.
    pub fn weak_count(&self) -> usize {
        self.inner.weak_count()
    }

    /// A sender that does not keep the channel open, and is held by no
    /// task (see [`WeakSender::upgrade`]).
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            inner: self.inner.downgrade(),
            receiver: self.receiver.clone(),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }

    /// Sends `value`, waiting for room at most `timeout`; the wait is
    /// recorded as a send's is.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError`](error::SendTimeoutError) with the value if
    /// the receiver is gone or the time ran out.
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn send_timeout(
        &self,
        value: T,
        timeout: std::time::Duration,
    ) -> impl Future<Output = Result<(), error::SendTimeoutError<T>>> + '_ {
        let site = Location::caller();
        async move {
            self.end.used();
            let sent = match self.inner.try_send(value) {
                Ok(()) => Ok(()),
                Err(TrySendError::Closed(value)) => Err(error::SendTimeoutError::Closed(value)),
                Err(TrySendError::Full(value)) => {
                    let sending = self.inner.send_timeout(value, timeout);
                    self.receiver.wait_for(site, sending).await
                }
            };
            if sent.is_ok() {
                self.counts.sent(1);
            }
            sent
        }
    }

    /// Waits for room for `n` messages and reserves it; the wait is
    /// recorded as a send's is.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the receiver is gone.
    #[track_caller]
    pub fn reserve_many(
        &self,
        n: usize,
    ) -> impl Future<Output = Result<PermitIterator<'_, T>, SendError<()>>> + '_ {
        let site = Location::caller();
        async move {
            self.end.used();
            let permits = match self.inner.try_reserve_many(n) {
                Ok(permits) => permits,
                Err(TrySendError::Closed(())) => return Err(SendError(())),
                Err(TrySendError::Full(())) => {
                    let reserving = self.inner.reserve_many(n);
                    self.receiver.wait_for(site, reserving).await?
                }
            };
            Ok(PermitIterator {
                inner: permits,
                counts: &self.counts,
            })
        }
    }

    /// Reserves room for `n` messages if there is some now.
    ///
    /// # Errors
    ///
    /// [`TrySendError`] if the channel is full or closed.
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        self.end.used();
        Ok(PermitIterator {
            inner: self.inner.try_reserve_many(n)?,
            counts: &self.counts,
        })
    }

    /// Waits for room for one message and reserves it, consuming the
    /// sender (given back when the permit sends or is released); the wait
    /// is recorded as a send's is.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the receiver is gone.
    #[track_caller]
    pub fn reserve_owned(self) -> impl Future<Output = Result<OwnedPermit<T>, SendError<()>>> {
        let site = Location::caller();
        async move {
            self.end.used();
            let Self {
                inner,
                end,
                receiver,
                senders,
                counts,
            } = self;
            let permit = match inner.try_reserve_owned() {
                Ok(permit) => permit,
                Err(TrySendError::Closed(_)) => return Err(SendError(())),
                Err(TrySendError::Full(inner)) => {
                    receiver.wait_for(site, inner.reserve_owned()).await?
                }
            };
            counts.reserved(true);
            Ok(OwnedPermit {
                inner: Some(permit),
                end,
                receiver,
                senders,
                counts,
            })
        }
    }

    /// Reserves room for one message if there is some now, consuming the
    /// sender.
    ///
    /// # Errors
    ///
    /// [`TrySendError`] with the sender if the channel is full or closed.
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        self.end.used();
        let Self {
            inner,
            end,
            receiver,
            senders,
            counts,
        } = self;
        match inner.try_reserve_owned() {
            Ok(permit) => {
                counts.reserved(true);
                Ok(OwnedPermit {
                    inner: Some(permit),
                    end,
                    receiver,
                    senders,
                    counts,
                })
            }
            Err(error) => {
                let back = |inner| Self {
                    inner,
                    end,
                    receiver,
                    senders,
                    counts,
                };
                Err(match error {
                    TrySendError::Full(inner) => TrySendError::Full(back(inner)),
                    TrySendError::Closed(inner) => TrySendError::Closed(back(inner)),
                })
            }
        }
    }
}

/// Room for one message reserved by [`Sender::reserve_owned`], holding the
/// sender, as `tokio::sync::mpsc::OwnedPermit`.
pub struct OwnedPermit<T> {
    /// Taken out when it sends or is released.
    inner: Option<tokio::sync::mpsc::OwnedPermit<T>>,
    end: End,
    receiver: Tracker,
    senders: Tracker,
    counts: Counts,
}

impl<T> OwnedPermit<T> {
    /// Sends `value` in the reserved room; the sender back.
    pub fn send(mut self, value: T) -> Sender<T> {
        let inner = self
            .inner
            .take()
            .expect("only sending or releasing takes it");
        let sender = inner.send(value);
        self.counts.sent(1);
        self.into_sender(sender)
    }

    /// Gives the room back unused; the sender back.
    pub fn release(mut self) -> Sender<T> {
        let inner = self
            .inner
            .take()
            .expect("only sending or releasing takes it");
        self.into_sender(inner.release())
    }

    fn into_sender(mut self, inner: tokio::sync::mpsc::Sender<T>) -> Sender<T> {
        self.counts.reserved(false);
        Sender {
            inner,
            end: std::mem::replace(&mut self.end, End::none()),
            receiver: self.receiver.clone(),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.counts.reserved(false);
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}

/// The permits of [`Sender::reserve_many`], as
/// `tokio::sync::mpsc::PermitIterator`.
pub struct PermitIterator<'a, T> {
    inner: tokio::sync::mpsc::PermitIterator<'a, T>,
    counts: &'a Counts,
}

impl<'a, T> Iterator for PermitIterator<'a, T> {
    type Item = Permit<'a, T>;

    fn next(&mut self) -> Option<Permit<'a, T>> {
        let permit = self.inner.next()?;
        // Counted as it is handed out: until then the count errs towards
        // room, never towards a false deadlock.
        self.counts.reserved(true);
        Some(Permit {
            inner: Some(permit),
            counts: self.counts,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> ExactSizeIterator for PermitIterator<'_, T> {}

impl<T> fmt::Debug for PermitIterator<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitIterator").finish_non_exhaustive()
    }
}

/// A sender that does not keep its channel open, as
/// `tokio::sync::mpsc::WeakSender`. It is held by no task: the sender it
/// upgrades to is held by the task that upgrades.
pub struct WeakSender<T> {
    inner: tokio::sync::mpsc::WeakSender<T>,
    receiver: Tracker,
    senders: Tracker,
    counts: Counts,
}

impl<T> WeakSender<T> {
    /// A sender, if the channel still has one.
    #[track_caller]
    pub fn upgrade(&self) -> Option<Sender<T>> {
        Some(Sender {
            inner: self.inner.upgrade()?,
            end: End::new(&self.senders, Location::caller()),
            receiver: self.receiver.clone(),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        })
    }

    /// How many senders the channel has.
    pub fn strong_count(&self) -> usize {
        self.inner.strong_count()
    }

    /// How many weak senders the channel has.
    pub fn weak_count(&self) -> usize {
        self.inner.weak_count()
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            receiver: self.receiver.clone(),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
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
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }
}

/// Room for one message in a bounded channel, reserved by
/// [`Sender::reserve`], as `tokio::sync::mpsc::Permit`.
pub struct Permit<'a, T> {
    /// Taken out when it sends.
    inner: Option<tokio::sync::mpsc::Permit<'a, T>>,
    counts: &'a Counts,
}

impl<T> Permit<'_, T> {
    /// Sends `value` in the reserved room.
    pub fn send(mut self, value: T) {
        if let Some(inner) = self.inner.take() {
            inner.send(value);
            self.counts.sent(1);
        }
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.counts.reserved(false);
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
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
    /// The senders' resource, for the senders a weak one upgrades to.
    senders: Tracker,
    counts: Counts,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.end.used();
        self.inner.send(value)?;
        self.counts.sent(1);
        Ok(())
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

    /// How many weak senders the channel has.
    pub fn weak_count(&self) -> usize {
        self.inner.weak_count()
    }

    /// A sender that does not keep the channel open, and is held by no
    /// task (see [`WeakUnboundedSender::upgrade`]).
    pub fn downgrade(&self) -> WeakUnboundedSender<T> {
        WeakUnboundedSender {
            inner: self.inner.downgrade(),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }
}

/// A sender that does not keep its unbounded channel open, as
/// `tokio::sync::mpsc::WeakUnboundedSender`; held by no task.
pub struct WeakUnboundedSender<T> {
    inner: tokio::sync::mpsc::WeakUnboundedSender<T>,
    senders: Tracker,
    counts: Counts,
}

impl<T> WeakUnboundedSender<T> {
    /// A sender, if the channel still has one.
    #[track_caller]
    pub fn upgrade(&self) -> Option<UnboundedSender<T>> {
        Some(UnboundedSender {
            inner: self.inner.upgrade()?,
            end: End::new(&self.senders, Location::caller()),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        })
    }

    /// How many senders the channel has.
    pub fn strong_count(&self) -> usize {
        self.inner.strong_count()
    }

    /// How many weak senders the channel has.
    pub fn weak_count(&self) -> usize {
        self.inner.weak_count()
    }
}

impl<T> Clone for WeakUnboundedSender<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            senders: self.senders.clone(),
            counts: self.counts.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakUnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T> Clone for UnboundedSender<T> {
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
            counts: Counts,
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
                    let value = match self.inner.try_recv() {
                        Ok(value) => Some(value),
                        Err(TryRecvError::Disconnected) => None,
                        Err(TryRecvError::Empty) => {
                            self.senders.wait_for(site, self.inner.recv()).await
                        }
                    };
                    if value.is_some() {
                        self.counts.received(1);
                    }
                    value
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
                    let received = if !self.inner.is_empty() || limit == 0 {
                        self.inner.recv_many(buffer, limit).await
                    } else {
                        let receiving = self.inner.recv_many(buffer, limit);
                        self.senders.wait_for(site, receiving).await
                    };
                    self.counts.received(received);
                    received
                }
            }

            /// Receives a message if one is there now.
            ///
            /// # Errors
            ///
            /// [`TryRecvError`] if the channel is empty, or closed and empty.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.end.used();
                let value = self.inner.try_recv()?;
                self.counts.received(1);
                Ok(value)
            }

            /// Receives from synchronous code, blocking the thread.
            ///
            /// # Panics
            ///
            /// As tokio's: when called inside an asynchronous execution
            /// context.
            pub fn blocking_recv(&mut self) -> Option<T> {
                let value = self.inner.blocking_recv()?;
                self.counts.received(1);
                Some(value)
            }

            /// Polls for the next message (for `Stream` implementations);
            /// forwards without recording a wait.
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.end.used();
                let polled = self.inner.poll_recv(cx);
                if let Poll::Ready(Some(_)) = &polled {
                    self.counts.received(1);
                }
                polled
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

            /// How many weak senders the channel has.
            pub fn sender_weak_count(&self) -> usize {
                self.inner.sender_weak_count()
            }

            /// Receives up to `limit` messages into `buffer` from
            /// synchronous code, blocking the thread for at least one; how
            /// many (0 once the channel is closed and empty).
            ///
            /// # Panics
            ///
            /// As tokio's: when called inside an asynchronous execution
            /// context.
            pub fn blocking_recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
                let received = self.inner.blocking_recv_many(buffer, limit);
                self.counts.received(received);
                received
            }

            /// Polls for up to `limit` messages into `buffer` (for `Stream`
            /// implementations); forwards without recording a wait.
            pub fn poll_recv_many(
                &mut self,
                cx: &mut Context<'_>,
                buffer: &mut Vec<T>,
                limit: usize,
            ) -> Poll<usize> {
                self.end.used();
                let polled = self.inner.poll_recv_many(cx, buffer, limit);
                if let Poll::Ready(received) = polled {
                    self.counts.received(received);
                }
                polled
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
