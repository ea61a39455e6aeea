//! The `tracing` spans tasks run in, as the tracing layer (feature
//! `tracing`, the `layer` module) records them: one [`SpanRecord`] per
//! span, linked to its parent, kept in the span's extensions and by the
//! tasks that entered it.
//!
//! A task keeps the span it entered last (one pointer compare per enter);
//! a span that closed since is skipped when a snapshot reads the task, so
//! a task that entered a short-lived span inside its request shows the
//! request again once that span is gone. A task spawned inside a span
//! keeps that span too, as where it was spawned: `tokio::spawn` loses
//! the spawner's span, the record does not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_inspect_model::span::{SpanInfo, trace_id};

/// At most this many fields are kept per span…
const FIELDS: usize = 32;
/// …each value at most this long (bytes of its `Debug` text)…
const VALUE_LEN: usize = 256;
/// …and at most this many spans of a chain are shown (the innermost).
const DEPTH: usize = 16;

/// One `tracing` span as tasks see it: name, target, fields, parent.
#[derive(Debug)]
pub struct SpanRecord {
    name: &'static str,
    target: &'static str,
    fields: Mutex<Vec<(&'static str, Box<str>)>>,
    parent: Option<Arc<SpanRecord>>,
    closed: AtomicBool,
}

impl SpanRecord {
    /// A span named `name`, made in `target`, inside `parent`.
    pub fn new(name: &'static str, target: &'static str, parent: Option<Arc<SpanRecord>>) -> Self {
        Self {
            name,
            target,
            fields: Mutex::new(Vec::new()),
            parent,
            closed: AtomicBool::new(false),
        }
    }

    /// Records field `name` as `value` (replacing an earlier value), up to
    /// a bounded number of fields and bytes.
    pub fn record(&self, name: &'static str, value: &str) {
        let value = truncate(value);
        let mut fields = self.fields.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(field) = fields.iter_mut().find(|(n, _)| *n == name) {
            field.1 = value;
        } else if fields.len() < FIELDS {
            fields.push((name, value));
        }
    }

    /// Notes that the span closed: no task runs in it any more.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn info(&self, from_spawner: bool) -> SpanInfo {
        let fields = self.fields.lock().unwrap_or_else(|e| e.into_inner());
        SpanInfo {
            name: self.name.to_owned(),
            target: self.target.to_owned(),
            fields: fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.to_string()))
                .collect(),
            from_spawner,
        }
    }

    /// This span if it is open, else its innermost open parent.
    fn open(self: &Arc<Self>) -> Option<&Arc<Self>> {
        let mut span = self;
        while span.is_closed() {
            span = span.parent.as_ref()?;
        }
        Some(span)
    }

    /// Whether `other` is this span or one of its parents.
    fn within(self: &Arc<Self>, other: &Arc<Self>) -> bool {
        let mut span = Some(self);
        while let Some(s) = span {
            if Arc::ptr_eq(s, other) {
                return true;
            }
            span = s.parent.as_ref();
        }
        false
    }
}

fn truncate(value: &str) -> Box<str> {
    if value.len() <= VALUE_LEN {
        return value.into();
    }
    let mut cut = VALUE_LEN;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &value[..cut]).into()
}

/// The spans a task runs in, as a snapshot shows them (outermost first),
/// and the trace id they carry: from the span it entered last that is
/// still open, else from the one it was spawned in. The spawner's spans
/// come first when the task's own spans were made outside them (its own
/// root span has no parent: `tokio::spawn` does not carry the context).
pub(crate) fn shown(
    entered: Option<&Arc<SpanRecord>>,
    spawned_in: Option<&Arc<SpanRecord>>,
) -> (Vec<SpanInfo>, Option<String>) {
    let own = entered.and_then(SpanRecord::open);
    let spawner = spawned_in.and_then(SpanRecord::open);
    let mut spans = Vec::new();
    if let Some(own) = own {
        push_chain(&mut spans, own, false);
    }
    if let Some(spawner) = spawner
        && !own.is_some_and(|own| own.within(spawner))
    {
        let mut outer = Vec::new();
        push_chain(&mut outer, spawner, true);
        outer.append(&mut spans);
        spans = outer;
    }
    if spans.len() > DEPTH {
        spans.drain(..spans.len() - DEPTH);
    }
    let trace = trace_id(&spans);
    (spans, trace)
}

