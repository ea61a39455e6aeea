//! Single-value channels whose receivers see the latest value, as
//! `tokio::sync::watch`, that the inspector sees: a receiver waiting in
//! `changed()` or `wait_for()` shows "a message on channel `config` from
//! senders held by task #1", and that wait joins the wait-for graph as a
//! broadcast receiver's does (see [`broadcast`](super::broadcast)).
//!
//! ```
//! # #[async_inspect::main(flavor = "current_thread")]
//! # async fn main() {
//! use async_inspect::sync::watch;
//!
//! let (config, mut seen) = watch::named_channel("config", 1);
//! let reader = async_inspect::spawn(async move {
//!     seen.changed().await.unwrap();
//!     *seen.borrow_and_update()
//! });
//! config.send(2).unwrap();
//! assert_eq!(reader.await.unwrap(), 2);
//! # }
//! ```
//!
//! A `wait_for` whose condition a new value does not meet keeps its
//! first wait: it counts as ended by that value, so it is in no deadlock
//! from then on (never a false one).

use std::fmt;
use std::panic::Location;

use tokio::sync::watch::error::{RecvError, SendError};
pub use tokio::sync::watch::{Ref, error};

use super::tracker::{Counts, End, Kind, Tracker};

/// A channel holding `init`, known by where it is created.
#[track_caller]
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    make(None, init, Location::caller())
}

/// A channel holding `init`, with a name for reports.
#[track_caller]
pub fn named_channel<T>(name: impl Into<String>, init: T) -> (Sender<T>, Receiver<T>) {
    make(Some(name.into()), init, Location::caller())
}

fn make<T>(
    name: Option<String>,
    init: T,
    site: &'static Location<'static>,
) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::watch::channel(init);
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

/// The sending half of a watch channel, as `tokio::sync::watch::Sender`.
pub struct Sender<T> {
    inner: tokio::sync::watch::Sender<T>,
    end: End,
    /// The senders' resource, which receivers wait for.
    senders: Tracker,
    counts: Counts,
}

impl<T> Sender<T> {
    /// A channel holding `init` with no receiver yet (make them with
    /// [`subscribe`](Self::subscribe)), known by where it is created.
    #[track_caller]
    pub fn new(init: T) -> Self {
        make(None, init, Location::caller()).0
    }

    /// Stores `value` and notifies the receivers.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value, which is not stored, if there is no
    /// receiver.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.end.used();
        self.inner.send(value)?;
        self.counts.sent(1);
        Ok(())
    }

    /// Changes the value in place and notifies the receivers, whether
    /// there are any or not.
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        self.end.used();
        self.inner.send_modify(modify);
        self.counts.sent(1);
    }

    /// Changes the value in place and notifies the receivers if `modify`
    /// says it changed it; what `modify` said.
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, modify: F) -> bool {
        self.end.used();
        let modified = self.inner.send_if_modified(modify);
        if modified {
            self.counts.sent(1);
        }
        modified
    }

    /// Stores `value`, notifies the receivers, and gives back the value it
    /// replaced, whether there are receivers or not.
    pub fn send_replace(&self, value: T) -> T {
        self.end.used();
        let old = self.inner.send_replace(value);
        self.counts.sent(1);
        old
    }

    /// The current value, borrowed (a read lock on it: keep it short).
    pub fn borrow(&self) -> Ref<'_, T> {
        self.inner.borrow()
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Completes when every receiver is gone.
    pub async fn closed(&self) {
        self.inner.closed().await;
    }

    /// A new receiver, which has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            inner: self.inner.subscribe(),
            senders: self.senders.clone(),
        }
    }

    /// How many receivers there are.
    pub fn receiver_count(&self) -> usize {
        self.inner.receiver_count()
    }

    /// How many senders there are.
    pub fn sender_count(&self) -> usize {
        self.inner.sender_count()
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

impl<T: Default> Default for Sender<T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// The receiving half of a watch channel, as
/// `tokio::sync::watch::Receiver`.
pub struct Receiver<T> {
    inner: tokio::sync::watch::Receiver<T>,
    /// The senders' resource, which a wait for a change waits for.
    senders: Tracker,
}

impl<T> Receiver<T> {
    /// The current value, borrowed, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.inner.borrow()
    }

    /// The current value, borrowed, marked seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        self.inner.borrow_and_update()
    }

    /// Whether a value not seen yet is there.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        self.inner.has_changed()
    }

    /// Marks the current value not seen.
    pub fn mark_changed(&mut self) {
        self.inner.mark_changed();
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.inner.mark_unchanged();
    }

    /// Waits for a value not seen yet and marks it seen; the wait is
    /// recorded (and checked for a deadlock) while it is pending.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: cancel safe.
    #[track_caller]
    pub fn changed(&mut self) -> impl Future<Output = Result<(), RecvError>> + '_ {
        let site = Location::caller();
        async move {
            let Self { inner, senders } = self;
            senders.while_pending(site, true, inner.changed()).await
        }
    }

    /// Waits for a value for which `condition` holds (the current one
    /// included) and borrows it, marked seen; the wait is recorded while
    /// it is pending.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone.
    #[track_caller]
    pub fn wait_for<'a, F>(
        &'a mut self,
        condition: F,
    ) -> impl Future<Output = Result<Ref<'a, T>, RecvError>> + 'a
    where
        F: FnMut(&T) -> bool + 'a,
    {
        let site = Location::caller();
        async move {
            let Self { inner, senders } = self;
            senders
                .while_pending(site, true, inner.wait_for(condition))
                .await
        }
    }

    /// Whether both receive from the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            senders: self.senders.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
