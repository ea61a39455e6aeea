//! A recording as a Chrome trace (the JSON event format Perfetto and
//! `chrome://tracing` open). Each task has a track named after it, where
//! each traced call is a slice with the `.await` it is parked on nested
//! inside and its inspect points are instants; and, beside it, tracks for
//! its state (running, idle, blocked), its waits (a lock, a sleep, a task)
//! and the locks it holds, which need not nest within its calls.
//!
//! A recording with events (`record` asks for them) gives exact slices:
//! the calls and awaits on the task's track, each poll on its `polls`
//! track, lock waits and holds beside. One with snapshots only (recorded by
//! an older agent) gives slices that start and end at the snapshots that
//! first and last saw them: their edges are as sharp as the interval.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_inspect_model::event::Event;
use async_inspect_model::trace_file::Trace;
use async_inspect_model::{Snapshot, TaskInfo, WaitReason};
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

/// The Chrome trace of `trace` (what `export --format chrome` writes and
/// the dashboard's export offers).
pub fn chrome_trace(trace: &Trace) -> Value {
    if trace.events.is_empty() {
        from_snapshots(trace)
    } else {
        from_events(trace)
    }
}

/// The tracks of a task in a recording with events.
const EVENT_LANES: [&str; 4] = ["", " · polls", " · waits", " · holds"];

/// A slice begun and not yet ended, by what ends it.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Frame(u64, u32),
    Await(u64, u32, u16),
    Wait(u64, u64),
    Hold(u64, u64),
}

