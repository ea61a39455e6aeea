use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use tokio::sync::TryLockError;

use super::tracker::{Hold, Kind, Tracker};

/// An asynchronous mutex, as `tokio::sync::Mutex`, that the inspector sees:
/// who holds it (and where they took it), who waits for it, and whether
/// those waits form a deadlock.
///
/// An unnamed mutex is known by where it was created; [`Mutex::named`]
/// gives it a name for reports.
///
/// ```
/// # #[async_inspect::main(flavor = "current_thread")]
/// # async fn main() {
/// use async_inspect::sync::Mutex;
///
/// let cache = Mutex::named("cache", vec![1, 2]);
/// cache.lock().await.push(3);
/// assert_eq!(*cache.lock().await, [1, 2, 3]);
/// # }
/// ```
///
/// # Cancel safety
///
/// As tokio's: dropping a pending `lock()` future gives up the place in the
/// queue; the inspector forgets the wait with it.
pub struct Mutex<T: ?Sized> {
    tracker: Tracker,
    /// In an `Arc` so that owned guards can be tokio's own. Only owned
    /// guards clone it, and each also holds an `Arc` of this `Mutex`, so
    /// whoever has `&mut self` or `self` has the only one.
    inner: Arc<tokio::sync::Mutex<T>>,
}

lock_common!(Mutex, Mutex, Mutex, "mutex");

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting until it is free; the wait is recorded (and
    /// checked for a deadlock) only if it has to wait.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = MutexGuard<'_, T>> + '_ {
        let site = Location::caller();
        async move {
            let fast = self.inner.try_lock();
            let guard = self.tracker.acquire(site, fast, || self.inner.lock()).await;
            self.guard(guard, site)
        }
    }

    /// Locks the mutex if it is free.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let site = Location::caller();
        self.inner.try_lock().map(|guard| self.guard(guard, site))
    }

    /// Locks the mutex from synchronous code, blocking the thread.
    ///
    /// # Panics
    ///
    /// As tokio's: when called inside an asynchronous execution context.
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        let site = Location::caller();
        self.guard(self.inner.blocking_lock(), site)
    }

    fn guard<'a>(
        &'a self,
        inner: tokio::sync::MutexGuard<'a, T>,
        site: &'static Location<'static>,
    ) -> MutexGuard<'a, T> {
        let hold = self.tracker.acquired(site, false);
        MutexGuard {
            tracker: &self.tracker,
            hold,
            inner,
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex through an `Arc`, for a guard that owns it.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: dropping the future gives up the place in the queue.
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedMutexGuard<T>> {
        let site = Location::caller();
        async move {
            let fast = Arc::clone(&self.inner).try_lock_owned();
            let slow = || Arc::clone(&self.inner).lock_owned();
            let inner = self.tracker.acquire(site, fast, slow).await;
            self.owned_guard(inner, site)
        }
    }

    /// Locks the mutex through an `Arc` if it is free.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held.
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let site = Location::caller();
        let inner = Arc::clone(&self.inner).try_lock_owned()?;
        Ok(self.owned_guard(inner, site))
    }

    fn owned_guard(
        self: Arc<Self>,
        inner: tokio::sync::OwnedMutexGuard<T>,
        site: &'static Location<'static>,
    ) -> OwnedMutexGuard<T> {
        let hold = self.tracker.acquired(site, true);
        OwnedMutexGuard {
            inner,
            hold,
            mutex: self,
        }
    }
}

/// A guard of a [`Mutex`]: the lock is held until it drops. Derefs to the
/// value as `tokio::sync::MutexGuard` does.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    tracker: &'a Tracker,
    hold: Hold,
    inner: tokio::sync::MutexGuard<'a, T>,
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.tracker.released(&mut self.hold);
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// A guard that owns an `Arc` of its [`Mutex`], as
/// `tokio::sync::OwnedMutexGuard`: it can outlive the borrow that locked it
/// and move into another task.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct OwnedMutexGuard<T: ?Sized> {
    inner: tokio::sync::OwnedMutexGuard<T>,
    hold: Hold,
    mutex: Arc<Mutex<T>>,
}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard holds.
    pub fn mutex(&self) -> &Arc<Mutex<T>> {
        &self.mutex
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.mutex.tracker.released(&mut self.hold);
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
