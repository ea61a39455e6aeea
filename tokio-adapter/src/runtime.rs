use std::future::Future;
use std::time::Duration;

use async_inspect_adapters::Runtime;

/// The tokio runtime as an async-inspect [`Runtime`], over a runtime it owns.
#[derive(Debug)]
pub struct Tokio {
    runtime: tokio::runtime::Runtime,
}

impl Tokio {
    /// Wraps a tokio runtime.
    pub fn new(runtime: tokio::runtime::Runtime) -> Self {
        Self { runtime }
    }

    /// A multi-thread runtime with `workers` worker threads and every driver.
    ///
    /// # Errors
    ///
    /// When tokio cannot start the runtime's threads.
    pub fn multi_thread(workers: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?;
        Ok(Self::new(runtime))
    }

    /// The wrapped runtime.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }
}

impl Runtime for Tokio {
    type JoinError = tokio::task::JoinError;

    fn spawn_named<F>(
        &self,
        name: &str,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Self::JoinError>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::task::Builder::new()
            .name(name)
            .spawn_on(future, self.runtime.handle())
            .expect("spawning on a tokio runtime does not fail")
    }

    fn spawn_and_cancel<F>(
        &self,
        name: &str,
        future: F,
        started: impl Future<Output = ()>,
    ) -> impl Future<Output = ()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = crate::task::Builder::new()
            .name(name)
            .spawn_on(future, self.runtime.handle())
            .expect("spawning on a tokio runtime does not fail");
        async move {
            started.await;
            handle.abort();
            let _ = handle.await;
        }
    }

    fn block_on<F: Future>(&self, name: &str, future: F) -> F::Output {
        self.runtime.block_on(crate::root_task(name, future))
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        let _guard = self.runtime.enter();
        crate::time::sleep(duration)
    }

    fn block_on_uninspected<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}
