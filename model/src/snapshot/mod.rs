//! The [`Snapshot`] model: everything the inspector knows at one moment, as
//! plain data that serialises with serde, renders as the text report
//! ([`Display`](std::fmt::Display)), and is what every viewer reads.
//!
//! Times are durations since the inspector started (the same time base as
//! [`Snapshot::taken_at`]), so a snapshot read from a file later still says
//! how long each task had been blocked when it was taken.

pub mod across;
mod machine;
mod report;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::duration::format_duration;

use crate::resource::{ResourceId, ResourceKind};
use crate::state_machine::StateNode;
use crate::task::{TaskId, TaskKind};

/// The version of the snapshot format. 2 added tasks' futures and their
/// decoded state machines; version 1 snapshots still read.
pub const FORMAT_VERSION: u32 = 2;

/// Whether the program that took a snapshot was recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Instrumentation {
    /// Instrumentation compiled in and recording.
    #[default]
    Enabled,
    /// Compiled in, but switched off (`ASYNC_INSPECT=0`).
    DisabledAtRuntime,
    /// Built without the `inspect` feature: there is nothing to record.
    CompiledOut,
}

/// Everything the inspector knew at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub(crate) format_version: u32,
    pub(crate) instrumentation: Instrumentation,
    pub(crate) taken_at: Duration,
    pub(crate) started_at_unix: Duration,
    pub(crate) pid: u32,
    pub(crate) tasks: Vec<TaskInfo>,
    pub(crate) lints: Vec<Lint>,
    #[serde(default)]
    pub(crate) deadlocks: Vec<Deadlock>,
    #[serde(default)]
    pub(crate) resources: Vec<ResourceInfo>,
    /// Wait times per lock site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) lock_sites: Vec<LockSiteWaits>,
    /// Scheduling delays of every woken poll.
    #[serde(default)]
    pub(crate) scheduling_delays: SchedulingDelays,
    pub(crate) counters: Counters,
    /// Why tasks' futures were not decoded, when they were not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state_machines: Option<String>,
}

/// What a program's inspector captured, to make a [`Snapshot`] of
/// ([`Snapshot::from_parts`]).
#[derive(Debug, Default)]
pub struct SnapshotParts {
    /// Whether the program was recording.
    pub instrumentation: Instrumentation,
    /// When it was taken, as time since the inspector started.
    pub taken_at: Duration,
    /// When the inspector started, as time since the Unix epoch.
    pub started_at_unix: Duration,
    /// The process.
    pub pid: u32,
    /// Every live task and the retained finished ones, by id.
    pub tasks: Vec<TaskInfo>,
    /// Lints found so far, oldest first.
    pub lints: Vec<Lint>,
    /// The deadlocks that stand.
    pub deadlocks: Vec<Deadlock>,
    /// Every inspected lock alive.
    pub resources: Vec<ResourceInfo>,
    /// Counters over the life of the process.
    pub counters: Counters,
    /// Wait times per lock site.
    pub lock_sites: Vec<LockSiteWaits>,
    /// Scheduling delays of every woken poll.
    pub scheduling_delays: SchedulingDelays,
}

impl Snapshot {
    /// The snapshot of what was captured, in this build's
    /// [`FORMAT_VERSION`]; tasks must come sorted by id.
    pub fn from_parts(parts: SnapshotParts) -> Self {
        let SnapshotParts {
            instrumentation,
            taken_at,
            started_at_unix,
            pid,
            tasks,
            lints,
            deadlocks,
            resources,
            counters,
            lock_sites,
            scheduling_delays,
        } = parts;
        debug_assert!(tasks.windows(2).all(|w| w[0].id < w[1].id));
        let mut snapshot = Self {
            format_version: FORMAT_VERSION,
            instrumentation,
            taken_at,
            started_at_unix,
            pid,
            tasks,
            lints,
            deadlocks,
            resources,
            lock_sites,
            scheduling_delays,
            counters,
            state_machines: None,
        };
        snapshot.locate_lints();
        snapshot
    }

    /// How long woken tasks waited for a worker thread: a histogram of
    /// every woken poll.
    pub fn scheduling_delays(&self) -> &SchedulingDelays {
        &self.scheduling_delays
    }

    /// Says where each task a lint is about is parked, for the lints that
    /// show it and do not know it yet: from its waits, traced awaits, or
    /// decoded future. Called when the snapshot is made and again by
    /// whoever decodes the tasks' futures afterwards.
    pub fn locate_lints(&mut self) {
        for lint in &mut self.lints {
            let (Lint::Unwakeable { task, at, .. } | Lint::SelfWakeStorm { task, at, .. }) = lint
            else {
                continue;
            };
            if at.is_none()
                && let Ok(i) = self.tasks.binary_search_by_key(task, |t| t.id)
            {
                *at = self.tasks[i].parked_at();
            }
        }
    }

    /// How long tasks waited for the inspected locks (and channel ends)
    /// made at each site: a histogram per site.
    pub fn lock_sites(&self) -> &[LockSiteWaits] {
        &self.lock_sites
    }

    /// Why the tasks' futures could not be decoded from the program's
    /// debuginfo, when they could not: said once for the whole snapshot,
    /// with what to set.
    pub fn state_machines_note(&self) -> Option<&str> {
        self.state_machines.as_deref()
    }

    /// The tasks, to fill in what a decoder found ([`TaskInfo::state_machine`]).
    pub fn tasks_mut(&mut self) -> &mut [TaskInfo] {
        &mut self.tasks
    }

