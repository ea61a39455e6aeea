//! With `async_inspect::tracing::layer()` in the subscriber, tasks show the
//! `tracing` spans they run in and the trace id those carry: spans entered
//! through `.instrument` and `#[instrument]`, fields recorded late, spans
//! of the spawner kept across `async_inspect::spawn`, closed spans gone.

mod common;

use async_inspect::{Snapshot, TaskId, TaskInfo, TaskState};
use common::{eventually, task};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// Another trace, for the test that runs beside the first.
const OTHER: &str = "0af7651916cd43dd8448eb211c80319c";

/// A subscriber with the layer, the default on this thread (where a
/// current-thread runtime polls every task) until the guard drops.
fn with_layer() -> tracing::subscriber::DefaultGuard {
    let subscriber = tracing_subscriber::registry().with(async_inspect::tracing::layer());
    tracing::subscriber::set_default(subscriber)
}

fn parked(snapshot: &Snapshot, id: TaskId) -> bool {
    snapshot
        .task(id)
        .is_some_and(|t| matches!(t.state, TaskState::Idle | TaskState::Blocked) && t.polls > 0)
}

fn span_names(task: &TaskInfo) -> Vec<(&str, bool)> {
    task.spans
        .iter()
        .map(|s| (s.name.as_str(), s.from_spawner))
        .collect()
}

#[tracing::instrument(skip(rx))]
async fn query(table: &str, rx: tokio::sync::oneshot::Receiver<()>) {
    rx.await.unwrap();
}

#[tokio::test]
async fn a_task_shows_the_spans_it_runs_in_with_fields_recorded_late() {
    let _guard = with_layer();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let request = tracing::info_span!("request", id = 4, traceparent = tracing::field::Empty);
    let handle = async_inspect::spawn(
        async move {
            // A span entered and closed inside the request is not shown
            // once it is gone.
            drop(tracing::info_span!("parse").entered());
            query("stock", rx).await;
        }
        .instrument(request.clone()),
    );
    let id = handle.inspect_id().unwrap();
    request.record(
        "traceparent",
        format!("00-{TRACE}-00f067aa0ba902b7-01").as_str(),
    );

    let snapshot = eventually("the request parked", |s| parked(s, id)).await;
    let served = task(&snapshot, id);
    assert_eq!(
        span_names(served),
        [("request", false), ("query", false)],
        "{snapshot}"
    );
    assert_eq!(served.spans[1].to_string(), "query{table=stock}");
    assert_eq!(served.trace_id.as_deref(), Some(TRACE));
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!(
            "in span request{{id=4 traceparent=00-{TRACE}-00f067aa0ba902b7-01}} › query{{table=stock}} · trace {TRACE}"
        )),
        "{report}"
    );

    // The search the terminal UI and the dashboard use, and `--trace`.
    assert!(served.matches("table=stock") && served.matches(&TRACE[..8]));
    let mut only = snapshot.clone();
    only.retain_tasks(|t| t.in_trace(&TRACE[..12]));
    assert_eq!(
        only.tasks().iter().map(|t| t.id).collect::<Vec<_>>(),
        [id],
        "{snapshot}"
    );

    tx.send(()).unwrap();
    handle.await.unwrap();
}

#[tokio::test]
async fn a_spawned_task_keeps_the_span_it_was_spawned_in() {
    let _guard = with_layer();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (child_tx, child_rx) = tokio::sync::oneshot::channel();
    let request = tracing::info_span!("request", trace_id = OTHER);
    let parent = async_inspect::spawn(
        async move {
            // Spawned without `.instrument`: tokio's spawn would lose the
            // request; the inspected task keeps it as where it began.
            let child = async_inspect::spawn(async move {
                let _ = rx.await;
            });
            child_tx.send(child.inspect_id().unwrap()).unwrap();
            child.await.unwrap();
        }
        .instrument(request),
    );
    let child = child_rx.await.unwrap();

    let snapshot = eventually("the child parked", |s| parked(s, child)).await;
    let spawned = task(&snapshot, child);
    assert_eq!(span_names(spawned), [("request", true)], "{snapshot}");
    assert_eq!(spawned.trace_id.as_deref(), Some(OTHER));
    assert!(
        snapshot.to_string().contains(&format!(
            "in span request{{trace_id={OTHER}}} (where it was spawned) · trace {OTHER}"
        )),
        "{snapshot}"
    );

    tx.send(()).unwrap();
    parent.await.unwrap();
}

#[tokio::test]
async fn a_task_in_no_span_shows_none() {
    let _guard = with_layer();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = async_inspect::spawn(async move {
        let _ = rx.await;
    });
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the task parked", |s| parked(s, id)).await;
    let plain = task(&snapshot, id);
    assert!(
        plain.spans.is_empty() && plain.trace_id.is_none(),
        "{snapshot}"
    );
    tx.send(()).unwrap();
    handle.await.unwrap();
}
