//! Taking a [`Snapshot`] of the live registry: [`snapshot()`]. The
//! snapshot's types are the model's ([`async_inspect_model::snapshot`]),
//! re-exported here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::process;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use async_inspect_model::snapshot::*;

use crate::clock::to_duration;
use crate::record::NamedResource;
use crate::resource::ResourceCell;
use crate::site::FnInfo;
use crate::task::detail::{Cancelled, Detail, Ending};
use crate::task::registry;
use crate::task::{FrameCell, Phase, TaskCell, TaskId, TaskResource, WaitKind};
use crate::{clock, config, lint};

/// The waits for locks and channel ends of every task that has one, as the
/// wait-for graph keeps them (their timeouts are the task's, filled in with
/// the rest of its waits).
type LockWaits = HashMap<TaskId, Vec<WaitInfo>>;

/// Takes a snapshot of every live task and the retained finished ones.
///
/// Runs on the calling thread and never waits for a task's poll: it holds
/// each task's own guard only to copy its frames.
///
/// ```
/// let snapshot = async_inspect_core::snapshot();
/// assert_eq!(snapshot.format_version(), async_inspect_core::snapshot::FORMAT_VERSION);
/// ```
pub fn snapshot() -> Snapshot {
    config::init();
    let now = clock::precise_now().max(clock::now());
    // Deadlocks first: a standing one never resolves by itself, so its tasks
    // read afterwards still show its waits. Read last, a cycle that closed
    // meanwhile would name tasks whose waits the snapshot does not have.
    // One found a moment before its last wait was published is held back
    // (see `shows_every_wait`) until the next snapshot.
    let mut deadlocks = crate::resource::current_deadlocks();
    // Read after them for the same reason: a wait of a standing deadlock
    // is still in the graph.
    let lock_waits = lock_waits(None, true).unwrap_or_default();
    let resources: Vec<ResourceInfo> = crate::resource::all()
        .iter()
        .map(|r| resource_info(r))
        .collect();
    let mut held: HashMap<TaskId, Vec<HeldLock>> = HashMap::new();
    for info in &resources {
        for holder in &info.holders {
            held.entry(holder.task).or_default().push(HeldLock {
                resource: info.resource.clone(),
                acquired_at: holder.acquired_at.clone(),
                since: holder.since,
                permits: holder.permits,
                taken_by: None,
            });
        }
    }
    // Sorted as pointers, not as the much larger task infos.
    let mut cells = registry::all();
    let mut tasks = capture_tasks(&mut cells, &lock_waits, now);
    drop(cells);
    for info in &mut tasks {
        if held.is_empty() {
            break;
        }
        if let Some(holds) = held.remove(&info.id) {
            info.holds = holds;
        }
    }
    deadlocks.retain(|d| shows_every_wait(d, &tasks));
    let (mut lints, lints_dropped) = lint::all();
    lints.extend(unwakeable(&tasks, to_duration(now)));
    let totals = registry::totals();
    Snapshot::from_parts(SnapshotParts {
        instrumentation: if config::enabled() {
            Instrumentation::Enabled
        } else {
            Instrumentation::DisabledAtRuntime
        },
        taken_at: to_duration(now),
        started_at_unix: clock::started_at_unix(),
        pid: process::id(),
        tasks,
        lints,
        deadlocks,
        resources,
        counters: Counters {
            tasks_spawned: totals.spawned,
            tasks_finished: totals.finished,
            finished_evicted: totals.evicted,
            lints_dropped,
            events_dropped: crate::record::events_dropped(),
        },
        lock_sites: crate::resource::sites::all(),
        scheduling_delays: crate::task::waker::delays(),
    })
}

/// A lint for each task parked with no waker for it left and no wake
/// since its latest poll began: nothing can poll it again.
fn unwakeable(tasks: &[TaskInfo], taken_at: Duration) -> impl Iterator<Item = Lint> + '_ {
    tasks
        .iter()
        .filter(|task| task.unwakeable())
        .map(move |task| Lint::Unwakeable {
            task: task.id,
            parked_for: taken_at.saturating_sub(task.state_since),
            at: None,
        })
}

