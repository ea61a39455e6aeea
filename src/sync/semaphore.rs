use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use tokio::sync::{AcquireError, TryAcquireError};

use super::tracker::{Hold, Kind, Tracker};

/// A counting semaphore, as `tokio::sync::Semaphore`, that the inspector
/// sees: who holds permits (how many, taken where), who waits, and whether
/// the waits form a deadlock.
///
/// A task waiting for permits is stuck for good only if every task holding
/// permits is stuck too (any of them could release the ones it needs), and
/// that is the only case reported as a deadlock. A semaphore no task holds
/// permits of (a signal whose permits are only ever added) never is.
///
/// Permits taken owned ([`Semaphore::acquire_owned`]) are usually handed to
/// another task, which the inspector cannot see: they are shown as held by
/// the task that took them, and they close a deadlock only while that task
/// spawned nothing since and does not wait for the same semaphore again.
///
/// ```
/// # #[async_inspect::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_inspect::sync::Semaphore;
///
/// let pool = Semaphore::named("db connections", 2);
/// let first = pool.acquire().await.unwrap();
/// let second = pool.acquire().await.unwrap();
/// assert_eq!(pool.available_permits(), 0);
/// assert!(pool.try_acquire().is_err());
/// drop((first, second));
/// assert_eq!(pool.available_permits(), 2);
/// # }
/// ```
pub struct Semaphore {
    tracker: Tracker,
    /// In an `Arc` so that owned permits can be tokio's own.
    inner: Arc<tokio::sync::Semaphore>,
}

impl Semaphore {
    /// The most permits a semaphore can hold, as tokio's.
    pub const MAX_PERMITS: usize = tokio::sync::Semaphore::MAX_PERMITS;

    /// A semaphore with `permits` permits, known by where it is created.
    ///
    /// # Panics
    ///
    /// As tokio's: if `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        Self::with_name(None, permits, Location::caller())
    }

    /// A semaphore with `permits` permits and a name for reports.
    ///
    /// # Panics
    ///
    /// As tokio's: if `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn named(name: impl Into<String>, permits: usize) -> Self {
        Self::with_name(Some(name.into()), permits, Location::caller())
    }

    fn with_name(
        name: Option<String>,
        permits: usize,
        location: &'static Location<'static>,
    ) -> Self {
        Self {
            inner: Arc::new(tokio::sync::Semaphore::new(permits)),
            tracker: Tracker::new(Kind::Semaphore, name, location),
        }
    }

    /// The permits free now.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }

    /// Adds `n` permits, waking waiters they satisfy.
    ///
    /// # Panics
    ///
    /// As tokio's: if the total would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        self.inner.add_permits(n);
    }

    /// Removes up to `n` free permits for good; returns how many it removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        self.inner.forget_permits(n)
    }

    /// Closes the semaphore: pending and later acquisitions fail.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether it is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Takes a permit, waiting until one is free; the wait is recorded (and
    /// checked for a deadlock) only if it has to wait.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + '_ {
        self.acquire_permits(1, Location::caller())
    }

    /// Takes `n` permits at once, waiting until they are free.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn acquire_many(
        &self,
        n: u32,
    ) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + '_ {
        self.acquire_permits(n, Location::caller())
    }

    async fn acquire_permits(
        &self,
        n: u32,
        site: &'static Location<'static>,
    ) -> Result<SemaphorePermit<'_>, AcquireError> {
        let inner = match self.inner.try_acquire_many(n) {
            Ok(permit) => permit,
            // Fails at once, without a wait to record.
            Err(TryAcquireError::Closed) => self.inner.acquire_many(n).await?,
            Err(TryAcquireError::NoPermits) => {
                let acquiring = self.inner.acquire_many(n);
                self.tracker.wait_for(site, acquiring).await?
            }
        };
        Ok(self.permit(inner, site))
    }

    /// Takes a permit if one is free.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError`] if none is free or the semaphore is closed.
    #[track_caller]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let site = Location::caller();
        Ok(self.permit(self.inner.try_acquire()?, site))
    }

    /// Takes `n` permits if they are free.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError`] if they are not or the semaphore is closed.
    #[track_caller]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let site = Location::caller();
        Ok(self.permit(self.inner.try_acquire_many(n)?, site))
    }

    /// Takes a permit from synchronous code, blocking the thread.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    #[track_caller]
    pub fn blocking_acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        let site = Location::caller();
        Ok(self.permit(super::block::block_on(self.inner.acquire())?, site))
    }

    /// Takes `n` permits from synchronous code, blocking the thread.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    #[track_caller]
    pub fn blocking_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        let site = Location::caller();
        Ok(self.permit(super::block::block_on(self.inner.acquire_many(n))?, site))
    }

    fn permit<'a>(
        &'a self,
        inner: tokio::sync::SemaphorePermit<'a>,
        site: &'static Location<'static>,
    ) -> SemaphorePermit<'a> {
        let hold = self
            .tracker
            .acquired_shared(site, inner.num_permits(), false);
        SemaphorePermit {
            semaphore: self,
            hold,
            inner,
        }
    }
}

