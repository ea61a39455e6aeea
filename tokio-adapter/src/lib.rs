//! The tokio adapter of async-inspect.
//!
//! With the `inspect` feature, [`spawn`], [`task::Builder`],
//! [`spawn_blocking`] and the root task of `#[main]`/`#[test]` wrap every
//! future in an [`Inspected`](async_inspect_core::Inspected), join handles
//! record "waiting for task #N", and [`time::sleep`]/[`time::timeout`]
//! record their deadlines. Without it, every item here is tokio's own.
//!
//! Users reach all of it through the `async-inspect` facade.

#[cfg(feature = "inspect")]
mod inspected;
#[cfg(feature = "inspect")]
pub use inspected::*;

#[cfg(not(feature = "inspect"))]
mod plain;
#[cfg(not(feature = "inspect"))]
pub use plain::*;

mod runtime;
pub use runtime::Tokio;

#[cfg(all(feature = "inspect", tokio_unstable))]
mod all_tasks;
#[cfg(all(feature = "inspect", tokio_unstable))]
pub use all_tasks::instrument_runtime;

/// Runs `spawn` marked as async-inspect's own (the all-tasks hooks skip
/// its task); as is without `--cfg tokio_unstable`.
#[cfg(feature = "inspect")]
#[inline]
pub(crate) fn ours<T>(spawn: impl FnOnce() -> T) -> T {
    #[cfg(tokio_unstable)]
    {
        all_tasks::ours(spawn)
    }
    #[cfg(not(tokio_unstable))]
    {
        spawn()
    }
}