/// Below this many tasks a snapshot is taken on the calling thread alone.
const PARALLEL_FROM: usize = 16_384;

/// Tasks are handed out to the capturing threads this many at a time.
const CHUNK: usize = 2_048;

/// The info of every cell, in order. Many tasks are captured by up to four
/// threads (the caller and helpers named `async-inspect-snapshot`, living
/// for this snapshot only), each taking the next chunk of tasks as it is
/// done with one; if no helper can be started, the caller does it all.
///
/// Each record is let go of (taken out of `cells`) by the thread that
/// read it, right after, while its line is in that thread's cache:
/// dropping them all afterwards on the calling thread read 100 000 cold
/// records once more, 1.4 ms of W6's snapshot.
fn capture_tasks(
    cells: &mut [(TaskId, Option<Arc<TaskCell>>)],
    lock_waits: &LockWaits,
    now: u64,
) -> Vec<TaskInfo> {
    // Read once: on Linux it reads the cgroup's CPU quota from files.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let helpers = if cells.len() < PARALLEL_FROM {
        0
    } else {
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
            - 1
    };
    if helpers == 0 {
        let mut tasks = Vec::with_capacity(cells.len());
        capture_chunk(cells, |info| tasks.push(info), lock_waits, now);
        return tasks;
    }
    let mut tasks: Vec<TaskInfo> = Vec::with_capacity(cells.len());
    huge_pages(&mut tasks);
    let count = cells.len();
    let work: Vec<Mutex<Option<Chunk<'_, '_>>>> = cells
        .chunks_mut(CHUNK)
        .zip(tasks.spare_capacity_mut()[..count].chunks_mut(CHUNK))
        .map(|chunk| Mutex::new(Some(chunk)))
        .collect();
    let next = AtomicUsize::new(0);
    let take_chunks = || {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = work.get(index) else { return };
            let taken = chunk.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((cells, out)) = taken {
                let mut slots = out.iter_mut();
                capture_chunk(
                    cells,
                    |info| {
                        slots
                            .next()
                            .expect("a slot for every cell of the chunk")
                            .write(info);
                    },
                    lock_waits,
                    now,
                );
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            let started = std::thread::Builder::new()
                .name("async-inspect-snapshot".into())
                .spawn_scoped(scope, take_chunks);
            if started.is_err() {
                break;
            }
        }
        take_chunks();
    });
    // SAFETY: every chunk was taken and each of its slots written: the
    // calling thread took chunks until none was left, and the scope joined
    // the helpers (a panic in any of them would have ended this function
    // before here). The slots are the first `count` of the capacity.
    unsafe { tasks.set_len(count) };
    tasks
}

/// How many tasks ahead of the one it reads a capture asks the processor
/// for a record…
const RECORD_AHEAD: usize = 8;
/// …and for a detail (through the record's hint, fetched by then).
const DETAIL_AHEAD: usize = 4;

/// Captures `cells` in order, handing each info to `out`, and lets go of
/// each record once read (see [`capture_tasks`]). The records of parked
/// tasks are cold, and reading one is a chain of misses (the record, then
/// its detail, then its frames): the records and details of the next
/// tasks are fetched meanwhile, so that their misses overlap this task's.
fn capture_chunk(
    cells: &mut [(TaskId, Option<Arc<TaskCell>>)],
    mut out: impl FnMut(TaskInfo),
    lock_waits: &LockWaits,
    now: u64,
) {
    fn ahead(cells: &[(TaskId, Option<Arc<TaskCell>>)], at: usize) -> Option<&Arc<TaskCell>> {
        cells.get(at).and_then(|(_, cell)| cell.as_ref())
    }
    for at in 0..RECORD_AHEAD {
        if let Some(cell) = ahead(cells, at) {
            cell.prefetch_record();
        }
    }
    for index in 0..cells.len() {
        if let Some(cell) = ahead(cells, index + RECORD_AHEAD) {
            cell.prefetch_record();
        }
        if let Some(cell) = ahead(cells, index + DETAIL_AHEAD) {
            cell.prefetch_whole_detail();
        }
        let cell = cells[index].1.take().expect("each record is captured once");
        out(task_info(&cell, lock_waits, now));
    }
}