impl Semaphore {
    /// Takes a permit through an `Arc`, for a permit that owns it.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn acquire_owned(
        self: Arc<Self>,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> {
        self.acquire_permits_owned(1, Location::caller())
    }

    /// Takes `n` permits at once through an `Arc`.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> {
        self.acquire_permits_owned(n, Location::caller())
    }

    async fn acquire_permits_owned(
        self: Arc<Self>,
        n: u32,
        site: &'static Location<'static>,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        let inner = Arc::clone(&self.inner);
        let inner = match Arc::clone(&inner).try_acquire_many_owned(n) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => inner.acquire_many_owned(n).await?,
            Err(TryAcquireError::NoPermits) => {
                let acquiring = inner.acquire_many_owned(n);
                self.tracker.wait_for(site, acquiring).await?
            }
        };
        Ok(self.owned_permit(inner, site))
    }

    /// Takes a permit through an `Arc` if one is free.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError`] if none is free or the semaphore is closed.
    #[track_caller]
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let site = Location::caller();
        let inner = Arc::clone(&self.inner).try_acquire_owned()?;
        Ok(self.owned_permit(inner, site))
    }

    /// Takes `n` permits through an `Arc` if they are free.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError`] if they are not or the semaphore is closed.
    #[track_caller]
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let site = Location::caller();
        let inner = Arc::clone(&self.inner).try_acquire_many_owned(n)?;
        Ok(self.owned_permit(inner, site))
    }

    fn owned_permit(
        self: Arc<Self>,
        inner: tokio::sync::OwnedSemaphorePermit,
        site: &'static Location<'static>,
    ) -> OwnedSemaphorePermit {
        let hold = self
            .tracker
            .acquired_shared(site, inner.num_permits(), true);
        OwnedSemaphorePermit {
            inner,
            hold,
            semaphore: self,
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// What both permits have alike: `forget`, `merge`, `split`,
/// `num_permits`, giving the permits back on drop, and `Debug`. `$copy`
/// makes the split-off permit's link to its semaphore from the original's.
macro_rules! permit_common {
    ($permit:ident $(<$lt:lifetime>)?, $copy:expr) => {
        impl $(<$lt>)? $permit $(<$lt>)? {
            /// Keeps the permits taken for good: the semaphore has that many
            /// fewer.
            pub fn forget(mut self) {
                // Tokio's permit gives its permits to a part that is
                // forgotten, and drops empty with `self`.
                if let Some(all) = self.inner.split(self.inner.num_permits()) {
                    all.forget();
                }
                self.semaphore.tracker.released_shared(&mut self.hold);
            }

            /// Adds `other`'s permits to these.
            ///
            /// # Panics
            ///
            /// As tokio's: if the two come from different semaphores.
            pub fn merge(&mut self, mut other: Self) {
                if let Some(all) = other.inner.split(other.inner.num_permits()) {
                    self.inner.merge(all);
                }
                self.semaphore.tracker.merged(&self.hold, &mut other.hold);
            }

            /// Splits `n` of these permits off into a new permit; `None` if
            /// it has fewer.
            pub fn split(&mut self, n: usize) -> Option<Self> {
                let inner = self.inner.split(n)?;
                let hold = self.semaphore.tracker.split(&self.hold, n);
                Some(Self {
                    semaphore: $copy(&self.semaphore),
                    hold,
                    inner,
                })
            }

            /// How many permits it holds.
            pub fn num_permits(&self) -> usize {
                self.inner.num_permits()
            }
        }

        impl $(<$lt>)? Drop for $permit $(<$lt>)? {
            fn drop(&mut self) {
                self.semaphore.tracker.released_shared(&mut self.hold);
            }
        }

        impl $(<$lt>)? fmt::Debug for $permit $(<$lt>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($permit))
                    .field("permits", &self.num_permits())
                    .finish_non_exhaustive()
            }
        }
    };
}

/// Permits of a [`Semaphore`], given back when dropped, as
/// `tokio::sync::SemaphorePermit`.
#[must_use]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    hold: Hold,
    inner: tokio::sync::SemaphorePermit<'a>,
}

permit_common!(SemaphorePermit<'a>, |semaphore: &&'a Semaphore| *semaphore);

impl<'a> SemaphorePermit<'a> {
    /// The semaphore the permits come from.
    pub fn semaphore(&self) -> &'a Semaphore {
        self.semaphore
    }
}

/// Permits of a [`Semaphore`] that own an `Arc` of it, as
/// `tokio::sync::OwnedSemaphorePermit`: they can move into another task.
#[must_use]
pub struct OwnedSemaphorePermit {
    semaphore: Arc<Semaphore>,
    hold: Hold,
    inner: tokio::sync::OwnedSemaphorePermit,
}

permit_common!(OwnedSemaphorePermit, Arc::clone);

impl OwnedSemaphorePermit {
    /// The semaphore the permits come from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }
}