    /// An owned guard or permit of `resource` that task `from` took was
    /// found in task `to`'s future: `to` holds it now. Moves one of
    /// `from`'s holds of it (with its permits, where it was taken and
    /// since when; the one taken at `site` (`file:line:col`) if there is
    /// one) to `to`, in the tasks' holds, the waiters' holders and the
    /// resource's; `false` (and no change) if `from` holds none.
    ///
    /// ```
    /// # use async_inspect_model::{ResourceId, Snapshot, SnapshotParts, TaskId};
    /// let mut snapshot = Snapshot::from_parts(SnapshotParts::default());
    /// let (main, worker) = (TaskId::from_u64(1), TaskId::from_u64(2));
    /// assert!(!snapshot.move_hold(ResourceId::from_u64(1), main, worker, None));
    /// ```
    pub fn move_hold(
        &mut self,
        resource: ResourceId,
        from: TaskId,
        to: TaskId,
        site: Option<&str>,
    ) -> bool {
        if from == to || self.task(to).is_none() {
            return false;
        }
        let Some(holder) = self.tasks.iter_mut().find(|t| t.id == from) else {
            return false;
        };
        let of_it = |h: &HeldLock| h.resource.id == resource;
        let taken_at = |h: &HeldLock| {
            site.is_some_and(|site| {
                h.acquired_at
                    .as_ref()
                    .is_some_and(|at| at.to_string() == site)
            })
        };
        let Some(at) = (holder.holds.iter())
            .position(|h| of_it(h) && taken_at(h))
            .or_else(|| holder.holds.iter().position(of_it))
        else {
            return false;
        };
        let mut held = holder.holds.remove(at);
        held.taken_by.get_or_insert(from);
        let moved = |h: &LockHolder| {
            h.task == from && h.since == held.since && h.acquired_at == held.acquired_at
        };
        for task in &mut self.tasks {
            for wait in &mut task.waits {
                if let WaitReason::Lock {
                    resource: r,
                    holders,
                }
                | WaitReason::Channel { end: r, holders } = &mut wait.reason
                    && r.id == resource
                    && let Some(h) = holders.iter_mut().find(|h| moved(h))
                {
                    h.task = to;
                }
            }
        }
        if let Some(info) = self
            .resources
            .iter_mut()
            .find(|r| r.resource.id == resource)
            && let Some(h) = info.holders.iter_mut().find(|h| moved(h))
        {
            h.task = to;
        }
        if let Some(task) = self.tasks.iter_mut().find(|t| t.id == to) {
            task.holds.push(held);
        }
        true
    }

    /// Says why the tasks' futures could not be decoded (or `None`: they
    /// were, or nobody tried).
    pub fn set_state_machines_note(&mut self, note: Option<String>) {
        self.state_machines = note;
    }

    /// Keeps only the task `root`, the tasks it spawned (and theirs), and
    /// the deadlocks and lints that involve them: one test's part of a
    /// process that runs many.
    pub fn retain_tree(&mut self, root: TaskId) {
        let parents: std::collections::HashMap<TaskId, Option<TaskId>> =
            self.tasks.iter().map(|t| (t.id, t.parent)).collect();
        let in_tree = |mut id: TaskId| {
            for _ in 0..parents.len() + 1 {
                if id == root {
                    return true;
                }
                match parents.get(&id).copied().flatten() {
                    Some(parent) => id = parent,
                    None => return false,
                }
            }
            false
        };
        self.tasks.retain(|t| in_tree(t.id));
        self.deadlocks
            .retain(|d| d.cycle.iter().any(|link| in_tree(link.task)));
        self.lints.retain(|lint| match lint {
            Lint::LockOrderInversion { cycle } | Lint::LockSiteOrderInversion { cycle } => {
                cycle.iter().any(|step| in_tree(step.task))
            }
            lint => lint.task().is_some_and(in_tree),
        });
    }

    /// Keeps only the tasks for which `keep` holds, and the deadlocks one
    /// of them is part of (the lints and resources stay).
    pub fn retain_tasks(&mut self, keep: impl FnMut(&TaskInfo) -> bool) {
        self.tasks.retain(keep);
        let kept: std::collections::HashSet<TaskId> = self.tasks.iter().map(|t| t.id).collect();
        self.deadlocks
            .retain(|d| d.cycle.iter().any(|link| kept.contains(&link.task)));
    }

    /// The deadlocks `task` is part of.
    pub fn deadlocks_of(&self, task: TaskId) -> impl Iterator<Item = &Deadlock> {
        self.deadlocks
            .iter()
            .filter(move |d| d.cycle.iter().any(|link| link.task == task))
    }

    /// Keeps the `n` most recently finished tasks and every live one: what
    /// a recording streams (the finished are in its events already).
    pub fn keep_recent_finished(&mut self, n: usize) {
        let mut ends: Vec<Duration> = self
            .tasks
            .iter()
            .filter(|t| t.state.is_finished())
            .map(|t| t.state_since)
            .collect();
        if ends.len() <= n {
            return;
        }
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let oldest_kept = if n == 0 { None } else { Some(ends[n - 1]) };
        let mut kept = 0;
        self.tasks.retain(|t| {
            if !t.state.is_finished() {
                return true;
            }
            let keep = oldest_kept.is_some_and(|at| t.state_since >= at) && kept < n;
            kept += usize::from(keep);
            keep
        });
    }

