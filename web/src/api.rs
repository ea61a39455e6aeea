//! The JSON API, versioned under `/api/v1/`, the live updates, and the
//! page. Every route reads, but `POST /api/v1/record`, there only when the
//! program mounted the dashboard with control allowed.
//!
//! | path | what |
//! |---|---|
//! | `/api/v1/status` | program, counts, activity, whether it ended, how fresh |
//! | `/api/v1/snapshot?at=S` | the whole snapshot (a recording's as of `S` seconds) |
//! | `/api/v1/tasks?state=&q=&trace=&sort=&offset=&limit=` | the task table, filtered (by state, a search, a trace id), sorted, paged |
//! | `/api/v1/tasks/{id}` | one task, with its report section and children |
//! | `/api/v1/deadlocks`, `/api/v1/lints`, `/api/v1/resources` | as named |
//! | `/api/v1/graph?task=ID` | the wait-for graph (around a task), cycles marked |
//! | `/api/v1/timeline?window_ms=&tasks=1,2` | spans of polls, lock waits and parked awaits; who woke whom among them |
//! | `/api/v1/profile` | the profile of the recorded events, and its report |
//! | `/api/v1/profile/flamegraph.svg?wait=1` | its flamegraph |
//! | `/api/v1/export/json` | the recording: snapshots and events |
//! | `/api/v1/export/chrome` | the recording as a Chrome trace (Perfetto) |
//! | `/api/v1/events` | Server-Sent Events: `update` on each change |
//! | `/metrics` | the snapshot's metrics, in Prometheus's text format |
//! | `POST /api/v1/record?duration=5s&all_polls=1` | with control allowed: a recording of that long, as a trace file |
//! | `POST /api/v1/debug`, `POST` / `DELETE /api/v1/debug/{session}` | with control allowed: a debugger session (breakpoints, continue, step), its requests and replies as JSON lists, closed when deleted or quiet for 30 s |

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_inspect_model::event::{Event, SpanKind, spans};
use async_inspect_model::profile::Weight;
use async_inspect_model::{Snapshot, TaskId, TaskInfo, TaskState, WaitReason};
use axum::Router;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::data::{Data, Inner};
use crate::{Picker, page};

#[derive(Clone)]
struct App {
    /// What is shown: a process chosen on the page replaces it.
    current: Arc<RwLock<Arc<Data>>>,
    access: Access,
    picker: Option<Arc<Picker>>,
    /// What clients may change, when the program allows it.
    control: Option<Arc<crate::mount::Control>>,
}

/// Who may read.
#[derive(Clone)]
pub(crate) enum Access {
    /// Anyone who reaches it (`serve` bound to loopback).
    Open,
    /// Requests that carry this token.
    Token(Arc<str>),
    /// Clients on this machine, by the connection's peer address.
    LoopbackOnly,
    /// A layer around the router checks.
    External,
}

impl From<crate::mount::Auth> for Access {
    fn from(auth: crate::mount::Auth) -> Self {
        match auth {
            crate::mount::Auth::Token(token) => Self::Token(token.into()),
            crate::mount::Auth::LoopbackOnly => Self::LoopbackOnly,
            crate::mount::Auth::External => Self::External,
        }
    }
}

impl App {
    fn data(&self) -> Arc<Data> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}

pub(crate) fn router(
    data: Arc<Data>,
    access: Access,
    picker: Option<Arc<Picker>>,
    control: Option<Arc<crate::mount::Control>>,
) -> Router {
    let app = App {
        current: Arc::new(RwLock::new(data)),
        access,
        picker,
        control,
    };
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/api/v1/status", get(status))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/tasks", get(tasks))
        .route("/api/v1/tasks/{id}", get(task))
        .route("/api/v1/deadlocks", get(deadlocks))
        .route("/api/v1/lints", get(lints))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/graph", get(graph))
        .route("/api/v1/timeline", get(timeline))
        .route("/api/v1/profile", get(profile))
        .route("/api/v1/profile/flamegraph.svg", get(flamegraph))
        .route("/api/v1/export/json", get(export_json))
        .route("/api/v1/export/chrome", get(export_chrome))
        .route("/api/v1/events", get(events))
        .route("/api/v1/processes", get(processes))
        .route("/api/v1/attach", get(attach))
        .route("/api/v1/record", axum::routing::post(record))
        .route("/api/v1/debug", axum::routing::post(debug_open))
        .route(
            "/api/v1/debug/{session}",
            axum::routing::post(debug_exchange).delete(debug_close),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page or API path") })
        .layer(middleware::from_fn_with_state(app.clone(), refresh))
        .layer(middleware::from_fn_with_state(app.clone(), check_access))
        .with_state(app)
}

