//! Wakers that count (and attribute) the wakes of an inspected task.
//!
//! The wrapper is built once per task and rebuilt only when the runtime hands
//! the task a different waker, so a poll allocates nothing: it compares two
//! pointers (`Waker::will_wake`) and borrows the wrapper.

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::task::TaskCell;

struct CountingWaker {
    cell: Arc<TaskCell>,
    inner: Waker,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.cell.record_wake();
        match Arc::try_unwrap(self) {
            Ok(this) => this.inner.wake(),
            Err(this) => this.inner.wake_by_ref(),
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.cell.record_wake();
        self.inner.wake_by_ref();
    }
}

/// The wrapped waker of one task, cached across polls.
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

impl WakerSlot {
    /// The counting waker for `outer`, reused while the runtime keeps handing
    /// the task the same waker.
    #[inline]
    pub(crate) fn wrap<'a>(&'a mut self, cell: &Arc<TaskCell>, outer: &'a Waker) -> &'a Waker {
        let stale = match &self.cached {
            Some((counting, _)) => !counting.inner.will_wake(outer),
            None => true,
        };
        if stale {
            let counting = Arc::new(CountingWaker {
                cell: Arc::clone(cell),
                inner: outer.clone(),
            });
            let waker = Waker::from(Arc::clone(&counting));
            self.cached = Some((counting, waker));
        }
        match &self.cached {
            Some((_, waker)) => waker,
            None => outer,
        }
    }
}