    /// The empty snapshot of a program built without instrumentation; its
    /// report says so.
    ///
    /// ```
    /// use async_inspect_model::{Instrumentation, Snapshot};
    ///
    /// let snapshot = Snapshot::compiled_out();
    /// assert!(snapshot.tasks().is_empty());
    /// assert_eq!(snapshot.instrumentation(), Instrumentation::CompiledOut);
    /// assert!(snapshot.to_string().contains("compiled out"));
    /// ```
    pub fn compiled_out() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            instrumentation: Instrumentation::CompiledOut,
            taken_at: Duration::ZERO,
            started_at_unix: Duration::ZERO,
            pid: std::process::id(),
            tasks: Vec::new(),
            lints: Vec::new(),
            deadlocks: Vec::new(),
            resources: Vec::new(),
            lock_sites: Vec::new(),
            scheduling_delays: SchedulingDelays::default(),
            counters: Counters::default(),
            state_machines: None,
        }
    }

    /// The format version this snapshot was written with.
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// Whether the program was recording.
    pub fn instrumentation(&self) -> Instrumentation {
        self.instrumentation
    }

    /// When the snapshot was taken, as time since the inspector started.
    pub fn taken_at(&self) -> Duration {
        self.taken_at
    }

    /// When the inspector started, as time since the Unix epoch.
    pub fn started_at_unix(&self) -> Duration {
        self.started_at_unix
    }

    /// The process the snapshot was taken in.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Every live task and the retained finished ones, by id.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }

    /// The task with this id, if it was live or retained.
    pub fn task(&self, id: TaskId) -> Option<&TaskInfo> {
        self.tasks
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| &self.tasks[i])
    }

    /// The tasks whose name is `name`.
    pub fn tasks_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a TaskInfo> + 'a {
        self.tasks.iter().filter(move |t| t.name == name)
    }

    /// Lints found so far, oldest first.
    pub fn lints(&self) -> &[Lint] {
        &self.lints
    }

    /// The deadlocks that stand: every task of each cycle still waits for
    /// the same lock, held by the same task.
    pub fn deadlocks(&self) -> &[Deadlock] {
        &self.deadlocks
    }

    /// Every inspected lock alive, with its holders and counters.
    pub fn resources(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// Counters over the life of the process.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Counters over the life of the process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Tasks ever inspected.
    pub tasks_spawned: u64,
    /// Tasks that finished.
    pub tasks_finished: u64,
    /// Finished tasks no longer kept (see retention in `Config`).
    pub finished_evicted: u64,
    /// Lints dropped because the list was full.
    pub lints_dropped: u64,
    /// Recorded events lost: a thread's buffer was full, or a recorder did
    /// not keep up (see [`record`](crate::record)).
    #[serde(default)]
    pub events_dropped: u64,
}

/// A place in the user's source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The file, as the compiler names it (relative to the package).
    pub file: Cow<'static, str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl SourceLocation {
    /// A location in a `'static` file name.
    pub const fn new(file: &'static str, line: u32, column: u32) -> Self {
        Self {
            file: Cow::Borrowed(file),
            line,
            column,
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The state of a task when the snapshot was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Inside a poll.
    Running,
    /// Waiting at a known wait: a traced `.await`, an inspected sleep, join
    /// or lock.
    Blocked,
    /// Waiting to be woken, at no wait the inspector knows of (or not
    /// polled yet).
    Idle,
    /// Completed.
    Done,
    /// A poll panicked.
    Panicked,
    /// Dropped before completing: aborted or cancelled.
    Aborted,
}

impl TaskState {
    /// Whether the task has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Panicked | Self::Aborted)
    }

    /// The state as the report writes it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Blocked => "BLOCKED",
            Self::Idle => "IDLE",
            Self::Done => "DONE",
            Self::Panicked => "PANICKED",
            Self::Aborted => "ABORTED",
        }
    }
}

/// One task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Never reused.
    pub id: TaskId,
    /// The name given at spawn, else its root traced fn, else where it was
    /// spawned.
    pub name: Cow<'static, str>,
    /// How it came to be inspected.
    pub kind: TaskKind,
    /// Where it was spawned.
    pub location: SourceLocation,
    /// The task that spawned it.
    pub parent: Option<TaskId>,
    /// Its state.
    pub state: TaskState,
    /// Since when it has been in that state (time since the inspector
    /// started); see [`TaskInfo::in_state_for`].
    pub state_since: Duration,
    /// When it was spawned (time since the inspector started).
    pub spawned_at: Duration,
    /// How long it lived, up to the snapshot or to its end.
    pub age: Duration,
    /// Time spent inside polls.
    pub busy: Duration,
    /// Time spent between polls.
    pub idle: Duration,
    /// Completed polls.
    pub polls: u64,
    /// Times it was woken (counted unless wake counting is off:
    /// `ASYNC_INSPECT_WAKES=0`).
    pub wakes: u64,
    /// What its wakes tell: who woke it, whether it waits for a worker
    /// now, how many wakers for it exist (see [`WakeInfo`]).
    #[serde(default)]
    pub wake: WakeInfo,
    /// When its latest poll ended (time since the inspector started);
    /// `None` while a poll runs or before the first.
    pub last_poll_at: Option<Duration>,
    /// Its active traced calls (its logical stack; a tree when it joins
    /// several traced futures), outermost first.
    pub frames: Vec<FrameInfo>,
    /// The waits it is parked on (inspected sleeps, joins), each tied to the
    /// frame whose await it belongs to.
    pub waits: Vec<WaitInfo>,
    /// Its latest inspect points, oldest first.
    pub points: Vec<InspectPoint>,
    /// The panic message, for a task that panicked.
    pub panic: Option<String>,
    /// The inspected locks it holds.
    #[serde(default)]
    pub holds: Vec<HeldLock>,
    /// For an adopted task, the runtime's id of the task it runs in (tokio's
    /// task id), when the runtime tells.
    #[serde(default)]
    pub host_task: Option<String>,
    /// The `tracing` spans it runs in, outermost first (with
    /// `async_inspect::tracing::layer()` installed): those it entered
    /// itself, else those current where it was spawned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<crate::span::SpanInfo>,
    /// The trace id its spans carry (see [`span`](crate::span)), 32
    /// lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The request from another process it serves, as the `traceparent`
    /// the request carried names it (`async_inspect::remote::serve`, the
    /// HTTP server layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serves: Option<Box<crate::span::RemoteRequest>>,
    /// Where the task's future lives, for a reader of the program's
    /// debuginfo; `None` for a finished task, one never polled, or one
    /// that is not an inspected future (a blocking closure, a hosted task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub future: Option<FutureLocation>,
    /// Its future decoded from the program's debuginfo (which async fn or
    /// block, the `.await` it is suspended at, the locals alive there, what
    /// it awaits), when someone decoded it: the report in the program,
    /// `snapshot()`, the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine: Option<Box<StateNode>>,
    /// For a task cancelled in a traced call (aborted, or dropped
    /// unfinished, as a runtime drops its tasks when it shuts down): where
    /// it was then. Its frames are gone with its future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Box<CancelledAt>>,
}

