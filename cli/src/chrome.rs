//! A recording as a Chrome trace (the JSON event format Perfetto and
//! `chrome://tracing` open). Each task has a track named after it, where
//! each traced call is a slice with the `.await` it is parked on nested
//! inside and its inspect points are instants; and, beside it, tracks for
//! its state (running, idle, blocked), its waits (a lock, a sleep, a task)
//! and the locks it holds, which need not nest within its calls.
//!
//! A recording holds snapshots at an interval, so a slice starts and ends
//! at the snapshots that first and last saw it: its edges are as sharp as
//! the interval.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_inspect_core::trace_file::Trace;
use async_inspect_core::{Snapshot, TaskInfo, WaitReason};
use serde_json::{Value, json};

/// A slice open on a task's track: its name, category and start.
struct Open {
    name: String,
    category: &'static str,
    start: Duration,
}

/// A task's tracks: its calls, then its state, waits and holds beside.
const LANES: [&str; 4] = ["", " · state", " · waits", " · holds"];

/// The track of `lane` of the task `task`.
fn track(task: u64, lane: usize) -> u64 {
    task * LANES.len() as u64 + lane as u64
}

/// The Chrome trace of `trace`.
pub fn chrome_trace(trace: &Trace) -> Value {
    let mut events = Vec::new();
    // By task: the slices open on its track, by key.
    let mut open: BTreeMap<u64, BTreeMap<String, Open>> = BTreeMap::new();
    let mut named = HashSet::new();
    let mut instants = HashSet::new();
    let pid = trace.pid;
    let Some(origin) = trace.snapshots.first().map(Snapshot::taken_at) else {
        return json!({ "traceEvents": events });
    };
    let micros = |at: Duration| at.saturating_sub(origin).as_secs_f64() * 1e6;
    for snapshot in &trace.snapshots {
        let now = snapshot.taken_at();
        let mut seen: BTreeMap<u64, BTreeMap<String, Open>> = BTreeMap::new();
        for task in snapshot.tasks() {
            let id = task.id.as_u64();
            let tid = track(id, 0);
            if named.insert(id) {
                for (lane, suffix) in LANES.iter().enumerate() {
                    events.push(json!({
                        "ph": "M", "name": "thread_name", "pid": pid, "tid": track(id, lane),
                        "args": { "name": format!("#{id} {}{suffix}", task.name) },
                    }));
                }
            }
            for point in &task.points {
                if point.at >= origin && instants.insert((tid, point.at, point.label.clone())) {
                    events.push(json!({
                        "ph": "i", "s": "t", "name": point.label, "cat": "inspect point",
                        "pid": pid, "tid": tid, "ts": micros(point.at),
                        "args": { "value": point.value, "at": point.location.to_string() },
                    }));
                }
            }
            if task.state.is_finished() {
                continue;
            }
            for (lane, key, name, category) in slices_of(task) {
                let spans = seen.entry(track(id, lane)).or_default();
                spans.insert(
                    key,
                    Open {
                        name,
                        category,
                        start: now,
                    },
                );
            }
        }
        // Close what is gone; keep what goes on from where it started.
        for (tid, spans) in &mut open {
            let current = seen.entry(*tid).or_default();
            for (key, span) in std::mem::take(spans) {
                match current.get_mut(&key) {
                    // Still there: it started back then.
                    Some(still) => still.start = span.start,
                    None => events.push(slice(pid, *tid, &span, now, &micros)),
                }
            }
        }
        open = seen;
    }
    let end = trace.snapshots.last().map_or(origin, Snapshot::taken_at);
    for (tid, spans) in open {
        for span in spans.values() {
            events.push(slice(pid, tid, span, end, &micros));
        }
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": { "program": trace.program, "pid": trace.pid },
    })
}

fn slice(
    pid: u32,
    tid: u64,
    span: &Open,
    end: Duration,
    micros: &dyn Fn(Duration) -> f64,
) -> Value {
    let start = micros(span.start);
    json!({
        "ph": "X", "name": span.name, "cat": span.category, "pid": pid, "tid": tid,
        "ts": start, "dur": (micros(end) - start).max(0.0),
    })
}

/// The slices a task is in at one snapshot: lane, key, name, category.
/// Keys order a lane's slices outermost first, so nested slices start no
/// earlier than their parents.
fn slices_of(task: &TaskInfo) -> Vec<(usize, String, String, &'static str)> {
    let state = task.state.label().to_lowercase();
    let mut slices = vec![(1, format!("state {state}"), state, "state")];
    let depth = |mut frame: Option<u32>| {
        let mut depth = 0;
        while let Some(id) = frame {
            depth += 1;
            frame = task
                .frames
                .iter()
                .find(|f| f.id == id)
                .and_then(|f| f.parent);
        }
        depth
    };
    for frame in &task.frames {
        let level = depth(Some(frame.id));
        let call = match &frame.args {
            Some(args) => format!("{}({args})", frame.function),
            None => format!("{}()", frame.function),
        };
        let key = format!("frame {level:03} {}", frame.id);
        slices.push((0, key, call, "traced call"));
        if let Some(step) = frame.current_await() {
            slices.push((
                0,
                format!("frame {level:03} {} await {}", frame.id, step.step),
                format!("{}.await", step.expr),
                "await",
            ));
        }
    }
    for wait in &task.waits {
        let what = match &wait.reason {
            WaitReason::Sleep { .. } => "sleep".to_owned(),
            WaitReason::Join { task } => format!("join task #{task}"),
            WaitReason::Lock { resource, .. } => {
                format!("wait for {} `{}`", resource.kind, resource.name)
            }
            WaitReason::Channel { end, .. } => format!("wait on channel `{}`", end.name),
            WaitReason::Other(text) => text.clone(),
            _ => "wait".to_owned(),
        };
        slices.push((2, format!("wait {what}"), what, "wait"));
    }
    for held in &task.holds {
        let name = format!("holds {} `{}`", held.resource.kind, held.resource.name);
        slices.push((3, format!("hold {}", held.resource.id), name, "hold"));
    }
    slices
}
