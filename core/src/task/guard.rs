//! The lock of a task's detail: taken by the thread polling the task (a
//! traced call begins or ends, a wait begins or ends) and now and then by a
//! snapshot, so it is almost never contended and held for a few copies.
//!
//! A `std::sync::Mutex` takes two locked instructions a turn: one to lock
//! and one to unlock (the unlock swaps the state, to learn whether anybody
//! sleeps on it). This lock takes one: its unlock is a plain store, as
//! nobody ever sleeps on it. A thread that finds it taken spins a little
//! and then yields its processor until it is free (crossbeam's `Backoff`):
//! the holder is either polling its own task or copying its record, and
//! lets go within microseconds unless it was preempted.
//!
//! Measured on the traced call (one call with one await, polled by hand;
//! Intel Xeon VM): the mutex's two locked instructions were 78% of the
//! samples of taking the detail.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_utils::Backoff;

/// A value behind a lock whose unlock is a plain store (see the module).
pub(crate) struct SlotLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists
// at a time (the flag is swapped to taken with acquire ordering and stored
// back with release ordering), as with a `Mutex`.
unsafe impl<T: Send> Send for SlotLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SlotLock<T> {}

impl<T> SlotLock<T> {
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
    pub(crate) fn lock(&self) -> SlotGuard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        SlotGuard { lock: self }
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
    pub(crate) fn try_lock(&self) -> Option<SlotGuard<'_, T>> {
        // `then`, not `then_some`: a guard made and dropped unlocks.
        (!self.locked.load(Ordering::Relaxed) && !self.locked.swap(true, Ordering::Acquire))
            .then(|| SlotGuard { lock: self })
    }
}

impl<T: fmt::Debug> fmt::Debug for SlotLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("SlotLock");
        match self.try_lock() {
            Some(guard) => out.field("value", &*guard),
            None => out.field("value", &format_args!("<locked>")),
        };
        out.finish()
    }
}

/// The lock of a [`SlotLock`], held until dropped (a panic's unwinding
/// drops it too: what it guards stays consistent, as the detail's writers
/// only fail to allocate).
pub(crate) struct SlotGuard<'a, T> {
    lock: &'a SlotLock<T>,
}

impl<T> Deref for SlotGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `SlotLock`'s `Sync`).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SlotGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SlotGuard<'_, T> {
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
        let lock = Arc::new(SlotLock::new(0u64));
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
        let lock = SlotLock::new(1);
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        assert_eq!(format!("{lock:?}"), "SlotLock { value: <locked> }");
        drop(held);
        assert_eq!(lock.try_lock().as_deref(), Some(&1));
        assert_eq!(format!("{lock:?}"), "SlotLock { value: 1 }");
    }

    #[test]
    fn a_panic_while_held_lets_go() {
        let lock = Arc::new(SlotLock::new(()));
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