/// Appends `span`'s chain, outermost first, at most [`DEPTH`] deep.
fn push_chain(spans: &mut Vec<SpanInfo>, span: &Arc<SpanRecord>, from_spawner: bool) {
    let mut chain = Vec::new();
    let mut next = Some(span);
    while let Some(s) = next
        && chain.len() < DEPTH
    {
        if !s.is_closed() {
            chain.push(s.info(from_spawner));
        }
        next = s.parent.as_ref();
    }
    chain.reverse();
    spans.append(&mut chain);
}

/// How a new task finds the span current where it is spawned (set by the
/// tracing layer: core reads no `tracing` state of its own).
static SPAWN_CONTEXT: OnceLock<fn() -> Option<Arc<SpanRecord>>> = OnceLock::new();

/// Tells new tasks how to find the span they are spawned in. The first
/// call wins.
pub fn set_spawn_context(f: fn() -> Option<Arc<SpanRecord>>) {
    let _ = SPAWN_CONTEXT.set(f);
}

/// The span current on this thread, for a task spawned now.
pub(crate) fn spawn_context() -> Option<Arc<SpanRecord>> {
    SPAWN_CONTEXT.get().and_then(|f| f())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &'static str, parent: Option<&Arc<SpanRecord>>) -> Arc<SpanRecord> {
        Arc::new(SpanRecord::new(name, "app", parent.cloned()))
    }

    fn names(spans: &[SpanInfo]) -> Vec<(&str, bool)> {
        spans
            .iter()
            .map(|s| (s.name.as_str(), s.from_spawner))
            .collect()
    }

    #[test]
    fn a_closed_span_gives_way_to_its_parent() {
        let request = span("request", None);
        request.record("trace_id", "\"4bf92f3577b34da6a3ce929d0e0e4736\"");
        let query = span("query", Some(&request));
        let (spans, trace) = shown(Some(&query), None);
        assert_eq!(names(&spans), [("request", false), ("query", false)]);
        assert_eq!(trace.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        query.close();
        assert_eq!(names(&shown(Some(&query), None).0), [("request", false)]);
        request.close();
        assert_eq!(shown(Some(&query), None), (vec![], None));
    }

    #[test]
    fn the_spawners_span_comes_first_unless_the_task_runs_inside_it() {
        let request = span("request", None);
        let job = span("job", None);
        let (spans, _) = shown(Some(&job), Some(&request));
        assert_eq!(names(&spans), [("request", true), ("job", false)]);
        let inner = span("inner", Some(&request));
        let (spans, _) = shown(Some(&inner), Some(&request));
        assert_eq!(names(&spans), [("request", false), ("inner", false)]);
        let (spans, _) = shown(None, Some(&request));
        assert_eq!(names(&spans), [("request", true)]);
    }

    #[test]
    fn fields_are_bounded_and_replaced() {
        let s = span("s", None);
        s.record("a", "1");
        s.record("a", "2");
        s.record("long", &"é".repeat(1000));
        let info = s.info(false);
        assert_eq!(info.fields[0], ("a".to_owned(), "2".to_owned()));
        assert!(info.fields[1].1.len() <= VALUE_LEN + '…'.len_utf8());
        let chain: Vec<_> = (0..40).fold(vec![s], |mut v, _| {
            let parent = v.last().cloned();
            v.push(span("deep", parent.as_ref()));
            v
        });
        assert_eq!(shown(chain.last(), None).0.len(), DEPTH);
    }
}