#[derive(Deserialize)]
struct RecordQuery {
    duration: Option<String>,
    all_polls: Option<u8>,
}

/// `POST /api/v1/record`: records the program for `duration` (default
/// 5 s) on a thread of its own, and answers the trace file; 403 unless
/// the program allowed control.
async fn record(State(app): State<App>, Query(query): Query<RecordQuery>) -> Response {
    let Some(control) = app.control.clone() else {
        return error(
            StatusCode::FORBIDDEN,
            "recording is not allowed here: the program mounts its dashboard read-only \
             (async_inspect::web::router_with_control allows it)",
        );
    };
    let duration = match query
        .duration
        .as_deref()
        .map(async_inspect_model::parse_duration)
    {
        None => Duration::from_secs(5),
        Some(Some(duration)) => duration,
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "duration: expected a duration such as 5s or 500ms",
            );
        }
    };
    let all_polls = query.all_polls.unwrap_or(0) != 0;
    let (done, recorded) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name("async-inspect-record".into())
        .spawn(move || {
            let _ = done.send((control.record)(duration, all_polls));
        });
    if let Err(e) = started {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot record: {e}"),
        );
    }
    match recorded.await {
        Ok(Ok(bytes)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ResourceBusy => {
            error(StatusCode::CONFLICT, &format!("cannot record: {e}"))
        }
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot record: {e}"),
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the recording thread ended",
        ),
    }
}

/// The program's debugger sessions, where it allows control.
fn debugging(app: &App) -> Option<Arc<dyn crate::mount::DebugSessions>> {
    app.control.as_ref()?.debug.clone()
}

/// Why a dashboard without debugger sessions refuses.
const NOT_DEBUGGABLE: &str = "debugging is not allowed here: the program mounts its dashboard \
                              read-only (async_inspect::web::router_with_control allows it)";

/// Runs `work` on a thread of its own (never on the server's runtime:
/// a snapshot, or a debugger's lock, may take a while); `None` if that
/// thread could not start or did not answer.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("async-inspect-debug".into())
        .spawn(move || {
            let _ = done.send(work());
        })
        .ok()?;
    result.await.ok()
}

/// The answer when [`off_runtime`] got none.
fn no_answer() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the debugger's thread did not answer",
    )
}

/// `POST /api/v1/debug`: opens a debugger session, `{"session": N}`.
async fn debug_open(State(app): State<App>) -> Response {
    let Some(sessions) = debugging(&app) else {
        return error(StatusCode::FORBIDDEN, NOT_DEBUGGABLE);
    };
    match off_runtime(move || sessions.open()).await {
        Some(session) => (StatusCode::CREATED, Json(json!({ "session": session }))).into_response(),
        None => no_answer(),
    }
}

/// `POST /api/v1/debug/{session}` with a JSON list of requests: their
/// replies, then the tasks paused since (an empty list only asks for
/// those).
async fn debug_exchange(
    State(app): State<App>,
    Path(session): Path<u64>,
    body: axum::body::Bytes,
) -> Response {
    let Some(sessions) = debugging(&app) else {
        return error(StatusCode::FORBIDDEN, NOT_DEBUGGABLE);
    };
    let requests: Vec<async_inspect_model::wire::Request> = match serde_json::from_slice(&body) {
        Ok(requests) => requests,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected a JSON list of debugger requests: {e}"),
            );
        }
    };
    match off_runtime(move || sessions.exchange(session, &requests)).await {
        Some(Some(replies)) => Json(replies).into_response(),
        Some(None) => error(
            StatusCode::NOT_FOUND,
            &format!("no debug session {session}: it was closed, or went quiet for 30s"),
        ),
        None => no_answer(),
    }
}

