//! Calls between processes, named alike at both ends so that their
//! snapshots can be joined: the calling task waits for an [`Outbound`]
//! call, whose W3C `traceparent` header the request carries; the task that
//! serves it in the next process is wrapped in [`Served`], which reads the
//! header. Both name the same trace id and the caller's span id.
//!
//! A served request polled outside any inspected task (a handler inside
//! the task a server library spawned for the connection) becomes an
//! adopted task of its own, named after the request, living as long as
//! its future; inside an inspected task, that task serves it.

use std::borrow::Cow;
use std::future::Future;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_inspect_model::span::{RemoteRequest, traceparent};
use pin_project_lite::pin_project;

use crate::config;
use crate::task::context;
use crate::task::{Phase, TaskCell, TaskKind, poll_adopted};
use crate::wait::{Wait, WaitSlot};

/// A call to another process, made by the task polled on this thread: its
/// `traceparent` goes in the request, and [`Outbound::wait`] shows the task
/// waiting for it.
///
/// ```
/// use async_inspect_core::remote::Outbound;
///
/// let call = Outbound::new("POST http://inventory/reserve");
/// let header = call.traceparent();
/// assert!(header.starts_with("00-") && header.len() == 55);
/// # let _ = call.wait(async {});
/// ```
#[derive(Clone, Debug)]
pub struct Outbound {
    call: Arc<RemoteRequest>,
}

impl Outbound {
    /// A call asking `request` (`POST http://inventory/reserve`), in the
    /// trace of the request the current task serves or of the `tracing`
    /// spans it runs in, else in a new trace; with a span id of its own.
    pub fn new(request: impl Into<String>) -> Self {
        let trace_id = context::with_task(|task, _| task.trace_id())
            .flatten()
            .unwrap_or_else(|| format!("{:016x}{:016x}", random(), random()));
        Self {
            call: Arc::new(RemoteRequest {
                request: request.into(),
                trace_id,
                span_id: format!("{:016x}", random()),
            }),
        }
    }

    /// A call asking `request` whose `traceparent` header is already set
    /// (by OpenTelemetry's propagator, say): the call is that header's
    /// trace and span, so both ends and the program's own traces agree.
    /// `None` when `header` is not a valid `traceparent`.
    ///
    /// ```
    /// use async_inspect_core::remote::Outbound;
    ///
    /// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let call = Outbound::with_traceparent("GET http://db/stock", header).unwrap();
    /// assert_eq!(call.request().span_id, "00f067aa0ba902b7");
    /// assert!(Outbound::with_traceparent("GET http://db/stock", "junk").is_none());
    /// ```
    pub fn with_traceparent(request: impl Into<String>, header: &str) -> Option<Self> {
        Some(Self {
            call: Arc::new(incoming(request, Some(header))?),
        })
    }

    /// The `traceparent` header value for the request: version 00, the
    /// trace, the call's span, sampled.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.call.trace_id, self.call.span_id)
    }

    /// The call as both ends name it.
    pub fn request(&self) -> &RemoteRequest {
        &self.call
    }

    /// Awaits `future` (the request) as this call: while it is pending,
    /// the current task waits for the other process.
    pub fn wait<F: Future>(self, future: F) -> RemoteWait<F> {
        RemoteWait {
            future,
            call: self.call,
            slot: WaitSlot::new(),
        }
    }
}

/// A random, non-zero 64-bit number (std's hasher keys are seeded from the
/// system's randomness).
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(crate::clock::now());
    hasher.finish().max(1)
}

pin_project! {
    /// A request to another process, awaited as an [`Outbound`] call.
    #[derive(Debug)]
    pub struct RemoteWait<F> {
        #[pin]
        future: F,
        call: Arc<RemoteRequest>,
        slot: WaitSlot,
    }
}

impl<F: Future> Future for RemoteWait<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = this.future.poll(cx);
        if poll.is_pending() {
            let call = &*this.call;
            this.slot.pending(|| Wait::Remote(Arc::clone(call)));
        } else {
            this.slot.clear();
        }
        poll
    }
}