/// Where a task was when it was cancelled: its innermost traced call (the
/// one parked at an `.await`) and that await.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelledAt {
    /// The call's function.
    pub function: Cow<'static, str>,
    /// Its arguments as `name=value` Debug text, unless skipped.
    pub args: Option<Arc<str>>,
    /// Where the function is defined.
    pub location: SourceLocation,
    /// The `.await` it was parked on, with when it began
    /// ([`StepStatus::InProgress`]); `None` if it was between awaits (in
    /// an untraced future it awaited, say).
    pub at: Option<AwaitStep>,
    /// How many traced calls deep the task was.
    pub depth: u32,
}

/// Where a task's future lives in the program's memory (run-time
/// addresses), and how to tell that it did not change while it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FutureLocation {
    /// The pinned future's address.
    pub address: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The address of its type anchor: a function monomorphised for the
    /// future's type, which the debuginfo names it by.
    pub anchor: u64,
    /// Addresses of two words of the task's record that change whenever
    /// the task is polled: its phase word (see [`FutureLocation::is_idle`])
    /// and its poll count. Equal before and after a read, with the task
    /// idle, the bytes read are whole.
    pub guard: [u64; 2],
}

impl FutureLocation {
    /// The bits of the phase word (`guard[0]`) that hold the task's phase.
    pub const PHASE_MASK: u64 = 0b111;
    /// The phase of a task between polls.
    pub const IDLE: u64 = 2;

    /// Whether the phase word `word` says the task is between polls (its
    /// future is not being changed).
    ///
    /// ```
    /// use async_inspect_model::FutureLocation;
    ///
    /// assert!(FutureLocation::is_idle(12345 << 3 | FutureLocation::IDLE));
    /// assert!(!FutureLocation::is_idle(12345 << 3 | 1));
    /// ```
    pub fn is_idle(word: u64) -> bool {
        word & Self::PHASE_MASK == Self::IDLE
    }
}

/// What a task's wakes tell, as counted by its wrapped waker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeInfo {
    /// Wakes that came from inside its own poll: it woke itself.
    pub self_wakes: u64,
    /// Who woke it last, when it was woken.
    pub woken_by: Option<WokenBy>,
    /// When it was woken, if it has not been polled since (time since the
    /// inspector started): it is waiting for a worker thread.
    pub woken_at: Option<Duration>,
    /// When the wake that led to its latest poll came (or the one it waits
    /// on now): with [`woken_by`](Self::woken_by), "the last by task #3
    /// 20ms ago". `None` before any wake.
    #[serde(default)]
    pub last_woken_at: Option<Duration>,
    /// The longest it waited for a worker, from a wake to the poll that
    /// followed.
    pub max_delay: Duration,
    /// How many wakers for it exist now (held by timers, channels, locks,
    /// the runtime), between its polls; `None` while it runs, or when
    /// they cannot be counted.
    pub wakers: Option<u64>,
}

/// Who woke a task (more kinds of waker may come: match with a `_` arm).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WokenBy {
    /// Another inspected task, from inside its poll.
    Task(TaskId),
    /// A thread outside any inspected task (a runtime's timer or I/O
    /// driver, a blocking thread), by name (borrowed from the inspector's
    /// table of names: a snapshot of many tasks woken by one worker copies
    /// none).
    Thread(Cow<'static, str>),
    /// An inspected timer (`async_inspect::time::sleep`, `timeout`) that
    /// the task was waiting on, made at `file:line`: its deadline passed.
    Timer(String),
}

impl fmt::Display for WokenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task(task) => write!(f, "task {task}"),
            Self::Thread(name) => write!(f, "thread `{name}` outside any task"),
            Self::Timer(at) => write!(f, "the timer set at {at}"),
        }
    }
}

/// How long tasks waited for a worker thread from a wake to the poll that
/// followed: a histogram of every woken poll.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulingDelays {
    /// Polls in each bucket: bucket `i` holds delays of at most
    /// [`LockSiteWaits::bound`]`(i)`, the last one longer delays. The
    /// clock behind it ticks every millisecond: shorter delays read 0.
    pub buckets: Vec<u64>,
    /// All the delays, summed.
    #[serde(default)]
    pub total: Duration,
}

