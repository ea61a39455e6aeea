//! Tasks as the inspector sees them.
//!
//! A [`TaskCell`] is the shared record of one task: the atomics its poll
//! updates (state, polls, busy time, wakes) laid out first, the fields fixed
//! at spawn, and a [`Mutex`](std::sync::Mutex)-guarded [`Detail`] with its
//! logical async stack (frames), the waits it is parked on and its latest
//! inspect points. The guard is the task's own and uncontended: it is taken
//! when a traced call begins or ends, when an await begins or ends, when a
//! wait begins or ends, and by a snapshot, never for a whole poll.
//!
//! Both kinds of task are the same cell: *spawned* tasks, wrapped in
//! [`Inspected`](crate::Inspected) by a runtime adapter, and *adopted* tasks,
//! whose root is the outermost traced future polled outside any inspected
//! task (a handler inside a task that a library spawned).

mod cell;
pub(crate) mod detail;
mod id;

pub(crate) use cell::{Phase, PollScope};
pub use cell::{TaskCell, TaskKind};
pub(crate) use detail::{FrameId, WaitKind};
pub use id::TaskId;