/// Asks the kernel to back `buffer`'s spare capacity with transparent huge
/// pages, where it offers them only to those who ask (Linux's `madvise`
/// mode, the common default): a snapshot of 100 000 tasks writes some
/// 55 MB of fresh memory, and faulting it in 4 KiB at a time was a third
/// of its time. Only whole 2 MiB pages inside the buffer are advised, so
/// no other allocation is touched; the advice changes no byte.
#[cfg(target_os = "linux")]
fn huge_pages<T>(buffer: &mut Vec<T>) {
    const HUGE_PAGE: usize = 2 << 20;
    let spare = buffer.spare_capacity_mut();
    let start = spare.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(spare);
    let (first, last) = (
        start.next_multiple_of(HUGE_PAGE),
        end / HUGE_PAGE * HUGE_PAGE,
    );
    if last > first {
        // SAFETY: the range lies inside memory this buffer owns, and the
        // advice only says how the kernel may back it; its result does
        // not matter (an older kernel, or huge pages turned off).
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            )
        };
    }
}

#[cfg(not(target_os = "linux"))]
fn huge_pages<T>(_: &mut Vec<T>) {}

/// Cells to capture and the slots their infos go to.
type Chunk<'c, 'o> = (
    &'c mut [(TaskId, Option<Arc<TaskCell>>)],
    &'o mut [std::mem::MaybeUninit<TaskInfo>],
);

/// The task this thread is polling, as a snapshot would show it now (its
/// traced frames, awaits and waits): what a panic hook prints while the
/// task's frames are still alive. `None` outside a task, or when its
/// record is being written this instant (a panic inside the inspector's
/// own bookkeeping must not wait on itself).
pub fn current_task() -> Option<TaskInfo> {
    let cell = crate::task::context::current_cell()?;
    if !cell.detail_free() {
        return None;
    }
    // Without its lock waits if the graph is busy: this thread may be the
    // one holding it.
    let lock_waits = lock_waits(Some(cell.id()), false).unwrap_or_default();
    Some(task_info(&cell, &lock_waits, crate::clock::now()))
}

/// The waits for locks and channel ends of task `only` (of every task if
/// `None`); `None` if `wait` is false and the graph is busy.
fn lock_waits(only: Option<TaskId>, wait: bool) -> Option<LockWaits> {
    let mut waits = LockWaits::new();
    for wait in crate::resource::lock_waits(only, wait)? {
        let resource = &*wait.resource;
        let (resource_ref, holders) = (resource_ref(resource), TaskResource::holders(resource));
        waits.entry(wait.task).or_default().push(WaitInfo {
            frame: wait.frame,
            reason: if resource.kind().is_lock() {
                WaitReason::Lock {
                    resource: resource_ref,
                    holders,
                }
            } else {
                WaitReason::Channel {
                    end: resource_ref,
                    holders,
                }
            },
            since: to_duration(wait.since),
            timeout_at: None,
            at: Some(SourceLocation::new(
                wait.site.file(),
                wait.site.line(),
                wait.site.column(),
            )),
        });
    }
    Some(waits)
}

