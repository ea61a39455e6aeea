//! A lock for sections a few copies long that are almost never contended:
//! a task's detail, taken by the thread polling the task as a traced call
//! or a wait begins or ends, and now and then by a snapshot.
//!
//! A `std::sync::Mutex` takes two locked instructions a turn: one to lock
//! and one to unlock (the unlock swaps the state, to learn whether anybody
//! sleeps on it). This lock takes one: its unlock is a plain store, as
//! nobody ever sleeps on it. A thread that finds it taken spins a little
//! and then yields its processor until it is free (crossbeam's `Backoff`):
//! the holder lets go within microseconds unless it was preempted.
//!
//! Measured on a traced call (one call with one await, polled by hand;
//! Intel Xeon VM): the mutex's two locked instructions were 78% of the
//! samples of taking the detail; with this lock the call took 143 ns
//! instead of 160. Not for a lock that threads meet on: the registry's
//! shards (a spawn and a task's end on different threads) under this lock
//! made W1 and W4 slower (246 -> 268 ms, 92 -> 101 ms at five times its
//! size), as waiting threads spun where a mutex puts them to sleep; nor did
//! the wait-for graph's lock, which the two workers of W3 meet on at every
//! contended wait (W3 214 -> 248 ms).

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_utils::Backoff;

/// A value behind a lock whose unlock is a plain store (see the module).
pub(crate) struct ShortLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists
// at a time (the flag is swapped to taken with acquire ordering and stored
// back with release ordering), as with a `Mutex`.
unsafe impl<T: Send> Send for ShortLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for ShortLock<T> {}

impl<T> ShortLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, waiting (spinning, then yielding) while another
    /// thread holds it. Not reentrant: a thread that holds it and asks
    /// again waits forever, as with a `Mutex`.
    #[inline]
    pub(crate) fn lock(&self) -> ShortGuard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        ShortGuard { lock: self }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let backoff = Backoff::new();
        loop {
            // Read until free, so that waiting writes nothing to the line.
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    /// The value, reached without the lock through the only reference.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Takes the lock if nobody holds it.
    pub(crate) fn try_lock(&self) -> Option<ShortGuard<'_, T>> {
        // `then`, not `then_some`: a guard made and dropped unlocks.
        (!self.locked.load(Ordering::Relaxed) && !self.locked.swap(true, Ordering::Acquire))
            .then(|| ShortGuard { lock: self })
    }
}

impl<T: fmt::Debug> fmt::Debug for ShortLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("ShortLock");
        match self.try_lock() {
            Some(guard) => out.field("value", &*guard),
            None => out.field("value", &format_args!("<locked>")),
        };
        out.finish()
    }
}

/// The lock of a [`ShortLock`], held until dropped (a panic's unwinding
/// drops it too: its holders keep what it guards consistent across a
/// panic, which can only be a failed allocation).
pub(crate) struct ShortGuard<'a, T> {
    lock: &'a ShortLock<T>,
}

impl<T> Deref for ShortGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `ShortLock`'s `Sync`).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for ShortGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for ShortGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_taking_turns_lose_no_update() {
        let lock = Arc::new(ShortLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        // A read and a write apart, so that a second
                        // holder would lose updates.
                        let mut value = lock.lock();
                        let seen = *value;
                        std::hint::black_box(&mut *value);
                        *value = seen + 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*lock.lock(), 200_000);
    }

    #[test]
    fn try_lock_fails_while_held_and_succeeds_after() {
        let lock = ShortLock::new(1);
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        assert_eq!(format!("{lock:?}"), "ShortLock { value: <locked> }");
        drop(held);
        assert_eq!(lock.try_lock().as_deref(), Some(&1));
        assert_eq!(format!("{lock:?}"), "ShortLock { value: 1 }");
    }

    #[test]
    fn a_panic_while_held_lets_go() {
        let lock = Arc::new(ShortLock::new(()));
        let held = lock.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(lock.try_lock().is_some());
    }
}