impl SchedulingDelays {
    /// How many woken polls it counts.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The delay under which `quantile` (0..=1) of the woken polls were,
    /// as a bucket's upper bound; `None` with no poll counted or when it
    /// falls beyond the last bound.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_inspect_model::snapshot::SchedulingDelays;
    ///
    /// let mut buckets = vec![0; 25];
    /// buckets[0] = 98; // at most 1 µs
    /// buckets[16] = 2; // at most 65 ms
    /// let delays = SchedulingDelays { buckets, total: Duration::from_millis(100) };
    /// assert_eq!(delays.quantile(0.5), Some(Duration::from_micros(1)));
    /// assert_eq!(delays.quantile(0.99), Some(Duration::from_micros(1 << 16)));
    /// ```
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * quantile.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return (i < LockSiteWaits::BOUNDS).then(|| LockSiteWaits::bound(i));
            }
        }
        None
    }
}

/// How long tasks waited for the inspected locks of one kind made at one
/// site: a histogram of the waits that ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockSiteWaits {
    /// The kind of lock.
    pub kind: ResourceKind,
    /// The first name given to a lock made there, if any.
    pub name: Option<String>,
    /// Where the locks are made.
    pub created_at: SourceLocation,
    /// Waits in each bucket: bucket `i` holds waits of at most
    /// [`LockSiteWaits::bound`]`(i)`, the last one longer waits.
    pub buckets: Vec<u64>,
    /// All the time waited.
    pub waited: Duration,
}

impl LockSiteWaits {
    /// How many bounded buckets there are (the last bucket, beyond them,
    /// is one more).
    pub const BOUNDS: usize = 24;

    /// The upper bound of bucket `i`: 1 µs × 2ⁱ (1 µs … 8.4 s).
    pub fn bound(i: usize) -> Duration {
        Duration::from_micros(1_u64 << i.min(63))
    }
}

/// A lock a task holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldLock {
    /// The lock.
    pub resource: ResourceRef,
    /// Where the task took it.
    pub acquired_at: Option<SourceLocation>,
    /// Since when (time since the inspector started).
    pub since: Duration,
    /// Permits held, for a semaphore; 1 otherwise.
    pub permits: u32,
    /// The task that took it, when the guard has moved from it into this
    /// one (an owned guard or permit, found in this task's decoded
    /// future).
    #[serde(default)]
    pub taken_by: Option<TaskId>,
}

/// An inspected lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// Its id, kind and name.
    pub resource: ResourceRef,
    /// Where it was created.
    pub created_at: SourceLocation,
    /// The tasks holding it.
    pub holders: Vec<LockHolder>,
    /// Tasks waiting for it now.
    pub waiters: u32,
    /// Times it was taken.
    pub acquisitions: u64,
    /// Times a task had to wait for it.
    pub contended: u64,
    /// Time tasks spent waiting for it, summed.
    pub total_wait: Duration,
    /// The longest a task waited for it.
    pub max_wait: Duration,
    /// The most tasks waiting for it at once.
    pub max_waiters: u32,
    /// The longest anyone held it so far (released holds only).
    pub longest_hold: Option<LongestHold>,
}

/// The longest a lock was held, by whom and from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongestHold {
    /// The task that held it, if it was a task.
    pub task: Option<TaskId>,
    /// Where it took the lock.
    pub acquired_at: SourceLocation,
    /// For how long.
    pub held_for: Duration,
}

impl TaskInfo {
    /// How long it had been in its state when the snapshot was taken.
    pub fn in_state_for(&self, snapshot: &Snapshot) -> Duration {
        snapshot.taken_at.saturating_sub(self.state_since)
    }

    /// The frames from the root to the innermost one on the first blocked
    /// path (what a person calls "the stack").
    pub fn stack(&self) -> Vec<&FrameInfo> {
        let mut stack = Vec::new();
        let mut parent = None;
        while let Some(frame) = self.frames.iter().find(|f| f.parent == parent) {
            stack.push(frame);
            parent = Some(frame.id);
        }
        stack
    }

    /// Where its decoded future is suspended (when it has no traced frames
    /// to say so): the innermost of the program's own async fns on the
    /// chain, as `fetch_posts  src/api.rs:42`.
    pub fn suspended_at(&self) -> Option<String> {
        let node = self.state_machine.as_ref()?.parked_in()?;
        let crate::state_machine::NodeState::Suspended { file, line, .. } = &node.state else {
            return None;
        };
        let function = node.path.rsplit("::").next().unwrap_or(&node.path);
        Some(format!("{function}  {file}:{line}"))
    }

    /// Where the task is parked, in one line (the PARKED AT column of the
    /// terminal UI and the web page): the lock or channel it waits for,
    /// who holds it and where it waits (``Mutex `cache` held by #1 · at
    /// src/a.rs:9:22``), else its traced await (`rx.await  src/a.rs:52:10`),
    /// else the await its decoded future is suspended at (`fetch
    /// src/a.rs:42`); `None` when none of these is known.
    pub fn parked_at(&self) -> Option<String> {
        let resource_wait = self.waits.iter().find_map(|w| match &w.reason {
            WaitReason::Lock { resource, holders }
            | WaitReason::Channel {
                end: resource,
                holders,
            } => Some((w, resource, holders)),
            _ => None,
        });
        if let Some((wait, resource, holders)) = resource_wait {
            let name = &resource.name;
            let mut text = match resource.kind {
                ResourceKind::ChannelSenders => format!("recv on channel `{name}`"),
                ResourceKind::ChannelReceiver => format!("send on channel `{name}`"),
                kind => format!("{kind} `{name}`"),
            };
            if !holders.is_empty() {
                let ids: Vec<String> = holders.iter().map(|h| h.task.to_string()).collect();
                text.push_str(&format!(" held by {}", ids.join(", ")));
            }
            let at = wait.at.as_ref().or_else(|| {
                let frame = self.frames.iter().find(|f| Some(f.id) == wait.frame)?;
                Some(&frame.current_await()?.location)
            });
            if let Some(at) = at {
                text.push_str(&format!(" · at {at}"));
            }
            return Some(text);
        }
        self.blocked_at()
            .map(|(_, step)| format!("{}.await  {}", step.expr, step.location))
            .or_else(|| self.suspended_at())
    }

