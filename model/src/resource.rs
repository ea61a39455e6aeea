//! Resources' identities: [`ResourceId`] and [`ResourceKind`].

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

/// Identifies a resource (a lock) for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(NonZeroU64);

impl ResourceId {
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

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// What kind of resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceKind {
    /// An inspected `Mutex`.
    Mutex,
    /// An inspected `RwLock`.
    RwLock,
    /// An inspected `Semaphore`.
    Semaphore,
    /// The senders of an inspected channel: a receiver waits for them.
    ChannelSenders,
    /// The receiver of an inspected channel: a sender waits for room.
    ChannelReceiver,
    /// An inspected `Notify`: a task waits for any task to notify it; no
    /// task holds it.
    Notify,
    /// An inspected `Barrier`: a task waits for the others to arrive; no
    /// task holds it.
    Barrier,
}

impl ResourceKind {
    /// Whether it is a lock (ordered by the lock-order check), not a
    /// channel's end.
    pub fn is_lock(self) -> bool {
        matches!(self, Self::Mutex | Self::RwLock | Self::Semaphore)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mutex => "Mutex",
            Self::RwLock => "RwLock",
            Self::Semaphore => "Semaphore",
            Self::ChannelSenders => "senders of channel",
            Self::ChannelReceiver => "receiver of channel",
            Self::Notify => "Notify",
            Self::Barrier => "Barrier",
        })
    }
}
