//! With instrumentation compiled out, every item is tokio's own, except the
//! name-taking `task::Builder` (tokio's needs `tokio_unstable`), which
//! ignores the name.

use std::future::Future;

pub use tokio::task::{JoinHandle, spawn, spawn_blocking, spawn_local};

/// Timers: tokio's own.
pub mod time {
    pub use std::time::Duration;
    pub use tokio::time::{
        Instant, Interval, MissedTickBehavior, Sleep, Timeout, error, interval, interval_at, sleep,
        sleep_until, timeout, timeout_at,
    };
    #[cfg(feature = "test-util")]
    pub use tokio::time::{advance, pause, resume};
}

/// Task spawning: tokio's own.
pub mod task {
    pub use tokio::task::{
        AbortHandle, Id, JoinError, JoinHandle, spawn, spawn_blocking, spawn_local, yield_now,
    };

    use std::future::Future;
    use std::io;

    /// `tokio::task::Builder`'s shape; the name is dropped, as nothing
    /// records it with instrumentation compiled out.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Builder<'a> {
        _name: Option<&'a str>,
    }

    impl<'a> Builder<'a> {
        /// A builder with no name.
        pub fn new() -> Self {
            Self { _name: None }
        }

        /// Names the task (ignored).
        pub fn name(self, name: &'a str) -> Self {
            Self { _name: Some(name) }
        }

        /// `tokio::spawn`.
        ///
        /// # Errors
        ///
        /// Never.
        #[track_caller]
        pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            Ok(tokio::spawn(future))
        }

        /// `Handle::spawn`.
        ///
        /// # Errors
        ///
        /// Never.
        #[track_caller]
        pub fn spawn_on<F>(
            self,
            future: F,
            handle: &tokio::runtime::Handle,
        ) -> io::Result<JoinHandle<F::Output>>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            Ok(handle.spawn(future))
        }

        /// `tokio::task::spawn_local`.
        ///
        /// # Errors
        ///
        /// Never.
        #[track_caller]
        pub fn spawn_local<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
        where
            F: Future + 'static,
            F::Output: 'static,
        {
            Ok(tokio::task::spawn_local(future))
        }

        /// `tokio::task::spawn_blocking`.
        ///
        /// # Errors
        ///
        /// Never.
        #[track_caller]
        pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
        where
            F: FnOnce() -> R + Send + 'static,
            R: Send + 'static,
        {
            Ok(tokio::task::spawn_blocking(f))
        }
    }
}

/// The root future, unchanged.
pub fn root_task<F: Future>(_name: &str, future: F) -> F {
    future
}
