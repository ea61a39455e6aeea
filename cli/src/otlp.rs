//! A recording as OpenTelemetry spans, in OTLP's own messages (the
//! `opentelemetry-proto` crate, generated from the official definitions):
//! written as OTLP/JSON, or sent as OTLP/HTTP protobuf to a collector.
//!
//! Each task is a span (from its spawn to its end, or to the end of the
//! recording), a child of the span of the task that spawned it; each
//! traced call is a span inside its caller's, each parked `.await` a span
//! inside its call; lock waits and inspect points are events on the call
//! they happened in. A task serving a request (its `tracing` spans carry a
//! `trace_id` or `traceparent`) is in that request's trace, under the
//! caller's span when a `traceparent` names it; the tasks it spawned
//! follow it. Other tasks get a trace of their own, shared with the tasks
//! they spawn. Ids are derived from the recording, so exporting the same
//! file twice gives the same spans.

use std::collections::HashMap;
use std::time::Duration;

use async_inspect_model::event::{EndHow, Event};
use async_inspect_model::span::{TRACEPARENT_FIELDS, traceparent};
use async_inspect_model::trace_file::Trace;
use async_inspect_model::{TaskInfo, TaskState};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event as SpanEvent, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// The spans of `trace`, as one export request.
pub(crate) fn request(trace: &Trace) -> ExportTraceServiceRequest {
    let spans = Spans::of(trace);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", &trace.program),
                    int("process.pid", i64::from(trace.pid)),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "async-inspect".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// What the recording knows of a task beyond its events.
#[derive(Default)]
struct Known<'a> {
    name: Option<String>,
    parent: Option<u64>,
    /// The last snapshot's view of it.
    info: Option<&'a TaskInfo>,
    spawned_at: Option<u64>,
    ended: Option<(u64, EndHow)>,
}

struct Spans<'a> {
    trace: &'a Trace,
    /// The inspector's start, in Unix nanoseconds.
    base: u64,
    /// The recording's end (events' clock).
    end: u64,
    known: HashMap<u64, Known<'a>>,
    /// Trace ids, by task.
    traces: HashMap<u64, [u8; 16]>,
    built: Vec<Span>,
    /// The span of each task, by task.
    tasks: HashMap<u64, usize>,
    /// Open calls, by task and frame, and each task's open calls in the
    /// order they began (the last is where its events go).
    frames: HashMap<(u64, u32), usize>,
    stacks: HashMap<u64, Vec<u32>>,
    /// Open awaits, by task, frame and index.
    awaits: HashMap<(u64, u32, u16), usize>,
    /// Lock waits begun: when, and the span they happen in.
    waits: HashMap<(u64, u64), (u64, usize)>,
    /// The traced fn of each call, by task and frame.
    sites: HashMap<(u64, u32), u32>,
    /// Polls and time in them, by task.
    polls: HashMap<u64, (i64, i64)>,
    /// Spans made so far, to derive the next id.
    made: u64,
}

impl<'a> Spans<'a> {
    fn of(trace: &'a Trace) -> Vec<Span> {
        let end = trace
            .events
            .iter()
            .map(Event::at)
            .chain(trace.snapshots.last().map(|s| nanos(s.taken_at())))
            .max()
            .unwrap_or(0);
        let mut spans = Spans {
            trace,
            base: nanos(trace.started_at_unix),
            end,
            known: HashMap::new(),
            traces: HashMap::new(),
            built: Vec::new(),
            tasks: HashMap::new(),
            frames: HashMap::new(),
            stacks: HashMap::new(),
            awaits: HashMap::new(),
            waits: HashMap::new(),
            sites: HashMap::new(),
            polls: HashMap::new(),
            made: 0,
        };
        spans.learn();
        spans.assign_traces();
        let mut ids: Vec<u64> = spans.known.keys().copied().collect();
        ids.sort_unstable();
        for task in ids {
            spans.task_span(task);
        }
        spans.link_parents();
        if trace.events.is_empty() {
            spans.frames_from_snapshots();
        } else {
            spans.seed_frames();
            for event in &trace.events {
                spans.event(event);
            }
        }
        spans.finish()
    }