    /// Whether the task serves trace `id`: its trace id, or a prefix of it
    /// at least 8 hex digits long (see [`names_trace`](crate::span::names_trace)).
    pub fn in_trace(&self, id: &str) -> bool {
        self.trace_id
            .as_deref()
            .is_some_and(|trace| crate::span::names_trace(id, trace))
    }

    /// Whether a search for `needle` (lowercase) finds the task, as the
    /// terminal UI's and the dashboard's search do: in its name, where it
    /// is parked, the await it is blocked at, its spans (`request{id=4}`)
    /// and its trace id.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty()
            || self.name.to_lowercase().contains(needle)
            || self
                .blocked_at()
                .is_some_and(|(_, step)| step.expr.to_lowercase().contains(needle))
            || self
                .parked_at()
                .is_some_and(|at| at.to_lowercase().contains(needle))
            || self
                .spans
                .iter()
                .any(|span| span.to_string().to_lowercase().contains(needle))
            || self.in_trace(needle)
    }

    /// The innermost await the task is parked on, with its frame.
    pub fn blocked_at(&self) -> Option<(&FrameInfo, &AwaitStep)> {
        let frame = *self.stack().last()?;
        Some((frame, frame.current_await()?))
    }

    /// The breakpoint the task is paused at, if it is.
    pub fn paused_at(&self) -> Option<u64> {
        self.waits.iter().find_map(|w| match w.reason {
            WaitReason::Paused { breakpoint, .. } => Some(breakpoint),
            _ => None,
        })
    }

    /// Whether nothing can poll the task again: parked between polls, not
    /// woken since its last poll began, and no waker for it left.
    pub fn unwakeable(&self) -> bool {
        self.wake.wakers == Some(0) && self.wake.woken_at.is_none()
    }

    /// The mean time between the task's polls.
    pub fn mean_time_between_polls(&self) -> Option<Duration> {
        (self.polls > 1).then(|| self.age / u32::try_from(self.polls).unwrap_or(u32::MAX))
    }
}

/// One active traced call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameInfo {
    /// Identifies the frame within its task.
    pub id: u32,
    /// The frame it was called from, `None` at the task's root.
    pub parent: Option<u32>,
    /// The function's name.
    pub function: Cow<'static, str>,
    /// The function's module.
    pub module_path: Cow<'static, str>,
    /// Its arguments as `name=value` Debug text, unless skipped (shared with
    /// the live frame, so a snapshot does not copy it).
    pub args: Option<Arc<str>>,
    /// Where the function is defined.
    pub location: SourceLocation,
    /// When the call began (time since the inspector started).
    pub entered_at: Duration,
    /// Every `.await` of the function, in source order, with its progress.
    pub awaits: Vec<AwaitStep>,
    /// The nearest enclosing inspected timeout's deadline (time since the
    /// inspector started), if any.
    pub timeout_at: Option<Duration>,
}

impl FrameInfo {
    /// The await in progress, if any.
    pub fn current_await(&self) -> Option<&AwaitStep> {
        self.awaits
            .iter()
            .find(|a| matches!(a.status, StepStatus::InProgress { .. }))
    }

    /// `name(args)`, as the report writes a call.
    pub fn call(&self) -> String {
        format!("{}({})", self.function, self.args.as_deref().unwrap_or(""))
    }
}

/// One `.await` of a traced fn and how far the call got with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AwaitStep {
    /// 1-based position among the fn's awaits ("step 2/4").
    pub step: u16,
    /// How many awaits the fn has.
    pub of: u16,
    /// The awaited expression.
    pub expr: Cow<'static, str>,
    /// Where the `.await` is.
    pub location: SourceLocation,
    /// Progress.
    pub status: StepStatus,
}

/// Progress of one await within a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not reached yet in this call.
    NotStarted,
    /// Parked here since this time (since the inspector started).
    InProgress {
        /// When the await began.
        since: Duration,
    },
    /// Completed `times` times (more than once in a loop).
    Completed {
        /// How many times it completed in this call.
        times: u32,
        /// How long the latest took.
        last: Duration,
        /// How long all of them took.
        total: Duration,
    },
}

/// A wait a task is parked on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitInfo {
    /// The frame whose await waits, `None` if no traced frame encloses it.
    pub frame: Option<u32>,
    /// What it waits for.
    pub reason: WaitReason,
    /// Since when (time since the inspector started).
    pub since: Duration,
    /// The nearest enclosing inspected timeout's deadline, if any.
    pub timeout_at: Option<Duration>,
    /// Where the task began waiting, when the wait knows: the `lock()`
    /// (or `acquire()`, `send()`, `recv()`) call of a lock or channel wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<SourceLocation>,
}

/// Why a task waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitReason {
    /// An inspected sleep, until this time (since the inspector started).
    Sleep {
        /// When it wakes.
        until: Duration,
    },
    /// The completion of another task, through its inspected join handle.
    Join {
        /// The awaited task.
        task: TaskId,
    },
    /// An inspected lock.
    Lock {
        /// The lock.
        resource: ResourceRef,
        /// The tasks holding it: its owner or writer, its readers, or its
        /// permits' holders.
        holders: Vec<LockHolder>,
    },
    /// An inspected channel: a message (from its senders) or room (from its
    /// receiver).
    Channel {
        /// The end waited for: the senders (`ChannelSenders`) or the
        /// receiver (`ChannelReceiver`).
        end: ResourceRef,
        /// The tasks holding that end, each the last to use its handle.
        holders: Vec<LockHolder>,
    },
    /// Something else, in words.
    Other(String),
    /// A call to another process (`async_inspect::remote::Outbound`, the
    /// HTTP client layer): the next process's task serving it names the
    /// same call (see [`across`]).
    Remote(crate::span::RemoteRequest),
    /// Paused at a breakpoint (see [`debug`](crate::debug)); never part of
    /// a deadlock.
    Paused {
        /// The breakpoint's number.
        breakpoint: u64,
        /// Where: `f() at file:line`.
        place: String,
    },
}

