//! What an inspected lock tells the core, in one place: with the `inspect`
//! feature off it is a zero-sized type whose methods do nothing.
#![cfg_attr(
    not(feature = "inspect"),
    allow(clippy::default_constructed_unit_structs)
)]

use std::panic::Location;

#[cfg(feature = "inspect")]
use std::sync::Arc;

#[cfg(feature = "inspect")]
pub(crate) use async_inspect_core::resource::Hold;
#[cfg(feature = "inspect")]
use async_inspect_core::resource::{ChannelCounts, EndHold, LockWait, ResourceCell, ResourceKind};

/// A lock's link to its resource record (none when inspection is off).
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    #[cfg(feature = "inspect")]
    resource: Option<Arc<ResourceCell>>,
}

/// Keeps a wait recorded until dropped.
#[derive(Debug)]
pub(crate) struct Waiting {
    #[cfg(feature = "inspect")]
    _wait: Option<LockWait>,
}

impl Waiting {
    /// The future of a [`Tracker::wait_polled`] wait was polled again,
    /// still pending; `false` if by another task than the one that began
    /// the wait (begin a new one).
    #[inline]
    pub(crate) fn polled(&self) -> bool {
        #[cfg(feature = "inspect")]
        if let Some(wait) = &self._wait {
            return wait.polled();
        }
        true
    }
}

#[cfg(feature = "inspect")]
pub(crate) use async_inspect_core::resource::ResourceKind as Kind;

/// A guard's record that its task holds the lock (nothing with the
/// `inspect` feature off).
#[cfg(not(feature = "inspect"))]
#[derive(Debug, Default)]
pub(crate) struct Hold;

/// The kinds of lock, when the core is compiled out.
#[cfg(not(feature = "inspect"))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Mutex,
    RwLock,
    Semaphore,
    ChannelSenders,
    ChannelReceiver,
    Notify,
    Barrier,
}

impl Tracker {
    pub(crate) fn new(
        kind: Kind,
        name: Option<String>,
        created_at: &'static Location<'static>,
    ) -> Self {
        #[cfg(feature = "inspect")]
        {
            let enabled = async_inspect_core::config::enabled();
            let kind: ResourceKind = kind;
            Self {
                resource: enabled
                    .then(|| ResourceCell::new(kind, name.map(Into::into), created_at)),
            }
        }
        #[cfg(not(feature = "inspect"))]
        {
            let _ = (kind, name, created_at);
            Self {}
        }
    }

    /// The resource of one end of a channel, `ChannelSenders` or
    /// `ChannelReceiver`, whose traffic `counts` follows.
    pub(crate) fn channel_end(
        kind: Kind,
        name: Option<String>,
        created_at: &'static Location<'static>,
        counts: &Counts,
    ) -> Self {
        #[cfg(feature = "inspect")]
        {
            let kind: ResourceKind = kind;
            Self {
                resource: counts.inner.as_ref().map(|counts| {
                    let name = name.map(Into::into);
                    ResourceCell::channel_end(kind, name, created_at, Arc::clone(counts))
                }),
            }
        }
        #[cfg(not(feature = "inspect"))]
        {
            let _ = (kind, name, created_at, counts);
            Self {}
        }
    }

    /// Takes the lock with `fast` if it is free; else records the wait
    /// (and looks for a deadlock) while `slow` waits for it. The wait is
    /// recorded only if there is one.
    pub(crate) async fn acquire<G, E, F>(
        &self,
        site: &'static Location<'static>,
        fast: Result<G, E>,
        slow: impl FnOnce() -> F,
    ) -> G
    where
        F: Future<Output = G>,
    {
        match fast {
            Ok(guard) => guard,
            Err(_) => self.wait_for(site, slow()).await,
        }
    }

    /// Records the current task's wait at `site` (and looks for a
    /// deadlock) while `acquiring` completes.
    pub(crate) async fn wait_for<G>(
        &self,
        site: &'static Location<'static>,
        acquiring: impl Future<Output = G>,
    ) -> G {
        // SAFETY: the wait is kept in this future, which borrows `self`,
        // and so the resource it holds.
        let _waiting = unsafe { self.wait_kept(site) };
        acquiring.await
    }

