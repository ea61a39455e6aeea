use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use tokio::sync::TryLockError;

use super::tracker::{Hold, Kind, Tracker};

/// An asynchronous reader-writer lock, as `tokio::sync::RwLock`, that the
/// inspector sees: its writer or every reader (and where they took it),
/// who waits, and the deadlocks those waits form, such as a task that
/// holds a read guard asking for the write guard.
///
/// ```
/// # #[async_inspect::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_inspect::sync::RwLock;
///
/// let config = RwLock::named("config", 1);
/// assert_eq!(*config.read().await, 1);
/// *config.write().await = 2;
/// assert_eq!(*config.read().await, 2);
/// # }
/// ```
///
/// # Cancel safety
///
/// As tokio's: dropping a pending `read()` or `write()` future gives up
/// the place in the queue; the inspector forgets the wait with it.
pub struct RwLock<T: ?Sized> {
    tracker: Tracker,
    /// In an `Arc` so that owned guards can be tokio's own; see `Mutex`.
    inner: Arc<tokio::sync::RwLock<T>>,
}

lock_common!(RwLock, RwLock, RwLock, "lock");

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting while a writer holds or waits for it.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> + '_ {
        let site = Location::caller();
        async move {
            let fast = self.inner.try_read();
            let inner = self.tracker.acquire(site, fast, || self.inner.read()).await;
            self.read_guard(inner, site)
        }
    }

    /// Locks for writing, waiting until no one else holds it.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> + '_ {
        let site = Location::caller();
        async move {
            let fast = self.inner.try_write();
            let inner = self
                .tracker
                .acquire(site, fast, || self.inner.write())
                .await;
            self.write_guard(inner, site)
        }
    }

    /// Locks for reading if no writer holds or waits for it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it cannot be read now.
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let site = Location::caller();
        Ok(self.read_guard(self.inner.try_read()?, site))
    }

    /// Locks for writing if no one holds it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held.
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let site = Location::caller();
        Ok(self.write_guard(self.inner.try_write()?, site))
    }

    /// Locks for reading from synchronous code, blocking the thread.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        let site = Location::caller();
        self.read_guard(self.inner.blocking_read(), site)
    }

    /// Locks for writing from synchronous code, blocking the thread.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        let site = Location::caller();
        self.write_guard(self.inner.blocking_write(), site)
    }

    /// Locks for reading through an `Arc`, for a guard that owns it.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        let site = Location::caller();
        async move {
            let fast = Arc::clone(&self.inner).try_read_owned();
            let slow = || Arc::clone(&self.inner).read_owned();
            let inner = self.tracker.acquire(site, fast, slow).await;
            let hold = self.tracker.acquired_shared(site, 1, true);
            OwnedRwLockReadGuard {
                inner,
                hold,
                lock: self,
            }
        }
    }

    /// Locks for writing through an `Arc`, for a guard that owns it.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        let site = Location::caller();
        async move {
            let fast = Arc::clone(&self.inner).try_write_owned();
            let slow = || Arc::clone(&self.inner).write_owned();
            let inner = self.tracker.acquire(site, fast, slow).await;
            let hold = self.tracker.acquired(site, true);
            OwnedRwLockWriteGuard {
                inner,
                hold,
                lock: self,
            }
        }
    }

    /// Locks for reading through an `Arc` if no writer holds or waits for it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it cannot be read now.
    #[track_caller]
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        let site = Location::caller();
        let inner = Arc::clone(&self.inner).try_read_owned()?;
        let hold = self.tracker.acquired_shared(site, 1, true);
        Ok(OwnedRwLockReadGuard {
            inner,
            hold,
            lock: self,
        })
    }

    /// Locks for writing through an `Arc` if no one holds it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held.
    #[track_caller]
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        let site = Location::caller();
        let inner = Arc::clone(&self.inner).try_write_owned()?;
        let hold = self.tracker.acquired(site, true);
        Ok(OwnedRwLockWriteGuard {
            inner,
            hold,
            lock: self,
        })
    }

    fn read_guard<'a>(
        &'a self,
        inner: tokio::sync::RwLockReadGuard<'a, T>,
        site: &'static Location<'static>,
    ) -> RwLockReadGuard<'a, T> {
        let hold = self.tracker.acquired_shared(site, 1, false);
        RwLockReadGuard {
            tracker: &self.tracker,
            hold,
            inner,
        }
    }

    fn write_guard<'a>(
        &'a self,
        inner: tokio::sync::RwLockWriteGuard<'a, T>,
        site: &'static Location<'static>,
    ) -> RwLockWriteGuard<'a, T> {
        let hold = self.tracker.acquired(site, false);
        RwLockWriteGuard {
            tracker: &self.tracker,
            hold,
            inner,
        }
    }
}

/// A read guard of a [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    tracker: &'a Tracker,
    hold: Hold,
    inner: tokio::sync::RwLockReadGuard<'a, T>,
}

/// A write guard of a [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    tracker: &'a Tracker,
    hold: Hold,
    inner: tokio::sync::RwLockWriteGuard<'a, T>,
}

/// A read guard that owns an `Arc` of its [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockReadGuard<T: ?Sized> {
    inner: tokio::sync::OwnedRwLockReadGuard<T>,
    hold: Hold,
    lock: Arc<RwLock<T>>,
}

/// A write guard that owns an `Arc` of its [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockWriteGuard<T: ?Sized> {
    inner: tokio::sync::OwnedRwLockWriteGuard<T>,
    hold: Hold,
    lock: Arc<RwLock<T>>,
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.tracker.released_shared(&mut self.hold);
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.tracker.released(&mut self.hold);
    }
}

impl<T: ?Sized> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.tracker.released_shared(&mut self.hold);
    }
}

impl<T: ?Sized> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        self.lock.tracker.released(&mut self.hold);
    }
}

macro_rules! deref_guards {
    ($($guard:ident $(<$lt:lifetime>)?),* ; mut $($mut_guard:ident $(<$mut_lt:lifetime>)?),*) => {
        $(
            impl<$($lt,)? T: ?Sized> Deref for $guard<$($lt,)? T> {
                type Target = T;
                fn deref(&self) -> &T {
                    &self.inner
                }
            }

            impl<$($lt,)? T: ?Sized + fmt::Debug> fmt::Debug for $guard<$($lt,)? T> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    fmt::Debug::fmt(&**self, f)
                }
            }
        )*
        $(
            impl<$($mut_lt,)? T: ?Sized> DerefMut for $mut_guard<$($mut_lt,)? T> {
                fn deref_mut(&mut self) -> &mut T {
                    &mut self.inner
                }
            }
        )*
    };
}

deref_guards!(
    RwLockReadGuard<'a>, RwLockWriteGuard<'a>, OwnedRwLockReadGuard, OwnedRwLockWriteGuard;
    mut RwLockWriteGuard<'a>, OwnedRwLockWriteGuard
);
