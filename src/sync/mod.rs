//! Inspected locks: drop-in replacements for `tokio::sync`'s, so swapping
//! the import is the only change. They run on any executor (tokio, smol,
//! async-std), record who holds them and who waits, and find a deadlock the
//! moment its cycle closes (see [`Snapshot::deadlocks`](crate::Snapshot::deadlocks)).
//!
//! With the `inspect` feature off they are thin wrappers that only forward
//! to tokio's, with the same layout.

mod mutex;
mod rwlock;
mod tracker;

pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
pub use tokio::sync::TryLockError;
