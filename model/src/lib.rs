//! The data every side of async-inspect reads: what the program's
//! inspector produces and every viewer (the CLI, the terminal UI, the web
//! dashboard, a trace file read tomorrow) consumes.
//!
//! Plain data and pure functions over it: serde and the encoders, no
//! threads, no runtime, no hot path. The program side (`async-inspect-core`,
//! `async-inspect-agent`) produces these types; the viewers depend on this
//! crate alone, never on the program's machinery (the tokio-console
//! pattern: a wire crate both sides share, neither depending on the other).
//!
//! Layering, from the bottom (a module uses only those above it in this list):
//! - [`task`], [`resource`], [`duration`]: identities and units;
//! - [`breakpoint`]: breakpoints as written, and how a task steps;
//! - [`state_machine`]: a task's future decoded from debuginfo;
//! - [`span`]: the `tracing` spans a task runs in, and their trace id;
//! - [`snapshot`]: [`Snapshot`], everything known at one moment, and its
//!   text report;
//! - [`event`]: what a recording holds, and the time spans drawn from it;
//! - [`wire`]: the agent's protocol (requests, replies, framing, limits,
//!   version, where agents listen);
//! - [`trace_file`]: the trace file format (writer and reader);
//! - [`profile`]: the performance profile of a trace.
//!
//! ```
//! use async_inspect_model::{Snapshot, format_duration};
//! use std::time::Duration;
//!
//! let snapshot = Snapshot::compiled_out();
//! assert!(snapshot.tasks().is_empty());
//! assert_eq!(format_duration(Duration::from_millis(1500)).to_string(), "1.5s");
//! ```

pub mod breakpoint;
pub mod duration;
pub mod event;
#[cfg(test)]
mod fuzz;
mod kept_buffer;
pub mod profile;
pub mod resource;
pub mod snapshot;
pub mod span;
pub mod state_machine;
pub mod task;
pub mod trace_file;
pub mod wire;

pub use duration::{format_duration, parse_duration};
pub use resource::{ResourceId, ResourceKind};
pub use snapshot::{
    Activity, AwaitStep, BlockingPlace, Counters, Deadlock, DeadlockLink, FrameInfo,
    FutureLocation, HeldLock, InspectPoint, Instrumentation, Lint, LockHolder, LockOrderStep,
    LockSiteWaits, LongestHold, ResourceInfo, ResourceRef, SchedulingDelays, Snapshot,
    SnapshotParts, SourceLocation, StepStatus, TaskInfo, TaskState, WaitInfo, WaitReason, WakeInfo,
    WokenBy,
};
pub use state_machine::{Local, NodeKind, NodeState, StateNode};
pub use task::{TaskId, TaskKind};