/// `DELETE /api/v1/debug/{session}`: closes it; its breakpoints go and the
/// tasks they paused with them.
async fn debug_close(State(app): State<App>, Path(session): Path<u64>) -> Response {
    let Some(sessions) = debugging(&app) else {
        return error(StatusCode::FORBIDDEN, NOT_DEBUGGABLE);
    };
    match off_runtime(move || sessions.close(session)).await {
        Some(true) => StatusCode::NO_CONTENT.into_response(),
        Some(false) => error(
            StatusCode::NOT_FOUND,
            &format!("no debug session {session}"),
        ),
        None => no_answer(),
    }
}

/// The page, with its links under the path it is served at: nested
/// under a prefix (`/debug/async-inspect`, which axum matches without a
/// trailing slash), its scripts and API calls stay below it.
async fn index(OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    let base = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    page::index_at(&base).into_response()
}

/// A dashboard that takes snapshots on request has a fresh one before
/// any handler reads.
async fn refresh(State(app): State<App>, request: Request, next: Next) -> Response {
    if !is_static(request.uri().path()) {
        app.data().refresh(crate::mount::FRESH).await;
    }
    next.run(request).await
}

/// The page, its script and its style: nothing of the program in them.
fn is_static(path: &str) -> bool {
    matches!(path, "/" | "" | "/app.js" | "/style.css")
}

/// `/metrics`: the snapshot shown, in Prometheus's text format.
async fn metrics(State(app): State<App>) -> Response {
    let data = app.data();
    let text = data
        .read()
        .snapshot(None)
        .map(crate::metrics::exposition)
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Who may read: with a token, every request carries it (`?token=` or
/// `Authorization: Bearer`); loopback only, the connection's peer is on
/// this machine.
async fn check_access(State(app): State<App>, request: Request, next: Next) -> Response {
    // The page, its script and its style carry nothing of the program
    // (everything comes through the API): the browser loads them without
    // the token, which the page then sends with each API call.
    if is_static(request.uri().path()) {
        return next.run(request).await;
    }
    match &app.access {
        Access::Open | Access::External => next.run(request).await,
        Access::Token(token) => {
            let same = |given: &str| crate::mount::same_token(given.as_bytes(), token.as_bytes());
            let from_query = request
                .uri()
                .query()
                .into_iter()
                .flat_map(|q| q.split('&'))
                .filter_map(|pair| pair.strip_prefix("token="))
                .any(same);
            let from_header = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(same);
            if from_query || from_header {
                next.run(request).await
            } else {
                error(
                    StatusCode::UNAUTHORIZED,
                    "a missing or wrong token: open the URL the server printed",
                )
            }
        }
        Access::LoopbackOnly => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0);
            match peer {
                Some(peer) if peer.ip().is_loopback() => next.run(request).await,
                Some(_) => error(
                    StatusCode::FORBIDDEN,
                    "this dashboard answers only clients on the same machine",
                ),
                None => error(
                    StatusCode::FORBIDDEN,
                    "loopback-only, but the server gives no peer address: serve with \
                     into_make_service_with_connect_info::<SocketAddr>(), or use a token",
                ),
            }
        }
    }
}

#[derive(Deserialize, Default)]
struct At {
    at: Option<f64>,
}

/// Runs `f` on the snapshot shown, or answers that there is none yet.
fn with_snapshot(
    app: &App,
    at: Option<f64>,
    f: impl FnOnce(&Inner, &Snapshot) -> Response,
) -> Response {
    let data = app.data();
    let inner = data.read();
    match inner.snapshot(at) {
        Some(snapshot) => f(&inner, snapshot),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no snapshot yet: the program's agent has not answered",
        ),
    }
}

