//! [`Inspected`]: the future every inspected task runs as.

use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::config;
use crate::task::waker;
use crate::task::{Phase, PollScope, TaskCell, TaskId, TaskKind, panic_message};

pin_project! {
    /// A task's future wrapped so that every poll is recorded: its state,
    /// poll count, busy time, wakes, and the task it belongs to for frames,
    /// waits and locks polled inside it.
    ///
    /// Runtime adapters wrap each spawned future in one; users rarely name it.
    ///
    /// ```
    /// use async_inspect_core::{Inspected, TaskKind};
    ///
    /// let task = Inspected::new(async { 1 + 1 }, TaskKind::Spawned, Some("adder".into()));
    /// let id = task.id().expect("inspection is on by default");
    /// assert_eq!(futures::executor::block_on(task), 2);
    /// let snapshot = async_inspect_core::snapshot();
    /// let info = snapshot.task(id).unwrap();
    /// assert_eq!(info.name, "adder");
    /// assert_eq!(info.polls, 1);
    /// ```
    pub struct Inspected<F> {
        #[pin]
        future: F,
        // Holds the task's own waker handle too, from its first poll (see
        // `waker::lend`).
        cell: Option<Arc<TaskCell>>,
    }

    impl<F> PinnedDrop for Inspected<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(cell) = this.project().cell.take() {
                cell.finish(Phase::Aborted);
                waker::let_go(&cell);
            }
        }
    }
}

impl<F> std::fmt::Debug for Inspected<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspected")
            .field("task", &self.id())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Inspected<F> {
    /// Registers a new task of `kind` that will run `future`, spawned at the
    /// caller's location. When inspection is off (`ASYNC_INSPECT=0`), nothing
    /// is registered and polls go straight to `future`.
    #[track_caller]
    pub fn new(future: F, kind: TaskKind, name: Option<Box<str>>) -> Self {
        Self::at(future, kind, name, Location::caller())
    }

    /// Like [`Inspected::new`], with an explicit spawn location.
    pub fn at(
        future: F,
        kind: TaskKind,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> Self {
        config::init();
        let cell = config::enabled().then(|| TaskCell::register_future::<F>(kind, name, location));
        Self { future, cell }
    }
}

impl<F> Inspected<F> {
    /// The task's id, or `None` when inspection was off at spawn.
    pub fn id(&self) -> Option<TaskId> {
        self.cell.as_ref().map(|cell| cell.id())
    }

    /// The task's shared record, or `None` when inspection was off at spawn.
    pub fn cell(&self) -> Option<&Arc<TaskCell>> {
        self.cell.as_ref()
    }
}

impl<F: Future> Future for Inspected<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(cell) = this.cell.as_ref().filter(|_| config::enabled()) else {
            return this.future.poll(cx);
        };
        let wakes = config::count_wakes();
        let before = if wakes { cell.phase_word() } else { 0 };
        let scope = PollScope::begin(cell, std::ptr::null());
        let own = if wakes {
            cell.wake_poll_begins(before, scope.start())
        } else {
            0
        };
        let future = this.future;
        cell.note_future_address(std::ptr::from_ref(&*future) as usize);
        let polled = if wakes {
            let waker = waker::lend(cell, cx.waker());
            let polled = catch_unwind(AssertUnwindSafe(|| {
                future.poll(&mut Context::from_waker(&waker))
            }));
            cell.wake_poll_ends(own, scope.start(), crate::clock::now());
            polled
        } else {
            catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
        };
        match polled {
            Ok(poll) => {
                scope.end(poll.is_ready());
                if poll.is_ready()
                    && let Some(cell) = this.cell.take()
                {
                    cell.finish(Phase::Done);
                    waker::let_go(&cell);
                }
                poll
            }
            Err(payload) => {
                drop(scope);
                if let Some(cell) = this.cell.take() {
                    cell.set_panic(panic_message(payload.as_ref()));
                    cell.finish(Phase::Panicked);
                    waker::let_go(&cell);
                }
                resume_unwind(payload)
            }
        }
    }
}
