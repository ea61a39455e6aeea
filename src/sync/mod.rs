//! Inspected locks, semaphores and channels: drop-in replacements for
//! `tokio::sync`'s, so swapping the import is the only change. They run on any executor
//! (tokio, smol, async-std), record who holds them and who waits, and find a
//! deadlock the moment its cycle closes (see [`Snapshot::deadlocks`](crate::Snapshot::deadlocks)).
//!
//! With the `inspect` feature off they are thin wrappers that only forward
//! to tokio's, with the same layout.

/// What every inspected lock has alike: constructors that record where
/// (and under which name) it was created, `into_inner` and `get_mut`
/// through the `Arc` that lets owned guards be tokio's own, and the
/// `Debug`, `Default` and `From` impls. `$what` names it in docs.
macro_rules! lock_common {
    ($lock:ident, $inner:ident, $kind:ident, $what:literal) => {
        impl<T> $lock<T> {
            #[doc = concat!("A new unlocked ", $what, ", known by where it is created.")]
            #[track_caller]
            pub fn new(value: T) -> Self {
                Self::with_name(None, value, Location::caller())
            }

            #[doc = concat!("A new unlocked ", $what, " with a name for reports.")]
            #[track_caller]
            pub fn named(name: impl Into<String>, value: T) -> Self {
                Self::with_name(Some(name.into()), value, Location::caller())
            }

            fn with_name(
                name: Option<String>,
                value: T,
                location: &'static Location<'static>,
            ) -> Self {
                Self {
                    tracker: Tracker::new(Kind::$kind, name, location),
                    inner: Arc::new(tokio::sync::$inner::new(value)),
                }
            }

            #[doc = concat!("The value, consuming the ", $what, ".")]
            pub fn into_inner(self) -> T {
                match Arc::try_unwrap(self.inner) {
                    Ok(inner) => inner.into_inner(),
                    Err(_) => {
                        unreachable!("only owned guards share the inner lock, and they own `self`")
                    }
                }
            }
        }

        impl<T: ?Sized> $lock<T> {
            #[doc = concat!("The value, through a unique borrow of the ", $what, " (no locking).")]
            pub fn get_mut(&mut self) -> &mut T {
                Arc::get_mut(&mut self.inner)
                    .expect("only owned guards share the inner lock, and they own `self`")
                    .get_mut()
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $lock<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner, f)
            }
        }

        impl<T: Default> Default for $lock<T> {
            #[track_caller]
            fn default() -> Self {
                Self::new(T::default())
            }
        }

        impl<T> From<T> for $lock<T> {
            #[track_caller]
            fn from(value: T) -> Self {
                Self::new(value)
            }
        }
    };
}

mod barrier;
mod block;
pub mod broadcast;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod tracker;
pub mod watch;

pub use barrier::Barrier;
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard};
pub use notify::Notify;

/// The futures of this module's types, as `tokio::sync::futures`.
pub mod futures {
    pub use super::notify::Notified;
}
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub use tokio::sync::{AcquireError, TryAcquireError, TryLockError};

/// The rest of `tokio::sync`, tokio's own, so code written for
/// `tokio::sync` builds with only its import changed: a `OnceCell`'s wait
/// (while another task initialises it) is not recorded as an inspected
/// wait, but in code nobody annotated the task's decoded future shows the
/// tokio future it is parked in.
pub use tokio::sync::{
    BarrierWaitResult, MappedMutexGuard, OnceCell, OwnedMappedMutexGuard, RwLockMappedWriteGuard,
    SetError,
};