async fn status(State(app): State<App>) -> Response {
    let data = app.data();
    let inner = data.read();
    let snapshot = inner.snapshot(None);
    let count = |state: TaskState| {
        snapshot.map_or(0, |s| s.tasks().iter().filter(|t| t.state == state).count())
    };
    let finished = snapshot.map_or(0, |s| {
        s.tasks().iter().filter(|t| t.state.is_finished()).count()
    });
    let first = inner.trace.snapshots.first().map(Snapshot::taken_at);
    let last = inner.trace.snapshots.last().map(Snapshot::taken_at);
    Json(json!({
        "title": inner.title,
        "live": inner.live,
        "picker": app.picker.is_some(),
        "ended": inner.ended,
        "pid": snapshot.map(Snapshot::pid),
        "updated_ms_ago": inner.updated.map(|t| t.elapsed().as_millis() as u64),
        "uptime_ms": snapshot.map(|s| s.taken_at().as_millis() as u64),
        "tasks": snapshot.map_or(0, |s| s.tasks().len()) - finished,
        "running": count(TaskState::Running),
        "blocked": count(TaskState::Blocked),
        "idle": count(TaskState::Idle),
        "finished": finished,
        "deadlocks": snapshot.map_or(0, |s| s.deadlocks().len()),
        "lints": snapshot.map_or(0, |s| s.lints().len()),
        "activity": inner.activity.samples(),
        "events": inner.trace.events.len(),
        "events_dropped": inner.trace.events_dropped,
        "snapshots": inner.trace.snapshots.len(),
        "span_secs": match (first, last) {
            (Some(first), Some(last)) => last.saturating_sub(first).as_secs_f64(),
            _ => 0.0,
        },
    }))
    .into_response()
}

async fn snapshot(State(app): State<App>, Query(at): Query<At>) -> Response {
    with_snapshot(&app, at.at, |_, snapshot| Json(snapshot).into_response())
}

#[derive(Deserialize)]
struct TasksQuery {
    state: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    at: Option<f64>,
    /// Only the tasks serving this trace (its id, or 8+ hex digits of it).
    trace: Option<String>,
}

fn row(snapshot: &Snapshot, task: &TaskInfo) -> Value {
    let busy = if task.age.is_zero() {
        0.0
    } else {
        100.0 * task.busy.as_secs_f64() / task.age.as_secs_f64()
    };
    json!({
        "id": task.id.as_u64(),
        "name": task.name,
        "state": task.state.label(),
        "paused_at": task.paused_at(),
        "kind": task.kind,
        "parked_at": task.parked_at(),
        "deadlocked": snapshot.deadlocks_of(task.id).next().is_some(),
        "unwakeable": task.unwakeable(),
        "span": task.spans.last().map(ToString::to_string),
        "trace_id": task.trace_id,
        "location": task.location.to_string(),
        "for_ms": task.in_state_for(snapshot).as_millis() as u64,
        "polls": task.polls,
        "wakes": task.wakes,
        "busy_pct": busy,
    })
}

async fn tasks(State(app): State<App>, Query(query): Query<TasksQuery>) -> Response {
    with_snapshot(&app, query.at, |_, snapshot| {
        let needle = query.q.as_deref().unwrap_or("").to_lowercase();
        let mut listed: Vec<&TaskInfo> = snapshot
            .tasks()
            .iter()
            .filter(|t| match query.state.as_deref() {
                None | Some("" | "all") => true,
                Some("finished") => t.state.is_finished(),
                Some(state) => t.state.label().eq_ignore_ascii_case(state),
            })
            .filter(|t| t.matches(&needle))
            .filter(|t| query.trace.as_deref().is_none_or(|id| t.in_trace(id)))
            .collect();
        let rank = |t: &TaskInfo| match t.state {
            TaskState::Blocked => 0,
            TaskState::Idle => 1,
            TaskState::Running => 2,
            _ => 3,
        };
        match query.sort.as_deref() {
            Some("id") => listed.sort_by_key(|t| t.id),
            Some("name") => listed.sort_by(|a, b| a.name.cmp(&b.name)),
            Some("polls") => listed.sort_by_key(|t| std::cmp::Reverse(t.polls)),
            Some("age") => listed.sort_by_key(|t| std::cmp::Reverse(t.age)),
            _ => listed.sort_by_key(|t| (rank(t), t.state_since, t.id)),
        }
        let total = listed.len();
        let offset = query.offset.unwrap_or(0).min(total);
        let limit = query.limit.unwrap_or(200).min(5000);
        let page: Vec<Value> = listed[offset..total.min(offset + limit)]
            .iter()
            .map(|t| row(snapshot, t))
            .collect();
        Json(json!({ "total": total, "offset": offset, "tasks": page })).into_response()
    })
}

