//! `Barrier`, as `tokio::sync::Barrier`, whose waits the inspector sees: a
//! task in `wait()` shows "Waiting for: Barrier `start`" and where it
//! waits. No task holds a barrier (any task may be the one still to
//! arrive), so its waits close no deadlock.
//!
//! ```
//! # #[async_inspect::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use async_inspect::sync::Barrier;
//!
//! let start = Arc::new(Barrier::named("start", 2));
//! let other = {
//!     let start = start.clone();
//!     async_inspect::spawn(async move { start.wait().await.is_leader() })
//! };
//! let leader = start.wait().await.is_leader();
//! assert!(leader != other.await.unwrap());
//! # }
//! ```

use std::fmt;
use std::panic::Location;

use tokio::sync::BarrierWaitResult;

use super::tracker::{Kind, Tracker};

/// Lets `n` tasks wait for each other, as tokio's.
pub struct Barrier {
    inner: tokio::sync::Barrier,
    tracker: Tracker,
}

impl Barrier {
    /// A barrier for `n` tasks, known by where it is created.
    #[track_caller]
    pub fn new(n: usize) -> Self {
        Self::with_name(None, n, Location::caller())
    }

    /// A barrier for `n` tasks with a name for reports.
    #[track_caller]
    pub fn named(name: impl Into<String>, n: usize) -> Self {
        Self::with_name(Some(name.into()), n, Location::caller())
    }

    fn with_name(name: Option<String>, n: usize, site: &'static Location<'static>) -> Self {
        Self {
            inner: tokio::sync::Barrier::new(n),
            tracker: Tracker::new(Kind::Barrier, name, site),
        }
    }

    /// Waits until `n` tasks wait; the wait is recorded, at the caller's
    /// line, while it is pending. One of the `n` is told it is the leader.
    ///
    /// # Cancel safety
    ///
    /// As tokio's: not cancel safe (a dropped wait still counted).
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = BarrierWaitResult> + '_ {
        let site = Location::caller();
        self.tracker.while_pending(site, false, self.inner.wait())
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
