//! The `async-inspect` command end to end, against the `stuck_request`
//! example (built once by a nested cargo): `attach --dump` finds the stuck
//! await, `--json` is the snapshot, `ps` lists the process, `run --report`
//! prints the report and passes the exit code on, a live attach ends when
//! the program does, and bad input is one line and a non-zero exit.

mod common;

use common::{CLI, Debugger, cli, export, text};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The examples' directory, built once for every test of this file.
fn stuck_request() -> PathBuf {
    common::examples().join("stuck_request")
}

fn slow_service() -> PathBuf {
    common::examples().join("slow_service")
}

/// A fresh directory for one test's files, removed when the test is done
/// with it (kept when it fails, to look at).
fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "async-inspect-cli-test-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The example, stuck for good, with its agent on; killed when dropped.
struct App(Child);

impl App {
    fn start() -> Self {
        let child = Command::new(stuck_request())
            .arg("--stay")
            .env("ASYNC_INSPECT_AGENT", "1")
            .env_remove("ASYNC_INSPECT_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts");
        let app = Self(child);
        app.wait_for_agent();
        app
    }

    /// Until the app's agent accepts connections on its socket. Not until
    /// the socket exists: a process killed earlier (as `Drop` kills these)
    /// leaves its socket behind, and with pids wrapping around (32 768 on
    /// this machine) a new process can get that pid before its agent
    /// replaces the file.
    fn wait_for_agent(&self) {
        let socket = async_inspect_model::wire::socket_for(self.pid());
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "no agent socket");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// `slow_service`, serving a request every 100 ms for two minutes,
    /// with its agent listening.
    fn slow_service() -> Self {
        let child = Command::new(slow_service())
            .args(["--seconds", "120"])
            .env("ASYNC_INSPECT_AGENT", "1")
            .env_remove("ASYNC_INSPECT_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let app = App(child);
        app.wait_for_agent();
        app
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `async-inspect export TRACE --format chrome`, parsed.
fn chrome_of(trace: &std::path::Path, out: &std::path::Path) -> serde_json::Value {
    export(trace, "chrome", out);
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// Takes dumps until the report shows the request stuck (it is, a second
/// after start).
fn dump_once_stuck(pid: u32) -> String {
    let start = Instant::now();
    loop {
        let out = cli(&["attach", "--pid", &pid.to_string(), "--dump"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report = text(&out.stdout);
        if report.contains("reply_rx.await ◄─── BLOCKED") {
            return report;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{report}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn attach_dump_finds_the_stuck_await_and_its_line() {
    let app = App::start();
    let report = dump_once_stuck(app.pid());
    // The `.await` of `reply_rx`: the line after the one that names it.
    let source = include_str!("../../examples/stuck_request.rs");
    let named = source.lines().position(|l| l.trim() == "reply_rx").unwrap() + 1;
    let at = format!("examples/stuck_request.rs:{}:10   step 2/2", named + 1);
    assert!(report.contains(&at), "{at} in {report}");
    assert!(
        report.contains("Timeout: None (will wait forever!)"),
        "{report}"
    );
}

/// `attach --dump` on a program with no `#[trace]`: the CLI decodes its
/// tasks' futures from `/proc/PID/exe` and the program's memory.
#[test]
fn attach_dump_decodes_the_futures_of_a_program_nobody_annotated() {
    let mut command = Command::new(common::examples().join("unannotated"));
    command
        .env("ASYNC_INSPECT_AGENT", "1")
        .env_remove("ASYNC_INSPECT_SOCKET");
    let app = unannotated_staying(command);
    // Its memory read by the kernel, then (as where ptrace_scope forbids
    // that) by its agent.
    for read_memory in ["auto", "agent"] {
        let out = Command::new(CLI)
            .args(["attach", "--pid", &app.pid().to_string(), "--dump"])
            .env("ASYNC_INSPECT_READ_MEMORY", read_memory)
            .output()
            .expect("the CLI runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        check_unannotated_report(&text(&out.stdout));
    }
}

#[test]
fn a_signal_dumps_the_report_the_program_would_print() {
    let dir = scratch("dump-signal");
    let dump = dir.join("dump.txt");
    let _ = std::fs::remove_file(&dump);
    let mut command = Command::new(common::examples().join("unannotated"));
    command
        .env("ASYNC_INSPECT_DUMP_SIGNAL", "SIGUSR1")
        .env("ASYNC_INSPECT_DUMP_TO", &dump)
        .env_remove("ASYNC_INSPECT_AGENT");
    let mut app = unannotated_staying(command);
    let killed = Command::new("kill")
        .args(["-USR1", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let mut last = String::new();
    let report = loop {
        let text = std::fs::read_to_string(&dump).unwrap_or_default();
        // Whole once two reads agree.
        if text.contains("Task #2") && text == last {
            break text;
        }
        last = text.clone();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no dump in {}: {text}",
            dump.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        report.starts_with("async-inspect: dump on signal\n"),
        "{report}"
    );
    check_unannotated_report(&report);
    // The program goes on after its dump.
    assert!(app.0.try_wait().unwrap().is_none(), "still running");
}

/// `examples/unannotated` started by `command` with `--stay`, once it has
/// printed its own report and said it stays up.
fn unannotated_staying(mut command: Command) -> App {
    use std::io::BufRead;
    let child = command
        .arg("--stay")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example starts");
    let mut app = App(child);
    let stdout = std::io::BufReader::new(app.0.stdout.take().unwrap());
    let said = stdout
        .lines()
        .map_while(Result::ok)
        .find(|line| line.contains("attach with"));
    assert!(said.is_some(), "the example stays up");
    app
}

/// The report of `examples/unannotated.rs`: its chain with each await's
/// line, locals, and the leaf.
fn check_unannotated_report(report: &str) {
    let source = include_str!("../../examples/unannotated.rs");
    let line_of = |needle: &str| source.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (function, await_line) in [
        (
            "unannotated::handle_request",
            line_of("let posts = fetch_posts"),
        ),
        (
            "unannotated::fetch_posts",
            line_of("let reply = call_backend"),
        ),
        ("unannotated::call_backend", line_of("reply_rx.await")),
    ] {
        let expected = format!("{function}   examples/unannotated.rs:{await_line}");
        assert!(report.contains(&expected), "{expected} in\n{report}");
    }
    assert!(report.contains(r#"query = "posts/12345""#), "{report}");
    assert!(
        report.contains(r#"user = User { id: 12345, name: "user-12345" }"#),
        "{report}"
    );
    assert!(
        report.contains("tokio::sync::oneshot::Receiver"),
        "{report}"
    );
    assert!(!report.contains("unreadable"), "{report}");
}

#[test]
fn attach_dump_json_is_the_snapshot() {
    let app = App::start();
    dump_once_stuck(app.pid());
    let out = cli(&[
        "attach",
        "--pid",
        &app.pid().to_string(),
        "--dump",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["pid"], app.pid());
    let names: Vec<&str> = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"handle_request"), "{names:?}");
}

#[test]
fn ps_lists_the_process() {
    let app = App::start();
    let out = cli(&["ps"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let row = listing
        .lines()
        .find(|line| line.trim_start().starts_with(&app.pid().to_string()))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(row.contains("stuck_request"), "{row}");
}

#[test]
fn run_report_prints_the_report_and_passes_the_exit_code_on() {
    let out = Command::new(CLI)
        .args(["run", "--report", "--"])
        .arg(stuck_request())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_stuck_at_the_reply(&text(&out.stdout));

    // A program started by the one run (as `cargo run` starts an example)
    // is found by its process tree.
    let nested = format!("{} && true", stuck_request().display());
    let out = cli(&["run", "--report", "--", "sh", "-c", &nested]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_stuck_at_the_reply(&text(&out.stdout));

    let out = cli(&["run", "--report", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("ended before its agent answered"),
        "{}",
        text(&out.stderr)
    );
}

/// The report as of `stuck_request`'s end shows its request stuck at the
/// backend's reply: parked there, if the last snapshot came before the
/// program aborted it as it ended, or cancelled there, if after (a
/// snapshot may come between the abort and the exit).
fn assert_stuck_at_the_reply(report: &str) {
    let parked = report.contains("reply_rx.await ◄─── BLOCKED");
    let cancelled = report.lines().any(|line| {
        line.contains("cancelled at `reply_rx.await` (examples/stuck_request.rs:52:")
            && line.contains("in call_backend(")
    });
    assert!(parked || cancelled, "{report}");
}

#[test]
fn a_live_attach_ends_when_the_program_does() {
    let mut app = App::start();
    let mut attach = Command::new(CLI)
        .args([
            "attach",
            "--pid",
            &app.pid().to_string(),
            "--interval",
            "50ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the program once the live view has shown it (its first report
    // is on the attach's output), read by a thread since reads block.
    let mut stdout = attach.stdout.take().unwrap();
    let (shown_tx, shown_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut told = false;
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..n]);
            if !told && text(&seen).contains("async-inspect report") {
                told = shown_tx.send(()).is_ok();
            }
        }
        text(&seen)
    });
    shown_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the live view shows a report");
    let pid = app.pid();
    app.0.kill().unwrap();
    app.0.wait().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = attach.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "attach hangs");
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = reader.join().unwrap();
    assert!(
        status.success(),
        "{}",
        text(&attach.wait_with_output().unwrap().stderr)
    );
    let ended = format!("async-inspect: process {pid} ended");
    assert!(output.contains(&ended), "{output}");
    assert!(!output.contains('\x1b'), "no terminal codes into a pipe");
}

#[test]
fn bad_input_is_one_line_and_a_failure() {
    let out = cli(&["attach", "--pid", "4194304", "--dump"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "async-inspect: no process 4194304\n");

    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let out = cli(&["attach", "--pid", &sleeper.id().to_string(), "--dump"]);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = text(&out.stderr);
    assert!(message.contains("is not inspectable"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");

    let out = cli(&["attach", "--pid", "twelve"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");

    let out = cli(&["run", "--", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("async-inspect: cannot run /no/such/program"));
}

#[test]
fn run_record_keeps_every_poll_call_await_and_lock() {
    let dir = scratch("events");
    let trace = dir.join("service.trace");
    let out = Command::new(CLI)
        .args([
            "run",
            "--report",
            "--all-polls",
            "--record",
            trace.to_str().unwrap(),
        ])
        .arg("--")
        .arg(slow_service())
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(said.contains("snapshots and "), "{said}");
    assert!(!said.contains(" 0 events"), "{said}");

    let chrome = chrome_of(&trace, &dir.join("service.json"));
    let events = chrome["traceEvents"].as_array().unwrap();
    let slices = |category: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == category && e["args"]["unfinished"].is_null())
            .collect::<Vec<_>>()
    };
    let span = |e: &serde_json::Value| {
        let ts = e["ts"].as_f64().unwrap();
        (
            e["tid"].as_u64().unwrap(),
            ts,
            ts + e["dur"].as_f64().unwrap(),
        )
    };
    // A request's call, with a call to `query_db` inside on the same track.
    let calls = slices("traced call");
    let inside = |outer: &serde_json::Value, name: &str| {
        let (tid, start, end) = span(outer);
        calls.iter().any(|c| {
            let (t, s, e) = span(c);
            t == tid && s >= start && e <= end && c["name"].as_str().unwrap().starts_with(name)
        })
    };
    let request = calls
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .unwrap()
                .starts_with("handle_request(id=")
                && inside(c, "query_db(id=")
        })
        .unwrap_or_else(|| {
            panic!(
                "a request with its query: {:?}",
                &calls[..calls.len().min(5)]
            )
        });
    let (tid, ..) = span(request);
    // The slow query's sleep: an await slice of 100 ms or so.
    let slow = slices("await").into_iter().any(|a| {
        a["name"]
            .as_str()
            .unwrap()
            .starts_with("sleep(Duration::from_millis(took))")
            && a["dur"].as_f64().unwrap() >= 90_000.0
    });
    assert!(slow, "a slow query's await");
    // Polls on the request's polls track (its tid + 1), and lock traffic.
    assert!(slices("poll").iter().any(|p| span(p).0 == tid + 1));
    assert!(
        slices("wait")
            .iter()
            .any(|w| w["name"] == "wait for Mutex `cache`")
    );
    assert!(
        slices("hold")
            .iter()
            .any(|h| h["name"] == "holds Mutex `cache`")
    );

    // The same recording as OpenTelemetry spans: a request's query is a
    // span inside the request's, in the task's trace, and its slow sleep
    // one inside the query's; lock waits are events.
    let otlp = dir.join("service.otlp.json");
    export(&trace, "otlp", &otlp);
    let request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_slice(&std::fs::read(&otlp).unwrap()).unwrap();
    let spans: Vec<_> = request.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .collect();
    let by_id: std::collections::HashMap<&[u8], _> =
        spans.iter().map(|s| (&s.span_id[..], *s)).collect();
    let parent =
        |s: &opentelemetry_proto::tonic::trace::v1::Span| by_id.get(&s.parent_span_id[..]).copied();
    let query = spans
        .iter()
        .find(|s| {
            s.name.starts_with("query_db(id=")
                && parent(s).is_some_and(|p| p.name.starts_with("handle_request(id="))
        })
        .unwrap_or_else(|| {
            panic!(
                "a query inside its request: {:?}",
                &spans[..spans.len().min(5)]
            )
        });
    let handler = parent(query).unwrap();
    assert_eq!(query.trace_id, handler.trace_id);
    assert!(
        query.start_time_unix_nano >= handler.start_time_unix_nano
            && query.end_time_unix_nano <= handler.end_time_unix_nano
    );
    assert!(spans.iter().any(|s| {
        s.name.starts_with("sleep(Duration::from_millis(took))")
            && parent(s).is_some_and(|p| p.name.starts_with("query_db("))
            && s.end_time_unix_nano - s.start_time_unix_nano >= 90_000_000
    }));
    assert!(
        spans
            .iter()
            .flat_map(|s| &s.events)
            .any(|e| e.name == "wait for Mutex `cache`")
    );

    let out = cli(&["replay", trace.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("replay of slow_service"));
}

#[test]
fn profile_ranks_the_slow_await_and_the_contended_lock_first() {
    let dir = scratch("profile");
    let svg = dir.join("service.svg");
    let trace = dir.join("service.trace");
    let out = Command::new(CLI)
        .args([
            "profile",
            "--top",
            "3",
            "--flamegraph",
            svg.to_str().unwrap(),
        ])
        .args(["--record", trace.to_str().unwrap(), "--"])
        .arg(slow_service())
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let section = |title: &str| {
        let start = report
            .find(title)
            .unwrap_or_else(|| panic!("no {title}: {report}"));
        let rest = &report[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    };
    // The root call first; within it, the slow query dominates.
    let functions = section("Slowest operations");
    let rows: Vec<&str> = functions.lines().skip(2).collect();
    assert!(
        rows[0].trim_start().starts_with("handle_request()"),
        "{functions}"
    );
    assert!(
        rows[1].trim_start().contains("% in query_db(id).await"),
        "{functions}"
    );
    // query_db's p99 (a 100 ms query every tenth call) far above its p50.
    let query = rows
        .iter()
        .find(|r| r.trim_start().starts_with("query_db()"))
        .unwrap();
    let columns: Vec<&str> = query.split_whitespace().collect();
    assert!(
        columns[3].ends_with("ms") && columns[4].ends_with("ms"),
        "{query}"
    );
    let p50: f64 = columns[3].trim_end_matches("ms").parse().unwrap();
    let p99: f64 = columns[4].trim_end_matches("ms").parse().unwrap();
    assert!(p50 < 20.0 && p99 >= 90.0, "{query}");
    let locks = section("Lock contention");
    assert!(
        locks.lines().nth(1).unwrap().contains("Mutex `cache`"),
        "{locks}"
    );
    assert!(
        locks.contains("waited at update_cache → cache.lock().await"),
        "{locks}"
    );
    let suggestions = section("Suggestions");
    assert!(suggestions.contains("query_db()"), "{suggestions}");
    assert!(suggestions.contains("Mutex `cache`"), "{suggestions}");

    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    for name in ["handle_request", "query_db", "update_cache"] {
        assert!(svg.contains(name), "{name} in the flamegraph");
    }

    // The same report from the recording, and its folded stacks.
    let out = cli(&["profile", "--top", "3", "--from", trace.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Mutex `cache`"));
    let folded = dir.join("service.folded");
    export(&trace, "folded", &folded);
    let folded = std::fs::read_to_string(folded).unwrap();
    let line = folded
        .lines()
        .find(|l| l.starts_with("handle_request;render "))
        .expect("render's CPU under handle_request");
    let nanos: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(nanos > 0);

    // Limited to one request's trace: the service's tasks serve none.
    let from = trace.to_str().unwrap();
    let out = cli(&["profile", "--from", from, "--trace", "0af7651916cd43dd"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.lines().count() == 1
            && said.contains("no task of")
            && said.contains("serves trace 0af7651916cd43dd"),
        "{said}"
    );
    let out = cli(&["profile", "--from", from, "--trace", "xyz"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

/// The requests the slow service says it served, in `output`.
fn served(output: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("served ")?.split(' ').next()?.parse().ok())
}

#[test]
fn profile_of_a_program_over_before_the_cli_connects_records_it_whole() {
    // The shortest run (each of the eight workers serves one request, some
    // 25 ms): often over before the CLI connects; it waits at its exit for
    // the CLI, to hand over its recording.
    let out = Command::new(CLI)
        .args(["profile", "--top", "5", "--"])
        .arg(slow_service())
        .args(["--seconds", "0.002"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let served = served(&report).unwrap_or_else(|| panic!("{report}"));
    assert!(served >= 8, "{report}");
    let calls: Option<u64> = report
        .lines()
        .find(|l| l.trim_start().starts_with("handle_request()"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    assert_eq!(calls, Some(served), "{report}");
}

#[test]
fn profile_of_a_short_program_covers_its_whole_run() {
    // 150 ms: over before a client connecting after the start would see
    // much of it; the recording begins with the program.
    let dir = scratch("short-profile");
    let svg = dir.join("short.svg");
    let out = Command::new(CLI)
        .args([
            "profile",
            "--top",
            "5",
            "--flamegraph",
            svg.to_str().unwrap(),
            "--",
        ])
        .arg(slow_service())
        .args(["--seconds", "0.15"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(!report.contains("no traced call completed"), "{report}");
    let served = served(&text(&out.stderr))
        .or_else(|| served(&report))
        .unwrap_or(0);
    let functions = report
        .split("\n\n")
        .find(|s| s.contains("Slowest operations"))
        .unwrap_or_else(|| panic!("{report}"));
    let rows: Vec<&str> = functions.lines().skip(2).collect();
    assert!(
        rows[0].trim_start().starts_with("handle_request()"),
        "the root call first: {functions}"
    );
    // Every request the program served was recorded, from its first poll
    // to the last ones, which end as the program exits.
    let calls: u64 = rows[0]
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a call count: {}", rows[0]));
    assert!(calls >= 8, "{functions}");
    assert!(served > 0, "the program says how many it served");
    assert_eq!(calls, served, "{calls} of {served} requests: {functions}");
    assert!(
        report.contains("waited at update_cache → cache.lock().await"),
        "where the lock was waited for: {report}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    for name in [
        "handle_request",
        "authenticate",
        "query_db",
        "update_cache",
        "render",
    ] {
        assert!(svg.contains(name), "{name} in the flamegraph");
    }
}

/// Sends `GET path` to `port` and, if `answer`, returns the response.
fn http_get(port: u16, path: &str, answer: bool) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    if !answer {
        // Kept open by the leak: the handler stays stuck.
        std::mem::forget(stream);
        return None;
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    Some(response)
}

#[test]
fn attach_names_the_stuck_and_deadlocked_handlers_of_an_axum_service() {
    use std::io::BufRead;
    let mut child = Command::new(common::examples().join("axum_deadlock"))
        .args(["--port", "0"])
        .env_remove("ASYNC_INSPECT_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let app = App(child);
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the address: {line}"));
    assert!(
        http_get(port, "/health", true)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    http_get(port, "/transfer/alice/bob", false);
    http_get(port, "/transfer/bob/alice", false);
    http_get(port, "/report/7", false);
    let start = Instant::now();
    let report = loop {
        let out = cli(&["attach", "--pid", &app.pid().to_string(), "--dump"]);
        let report = text(&out.stdout);
        if report.contains("DEADLOCK DETECTED") && report.contains("report(user=7) · BLOCKED") {
            break report;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{report}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(report.contains("Task #"), "{report}");
    assert!(
        report.contains("transfer(from=\"alice\", to=\"bob\")")
            && report.contains("transfer(from=\"bob\", to=\"alice\")"),
        "{report}"
    );
    assert!(
        report.contains("adopted: runs in a task spawned elsewhere (runtime task"),
        "{report}"
    );
    assert!(report.contains("rx.await ◄─── BLOCKED"), "{report}");
    assert!(report.contains("examples/axum_deadlock.rs:"), "{report}");
    assert!(
        http_get(port, "/health", true)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
}

#[test]
fn record_then_replay_and_export() {
    let app = App::start();
    dump_once_stuck(app.pid());
    let dir = scratch("record");
    let trace = dir.join("stuck.trace");
    let trace_arg = trace.to_str().unwrap();
    let out = cli(&[
        "record",
        "--pid",
        &app.pid().to_string(),
        "-o",
        trace_arg,
        "--duration",
        "400ms",
        "--interval",
        "50ms",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("recorded"),
        "{}",
        text(&out.stderr)
    );

    let out = cli(&["replay", trace_arg, "--at", "0s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.starts_with("replay of stuck_request (pid "),
        "{report}"
    );
    assert!(report.contains("reply_rx.await ◄─── BLOCKED"), "{report}");

    let json_path = dir.join("stuck.json");
    let out = cli(&[
        "export",
        trace_arg,
        "--format",
        "json",
        "-o",
        json_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["pid"], app.pid());
    assert!(json["snapshots"].as_array().unwrap().len() >= 2, "{json}");

    // The Chrome trace: a named track per task, the traced calls nested.
    let chrome_path = dir.join("stuck.chrome.json");
    let chrome = chrome_of(&trace, &chrome_path);
    let events = chrome["traceEvents"].as_array().unwrap();
    let track_of = |name: &str| {
        events
            .iter()
            .find(|e| e["ph"] == "M" && e["args"]["name"].as_str().unwrap().ends_with(name))
            .map(|e| e["tid"].clone())
            .unwrap_or_else(|| panic!("a track for {name}"))
    };
    let tid = track_of(" handle_request");
    let slice = |name: &str| {
        events
            .iter()
            .find(|e| {
                e["ph"] == "X" && e["tid"] == tid && e["name"].as_str().unwrap().starts_with(name)
            })
            .unwrap_or_else(|| panic!("a slice {name} on {tid}"))
    };
    let outer = slice("handle_request(");
    let inner = slice("call_backend(");
    let span = |e: &serde_json::Value| {
        let ts = e["ts"].as_f64().unwrap();
        (ts, ts + e["dur"].as_f64().unwrap())
    };
    let (outer_start, outer_end) = span(outer);
    let (inner_start, inner_end) = span(inner);
    assert!(
        outer_start <= inner_start && inner_end <= outer_end && outer_end > outer_start,
        "nested: {outer} around {inner}"
    );
    slice("reply_rx.await");

    // Cut short, as by a kill mid-write: what came before still replays.
    let bytes = std::fs::read(&trace).unwrap();
    let cut = dir.join("cut.trace");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let out = cli(&["replay", cut.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is cut short"),
        "{}",
        text(&out.stderr)
    );

    // Not a trace at all: one line, a failure.
    let junk = dir.join("junk.trace");
    std::fs::write(&junk, b"{\"not\": \"a trace\"}").unwrap();
    let out = cli(&["replay", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let message = text(&out.stderr);
    assert!(message.contains("not an async-inspect trace"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

/// A crate of its own whose tests hang, deadlock, invert a lock order or
/// pass, made in a temp dir against this workspace (its lock file and
/// target dir, so nothing is downloaded or built twice).
fn fixture_crate() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("async-inspect-fixture-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    let manifest = format!(
        "[package]\nname = \"async-inspect-fixture\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dev-dependencies]\nasync-inspect = {{ path = {:?} }}\ntokio = {{ version = \"1\", features = [\"sync\", \"rt\"] }}\n\n[workspace]\n",
        root.to_str().unwrap()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("tests/fixture.rs"),
        include_str!("fixture_tests.rs.txt"),
    )
    .unwrap();
    // No watched test here: only the stall watcher can see this one hang.
    std::fs::write(
        dir.join("tests/stall.rs"),
        "#[test]\nfn hangs_unwatched() {\n    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();\n    runtime.block_on(async { async_inspect::spawn(std::future::pending::<()>()).await.unwrap() });\n}\n",
    )
    .unwrap();
    dir
}

#[test]
fn async_inspect_test_names_what_hung_deadlocked_and_inverted() {
    let dir = fixture_crate();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let manifest = dir.join("Cargo.toml");
    let traces = dir.join("traces");
    let run = |args: &[&str]| {
        Command::new(CLI)
            .arg("test")
            .args(["--trace-out", traces.to_str().unwrap()])
            .args(args)
            .args(["--", "--manifest-path", manifest.to_str().unwrap()])
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--timeout",
        "1s",
        "--fail-on-hang",
        "--fail-on-deadlock",
        "--fail-on-lock-order",
    ]);
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("async-inspect test:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        summary.starts_with(
            "async-inspect test: 2 hung, 1 deadlock(s), 1 lock-order inversion(s), 1 stalled test binary (stall-"
        ),
        "{summary}"
    );
    assert!(summary.contains("(timeout 1.0s: "), "{summary}");
    assert!(
        summary.contains("`waits_forever`") && summary.contains("`deadlocks`"),
        "{summary}"
    );
    let output = text(&out.stdout) + &stderr;
    assert!(
        output.contains("test `waits_forever` did not finish within 1.0s. Found it stuck at:"),
        "the report is passed through: {output}"
    );
    // Each hung test left its trace, and the summary says where.
    let trace = traces.join("waits_forever.trace");
    assert!(
        stderr.contains(&format!("trace written to {}", trace.display())),
        "{stderr}"
    );
    let out = cli(&["replay", trace.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replayed = text(&out.stdout);
    assert!(
        replayed.starts_with("replay of waits_forever") && replayed.contains("1 tasks"),
        "only the hung test's task: {replayed}"
    );

    assert!(
        output.contains("no inspected task made progress for 1.0s in stall-"),
        "{output}"
    );

    let passing = Command::new(CLI)
        .args(["test", "--fail-on-hang", "--", "--manifest-path"])
        .arg(&manifest)
        .args(["--test", "fixture", "finishes"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert_eq!(passing.status.code(), Some(0), "{}", text(&passing.stderr));
    assert!(text(&passing.stderr).contains("async-inspect test: 0 hung, 0 deadlock(s)"));

    // A test that passes but leaves a task nobody can wake: a lint, which
    // fails the run when asked to.
    let lint_run = |fail: bool| {
        Command::new(CLI)
            .arg("test")
            .args(fail.then_some("--fail-on-lint"))
            .args(["--", "--manifest-path"])
            .arg(&manifest)
            .args(["--test", "fixture", "loses_a_waker"])
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap()
    };
    let linted = lint_run(true);
    let stderr = text(&linted.stderr);
    assert_eq!(linted.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "async-inspect test: 0 hung, 0 deadlock(s), 0 lock-order inversion(s), 1 other lint(s)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("async-inspect: ⚠ task #") && stderr.contains("no waker for it exists"),
        "the lint is passed through: {stderr}"
    );
    // Not asked: the test passes, and nothing is said of lints.
    let quiet = lint_run(false);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    assert!(
        !text(&quiet.stderr).contains("lint"),
        "{}",
        text(&quiet.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_shows_a_recording_and_refuses_an_open_bind_without_a_token() {
    let dir = scratch("serve");
    let trace = dir.join("empty.trace");
    let file = std::fs::File::create(&trace).unwrap();
    let mut writer =
        async_inspect_model::trace_file::TraceWriter::new(file, 42, "fixture", Duration::ZERO)
            .unwrap();
    let empty = async_inspect_model::SnapshotParts {
        pid: 42,
        ..Default::default()
    };
    writer
        .snapshot(&async_inspect_model::Snapshot::from_parts(empty))
        .unwrap();
    drop(writer);
    let server = Command::new(CLI)
        .args(["serve", "--port", "0", "--trace", trace.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = App(server);
    let address = common::served_address(&mut server.0);
    let response = common::http_get(&address, "/api/v1/status");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("\"title\":\"fixture (pid 42, recorded)\""),
        "{response}"
    );
    drop(server);

    let out = cli(&[
        "serve",
        "--trace",
        trace.to_str().unwrap(),
        "--bind",
        "0.0.0.0",
        "--port",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains("needs --token"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");

    let out = cli(&["serve", "--pid", "999999999"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
}

/// Whether the program still has a task paused at a breakpoint.
fn anything_paused(pid: u32) -> bool {
    let out = cli(&["attach", "--pid", &pid.to_string(), "--dump"]);
    text(&out.stdout).contains("paused at breakpoint")
}

fn wait_until_nothing_paused(pid: u32) {
    let start = Instant::now();
    while anything_paused(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "tasks stayed paused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn debug_stops_a_live_service_at_an_await_steps_it_and_lets_it_go() {
    let app = App::slow_service();
    let mut debugger = Debugger::start(&["--pid", &app.pid().to_string()]);
    debugger.send("break query_db#1");
    debugger.expect("the breakpoint", |l| l == "breakpoint 1 at query_db#1");
    let paused = debugger.expect("a paused task", |l| l.ends_with("paused at breakpoint 1"));
    let task: u64 = paused
        .trim_start_matches("task #")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    debugger.send(&format!("bt {task}"));
    debugger.expect("the paused await", |l| {
        l.contains("sleep(Duration::from_millis(took)).await ◄─── BLOCKED")
            && l.contains("examples/slow_service.rs:")
    });
    debugger.expect("why", |l| {
        l.contains("Waiting for: paused at breakpoint 1 in query_db() at examples/slow_service.rs:")
    });
    // To its next await: query_db returns, handle_request goes on.
    debugger.send(&format!("step {task}"));
    debugger.expect("the step", |l| l == format!("let go: #{task}"));
    debugger.expect("the next pause", |l| {
        l == format!("task #{task} paused at breakpoint 1")
    });
    debugger.send(&format!("bt {task}"));
    debugger.expect("the next await", |l| {
        l.contains("update_cache(&cache, rows).await ◄─── BLOCKED")
    });
    // Into update_cache, then out of it to handle_request's next await.
    debugger.stops_at(task, "step", "cache.lock().await");
    debugger.stops_at(task, "finish", "render(rows).await");
    // Another request: from query_db out to update_cache, then over it.
    debugger.send("continue");
    let paused = debugger.expect("another paused task", |l| {
        l.ends_with("paused at breakpoint 1") && !l.starts_with(&format!("task #{task} "))
    });
    let task: u64 = paused
        .trim_start_matches("task #")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    debugger.stops_at(task, "finish", "update_cache(&cache, rows).await");
    debugger.stops_at(task, "next", "render(rows).await");
    // A breakpoint with conditions is read back as understood.
    debugger.send("break render if after=1000000 args~rows=");
    debugger.expect("the conditional breakpoint", |l| {
        l == "breakpoint 2 at render if args~rows= after=1000000"
    });
    debugger.send("info breakpoints");
    debugger.expect("the list", |l| {
        l == "breakpoint 2 at render if args~rows= after=1000000"
    });
    debugger.send("break render if colour=red");
    debugger.expect("a clear error", |l| {
        l.starts_with("error: `render if colour=red` is not a breakpoint")
    });
    debugger.send("quit");
    debugger.expect("the goodbye", |l| {
        l.contains("detached; nothing is left paused")
    });
    assert!(debugger.child.wait().unwrap().success());
    wait_until_nothing_paused(app.pid());

    // A debugger that dies leaves nothing paused either.
    let mut debugger = Debugger::start(&["--pid", &app.pid().to_string()]);
    debugger.send("break query_db");
    debugger.expect("a paused task", |l| l.ends_with("paused at breakpoint 3"));
    assert!(anything_paused(app.pid()));
    debugger.child.kill().unwrap();
    let _ = debugger.child.wait();
    wait_until_nothing_paused(app.pid());
}

/// The terminal UI in a pseudo-terminal (`script`, from util-linux): its
/// screen output as it comes, and its keyboard.
struct Terminal {
    child: Child,
    output: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Terminal {
    fn start(command: &str) -> Self {
        use std::io::Read;
        let mut child = Command::new("script")
            .args(["-q", "-f", "-e", "-c", command, "/dev/null"])
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs");
        let mut stdout = child.stdout.take().unwrap();
        let (tx, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 || tx.send(buffer[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            output,
            seen: String::new(),
        }
    }

    /// Waits until the screen output so far contains `text`.
    fn expect(&mut self, text: &str) {
        let start = Instant::now();
        while !self.seen.contains(text) {
            let left = Duration::from_secs(30).saturating_sub(start.elapsed());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => {
                    let mut tail = self.seen.len().saturating_sub(3000);
                    while !self.seen.is_char_boundary(tail) {
                        tail += 1;
                    }
                    panic!(
                        "the screen never showed {text:?}; its last output:\n{}",
                        &self.seen[tail..]
                    )
                }
            }
        }
    }

    /// Whether the screen output after its first `from` bytes (as
    /// collected so far, and whatever has come since) contains `text`.
    fn shown_since(&mut self, from: usize, text: &str) -> bool {
        while let Ok(bytes) = self.output.try_recv() {
            self.seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        self.seen.get(from..).is_some_and(|s| s.contains(text))
    }

    fn keys(&mut self, keys: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_terminal_ui_sets_a_breakpoint_on_the_selected_await_and_quitting_lets_go() {
    let app = App::slow_service();
    let mut terminal = Terminal::start(&format!(
        "stty cols 200 rows 50; exec {CLI} attach --pid {} --interval 200ms",
        app.pid()
    ));
    terminal.expect("handle_request");
    // Only the tasks queued for the cache's lock (eight workers share it,
    // each holding it 2 ms), then a breakpoint on the first one's await.
    // The screen is drawn by differences, so what the keys did is read
    // from the program; the one thing read from the screen is the UI
    // saying no task was listed at that moment, and then `b` is pressed
    // again.
    terminal.keys("/cache.lock\r");
    let paused = |app: &App| {
        let dump = text(&cli(&["attach", "--pid", &app.pid().to_string(), "--dump"]).stdout);
        dump.contains("paused at breakpoint").then_some(dump)
    };
    let start = Instant::now();
    let dump = 'set: loop {
        let shown = terminal.seen.len();
        terminal.keys("b");
        loop {
            if let Some(dump) = paused(&app) {
                break 'set dump;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no task paused at a breakpoint set from the UI"
            );
            if terminal.shown_since(shown, "no task selected") {
                continue 'set;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(
        dump.contains("paused at breakpoint 1 in update_cache() at examples/slow_service.rs:44"),
        "{dump}"
    );
    // Leaving the UI drops its connection, and with it the breakpoint.
    terminal.keys("q");
    let status = terminal.child.wait().unwrap();
    assert!(status.success(), "the UI quits cleanly: {status}");
    wait_until_nothing_paused(app.pid());
}
