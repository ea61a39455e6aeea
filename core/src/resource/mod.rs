//! Resources that tasks hold and wait for (inspected locks), the wait-for
//! graph between them, and deadlock detection.
//!
//! A lock's [`ResourceCell`] records its exclusive holder in atomics on
//! every acquisition: no lock of ours on the uncontended path. Only a task
//! that has to wait takes the global graph lock, adds its edge
//! (task → resource) and walks from it (resource → holders → what they
//! wait for → …): a cycle back to the task is a deadlock, found the moment
//! its last edge closes it.

mod cell;
pub(crate) mod deadlock;
mod end;
pub(crate) mod graph;
pub(crate) mod order;
pub(crate) mod sites;

pub use async_inspect_model::{ResourceId, ResourceKind};
pub(crate) use cell::all;
pub use cell::{Hold, ResourceCell};

pub use deadlock::{DeadlockAction, found_count as deadlocks_found, on_deadlock};
pub use end::{ChannelCounts, EndHold};
pub use graph::LockWait;
pub use graph::on_wait_or_deadlock;
pub(crate) use graph::{current_deadlocks, lock_waits};
