//! Builds a [`Snapshot`] from the live registry.

use std::borrow::Cow;
use std::process;
use std::sync::Arc;

use super::{
    AwaitStep, Counters, FORMAT_VERSION, FrameInfo, InspectPoint, Instrumentation, Snapshot,
    SourceLocation, StepStatus, TaskInfo, TaskState, WaitInfo, WaitReason,
};
use crate::clock::to_duration;
use crate::task::detail::{Detail, FrameId, FrameRecord};
use crate::task::{Phase, TaskCell, WaitKind};
use crate::{clock, config, lint, registry};

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
    let mut tasks = Vec::with_capacity(registry::live_count());
    registry::for_each(|cell| tasks.push(task_info(cell, now)));
    tasks.sort_unstable_by_key(|t| t.id);
    let (lints, lints_dropped) = lint::all();
    let totals = registry::totals();
    Snapshot {
        format_version: FORMAT_VERSION,
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
        counters: Counters {
            tasks_spawned: totals.spawned,
            tasks_finished: totals.finished,
            finished_evicted: totals.evicted,
            lints_dropped,
        },
    }
}

fn task_info(cell: &Arc<TaskCell>, now: u64) -> TaskInfo {
    let phase = cell.phase();
    let created = cell.created_at();
    let last_start = cell.last_poll_start();
    let last_end = cell.last_poll_end();
    let busy = cell.busy_ns();
    let detail = cell.detail();
    let frames: Vec<FrameInfo> = detail
        .frames
        .iter()
        .map(|frame| frame_info(frame, &detail))
        .collect();
    let waits: Vec<WaitInfo> = detail
        .waits
        .iter()
        .map(|wait| WaitInfo {
            frame: wait.frame.map(|f| f.0),
            reason: match &wait.kind {
                WaitKind::Sleep { until } => WaitReason::Sleep {
                    until: to_duration(*until),
                },
                WaitKind::Join { task } => WaitReason::Join { task: *task },
                WaitKind::Other(text) => WaitReason::Other(text.to_string()),
            },
            since: to_duration(wait.since),
            timeout_at: nearest_timeout(&detail, wait.frame),
        })
        .collect();
    let points = detail
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
    let name = match (cell.given_name(), detail.root_fn) {
        (Some(name), _) => name.to_owned(),
        (None, Some(info)) => info.name.to_owned(),
        (None, None) => {
            let l = cell.location();
            format!("{}:{}:{}", l.file(), l.line(), l.column())
        }
    };
    let panic = detail.panic.as_deref().map(str::to_owned);
    drop(detail);

    let (state, state_since) = match phase {
        Phase::Running => (TaskState::Running, last_start),
        Phase::New => (TaskState::Idle, created),
        Phase::Pending => {
            let parked = !waits.is_empty() || frames.iter().any(|f| f.current_await().is_some());
            let state = if parked {
                TaskState::Blocked
            } else {
                TaskState::Idle
            };
            (state, last_end)
        }
        Phase::Done => (TaskState::Done, last_end),
        Phase::Panicked => (TaskState::Panicked, last_end),
        Phase::Aborted => (TaskState::Aborted, last_end),
    };
    let end = if phase.is_finished() { last_end } else { now };
    let age = end.saturating_sub(created);
    let location = cell.location();
    TaskInfo {
        id: cell.id(),
        name,
        kind: cell.kind(),
        location: SourceLocation::new(location.file(), location.line(), location.column()),
        parent: cell.parent(),
        state,
        state_since: to_duration(state_since),
        spawned_at: to_duration(created),
        age: to_duration(age),
        busy: to_duration(busy.min(age)),
        idle: to_duration(age.saturating_sub(busy)),
        polls: cell.polls(),
        wakes: cell.wakes(),
        woken_by: cell.woken_by(),
        last_poll_at: (last_end > 0).then(|| to_duration(last_end)),
        frames,
        waits,
        points,
        panic,
    }
}

fn frame_info(frame: &FrameRecord, detail: &Detail) -> FrameInfo {
    let info = frame.info;
    let of = u16::try_from(info.awaits.len()).unwrap_or(u16::MAX);
    let awaits = info
        .awaits
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            let status = match (frame.current, frame.steps.get(i)) {
                (Some(current), _) if current.index == index => StepStatus::InProgress {
                    since: to_duration(current.since),
                },
                (_, Some(step)) if step.completed > 0 => StepStatus::Completed {
                    times: step.completed,
                    last: to_duration(step.last),
                    total: to_duration(step.total),
                },
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
        id: frame.id.0,
        parent: frame.parent.map(|p| p.0),
        function: Cow::Borrowed(info.name),
        module_path: Cow::Borrowed(info.module_path),
        args: frame.args.as_deref().map(str::to_owned),
        location: SourceLocation::new(info.file, info.line, info.column),
        entered_at: to_duration(frame.entered_at),
        awaits,
        timeout_at: nearest_timeout(detail, Some(frame.id)),
    }
}

/// The earliest deadline among the inspected timeouts registered in `frame`
/// or any frame enclosing it (or at the task's root).
fn nearest_timeout(detail: &Detail, frame: Option<FrameId>) -> Option<std::time::Duration> {
    if detail.timeouts.is_empty() {
        return None;
    }
    let mut enclosing = vec![None];
    let mut cursor = frame;
    while let Some(id) = cursor {
        enclosing.push(Some(id));
        cursor = detail.frame(id).and_then(|f| f.parent);
    }
    detail
        .timeouts
        .iter()
        .filter(|t| enclosing.contains(&t.frame))
        .map(|t| t.deadline)
        .min()
        .map(to_duration)
}
