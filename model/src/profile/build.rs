//! Building a [`Profile`] from a recording's events: one pass in time
//! order, keeping per task the traced calls open in it, the poll running
//! and the waits and holds not yet ended.

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{AwaitStats, ChildShare, FnStats, LockStats, PathStats, Profile, Timing, WaitedAt};
use crate::event::{Event, FnSite};
use crate::trace_file::Trace;

/// Durations in nanoseconds, for percentiles.
struct Durations {
    histogram: Histogram<u64>,
    total: u64,
}

impl Durations {
    fn new() -> Self {
        Self {
            // Three significant digits, growing as needed.
            histogram: Histogram::new(3).expect("3 significant digits are valid"),
            total: 0,
        }
    }

    fn record(&mut self, nanos: u64) {
        // Grows as needed; only a value past u64 range could fail.
        let _ = self.histogram.record(nanos.max(1));
        self.total = self.total.saturating_add(nanos);
    }

    fn timing(&self) -> Timing {
        let h = &self.histogram;
        let count = h.len();
        Timing {
            count,
            total: Duration::from_nanos(self.total),
            mean: Duration::from_nanos(self.total.checked_div(count).unwrap_or(0)),
            p50: Duration::from_nanos(h.value_at_quantile(0.5)),
            p99: Duration::from_nanos(h.value_at_quantile(0.99)),
            max: Duration::from_nanos(h.max()),
        }
    }
}

/// A traced call open in a task.
struct OpenFrame {
    id: u32,
    site: u32,
    parent: u32,
    entered: u64,
    /// The await it is parked on, and since when.
    parked: Option<(u16, u64)>,
}

#[derive(Default)]
struct TaskState {
    frames: Vec<OpenFrame>,
    /// The poll running: attributed up to `cursor`, ends at `end`.
    poll: Option<(u64, u64)>,
    waits: HashMap<u64, u64>,
    holds: HashMap<u64, Vec<u64>>,
    name: String,
    rooted: bool,
}

impl TaskState {
    fn frame(&self, id: u32) -> Option<&OpenFrame> {
        self.frames.iter().rev().find(|f| f.id == id)
    }

    /// The logical stack of `frame`: its sites, outermost first.
    fn path(&self, mut frame: u32) -> Vec<u32> {
        let mut path = Vec::new();
        while let Some(open) = self.frame(frame) {
            path.push(open.site);
            if path.len() > 64 {
                break;
            }
            frame = open.parent;
        }
        path.reverse();
        path
    }

    /// The stack running now: the innermost open call's.
    fn current(&self) -> Vec<u32> {
        self.frames
            .last()
            .map(|f| self.path(f.id))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct LockAcc {
    acquisitions: u64,
    contended: u64,
    waiting: u32,
    max_waiters: u32,
    waits: Option<Durations>,
    holds: Option<Durations>,
    waited_at: HashMap<(u32, u16), (u64, u64)>,
}

/// What the pass gathers.
struct Pass<'a> {
    trace: &'a Trace,
    tasks: HashMap<u64, TaskState>,
    calls: HashMap<u32, Durations>,
    awaits: HashMap<(u32, u16), Durations>,
    locks: HashMap<u64, LockAcc>,
    paths: HashMap<Vec<u32>, (u64, Vec<u64>)>,
    /// Folded stacks: on-CPU and waiting nanoseconds per stack.
    cpu: HashMap<String, u64>,
    wait: HashMap<String, u64>,
    long_polls: Vec<(u64, String)>,
    /// Sites of calls seen only in a snapshot (begun before the recording,
    /// never entered in it), numbered after every site of the trace.
    extra_sites: Vec<FnSite>,
}

/// A poll at least this long held up its executor thread.
const LONG_POLL: u64 = 10_000_000;

pub(super) fn build(trace: &Trace) -> (Profile, HashMap<String, u64>, HashMap<String, u64>) {
    let mut pass = Pass {
        trace,
        tasks: HashMap::new(),
        calls: HashMap::new(),
        awaits: HashMap::new(),
        locks: HashMap::new(),
        paths: HashMap::new(),
        cpu: HashMap::new(),
        wait: HashMap::new(),
        long_polls: Vec::new(),
        extra_sites: Vec::new(),
    };
    pass.seed_calls_begun_before();
    for snapshot in &trace.snapshots {
        for task in snapshot.tasks() {
            let state = pass.tasks.entry(task.id.as_u64()).or_default();
            if state.name.is_empty() {
                state.name = task.name.to_string();
            }
        }
    }
    for event in &trace.events {
        pass.event(event);
    }
    let ids: Vec<u64> = pass.tasks.keys().copied().collect();
    for id in ids {
        pass.close_poll(id, u64::MAX);
    }
    let profile = pass.profile();
    (profile, pass.cpu, pass.wait)
}

impl Pass<'_> {
    fn site(&self, id: u32) -> Option<&FnSite> {
        self.trace
            .site(id)
            .or_else(|| self.extra_sites.iter().find(|s| s.id == id))
    }

