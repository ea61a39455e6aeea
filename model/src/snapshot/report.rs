//! The text report: `Display` for [`Snapshot`], [`Lint`] and friends.
//!
//! Blocked tasks come first, longest blocked first, each with its logical
//! stack, the `.await` it is parked on (expression and file:line), why, the
//! time left on any timeout, and how far each traced call got.

use std::collections::HashMap;
use std::fmt::{self, Display, Formatter};
use std::time::Duration;

use super::{
    BlockingPlace, Deadlock, FrameInfo, Instrumentation, Lint, Snapshot, StepStatus, TaskInfo,
    TaskState, WaitInfo, WaitReason, WokenBy,
};

use crate::duration::Human;
use crate::resource::ResourceKind;

/// How many finished tasks the report lists (the most recent).
const FINISHED_LISTED: usize = 20;

impl Display for Snapshot {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.instrumentation == Instrumentation::CompiledOut {
            return writeln!(
                f,
                "async-inspect: instrumentation is compiled out (built without the `inspect` feature); nothing was recorded"
            );
        }
        self.write_summary(f)?;
        if let Some(why) = &self.state_machines {
            writeln!(f, "(tasks' async fns are not shown: {why})")?;
        }
        for deadlock in &self.deadlocks {
            writeln!(f)?;
            write!(f, "{deadlock}")?;
        }
        let mut order: Vec<&TaskInfo> = self.tasks.iter().collect();
        order.sort_by_key(|t| (rank(t.state), t.state_since, t.id));
        let (live, finished): (Vec<&TaskInfo>, Vec<&TaskInfo>) =
            order.into_iter().partition(|t| !t.state.is_finished());
        for task in live {
            writeln!(f)?;
            self.write_task(f, task)?;
        }
        if !finished.is_empty() {
            writeln!(f)?;
            writeln!(f, "Finished (most recent first):")?;
            let mut finished = finished;
            finished.sort_by_key(|t| std::cmp::Reverse((t.state_since, t.id)));
            for task in finished.iter().take(FINISHED_LISTED) {
                self.write_finished(f, task)?;
            }
            if finished.len() > FINISHED_LISTED {
                writeln!(
                    f,
                    "  … and {} more finished tasks",
                    finished.len() - FINISHED_LISTED
                )?;
            }
        }
        if let Some(p99) = self.scheduling_delays.quantile(0.99)
            && p99 >= WAITING_FOR_A_WORKER
        {
            writeln!(f)?;
            writeln!(
                f,
                "Scheduling delay: 1 in 100 of {} woken polls waited more than {} for a worker thread after its wake",
                self.scheduling_delays.count(),
                Human(p99 / 2),
            )?;
        }
        if !self.lints.is_empty() {
            writeln!(f)?;
            writeln!(f, "Lints:")?;
            for lint in &self.lints {
                writeln!(f, "  ⚠ {lint}")?;
            }
        }
        Ok(())
    }
}

/// A task woken this long ago and not polled since is said to wait for a
/// worker thread (shorter delays are the runtime's ordinary latency).
const WAITING_FOR_A_WORKER: Duration = Duration::from_millis(10);

fn rank(state: TaskState) -> u8 {
    match state {
        TaskState::Blocked => 0,
        TaskState::Running => 1,
        TaskState::Idle => 2,
        _ => 3,
    }
}

impl Snapshot {
    fn write_summary(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let count = |state| self.tasks.iter().filter(|t| t.state == state).count();
        let live = self.tasks.iter().filter(|t| !t.state.is_finished()).count();
        write!(
            f,
            "async-inspect report · pid {} · {} tasks: {} running, {} blocked, {} idle · {} finished",
            self.pid,
            live,
            count(TaskState::Running),
            count(TaskState::Blocked),
            count(TaskState::Idle),
            self.tasks.len() - live,
        )?;
        write!(f, " · uptime {}", Human(self.taken_at))?;
        if self.instrumentation == Instrumentation::DisabledAtRuntime {
            write!(f, " · recording is OFF (ASYNC_INSPECT=0)")?;
        }
        if self.counters.events_dropped > 0 {
            write!(f, " · {} events dropped", self.counters.events_dropped)?;
        }
        writeln!(f)
    }

    fn since(&self, at: Duration) -> Human {
        Human(self.taken_at.saturating_sub(at))
    }

    fn until(&self, at: Duration) -> String {
        match at.checked_sub(self.taken_at) {
            Some(left) => format!("in {}", Human(left)),
            None => format!("{} overdue", self.since(at)),
        }
    }