fn from_events(trace: &Trace) -> Value {
    let pid = trace.pid;
    let first_event = trace.events.first().map_or(u64::MAX, |e| e.start());
    let first_snapshot = trace
        .snapshots
        .first()
        .map_or(u64::MAX, |s| s.taken_at().as_nanos() as u64);
    let origin = first_event.min(first_snapshot);
    let micros = |at: u64| at.saturating_sub(origin) as f64 / 1e3;
    let end = trace.events.iter().map(Event::at).max().unwrap_or(origin);
    // Names: as spawned, else as the snapshots knew the task.
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for snapshot in &trace.snapshots {
        for task in snapshot.tasks() {
            names
                .entry(task.id.as_u64())
                .or_insert_with(|| task.name.to_string());
        }
    }
    for event in &trace.events {
        if let Event::Spawn { task, name, .. } = event {
            names.insert(*task, name.clone());
        }
    }
    let mut out = Vec::new();
    let mut named = HashSet::new();
    type Open = BTreeMap<Key, Vec<(u64, String, &'static str)>>;
    let mut open = Open::new();
    // The traced fn of each frame, for its awaits' names.
    let mut sites: HashMap<(u64, u32), u32> = HashMap::new();
    // Wake arrows begun, by the task they will end at.
    let mut woken: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut flows = 0_u64;
    seed_from_snapshot(trace, &mut open);
    let resource = |id: u64| match trace.resource(id) {
        Some(r) => format!("{} `{}`", r.kind, r.label),
        None => format!("resource #{id}"),
    };
    for event in &trace.events {
        let task = event.task();
        if task != 0 && named.insert(task) {
            let name = names.get(&task).map_or("", String::as_str);
            for (lane, suffix) in EVENT_LANES.iter().enumerate() {
                out.push(json!({
                    "ph": "M", "name": "thread_name", "pid": pid, "tid": track(task, lane),
                    "args": { "name": format!("#{task} {name}{suffix}") },
                }));
            }
        }
        let begin = |open: &mut Open, key: Key, at: u64, name: String, category| {
            open.entry(key).or_default().push((at, name, category));
        };
        let finish = |open: &mut Open, out: &mut Vec<Value>, key: Key, lane: usize, at: u64| {
            if let Some((start, name, category)) = open.get_mut(&key).and_then(Vec::pop) {
                out.push(json!({
                    "ph": "X", "name": name, "cat": category, "pid": pid,
                    "tid": track(task, lane), "ts": micros(start),
                    "dur": micros(at) - micros(start),
                }));
            }
        };
        match event {
            Event::Poll { start, end, .. } => {
                out.push(json!({
                    "ph": "X", "name": "poll", "cat": "poll", "pid": pid, "tid": track(task, 1),
                    "ts": micros(*start), "dur": micros(*end) - micros(*start),
                }));
                // The arrows of the wakes that brought this poll end here.
                for id in woken.remove(&task).unwrap_or_default() {
                    out.push(json!({
                        "ph": "f", "bp": "e", "id": id, "name": "wake", "cat": "wake",
                        "pid": pid, "tid": track(task, 1), "ts": micros(*start),
                    }));
                }
            }
            // Another task's wake: an arrow from its poll to the poll the
            // wake brought (self-wakes and wakes from outside any task
            // draw none).
            Event::Wake { by, at, .. } if *by != 0 && *by != task => {
                flows += 1;
                out.push(json!({
                    "ph": "s", "id": flows, "name": "wake", "cat": "wake",
                    "pid": pid, "tid": track(*by, 1), "ts": micros(*at),
                }));
                woken.entry(task).or_default().push(flows);
            }
            Event::Enter {
                frame,
                site,
                args,
                at,
                ..
            } => {
                sites.insert((task, *frame), *site);
                let function = trace.site(*site).map_or("?", |s| s.function.as_str());
                let call = format!("{function}({})", args.as_deref().unwrap_or(""));
                begin(
                    &mut open,
                    Key::Frame(task, *frame),
                    *at,
                    call,
                    "traced call",
                );
            }
            Event::Exit { frame, at, .. } => {
                finish(&mut open, &mut out, Key::Frame(task, *frame), 0, *at);
            }
            Event::AwaitStart {
                frame, index, at, ..
            } => {
                // A call begun before the recording has no site here.
                let name = sites
                    .get(&(task, *frame))
                    .and_then(|site| trace.site(*site))
                    .and_then(|site| site.awaits.get(usize::from(*index)))
                    .map_or_else(|| "await".to_owned(), |(expr, _)| format!("{expr}.await"));
                begin(
                    &mut open,
                    Key::Await(task, *frame, *index),
                    *at,
                    name,
                    "await",
                );
            }
            Event::AwaitEnd {
                frame, index, at, ..
            } => finish(
                &mut open,
                &mut out,
                Key::Await(task, *frame, *index),
                0,
                *at,
            ),
            Event::Wait {
                resource: r, at, ..
            } => {
                let name = format!("wait for {}", resource(*r));
                begin(&mut open, Key::Wait(task, *r), *at, name, "wait");
            }
            Event::WaitEnd {
                resource: r, at, ..
            } => {
                finish(&mut open, &mut out, Key::Wait(task, *r), 2, *at);
            }
            Event::Acquire {
                resource: r, at, ..
            } if task != 0 => {
                let name = format!("holds {}", resource(*r));
                begin(&mut open, Key::Hold(task, *r), *at, name, "hold");
            }
            Event::Release {
                resource: r, at, ..
            } => {
                finish(&mut open, &mut out, Key::Hold(task, *r), 3, *at);
            }
            Event::Point {
                label, value, at, ..
            } => out.push(json!({
                "ph": "i", "s": "t", "name": label, "cat": "inspect point",
                "pid": pid, "tid": track(task, 0), "ts": micros(*at),
                "args": { "value": value },
            })),
            _ => {}
        }
    }
    // Still going when the recording ended.
    for (key, spans) in open {
        let (task, lane) = match key {
            Key::Frame(t, _) | Key::Await(t, _, _) => (t, 0),
            Key::Wait(t, _) => (t, 2),
            Key::Hold(t, _) => (t, 3),
        };
        for (start, name, category) in spans {
            out.push(json!({
                "ph": "X", "name": name, "cat": category, "pid": pid,
                "tid": track(task, lane), "ts": micros(start),
                "dur": micros(end) - micros(start), "args": { "unfinished": true },
            }));
        }
    }
    json!({
        "traceEvents": out,
        "displayTimeUnit": "ms",
        "otherData": {
            "program": trace.program, "pid": trace.pid, "events_dropped": trace.events_dropped,
        },
    })
}

/// Opens the calls (and their awaits) that the first snapshot shows begun
/// before the first event: the recording has no `Enter` for them, and they
/// are often what it was made for (a task stuck since before).
fn seed_from_snapshot(trace: &Trace, open: &mut BTreeMap<Key, Vec<(u64, String, &'static str)>>) {
    for call in trace.calls_before_events() {
        let (task, frame) = (call.task, call.frame);
        let key = Key::Frame(task, frame.id);
        let begun = (nanos(frame.entered_at), frame.call(), "traced call");
        open.entry(key).or_default().push(begun);
        if let Some((index, since, expr)) = call.parked {
            let key = Key::Await(task, frame.id, index);
            let name = format!("{expr}.await");
            open.entry(key).or_default().push((since, name, "await"));
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn from_snapshots(trace: &Trace) -> Value {
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
            WaitReason::Join { task } => format!("join task {task}"),
            WaitReason::Lock { resource, .. } => {
                format!("wait for {} `{}`", resource.kind, resource.name)
            }
            WaitReason::Channel { end, .. } => format!("wait on channel `{}`", end.name),
            WaitReason::Other(text) => text.clone(),
            WaitReason::Remote(call) => call.request.clone(),
            WaitReason::Paused { breakpoint, .. } => format!("paused at breakpoint {breakpoint}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_by_another_task_is_an_arrow_to_the_poll_it_brought() {
        let mut trace = Trace::new(7, "app", Duration::ZERO);
        let poll = |task, start, end| Event::Poll { task, start, end };
        trace.events = vec![
            poll(1, 10_000, 20_000),
            Event::Wake {
                task: 2,
                by: 1,
                at: 15_000,
            },
            // Itself, and from outside any task: no arrow.
            Event::Wake {
                task: 2,
                by: 2,
                at: 16_000,
            },
            Event::Wake {
                task: 1,
                by: 0,
                at: 25_000,
            },
            poll(2, 30_000, 40_000),
            poll(1, 31_000, 32_000),
        ];
        let chrome = chrome_trace(&trace);
        let flows: Vec<&Value> = chrome["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["cat"] == "wake")
            .collect();
        assert_eq!(flows.len(), 2, "{flows:?}");
        let (start, end) = (flows[0], flows[1]);
        assert_eq!(start["ph"], "s");
        assert_eq!(start["tid"], track(1, 1));
        assert_eq!(start["ts"], 5.0);
        assert_eq!(end["ph"], "f");
        assert_eq!(end["bp"], "e");
        assert_eq!(end["tid"], track(2, 1));
        assert_eq!(end["ts"], 20.0);
        assert_eq!(start["id"], end["id"]);
    }
}