fn task_info(cell: &Arc<TaskCell>, lock_waits: &LockWaits, now: u64) -> TaskInfo {
    let (phase, phase_since) = cell.phase();
    let created = cell.created_at();
    let busy = cell.busy_ns();
    let polls = cell.polls();
    let location = cell.location();
    let mut info = TaskInfo {
        id: cell.id(),
        name: Cow::Borrowed(""),
        kind: cell.kind(),
        location: SourceLocation::new(location.file(), location.line(), location.column()),
        parent: cell.parent(),
        state: TaskState::Idle,
        state_since: to_duration(phase_since),
        spawned_at: to_duration(created),
        age: Duration::ZERO,
        busy: Duration::ZERO,
        idle: Duration::ZERO,
        polls,
        wakes: cell.wakes(),
        wake: WakeInfo::default(),
        last_poll_at: None,
        frames: Vec::new(),
        waits: Vec::new(),
        points: Vec::new(),
        panic: None,
        holds: Vec::new(),
        host_task: None,
        spans: Vec::new(),
        trace_id: None,
        serves: None,
        future: if phase.is_finished() {
            None
        } else {
            cell.future_location()
        },
        state_machine: None,
        cancelled_at: None,
    };
    let mut waits_for_locks = lock_waits.get(&cell.id()).cloned().unwrap_or_default();
    cell.read_slot(|slot| {
        let detail = slot.get();
        info.wake = cell.wake_info(detail, (phase, polls));
        info.name = cell.name_with(slot);
        // An adopted task starts where its root traced fn is.
        if info.kind == crate::TaskKind::Adopted
            && let Some((root, _)) = slot.root()
        {
            info.location = SourceLocation::new(root.file, root.line, root.column);
        }
        let Some(detail) = detail else { return };
        for wait in &mut waits_for_locks {
            wait.timeout_at = nearest_timeout(detail, wait.frame);
        }
        let rare = detail.rare();
        match rare.ending.as_deref() {
            Some(Ending::Panicked(message)) => info.panic = Some(message.to_string()),
            Some(Ending::Cancelled(cancelled)) => {
                info.cancelled_at = Some(Box::new(cancelled_at(cancelled)));
            }
            None => {}
        }
        info.host_task = rare.host.as_deref().map(str::to_owned);
        (info.spans, info.trace_id) =
            crate::span::shown(rare.span.as_ref(), rare.spawned_in.as_ref());
        info.serves = rare.serves.as_deref().cloned().map(Box::new);
        if info.trace_id.is_none() {
            info.trace_id = info.serves.as_ref().map(|call| call.trace_id.clone());
        }
        let timeout_for = |frame: Option<u32>| nearest_timeout(detail, frame);
        info.frames = detail
            .frames
            .iter()
            // SAFETY: the task's guard is held for this whole closure, and
            // a frame is removed under it before its memory goes.
            .filter(|f| !unsafe { f.is_dead() })
            .map(|f| {
                // SAFETY: as above.
                let f = unsafe { f.get() };
                frame_info(f, timeout_for(Some(f.id)))
            })
            .collect();
        info.waits = detail
            .waits
            .iter()
            .filter(|wait| !wait.ended)
            .map(|wait| WaitInfo {
                frame: wait.frame,
                reason: match &wait.kind {
                    WaitKind::Sleep { until } => WaitReason::Sleep {
                        until: to_duration(*until),
                    },
                    WaitKind::Join { task } => WaitReason::Join { task: *task },
                    WaitKind::Other(text) => WaitReason::Other(text.to_string()),
                    WaitKind::Remote(call) => WaitReason::Remote((**call).clone()),
                    WaitKind::Paused { breakpoint, place } => WaitReason::Paused {
                        breakpoint: *breakpoint,
                        place: place.clone(),
                    },
                },
                since: to_duration(wait.since),
                timeout_at: timeout_for(wait.frame),
                at: None,
            })
            .collect();
        info.points = rare
            .points
            .iter()
            .map(|point| InspectPoint {
                label: point.label.to_string(),
                value: point.value.as_deref().map(str::to_owned),
                location: SourceLocation::new(
                    point.location.file(),
                    point.location.line(),
                    point.location.column(),
                ),
                function: point.function.map(Cow::Borrowed),
                at: to_duration(point.at),
            })
            .collect();
    });
    if !waits_for_locks.is_empty() {
        // In the order they began (a stable sort: the graph's own order
        // among its waits stays).
        info.waits.extend(waits_for_locks);
        info.waits.sort_by_key(|wait| wait.since);
    }
    info.state = match phase {
        Phase::Running => TaskState::Running,
        Phase::New => TaskState::Idle,
        Phase::Pending => {
            let parked =
                !info.waits.is_empty() || info.frames.iter().any(|f| f.current_await().is_some());
            if parked {
                TaskState::Blocked
            } else {
                TaskState::Idle
            }
        }
        Phase::Done => TaskState::Done,
        Phase::Panicked => TaskState::Panicked,
        Phase::Aborted => TaskState::Aborted,
    };
    let end = if phase.is_finished() {
        phase_since
    } else {
        now
    };
    let age = end.saturating_sub(created);
    info.age = to_duration(age);
    info.busy = to_duration(busy.min(age));
    info.idle = to_duration(age.saturating_sub(busy));
    // Between polls (and after the last), the phase began when a poll
    // ended; inside a poll, it began when that poll started.
    let between_polls = phase == Phase::Pending || (phase.is_finished() && polls > 0);
    info.last_poll_at = between_polls.then(|| to_duration(phase_since));
    info
}

