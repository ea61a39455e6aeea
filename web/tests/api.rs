//! Every endpoint of the JSON API against a fixture process (the
//! `deadlock` example's snapshot, with recorded events) and a recording;
//! the token's checks; live updates.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use async_inspect_model::event::Batch;
use async_inspect_model::trace_file::Trace;
use async_inspect_web::{Data, Options, ServeError, Server, Update};
use common::{fixture, get, json, live_fixture, serve};

fn events_for(task: u64, other: u64, end: u64) -> Batch {
    let t = |before: u64| end - before * 1_000_000;
    serde_json::from_value(serde_json::json!({
        "sites": [{"id": 0, "function": "transfer", "module_path": "deadlock", "file": "examples/deadlock.rs",
                   "line": 13, "awaits": [["from.lock()", 14], ["sleep(d)", 16], ["to.lock()", 17]]}],
        "resources": [{"id": 9, "kind": "mutex", "label": "bob", "created_at": "examples/deadlock.rs:25:15"}],
        "events": [
            {"poll": {"task": task, "start": t(250), "end": t(249)}},
            {"enter": {"task": task, "frame": 1, "parent": 0, "site": 0, "args": null, "at": t(250)}},
            {"await_start": {"task": task, "frame": 1, "index": 1, "at": t(249)}},
            {"await_end": {"task": task, "frame": 1, "index": 1, "at": t(199)}},
            {"poll": {"task": task, "start": t(199), "end": t(198)}},
            {"wait": {"task": task, "resource": 9, "at": t(198)}},
            {"wake": {"task": task, "by": other, "at": t(200)}},
        ],
        "dropped": 0,
    }))
    .unwrap()
}

#[test]
fn every_endpoint_answers_from_a_live_process() {
    let (data, address) = live_fixture(None);
    let snapshot = fixture();
    let link = &snapshot.deadlocks()[0].cycle[0];
    let task = link.task.as_u64();
    let other = link.held_by.as_u64();
    data.apply(Update::Events(Box::new(events_for(
        task,
        other,
        snapshot.taken_at().as_nanos() as u64,
    ))));

    let status = json(address, "/api/v1/status");
    assert_eq!(status["deadlocks"], 1);
    assert_eq!(status["blocked"], 3);
    assert_eq!(status["live"], true);
    assert_eq!(status["events"], 7);

    let tasks = json(address, "/api/v1/tasks?state=blocked&sort=id");
    assert_eq!(tasks["total"], 3);
    let ids: Vec<u64> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let searched = json(address, "/api/v1/tasks?q=to.lock");
    assert_eq!(
        searched["total"], 2,
        "the two transfers parked at to.lock()"
    );
    let paged = json(address, "/api/v1/tasks?offset=1&limit=1");
    assert_eq!(paged["tasks"].as_array().unwrap().len(), 1);

    // A lock wait is parked at the lock, its holder and the lock() line;
    // the rows of a deadlock say so.
    let row = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task)
        .unwrap();
    let name = &link.resource.as_ref().unwrap().name;
    let parked = row["parked_at"].as_str().unwrap();
    assert!(
        parked.starts_with(&format!("Mutex `{name}` held by {}", link.held_by))
            && parked.contains("examples/deadlock.rs:17:"),
        "{parked}"
    );
    assert_eq!(row["deadlocked"], true);
    let main = snapshot.tasks().iter().find(|t| t.name == "main").unwrap();
    let main_row = json(address, &format!("/api/v1/tasks/{}", main.id.as_u64()));
    assert_eq!(main_row["row"]["deadlocked"], false);
    assert!(
        !main_row["report"].as_str().unwrap().contains("DEADLOCK"),
        "a task outside the cycle shows no deadlock"
    );

    let one = json(address, &format!("/api/v1/tasks/{task}"));
    assert_eq!(one["row"]["name"], "transfer");
    assert!(
        one["report"]
            .as_str()
            .unwrap()
            .contains("✖ DEADLOCK DETECTED"),
        "its deadlock, marked without an emoji"
    );
    let report = one["report"].as_str().unwrap();
    assert!(report.contains("to.lock().await ◄─── BLOCKED"), "{report}");
    assert!(report.contains("examples/deadlock.rs:17:"), "{report}");
    // The frame at the await it is suspended at, then its fn's line.
    let frame = &snapshot.task(link.task).unwrap().frames[0];
    let step = frame.current_await().unwrap();
    assert!(
        report.contains(&format!(
            "{}   step {}/{} · fn at line {}",
            step.location, step.step, step.of, frame.location.line
        )),
        "{report}"
    );
    let (status, body) = get(address, "/api/v1/tasks/999999", &[]);
    assert_eq!(status, 404, "{body}");

    let deadlocks = json(address, "/api/v1/deadlocks");
    assert!(
        deadlocks["text"][0]
            .as_str()
            .unwrap()
            .contains("DEADLOCK DETECTED")
    );
    let graph = json(address, &format!("/api/v1/graph?task={task}"));
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(graph["edges"].as_array().unwrap().len(), 2);
    assert_eq!(graph["cycles"][0].as_array().unwrap().len(), 2);
    assert!(
        json(address, "/api/v1/resources")["resources"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    assert!(json(address, "/api/v1/lints")["lints"].is_array());

    let timeline = json(
        address,
        &format!("/api/v1/timeline?window_ms=1000&tasks={task}"),
    );
    let spans = timeline["lanes"][0]["spans"].as_array().unwrap();
    let kinds: Vec<&str> = spans.iter().map(|s| s[2].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"poll") && kinds.contains(&"parked") && kinds.contains(&"lock"),
        "{kinds:?}"
    );
    // The wake between two lanes shown; none when the waker's lane is not.
    let both = json(
        address,
        &format!("/api/v1/timeline?window_ms=1000&tasks={task},{other}"),
    );
    let at = snapshot.taken_at().as_nanos() as u64 - 200_000_000;
    assert_eq!(both["wakes"], serde_json::json!([[other, task, at]]));
    assert_eq!(timeline["wakes"], serde_json::json!([]));

    let profile = json(address, "/api/v1/profile");
    assert!(
        profile["report"]
            .as_str()
            .unwrap()
            .contains("sleep(d).await")
    );
    let (status, svg) = get(address, "/api/v1/profile/flamegraph.svg?wait=1", &[]);
    assert_eq!(status, 200);
    assert!(svg.contains("<svg") && svg.contains("transfer"), "{svg}");

    let export = json(address, "/api/v1/export/json");
    assert_eq!(export["events"].as_array().unwrap().len(), 7);
    let chrome = json(address, "/api/v1/export/chrome");
    let slices = chrome["traceEvents"].as_array().unwrap();
    assert!(
        slices.iter().any(|e| e["ph"] == "X" && e["cat"] == "poll"),
        "{chrome}"
    );
    let (status, page) = get(address, "/", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/app.js\">"), "{page}");
    let (status, _) = get(address, "/app.js", &[]);
    assert_eq!(status, 200);
    let (status, body) = get(address, "/api/v1/nope", &[]);
    assert_eq!(status, 404);
    assert!(body.contains("no such page"));
}