    /// A [`Waiting`] with the wait `begin` records for this lock's
    /// resource, if inspected; with the `inspect` feature off, nothing
    /// (`unused`: what the caller had for `begin`).
    #[cfg_attr(not(feature = "inspect"), allow(clippy::unused_self))]
    fn waiting<U>(
        &self,
        #[cfg(feature = "inspect")] begin: impl FnOnce(&Arc<ResourceCell>) -> Option<LockWait>,
        unused: U,
    ) -> Waiting {
        let _ = unused;
        Waiting {
            #[cfg(feature = "inspect")]
            _wait: self.resource.as_ref().and_then(begin),
        }
    }

    /// [`Tracker::wait`] without a count of the resource of its own (see
    /// `LockWait::begin_kept`).
    ///
    /// # Safety
    ///
    /// The [`Waiting`] is dropped before `self` is.
    unsafe fn wait_kept(&self, site: &'static Location<'static>) -> Waiting {
        self.waiting(
            // SAFETY: the caller drops the wait before `self`, which holds
            // the resource.
            #[cfg(feature = "inspect")]
            |resource| unsafe { LockWait::begin_kept(resource, site) },
            site,
        )
    }

    /// The current task is about to wait for the lock at `site`, until
    /// the [`Waiting`] drops.
    pub(crate) fn wait(&self, site: &'static Location<'static>) -> Waiting {
        self.waiting(
            #[cfg(feature = "inspect")]
            |resource| LockWait::begin(resource, site),
            site,
        )
    }

    /// [`Tracker::wait`] for a future that may be put aside unfinished
    /// and polled again later: the wait counts only while the future is
    /// polled in each of its task's polls (say so with
    /// [`Waiting::polled`]).
    pub(crate) fn wait_polled(&self, site: &'static Location<'static>) -> Waiting {
        self.waiting(
            #[cfg(feature = "inspect")]
            |resource| LockWait::begin_polled(resource, site),
            site,
        )
    }

    /// How many messages went through the channel whose senders this
    /// tracks: read before polling a receiver, for [`Tracker::wait_news`].
    #[inline]
    pub(crate) fn sent_count(&self) -> u64 {
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            return resource.sent_count();
        }
        0
    }

    /// The current task is about to wait at `site` for news from these
    /// senders, having seen `sent` messages sent: any message sent since
    /// ends the wait (a broadcast or watch receiver's).
    pub(crate) fn wait_news(&self, site: &'static Location<'static>, sent: u64) -> Waiting {
        self.waiting(
            #[cfg(feature = "inspect")]
            |resource| LockWait::begin_news(resource, site, sent),
            (site, sent),
        )
    }

    /// Polls `future`, recording the current task's wait at `site` from
    /// its first `Pending` until it completes or is dropped: a plain wait
    /// (a barrier's), or with `news`, a wait for a message from these
    /// senders (see [`Tracker::wait_news`]), whose send count is read
    /// before each poll.
    pub(crate) async fn while_pending<F: Future>(
        &self,
        site: &'static Location<'static>,
        news: bool,
        future: F,
    ) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut waiting: Option<Waiting> = None;
        std::future::poll_fn(|cx| {
            let seen = if news { self.sent_count() } else { 0 };
            let poll = future.as_mut().poll(cx);
            if poll.is_pending() && waiting.is_none() {
                waiting = Some(if news {
                    self.wait_news(site, seen)
                } else {
                    self.wait(site)
                });
            }
            poll
        })
        .await
    }

    /// The current task took the lock exclusively at `site`, through an
    /// `owned` guard (one that can move to another task) or not.
    #[inline]
    pub(crate) fn acquired(&self, site: &'static Location<'static>, owned: bool) -> Hold {
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            return resource.acquired(site, owned);
        }
        let _ = (site, owned);
        Hold::default()
    }

    /// The exclusive holder let go.
    #[inline]
    pub(crate) fn released(&self, hold: &mut Hold) {
        let hold = std::mem::take(hold);
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            resource.released(hold);
        }
        #[cfg(not(feature = "inspect"))]
        let _ = hold;
    }

    /// The current task took `permits` of the lock in shared mode at
    /// `site` (a read lock, semaphore permits), `owned` or not.
    #[inline]
    pub(crate) fn acquired_shared(
        &self,
        site: &'static Location<'static>,
        permits: usize,
        owned: bool,
    ) -> Hold {
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            let permits = u32::try_from(permits).unwrap_or(u32::MAX);
            return resource.acquired_shared(site, permits, owned);
        }
        let _ = (site, permits, owned);
        Hold::default()
    }

    /// The permits of `from` joined those of `into`.
    pub(crate) fn merged(&self, into: &Hold, from: &mut Hold) {
        let from = std::mem::take(from);
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            resource.merge_shared(into, from);
        }
        #[cfg(not(feature = "inspect"))]
        let _ = (into, from);
    }

    /// `permits` were split off `from` into a new holding.
    pub(crate) fn split(&self, from: &Hold, permits: usize) -> Hold {
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            let permits = u32::try_from(permits).unwrap_or(u32::MAX);
            return resource.split_shared(from, permits);
        }
        let _ = (from, permits);
        Hold::default()
    }

    /// A shared holder let go.
    #[inline]
    pub(crate) fn released_shared(&self, hold: &mut Hold) {
        let hold = std::mem::take(hold);
        #[cfg(feature = "inspect")]
        if let Some(resource) = &self.resource {
            resource.released_shared(hold);
        }
        #[cfg(not(feature = "inspect"))]
        let _ = hold;
    }
}