    /// Names, parents, spawn and end times, last views of every task.
    fn learn(&mut self) {
        for snapshot in &self.trace.snapshots {
            for task in snapshot.tasks() {
                let known = self.known.entry(task.id.as_u64()).or_default();
                known.name.get_or_insert_with(|| task.name.to_string());
                known.parent = known.parent.or(task.parent.map(|p| p.as_u64()));
                known.spawned_at.get_or_insert(nanos(task.spawned_at));
                if task.state.is_finished() && known.ended.is_none() {
                    let how = match task.state {
                        TaskState::Panicked => EndHow::Panicked,
                        TaskState::Aborted => EndHow::Aborted,
                        _ => EndHow::Done,
                    };
                    known.ended = Some((nanos(task.spawned_at + task.age), how));
                }
                known.info = Some(task);
            }
        }
        for event in &self.trace.events {
            match event {
                Event::Spawn {
                    task,
                    parent,
                    name,
                    at,
                    ..
                } => {
                    let known = self.known.entry(*task).or_default();
                    known.name = Some(name.clone());
                    known.parent = (*parent != 0).then_some(*parent).or(known.parent);
                    known.spawned_at = Some(*at);
                }
                Event::End { task, how, at } => {
                    self.known.entry(*task).or_default().ended = Some((*at, *how));
                }
                event if event.task() != 0 => {
                    let known = self.known.entry(event.task()).or_default();
                    let start = event.start();
                    known.spawned_at = Some(known.spawned_at.map_or(start, |at| at.min(start)));
                }
                _ => {}
            }
        }
    }

    /// Each task's trace: its request's, else its spawner's, else one of
    /// its own (shared with the tasks it spawns).
    fn assign_traces(&mut self) {
        let pid = u64::from(self.trace.pid);
        let seed = hash(&[pid, self.base]);
        let ids: Vec<u64> = self.known.keys().copied().collect();
        for id in ids {
            let mut task = id;
            let mut trace = None;
            // Up the spawn tree, at most as far as there are tasks.
            for _ in 0..=self.known.len() {
                let known = &self.known[&task];
                if let Some(own) = known.info.and_then(request_trace) {
                    trace = Some(own);
                    break;
                }
                match known.parent.filter(|p| self.known.contains_key(p)) {
                    Some(parent) => task = parent,
                    None => break,
                }
            }
            let trace = trace.unwrap_or_else(|| {
                let [a, b] = [hash(&[seed, task, 1]), hash(&[seed, task, 2])];
                let mut id = [0; 16];
                id[..8].copy_from_slice(&a.to_be_bytes());
                id[8..].copy_from_slice(&b.to_be_bytes());
                id
            });
            self.traces.insert(id, trace);
        }
    }

    /// A new span of `task`, named `name`, from `start` (events' clock).
    fn open(&mut self, task: u64, name: String, start: u64, parent: Option<usize>) -> usize {
        self.made += 1;
        let span_id = hash(&[u64::from(self.trace.pid), self.base, task, self.made]);
        let parent_span_id = parent.map_or_else(Vec::new, |p| self.built[p].span_id.clone());
        self.built.push(Span {
            trace_id: self.traces[&task].to_vec(),
            span_id: span_id.to_be_bytes().to_vec(),
            parent_span_id,
            name,
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: self.base + start,
            ..Span::default()
        });
        self.built.len() - 1
    }

    fn close(&mut self, span: usize, at: u64) {
        let span = &mut self.built[span];
        span.end_time_unix_nano = (self.base + at).max(span.start_time_unix_nano);
    }

