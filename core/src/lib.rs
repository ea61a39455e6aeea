//! The runtime-agnostic core of async-inspect.
//!
//! Runtime adapters wrap every spawned future in an [`Inspected`]; the
//! `#[trace]` macro wraps traced fn bodies in [`trace::Traced`] and their
//! awaits in [`trace::AwaitPoint`]; helpers report waits through
//! [`wait::WaitSlot`] and [`wait::TimeoutSlot`]. All of it lands in a
//! registry of [`TaskCell`]s that [`snapshot()`] reads into a plain-data
//! [`Snapshot`], whose `Display` is the text report.
//!
//! Layering, from the bottom (a module uses only those before it):
//! - `clock`, `site` (what a traced fn is), `span` (the `tracing` spans
//!   tasks run in), `config`: values;
//! - `lint`, `record` (event rings and the collector): sinks the machinery
//!   reports into, naming tasks and resources through small traits;
//! - `task` (cells, frames, details, the registry, the current task);
//! - `resource` (locks and channel ends, the wait-for and lock-order
//!   graphs), `debug` (breakpoints), which name tasks;
//! - `trace`, `wait`, `inspected`, `remote` (calls between processes):
//!   the futures and helpers the adapters and the macros use; `tracing_layer` (feature `tracing`), the
//!   `tracing` layer that notes spans on tasks;
//! - `snapshot`: reads all of it into the model's [`Snapshot`].
//!
//! The data it produces is the model's (`async-inspect-model`); the parts
//! that face the process (the agent, watchdogs) are `async-inspect-agent`.
//!
//! Nothing here names a runtime. The hot path (a poll) touches a few relaxed
//! atomics, a thread-local, and a coarse clock (see [`clock`]); it never
//! allocates and never takes a lock shared with other tasks.
//!
//! ```
//! use async_inspect_core::{Inspected, TaskKind, snapshot};
//!
//! let task = Inspected::new(std::future::pending::<()>(), TaskKind::Spawned, Some("stuck".into()));
//! let id = task.id().unwrap();
//! let mut task = Box::pin(task);
//! let waker = std::task::Waker::noop();
//! assert!(task.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending());
//! let snapshot = snapshot();
//! assert_eq!(snapshot.task(id).unwrap().state, async_inspect_core::TaskState::Idle);
//! # use std::future::Future;
//! ```

mod args;
pub mod clock;
pub mod config;
pub mod debug;
mod id_hash;
mod inspected;
pub mod lint;
pub mod record;
pub mod remote;
pub mod resource;
mod site;
pub mod snapshot;
pub mod span;
mod task;
pub mod trace;
#[cfg(feature = "tracing")]
pub mod tracing_layer;
pub mod wait;

pub use async_inspect_model as model;

pub use async_inspect_model::{
    AwaitStep, BlockingPlace, Counters, Deadlock, DeadlockLink, FrameInfo, HeldLock, InspectPoint,
    Instrumentation, Lint, LockHolder, LockOrderStep, LongestHold, ResourceId, ResourceInfo,
    ResourceKind, ResourceRef, SchedulingDelays, Snapshot, SourceLocation, StepStatus, TaskId,
    TaskInfo, TaskKind, TaskState, WaitInfo, WaitReason, WakeInfo, WokenBy,
};
pub use config::Config;
pub use inspected::Inspected;
pub use snapshot::snapshot;
pub use task::{TaskCell, hosted, registry};

/// The task being polled on this thread, if it is inspected.
///
/// ```
/// assert_eq!(async_inspect_core::current_task(), None);
/// ```
pub fn current_task() -> Option<TaskId> {
    task::context::with_task(|task, _| task.id())
}
