//! Breakpoints at await points: a task stops at a matching await and shows
//! as paused there; `step` moves it to its next await; `resume` and
//! dropping the breakpoint let it go; and a test pins an interleaving with
//! them, the same way every time.

mod common;

use std::sync::{Arc, Mutex as StdMutex};

use async_inspect::debug::break_at;

type Log = Arc<StdMutex<Vec<String>>>;

#[async_inspect::trace(skip(log))]
async fn handle(n: u32, log: Log) {
    first_step(n).await;
    second_step(n, log).await;
}

#[async_inspect::trace]
async fn first_step(n: u32) {
    tokio::task::yield_now().await;
    let _ = n;
}

#[async_inspect::trace(skip(log))]
async fn second_step(n: u32, log: Log) {
    tokio::task::yield_now().await;
    log.lock().unwrap().push(format!("stored {n}"));
    tokio::task::yield_now().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_task_pauses_at_the_breakpoint_steps_and_goes_on() {
    let runtime = runtime();
    let log: Log = Arc::default();
    runtime.block_on(async {
        let breakpoint = break_at("second_step").unwrap();
        let handle = async_inspect::spawn(handle(7, Arc::clone(&log)));
        let paused = breakpoint.hit().await;
        assert_eq!(Some(paused.id()), handle.inspect_id());
        let snapshot = async_inspect::snapshot();
        let report = snapshot.to_string();
        let waits_line = format!(
            "Waiting for: paused at breakpoint {} in second_step() at {}:",
            breakpoint.id(),
            file!()
        );
        assert!(report.contains(&waits_line), "{report}");
        assert!(
            report.contains("yield_now().await ◄─── BLOCKED"),
            "{report}"
        );
        assert!(report.contains("step 1/2"), "at its first await: {report}");
        assert!(
            log.lock().unwrap().is_empty(),
            "stopped before its first await"
        );
        assert!(snapshot.deadlocks().is_empty());

        // To its next await: past the store.
        paused.step();
        let paused = breakpoint.hit().await;
        assert_eq!(*log.lock().unwrap(), ["stored 7"]);
        let report = async_inspect::snapshot().to_string();
        assert!(report.contains("step 2/2"), "at its second await: {report}");
        assert!(
            !report.contains("blocked its executor thread"),
            "a pause is no blocking poll: {report}"
        );
        paused.resume();
        handle.await.unwrap();
    });
}

#[test]
fn dropping_the_breakpoint_lets_its_tasks_go() {
    let runtime = runtime();
    let log: Log = Arc::default();
    runtime.block_on(async {
        let breakpoint = break_at("first_step#1").unwrap();
        let handle = async_inspect::spawn(handle(8, Arc::clone(&log)));
        let _paused = breakpoint.hit().await;
        drop(breakpoint);
        handle.await.unwrap();
    });
    assert_eq!(*log.lock().unwrap(), ["stored 8"]);
}

#[async_inspect::trace(skip(log))]
async fn reader(log: Log) {
    tokio::task::yield_now().await;
    log.lock().unwrap().push("read".into());
}

#[async_inspect::trace(skip(log))]
async fn writer(log: Log) {
    tokio::task::yield_now().await;
    log.lock().unwrap().push("write".into());
}

/// Runs a reader and a writer with the one named `held` stopped at its
/// first await until the other finished: the order they touched the log.
async fn pinned(held: &str) -> Vec<String> {
    let log: Log = Arc::default();
    let breakpoint = break_at(held).unwrap();
    let read = async_inspect::spawn(reader(Arc::clone(&log)));
    let write = async_inspect::spawn(writer(Arc::clone(&log)));
    let paused = breakpoint.hit().await;
    let (first, second) = if held == "writer" {
        (read, write)
    } else {
        (write, read)
    };
    assert_eq!(Some(paused.id()), second.inspect_id());
    first.await.unwrap();
    paused.resume();
    second.await.unwrap();
    log.lock().unwrap().clone()
}

#[test]
fn a_test_pins_an_interleaving_every_time() {
    let runtime = runtime();
    runtime.block_on(async {
        for _ in 0..100 {
            assert_eq!(
                pinned("writer").await,
                ["read", "write"],
                "A reads before B writes"
            );
            assert_eq!(
                pinned("reader").await,
                ["write", "read"],
                "B writes before A reads"
            );
        }
    });
}

#[test]
fn bad_specs_are_clear_errors() {
    for (spec, why) in [
        ("", "it is empty"),
        ("fetch#0", "awaits are counted from 1"),
        ("fetch#x", "the await number is not a number"),
        ("src/a.rs:x", "the line is not a number"),
        ("point:ready", "not supported yet"),
        ("fetch data", "letters, digits and _ only"),
    ] {
        let error = break_at(spec).unwrap_err().to_string();
        assert!(error.contains(why), "{spec}: {error}");
    }
}