    /// Opens the traced calls that were already running when the
    /// recording began, as its first snapshot shows them (entered before
    /// the first event), with the await each was parked on: when they end
    /// in the recording, they count with their whole duration.
    fn seed_calls_begun_before(&mut self) {
        let (Some(first), Some(start)) = (
            self.trace.snapshots.first(),
            self.trace.events.iter().map(Event::at).min(),
        ) else {
            return;
        };
        for task in first.tasks() {
            let mut frames: Vec<&crate::snapshot::FrameInfo> = task
                .frames
                .iter()
                .filter(|f| (f.entered_at.as_nanos() as u64) < start)
                .collect();
            if frames.is_empty() {
                continue;
            }
            // Outermost first, as they were entered.
            frames.sort_by_key(|f| f.entered_at);
            let mut open = Vec::new();
            for frame in frames {
                let site = self.site_of(frame);
                let parked = frame.current_await().and_then(|step| match step.status {
                    crate::snapshot::StepStatus::InProgress { since } => {
                        Some((step.step.saturating_sub(1), since.as_nanos() as u64))
                    }
                    _ => None,
                });
                open.push(OpenFrame {
                    id: frame.id,
                    site,
                    parent: frame.parent.unwrap_or(0),
                    entered: frame.entered_at.as_nanos() as u64,
                    parked,
                });
            }
            let state = self.tasks.entry(task.id.as_u64()).or_default();
            state.rooted |= open.iter().any(|f| f.parent == 0);
            state.frames.extend(open);
        }
    }

    /// The site id of a snapshot's frame: the trace's site of that fn, or
    /// a new one.
    fn site_of(&mut self, frame: &crate::snapshot::FrameInfo) -> u32 {
        let same = |s: &&FnSite| {
            s.function == frame.function
                && s.module_path == frame.module_path
                && s.file == frame.location.file
                && s.line == frame.location.line
        };
        if let Some(site) = self.trace.sites.iter().find(same) {
            return site.id;
        }
        if let Some(site) = self.extra_sites.iter().find(same) {
            return site.id;
        }
        let after = self.trace.sites.iter().map(|s| s.id + 1).max().unwrap_or(0);
        let id = after + self.extra_sites.len() as u32;
        self.extra_sites.push(FnSite {
            id,
            function: frame.function.to_string(),
            module_path: frame.module_path.to_string(),
            file: frame.location.file.to_string(),
            line: frame.location.line,
            awaits: frame
                .awaits
                .iter()
                .map(|a| (a.expr.to_string(), a.location.line))
                .collect(),
        });
        id
    }

    fn name(&self, site: u32) -> String {
        self.site(site)
            .map_or_else(|| format!("fn #{site}"), |s| s.function.clone())
    }

    fn await_name(&self, site: u32, index: u16) -> String {
        match self
            .site(site)
            .and_then(|s| s.awaits.get(usize::from(index)))
        {
            Some((expr, _)) => format!("{expr}.await"),
            None => format!("await #{}", index + 1),
        }
    }

    fn folded(&self, task: &TaskState, path: &[u32]) -> String {
        if path.is_empty() {
            return format!("[{}]", untraced_name(&task.name));
        }
        let names: Vec<String> = path.iter().map(|&s| self.name(s)).collect();
        names.join(";")
    }

    /// Charges the running poll of `task` up to `at` to its current stack.
    fn advance(&mut self, task: u64, at: u64) {
        let Some(state) = self.tasks.get_mut(&task) else {
            return;
        };
        let Some((cursor, end)) = state.poll else {
            return;
        };
        let until = at.min(end);
        if until > cursor {
            let state = &self.tasks[&task];
            let stack = self.folded(state, &state.current());
            *self.cpu.entry(stack).or_default() += until - cursor;
        }
        let state = self.tasks.get_mut(&task).expect("looked up above");
        state.poll = (at < end).then_some((until.max(cursor), end));
    }

    fn close_poll(&mut self, task: u64, at: u64) {
        self.advance(task, at);
        if let Some(state) = self.tasks.get_mut(&task) {
            state.poll = None;
        }
    }

