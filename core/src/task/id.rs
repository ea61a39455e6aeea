//! Issuing task ids: one counter for the life of the process, never reused.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::TaskId;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new id, never issued before.
pub(crate) fn next() -> TaskId {
    TaskId::from_u64(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// How many ids were ever issued.
pub(crate) fn issued() -> u64 {
    NEXT.load(Ordering::Relaxed) - 1
}
