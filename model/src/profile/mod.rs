//! The performance profile of a recording: where the time goes.
//!
//! A pure function of a [`Trace`]'s events (see [`event`](crate::event)),
//! so the same report comes from a live run (`async-inspect profile`) and
//! from a file recorded yesterday. It holds the slowest traced functions
//! and await points (count, mean, p50, p99, max from a histogram, and the
//! share of each function's time spent in each of its awaits), lock
//! contention, the most frequent logical call paths, polls that held up an
//! executor thread, and suggestions; and folded stacks (on-CPU or waiting
//! time per logical async stack) for a flamegraph.
//!
//! ```
//! use async_inspect_model::profile::Profile;
//! use async_inspect_model::trace_file::{TraceWriter, read_trace};
//!
//! let writer = TraceWriter::new(Vec::new(), 1, "app", Default::default()).unwrap();
//! let trace = read_trace(writer.into_inner().as_slice()).unwrap();
//! let profile = Profile::from_trace(&trace);
//! assert!(profile.functions.is_empty());
//! assert!(profile.to_string().contains("no traced call completed"));
//! ```

mod build;
mod report;

pub use report::Report;

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::trace_file::Trace;

/// Count, total and distribution of some durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Timing {
    /// How many.
    pub count: u64,
    /// Their sum.
    pub total: Duration,
    /// Their mean.
    pub mean: Duration,
    /// The median (from a histogram, to three significant digits).
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

/// A traced function's completed calls.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FnStats {
    /// The function.
    pub function: String,
    /// Its file and line.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// How long its calls took, entry to exit.
    pub timing: Timing,
    /// Its awaits that parked, most time first, with their share of the
    /// function's total.
    pub children: Vec<ChildShare>,
}

/// The time a function spent parked on one of its awaits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChildShare {
    /// The await, as written (`query_db(id).await`).
    pub expr: String,
    /// Time parked on it, over all calls.
    pub total: Duration,
    /// That time over the function's total (0 to 1).
    pub share: f64,
}

/// One await point's parked spans (awaits that completed at once are not
/// recorded: they cost nothing to wait for).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AwaitStats {
    /// The function it is in.
    pub function: String,
    /// The await, as written.
    pub expr: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// How long it stayed parked.
    pub timing: Timing,
}

/// Contention on one lock (or semaphore, or channel end).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LockStats {
    /// Kind and name, as a report writes it: ``Mutex `cache` ``.
    pub label: String,
    /// Where it was created.
    pub created_at: String,
    /// Times it was taken.
    pub acquisitions: u64,
    /// Waits for it that ended (taken after waiting, or given up).
    pub contended: u64,
    /// The most tasks waiting at once.
    pub max_waiters: u32,
    /// How long tasks waited for it.
    pub wait: Timing,
    /// How long it was held.
    pub hold: Timing,
    /// The await points that waited for it, most waiting first.
    pub waited_at: Vec<WaitedAt>,
}

/// An await point that waited for a lock.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WaitedAt {
    /// `function → expr.await`.
    pub place: String,
    /// How many waits.
    pub count: u64,
    /// How long in all.
    pub total: Duration,
}

/// A logical call path and how often it was taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PathStats {
    /// Function names, outermost first.
    pub path: Vec<String>,
    /// Calls of its innermost function along it.
    pub calls: u64,
    /// Tasks that took it.
    pub tasks: u64,
    /// Those tasks over the tasks with a traced root call (0 to 1).
    pub share: f64,
}

/// What the folded stacks weigh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// Time inside polls (on an executor thread).
    Cpu,
    /// Time parked on awaits.
    Wait,
}

/// The performance profile of a recording.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Profile {
    /// The program recorded.
    pub program: String,
    /// Its process id.
    pub pid: u32,
    /// From the first event to the last.
    pub span: Duration,
    /// Events in the recording.
    pub events: u64,
    /// Events lost while recording: the profile is missing them.
    pub events_dropped: u64,
    /// Tasks whose root is a traced call.
    pub root_tasks: u64,
    /// Traced functions, most total time first.
    pub functions: Vec<FnStats>,
    /// Await points, most time parked first.
    pub awaits: Vec<AwaitStats>,
    /// Locks, most waiting first.
    pub locks: Vec<LockStats>,
    /// Call paths two calls deep or more, most frequent first.
    pub paths: Vec<PathStats>,
    /// Polls of 10 ms or more (they held up an executor thread), longest
    /// first, with the stack they ran in.
    pub long_polls: Vec<(Duration, String)>,
    #[serde(skip)]
    cpu: HashMap<String, u64>,
    #[serde(skip)]
    wait: HashMap<String, u64>,
}