    fn task_span(&mut self, task: u64) {
        let known = &self.known[&task];
        let name = known
            .name
            .clone()
            .unwrap_or_else(|| format!("task #{task}"));
        let start = known.spawned_at.unwrap_or(0);
        let ended = known.ended;
        let info = known.info;
        let span = self.open(task, name, start, None);
        let mut attributes = vec![int("async_inspect.task.id", task as i64)];
        if let Some(info) = info {
            attributes.push(text("code.filepath", &info.location.file));
            attributes.push(int("code.lineno", i64::from(info.location.line)));
            for s in &info.spans {
                for (name, value) in &s.fields {
                    attributes.push(text(&format!("{}.{name}", s.name), value));
                }
            }
            if let Some(remote) = remote_parent(info) {
                self.built[span].parent_span_id = remote.to_vec();
            }
        }
        let building = &mut self.built[span];
        building.attributes = attributes;
        match ended {
            Some((at, how)) => {
                self.close(span, at);
                if how == EndHow::Panicked {
                    let message = info.and_then(|i| i.panic.clone()).unwrap_or_default();
                    self.built[span].status = Some(Status {
                        message: format!("panicked: {message}"),
                        code: StatusCode::Error as i32,
                    });
                } else if how == EndHow::Aborted {
                    self.built[span]
                        .attributes
                        .push(boolean("async_inspect.aborted", true));
                }
            }
            None => self.unfinished(span),
        }
        self.tasks.insert(task, span);
    }

    /// Each task's span under the span of the task that spawned it, when
    /// that one is in the same trace (and no remote caller is its parent).
    fn link_parents(&mut self) {
        for (&task, &span) in &self.tasks {
            let Some(parent) = self.known[&task].parent else {
                continue;
            };
            if let Some(&parent_span) = self.tasks.get(&parent)
                && self.built[span].parent_span_id.is_empty()
                && self.traces[&task] == self.traces[&parent]
            {
                self.built[span].parent_span_id = self.built[parent_span].span_id.clone();
            }
        }
    }

    fn unfinished(&mut self, span: usize) {
        let end = self.end;
        self.close(span, end);
        self.built[span]
            .attributes
            .push(boolean("async_inspect.unfinished", true));
    }

    /// The span new events of `task` go in: its innermost open call, else
    /// the task's.
    fn innermost(&self, task: u64) -> Option<usize> {
        self.stacks
            .get(&task)
            .and_then(|stack| stack.last())
            .and_then(|frame| self.frames.get(&(task, *frame)).copied())
            .or_else(|| self.tasks.get(&task).copied())
    }

    fn call(&mut self, task: u64, frame: u32, parent: Option<u32>, name: String, at: u64) -> usize {
        let parent_span = parent
            .and_then(|p| self.frames.get(&(task, p)).copied())
            .or_else(|| self.tasks.get(&task).copied());
        let span = self.open(task, name, at, parent_span);
        self.frames.insert((task, frame), span);
        self.stacks.entry(task).or_default().push(frame);
        span
    }

    fn end_call(&mut self, task: u64, frame: u32, at: u64) {
        if let Some(span) = self.frames.remove(&(task, frame)) {
            self.close(span, at);
        }
        if let Some(stack) = self.stacks.get_mut(&task) {
            stack.retain(|f| *f != frame);
        }
    }

    /// Calls (and their awaits) begun before the first event, as the first
    /// snapshot shows them.
    fn seed_frames(&mut self) {
        for earlier in self.trace.calls_before_events() {
            let (task, frame) = (earlier.task, earlier.frame);
            if !self.tasks.contains_key(&task) {
                continue;
            }
            let entered = nanos(frame.entered_at);
            let call = self.call(task, frame.id, frame.parent, frame.call(), entered);
            self.built[call].attributes = code(&frame.location.file, frame.location.line);
            if let Some((index, since, expr)) = earlier.parked {
                let span = self.open(task, format!("{expr}.await"), since, Some(call));
                self.awaits.insert((task, frame.id, index), span);
            }
        }
    }