    fn write_task(&self, f: &mut Formatter<'_>, task: &TaskInfo) -> fmt::Result {
        write!(f, "Task {} {}", task.id, task.name)?;
        write!(
            f,
            " · {} for {}",
            task.state.label(),
            self.since(task.state_since)
        )?;
        if task.kind == crate::TaskKind::Adopted {
            write!(f, " · adopted: runs in a task spawned elsewhere")?;
            if let Some(host) = &task.host_task {
                write!(f, " (runtime task {host})")?;
            }
        }
        writeln!(f)?;
        let began = if task.kind == crate::TaskKind::Adopted {
            "adopted at"
        } else {
            "spawned at"
        };
        write!(
            f,
            "│ {began} {} · age {} · polls {}",
            task.location,
            Human(task.age),
            task.polls
        )?;
        if let Some(mean) = task.mean_time_between_polls() {
            write!(f, " (every {} on average)", Human(mean))?;
        }
        if task.wakes > 0 {
            write!(f, " · wakes {}", task.wakes)?;
            if task.wake.self_wakes > 0 {
                write!(f, " ({} by itself)", task.wake.self_wakes)?;
            }
            match (&task.wake.woken_by, task.wake.last_woken_at) {
                (Some(WokenBy::Task(by)), _) if *by == task.id => {}
                (Some(by), Some(at)) => write!(f, ", the last by {by} {} ago", self.since(at))?,
                _ => {}
            }
            if task.wake.max_delay >= WAITING_FOR_A_WORKER {
                write!(
                    f,
                    " · waited up to {} for a worker",
                    Human(task.wake.max_delay)
                )?;
            }
        }
        write!(f, " · busy {}", Human(task.busy))?;
        if let Some(parent) = task.parent {
            write!(f, " · parent {parent}")?;
        }
        writeln!(f)?;
        self.write_spans(f, task)?;
        self.write_serves(f, task)?;
        if task.unwakeable() {
            writeln!(
                f,
                "│ no waker for it exists: it can never be polled again (see Lints)"
            )?;
        }
        if let Some(woken) = task.wake.woken_at
            && !task.state.is_finished()
            && self.taken_at.saturating_sub(woken) >= WAITING_FOR_A_WORKER
        {
            write!(f, "│ woken {} ago", self.since(woken))?;
            if let Some(by) = &task.wake.woken_by {
                write!(f, " by {by}")?;
            }
            writeln!(f, ", not polled since: waiting for a worker thread")?;
        }

        let mut children: HashMap<Option<u32>, Vec<&FrameInfo>> = HashMap::new();
        for frame in &task.frames {
            children.entry(frame.parent).or_default().push(frame);
        }
        for root in children.get(&None).into_iter().flatten() {
            self.write_frame(f, task, &children, root, "│ ", true)?;
        }
        if task.frames.is_empty()
            && let Some(machine) = &task.state_machine
        {
            self.write_state_machine(f, task, machine)?;
        }
        let loose: Vec<&WaitInfo> = task
            .waits
            .iter()
            .filter(|w| w.frame.is_none() || !task.frames.iter().any(|fr| Some(fr.id) == w.frame))
            .collect();
        if !loose.is_empty() {
            self.write_waits(f, "│ ", &loose, task.state == TaskState::Blocked)?;
        }
        for held in &task.holds {
            let (name, since) = (&held.resource.name, self.since(held.since));
            match held.resource.kind {
                ResourceKind::ChannelSenders => write!(f, "│ holds a sender of channel `{name}`")?,
                ResourceKind::ChannelReceiver => {
                    write!(f, "│ holds the receiver of channel `{name}`")?;
                }
                ResourceKind::Semaphore => write!(
                    f,
                    "│ holds {} of Semaphore `{name}` for {since}",
                    permits(held.permits)
                )?,
                kind => write!(f, "│ holds {kind} `{name}` for {since}")?,
            }
            let taken = if held.resource.kind.is_lock() {
                "taken"
            } else {
                "made"
            };
            match (&held.acquired_at, held.taken_by) {
                (Some(at), Some(by)) => writeln!(f, " ({taken} at {at} by task {by}, moved here)")?,
                (Some(at), None) => writeln!(f, " ({taken} at {at})")?,
                (None, Some(by)) => writeln!(f, " ({taken} by task {by}, moved here)")?,
                (None, None) => writeln!(f)?,
            }
        }
        if let Some(point) = task.points.last() {
            write!(f, "│ last inspect point: \"{}\"", point.label)?;
            if let Some(value) = &point.value {
                write!(f, " = {value}")?;
            }
            write!(f, " · {} ago · {}", self.since(point.at), point.location)?;
            if let Some(function) = &point.function {
                write!(f, " in {function}()")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }

    /// `│ in span request{id=4} › query{table=stock} · trace 4bf9…`.
    fn write_spans(&self, f: &mut Formatter<'_>, task: &TaskInfo) -> fmt::Result {
        // A served request's trace is on its own line.
        let trace = task
            .trace_id
            .as_ref()
            .filter(|t| task.serves.as_ref().is_none_or(|call| &call.trace_id != *t));
        if task.spans.is_empty() && trace.is_none() {
            return Ok(());
        }
        write!(f, "│")?;
        if !task.spans.is_empty() {
            write!(f, " in span ")?;
            for (i, span) in task.spans.iter().enumerate() {
                if i > 0 {
                    write!(f, " › ")?;
                }
                write!(f, "{span}")?;
            }
            if task.spans.iter().all(|span| span.from_spawner) {
                write!(f, " (where it was spawned)")?;
            }
        }
        if let Some(trace) = trace {
            if !task.spans.is_empty() {
                write!(f, " ·")?;
            }
            write!(f, " trace {trace}")?;
        }
        writeln!(f)
    }

    /// `│ serves POST /reserve for another process (trace …, its span …)`.
    fn write_serves(&self, f: &mut Formatter<'_>, task: &TaskInfo) -> fmt::Result {
        if let Some(call) = &task.serves {
            writeln!(
                f,
                "│ serves {} for another process (trace {}, the caller's span {})",
                call.request, call.trace_id, call.span_id
            )?;
        }
        Ok(())
    }

    fn write_frame(
        &self,
        f: &mut Formatter<'_>,
        task: &TaskInfo,
        children: &HashMap<Option<u32>, Vec<&FrameInfo>>,
        frame: &FrameInfo,
        indent: &str,
        root: bool,
    ) -> fmt::Result {
        let connector = if root { "" } else { "└─> " };
        // Like a debugger's frame: the line it is at (its await in
        // progress), then where the fn is.
        match frame
            .current_await()
            .filter(|s| matches!(s.status, StepStatus::InProgress { .. }))
        {
            Some(step) => {
                let defined = if step.location.file == frame.location.file {
                    format!("line {}", frame.location.line)
                } else {
                    format!("{}:{}", frame.location.file, frame.location.line)
                };
                writeln!(
                    f,
                    "{indent}{connector}{}   {}   step {}/{} · fn at {defined}",
                    frame.call(),
                    step.location,
                    step.step,
                    step.of
                )?;
            }
            None => writeln!(
                f,
                "{indent}{connector}{}   {}:{}",
                frame.call(),
                frame.location.file,
                frame.location.line
            )?,
        }
        let inner = if root {
            indent.to_owned()
        } else {
            format!("{indent}    ")
        };
        if !frame.awaits.is_empty() {
            write!(f, "{inner}   steps:")?;
            for (i, step) in frame.awaits.iter().enumerate() {
                let separator = if i == 0 { " " } else { " · " };
                let (mark, took) = match &step.status {
                    StepStatus::NotStarted => ("○", String::new()),
                    StepStatus::InProgress { since } => ("▶", format!(" {}", self.since(*since))),
                    StepStatus::Completed { times: 1, last, .. } => {
                        ("✓", format!(" {}", Human(*last)))
                    }
                    StepStatus::Completed { times, total, .. } => {
                        ("✓", format!(" {times}× {}", Human(*total)))
                    }
                };
                write!(
                    f,
                    "{separator}{mark} {}/{} {}{took}",
                    step.step, step.of, step.expr
                )?;
            }
            writeln!(f)?;
        }
        let kids = children.get(&Some(frame.id));
        for child in kids.into_iter().flatten() {
            self.write_frame(f, task, children, child, &inner, false)?;
        }
        let parked_here = frame
            .current_await()
            .is_some_and(|s| matches!(s.status, StepStatus::InProgress { .. }));
        if kids.is_none() && !parked_here && task.state != TaskState::Running {
            self.write_branches_below(f, task, frame, &inner)?;
        }
        if kids.is_none()
            && let Some(step) = frame.current_await()
        {
            let StepStatus::InProgress { since } = step.status else {
                return Ok(());
            };
            writeln!(
                f,
                "{inner}└─> {}.await ◄─── BLOCKED ({})   {}   step {}/{}",
                step.expr,
                self.since(since),
                step.location,
                step.step,
                step.of
            )?;
            let waits: Vec<&WaitInfo> = task
                .waits
                .iter()
                .filter(|w| w.frame == Some(frame.id))
                .collect();
            let deeper = format!("{inner}    ");
            self.write_untraced_below(f, task, frame, &deeper)?;
            if waits.is_empty() {
                writeln!(
                    f,
                    "{deeper}├─ Waiting for: `{}` (not an inspected wait)",
                    step.expr
                )?;
                self.write_timeout(f, &deeper, frame.timeout_at)?;
            } else {
                self.write_waits(f, &deeper, &waits, true)?;
            }
        }
        Ok(())
    }

    fn write_waits(
        &self,
        f: &mut Formatter<'_>,
        indent: &str,
        waits: &[&WaitInfo],
        with_timeout: bool,
    ) -> fmt::Result {
        for wait in waits {
            write!(
                f,
                "{indent}├─ Waiting for: {} (for {})",
                self.reason(&wait.reason),
                self.since(wait.since)
            )?;
            // A traced await's line is above it already; for code nobody
            // annotated, the `lock()` call is said here.
            match (&wait.at, wait.frame) {
                (Some(at), None) => writeln!(f, " · waits at {at}")?,
                _ => writeln!(f)?,
            }
        }
        if with_timeout {
            let nearest = waits.iter().filter_map(|w| w.timeout_at).min();
            self.write_timeout(f, indent, nearest)?;
        }
        Ok(())
    }

    fn write_timeout(
        &self,
        f: &mut Formatter<'_>,
        indent: &str,
        timeout_at: Option<Duration>,
    ) -> fmt::Result {
        match timeout_at {
            Some(at) => writeln!(f, "{indent}└─ Timeout: {}", self.until(at)),
            None => writeln!(f, "{indent}└─ Timeout: None (will wait forever!)"),
        }
    }

    fn reason(&self, reason: &WaitReason) -> String {
        match reason {
            WaitReason::Sleep { until } => format!("sleep, wakes {}", self.until(*until)),
            WaitReason::Join { task } => match self.task(*task) {
                Some(target) => format!(
                    "task {} {} ({}) to finish",
                    task,
                    target.name,
                    target.state.label()
                ),
                None => format!("task {task} to finish"),
            },
            WaitReason::Lock { resource, holders }
            | WaitReason::Channel {
                end: resource,
                holders,
            } => {
                let name = &resource.name;
                let (mut text, held_by) = match resource.kind {
                    ResourceKind::ChannelSenders => (
                        format!("a message on channel `{name}`"),
                        "from senders held by",
                    ),
                    ResourceKind::ChannelReceiver => (
                        format!("room in channel `{name}`"),
                        "whose receiver is held by",
                    ),
                    kind => (format!("{kind} `{name}`"), "held by"),
                };
                let described: Vec<String> = holders
                    .iter()
                    .map(|holder| {
                        let holding = self.task(holder.task);
                        let name = holding.map_or("", |t| &t.name);
                        let mut text = format!("task {} {name}", holder.task);
                        if resource.kind == ResourceKind::Semaphore {
                            text.push_str(&format!(" ({})", permits(holder.permits)));
                        }
                        if resource.kind.is_lock() {
                            text.push_str(&format!(" for {}", self.since(holder.since)));
                        }
                        if let Some(at) = &holder.acquired_at {
                            let taken = if resource.kind.is_lock() {
                                "taken"
                            } else {
                                "made"
                            };
                            text.push_str(&format!(", {taken} at {at}"));
                        }
                        if let Some(breakpoint) = holding.and_then(TaskInfo::paused_at) {
                            text.push_str(&format!(", paused at breakpoint {breakpoint}"));
                        }
                        text
                    })
                    .collect();
                match described.len() {
                    0 if resource.kind == ResourceKind::Semaphore => {
                        text.push_str(" (no task holds a permit)");
                    }
                    0 if resource.kind == ResourceKind::ChannelSenders => {
                        text.push_str(" (no task holds a sender)");
                    }
                    0 => {}
                    1 => text.push_str(&format!(" {held_by} {}", described[0])),
                    n => text.push_str(&format!(" {held_by} {n} tasks: {}", described.join("; "))),
                }
                text
            }
            WaitReason::Other(text) => text.clone(),
            WaitReason::Remote(call) => format!(
                "{} (another process: trace {}, span {})",
                call.request, call.trace_id, call.span_id
            ),
            WaitReason::Paused { breakpoint, place } => {
                format!("paused at breakpoint {breakpoint} in {place}")
            }
        }
    }

    fn write_finished(&self, f: &mut Formatter<'_>, task: &TaskInfo) -> fmt::Result {
        let mark = match task.state {
            TaskState::Done => "✓",
            TaskState::Panicked => "✗",
            _ => "■",
        };
        write!(
            f,
            "  {mark} Task {} {} · {} {} ago · lived {} · polls {}",
            task.id,
            task.name,
            task.state.label(),
            self.since(task.state_since),
            Human(task.age),
            task.polls
        )?;
        if let Some(message) = &task.panic {
            write!(f, " · panicked: {message}")?;
        }
        writeln!(f)?;
        if let Some(cancelled) = &task.cancelled_at {
            let call = format!(
                "{}({})",
                cancelled.function,
                cancelled.args.as_deref().unwrap_or("")
            );
            match &cancelled.at {
                Some(step) => {
                    write!(
                        f,
                        "      cancelled at `{}.await` ({}, step {}/{}) in {call}",
                        step.expr, step.location, step.step, step.of
                    )?;
                    if let StepStatus::InProgress { since } = step.status {
                        write!(
                            f,
                            ", parked {}",
                            Human(task.state_since.saturating_sub(since))
                        )?;
                    }
                }
                None => write!(
                    f,
                    "      cancelled in {call} ({}), between its awaits",
                    cancelled.location
                )?,
            }
            if cancelled.depth > 1 {
                write!(f, " · {} traced calls deep", cancelled.depth)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl Display for Deadlock {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let n = self.cycle.len();
        if n == 1 {
            writeln!(
                f,
                "💀 DEADLOCK DETECTED: a task waits for a lock it holds itself"
            )?;
        } else {
            writeln!(
                f,
                "💀 DEADLOCK DETECTED: {n} tasks wait for each other forever"
            )?;
        }
        for link in &self.cycle {
            write!(f, "  Task {} {} waits for ", link.task, link.task_name)?;
            match &link.resource {
                Some(resource) => write!(f, "{} `{}`", resource.kind, resource.name)?,
                None => write!(f, "Task {} to finish", link.held_by)?,
            }
            match &link.waits_at {
                Some(at) => writeln!(f, " at {at}")?,
                None => writeln!(f)?,
            }
            if link.resource.is_none() {
                continue;
            }
            write!(f, "    └─ held by Task {}", link.held_by)?;
            if link.held_by == link.task {
                write!(f, " itself")?;
            }
            match &link.acquired_at {
                Some(at) => writeln!(f, ", taken at {at}")?,
                None => writeln!(f)?,
            }
        }
        write!(f, "  Cycle: ")?;
        for link in &self.cycle {
            match &link.resource {
                Some(resource) => write!(
                    f,
                    "Task {} → {} {} → ",
                    link.task, resource.kind, resource.name
                )?,
                None => write!(f, "Task {} → (join) → ", link.task)?,
            }
        }
        writeln!(f, "Task {}", self.cycle[0].task)?;
        writeln!(f, "  Suggestions:")?;
        let channel = self
            .cycle
            .iter()
            .any(|l| l.resource.as_ref().is_some_and(|r| !r.kind.is_lock()));
        if channel {
            writeln!(
                f,
                "    • do not hold a lock (or the other end) while waiting on a channel: \
                 send or receive first, or use try_send / try_recv"
            )?;
        }
        if n == 1 {
            writeln!(
                f,
                "    • drop the guard you hold before locking again, or pass it down instead of relocking"
            )?;
        } else {
            let order: Vec<&str> = self
                .cycle
                .iter()
                .filter_map(|l| l.resource.as_ref().map(|r| r.name.as_str()))
                .collect();
            writeln!(
                f,
                "    • take these locks in one order everywhere (e.g. {})",
                order.join(" before ")
            )?;
            writeln!(
                f,
                "    • or use try_lock, or a timeout around lock(), and back off"
            )?;
        }
        writeln!(
            f,
            "    • keep guards' scopes short: do not hold one across an .await that takes another lock"
        )
    }
}

impl Display for Lint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Lint::LockOrderInversion { cycle } => {
                let locks: Vec<String> = cycle
                    .iter()
                    .map(|s| format!("{} `{}`", s.took.kind, s.took.name))
                    .collect();
                write!(
                    f,
                    "potential deadlock: lock order inversion between {}:",
                    locks.join(" and ")
                )?;
                write_steps(f, cycle)?;
                write!(
                    f,
                    ". Tasks on these paths at the same moment deadlock: take the locks in one order"
                )
            }
            Lint::LockSiteOrderInversion { cycle } => {
                let sites: Vec<String> = cycle
                    .iter()
                    .map(|s| format!("{} created at {}", s.took.kind, s.took_created_at))
                    .collect();
                write!(
                    f,
                    "potential deadlock: {} are taken in opposite orders:",
                    sites.join(" and ")
                )?;
                write_steps(f, cycle)?;
                write!(
                    f,
                    ". Different locks each time so far; when the same ones meet in both orders, \
                     the tasks deadlock: take them in one order"
                )
            }
            Lint::Unwakeable {
                task,
                parked_for,
                at,
            } => {
                write!(f, "task {task} is parked")?;
                if let Some(at) = at {
                    write!(f, " at {at}")?;
                }
                write!(
                    f,
                    " and no waker for it exists: it can never be polled again \
                     (parked for {}; a future returned Pending without keeping its waker)",
                    Human(*parked_for)
                )
            }
            Lint::SelfWakeStorm {
                task,
                polls,
                over,
                at,
                ..
            } => {
                write!(
                    f,
                    "task {task} woke itself in each of its last {polls} polls over {}",
                    Human(*over)
                )?;
                if let Some(at) = at {
                    write!(f, ", parked at {at}")?;
                }
                write!(
                    f,
                    ": it spins, polling for something instead of waiting to be woken \
                     (give the waker to what it waits for)"
                )
            }
            Lint::SchedulingDelay {
                task,
                delay,
                woken_by,
                blocker,
                ..
            } => {
                write!(f, "task {task} waited {} for a worker", Human(*delay))?;
                match woken_by {
                    Some(WokenBy::Task(by)) if by == task => write!(f, " after it woke itself")?,
                    Some(by) => write!(f, " after {by} woke it")?,
                    None => {}
                }
                match blocker {
                    Some(blocker) => write!(
                        f,
                        ": task {blocker} blocked the thread meanwhile (see its blocking-poll lint)"
                    ),
                    None => write!(f, ": every worker thread was busy"),
                }
            }
            Lint::BlockingPoll {
                task,
                function,
                duration,
                from,
                to,
                ..
            } => {
                match function {
                    Some(call) => write!(f, "{call} (task {task})")?,
                    None => write!(f, "task {task}")?,
                }
                write!(f, " blocked its executor thread for {}", Human(*duration))?;
                match (from, to) {
                    (
                        BlockingPlace::Await { location: a, .. },
                        BlockingPlace::Await { location: b, .. },
                    ) => {
                        write!(f, " between the `.await` at {a} and the one at {b}")
                    }
                    (
                        BlockingPlace::Start { location },
                        BlockingPlace::Await { location: b, .. },
                    ) => {
                        write!(
                            f,
                            " between its start at {location} and the `.await` at {b}"
                        )
                    }
                    (BlockingPlace::Await { location: a, .. }, BlockingPlace::End) => {
                        write!(f, " between the `.await` at {a} and its end")
                    }
                    (BlockingPlace::Start { location }, BlockingPlace::End) => {
                        write!(f, " in a call with no `.await` in between ({location})")
                    }
                    _ => write!(
                        f,
                        " in a single poll (untraced code: add #[trace] to see where)"
                    ),
                }
            }
        }
    }
}

/// The steps of a lock-order cycle: "task #2 took `b` at … while holding
/// `a` (taken at …); …".
fn write_steps(f: &mut Formatter<'_>, cycle: &[super::LockOrderStep]) -> fmt::Result {
    for (i, step) in cycle.iter().enumerate() {
        let separator = if i == 0 { "" } else { ";" };
        write!(
            f,
            "{separator} task {} took `{}` at {} while holding `{}` (taken at {})",
            step.task, step.took.name, step.took_at, step.held.name, step.held_at
        )?;
    }
    Ok(())
}

/// "1 permit", "3 permits".
fn permits(n: u32) -> String {
    if n == 1 {
        "1 permit".to_owned()
    } else {
        format!("{n} permits")
    }
}
