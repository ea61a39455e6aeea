//! With `ASYNC_INSPECT_TRACE_OUT` set (as `async-inspect test` sets it), a
//! test that hangs leaves a trace file named after it: the events of its own
//! tasks up to the deadline, and the snapshot of where it was stuck.

use async_inspect::record::Event;
use async_inspect_core::model::trace_file::read_trace;

#[async_inspect::trace]
async fn warm_up(rounds: u32) {
    for _ in 0..rounds {
        tokio::task::yield_now().await;
    }
}

#[async_inspect::trace]
async fn wait_for_reply() -> u32 {
    std::future::pending::<u32>().await
}

#[async_inspect::trace]
async fn handle() -> u32 {
    warm_up(3).await;
    wait_for_reply().await
}

#[test]
fn a_hung_test_leaves_its_trace() {
    let dir = std::env::temp_dir().join(format!("async-inspect-trace-out-{}", std::process::id()));
    // SAFETY: the only test of this binary, and no other thread reads the
    // environment yet.
    unsafe { std::env::set_var("ASYNC_INSPECT_TRACE_OUT", &dir) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A task of no test: its events must stay out of the test's trace.
    let outsider = runtime.block_on(async {
        let handle = async_inspect::spawn(warm_up(2));
        let id = handle.inspect_id().unwrap().as_u64();
        handle.await.unwrap();
        id
    });
    let watched = async_inspect::__private::watch_test("hangs::in handle", Some("300ms"), handle());
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let result = runtime.block_on(async_inspect::__private::root_task("hangs", watched));
        async_inspect::__private::stuck_is_failure(result)
    }))
    .expect_err("the test fails");
    let message = failure.downcast_ref::<String>().unwrap();
    let path = dir.join("hangs__in_handle.trace");
    assert!(
        message.contains(&format!("is in {}", path.display())),
        "{message}"
    );

    let trace = read_trace(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(trace.program, "hangs::in handle");
    let snapshot = trace
        .snapshots
        .last()
        .expect("the snapshot at the deadline");
    let report = snapshot.to_string();
    assert!(
        report.contains("std::future::pending::<u32>().await ◄─── BLOCKED"),
        "{report}"
    );
    let entered: Vec<&str> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Enter { site, .. } => trace.site(*site).map(|s| s.function.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(entered, ["handle", "warm_up", "wait_for_reply"]);
    assert!(
        trace
            .events
            .iter()
            .any(|e| matches!(e, Event::AwaitEnd { .. }))
    );
    assert!(trace.events.iter().all(|e| e.task() != outsider));
    let _ = std::fs::remove_dir_all(&dir);
}