fn cancelled_at(cancelled: &Cancelled) -> CancelledAt {
    let info = cancelled.info;
    CancelledAt {
        function: function_name(info, (cancelled.owner)()),
        args: cancelled.args.clone(),
        location: SourceLocation::new(info.file, info.line, info.column),
        at: cancelled.at.and_then(|(index, since)| {
            let point = info.awaits.get(usize::from(index))?;
            Some(AwaitStep {
                step: index.saturating_add(1),
                of: u16::try_from(info.awaits.len()).unwrap_or(u16::MAX),
                expr: Cow::Borrowed(point.expr),
                location: SourceLocation::new(info.file, point.line, point.column),
                status: StepStatus::InProgress {
                    since: to_duration(since),
                },
            })
        }),
        depth: cancelled.depth,
    }
}

/// A traced fn's name, with the `Self` type of a method.
fn function_name(info: &'static FnInfo, owner: Option<&'static str>) -> Cow<'static, str> {
    match owner {
        None => Cow::Borrowed(info.name),
        owner => Cow::Owned(crate::site::qualified(info.name, owner)),
    }
}

fn frame_info(frame: &FrameCell, timeout_at: Option<Duration>) -> FrameInfo {
    let info = frame.info;
    let of = u16::try_from(info.awaits.len()).unwrap_or(u16::MAX);
    let current = frame.current();
    let awaits = info
        .awaits
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            let completed = frame
                .steps
                .get(i)
                .map_or(0, |s| s.completed.load(Ordering::Relaxed));
            let status = match current {
                Some((at, since)) if at == index => StepStatus::InProgress {
                    since: to_duration(since),
                },
                _ if completed > 0 => {
                    let step = frame.steps.get(i).expect("counted above");
                    StepStatus::Completed {
                        times: completed,
                        last: Duration::from_micros(u64::from(
                            step.last_us.load(Ordering::Relaxed),
                        )),
                        total: to_duration(step.total.load(Ordering::Relaxed)),
                    }
                }
                _ => StepStatus::NotStarted,
            };
            AwaitStep {
                step: index.saturating_add(1),
                of,
                expr: Cow::Borrowed(a.expr),
                location: SourceLocation::new(info.file, a.line, a.column),
                status,
            }
        })
        .collect();
    FrameInfo {
        id: frame.id,
        parent: (frame.parent != 0).then_some(frame.parent),
        function: function_name(info, (frame.owner)()),
        module_path: Cow::Borrowed(info.module_path),
        args: frame.args.text(info),
        location: SourceLocation::new(info.file, info.line, info.column),
        entered_at: to_duration(frame.entered_at),
        awaits,
        timeout_at,
    }
}

