use std::fmt;
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
pub struct TaskId(u64);

static NEXT: AtomicU64 = AtomicU64::new(1);

impl TaskId {
    pub(crate) fn next() -> Self {
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// How many ids were ever issued.
    pub(crate) fn issued() -> u64 {
        NEXT.load(Ordering::Relaxed) - 1
    }

    /// The id with this number (for tools that read ids from text).
    pub const fn from_u64(id: u64) -> Self {
        Self(id)
    }

    /// The id's number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
