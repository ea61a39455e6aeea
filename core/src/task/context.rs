//! Which task and which traced frame the current thread is polling.
//!
//! `Inspected` and `Traced` set this around each poll of the future they wrap
//! and restore the previous value afterwards, so that locks, frames, waits and
//! inspect points know whom they belong to, also on a work-stealing runtime
//! where a task resumes on another worker thread, and also when one executor
//! is driven inside the poll of another (`block_on` inside a task).

use std::cell::Cell;
use std::ptr;

use crate::task::{FrameCell, TaskCell};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    /// The task being polled on this thread, or null. Valid while that poll
    /// runs: the wrapper that set it holds an `Arc` to the cell.
    pub(crate) task: *const TaskCell,
    /// The innermost traced frame being polled, or null. Valid while that
    /// poll runs: the `Traced` future that set it owns it.
    pub(crate) frame: *const FrameCell,
}

// Two cells, not one of the pair: a poll's end restores them with two
// word-sized stores. With one cell it loaded the saved pair (written as
// two words) and stored it as one 16-byte value, and 58% of the samples of
// a poll's end sat on that store (a store-forwarding stall, it seems): an
// inspected task's poll, polled by hand, took 23.6 ns instead of 17.6.
thread_local! {
    static TASK: Cell<*const TaskCell> = const { Cell::new(ptr::null()) };
    static FRAME: Cell<*const FrameCell> = const { Cell::new(ptr::null()) };
    /// See [`polling`].
    static POLLING: Cell<*const TaskCell> = const { Cell::new(ptr::null()) };
}

/// The task whose own poll this thread is in (its wrapper's poll, or its
/// root call's for an adopted task), or null. Unlike the current task, a
/// traced call polled out of its task (its future moved to another) does
/// not set it: only this thread can end the task meanwhile, and a frame of
/// the task retired now is reaped by the task's next traced call or its
/// end, on a thread that comes after this one.
#[inline]
pub(crate) fn polling() -> *const TaskCell {
    POLLING.with(Cell::get)
}

#[inline]
pub(crate) fn get() -> Current {
    Current {
        task: TASK.with(Cell::get),
        frame: FRAME.with(Cell::get),
    }
}

/// Runs `f` with the task (and innermost frame) currently polled on this
/// thread, if any.
#[inline]
pub(crate) fn with_task<R>(f: impl FnOnce(&TaskCell, Option<&FrameCell>) -> R) -> Option<R> {
    let current = get();
    if current.task.is_null() {
        return None;
    }
    // SAFETY: a non-null `task` was set by `Inspected::poll` or `Traced::poll`
    // from an `Arc<TaskCell>` they hold for the whole poll, and it is reset
    // before that poll returns (also on unwind), so the cell is alive here.
    let task = unsafe { &*current.task };
    // SAFETY: a non-null `frame` is owned by the `Traced` being polled
    // further up this thread's stack; it is reset before that poll returns.
    let frame = unsafe { current.frame.as_ref() };
    Some(f(task, frame))
}

/// The task polled on this thread, as a strong reference.
pub(crate) fn current_cell() -> Option<std::sync::Arc<TaskCell>> {
    let current = get();
    if current.task.is_null() {
        return None;
    }
    // SAFETY: a non-null current task was set from an `Arc<TaskCell>` that
    // the wrapper polling it holds for the whole poll, so the pointee is
    // alive and one more strong count on it is sound.
    Some(unsafe {
        std::sync::Arc::increment_strong_count(current.task);
        std::sync::Arc::from_raw(current.task)
    })
}

/// Restores the previous current task and frame when dropped, also when the
/// poll unwinds.
#[derive(Debug)]
pub(crate) struct Restore(Current);

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        TASK.with(|c| c.set(self.0.task));
        FRAME.with(|c| c.set(self.0.frame));
    }
}

/// Restores the previous current task, frame and task polled when
/// dropped (see [`enter_poll`]).
#[derive(Debug)]
pub(crate) struct PollRestore {
    _current: Restore,
    polling: *const TaskCell,
}

impl Drop for PollRestore {
    #[inline]
    fn drop(&mut self) {
        POLLING.with(|c| c.set(self.polling));
    }
}

/// [`enter`] for a poll of the task itself: also the task [`polling`].
#[inline]
pub(crate) fn enter_poll(task: *const TaskCell, frame: *const FrameCell) -> PollRestore {
    PollRestore {
        polling: POLLING.with(|c| c.replace(task)),
        _current: enter(task, frame),
    }
}

#[inline]
pub(crate) fn enter(task: *const TaskCell, frame: *const FrameCell) -> Restore {
    Restore(Current {
        task: TASK.with(|c| c.replace(task)),
        frame: FRAME.with(|c| c.replace(frame)),
    })
}