#[test]
fn a_recording_is_served_as_of_a_moment() {
    let mut trace = Trace::new(7, "app", Duration::ZERO);
    trace.snapshots.push(fixture());
    let address = serve(async_inspect_web::of_trace(trace), None);
    let status = json(address, "/api/v1/status");
    assert_eq!(status["live"], false);
    assert_eq!(status["snapshots"], 1);
    let snapshot = json(address, "/api/v1/snapshot?at=0");
    assert_eq!(snapshot["deadlocks"].as_array().unwrap().len(), 1);
}

#[test]
fn no_snapshot_yet_is_said_not_blank() {
    let address = serve(Arc::new(Data::live("starting")), None);
    let (status, body) = get(address, "/api/v1/tasks", &[]);
    assert_eq!(status, 503);
    assert!(body.contains("no snapshot yet"), "{body}");
}

#[test]
fn a_token_is_checked_on_every_request() {
    let (_, address) = live_fixture(Some("s3cret"));
    assert_eq!(get(address, "/api/v1/status", &[]).0, 401);
    assert_eq!(get(address, "/api/v1/snapshot", &[]).0, 401);
    // The page and its script and style hold nothing of the program: the
    // browser loads them without the token (the page sends it on).
    for asset in ["/", "/app.js", "/style.css"] {
        assert_eq!(get(address, asset, &[]).0, 200, "{asset}");
    }
    assert_eq!(get(address, "/api/v1/status?token=wrong", &[]).0, 401);
    assert_eq!(get(address, "/api/v1/status?token=s3cret", &[]).0, 200);
    let bearer = [("Authorization", "Bearer s3cret")];
    assert_eq!(get(address, "/api/v1/status", &bearer).0, 200);
    // Loopback without a token is open.
    let (_, open) = live_fixture(None);
    assert_eq!(get(open, "/api/v1/status", &[]).0, 200);
    // Anything else without a token is refused before binding.
    let options = Options {
        bind: "0.0.0.0:0".parse().unwrap(),
        token: None,
    };
    let refused = Server::bind(&options, Arc::new(Data::live("x")));
    assert!(matches!(refused, Err(ServeError::TokenRequired(_))));
    assert_eq!(
        async_inspect_web::url("127.0.0.1:8080".parse().unwrap(), Some("t")),
        "http://127.0.0.1:8080/?token=t"
    );
}

