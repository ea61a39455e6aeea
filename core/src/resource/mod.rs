//! Resources that tasks hold and wait for (inspected locks), the wait-for
//! graph between them, and deadlock detection.
//!
//! A lock's [`ResourceCell`] records its exclusive holder in atomics on
//! every acquisition: no lock of ours on the uncontended path. Only a task
//! that has to wait takes the global graph lock, adds its edge
//! (task → resource) and walks from it (resource → holder → the resource
//! that holder waits for → …): a cycle back to the task is a deadlock, found
//! the moment its last edge closes it. A holder that acquires a lock while
//! tasks wait for it walks from those waiters too, so a wait that began
//! just before the holder was recorded is not missed.

mod cell;
mod deadlock;
pub(crate) mod graph;
pub(crate) mod order;

pub use cell::{Hold, ResourceCell, ResourceId, ResourceKind};

pub use deadlock::{DeadlockAction, on_deadlock};
pub use graph::LockWait;
pub(crate) use graph::current_deadlocks;
