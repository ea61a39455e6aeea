//! The page in a real headless Chromium (Debian's `chromium`, which
//! `cargo xtask test` installs): the overview of a process with a deadlock shows the
//! banner, a stuck task shows its blocked await with file:line, the
//! timeline and the graph draw, and no script error is logged. A
//! screenshot of each view is left in the target directory to look at.

mod common;

use std::net::SocketAddr;

use common::{fixture, live_fixture, script_errors, visit_url};

/// Loads `route` (a `#/…` view) once, without live updates: its DOM after
/// the scripts ran (a screenshot is left too).
fn visit(address: SocketAddr, route: &str, shot: &str) -> String {
    visit_url(&format!("http://{address}/?live=0#/{route}"), shot)
}

#[test]
fn a_script_error_is_caught() {
    let (_, address) = live_fixture(None);
    let dom = visit(address, "__selftest", "self-test");
    let errors = script_errors(&dom);
    assert!(
        errors.iter().any(|e| e.contains("self-test")),
        "an uncaught error marks the page: {dom}"
    );
}

#[test]
fn a_person_finds_the_deadlock_and_the_stuck_await_in_the_browser() {
    let (data, address) = live_fixture(None);
    let snapshot = fixture();
    let link = &snapshot.deadlocks()[0].cycle[0];
    let task = link.task.as_u64();
    // One task of the cycle woke the other, 100 ms before the snapshot.
    let at = snapshot.taken_at().as_nanos() as u64 - 100_000_000;
    let wake = serde_json::json!({"sites": [], "resources": [], "dropped": 0, "events": [
        {"wake": {"task": task, "by": link.held_by.as_u64(), "at": at}},
    ]});
    data.apply(async_inspect_web::Update::Events(Box::new(
        serde_json::from_value(wake).unwrap(),
    )));

    let overview = visit(address, "", "overview");
    assert!(script_errors(&overview).is_empty(), "{overview}");
    assert!(
        overview.contains("deadlock(s): tasks wait for each other forever"),
        "{overview}"
    );
    assert!(overview.contains("DEADLOCK DETECTED"), "{overview}");
    assert!(
        !overview.contains('💀'),
        "no emoji a font may lack: {overview}"
    );
    assert!(
        overview.contains("class=\"blocked deadlocked\""),
        "the rows of the cycle are marked: {overview}"
    );
    assert!(
        overview.contains("held by #"),
        "the lock's holder: {overview}"
    );
    assert!(
        overview.contains(&format!("href=\"#/task/{task}\"")),
        "{overview}"
    );

    let detail = visit(address, &format!("task/{task}"), "task");
    assert!(script_errors(&detail).is_empty(), "{detail}");
    assert!(detail.contains("to.lock().await ◄─── BLOCKED"), "{detail}");
    assert!(detail.contains("examples/deadlock.rs:17:"), "{detail}");
    assert!(detail.contains("its wait-for graph"), "{detail}");

    let timeline = visit(address, "timeline", "timeline");
    assert!(script_errors(&timeline).is_empty(), "{timeline}");
    assert!(timeline.contains("<svg class=\"timeline\""), "{timeline}");
    assert!(
        timeline.contains("class=\"lock\""),
        "a lane waiting for a lock: {timeline}"
    );
    assert!(
        timeline.contains(&format!(
            "task #{} woke task #{task}",
            link.held_by.as_u64()
        )),
        "the wake's arrow: {timeline}"
    );

    let graph = visit(address, "graph", "graph");
    assert!(script_errors(&graph).is_empty(), "{graph}");
    assert!(graph.contains("<svg class=\"graph\""), "{graph}");
    assert!(
        graph.contains("class=\"cycle\""),
        "the cycle in red: {graph}"
    );
}