    fn event(&mut self, event: &Event) {
        let task = event.task();
        if !matches!(event, Event::Poll { .. }) {
            self.advance(task, event.at());
        }
        match *event {
            Event::Spawn { ref name, .. } => {
                self.tasks.entry(task).or_default().name.clone_from(name);
            }
            Event::Poll { start, end, .. } => {
                self.close_poll(task, start);
                self.tasks.entry(task).or_default().poll = Some((start, end));
                if end - start >= LONG_POLL {
                    let state = &self.tasks[&task];
                    let stack = self.folded(state, &state.current());
                    self.long_polls.push((end - start, stack));
                }
            }
            Event::Enter {
                frame,
                parent,
                site,
                at,
                ..
            } => {
                let state = self.tasks.entry(task).or_default();
                state.frames.push(OpenFrame {
                    id: frame,
                    site,
                    parent,
                    entered: at,
                    parked: None,
                });
                if parent == 0 {
                    state.rooted = true;
                }
                let path = state.path(frame);
                let entry = self.paths.entry(path).or_default();
                entry.0 += 1;
                if entry.1.last() != Some(&task) {
                    entry.1.push(task);
                }
            }
            Event::Exit { frame, at, .. } => {
                let Some(state) = self.tasks.get_mut(&task) else {
                    return;
                };
                if let Some(position) = state.frames.iter().rposition(|f| f.id == frame) {
                    let open = state.frames.remove(position);
                    self.calls
                        .entry(open.site)
                        .or_insert_with(Durations::new)
                        .record(at.saturating_sub(open.entered));
                }
            }
            Event::AwaitStart {
                frame, index, at, ..
            } => {
                if let Some(open) = self
                    .tasks
                    .get_mut(&task)
                    .and_then(|s| s.frames.iter_mut().rev().find(|f| f.id == frame))
                {
                    open.parked = Some((index, at));
                }
            }
            Event::AwaitEnd {
                frame, index, at, ..
            } => self.await_ended(task, frame, index, at),
            Event::Wait { resource, at, .. } => {
                let lock = self.locks.entry(resource).or_default();
                lock.waiting += 1;
                lock.max_waiters = lock.max_waiters.max(lock.waiting);
                self.tasks
                    .entry(task)
                    .or_default()
                    .waits
                    .insert(resource, at);
            }
            Event::WaitEnd { resource, at, .. } => self.wait_ended(task, resource, at),
            Event::Acquire { resource, at, .. } => {
                self.locks.entry(resource).or_default().acquisitions += 1;
                let state = self.tasks.entry(task).or_default();
                state.holds.entry(resource).or_default().push(at);
            }
            Event::Release { resource, at, .. } => {
                let since = self
                    .tasks
                    .get_mut(&task)
                    .and_then(|s| s.holds.get_mut(&resource))
                    .and_then(Vec::pop);
                if let Some(since) = since {
                    self.locks
                        .entry(resource)
                        .or_default()
                        .holds
                        .get_or_insert_with(Durations::new)
                        .record(at.saturating_sub(since));
                }
            }
            _ => {}
        }
    }

    fn await_ended(&mut self, task: u64, frame: u32, index: u16, at: u64) {
        let Some(state) = self.tasks.get_mut(&task) else {
            return;
        };
        let Some(open) = state.frames.iter_mut().rev().find(|f| f.id == frame) else {
            return;
        };
        let Some((parked, since)) = open.parked.take() else {
            return;
        };
        if parked != index {
            return;
        }
        let site = open.site;
        let took = at.saturating_sub(since);
        self.awaits
            .entry((site, index))
            .or_insert_with(Durations::new)
            .record(took);
        let state = &self.tasks[&task];
        let mut stack = self.folded(state, &state.path(frame));
        stack.push(';');
        stack.push_str(&self.await_name(site, index));
        *self.wait.entry(stack).or_default() += took;
    }

    fn wait_ended(&mut self, task: u64, resource: u64, at: u64) {
        let lock = self.locks.entry(resource).or_default();
        lock.waiting = lock.waiting.saturating_sub(1);
        let Some(since) = self
            .tasks
            .get_mut(&task)
            .and_then(|s| s.waits.remove(&resource))
        else {
            return;
        };
        let took = at.saturating_sub(since);
        lock.contended += 1;
        lock.waits.get_or_insert_with(Durations::new).record(took);
        // Where the task waited: the await its innermost call is parked on.
        let place = self.tasks[&task]
            .frames
            .last()
            .and_then(|f| f.parked.map(|(index, _)| (f.site, index)));
        if let Some(place) = place {
            let entry = lock.waited_at.entry(place).or_default();
            entry.0 += 1;
            entry.1 += took;
        }
    }