/// A task holding a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The holding task.
    pub task: TaskId,
    /// Where it took the lock.
    pub acquired_at: Option<SourceLocation>,
    /// Since when (time since the inspector started).
    pub since: Duration,
    /// Permits held, for a semaphore; 1 otherwise.
    pub permits: u32,
}

/// A resource (an inspected lock), as waits and deadlocks name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// Its id.
    pub id: ResourceId,
    /// Its kind.
    pub kind: ResourceKind,
    /// Its name, else where it was created.
    pub name: String,
}

/// A cycle of tasks each waiting for a lock the next one holds: none of
/// them can ever proceed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlock {
    /// The links of the cycle, in order: each task waits for a lock held by
    /// the next (the last one's by the first).
    pub cycle: Vec<DeadlockLink>,
    /// When it closed (time since the inspector started).
    pub detected_at: Duration,
}

/// One task of a deadlock cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlockLink {
    /// The waiting task.
    pub task: TaskId,
    /// Its name.
    pub task_name: String,
    /// The lock it waits for; `None` when it waits for `held_by` to end,
    /// through its join handle.
    pub resource: Option<ResourceRef>,
    /// Where it waits (the `lock()` call), when known.
    pub waits_at: Option<SourceLocation>,
    /// The task holding that lock.
    pub held_by: TaskId,
    /// Where the holder took it.
    pub acquired_at: Option<SourceLocation>,
}

/// A labelled point from `inspect_point!`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectPoint {
    /// The label.
    pub label: String,
    /// The value's Debug text, if one was given.
    pub value: Option<String>,
    /// Where the point is in the source.
    pub location: SourceLocation,
    /// The traced function it was recorded in, if any.
    pub function: Option<Cow<'static, str>>,
    /// When (time since the inspector started).
    pub at: Duration,
}

/// Something worth a person's attention that is not a failure yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Lint {
    /// A single poll held its executor thread for at least the blocking-poll
    /// threshold: no other task could run on that thread meanwhile.
    BlockingPoll {
        /// The task.
        task: TaskId,
        /// The traced call whose own code blocked, as `name(args)`.
        function: Option<String>,
        /// How long.
        duration: Duration,
        /// Where the blocking stretch began.
        from: BlockingPlace,
        /// Where it ended.
        to: BlockingPlace,
        /// When it was found (time since the inspector started).
        at: Duration,
    },
    /// Locks taken in orders that form a cycle: tasks running those paths
    /// at the same moment deadlock, though this run did not (yet).
    LockOrderInversion {
        /// The steps of the cycle: each takes the lock the next one holds.
        cycle: Vec<LockOrderStep>,
    },
    /// Locks created at different places taken in orders that form a
    /// cycle, each time on different instances so far (one task locks an
    /// account then a ledger, another a ledger then an account): the day
    /// the instances coincide, the tasks deadlock.
    LockSiteOrderInversion {
        /// The steps of the cycle: each takes a lock created where the
        /// next one's held lock was.
        cycle: Vec<LockOrderStep>,
    },
    /// A task parked between polls, not woken since, with no waker for it
    /// left anywhere: a future returned `Pending` without keeping its
    /// waker, so nothing can ever poll the task again.
    Unwakeable {
        /// The task.
        task: TaskId,
        /// How long it has been parked, at the snapshot.
        parked_for: Duration,
        /// Where it is parked, when known (its await, or the lock or
        /// channel it waits for).
        at: Option<String>,
    },
    /// A task that woke itself from inside its own poll, poll after poll:
    /// it spins, polling for something instead of waiting to be woken.
    SelfWakeStorm {
        /// The task.
        task: TaskId,
        /// Polls in a row that woke the task itself.
        polls: u64,
        /// Over how long.
        over: Duration,
        /// Where it is parked between those polls, when known.
        at: Option<String>,
        /// When it was found (time since the inspector started).
        found_at: Duration,
    },
    /// A task woken but not polled for a long while: no worker thread was
    /// free to poll it.
    SchedulingDelay {
        /// The task.
        task: TaskId,
        /// From the wake to the poll.
        delay: Duration,
        /// Who woke it.
        woken_by: Option<WokenBy>,
        /// A task whose poll blocked its thread meanwhile (its
        /// blocking-poll lint), if one did.
        blocker: Option<TaskId>,
        /// When the poll came (time since the inspector started).
        found_at: Duration,
    },
}

