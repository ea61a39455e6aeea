use std::borrow::Cow;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::context::{self, Restore};
use crate::lint;
use crate::task::TaskId;
use crate::task::detail::{BlockingStretch, Detail, FrameId, PointRecord, WaitKind};
use crate::trace::FnInfo;
use crate::{clock, config, registry};

/// How a task came to be inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TaskKind {
    /// Spawned through an inspected `spawn`.
    Spawned,
    /// The root future of `block_on`, `#[main]` or `#[test]`.
    Root,
    /// A blocking closure from `spawn_blocking`.
    Blocking,
    /// A traced future polled outside any inspected task: it runs inside a
    /// task spawned elsewhere (by a library), and lives as long as its
    /// outermost traced future.
    Adopted,
}

/// The phase of a task, as its poll wrapper last set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Created, never polled yet.
    New = 0,
    /// Inside a poll.
    Running = 1,
    /// Between polls, waiting to be woken.
    Pending = 2,
    /// Completed.
    Done = 3,
    /// A poll panicked.
    Panicked = 4,
    /// Dropped before completing: aborted, cancelled, or its runtime shut down.
    Aborted = 5,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::New,
            1 => Self::Running,
            2 => Self::Pending,
            3 => Self::Done,
            4 => Self::Panicked,
            _ => Self::Aborted,
        }
    }

    pub(crate) fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Panicked | Self::Aborted)
    }
}

/// The shared record of one inspected task.
///
/// The counters are written only by the thread polling the task (a task is
/// polled by one thread at a time), so they are updated with a relaxed load
/// and store rather than a locked read-modify-write; `wakes` is the exception,
/// as any thread may wake the task.
#[derive(Debug)]
pub struct TaskCell {
    /// [`Phase`] as a `u8`.
    phase: AtomicU8,
    /// Completed polls.
    polls: AtomicU64,
    /// Clock time spent inside polls, in nanoseconds.
    busy_ns: AtomicU64,
    /// Clock time at which the latest poll started.
    last_poll_start: AtomicU64,
    /// Clock time at which the latest poll ended, or the task finished.
    last_poll_end: AtomicU64,
    /// Times the task was woken.
    wakes: AtomicU64,
    /// Id of the task that last woke this one, 0 if none or not a task.
    woken_by: AtomicU64,
    id: TaskId,
    kind: TaskKind,
    parent: Option<TaskId>,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
    created_at: u64,
    /// Key in the registry's shard; set once at registration.
    pub(crate) slot: AtomicUsize,
    detail: Mutex<Detail>,
}

