//! Spans of time per task, from a recording's events: when it was polled,
//! waiting for a lock (or permits, or a channel end), or parked at an
//! await of a traced fn. What timelines draw, in the terminal and the
//! browser alike.

use std::collections::{HashMap, HashSet};

use super::Event;

/// What a task was doing during a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpanKind {
    /// Parked at an await of a traced fn.
    Parked,
    /// Waiting for an inspected lock, permits or channel end.
    Lock,
    /// Inside a poll.
    Poll,
}

/// A span: from, to (nanoseconds, the events' clock), and what.
pub type Span = (u64, u64, SpanKind);

/// The spans of each task of `tasks` in `events` (in the order they
/// began) up to `end`; waits and awaits still going at `end` end there.
///
/// ```
/// use async_inspect_model::event::{Event, SpanKind, spans};
///
/// let events = [
///     Event::Poll { task: 1, start: 10, end: 20 },
///     Event::Wait { task: 1, resource: 9, at: 20 },
/// ];
/// let spans = spans(&events, &[1].into(), 100);
/// assert_eq!(spans[&1], [(10, 20, SpanKind::Poll), (20, 100, SpanKind::Lock)]);
/// ```
pub fn spans(events: &[Event], tasks: &HashSet<u64>, end: u64) -> HashMap<u64, Vec<Span>> {
    let mut out: HashMap<u64, Vec<Span>> = tasks.iter().map(|&t| (t, Vec::new())).collect();
    // Begun and not ended: by task, what (an await or a resource), kind.
    let mut open: HashMap<(u64, u64, SpanKind), u64> = HashMap::new();
    let await_key = |frame: u32, index: u16| (u64::from(frame) << 16) | u64::from(index);
    for event in events {
        let task = event.task();
        if !tasks.contains(&task) || event.start() > end {
            continue;
        }
        let mut push = |span: Span| out.entry(task).or_default().push(span);
        match *event {
            Event::Poll { start, end, .. } => push((start, end, SpanKind::Poll)),
            Event::AwaitStart {
                frame, index, at, ..
            } => {
                open.insert((task, await_key(frame, index), SpanKind::Parked), at);
            }
            Event::AwaitEnd {
                frame, index, at, ..
            } => {
                if let Some(since) = open.remove(&(task, await_key(frame, index), SpanKind::Parked))
                {
                    push((since, at, SpanKind::Parked));
                }
            }
            Event::Wait { resource, at, .. } => {
                open.insert((task, resource, SpanKind::Lock), at);
            }
            Event::WaitEnd { resource, at, .. } => {
                if let Some(since) = open.remove(&(task, resource, SpanKind::Lock)) {
                    push((since, at, SpanKind::Lock));
                }
            }
            _ => {}
        }
    }
    let mut still: Vec<_> = open.into_iter().collect();
    still.sort_by_key(|&((task, _, _), since)| (task, since));
    for ((task, _, kind), since) in still {
        out.entry(task).or_default().push((since, end, kind));
    }
    out
}