    fn event(&mut self, event: &Event) {
        let task = event.task();
        if !self.tasks.contains_key(&task) {
            return;
        }
        match event {
            Event::Enter {
                frame,
                parent,
                site,
                args,
                at,
                ..
            } => {
                self.sites.insert((task, *frame), *site);
                let site = self.trace.site(*site);
                let function = site.map_or("?", |s| s.function.as_str());
                let name = format!("{function}({})", args.as_deref().unwrap_or(""));
                let parent = (*parent != 0).then_some(*parent);
                let span = self.call(task, *frame, parent, name, *at);
                if let Some(site) = site {
                    let mut attributes = code(&site.file, site.line);
                    attributes.push(text("code.namespace", &site.module_path));
                    self.built[span].attributes = attributes;
                }
            }
            Event::Exit { frame, at, .. } => self.end_call(task, *frame, *at),
            Event::AwaitStart {
                frame, index, at, ..
            } => {
                let Some(&call) = self.frames.get(&(task, *frame)) else {
                    return;
                };
                // A call begun before the recording has no site here.
                let expr = self
                    .sites
                    .get(&(task, *frame))
                    .and_then(|site| self.trace.site(*site))
                    .and_then(|site| site.awaits.get(usize::from(*index)))
                    .map_or_else(|| "await".to_owned(), |(expr, _)| format!("{expr}.await"));
                let span = self.open(task, expr, *at, Some(call));
                self.awaits.insert((task, *frame, *index), span);
            }
            Event::AwaitEnd {
                frame, index, at, ..
            } => {
                if let Some(span) = self.awaits.remove(&(task, *frame, *index)) {
                    self.close(span, *at);
                }
            }
            Event::Wait { resource, at, .. } => {
                if let Some(span) = self.innermost(task) {
                    self.waits.insert((task, *resource), (*at, span));
                }
            }
            Event::WaitEnd { resource, at, .. } => {
                if let Some((since, span)) = self.waits.remove(&(task, *resource)) {
                    self.wait_event(span, *resource, since, Some(at - since.min(*at)));
                }
            }
            Event::Point {
                label, value, at, ..
            } => {
                let Some(span) = self.innermost(task) else {
                    return;
                };
                let mut attributes = vec![text("async_inspect.point", label)];
                if let Some(value) = value {
                    attributes.push(text("async_inspect.value", value));
                }
                let time = self.base + at;
                self.built[span].events.push(SpanEvent {
                    time_unix_nano: time,
                    name: label.clone(),
                    attributes,
                    dropped_attributes_count: 0,
                });
            }
            Event::Poll { start, end, .. } => {
                let polls = self.polls.entry(task).or_default();
                polls.0 += 1;
                polls.1 += end.saturating_sub(*start) as i64;
            }
            _ => {}
        }
    }

    fn wait_event(&mut self, span: usize, resource: u64, since: u64, waited: Option<u64>) {
        let label = self.trace.resource(resource).map_or_else(
            || format!("resource #{resource}"),
            |r| format!("{} `{}`", r.kind, r.label),
        );
        let mut attributes = vec![text("async_inspect.resource", &label)];
        match waited {
            Some(waited) => attributes.push(int("async_inspect.waited_ns", waited as i64)),
            None => attributes.push(boolean("async_inspect.unfinished", true)),
        }
        let time = self.base + since;
        self.built[span].events.push(SpanEvent {
            time_unix_nano: time,
            name: format!("wait for {label}"),
            attributes,
            dropped_attributes_count: 0,
        });
    }

    /// A recording without events: each task's calls as the last snapshot
    /// that saw it shows them.
    fn frames_from_snapshots(&mut self) {
        let mut last: HashMap<u64, (&TaskInfo, u64)> = HashMap::new();
        for snapshot in &self.trace.snapshots {
            for task in snapshot.tasks() {
                last.insert(task.id.as_u64(), (task, nanos(snapshot.taken_at())));
            }
        }
        let mut tasks: Vec<_> = last.into_iter().collect();
        tasks.sort_unstable_by_key(|(id, _)| *id);
        for (id, (task, seen)) in tasks {
            let done = |spans: &mut Self, span: usize| {
                if task.state.is_finished() {
                    spans.close(span, seen);
                } else {
                    spans.unfinished(span);
                }
            };
            for frame in &task.frames {
                let entered = nanos(frame.entered_at);
                let span = self.call(id, frame.id, frame.parent, frame.call(), entered);
                self.built[span].attributes = code(&frame.location.file, frame.location.line);
                done(self, span);
                if let Some(step) = frame.current_await()
                    && let async_inspect_model::StepStatus::InProgress { since } = step.status
                {
                    let name = format!("{}.await", step.expr);
                    let awaited = self.open(id, name, nanos(since), Some(span));
                    done(self, awaited);
                }
            }
            self.frames.retain(|(task, _), _| *task != id);
            self.stacks.remove(&id);
        }
    }