async fn task(State(app): State<App>, Path(id): Path<u64>, Query(at): Query<At>) -> Response {
    with_snapshot(&app, at.at, |_, snapshot| {
        let Some(info) = snapshot.tasks().iter().find(|t| t.id.as_u64() == id) else {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no task #{id} in this snapshot"),
            );
        };
        let mut only = snapshot.clone();
        only.retain_tasks(|t| t.id == info.id);
        let text = only.to_string();
        let section = text.lines().skip(2).collect::<Vec<_>>().join("\n");
        let children: Vec<Value> = snapshot
            .tasks()
            .iter()
            .filter(|t| t.parent == Some(info.id))
            .map(|t| row(snapshot, t))
            .collect();
        Json(json!({
            "task": info,
            "row": row(snapshot, info),
            "report": without_emoji(&section),
            "children": children,
        }))
        .into_response()
    })
}

/// Report text for the page: the report's 💀 is an emoji, a blank box
/// where no emoji font is installed; ✖ is in the fonts every system has.
fn without_emoji(text: &str) -> String {
    text.replace('💀', "✖")
}

async fn deadlocks(State(app): State<App>, Query(at): Query<At>) -> Response {
    with_snapshot(&app, at.at, |_, snapshot| {
        let text: Vec<String> = snapshot
            .deadlocks()
            .iter()
            .map(|d| without_emoji(&d.to_string()))
            .collect();
        Json(json!({ "deadlocks": snapshot.deadlocks(), "text": text })).into_response()
    })
}

async fn lints(State(app): State<App>, Query(at): Query<At>) -> Response {
    with_snapshot(&app, at.at, |_, snapshot| {
        let text: Vec<String> = snapshot.lints().iter().map(ToString::to_string).collect();
        Json(json!({ "lints": snapshot.lints(), "text": text })).into_response()
    })
}

async fn resources(State(app): State<App>, Query(at): Query<At>) -> Response {
    with_snapshot(&app, at.at, |_, snapshot| {
        Json(json!({ "resources": snapshot.resources() })).into_response()
    })
}

#[derive(Deserialize)]
struct GraphQuery {
    task: Option<u64>,
    at: Option<f64>,
}

/// The tasks a wait of `task` waits for, with what for.
fn waits_for(task: &TaskInfo) -> Vec<(TaskId, String)> {
    let mut out = Vec::new();
    for wait in &task.waits {
        match &wait.reason {
            WaitReason::Lock { resource, holders } => out.extend(
                holders
                    .iter()
                    .map(|h| (h.task, format!("{} `{}`", resource.kind, resource.name))),
            ),
            WaitReason::Channel { end, holders } => out.extend(
                holders
                    .iter()
                    .map(|h| (h.task, format!("channel `{}`", end.name))),
            ),
            WaitReason::Join { task } => out.push((*task, "join".to_owned())),
            _ => {}
        }
    }
    out
}

