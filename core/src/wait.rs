//! What runtime adapters and helpers report about the waits they know:
//! sleeps, joins, timeouts, inspect points.
//!
//! Each slot belongs to one wrapper future (an inspected `Sleep`, a join
//! handle, a `Timeout`). It registers the wait with the task polled on this
//! thread the first time the wrapped future is pending, and removes it when
//! the future completes or the wrapper is dropped, so a cancelled wait leaves
//! nothing behind.

use std::borrow::Cow;
use std::fmt::Debug;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::resource::graph;
use crate::task::context;
use crate::task::{TaskCell, TaskId, WaitKind};
use crate::{clock, config};

/// What a task waits for, as a wrapper future knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wait {
    /// A timer that fires after this long.
    Sleep(Duration),
    /// The completion of another task.
    Join(TaskId),
    /// Anything else, described in words.
    Other(Cow<'static, str>),
    /// A call to another process (see [`remote`](crate::remote)).
    Remote(Arc<async_inspect_model::span::RemoteRequest>),
}

/// Registers one wait of the current task while the wrapped future is pending.
///
/// ```
/// use std::time::Duration;
/// use async_inspect_core::wait::{Wait, WaitSlot};
///
/// let mut slot = WaitSlot::new();
/// // Outside an inspected task there is nobody to record the wait for.
/// slot.pending(|| Wait::Sleep(Duration::from_secs(1)));
/// assert!(!slot.is_registered());
/// ```
#[derive(Debug, Default)]
pub struct WaitSlot {
    registered: Option<Registered>,
}

#[derive(Debug)]
struct Registered {
    cell: Arc<TaskCell>,
    wait: u32,
    /// The wait-for graph's edge, for a join; 0 for other waits.
    edge: u64,
}

impl WaitSlot {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { registered: None }
    }

    /// Called when the wrapped future returned `Pending`: registers the wait
    /// once, with the current task and traced frame.
    #[inline]
    pub fn pending(&mut self, wait: impl FnOnce() -> Wait) {
        if self.registered.is_some() || !config::enabled() {
            return;
        }
        if let Some(cell) = context::current_cell() {
            let mut joins = None;
            let kind = match wait() {
                Wait::Sleep(d) => WaitKind::Sleep {
                    until: clock::now().saturating_add(clock::from_duration(d)),
                },
                Wait::Join(task) => {
                    joins = Some(task);
                    WaitKind::Join { task }
                }
                Wait::Other(text) => WaitKind::Other(text),
                Wait::Remote(call) => WaitKind::Remote(call),
            };
            // SAFETY: see `context`: a non-null current frame is alive for
            // the whole poll.
            let frame = unsafe { context::get().frame.as_ref() };
            let wait = cell.begin_wait(frame, kind);
            // The graph's edge names the task without a count of its own:
            // from its adding to the slot's keeping `cell`, nothing unwinds.
            let (edge, cycle) = match joins {
                Some(task) => graph::add_join(&cell, task),
                None => (0, None),
            };
            self.registered = Some(Registered { cell, wait, edge });
            // Reported once the slot would take the edge out if the
            // report panics.
            if let Some(cycle) = cycle {
                cycle.report();
            }
        }
    }

    /// Whether a wait is registered now.
    pub fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// The timer made at `site` that this wait was for elapsed, and the
    /// task polling it sees so: the wake that brought the poll was that
    /// timer's (see [`WokenBy::Timer`](crate::WokenBy::Timer)). Clears the
    /// wait.
    pub fn elapsed(&mut self, site: &'static std::panic::Location<'static>) {
        if let Some(registered) = &self.registered {
            registered.cell.woken_by_timer(site);
        }
        self.clear();
    }

    /// Removes the wait: the future completed, or will be re-registered with
    /// a new deadline.
    #[inline]
    pub fn clear(&mut self) {
        if let Some(Registered { cell, wait, edge }) = self.registered.take() {
            if edge != 0 {
                graph::remove_edge(&cell, edge);
            }
            cell.end_wait(wait);
        }
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Registers the deadline of an inspected timeout around the awaits polled
/// inside it, so that a blocked await can say "timeout in 27.7s" rather than
/// "will wait forever".
#[derive(Debug, Default)]
pub struct TimeoutSlot {
    registered: Option<(Arc<TaskCell>, u32)>,
}

impl TimeoutSlot {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { registered: None }
    }

    /// Called on each poll of the timeout before its inner future; registers
    /// once, with the time left.
    #[inline]
    pub fn enter(&mut self, remaining: impl FnOnce() -> Duration) {
        if self.registered.is_some() || !config::enabled() {
            return;
        }
        if let Some(cell) = context::current_cell() {
            // SAFETY: see `context`: a non-null current frame is alive for
            // the whole poll.
            let frame = unsafe { context::get().frame.as_ref() };
            let deadline = clock::now().saturating_add(clock::from_duration(remaining()));
            let id = cell.begin_timeout(frame, deadline);
            self.registered = Some((cell, id));
        }
    }

    /// The deadline passed, and the task polling the timeout sees so:
    /// the wake that brought the poll was its timer's, made at `site`.
    /// Removes the deadline.
    pub fn elapsed(&mut self, site: &'static std::panic::Location<'static>) {
        if let Some((cell, _)) = &self.registered {
            cell.woken_by_timer(site);
        }
        self.clear();
    }

    /// Removes the deadline: the timeout completed or elapsed.
    pub fn clear(&mut self) {
        if let Some((cell, id)) = self.registered.take() {
            cell.end_timeout(id);
        }
    }
}

impl Drop for TimeoutSlot {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Records a labelled point, with an optional value's Debug text, on the
/// current task; the report shows the latest ones. What `inspect_point!`
/// expands to. Does nothing outside an inspected task.
#[track_caller]
pub fn inspect_point(label: impl Into<Cow<'static, str>>, value: Option<&dyn Debug>) {
    if !config::enabled() {
        return;
    }
    let location = Location::caller();
    context::with_task(|task, frame| {
        let value = value.map(crate::trace::format_value);
        let label = label.into();
        if crate::debug::active() {
            crate::debug::at_point(task, frame, &label);
        }
        task.push_point(frame, label, value, location);
    });
}
