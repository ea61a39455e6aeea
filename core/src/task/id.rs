use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Identifies a task for the life of the process; never reused.
///
/// ```
/// use async_inspect_core::TaskId;
///
/// let id = TaskId::from_u64(42);
/// assert_eq!(id.to_string(), "#42");
/// assert_eq!(id.as_u64(), 42);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(NonZeroU64);

static NEXT: AtomicU64 = AtomicU64::new(1);

impl TaskId {
    pub(crate) fn next() -> Self {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(NonZeroU64::new(id).unwrap_or(NonZeroU64::MAX))
    }

    /// How many ids were ever issued.
    pub(crate) fn issued() -> u64 {
        NEXT.load(Ordering::Relaxed) - 1
    }

    /// The id with this number (for tools that read ids from text); ids
    /// start at 1, and 0 is read as 1.
    pub const fn from_u64(id: u64) -> Self {
        match NonZeroU64::new(id) {
            Some(id) => Self(id),
            None => Self(NonZeroU64::MIN),
        }
    }

    /// The id's number.
    pub const fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