    /// Closes what is still open at the recording's end.
    fn finish(mut self) -> Vec<Span> {
        let mut open: Vec<usize> = self
            .frames
            .values()
            .chain(self.awaits.values())
            .copied()
            .collect();
        open.sort_unstable();
        for span in open {
            self.unfinished(span);
        }
        let mut waits: Vec<_> = self.waits.drain().collect();
        waits.sort_unstable();
        for ((_, resource), (since, span)) in waits {
            self.wait_event(span, resource, since, None);
        }
        for (task, (polls, busy)) in std::mem::take(&mut self.polls) {
            let attributes = &mut self.built[self.tasks[&task]].attributes;
            attributes.push(int("async_inspect.polls", polls));
            attributes.push(int("async_inspect.busy_ns", busy));
        }
        self.built
    }
}

/// The trace a task's request carries, as 16 bytes.
fn request_trace(task: &TaskInfo) -> Option<[u8; 16]> {
    let hex = task.trace_id.as_deref()?;
    let mut id = [0; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

/// The caller's span a task's `traceparent` names (the request it serves
/// for another process, else a field of its spans), when it is of the
/// task's trace: the task's span goes under it.
fn remote_parent(task: &TaskInfo) -> Option<[u8; 8]> {
    let trace = task.trace_id.as_deref()?;
    if let Some(call) = &task.serves
        && call.trace_id == trace
    {
        return u64::from_str_radix(&call.span_id, 16)
            .ok()
            .map(u64::to_be_bytes);
    }
    task.spans.iter().rev().find_map(|span| {
        span.fields.iter().find_map(|(name, value)| {
            if !TRACEPARENT_FIELDS.contains(&name.as_str()) {
                return None;
            }
            let (t, s) = traceparent(value.trim_matches('"'))?;
            if !t.eq_ignore_ascii_case(trace) {
                return None;
            }
            u64::from_str_radix(s, 16).ok().map(u64::to_be_bytes)
        })
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// SplitMix64 over `parts`: stable, spread, never 0.
fn hash(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for &part in parts {
        h = h.wrapping_add(part).wrapping_add(0x9e37_79b9_7f4a_7c15);
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
    }
    h.max(1)
}

fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, Value::StringValue(value.to_owned()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, Value::IntValue(value))
}

fn boolean(key: &str, value: bool) -> KeyValue {
    attribute(key, Value::BoolValue(value))
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn code(file: &str, line: u32) -> Vec<KeyValue> {
    vec![
        text("code.filepath", file),
        int("code.lineno", i64::from(line)),
    ]
}

/// How long a collector may take to take the spans.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `request` to the OTLP/HTTP collector at `endpoint` as protobuf;
/// the number of spans sent.
///
/// # Errors
///
/// A URL that is not `http://…`, a collector that cannot be reached or
/// answers with an error (its answer's first line is in the message).
pub(crate) fn send(endpoint: &str, request: &ExportTraceServiceRequest) -> anyhow::Result<usize> {
    use prost::Message;

    if !endpoint.starts_with("http://") {
        anyhow::bail!(
            "{endpoint}: give the collector's http:// URL, e.g. http://localhost:4318/v1/traces"
        );
    }
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(SEND_TIMEOUT))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut response = agent
        .post(endpoint)
        .header("Content-Type", "application/x-protobuf")
        .send(&request.encode_to_vec()[..])
        .map_err(|error| anyhow::anyhow!("cannot reach {endpoint}: {error}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        let said = body.lines().next().unwrap_or("").trim();
        anyhow::bail!("{endpoint} refused the spans: {status} {said}");
    }
    Ok(spans)
}