#[test]
fn a_change_is_pushed_to_the_page() {
    let (data, address) = live_fixture(None);
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    data.apply(Update::Snapshot(Box::new(fixture())));
    loop {
        line.clear();
        assert!(lines.read_line(&mut line).unwrap() > 0, "the stream ended");
        if line.contains("event: update") {
            break;
        }
    }
}

#[test]
fn the_page_lists_processes_and_shows_the_one_chosen() {
    let options = Options {
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    };
    let picker = async_inspect_web::Picker {
        list: Box::new(|| {
            vec![async_inspect_web::Process {
                pid: 7,
                program: "app".into(),
                tasks: Some((3, 3, 1)),
            }]
        }),
        connect: Box::new(|pid| {
            if pid != 7 {
                return Err(format!("process {pid} is not inspectable"));
            }
            let (tx, rx) = std::sync::mpsc::channel();
            tx.send(Update::Snapshot(Box::new(fixture()))).unwrap();
            // Kept open: the process goes on.
            std::mem::forget(tx);
            Ok(("app (pid 7)".into(), rx))
        }),
    };
    let server = Server::bind(&options, Arc::new(Data::live("none yet")))
        .unwrap()
        .with_picker(picker);
    let address = server.address().unwrap();
    std::thread::spawn(move || server.run());

    let status = json(address, "/api/v1/status");
    assert_eq!(
        (status["picker"].clone(), status["snapshots"].clone()),
        (true.into(), 0.into())
    );
    let list = json(address, "/api/v1/processes");
    assert_eq!(list["processes"][0]["pid"], 7);
    let (code, body) = get(address, "/api/v1/attach?pid=8", &[]);
    assert_eq!(code, 502);
    assert!(body.contains("process 8 is not inspectable"), "{body}");
    let attached = json(address, "/api/v1/attach?pid=7");
    assert_eq!(attached["title"], "app (pid 7)");
    let start = std::time::Instant::now();
    loop {
        let status = json(address, "/api/v1/status");
        if status["deadlocks"] == 1 {
            assert_eq!(status["title"], "app (pid 7)");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{status}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A dashboard of one process has no picker.
    let (_, single) = live_fixture(None);
    assert_eq!(get(single, "/api/v1/processes", &[]).0, 404);
}

#[test]
fn a_paused_task_is_marked_in_the_task_rows_and_its_report() {
    let mut value = serde_json::to_value(fixture()).unwrap();
    let task = &mut value["tasks"][0];
    let id = task["id"].as_u64().unwrap();
    task["waits"] = serde_json::json!([{
        "frame": null,
        "reason": {"paused": {"breakpoint": 4, "place": "transfer() at examples/deadlock.rs:17"}},
        "since": {"secs": 0, "nanos": 0},
        "timeout_at": null
    }]);
    let data = Arc::new(Data::live("paused"));
    data.apply(Update::Snapshot(Box::new(
        serde_json::from_value(value).unwrap(),
    )));
    let address = serve(data, None);
    let tasks = json(address, "/api/v1/tasks?sort=id");
    let rows = tasks["tasks"].as_array().unwrap();
    for row in rows {
        let expected = if row["id"] == id {
            serde_json::json!(4)
        } else {
            serde_json::Value::Null
        };
        assert_eq!(row["paused_at"], expected, "{row}");
    }
    let detail = json(address, &format!("/api/v1/tasks/{id}"));
    assert!(
        detail["report"]
            .as_str()
            .unwrap()
            .contains("paused at breakpoint 4 in transfer() at examples/deadlock.rs:17"),
        "{detail}"
    );
}

#[test]
fn the_task_table_filters_by_trace_and_finds_span_fields() {
    let mut snapshot = fixture();
    let id = {
        let task = &mut snapshot.tasks_mut()[0];
        task.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        task.spans = vec![async_inspect_model::span::SpanInfo {
            name: "request".into(),
            target: "app".into(),
            fields: vec![("order".into(), "7".into())],
            from_spawner: false,
        }];
        task.id.as_u64()
    };
    let data = Arc::new(Data::live("fixture"));
    data.apply(Update::Snapshot(Box::new(snapshot)));
    let address = serve(data, None);

    let only = json(address, "/api/v1/tasks?trace=4BF92F3577");
    assert_eq!(only["total"], 1, "{only}");
    let row = &only["tasks"][0];
    assert_eq!(row["id"], id);
    assert_eq!(row["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(row["span"], "request{order=7}");
    // Another trace, or too short a prefix to name one: nothing.
    assert_eq!(json(address, "/api/v1/tasks?trace=0af76519")["total"], 0);
    assert_eq!(json(address, "/api/v1/tasks?trace=4bf9")["total"], 0);
    // The search finds a span's field.
    let found = json(address, "/api/v1/tasks?q=order%3D7");
    assert_eq!(found["total"], 1, "{found}");
}
