//! Issuing task ids: one counter for the life of the process, never reused.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::TaskId;

/// On a line of its own: every spawn writes it, and a poll's statics must
/// not share its line (see `config`'s `Hot`).
static NEXT: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(1));

/// A new id, never issued before.
pub(crate) fn next() -> TaskId {
    TaskId::from_u64(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// How many ids were ever issued.
pub(crate) fn issued() -> u64 {
    NEXT.load(Ordering::Relaxed) - 1
}
