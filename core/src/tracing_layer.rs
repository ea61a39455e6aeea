//! A `tracing_subscriber::Layer` that tells each inspected task which
//! `tracing` spans it runs in (feature `tracing`; the facade's
//! `async_inspect::tracing::layer()`).
//!
//! Each span gets a [`SpanRecord`] (name, target, fields, parent) in its
//! extensions when it is made; entering it while an inspected task is
//! polled notes it on that task; a task spawned inside a span keeps that
//! span as where it was spawned. Reports, JSON, the terminal UI and the
//! dashboard then show `in span request{id=4} › query{table=stock}` and the
//! trace id a field carries (`trace_id`, `traceparent`: see the model's
//! `span` module).
//!
//! Entering a span outside inspected tasks costs one thread-local read;
//! inside one, a lookup of the span's extension and a compare under the
//! task's own (uncontended) guard, with a store when the span changed.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, dispatcher};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::span::{SpanRecord, set_spawn_context};
use crate::task::context;

/// The layer: add it to the program's subscriber.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(async_inspect_core::tracing_layer::layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let _request = tracing::info_span!("request", id = 4).entered();
///     // Tasks spawned or polled here show `in span request{id=4}`.
/// });
/// ```
#[derive(Debug)]
pub struct Layer {
    _private: (),
}

/// A layer that tells inspected tasks which spans they run in.
pub fn layer() -> Layer {
    set_spawn_context(spawn_context);
    Layer { _private: () }
}

impl<S> tracing_subscriber::Layer<S> for Layer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|parent| parent.extensions().get::<Arc<SpanRecord>>().cloned());
        let metadata = attrs.metadata();
        let record = SpanRecord::new(metadata.name(), metadata.target(), parent);
        attrs.record(&mut Fields(&record));
        span.extensions_mut().insert(Arc::new(record));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(record) = span.extensions().get::<Arc<SpanRecord>>() {
            values.record(&mut Fields(record));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        context::with_task(|task, _| {
            let Some(span) = ctx.span(id) else { return };
            if let Some(record) = span.extensions().get::<Arc<SpanRecord>>() {
                task.enter_span(record);
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(record) = span.extensions().get::<Arc<SpanRecord>>() {
            record.close();
        }
    }
}

/// The record of the span current on this thread, when the subscriber is
/// built on `tracing_subscriber`'s registry.
fn spawn_context() -> Option<Arc<SpanRecord>> {
    dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(current.id()?)?;
        span.extensions().get::<Arc<SpanRecord>>().cloned()
    })
}

/// Records a span's fields as text: strings as they are, the rest as
/// `Debug` shows them.
struct Fields<'a>(&'a SpanRecord);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.record(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        // A `Debug` impl that fails leaves what it wrote.
        let _ = write!(Bounded(&mut text), "{value:?}");
        self.0.record(field.name(), &text);
    }
}

/// A writer that stops taking text past what a field keeps, so a huge
/// `Debug` value costs no more than its first bytes.
struct Bounded<'a>(&'a mut String);

/// A little more than a field keeps, so that the record can tell the value
/// was cut.
const TAKEN: usize = 300;

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = TAKEN.saturating_sub(self.0.len());
        if s.len() <= room {
            self.0.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.0.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}