/// The request another process sent, as its `traceparent` header names it:
/// `None` when there is no header or it is not a valid one.
///
/// ```
/// use async_inspect_core::remote::incoming;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let call = incoming("POST /reserve", Some(header)).unwrap();
/// assert_eq!(call.span_id, "00f067aa0ba902b7");
/// assert!(incoming("POST /reserve", Some("garbage")).is_none());
/// ```
pub fn incoming(request: impl Into<String>, header: Option<&str>) -> Option<RemoteRequest> {
    let (trace_id, span_id) = traceparent(header?)?;
    Some(RemoteRequest {
        request: request.into(),
        trace_id: trace_id.to_ascii_lowercase(),
        span_id: span_id.to_ascii_lowercase(),
    })
}

enum Link {
    NotEntered {
        name: Cow<'static, str>,
        location: &'static Location<'static>,
    },
    /// Its own adopted task.
    Adopted(Arc<TaskCell>),
    /// Served by the inspected task that polls it.
    InTask(Arc<TaskCell>),
    Untracked,
}

pin_project! {
    /// A request served for another process: a task of its own when polled
    /// outside any inspected task, else the polling task marked as serving
    /// it (see the module's documentation).
    pub struct Served<F> {
        #[pin]
        future: F,
        call: Option<Arc<RemoteRequest>>,
        link: Link,
    }

    impl<F> PinnedDrop for Served<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            end(std::mem::replace(this.link, Link::Untracked), this.call.as_ref(), Phase::Aborted);
        }
    }
}

impl<F> std::fmt::Debug for Served<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

/// Serves `future` as the request `name` (`POST /reserve`) another
/// process sent with the `traceparent` header `header`.
#[track_caller]
pub fn serve<F: Future>(
    name: impl Into<Cow<'static, str>>,
    header: Option<&str>,
    future: F,
) -> Served<F> {
    let name = name.into();
    let call = incoming(name.as_ref(), header).map(Arc::new);
    Served {
        future,
        call,
        link: Link::NotEntered {
            name,
            location: Location::caller(),
        },
    }
}

impl<F> Served<F> {
    /// Locates its task at `location` (where a server layer was made)
    /// rather than where `serve` was called.
    pub fn located(mut self, location: &'static Location<'static>) -> Self {
        if let Link::NotEntered { location: at, .. } = &mut self.link {
            *at = location;
        }
        self
    }
}

impl<F: Future> Future for Served<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Link::NotEntered { name, location } = this.link {
            let (name, location) = (std::mem::take(name), *location);
            *this.link = begin(name, location, this.call.as_ref());
        }
        let poll = match &*this.link {
            Link::Adopted(cell) => poll_adopted(cell, std::ptr::null(), || this.future.poll(cx)),
            _ => this.future.poll(cx),
        };
        if poll.is_ready() {
            end(
                std::mem::replace(this.link, Link::Untracked),
                this.call.as_ref(),
                Phase::Done,
            );
        }
        poll
    }
}

fn begin(
    name: Cow<'static, str>,
    location: &'static Location<'static>,
    call: Option<&Arc<RemoteRequest>>,
) -> Link {
    if !config::enabled() {
        return Link::Untracked;
    }
    if let Some(cell) = context::current_cell() {
        if let Some(call) = call {
            cell.serve(Some(Arc::clone(call)));
        }
        return Link::InTask(cell);
    }
    let cell = TaskCell::register(TaskKind::Adopted, Some(name.into_owned().into()), location);
    if let Some(call) = call {
        cell.serve(Some(Arc::clone(call)));
    }
    Link::Adopted(cell)
}

fn end(link: Link, call: Option<&Arc<RemoteRequest>>, how: Phase) {
    match link {
        Link::Adopted(cell) => cell.finish(how),
        // The task goes on: it serves this request no more (unless another
        // one took over meanwhile).
        Link::InTask(cell) => {
            if let Some(call) = call {
                cell.stop_serving(call);
            }
        }
        Link::NotEntered { .. } | Link::Untracked => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_get_fresh_spans_and_keep_the_trace() {
        let a = Outbound::new("GET /a");
        let b = Outbound::new("GET /b");
        assert_ne!(a.request().span_id, b.request().span_id);
        let header = a.traceparent();
        let seen = incoming("GET /a", Some(&header)).unwrap();
        assert!(seen.same_call(a.request()), "{header}");
    }
}
