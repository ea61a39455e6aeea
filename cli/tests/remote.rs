//! `attach`, `serve` and `record` with `--url`: a service's mounted
//! dashboard read from another process, as from another machine: the dump
//! of its stuck task, its JSON, this machine's dashboard of it, a
//! recording (where the service allows control), and one clear line (and
//! a failing exit) for a wrong token, a missing one, a wrong path, a
//! server that is not there, a dashboard that does not allow recording.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use async_inspect::JoinHandle;
use async_inspect::sync::{Mutex, OwnedMutexGuard};
use async_inspect::web::{Auth, router};

const CLI: &str = env!("CARGO_BIN_EXE_async-inspect");

/// The CLI with `args`, run off the runtime that serves it.
async fn cli(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(CLI).args(args).output().unwrap())
        .await
        .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

/// Its one line of stderr, which must be a failure's.
fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

/// A task waiting for the lock `name`, whose guard the caller holds.
async fn stuck_on(name: &'static str) -> (OwnedMutexGuard<()>, JoinHandle<()>) {
    let lock = Arc::new(Mutex::named(name, ()));
    let guard = lock.clone().lock_owned().await;
    let waiter = async_inspect::spawn(async move { drop(lock.lock().await) });
    (guard, waiter)
}

/// Serves `app` on a free loopback port, in this program: its address.
async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    async_inspect::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// This program's dashboard, read-only behind a token, mounted at
/// `/debug/async-inspect` of a server: its URL.
async fn mounted() -> String {
    let app = axum::Router::new().nest(
        "/debug/async-inspect",
        router(Auth::Token("s3cret".into())).unwrap(),
    );
    format!("http://{}/debug/async-inspect", serve(app).await)
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_by_url_dumps_a_mounted_service_and_says_what_is_wrong() {
    let (guard, waiter) = stuck_on("stuck").await;
    let url = mounted().await;

    let dump = cli(args(&[
        "attach", "--url", &url, "--token", "s3cret", "--dump",
    ]))
    .await;
    let report = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.status.success(), "{dump:?}");
    assert!(
        report.contains(&format!("pid {}", std::process::id())),
        "{report}"
    );
    assert!(
        report.contains("Waiting for: Mutex `stuck` held by task"),
        "{report}"
    );

    let json = cli(args(&[
        "attach", "--url", &url, "--token", "s3cret", "--dump", "--json",
    ]))
    .await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        json["tasks"].as_array().is_some_and(|t| t.len() >= 2),
        "{json}"
    );

    let wrong = failure(
        &cli(args(&[
            "attach", "--url", &url, "--token", "nope", "--dump",
        ]))
        .await,
    );
    assert!(wrong.contains("the token was refused (401)"), "{wrong}");
    let missing = failure(&cli(args(&["attach", "--url", &url, "--dump"])).await);
    assert!(missing.contains("a token is needed (401)"), "{missing}");
    let elsewhere = url.replace("/debug/async-inspect", "/not-here");
    let path = failure(
        &cli(args(&[
            "attach", "--url", &elsewhere, "--token", "s3cret", "--dump",
        ]))
        .await,
    );
    assert!(
        path.contains("no async-inspect dashboard there (404"),
        "{path}"
    );
    let nobody = failure(&cli(args(&["attach", "--url", "http://127.0.0.1:1", "--dump"])).await);
    assert!(
        nobody.contains("cannot reach http://127.0.0.1:1"),
        "{nobody}"
    );
    let https = failure(&cli(args(&["attach", "--url", "https://example.com", "--dump"])).await);
    assert!(https.contains("http://"), "{https}");
    let both = cli(args(&["attach", "--url", &url, "--pid", "1", "--dump"])).await;
    assert!(!both.status.success());

    drop(guard);
    waiter.await.unwrap();
}

/// `serve --url`: this machine's dashboard of a service's mounted one,
/// read every second through its API; a wrong token fails at once.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_by_url_shows_a_mounted_service() {
    let (guard, waiter) = stuck_on("far away").await;
    let url = mounted().await;

    let wrong = failure(
        &cli(args(&[
            "serve",
            "--url",
            &url,
            "--url-token",
            "nope",
            "--port",
            "0",
        ]))
        .await,
    );
    assert!(wrong.contains("the token was refused (401)"), "{wrong}");

    let served = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut server = Command::new(CLI)
                .args([
                    "serve",
                    "--url",
                    &url,
                    "--url-token",
                    "s3cret",
                    "--port",
                    "0",
                ])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let local = common::served_address(&mut server);
            let response = common::http_get(&local, "/api/v1/snapshot");
            let _ = server.kill();
            let _ = server.wait();
            response
        })
        .await
        .unwrap()
    };
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    assert!(
        served.contains(&format!("\"pid\":{}", std::process::id())),
        "{served}"
    );
    assert!(served.contains("far away"), "{served}");

    drop(guard);
    waiter.await.unwrap();
}

#[async_inspect::trace]
async fn remote_work(round: u32) -> u32 {
    async_inspect::time::sleep(std::time::Duration::from_millis(2)).await;
    round + 1
}

/// A task calling the traced `remote_work` in a loop until stopped.
struct Worker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    rounds: Arc<std::sync::atomic::AtomicU32>,
    handle: JoinHandle<()>,
}

