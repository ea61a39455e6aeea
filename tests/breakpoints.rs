//! Breakpoints at await points: a task stops at a matching await and shows
//! as paused there; `step`, `next` and `finish` move it on; conditions
//! pick the task and the hit; `point:` stops after an inspect point; a
//! task waiting for a lock a paused task holds says so; `resume` and
//! dropping the breakpoint let it go; and a test pins an interleaving with
//! them, the same way every time.
//!
//! The tests share the process's breakpoints, so each stops only its own
//! tasks (by fn, or by an argument through a condition).

mod common;

use std::sync::{Arc, Mutex as StdMutex};

use async_inspect::debug::break_at;
use async_inspect::{Snapshot, TaskId};

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
        let breakpoint = break_at("second_step if args~n=7").unwrap();
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
        let breakpoint = break_at("first_step#1 if args~n=8").unwrap();
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
        ("point:", "the point's label is missing"),
        ("fetch data", "a condition is"),
        ("fetch-data", "letters, digits and _ only"),
        ("fetch if colour=red", "a condition is task=ID"),
        ("fetch if after=x", "after=N takes a number"),
        ("fetch if task=me", "task=ID takes a task's number"),
        ("fetch if args~\"open", "a quote is not closed"),
    ] {
        let error = break_at(spec).unwrap_err().to_string();
        assert!(error.contains(why), "{spec}: {error}");
    }
}

