//! Calls between processes, at each end: the tower client layer sends a
//! `traceparent` and shows the calling task waiting for the call; the
//! server layer makes a request a task serving that same call (or marks
//! the inspected task that polls it, until the request ends); a call made
//! while serving a request stays in its trace.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, Poll};

use async_inspect::remote::http::{CallLayer, ServeLayer, TRACEPARENT};
use async_inspect::remote::{Outbound, RemoteRequest, incoming, serve};
use async_inspect::{Snapshot, TaskId, TaskKind, TaskState, WaitReason};
use common::{eventually, task};
use tokio::sync::oneshot;
use tower_layer::Layer;
use tower_service::Service;

type Request = http::Request<()>;

/// A service that keeps each request's headers and answers when told.
#[derive(Clone, Default)]
struct Held {
    seen: Arc<StdMutex<Vec<http::HeaderMap>>>,
    answers: Arc<StdMutex<Vec<oneshot::Sender<()>>>>,
}

impl Service<Request> for Held {
    type Response = &'static str;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.seen.lock().unwrap().push(request.headers().clone());
        let (tx, rx) = oneshot::channel();
        self.answers.lock().unwrap().push(tx);
        Box::pin(async move {
            let _ = rx.await;
            Ok("done")
        })
    }
}

impl Held {
    fn answer_all(&self) {
        for tx in self.answers.lock().unwrap().drain(..) {
            let _ = tx.send(());
        }
    }
}

fn remote_wait(snapshot: &Snapshot, id: TaskId) -> Option<RemoteRequest> {
    snapshot
        .task(id)?
        .waits
        .iter()
        .find_map(|w| match &w.reason {
            WaitReason::Remote(call) => Some(call.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_call_sends_its_traceparent_and_the_task_waits_for_it() {
    let held = Held::default();
    let mut client = CallLayer.layer(held.clone());
    let handle = async_inspect::spawn(async move {
        let request = http::Request::post("http://inventory/reserve/42")
            .body(())
            .unwrap();
        client.call(request).await
    });
    let id = handle.inspect_id().unwrap();

    // The wait is recorded during the task's first poll, so a snapshot
    // taken before that poll returns shows it running; wait for it parked.
    let snapshot = eventually("the call waited for", |s| {
        remote_wait(s, id).is_some() && s.task(id).is_some_and(|t| t.state == TaskState::Blocked)
    })
    .await;
    let call = remote_wait(&snapshot, id).unwrap();
    assert_eq!(call.request, "POST http://inventory/reserve/42");
    assert!(
        snapshot
            .to_string()
            .contains("Waiting for: POST http://inventory/reserve/42 (another process: trace"),
        "{snapshot}"
    );
    // The header the server receives names the same call.
    let headers = held.seen.lock().unwrap()[0].clone();
    let header = headers[TRACEPARENT].to_str().unwrap();
    assert!(
        incoming("POST /reserve/42", Some(header))
            .unwrap()
            .same_call(&call)
    );

    held.answer_all();
    assert_eq!(handle.await.unwrap(), Ok("done"));
    let after = async_inspect::snapshot();
    assert!(remote_wait(&after, id).is_none(), "{after}");

    // A header already set (OpenTelemetry's propagator) is kept, and the
    // call is the one it names.
    let mut client = CallLayer.layer(held.clone());
    let set = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let handle = async_inspect::spawn(async move {
        let request = http::Request::get("http://db/stock")
            .header(TRACEPARENT, set)
            .body(())
            .unwrap();
        client.call(request).await
    });
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the second call", |s| remote_wait(s, id).is_some()).await;
    let call = remote_wait(&snapshot, id).unwrap();
    assert_eq!(
        (call.trace_id.as_str(), call.span_id.as_str()),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    );
    assert_eq!(held.seen.lock().unwrap()[1][TRACEPARENT], set);
    held.answer_all();
    assert_eq!(handle.await.unwrap(), Ok("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_request_is_a_task_of_its_own_in_the_callers_trace() {
    let held = Held::default();
    let mut server = ServeLayer::new().layer(held.clone());
    let header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let request = http::Request::post("/reserve/42")
        .header(TRACEPARENT, header)
        .body(())
        .unwrap();
    // Polled by a task nobody inspects, as a server library's connection
    // task: the request becomes an adopted task.
    let served = tokio::spawn(server.call(request));

    let snapshot = eventually("the request's task", |s| {
        s.tasks()
            .iter()
            .any(|t| t.name == "POST /reserve/42" && t.polls > 0)
    })
    .await;
    let request = snapshot
        .tasks()
        .iter()
        .find(|t| t.name == "POST /reserve/42")
        .unwrap();
    assert_eq!(request.kind, TaskKind::Adopted);
    let serves = request.serves.as_ref().expect("the call it serves");
    assert_eq!(
        (serves.trace_id.as_str(), serves.span_id.as_str()),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    );
    assert_eq!(
        request.trace_id.as_deref(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    let id = request.id;
    held.answer_all();
    assert_eq!(served.await.unwrap(), Ok("done"));
    let after = async_inspect::snapshot();
    assert!(
        after.task(id).is_none_or(|t| t.state.is_finished()),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_served_inside_a_task_marks_it_until_it_ends_and_calls_stay_in_its_trace() {
    let header = "00-11111111111111111111111111111111-2222222222222222-01";
    let (go, wait) = oneshot::channel::<()>();
    let (made, call) = oneshot::channel::<RemoteRequest>();
    let (finish, finished) = oneshot::channel::<()>();
    let handle = async_inspect::spawn(async move {
        serve("GET /stock", Some(header), async move {
            // A call made while serving: the request's trace, a new span.
            let _ = made.send(Outbound::new("GET http://db/stock").request().clone());
            let _ = wait.await;
        })
        .await;
        // Served; the task goes on, serving nothing.
        let _ = finished.await;
    });
    let id = handle.inspect_id().unwrap();
    let call = call.await.unwrap();
    assert_eq!(call.trace_id, "11111111111111111111111111111111");
    assert_ne!(call.span_id, "2222222222222222");

    let snapshot = eventually("the task serving", |s| {
        s.task(id)
            .is_some_and(|t| t.serves.is_some() && t.polls > 0)
    })
    .await;
    assert!(
        snapshot.to_string().contains(
            "serves GET /stock for another process (trace 11111111111111111111111111111111, \
             the caller's span 2222222222222222)"
        ),
        "{snapshot}"
    );
    go.send(()).unwrap();
    let snapshot = eventually("the request over", |s| {
        s.task(id)
            .is_some_and(|t| t.serves.is_none() && t.polls >= 2)
    })
    .await;
    assert!(task(&snapshot, id).trace_id.is_none(), "{snapshot}");
    finish.send(()).unwrap();
    handle.await.unwrap();
}