impl Worker {
    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rounds = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let handle = {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            async_inspect::spawn(async move {
                let mut round = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    round = remote_work(round).await;
                    rounds.store(round, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        Self {
            stop,
            rounds,
            handle,
        }
    }

    /// Its rounds so far.
    fn rounds(&self) -> u32 {
        self.rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops it: the rounds it made.
    async fn stop(self) -> u32 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rounds = self.rounds.clone();
        self.handle.await.unwrap();
        rounds.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// This program's dashboard served twice behind a token: with control
/// allowed at `/control`, read-only at `/read`; the server's address.
async fn controlled_and_read_only() -> SocketAddr {
    let app = axum::Router::new()
        .nest(
            "/control",
            async_inspect::web::router_with_control(Auth::Token("s3cret".into())).unwrap(),
        )
        .nest("/read", router(Auth::Token("s3cret".into())).unwrap());
    serve(app).await
}

/// `record --url`: a dashboard mounted with control allowed records the
/// program and sends the trace; a read-only one refuses, saying why.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_by_url_writes_the_programs_trace() {
    let worker = Worker::start();
    let address = controlled_and_read_only().await;

    let dir = std::env::temp_dir().join(format!("async-inspect-record-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("http://{address}/control");
    let read_only = format!("http://{address}/read");
    // `record --url URL --token TOKEN` and the rest.
    let record = |url: &str, token: &str, rest: &[&str]| {
        let mut list = vec!["record", "--url", url, "--token", token];
        list.extend_from_slice(rest);
        cli(args(&list))
    };
    let out = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let recorded = record(
        &url,
        "s3cret",
        &["--duration", "300ms", "-o", &out("remote.trace")],
    )
    .await;
    assert!(recorded.status.success(), "{recorded:?}");
    let trace = async_inspect_model::trace_file::read_trace(
        std::fs::File::open(dir.join("remote.trace")).unwrap(),
    )
    .unwrap();
    assert_eq!(trace.pid, std::process::id());
    assert!(trace.snapshots.len() >= 2, "{}", trace.snapshots.len());
    assert!(
        trace
            .sites
            .iter()
            .any(|site| site.function == "remote_work"),
        "the traced calls were recorded: {:?}",
        trace.sites
    );

    // One recording at a time: a second, while the first runs, is refused.
    let first = tokio::spawn(record(
        &url,
        "s3cret",
        &["--duration", "5s", "-o", &out("first.trace")],
    ));
    let waited = std::time::Instant::now();
    while !async_inspect_agent::recording::under_way() {
        assert!(waited.elapsed() < common::PATIENCE, "never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let busy = failure(&record(&url, "s3cret", &["-o", &out("second.trace")]).await);
    assert!(
        busy.contains("409: cannot record: another recording of this program is under way"),
        "{busy}"
    );
    assert!(first.await.unwrap().status.success());

    let refused = failure(&record(&read_only, "s3cret", &["-o", &out("refused.trace")]).await);
    assert!(
        refused.contains("refused (403): recording is not allowed here"),
        "{refused}"
    );
    let wrong = failure(&record(&url, "nope", &["-o", &out("x.trace")]).await);
    assert!(wrong.contains("the token was refused (401)"), "{wrong}");

    assert!(worker.stop().await > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `debug --url`: over a dashboard mounted with control allowed, a
/// breakpoint pauses the task that reaches it, `bt` shows it there,
/// `continue` lets it go, and quitting closes the session (its breakpoint
/// goes: the task runs on); a read-only dashboard refuses, saying why.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_by_url_pauses_and_lets_go() {
    let worker = Worker::start();
    let id = worker.handle.inspect_id().unwrap().as_u64();
    let address = controlled_and_read_only().await;
    let url = format!("http://{address}/control");

    let rounds = worker.rounds.clone();
    tokio::task::spawn_blocking(move || {
        let mut debugger = common::Debugger::start(&["--url", &url, "--token", "s3cret"]);
        debugger.expect("the greeting", |l| l.contains("attached to"));
        // Only this test's task: the other tests' tasks run the same fn.
        debugger.send(&format!("break remote_work if task={id}"));
        debugger.expect("the breakpoint", |l| {
            l.starts_with("breakpoint 1 at remote_work")
        });
        debugger.expect("the pause", |l| {
            l == format!("task #{id} paused at breakpoint 1")
        });
        // Paused: it makes no progress.
        let at = rounds.load(std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(rounds.load(std::sync::atomic::Ordering::Relaxed), at);
        debugger.send(&format!("bt {id}"));
        debugger.expect("where it is paused", |l| {
            l.contains("Waiting for: paused at breakpoint 1 in remote_work()")
        });
        debugger.send(&format!("continue {id}"));
        debugger.expect("let go", |l| l == format!("let go: #{id}"));
        // It reaches the breakpoint again on its next round.
        debugger.expect("the next pause", |l| {
            l == format!("task #{id} paused at breakpoint 1")
        });
        debugger.send("quit");
        debugger.expect("the end", |l| {
            l.contains("detached; nothing is left paused")
        });
        assert!(debugger.child.wait().unwrap().success());
    })
    .await
    .unwrap();
    // The session closed with its breakpoint: the task runs on.
    let before = worker.rounds();
    let start = std::time::Instant::now();
    while worker.rounds() <= before + 2 {
        assert!(start.elapsed() < common::PATIENCE, "the task stayed paused");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let read_only = format!("http://{address}/read");
    let refused = failure(&cli(args(&["debug", "--url", &read_only, "--token", "s3cret"])).await);
    assert!(
        refused.contains("refused (403): debugging is not allowed here"),
        "{refused}"
    );
    worker.stop().await;
}