async fn graph(State(app): State<App>, Query(query): Query<GraphQuery>) -> Response {
    with_snapshot(&app, query.at, |_, snapshot| {
        let by_id: HashMap<TaskId, &TaskInfo> =
            snapshot.tasks().iter().map(|t| (t.id, t)).collect();
        // The tasks reachable from the one asked for, else every waiting one.
        let mut nodes: BTreeSet<TaskId> = BTreeSet::new();
        let mut todo: Vec<TaskId> = match query.task {
            Some(id) => vec![TaskId::from_u64(id)],
            None => snapshot
                .tasks()
                .iter()
                .filter(|t| !waits_for(t).is_empty())
                .map(|t| t.id)
                .collect(),
        };
        let mut edges = Vec::new();
        while let Some(id) = todo.pop() {
            if !nodes.insert(id) || nodes.len() > 500 {
                continue;
            }
            if let Some(task) = by_id.get(&id) {
                for (to, label) in waits_for(task) {
                    edges.push(json!({ "from": id.as_u64(), "to": to.as_u64(), "label": label }));
                    todo.push(to);
                }
            }
        }
        let nodes: Vec<Value> = nodes
            .iter()
            .map(|id| match by_id.get(id) {
                Some(task) => json!({
                    "id": id.as_u64(), "name": task.name, "state": task.state.label(),
                    "parked_at": task.parked_at(),
                }),
                None => json!({ "id": id.as_u64(), "name": "?", "state": "gone" }),
            })
            .collect();
        let cycles: Vec<Vec<u64>> = snapshot
            .deadlocks()
            .iter()
            .map(|d| d.cycle.iter().map(|l| l.task.as_u64()).collect())
            .collect();
        Json(json!({ "nodes": nodes, "edges": edges, "cycles": cycles })).into_response()
    })
}

#[derive(Deserialize)]
struct TimelineQuery {
    window_ms: Option<u64>,
    tasks: Option<String>,
    at: Option<f64>,
}

/// The most wakes a timeline draws.
const WAKES_SHOWN: usize = 2_000;

async fn timeline(State(app): State<App>, Query(query): Query<TimelineQuery>) -> Response {
    with_snapshot(&app, query.at, |inner, snapshot| {
        let end = snapshot.taken_at().as_nanos() as u64;
        let window = query.window_ms.unwrap_or(5000).clamp(10, 3_600_000) * 1_000_000;
        let start = end.saturating_sub(window);
        let wanted: Vec<u64> = match &query.tasks {
            Some(list) => list
                .split(',')
                .filter_map(|t| t.trim().parse().ok())
                .collect(),
            None => snapshot
                .tasks()
                .iter()
                .filter(|t| !t.state.is_finished())
                .take(40)
                .map(|t| t.id.as_u64())
                .collect(),
        };
        let wanted_set: std::collections::HashSet<u64> = wanted.iter().copied().collect();
        let name = |kind| match kind {
            SpanKind::Poll => "poll",
            SpanKind::Lock => "lock",
            SpanKind::Parked => "parked",
        };
        let mut lanes: HashMap<u64, Vec<(u64, u64, &'static str)>> =
            spans(&inner.trace.events, &wanted_set, end)
                .into_iter()
                .map(|(task, spans)| {
                    let kept = spans
                        .into_iter()
                        .filter(|&(_, to, _)| to >= start)
                        .map(|(from, to, kind)| (from.max(start), to.min(end), name(kind)))
                        .collect();
                    (task, kept)
                })
                .collect();
        // Blocked since before the recording began: the snapshot says since
        // when, and on what.
        for task in snapshot.tasks() {
            let Some(lane) = lanes.get_mut(&task.id.as_u64()) else {
                continue;
            };
            let since = task.state_since.as_nanos() as u64;
            if task.state == TaskState::Blocked && !lane.iter().any(|&(_, to, _)| to >= end) {
                let on_lock = task
                    .waits
                    .iter()
                    .any(|w| matches!(w.reason, WaitReason::Lock { .. }));
                let kind = if on_lock { "lock" } else { "parked" };
                lane.push((since.max(start), end, kind));
            }
        }
        let names: HashMap<u64, &str> = snapshot
            .tasks()
            .iter()
            .map(|t| (t.id.as_u64(), t.name.as_ref()))
            .collect();
        let lanes: Vec<Value> = wanted
            .iter()
            .map(|task| {
                let spans: Vec<Value> = lanes[task]
                    .iter()
                    .map(|(from, to, kind)| json!([from, to, kind]))
                    .collect();
                json!({ "task": task, "name": names.get(task).copied().unwrap_or("?"), "spans": spans })
            })
            .collect();
        // Who woke whom among the lanes shown (a recording of every poll
        // has the wakes), the latest first kept.
        let wakes: Vec<Value> = inner
            .trace
            .events
            .iter()
            .rev()
            .filter_map(|event| match *event {
                Event::Wake { task, by, at }
                    if by != task
                        && (start..=end).contains(&at)
                        && wanted_set.contains(&task)
                        && wanted_set.contains(&by) =>
                {
                    Some(json!([by, task, at]))
                }
                _ => None,
            })
            .take(WAKES_SHOWN)
            .collect();
        Json(json!({
            "start_ns": start, "end_ns": end, "events": inner.trace.events.len(), "lanes": lanes,
            "wakes": wakes,
        }))
        .into_response()
    })
}

async fn profile(State(app): State<App>) -> Response {
    let profile = app.data().profile();
    Json(json!({ "profile": &*profile, "report": profile.to_string() })).into_response()
}

#[derive(Deserialize)]
struct FlameQuery {
    wait: Option<u8>,
}

async fn flamegraph(State(app): State<App>, Query(query): Query<FlameQuery>) -> Response {
    let profile = app.data().profile();
    let weight = if query.wait == Some(1) {
        Weight::Wait
    } else {
        Weight::Cpu
    };
    let folded = profile.folded(weight);
    if folded.trim().is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "no time on traced stacks recorded yet: nothing to draw",
        );
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = match weight {
        Weight::Cpu => "time in polls per logical async stack".to_owned(),
        Weight::Wait => "time parked per logical async stack".to_owned(),
    };
    options.count_name = "ns".to_owned();
    let mut svg = Vec::new();
    match inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg) {
        Ok(()) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn export_json(State(app): State<App>) -> Response {
    let data = app.data();
    let inner = data.read();
    let trace = &inner.trace;
    let body = json!({
        "pid": trace.pid, "program": trace.program, "snapshots": trace.snapshots,
        "sites": trace.sites, "resources": trace.resources, "events": trace.events,
        "events_dropped": trace.events_dropped,
    });
    (
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"async-inspect-trace.json\"",
        )],
        Json(body),
    )
        .into_response()
}

