//! The dashboard mounted in a real axum service, as a user adds it
//! (`async_inspect::web::router`, nested under a prefix): the token cases,
//! the JSON API and `/metrics` (parsed by a Prometheus text parser) read
//! from the running program, the page under its prefix in a real headless
//! Chromium, and loopback-only access without connection info refused.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_inspect::sync::Mutex;
use async_inspect::web::{Auth, router};
use common::{request, script_errors, visit_url};

const PREFIX: &str = "/debug/async-inspect";

/// A service of its own with the dashboard nested, on a free port.
async fn service(auth: Auth) -> SocketAddr {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "the service" }))
        .nest(PREFIX, router(auth).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    async_inspect::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// In a thread of its own: the test's blocking client must not hold up
/// the runtime that serves it.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_mounts_the_dashboard_behind_a_token() {
    // Something to see: a task waiting for a lock another holds.
    let lock = Arc::new(Mutex::named("stuck", ()));
    let guard = lock.clone().lock_owned().await;
    let waiter = {
        let lock = lock.clone();
        async_inspect::spawn(async move { drop(lock.lock().await) })
    };
    // And a wait that ended, for the wait-time histogram.
    let brief = Arc::new(Mutex::named("brief", ()));
    let taken = brief.lock().await;
    let briefly = {
        let brief = brief.clone();
        async_inspect::spawn(async move { drop(brief.lock().await) })
    };
    // Held 10 ms once the waiter waits (a busy machine may start it late;
    // the waits are timed on the inspector's millisecond clock).
    let patience = Instant::now() + Duration::from_secs(30);
    while !async_inspect::snapshot()
        .resources()
        .iter()
        .any(|r| r.resource.name == "brief" && r.waiters > 0)
    {
        assert!(Instant::now() < patience, "the waiter never waited");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(taken);
    briefly.await.unwrap();
    // And a task nobody can wake: its future kept no waker.
    let lost = async_inspect::task::Builder::new()
        .name("lost-waker")
        .spawn(std::future::poll_fn(|_| std::task::Poll::<()>::Pending))
        .unwrap();
    let address = service(Auth::Token("s3cret".into())).await;
    let bearer = [("Authorization", "Bearer s3cret")];

    let (status, _, _) = blocking(move || request(address, "/", &[])).await;
    assert_eq!(status, 200, "the service's own routes are untouched");
    for headers in [vec![], vec![("Authorization", "Bearer wrong")]] {
        let (status, _, body) =
            blocking(move || request(address, &format!("{PREFIX}/api/v1/status"), &headers)).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, _, _) =
        blocking(move || request(address, &format!("{PREFIX}/api/v1/status?token=wrong"), &[]))
            .await;
    assert_eq!(status, 401);

    // The status, read from this program as it is now.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body) =
            blocking(move || request(address, &format!("{PREFIX}/api/v1/status"), &bearer)).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["pid"], std::process::id());
        if json["blocked"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "never blocked: {json}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, _, body) =
        blocking(move || request(address, &format!("{PREFIX}/metrics"), &bearer)).await;
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let value = |name: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert!(
        value("async_inspect_tasks", ("state", "blocked")) >= Some(1.0),
        "{body}"
    );
    assert_eq!(
        value("async_inspect_lock_waiters", ("name", "stuck")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value("async_inspect_lock_holders", ("name", "stuck")),
        Some(1.0),
        "{body}"
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "async_inspect_deadlocks"),
        "{body}"
    );
    // The brief wait, in its site's histogram: one wait of about 10 ms.
    let histogram = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "async_inspect_lock_wait_duration_seconds"
                && s.labels.get("name") == Some("brief")
        })
        .unwrap_or_else(|| panic!("{body}"));
    let prometheus_parse::Value::Histogram(buckets) = &histogram.value else {
        panic!("{:?}", histogram.value);
    };
    let count = |le: f64| {
        buckets
            .iter()
            .find(|b| (b.less_than - le).abs() < 1e-9 || b.less_than == le)
            .map(|b| b.count)
    };
    assert_eq!(count(f64::INFINITY), Some(1.0), "{body}");
    assert_eq!(count(0.004096), Some(0.0), "under 4 ms: none; {body}");
    // The lost task's row says nothing can wake it.
    let (status, _, body) = blocking(move || {
        request(
            address,
            &format!("{PREFIX}/api/v1/tasks?q=lost-waker"),
            &bearer,
        )
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(rows.to_string().contains("\"unwakeable\":true"), "{body}");
    lost.abort();

    // Every woken poll's scheduling delay, in one histogram.
    let delays = scrape
        .samples
        .iter()
        .find(|s| s.metric == "async_inspect_scheduling_delay_seconds")
        .unwrap_or_else(|| panic!("{body}"));
    let prometheus_parse::Value::Histogram(buckets) = &delays.value else {
        panic!("{:?}", delays.value);
    };
    assert!(
        buckets.last().is_some_and(|b| b.count >= 1.0),
        "the waiter was woken and polled: {body}"
    );

    // The page at the prefix (axum matches it without a trailing slash):
    // its script, style and API calls go below the prefix.
    let (status, _, page) =
        blocking(move || request(address, &format!("{PREFIX}?token=s3cret"), &[])).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("src=\"{PREFIX}/app.js\"")), "{page}");
    let url = format!("http://{address}{PREFIX}?token=s3cret&live=0#/tasks");
    let dom = blocking(move || visit_url(&url, "mounted-tasks")).await;
    assert!(script_errors(&dom).is_empty(), "{dom}");
    assert!(
        dom.contains("Mutex `stuck` held by #"),
        "the waiting task, read through the prefix: {dom}"
    );

    drop(guard);
    waiter.await.unwrap();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_only_without_connection_info_refuses_and_says_why() {
    let address = service(Auth::LoopbackOnly).await;
    let (status, _, body) =
        blocking(move || request(address, &format!("{PREFIX}/api/v1/status"), &[])).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("into_make_service_with_connect_info"),
        "{body}"
    );

    let app = axum::Router::new().nest(PREFIX, router(Auth::LoopbackOnly).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    async_inspect::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
    let (status, _, body) =
        blocking(move || request(address, &format!("{PREFIX}/api/v1/status"), &[])).await;
    assert_eq!(status, 200, "a client on this machine: {body}");
}