    fn profile(&self) -> Profile {
        let trace = self.trace;
        let mut functions: Vec<FnStats> = self
            .calls
            .iter()
            .map(|(&site, durations)| {
                let timing = durations.timing();
                let total = timing.total.as_nanos().max(1) as f64;
                let mut children: Vec<ChildShare> = self
                    .awaits
                    .iter()
                    .filter(|((s, _), _)| *s == site)
                    .map(|(&(_, index), d)| ChildShare {
                        expr: self.await_name(site, index),
                        total: Duration::from_nanos(d.total),
                        share: (d.total as f64 / total).min(1.0),
                    })
                    .collect();
                children.sort_by_key(|x| std::cmp::Reverse(x.total));
                let (file, line) = self
                    .site(site)
                    .map_or((String::new(), 0), |s| (s.file.clone(), s.line));
                FnStats {
                    function: self.name(site),
                    file,
                    line,
                    timing,
                    children,
                }
            })
            .collect();
        functions.sort_by_key(|x| std::cmp::Reverse(x.timing.total));
        let mut awaits: Vec<AwaitStats> = self
            .awaits
            .iter()
            .map(|(&(site, index), d)| {
                let line = self
                    .site(site)
                    .and_then(|s| s.awaits.get(usize::from(index)))
                    .map_or(0, |a| a.1);
                AwaitStats {
                    function: self.name(site),
                    expr: self.await_name(site, index),
                    file: self.site(site).map_or_else(String::new, |s| s.file.clone()),
                    line,
                    timing: d.timing(),
                }
            })
            .collect();
        awaits.sort_by_key(|x| std::cmp::Reverse(x.timing.total));
        let mut locks: Vec<LockStats> = self
            .locks
            .iter()
            .map(|(&id, acc)| {
                let site = trace.resource(id);
                let mut waited_at: Vec<WaitedAt> = acc
                    .waited_at
                    .iter()
                    .map(|(&(site, index), &(count, total))| WaitedAt {
                        place: format!("{} → {}", self.name(site), self.await_name(site, index)),
                        count,
                        total: Duration::from_nanos(total),
                    })
                    .collect();
                waited_at.sort_by_key(|x| std::cmp::Reverse(x.total));
                LockStats {
                    label: site.map_or_else(
                        || format!("resource #{id}"),
                        |s| format!("{} `{}`", s.kind, s.label),
                    ),
                    created_at: site.map_or_else(String::new, |s| s.created_at.clone()),
                    acquisitions: acc.acquisitions,
                    contended: acc.contended,
                    max_waiters: acc.max_waiters,
                    wait: acc
                        .waits
                        .as_ref()
                        .map(Durations::timing)
                        .unwrap_or_default(),
                    hold: acc
                        .holds
                        .as_ref()
                        .map(Durations::timing)
                        .unwrap_or_default(),
                    waited_at,
                }
            })
            .collect();
        locks.sort_by_key(|x| std::cmp::Reverse(x.wait.total));
        let rooted = self.tasks.values().filter(|t| t.rooted).count() as u64;
        let mut paths: Vec<PathStats> = self
            .paths
            .iter()
            .filter(|(path, _)| path.len() > 1)
            .map(|(path, (calls, tasks))| PathStats {
                path: path.iter().map(|&s| self.name(s)).collect(),
                calls: *calls,
                tasks: tasks.len() as u64,
                share: tasks.len() as f64 / rooted.max(1) as f64,
            })
            .collect();
        paths.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.path.cmp(&b.path)));
        let mut long_polls = self.long_polls.clone();
        long_polls.sort_by_key(|x| std::cmp::Reverse(x.0));
        let first = trace.events.first().map_or(0, Event::start);
        let last = trace.events.iter().map(Event::at).max().unwrap_or(first);
        Profile {
            program: trace.program.clone(),
            pid: trace.pid,
            span: Duration::from_nanos(last - first),
            events: trace.events.len() as u64,
            events_dropped: trace.events_dropped,
            root_tasks: rooted,
            functions,
            awaits,
            locks,
            paths,
            long_polls: long_polls
                .into_iter()
                .map(|(took, stack)| (Duration::from_nanos(took), stack))
                .collect(),
            cpu: HashMap::new(),
            wait: HashMap::new(),
        }
    }
}

/// A task name without a trailing number, so that `worker-3` and
/// `worker-5` stack together.
fn untraced_name(name: &str) -> &str {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = trimmed.trim_end_matches(['-', '_', ' ', '#']);
    if trimmed.is_empty() { name } else { trimmed }
}
