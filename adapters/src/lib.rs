//! The contract between async-inspect's core and a runtime adapter.
//!
//! An adapter is small: it wraps its runtime's spawn in
//! [`Inspected`](async_inspect_core::Inspected), maps its join handle so that
//! awaiting it records a join wait, and provides `block_on` for the root
//! task and a timer for `sleep`. [`Runtime`] names those operations so that
//! one conformance suite can run against every adapter.

use std::future::Future;
use std::time::Duration;

#[cfg(any(feature = "tokio-timer", feature = "io-timer"))]
pub mod time;

/// What async-inspect needs from an async runtime.
pub trait Runtime {
    /// What a join handle resolves to when the task panicked or was aborted.
    type JoinError: std::fmt::Debug;

    /// Spawns `future` as an inspected task named `name` and returns a
    /// future of its output.
    fn spawn_named<F>(
        &self,
        name: &str,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::JoinError>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Runs `future` to completion as the inspected root task `name`.
    fn block_on<F: Future>(&self, name: &str, future: F) -> F::Output;

    /// An inspected sleep.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static;
}