impl Lint {
    /// What kind of lint it is, in snake case (`unwakeable`,
    /// `self_wake_storm`, `scheduling_delay`, `blocking_poll`,
    /// `lock_order_inversion`, `lock_site_order_inversion`): the label
    /// `/metrics` counts it under.
    ///
    /// ```
    /// use async_inspect_model::{Lint, TaskId};
    ///
    /// let lint = Lint::Unwakeable { task: TaskId::from_u64(3), parked_for: Default::default(), at: None };
    /// assert_eq!(lint.kind(), "unwakeable");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BlockingPoll { .. } => "blocking_poll",
            Self::LockOrderInversion { .. } => "lock_order_inversion",
            Self::LockSiteOrderInversion { .. } => "lock_site_order_inversion",
            Self::Unwakeable { .. } => "unwakeable",
            Self::SelfWakeStorm { .. } => "self_wake_storm",
            Self::SchedulingDelay { .. } => "scheduling_delay",
        }
    }

    /// The task the lint is about, for the lints about one task.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Self::BlockingPoll { task, .. }
            | Self::Unwakeable { task, .. }
            | Self::SelfWakeStorm { task, .. }
            | Self::SchedulingDelay { task, .. } => Some(*task),
            Self::LockOrderInversion { .. } | Self::LockSiteOrderInversion { .. } => None,
        }
    }
}

/// One step of a lock-order cycle: a task took a lock while holding
/// another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOrderStep {
    /// The task (the first that did it).
    pub task: TaskId,
    /// The lock it held.
    pub held: ResourceRef,
    /// Where it took the held lock.
    pub held_at: SourceLocation,
    /// Where the held lock was created.
    pub held_created_at: SourceLocation,
    /// The lock it took while holding the other.
    pub took: ResourceRef,
    /// Where it took it.
    pub took_at: SourceLocation,
    /// Where that lock was created.
    pub took_created_at: SourceLocation,
}

/// One end of a blocking stretch of code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "at")]
pub enum BlockingPlace {
    /// The start of the traced fn.
    Start {
        /// The fn's location.
        location: SourceLocation,
    },
    /// An `.await` of the traced fn.
    Await {
        /// The awaited expression.
        expr: Cow<'static, str>,
        /// Where the `.await` is.
        location: SourceLocation,
    },
    /// The end of the traced fn.
    End,
    /// Not known: the code is not traced.
    Unknown,
}

/// How busy a program was between consecutive snapshots: the polls each
/// added, the latest `keep` kept, oldest first (what the terminal UI and
/// the dashboard draw as a sparkline).
///
/// ```
/// use async_inspect_model::snapshot::{Activity, Snapshot, SnapshotParts};
///
/// let mut activity = Activity::new(24);
/// activity.note(&Snapshot::from_parts(SnapshotParts::default()));
/// assert!(activity.samples().is_empty(), "one snapshot: no interval yet");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Activity {
    samples: Vec<u64>,
    last_polls: Option<u64>,
    keep: usize,
}

impl Activity {
    /// Keeps the latest `keep` intervals.
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    /// Notes the next snapshot.
    pub fn note(&mut self, snapshot: &Snapshot) {
        let polls: u64 = snapshot.tasks().iter().map(|t| t.polls).sum();
        if let Some(last) = self.last_polls {
            self.samples.push(polls.saturating_sub(last));
            if self.samples.len() > self.keep {
                self.samples.remove(0);
            }
        }
        self.last_polls = Some(polls);
    }

    /// Polls per interval, oldest first.
    pub fn samples(&self) -> &[u64] {
        &self.samples
    }
}

/// A snapshot of `examples/stuck_request.rs` (tasks parked three traced
/// calls deep, sleeps, timeouts, inspect points), for tests of what reads
/// or encodes snapshots.
#[cfg(test)]
pub(crate) fn sample() -> Snapshot {
    serde_json::from_str(include_str!("../../tests/fixtures/stuck_request.json"))
        .expect("the fixture is a snapshot")
}

/// A snapshot of `examples/deadlock.rs`: two tasks each holding the lock
/// the other waits for.
#[cfg(test)]
pub(crate) fn deadlock_sample() -> Snapshot {
    serde_json::from_str(include_str!("../../tests/fixtures/deadlock.json"))
        .expect("the fixture is a snapshot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_wait_is_parked_at_the_lock_its_holder_and_the_lock_call() {
        let mut snapshot = deadlock_sample();
        let task = &snapshot.tasks()[1];
        assert_eq!(
            task.parked_at().as_deref(),
            Some("Mutex `bob` held by #3 · at examples/deadlock.rs:17:32"),
            "the traced lock().await's line when the wait has none"
        );
        // An untraced task: the wait's own lock() site.
        let task = &mut snapshot.tasks_mut()[1];
        task.frames.clear();
        task.waits[0].frame = None;
        task.waits[0].at = Some(SourceLocation::new("src/bank.rs", 9, 22));
        assert_eq!(
            task.parked_at().as_deref(),
            Some("Mutex `bob` held by #3 · at src/bank.rs:9:22")
        );
    }

    #[test]
    fn a_traced_await_is_parked_at_its_expression_and_line() {
        let snapshot = sample();
        for task in snapshot.tasks() {
            if let Some((_, step)) = task.blocked_at()
                && task
                    .waits
                    .iter()
                    .all(|w| !matches!(w.reason, WaitReason::Lock { .. }))
            {
                assert_eq!(
                    task.parked_at(),
                    Some(format!("{}.await  {}", step.expr, step.location))
                );
            }
        }
    }

    #[test]
    fn keeping_one_task_keeps_only_its_deadlocks() {
        let mut snapshot = deadlock_sample();
        assert_eq!(snapshot.deadlocks().len(), 1);
        let (main, transfer) = (snapshot.tasks()[0].id, snapshot.tasks()[1].id);
        assert_eq!(snapshot.deadlocks_of(main).count(), 0);
        assert_eq!(snapshot.deadlocks_of(transfer).count(), 1);
        let mut only_main = snapshot.clone();
        only_main.retain_tasks(|t| t.id == main);
        assert!(only_main.deadlocks().is_empty());
        snapshot.retain_tasks(|t| t.id == transfer);
        assert_eq!(snapshot.deadlocks().len(), 1);
    }
}
