//! Tasks' identities: [`TaskId`] and [`TaskKind`].

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

/// Identifies a task for the life of the process; never reused.
///
/// ```
/// use async_inspect_model::TaskId;
///
/// let id = TaskId::from_u64(42);
/// assert_eq!(id.to_string(), "#42");
/// assert_eq!(id.as_u64(), 42);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(NonZeroU64);

impl TaskId {
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

/// How a task came to be inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskKind {
    /// Spawned through an inspected `spawn`.
    Spawned,
    /// The root future of `block_on`, `#[main]` or `#[test]`.
    Root,
    /// A blocking closure from `spawn_blocking`.
    Blocking,
    /// A traced future polled outside any inspected task: it runs inside a
    /// task spawned elsewhere (by a library), and lives as long as its
    /// outermost traced future.
    Adopted,
    /// A task spawned with the runtime's own spawn (by a library, say),
    /// seen through the runtime's task hooks.
    Hosted,
}
