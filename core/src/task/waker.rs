//! Wakers that count the wakes of an inspected task (opt-in: see
//! `Config::count_wakes`).
//!
//! The wrapper is built once per task and rebuilt only when the runtime hands
//! the task a different waker, so a poll allocates nothing: it compares two
//! pointers (`Waker::will_wake`) and clones the wrapper.

use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};

use crate::task::TaskCell;

struct CountingWaker {
    /// Weak: the task's detail caches this waker, so a strong reference
    /// would keep the task alive forever.
    cell: Weak<TaskCell>,
    inner: Waker,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        if let Some(cell) = self.cell.upgrade() {
            cell.record_wake();
        }
        match Arc::try_unwrap(self) {
            Ok(this) => this.inner.wake(),
            Err(this) => this.inner.wake_by_ref(),
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(cell) = self.cell.upgrade() {
            cell.record_wake();
        }
        self.inner.wake_by_ref();
    }
}

/// The wrapped waker of one task, cached in its detail across polls.
#[derive(Default)]
pub(crate) struct WakerSlot {
    cached: Option<(Arc<CountingWaker>, Waker)>,
}

impl std::fmt::Debug for WakerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakerSlot")
            .field("cached", &self.cached.is_some())
            .finish()
    }
}

/// The counting waker for `outer`, rebuilt only when the runtime hands the
/// task a different waker. Costs the task's guard and a reference count per
/// poll: wake counting is opt-in.
pub(crate) fn counting_waker(cell: &Arc<TaskCell>, outer: &Waker) -> Waker {
    cell.with_detail(|detail| {
        let slot = &mut detail.waker;
        let stale = match &slot.cached {
            Some((counting, _)) => !counting.inner.will_wake(outer),
            None => true,
        };
        if stale {
            let counting = Arc::new(CountingWaker {
                cell: Arc::downgrade(cell),
                inner: outer.clone(),
            });
            let waker = Waker::from(Arc::clone(&counting));
            slot.cached = Some((counting, waker));
        }
        match &slot.cached {
            Some((_, waker)) => waker.clone(),
            None => outer.clone(),
        }
    })
}