#[test]
fn conditions_read_back_as_written() {
    let breakpoint = break_at(r#"point:order received if task=#7 args~"id: 4" after=2"#).unwrap();
    assert_eq!(
        breakpoint.describe(),
        r#"point:order received if task=7 args~"id: 4" after=2"#
    );
    assert_eq!(breakpoint.conditions().unwrap().task, Some(7));
    assert_eq!(break_at("fetch#2").unwrap().describe(), "fetch#2");
}

#[async_inspect::trace]
async fn outer(n: u32) {
    inner(n).await;
    tokio::task::yield_now().await;
}

#[async_inspect::trace]
async fn inner(n: u32) {
    leaf(n).await;
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

#[async_inspect::trace]
async fn leaf(n: u32) {
    tokio::task::yield_now().await;
    let _ = n;
}

/// The fn and the await number (from 1) task `id` is paused at.
fn paused_at(snapshot: &Snapshot, id: TaskId) -> (String, u16) {
    let task = snapshot.task(id).expect("the task is listed");
    assert!(task.paused_at().is_some(), "not paused:\n{snapshot}");
    let (frame, step) = task.blocked_at().expect("parked at an await");
    (frame.function.to_string(), step.step)
}

fn here(id: TaskId) -> (String, u16) {
    paused_at(&async_inspect::snapshot(), id)
}

#[test]
fn step_goes_into_calls_next_over_them_and_finish_out() {
    let runtime = runtime();
    runtime.block_on(async {
        let breakpoint = break_at("inner#1 if args~n=1").unwrap();
        let task = async_inspect::spawn(outer(1));
        let paused = breakpoint.hit().await;
        let id = paused.id();
        assert_eq!(here(id), ("inner".into(), 1));
        // Into the call it makes.
        paused.step();
        let paused = breakpoint.hit().await;
        assert_eq!(here(id), ("leaf".into(), 1));
        // Out of leaf: the next await of its caller.
        paused.finish();
        let paused = breakpoint.hit().await;
        assert_eq!(here(id), ("inner".into(), 2));
        // The next await of the same call.
        paused.next();
        let paused = breakpoint.hit().await;
        assert_eq!(here(id), ("inner".into(), 3));
        // Out of inner.
        paused.finish();
        let paused = breakpoint.hit().await;
        assert_eq!(here(id), ("outer".into(), 2));
        // Out of the root call: no await follows, so the task ends.
        paused.finish();
        task.await.unwrap();
    });
}

#[test]
fn next_steps_over_the_calls_it_makes() {
    let runtime = runtime();
    runtime.block_on(async {
        let breakpoint = break_at("inner#1 if args~n=2").unwrap();
        let task = async_inspect::spawn(outer(2));
        let paused = breakpoint.hit().await;
        let id = paused.id();
        paused.next();
        let paused = breakpoint.hit().await;
        assert_eq!(here(id), ("inner".into(), 2), "leaf's await is passed");
        paused.resume();
        task.await.unwrap();
    });
}

#[async_inspect::trace]
async fn ticks(from: u32, to: u32) {
    for i in from..to {
        tick(i).await;
    }
}

#[async_inspect::trace]
async fn tick(i: u32) {
    tokio::task::yield_now().await;
}

#[test]
fn a_hit_count_lets_hits_pass() {
    let runtime = runtime();
    runtime.block_on(async {
        // Ticks 100..110 are this test's; 2 pass, the third stops.
        let breakpoint = break_at("tick if args~i=10 after=2").unwrap();
        let task = async_inspect::spawn(ticks(100, 110));
        let paused = breakpoint.hit().await;
        let snapshot = async_inspect::snapshot();
        let stack = snapshot.task(paused.id()).unwrap().stack();
        assert_eq!(stack.last().unwrap().args.as_deref(), Some("i=102"));
        assert_eq!(breakpoint.hits(), 3);
        paused.resume();
        // Every later hit stops too.
        let paused = breakpoint.hit().await;
        assert_eq!(breakpoint.hits(), 4);
        drop(breakpoint);
        drop(paused);
        task.await.unwrap();
    });
}

#[test]
fn a_task_condition_stops_that_task_only() {
    let runtime = runtime();
    runtime.block_on(async {
        let (go, gate) = tokio::sync::watch::channel(false);
        let spawn = |from| {
            let mut gate = gate.clone();
            async_inspect::spawn(async move {
                gate.wait_for(|go| *go).await.unwrap();
                ticks(from, from + 3).await;
            })
        };
        let first = spawn(200);
        let second = spawn(300);
        let chosen = second.inspect_id().unwrap();
        let breakpoint = break_at(&format!("tick if task={}", chosen.as_u64())).unwrap();
        go.send(true).unwrap();
        let paused = breakpoint.hit().await;
        assert_eq!(paused.id(), chosen);
        first.await.unwrap();
        drop(breakpoint);
        drop(paused);
        second.await.unwrap();
    });
}

#[test]
fn a_name_condition_stops_tasks_of_that_name() {
    let runtime = runtime();
    runtime.block_on(async {
        let breakpoint = break_at("tick if name=\"tick worker\"").unwrap();
        let other = async_inspect::spawn(ticks(400, 403));
        let named = async_inspect::task::Builder::new()
            .name("tick worker")
            .spawn(ticks(500, 503))
            .unwrap();
        let paused = breakpoint.hit().await;
        assert_eq!(Some(paused.id()), named.inspect_id());
        other.await.unwrap();
        paused.resume();
        drop(breakpoint);
        named.await.unwrap();
    });
}

#[async_inspect::trace]
async fn announces(n: u32) {
    tokio::task::yield_now().await;
    async_inspect::inspect_point!("announced", n);
    let _ = n;
    tokio::task::yield_now().await;
}

#[test]
fn a_point_breakpoint_stops_at_the_first_await_after_the_point() {
    let runtime = runtime();
    runtime.block_on(async {
        let breakpoint = break_at("point:announced if args~n=9").unwrap();
        let task = async_inspect::spawn(announces(9));
        let paused = breakpoint.hit().await;
        assert_eq!(here(paused.id()), ("announces".into(), 2));
        paused.resume();
        task.await.unwrap();
    });
}

#[async_inspect::trace(skip(lock))]
async fn holds_then_pauses(lock: Arc<async_inspect::sync::Mutex<u32>>) {
    let mut guard = lock.lock().await;
    tokio::task::yield_now().await;
    *guard += 1;
}

#[test]
fn a_task_waiting_for_a_paused_holder_says_so() {
    let runtime = runtime();
    runtime.block_on(async {
        let lock = Arc::new(async_inspect::sync::Mutex::named("paused lock", 0));
        let breakpoint = break_at("holds_then_pauses#2").unwrap();
        let holder = async_inspect::spawn(holds_then_pauses(Arc::clone(&lock)));
        let paused = breakpoint.hit().await;
        let waiter = {
            let lock = Arc::clone(&lock);
            async_inspect::spawn(async move { *lock.lock().await += 10 })
        };
        let waiter_id = waiter.inspect_id().unwrap();
        let expected = format!("held by task {} holds_then_pauses for", paused.id());
        let report = loop {
            let report = async_inspect::snapshot().to_string();
            if report.contains(&expected) {
                break report;
            }
            tokio::task::yield_now().await;
        };
        let waiter_section: String = report
            .split("\n\n")
            .find(|s| s.starts_with(&format!("Task {waiter_id} ")))
            .unwrap_or_default()
            .to_owned();
        assert!(
            waiter_section.contains(&format!(", paused at breakpoint {}", breakpoint.id())),
            "{report}"
        );
        assert!(async_inspect::snapshot().deadlocks().is_empty());
        paused.resume();
        holder.await.unwrap();
        waiter.await.unwrap();
        assert_eq!(*lock.lock().await, 11);
    });
}