impl Profile {
    /// The profile of `trace`'s events.
    pub fn from_trace(trace: &Trace) -> Self {
        let (mut profile, cpu, wait) = build::build(trace);
        profile.cpu = cpu;
        profile.wait = wait;
        profile
    }

    /// Folded stacks (`outer;inner;leaf nanoseconds` per line, sorted), the
    /// input of a flamegraph: time per logical async stack.
    pub fn folded(&self, weight: Weight) -> String {
        let stacks = match weight {
            Weight::Cpu => &self.cpu,
            Weight::Wait => &self.wait,
        };
        let mut lines: Vec<String> = stacks
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(stack, n)| format!("{stack} {n}"))
            .collect();
        lines.sort();
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    /// The Performance Report with `top` rows per table (`Display` shows
    /// ten).
    pub fn report(&self, top: usize) -> report::Report<'_> {
        report::Report::new(self, top)
    }

    /// Plain advice from what stands out.
    pub fn suggestions(&self) -> Vec<String> {
        report::suggestions(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Batch, Event, FnSite, ResourceSite};
    use crate::trace_file::{TraceWriter, read_trace};
    use crate::{ResourceKind, TaskKind};

    const MS: u64 = 1_000_000;

    fn trace_of(events: Vec<Event>) -> Trace {
        let mut writer = TraceWriter::new(Vec::new(), 1, "app", Duration::ZERO).unwrap();
        let batch = Batch {
            sites: vec![FnSite {
                id: 0,
                function: "load".into(),
                module_path: "app".into(),
                file: "src/main.rs".into(),
                line: 3,
                awaits: vec![("cache.lock()".into(), 4), ("fetch()".into(), 5)],
            }],
            resources: vec![ResourceSite {
                id: 9,
                kind: ResourceKind::Mutex,
                label: "cache".into(),
                created_at: "src/main.rs:1:1".into(),
            }],
            events,
            dropped: 0,
        };
        writer.events(&batch).unwrap();
        read_trace(writer.into_inner().as_slice()).unwrap()
    }

    /// Task `task` calls `load`, waits `wait` ms for the lock, holds it
    /// while fetching for `fetch` ms, starting at `t` ms.
    fn call(task: u64, t: u64, wait: u64, fetch: u64) -> Vec<Event> {
        let at = |ms: u64| (t + ms) * MS;
        let end = wait + fetch;
        vec![
            Event::Spawn {
                task,
                parent: 0,
                kind: TaskKind::Spawned,
                name: format!("worker-{task}"),
                at: at(0),
            },
            Event::Poll {
                task,
                start: at(0),
                end: at(0) + MS / 2,
            },
            Event::Enter {
                task,
                frame: 1,
                parent: 0,
                site: 0,
                args: None,
                at: at(0) + MS / 4,
            },
            Event::Wait {
                task,
                resource: 9,
                at: at(0) + MS / 4,
            },
            Event::AwaitStart {
                task,
                frame: 1,
                index: 0,
                at: at(0) + MS / 4,
            },
            Event::WaitEnd {
                task,
                resource: 9,
                at: at(wait),
            },
            Event::AwaitEnd {
                task,
                frame: 1,
                index: 0,
                at: at(wait),
            },
            Event::Acquire {
                task,
                resource: 9,
                at: at(wait),
            },
            Event::AwaitStart {
                task,
                frame: 1,
                index: 1,
                at: at(wait),
            },
            Event::AwaitEnd {
                task,
                frame: 1,
                index: 1,
                at: at(end),
            },
            Event::Release {
                task,
                resource: 9,
                at: at(end),
            },
            Event::Exit {
                task,
                frame: 1,
                at: at(end),
            },
            Event::End {
                task,
                how: crate::event::EndHow::Done,
                at: at(end),
            },
        ]
    }

    #[test]
    fn calls_begun_before_the_recording_count_when_they_end_in_it() {
        // The first snapshot shows a task three traced calls deep; the
        // recording then sees the calls end, never begin.
        let snapshot = crate::snapshot::sample();
        let task = snapshot
            .tasks()
            .iter()
            .find(|t| t.name == "handle_request")
            .unwrap();
        let end = snapshot.taken_at().as_nanos() as u64 + 10 * MS;
        let id = task.id.as_u64();
        let mut events = Vec::new();
        for frame in task.frames.iter().rev() {
            if let Some(step) = frame.current_await() {
                events.push(Event::AwaitEnd {
                    task: id,
                    frame: frame.id,
                    index: step.step - 1,
                    at: end,
                });
            }
            events.push(Event::Exit {
                task: id,
                frame: frame.id,
                at: end,
            });
        }
        let mut writer = TraceWriter::new(Vec::new(), 1, "app", Duration::ZERO).unwrap();
        writer.snapshot(&snapshot).unwrap();
        let batch = Batch {
            sites: Vec::new(),
            resources: Vec::new(),
            events,
            dropped: 0,
        };
        writer.events(&batch).unwrap();
        let trace = read_trace(writer.into_inner().as_slice()).unwrap();
        let profile = Profile::from_trace(&trace);
        for frame in &task.frames {
            let stats = profile
                .functions
                .iter()
                .find(|f| f.function == frame.function)
                .unwrap_or_else(|| panic!("{} in {:#?}", frame.function, profile.functions));
            assert_eq!(stats.timing.count, 1);
            let took = end - frame.entered_at.as_nanos() as u64;
            let max = stats.timing.max.as_nanos() as u64;
            assert!(max.abs_diff(took) <= took / 500, "{max} vs {took}");
            assert_eq!(stats.file, frame.location.file);
        }
        // The await each was parked on, timed from when it began.
        let reply = profile
            .awaits
            .iter()
            .find(|a| a.expr == "reply_rx.await")
            .expect("the innermost await");
        assert_eq!(reply.timing.count, 1);
        let folded = profile.folded(Weight::Wait);
        assert!(
            folded.contains("handle_request;fetch_posts;call_backend;reply_rx.await "),
            "{folded}"
        );
    }

    #[test]
    fn calls_awaits_and_locks_are_timed_from_the_events() {
        let mut events = call(1, 0, 1, 10);
        events.extend(call(2, 1, 9, 30));
        events.sort_by_key(Event::start);
        let profile = Profile::from_trace(&trace_of(events));
        let load = &profile.functions[0];
        assert_eq!(load.function, "load");
        assert_eq!(load.timing.count, 2);
        // Entered a quarter ms in, ended 39 ms after the start: 38.75 ms.
        // (The histogram keeps three significant digits.)
        let max = load.timing.max.as_micros();
        assert!((38_750..38_800).contains(&max), "{max}");
        assert_eq!(load.children[0].expr, "fetch().await");
        let share = load.children[0].share;
        assert!((0.75..0.85).contains(&share), "{share}");
        let lock = &profile.locks[0];
        assert_eq!(lock.label, "Mutex `cache`");
        assert_eq!((lock.acquisitions, lock.contended), (2, 2));
        assert_eq!(lock.hold.total.as_millis(), 40);
        assert_eq!(lock.waited_at[0].place, "load → cache.lock().await");
        assert_eq!(lock.waited_at[0].count, 2);
        assert_eq!(profile.root_tasks, 2);
        // Each poll: a quarter before the call, the rest inside it.
        let folded = profile.folded(Weight::Cpu);
        assert!(
            folded.contains(&format!("[worker] {}\n", MS / 2)),
            "{folded}"
        );
        assert!(folded.contains(&format!("load {}\n", MS / 2)), "{folded}");
        let wait = profile.folded(Weight::Wait);
        assert!(wait.contains("load;fetch().await 40000000\n"), "{wait}");
        let report = profile.to_string();
        assert!(report.contains("load()"), "{report}");
        assert!(
            report.contains("waited at load → cache.lock().await (2×"),
            "{report}"
        );
    }

    #[test]
    fn percentiles_come_from_a_histogram() {
        // 99 fast calls and one slow: p50 fast, p99 fast, max slow.
        let mut events = Vec::new();
        for i in 0..100 {
            let fetch = if i == 99 { 500 } else { 2 };
            events.extend(call(10 + i, i * 1000, 0, fetch));
        }
        events.sort_by_key(Event::start);
        let profile = Profile::from_trace(&trace_of(events));
        let t = profile.functions[0].timing;
        assert_eq!(t.count, 100);
        assert_eq!(t.p50.as_micros() / 100, 17, "{t:?}");
        assert!(t.max >= Duration::from_millis(499), "{t:?}");
        assert!(t.p99 < Duration::from_millis(3), "{t:?}");
    }
}
