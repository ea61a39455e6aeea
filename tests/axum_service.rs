//! The `axum_deadlock` example's service, served for real: hyper runs each
//! handler in a task it spawned itself, and requests come from a real HTTP
//! client. Two opposite transfers deadlock, a report waits forever on its
//! downstream call; both handlers are adopted tasks named with their
//! route's arguments, the stuck await has its file:line, the cycle is
//! found, and healthy requests still succeed.

#[allow(dead_code)]
#[path = "../examples/axum_deadlock.rs"]
mod service;

mod common;

use std::time::Duration;

use async_inspect::{TaskKind, TaskState};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// GET `path` from the server at `address` with hyper's client: the status
/// and body.
async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn stuck_and_deadlocked_handlers_are_named_and_healthy_ones_still_answer() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let address = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, service::app(service::Bank::new()))
                .await
                .unwrap()
        });
        address
    });
    runtime.block_on(async {
        assert_eq!(get(address, "/health").await, (200, "ok\n".to_owned()));
        // Requests that never answer: not awaited.
        tokio::spawn(get(address, "/transfer/alice/bob"));
        tokio::spawn(get(address, "/transfer/bob/alice"));
        tokio::spawn(get(address, "/report/7"));
    });
    let named = |s: &async_inspect::Snapshot, name: &str| {
        s.tasks()
            .iter()
            .find(|t| t.name == name && t.kind == TaskKind::Adopted)
            .cloned()
    };
    // The task that closes the cycle finds it inside its poll: wait until
    // that poll has ended too, with both transfers parked at their await.
    let parked = |s: &async_inspect::Snapshot, name: &str| {
        named(s, name).is_some_and(|t| t.state == TaskState::Blocked && t.blocked_at().is_some())
    };
    let snapshot = common::eventually_blocking("both transfers deadlocked", |s| {
        !s.deadlocks().is_empty()
            && parked(s, "transfer(from=\"alice\", to=\"bob\")")
            && parked(s, "transfer(from=\"bob\", to=\"alice\")")
            && named(s, "report(user=7)").is_some_and(|t| t.state == TaskState::Blocked)
    });
    let one = named(&snapshot, "transfer(from=\"alice\", to=\"bob\")").expect("the first transfer");
    let other = named(&snapshot, "transfer(from=\"bob\", to=\"alice\")").expect("the second");
    let cycle: Vec<_> = snapshot.deadlocks()[0]
        .cycle
        .iter()
        .map(|l| l.task)
        .collect();
    assert!(
        cycle.contains(&one.id) && cycle.contains(&other.id),
        "{snapshot}"
    );
    let (_, step) = one.blocked_at().expect("parked");
    assert_eq!(step.expr, "target.lock()");
    assert!(step.location.file.ends_with("examples/axum_deadlock.rs"));

    let report = named(&snapshot, "report(user=7)").unwrap();
    let stack: Vec<&str> = report.frames.iter().map(|f| f.function.as_ref()).collect();
    assert_eq!(stack, ["report", "fetch_history"]);
    let (_, step) = report.blocked_at().unwrap();
    assert_eq!(step.expr, "rx");
    let source = include_str!("../examples/axum_deadlock.rs");
    let line = source
        .lines()
        .position(|l| l.contains("rx.await.unwrap_or_default()"))
        .unwrap()
        + 1;
    assert_eq!(step.location.line as usize, line, "the stuck await's line");
    assert!(report.host_task.is_some(), "hyper's task, by tokio's id");
    let text = snapshot.to_string();
    assert!(
        text.contains("Timeout: None (will wait forever!)"),
        "{text}"
    );

    // The service still serves.
    let health = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), get(address, "/health")).await
    });
    assert_eq!(health.unwrap(), (200, "ok\n".to_owned()));
    runtime.shutdown_background();
}