impl TaskCell {
    /// Creates and registers the cell of a new task. Its parent is the task
    /// currently polled on this thread, if any.
    pub fn register(
        kind: TaskKind,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> Arc<Self> {
        config::init();
        let parent = context::with_task(|task, _| task.id);
        let cell = Arc::new(Self {
            phase: AtomicU8::new(Phase::New as u8),
            polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            last_poll_start: AtomicU64::new(0),
            last_poll_end: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            woken_by: AtomicU64::new(0),
            id: TaskId::next(),
            kind,
            parent,
            name,
            location,
            created_at: clock::now(),
            slot: AtomicUsize::new(usize::MAX),
            detail: Mutex::new(Detail::default()),
        });
        registry::insert(&cell);
        cell
    }

    /// This task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// How the task came to be inspected.
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// The task that was being polled when this one was spawned.
    pub fn parent(&self) -> Option<TaskId> {
        self.parent
    }

    /// The name given at spawn, if any.
    pub fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    pub(crate) fn created_at(&self) -> u64 {
        self.created_at
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    pub(crate) fn busy_ns(&self) -> u64 {
        self.busy_ns.load(Ordering::Relaxed)
    }

    pub(crate) fn last_poll_start(&self) -> u64 {
        self.last_poll_start.load(Ordering::Relaxed)
    }

    pub(crate) fn last_poll_end(&self) -> u64 {
        self.last_poll_end.load(Ordering::Relaxed)
    }

    pub(crate) fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    pub(crate) fn woken_by(&self) -> Option<TaskId> {
        match self.woken_by.load(Ordering::Relaxed) {
            0 => None,
            id => Some(TaskId::from_u64(id)),
        }
    }

    pub(crate) fn detail(&self) -> MutexGuard<'_, Detail> {
        // A panic while the guard is held can only come from an allocation
        // failure; the records stay consistent, so a poisoned lock is used.
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a wake, attributed to the task polled on this thread, if any.
    #[inline]
    pub(crate) fn record_wake(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        if let Some(by) = context::with_task(|task, _| task.id.as_u64()) {
            self.woken_by.store(by, Ordering::Relaxed);
        }
    }

    /// Marks the task finished with `phase` and hands it to the registry's
    /// retention list. Only the first call counts.
    pub(crate) fn finish(self: &Arc<Self>, phase: Phase) {
        debug_assert!(phase.is_finished());
        let previous = self.phase.swap(phase as u8, Ordering::Relaxed);
        if Phase::from_u8(previous).is_finished() {
            self.phase.store(previous, Ordering::Relaxed);
            return;
        }
        self.last_poll_end.store(clock::now(), Ordering::Relaxed);
        registry::finish(self);
    }

    /// Records a panic message for the report.
    pub(crate) fn set_panic(&self, message: Box<str>) {
        self.detail().panic = Some(message);
    }

    pub(crate) fn enter_frame(
        &self,
        parent: Option<FrameId>,
        info: &'static FnInfo,
        args: Option<Box<str>>,
    ) -> FrameId {
        self.detail().enter_frame(parent, info, args, clock::now())
    }

    pub(crate) fn exit_frame(&self, frame: FrameId, completed: bool) {
        let now = clock::now();
        let stretch =
            self.detail()
                .exit_frame(frame, completed.then_some(now), config::blocking_poll_ns());
        if let Some(stretch) = stretch {
            self.report_stretch(stretch, now);
        }
    }

    pub(crate) fn await_polled_first(&self, frame: FrameId, index: u16, started: u64, ready: bool) {
        let stretch = self.detail().await_polled_first(
            frame,
            index,
            started,
            ready,
            config::blocking_poll_ns(),
        );
        if let Some(stretch) = stretch {
            self.report_stretch(stretch, started);
        }
    }

    pub(crate) fn await_completed(&self, frame: FrameId, index: u16) {
        self.detail().await_completed(frame, index, clock::now());
    }

    pub(crate) fn begin_wait(&self, frame: Option<FrameId>, kind: WaitKind) -> u32 {
        self.detail().begin_wait(frame, kind, clock::now())
    }

    pub(crate) fn end_wait(&self, id: u32) {
        self.detail().end_wait(id);
    }

    pub(crate) fn begin_timeout(&self, frame: Option<FrameId>, deadline: u64) -> u32 {
        self.detail().begin_timeout(frame, deadline)
    }

    pub(crate) fn end_timeout(&self, id: u32) {
        self.detail().end_timeout(id);
    }

    pub(crate) fn push_point(
        &self,
        frame: Option<FrameId>,
        label: Cow<'static, str>,
        value: Option<Box<str>>,
        location: &'static Location<'static>,
    ) {
        let point = PointRecord {
            label,
            value,
            location,
            function: None,
            at: clock::now(),
        };
        self.detail().push_point(frame, point);
    }

    fn report_stretch(&self, stretch: BlockingStretch, now: u64) {
        self.detail().last_lint_at = now;
        lint::blocking_stretch(self, stretch);
    }

    /// The task-level blocking-poll check, for a long poll that no traced
    /// frame has already explained.
    #[cold]
    fn long_poll(&self, start: u64, end: u64) {
        if self.detail().last_lint_at >= start {
            return;
        }
        lint::blocking_poll(self, end - start);
    }
}

/// Marks a task as running on this thread for the length of one poll:
/// sets the current task, stamps the clock, and on [`PollScope::end`] (or on
/// unwind) restores the previous task and updates the counters.
pub(crate) struct PollScope<'a> {
    cell: &'a TaskCell,
    start: u64,
    _restore: Restore,
}

impl<'a> PollScope<'a> {
    #[inline]
    pub(crate) fn begin(cell: &'a Arc<TaskCell>, frame: Option<FrameId>) -> Self {
        let start = clock::now();
        cell.phase.store(Phase::Running as u8, Ordering::Relaxed);
        cell.last_poll_start.store(start, Ordering::Relaxed);
        Self {
            cell,
            start,
            _restore: context::enter(Arc::as_ptr(cell), frame),
        }
    }

    /// Ends the poll; `ready` says whether the future completed.
    #[inline]
    pub(crate) fn end(self, ready: bool) {
        let cell = self.cell;
        let end = clock::now();
        let took = end - self.start.min(end);
        cell.polls
            .store(cell.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        cell.busy_ns.store(
            cell.busy_ns.load(Ordering::Relaxed) + took,
            Ordering::Relaxed,
        );
        cell.last_poll_end.store(end, Ordering::Relaxed);
        if !ready {
            cell.phase.store(Phase::Pending as u8, Ordering::Relaxed);
        }
        if took >= config::blocking_poll_ns() {
            cell.long_poll(self.start, end);
        }
    }
}
