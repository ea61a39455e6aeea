//! Two services in two processes (`examples/two_services.rs`, kept up with
//! `--stay`): `attach --pid A --pid B --dump` follows each stuck request
//! from the waiting handler in one to the line the other is stuck at, and
//! finds the deadlock neither sees alone; `record` then `export --format
//! otlp` gives OpenTelemetry spans, read back with the official OTLP
//! definitions (`opentelemetry-proto`), from a file and as a collector
//! receives them.

mod common;

use common::{cli, export, text};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// The trace of the user's request in the example.
const USER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The user's span, the parent of the checkout handler's.
const USER_SPAN: &str = "00f067aa0ba902b7";

/// Both services, up and stuck, until dropped.
struct Services {
    child: Child,
    checkout: u32,
    inventory: u32,
}

impl Services {
    fn start() -> Self {
        let child = Command::new(common::examples().join("two_services"))
            .arg("--stay")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Killed when dropped, also if what follows panics.
        let mut services = Self {
            child,
            checkout: 0,
            inventory: 0,
        };
        let stdout = BufReader::new(services.child.stdout.take().unwrap());
        // The example checks its own join, then says how to attach.
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(attach) = line.strip_prefix("Both services stay up: ") {
                let pids: Vec<u32> = attach
                    .split("--pid ")
                    .skip(1)
                    .map(|p| p.split_whitespace().next().unwrap().parse().unwrap())
                    .collect();
                (services.checkout, services.inventory) = (pids[0], pids[1]);
                return services;
            }
        }
        panic!("the example ended before its services were up");
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Inventory ends when its stdin (held by checkout) closes.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn attach_joins_two_processes_by_their_calls() {
    let services = Services::start();
    let (a, b) = (
        services.checkout.to_string(),
        services.inventory.to_string(),
    );
    let out = cli(&["attach", "--pid", &a, "--pid", &b, "--dump"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains(&format!("══ two_services (pid {a}) ══"))
            && report.contains(&format!("══ two_services (pid {b}) ══")),
        "{report}"
    );
    let joined = report
        .split("Across 2 processes")
        .nth(1)
        .unwrap_or_else(|| panic!("the joined part: {report}"));
    // The user's request, from the handler that waits to the job that
    // holds what the other process needs.
    let chain: Vec<&str> = joined
        .lines()
        .skip_while(|l| !l.starts_with("Task ") || !l.contains("POST /checkout/42"))
        .take(3)
        .collect();
    assert!(
        chain.len() == 3
            && chain[0].contains(&format!("in two_services (pid {a})"))
            && chain[0].contains("waits for POST http://")
            && chain[1].contains(&format!("POST /reserve/42 in two_services (pid {b})"))
            && chain[1].contains("Mutex `stock` held by")
            && chain[1].contains(&format!("trace {USER_TRACE}"))
            && chain[2].contains("restock in two_services"),
        "{joined}"
    );
    assert!(
        joined.contains("DEADLOCK across processes: 3 tasks wait for each other"),
        "{joined}"
    );

    let out = cli(&["attach", "--pid", &a, "--pid", &b, "--dump", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let across = &json["across"];
    assert_eq!(across["calls"].as_array().unwrap().len(), 3, "{across}");
    let cycle = across["deadlocks"][0].as_array().unwrap();
    let processes: Vec<u64> = cycle
        .iter()
        .map(|n| n["process"].as_u64().unwrap())
        .collect();
    assert_eq!(processes.len(), 3, "{across}");
    assert!(processes.contains(&0) && processes.contains(&1), "{across}");

    // Filtered to the user's trace: its two handlers, one per process.
    let out = cli(&[
        "attach",
        "--pid",
        &a,
        "--pid",
        &b,
        "--dump",
        "--trace",
        &USER_TRACE[..8],
    ]);
    let report = text(&out.stdout);
    let shown = report.split("Across").next().unwrap();
    assert!(
        shown.contains("Task #")
            && shown.contains("POST /reserve/42")
            && !shown.contains("POST /pay/7"),
        "{report}"
    );

    // Several processes are shown joined only in a dump; a wrong pid says so.
    let out = cli(&["attach", "--pid", &a, "--pid", &b]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("add --dump"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["attach", "--pid", &a, "--pid", "999999999", "--dump"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

/// Reads one HTTP request from `listener`, answers `status`, and returns
/// its body.
fn receive(listener: &TcpListener, status: &str) -> (String, Vec<u8>) {
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    write!(
        reader.get_mut(),
        "HTTP/1.1 {status}\r\nContent-Length: 7\r\nConnection: close\r\n\r\nrefused"
    )
    .unwrap();
    (head, body)
}

#[test]
fn a_recording_exports_as_opentelemetry_spans() {
    let services = Services::start();
    let dir = std::env::temp_dir().join(format!("async-inspect-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("checkout.trace");
    let trace_arg = trace.to_str().unwrap();
    let pid = services.checkout.to_string();
    let out = cli(&[
        "record",
        "--pid",
        &pid,
        "--duration",
        "300ms",
        "-o",
        trace_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let json = dir.join("checkout.otlp.json");
    export(&trace, "otlp", &json);
    let request: ExportTraceServiceRequest =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let all = spans(&request);
    let ids: std::collections::HashSet<&[u8]> = all.iter().map(|s| &s.span_id[..]).collect();
    for span in &all {
        assert_eq!(
            (span.trace_id.len(), span.span_id.len()),
            (16, 8),
            "{span:?}"
        );
        // After 2020, ending no earlier than it began.
        assert!(
            span.start_time_unix_nano > 1_577_836_800_000_000_000,
            "{span:?}"
        );
        assert!(
            span.end_time_unix_nano >= span.start_time_unix_nano,
            "{span:?}"
        );
        // A task's span may be under its caller's, in another process.
        let task_span = span
            .attributes
            .iter()
            .any(|a| a.key == "async_inspect.task.id");
        assert!(
            span.parent_span_id.is_empty() || ids.contains(&span.parent_span_id[..]) || task_span,
            "a parent that is in the export: {span:?}"
        );
    }
    let named = |prefix: &str| {
        *all.iter()
            .find(|s| s.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("a span {prefix}: {all:#?}"))
    };
    // The handler's task: in the user's trace, under the user's span.
    let task = named("POST /checkout/42");
    assert_eq!(hex(&task.trace_id), USER_TRACE);
    assert_eq!(hex(&task.parent_span_id), USER_SPAN);
    // Its traced call inside it, and the parked await inside that.
    let call = named("handle_checkout(item=42)");
    assert_eq!(
        (call.trace_id.clone(), call.parent_span_id.clone()),
        (task.trace_id.clone(), task.span_id.clone())
    );
    assert!(call.start_time_unix_nano >= task.start_time_unix_nano);
    assert!(call.end_time_unix_nano <= task.end_time_unix_nano);
    let awaited = all
        .iter()
        .find(|s| s.parent_span_id == call.span_id)
        .unwrap_or_else(|| panic!("a span inside {call:?}: {all:#?}"));
    assert!(
        awaited.name.starts_with("call(shop.inventory") && awaited.name.ends_with(".await"),
        "{awaited:?}"
    );
    // The deadlocked order is a trace of its own, not the user's.
    assert_ne!(named("POST /pay/7").trace_id, task.trace_id);

    // The same spans as protobuf, as a collector receives them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let collector = std::thread::spawn(move || {
        let ok = receive(&listener, "200 OK");
        let refused = receive(&listener, "400 Bad Request");
        (ok, refused)
    });
    let send = |format: &str, endpoint: &str| {
        let out = cli(&[
            "export",
            trace_arg,
            "--format",
            format,
            "--endpoint",
            endpoint,
        ]);
        (out.status.code(), text(&out.stderr))
    };
    let (code, said) = send("otlp", &endpoint);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!("sent {} spans", all.len())),
        "{said}"
    );
    let (code, said) = send("otlp", &endpoint);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("refused the spans: 400"), "{said}");
    let ((head, body), _) = collector.join().unwrap();
    assert!(head.starts_with("POST /v1/traces "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{head}"
    );
    let received = ExportTraceServiceRequest::decode(&body[..]).unwrap();
    assert_eq!(received, request);

    // Bad input: a format that cannot be sent, an endpoint nobody serves.
    let (code, said) = send("chrome", &endpoint);
    assert!(code == Some(1) && said.contains("--format otlp"), "{said}");
    let (code, said) = send("otlp", "http://127.0.0.1:1/v1/traces");
    assert!(code == Some(1) && said.contains("cannot reach"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
