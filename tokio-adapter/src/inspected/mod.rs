mod join;
mod spawn;
/// Inspected timers: `sleep` and `timeout` with tokio's signatures, whose
/// deadlines the report shows.
pub use async_inspect_adapters::time;

pub use join::JoinHandle;
pub use spawn::{root_task, spawn, spawn_blocking, spawn_local};

/// Task spawning, as `tokio::task`.
pub mod task {
    pub use super::join::JoinHandle;
    pub use super::spawn::{Builder, spawn, spawn_blocking, spawn_local};
    pub use tokio::task::{AbortHandle, Id, JoinError, yield_now};
}