async fn processes(State(app): State<App>) -> Response {
    let Some(picker) = &app.picker else {
        return error(
            StatusCode::NOT_FOUND,
            "this dashboard shows one process or recording",
        );
    };
    let list = (picker.list)();
    Json(json!({ "processes": list })).into_response()
}

#[derive(Deserialize)]
struct AttachQuery {
    pid: u32,
}

/// Shows process `pid` from now on (the picker's choice).
async fn attach(State(app): State<App>, Query(query): Query<AttachQuery>) -> Response {
    let Some(picker) = app.picker.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "this dashboard shows one process or recording",
        );
    };
    let connected = tokio::task::spawn_blocking(move || (picker.connect)(query.pid)).await;
    match connected {
        Ok(Ok((title, updates))) => {
            *app.current.write().unwrap_or_else(|e| e.into_inner()) = crate::live(&title, updates);
            Json(json!({ "attached": query.pid, "title": title })).into_response()
        }
        Ok(Err(message)) => error(StatusCode::BAD_GATEWAY, &message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn export_chrome(State(app): State<App>) -> Response {
    let chrome = crate::chrome::chrome_trace(&app.data().read().trace);
    (
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"async-inspect.chrome.json\"",
        )],
        Json(chrome),
    )
        .into_response()
}

/// `update` each time the data changes (a new snapshot or events), and a
/// keep-alive comment meanwhile; the browser reconnects by itself.
async fn events(
    State(app): State<App>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let data = app.data();
    let changes = data.changes();
    let stream = futures::stream::unfold(changes, move |mut changes| {
        let data = Arc::clone(&data);
        async move {
            // Changes come in bursts (a snapshot and its events): one
            // update per 200 ms at most. A dashboard that takes snapshots
            // on request takes one a second while the page is open.
            if data.on_request() {
                tokio::time::sleep(crate::mount::LIVE_EVERY).await;
                data.refresh(crate::mount::LIVE_EVERY).await;
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            changes.changed().await.ok()?;
            let version = *changes.borrow_and_update();
            let event = SseEvent::default()
                .event("update")
                .data(version.to_string());
            Some((Ok(event), changes))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