/// One end of an inspected channel, held by the task that used it last
/// (nothing with the `inspect` feature off).
#[derive(Debug)]
pub(crate) struct End {
    #[cfg(feature = "inspect")]
    hold: Option<EndHold>,
}

impl End {
    /// An end of `tracker`'s resource, made at `site` by the current task.
    pub(crate) fn new(tracker: &Tracker, site: &'static Location<'static>) -> Self {
        #[cfg(feature = "inspect")]
        {
            Self {
                hold: tracker
                    .resource
                    .as_ref()
                    .map(|resource| EndHold::new(resource, site)),
            }
        }
        #[cfg(not(feature = "inspect"))]
        {
            let _ = (tracker, site);
            Self {}
        }
    }

    /// No end: what an end moved out of a value leaves behind.
    pub(crate) fn none() -> Self {
        Self {
            #[cfg(feature = "inspect")]
            hold: None,
        }
    }

    /// Another end of the same resource (a cloned sender).
    pub(crate) fn another(&self, site: &'static Location<'static>) -> Self {
        #[cfg(feature = "inspect")]
        {
            Self {
                hold: self.hold.as_ref().map(|hold| hold.another(site)),
            }
        }
        #[cfg(not(feature = "inspect"))]
        {
            let _ = site;
            Self {}
        }
    }

    /// The current task uses this end.
    #[inline]
    pub(crate) fn used(&self) {
        #[cfg(feature = "inspect")]
        if let Some(hold) = &self.hold {
            hold.used();
        }
    }
}

/// What went through a channel (nothing with the `inspect` feature off, or
/// with inspection off at run time).
#[derive(Debug, Clone)]
pub(crate) struct Counts {
    #[cfg(feature = "inspect")]
    inner: Option<Arc<ChannelCounts>>,
}

impl Counts {
    /// The counts of a new channel with room for `capacity` messages.
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        #[cfg(feature = "inspect")]
        {
            let enabled = async_inspect_core::config::enabled();
            Self {
                inner: enabled.then(|| ChannelCounts::new(capacity)),
            }
        }
        #[cfg(not(feature = "inspect"))]
        {
            let _ = capacity;
            Self {}
        }
    }

    /// `n` messages went in.
    #[inline]
    pub(crate) fn sent(&self, n: usize) {
        #[cfg(feature = "inspect")]
        if let Some(counts) = &self.inner {
            counts.sent(n as u64);
        }
        #[cfg(not(feature = "inspect"))]
        let _ = n;
    }

    /// `n` messages came out.
    #[inline]
    pub(crate) fn received(&self, n: usize) {
        #[cfg(feature = "inspect")]
        if let Some(counts) = &self.inner {
            counts.received(n as u64);
        }
        #[cfg(not(feature = "inspect"))]
        let _ = n;
    }

    /// Room was reserved (`true`) or a reservation ended (`false`).
    #[inline]
    pub(crate) fn reserved(&self, taken: bool) {
        #[cfg(feature = "inspect")]
        if let Some(counts) = &self.inner {
            counts.reserved(taken);
        }
        #[cfg(not(feature = "inspect"))]
        let _ = taken;
    }
}
