//! Tasks as the inspector sees them.
//!
//! A [`TaskCell`] is the shared record of one task: the atomics its poll
//! updates (state, polls, busy time) laid out first, the fields fixed at
//! spawn, and a lazily allocated, lock-guarded detail (a lock that unlocks
//! with a plain store: `short_lock`): the frames of its logical async stack,
//! the waits it is parked on, its latest inspect points. The guard is the
//! task's own and uncontended: it is taken when a traced call begins or
//! ends, when a wait begins or ends, and by a snapshot; never by a poll or
//! an await.
//!
//! A frame ([`FrameCell`]) belongs to the `Traced` future of its call (it
//! lives out of line, in a per-thread pool of recycled frames); the task's
//! detail holds a pointer to it from the call's first poll until the call
//! ends or its future is dropped. Awaits update the frame's atomics without
//! any lock; a snapshot reads them under the task's guard, which the end of
//! the call also takes before the frame can be recycled.
//!
//! Both kinds of task are the same cell: *spawned* tasks, wrapped in
//! [`Inspected`](crate::Inspected) by a runtime adapter, and *adopted* tasks,
//! whose root is the outermost traced future polled outside any inspected
//! task (a handler inside a task that a library spawned).

mod cell;
pub(crate) mod context;
pub(crate) mod detail;
mod frame;
pub(crate) mod held;
pub(crate) mod id;
pub mod registry;
mod short_lock;
pub(crate) mod waker;

pub use async_inspect_model::{TaskId, TaskKind};
pub(crate) use cell::{Phase, PollScope, on_finish, panic_message, poll_adopted};
pub use cell::{TaskCell, hosted};
pub(crate) use detail::{Detail, DetailSlot, TaskResource, WaitKind};
pub(crate) use frame::{AwaitState, FrameCell, FrameHandle, OwnerName, Place};