/// The earliest deadline among the inspected timeouts registered in `frame`
/// or any frame enclosing it (or at the task's root).
fn nearest_timeout(detail: &Detail, frame: Option<u32>) -> Option<Duration> {
    let timeouts = &detail.rare().timeouts;
    if timeouts.is_empty() {
        return None;
    }
    let mut enclosing = vec![None];
    let mut cursor = frame;
    while let Some(id) = cursor {
        enclosing.push(Some(id));
        cursor = detail
            .frames
            .iter()
            // SAFETY: the caller holds the task's guard (see `task_info`).
            .map(|f| unsafe { f.get() })
            .find(|f| f.id == id)
            .and_then(|f| (f.parent != 0).then_some(f.parent));
    }
    timeouts
        .iter()
        .filter(|t| enclosing.contains(&t.frame))
        .map(|t| t.deadline)
        .min()
        .map(to_duration)
}

/// Whether every task of `deadlock` is in `tasks` (sorted by id) with the
/// wait the cycle goes through.
fn shows_every_wait(deadlock: &Deadlock, tasks: &[TaskInfo]) -> bool {
    deadlock.cycle.iter().all(|link| {
        let Ok(index) = tasks.binary_search_by_key(&link.task, |t| t.id) else {
            return false;
        };
        tasks[index]
            .waits
            .iter()
            .any(|wait| match (&wait.reason, &link.resource) {
                (
                    WaitReason::Lock { resource, .. } | WaitReason::Channel { end: resource, .. },
                    Some(link),
                ) => resource.id == link.id,
                (WaitReason::Join { task }, None) => *task == link.held_by,
                _ => false,
            })
    })
}

fn resource_ref(resource: &(impl NamedResource + ?Sized)) -> ResourceRef {
    ResourceRef {
        id: resource.id(),
        kind: resource.kind(),
        name: resource.label(),
    }
}

fn resource_info(resource: &ResourceCell) -> ResourceInfo {
    let counters = resource.counters();
    let created = resource.created_at();
    ResourceInfo {
        resource: resource_ref(resource),
        created_at: SourceLocation::new(created.file(), created.line(), created.column()),
        holders: TaskResource::holders(resource),
        waiters: counters.waiters,
        acquisitions: counters.acquisitions,
        contended: counters.contended,
        total_wait: to_duration(counters.wait_total),
        max_wait: to_duration(counters.wait_max),
        max_waiters: counters.queue_max,
        longest_hold: counters.hold_max.map(|(held, task, site)| LongestHold {
            task: (task != 0).then(|| TaskId::from_u64(task)),
            acquired_at: SourceLocation::new(site.file(), site.line(), site.column()),
            held_for: to_duration(held),
        }),
    }
}
#[cfg(test)]
mod tests {
    use std::future::Future;

    use crate::{Inspected, TaskKind};

    #[test]
    fn keep_recent_finished_keeps_exactly_that_many_and_every_live_task() {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        for _ in 0..5 {
            let task = Inspected::new(async {}, TaskKind::Spawned, None);
            futures::executor::block_on(task);
        }
        let mut live = Box::pin(Inspected::new(
            std::future::pending::<()>(),
            TaskKind::Spawned,
            None,
        ));
        let live_id = live.id().unwrap();
        assert!(live.as_mut().poll(&mut cx).is_pending());
        let mut snapshot = crate::snapshot();
        snapshot.keep_recent_finished(2);
        let finished = snapshot.tasks().iter().filter(|t| t.state.is_finished());
        assert_eq!(finished.count(), 2);
        assert!(snapshot.task(live_id).is_some());
        snapshot.keep_recent_finished(0);
        assert!(snapshot.tasks().iter().all(|t| !t.state.is_finished()));
    }
}
