//! The inspected locks a task holds, for the lock-order check: a small
//! fixed array per task, allocated at its first lock. Only the task fills
//! it (its locks are taken in its polls); whoever releases a lock empties
//! that lock's slot, by index. No lock of ours and no reference count on
//! the way: an acquisition reads the slots and writes one, a release
//! writes one.
//!
//! A slot names a lock by a packed word (its registry slot and the low
//! bits of its id, see [`LockKey`]) so that the rare path that needs the
//! lock itself (a pair of locks seen for the first time) can find it.

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// How many locks a task's order is kept for at once; a lock taken while
/// all are in use is not ordered.
pub(crate) const HELD_SLOTS: usize = 8;

/// A lock as a held slot names it: its slot in the resource registry in
/// the high 24 bits, the low 40 bits of its id below. Never 0: ids start
/// at 1 and would need 2⁴⁰ locks made to wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LockKey(u64);

impl LockKey {
    pub(crate) fn new(slot: usize, id: u64) -> Self {
        Self(((slot as u64 & 0xFF_FFFF) << 40) | (id & 0xFF_FFFF_FFFF))
    }

    /// The packed word.
    pub(crate) fn word(self) -> u64 {
        self.0
    }

    /// The registry slot of the lock.
    pub(crate) fn slot(self) -> usize {
        ((self.0 >> 40) & 0xFF_FFFF) as usize
    }

    /// Whether it names the lock with id `id`.
    pub(crate) fn is(self, id: u64) -> bool {
        self.0 & 0xFF_FFFF_FFFF == id & 0xFF_FFFF_FFFF
    }
}

#[derive(Debug)]
struct Slot {
    /// The lock's [`LockKey`], 0 when free.
    key: AtomicU64,
    /// Where the task took it.
    site: AtomicPtr<Location<'static>>,
}

/// A task's held locks.
#[derive(Debug)]
pub(crate) struct HeldLocks {
    slots: [Slot; HELD_SLOTS],
}

impl HeldLocks {
    pub(crate) fn new() -> Self {
        Self {
            slots: [const {
                Slot {
                    key: AtomicU64::new(0),
                    site: AtomicPtr::new(std::ptr::null_mut()),
                }
            }; HELD_SLOTS],
        }
    }

    /// The locks held now, with where each was taken.
    pub(crate) fn held(&self) -> impl Iterator<Item = (LockKey, &'static Location<'static>)> + '_ {
        self.slots.iter().filter_map(|slot| {
            let key = slot.key.load(Ordering::Acquire);
            if key == 0 {
                return None;
            }
            // SAFETY: only `&'static Location`s are stored, before the key
            // (release), and the key was read with acquire.
            let site = unsafe { slot.site.load(Ordering::Relaxed).as_ref() }?;
            Some((LockKey(key), site))
        })
    }

    /// Notes `key` taken at `site`; the slot's index, or `None` when every
    /// slot is in use. Called only by the task's own poll.
    pub(crate) fn push(&self, key: LockKey, site: &'static Location<'static>) -> Option<usize> {
        let index = self
            .slots
            .iter()
            .position(|s| s.key.load(Ordering::Relaxed) == 0)?;
        let slot = &self.slots[index];
        slot.site
            .store(std::ptr::from_ref(site).cast_mut(), Ordering::Relaxed);
        slot.key.store(key.0, Ordering::Release);
        Some(index)
    }

    /// Empties slot `index` if it still holds `key` (from any thread: only
    /// the task fills a slot, and only a free one, so nobody else changes a
    /// slot that holds `key` meanwhile).
    pub(crate) fn remove(&self, index: usize, key: LockKey) {
        if let Some(slot) = self.slots.get(index)
            && slot.key.load(Ordering::Relaxed) == key.0
        {
            slot.key.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_lock_and_slot() {
        let key = LockKey::new(12_345, 9_876_543_210);
        assert_eq!(key.slot(), 12_345);
        assert!(key.is(9_876_543_210));
        assert!(!key.is(9_876_543_211));
        assert_ne!(key.0, 0);
    }

    #[test]
    fn slots_fill_and_empty() {
        let held = HeldLocks::new();
        let site = Location::caller();
        let a = LockKey::new(1, 1);
        let b = LockKey::new(2, 2);
        let ia = held.push(a, site).unwrap();
        let ib = held.push(b, site).unwrap();
        assert_ne!(ia, ib);
        assert_eq!(held.held().count(), 2);
        held.remove(ia, b); // not its key: stays
        assert_eq!(held.held().count(), 2);
        held.remove(ia, a);
        assert_eq!(held.held().map(|(k, _)| k).collect::<Vec<_>>(), [b]);
        for i in 0..HELD_SLOTS - 1 {
            assert!(
                held.push(LockKey::new(10 + i, 10 + i as u64), site)
                    .is_some()
            );
        }
        assert!(held.push(LockKey::new(99, 99), site).is_none());
    }
}
