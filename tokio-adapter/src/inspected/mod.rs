mod join;
mod spawn;
pub mod time;

pub use join::JoinHandle;
pub use spawn::{root_task, spawn, spawn_blocking, spawn_local};

/// Task spawning, as `tokio::task`.
pub mod task {
    pub use super::join::JoinHandle;
    pub use super::spawn::{Builder, spawn, spawn_blocking, spawn_local};
    pub use tokio::task::{AbortHandle, Id, JoinError, yield_now};
}
