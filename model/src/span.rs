//! The `tracing` spans a task runs in, and the trace id they carry.
//!
//! Across processes, a call carries a W3C `traceparent` header: the
//! calling task waits for a [`RemoteRequest`] and the task serving it in
//! the next process names the same one, which is how two processes'
//! snapshots are joined (see [`snapshot::across`](crate::snapshot::across)).
//!
//! A task that runs inside a span (`#[tracing::instrument]`, `.instrument`,
//! `span.enter()`) shows that span and its parents with their fields, so a
//! stuck task says which request it serves. A trace id is read from a
//! field that carries one: `trace_id` (or `trace.id`, `otel.trace_id`,
//! `traceId`: 32 hex digits) or a W3C `traceparent`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One `tracing` span a task runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanInfo {
    /// The span's name (`request` in `info_span!("request", id = 4)`).
    pub name: String,
    /// Its target (the module that made it, unless set).
    pub target: String,
    /// Its fields as recorded, in order (`Debug` text of each value; a
    /// string without quotes).
    pub fields: Vec<(String, String)>,
    /// The task did not enter this span itself: it was current where the
    /// task was spawned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_spawner: bool,
}

impl fmt::Display for SpanInfo {
    /// `request{id=4 path=/checkout}`, as `tracing`'s own formatter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.fields.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        f.write_str("}")
    }
}

/// A call between processes, as both ends name it: the request, the trace
/// it belongs to and the caller's span for it (the parent span id of the
/// `traceparent` header it carried).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RemoteRequest {
    /// What was asked, in words: `POST http://inventory/reserve`.
    pub request: String,
    /// Its trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// The caller's span id for this call, 16 lowercase hex digits.
    pub span_id: String,
}

impl RemoteRequest {
    /// Whether `other` is the same call seen from the other end.
    pub fn same_call(&self, other: &RemoteRequest) -> bool {
        self.trace_id == other.trace_id && self.span_id == other.span_id
    }
}

/// The field names a trace id is read from, as 32 hex digits.
pub const TRACE_ID_FIELDS: [&str; 4] = ["trace_id", "trace.id", "otel.trace_id", "traceId"];
/// The field names a W3C `traceparent` is read from.
pub const TRACEPARENT_FIELDS: [&str; 2] = ["traceparent", "trace_parent"];

/// The trace id field `name` with value `value` carries, if any: 32 hex
/// digits, not all zero, in lowercase.
///
/// ```
/// use async_inspect_model::span::trace_id_of;
///
/// let id = "4bf92f3577b34da6a3ce929d0e0e4736";
/// assert_eq!(trace_id_of("trace_id", id).as_deref(), Some(id));
/// assert_eq!(
///     trace_id_of("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")
///         .as_deref(),
///     Some(id)
/// );
/// assert_eq!(trace_id_of("user_id", id), None);
/// assert_eq!(trace_id_of("trace_id", "not hex"), None);
/// assert_eq!(trace_id_of("trace_id", &"0".repeat(32)), None);
/// ```
pub fn trace_id_of(name: &str, value: &str) -> Option<String> {
    let value = value.trim_matches('"');
    let id = if TRACE_ID_FIELDS.contains(&name) {
        value
    } else if TRACEPARENT_FIELDS.contains(&name) {
        traceparent(value)?.0
    } else {
        return None;
    };
    valid_trace_id(id).then(|| id.to_ascii_lowercase())
}

/// The trace id and parent span id of a W3C `traceparent` header value
/// (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`), if it is one.
///
/// ```
/// use async_inspect_model::span::traceparent;
///
/// let (trace, span) =
///     traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(span, "00f067aa0ba902b7");
/// assert_eq!(trace.len(), 32);
/// assert!(traceparent("00-4bf9-00f0-01").is_none());
/// ```
pub fn traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    // Version ff is invalid; a future version may append fields.
    let ok = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && valid_trace_id(trace)
        && hex(span, 16)
        && span.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    ok.then_some((trace, span))
}

fn valid_trace_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')
}

/// The trace id the spans carry, innermost first (a span inside a request
/// may start a trace of its own).
pub fn trace_id(spans: &[SpanInfo]) -> Option<String> {
    spans.iter().rev().find_map(|span| {
        span.fields
            .iter()
            .find_map(|(name, value)| trace_id_of(name, value))
    })
}

/// Whether `id` names trace `trace`: equal ignoring case, or a prefix of
/// at least 8 hex digits (as a short commit hash names a commit).
///
/// ```
/// use async_inspect_model::span::names_trace;
///
/// let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
/// assert!(names_trace("4BF92F35", trace));
/// assert!(!names_trace("4bf9", trace));
/// assert!(!names_trace("4bf92f36", trace));
/// ```
pub fn names_trace(id: &str, trace: &str) -> bool {
    id.len() >= 8
        && id.len() <= trace.len()
        && trace.as_bytes()[..id.len()].eq_ignore_ascii_case(id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &str, fields: &[(&str, &str)]) -> SpanInfo {
        SpanInfo {
            name: name.into(),
            target: "app".into(),
            fields: fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            from_spawner: false,
        }
    }

    #[test]
    fn the_innermost_trace_id_wins() {
        let outer = span(
            "request",
            &[("trace_id", "11111111111111111111111111111111")],
        );
        let inner = span(
            "job",
            &[(
                "traceparent",
                "00-22222222222222222222222222222222-0000000000000001-00",
            )],
        );
        let plain = span("step", &[("n", "3")]);
        assert_eq!(
            trace_id(&[outer.clone(), inner, plain.clone()]).as_deref(),
            Some("22222222222222222222222222222222")
        );
        assert_eq!(
            trace_id(&[outer, plain.clone()]).as_deref(),
            Some("11111111111111111111111111111111")
        );
        assert_eq!(trace_id(&[plain]), None);
    }

    #[test]
    fn bad_traceparents_carry_no_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(traceparent(bad), None, "{bad}");
        }
        // A later version may append fields.
        assert!(
            traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz").is_some()
        );
    }

    #[test]
    fn a_span_reads_as_tracing_writes_it() {
        let s = span("request", &[("id", "4"), ("path", "/checkout")]);
        assert_eq!(s.to_string(), "request{id=4 path=/checkout}");
        assert_eq!(span("idle", &[]).to_string(), "idle");
    }
}
