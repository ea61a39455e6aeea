//! The text report: a summary line, blocked tasks first (longest blocked
//! first) with their stack, the blocked await, why and progress.

mod common;

use std::time::Duration;

use common::eventually;
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn fetch_user_data(user_id: u64, rx: oneshot::Receiver<()>) {
    async_inspect::time::sleep(Duration::from_millis(1)).await;
    fetch_posts(user_id, rx).await;
}

#[async_inspect::trace(skip(rx))]
async fn fetch_posts(user: u64, rx: oneshot::Receiver<()>) {
    rx.await.ok();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_leads_with_the_stuck_task_and_its_await() {
    let (tx, rx) = oneshot::channel();
    let stuck = async_inspect::spawn(fetch_user_data(12345, rx));
    let stuck_id = stuck.inspect_id().unwrap();
    let (idle_tx, idle_rx) = oneshot::channel::<()>();
    let idle = async_inspect::task::Builder::new()
        .name("idler")
        .spawn(async move { idle_rx.await.ok() })
        .unwrap();
    let idle_id = idle.inspect_id().unwrap();

    let snapshot = eventually("the stuck task to park", |s| {
        common::parked_at(s, stuck_id, "rx")
            && s.task(idle_id)
                .is_some_and(|t| t.polls > 0 && t.state == async_inspect::TaskState::Idle)
    })
    .await;
    let report = snapshot.to_string();
    let first = report.lines().next().unwrap();
    assert!(first.starts_with("async-inspect report · pid "), "{first}");
    assert!(first.contains(" blocked, "), "{first}");

    let stuck_at = report
        .find(&format!("Task {stuck_id} fetch_user_data · BLOCKED for "))
        .expect(&report);
    let idle_at = report
        .find(&format!("Task {idle_id} idler · IDLE for "))
        .expect(&report);
    assert!(stuck_at < idle_at, "blocked tasks come first:\n{report}");

    let section = &report[stuck_at..idle_at];
    assert!(
        section.contains("fetch_user_data(user_id=12345, rx="),
        "{section}"
    );
    assert!(section.contains("└─> fetch_posts(user=12345)"), "{section}");
    assert!(
        section.contains("steps: ✓ 1/2 async_inspect::time::sleep(Duration::from_millis(1))"),
        "{section}"
    );
    assert!(
        section.contains("▶ 2/2 fetch_posts(user_id, rx)"),
        "{section}"
    );
    let blocked_line = section
        .lines()
        .find(|l| l.contains("◄─── BLOCKED"))
        .expect(section);
    assert!(
        blocked_line.contains("rx.await ◄─── BLOCKED ("),
        "{blocked_line}"
    );
    assert!(
        blocked_line.contains(&format!("{}:19:8", file!())),
        "{blocked_line}"
    );
    assert!(blocked_line.ends_with("step 1/1"), "{blocked_line}");
    assert!(
        section.contains("Timeout: None (will wait forever!)"),
        "{section}"
    );

    tx.send(()).unwrap();
    idle_tx.send(()).unwrap();
    stuck.await.unwrap();
    idle.await.unwrap();
}

#[async_inspect::test]
async fn longest_blocked_comes_first() {
    let (_a_tx, a_rx) = oneshot::channel::<()>();
    let older = async_inspect::spawn(fetch_posts(1, a_rx));
    let older_id = older.inspect_id().unwrap();
    eventually("the older task to park", |s| {
        common::parked_at(s, older_id, "rx")
    })
    .await;
    async_inspect::time::sleep(Duration::from_millis(20)).await;
    let (_b_tx, b_rx) = oneshot::channel::<()>();
    let newer = async_inspect::spawn(fetch_posts(2, b_rx));
    let newer_id = newer.inspect_id().unwrap();
    let snapshot = eventually("the newer task to park", |s| {
        common::parked_at(s, newer_id, "rx")
    })
    .await;
    let report = snapshot.to_string();
    let older_at = report.find(&format!("Task {older_id} ")).unwrap();
    let newer_at = report.find(&format!("Task {newer_id} ")).unwrap();
    assert!(older_at < newer_at, "{report}");
    older.abort();
    newer.abort();
}

#[async_inspect::test]
async fn a_cancelled_task_says_where_it_was_parked() {
    let (_tx, rx) = oneshot::channel();
    let stuck = async_inspect::spawn(fetch_user_data(7, rx));
    let id = stuck.inspect_id().unwrap();
    eventually("the task to park", |s| common::parked_at(s, id, "rx")).await;
    stuck.abort();
    assert!(stuck.await.expect_err("aborted").is_cancelled());

    let snapshot = async_inspect::snapshot();
    let task = common::task(&snapshot, id);
    assert_eq!(task.state, async_inspect::TaskState::Aborted);
    let cancelled = task.cancelled_at.as_deref().expect("where it was");
    assert_eq!(cancelled.function, "fetch_posts");
    assert_eq!(cancelled.args.as_deref(), Some("user=7"));
    assert_eq!(cancelled.depth, 2);
    let at = cancelled.at.as_ref().expect("parked at an await");
    assert_eq!((at.expr.as_ref(), at.step, at.of), ("rx", 1, 1));
    assert!(task.frames.is_empty(), "its calls ended with it");

    let report = snapshot.to_string();
    let line = report
        .lines()
        .find(|line| line.contains("cancelled at `rx.await`"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("in fetch_posts(user=7), parked "), "{line}");
    assert!(line.contains("tests/report.rs:19:"), "{line}");
    assert!(line.ends_with("2 traced calls deep"), "{line}");

    // A task that ends on its own, or is cancelled outside any traced
    // call, has nothing to say.
    let done = async_inspect::spawn(async {});
    let done_id = done.inspect_id().unwrap();
    done.await.unwrap();
    let untraced = async_inspect::spawn(std::future::pending::<()>());
    let untraced_id = untraced.inspect_id().unwrap();
    eventually("the untraced task to be polled", |s| {
        s.task(untraced_id).is_some_and(|t| t.polls == 1)
    })
    .await;
    untraced.abort();
    assert!(untraced.await.expect_err("aborted").is_cancelled());
    let snapshot = async_inspect::snapshot();
    assert!(common::task(&snapshot, done_id).cancelled_at.is_none());
    let untraced = common::task(&snapshot, untraced_id);
    assert_eq!(untraced.state, async_inspect::TaskState::Aborted);
    assert!(untraced.cancelled_at.is_none());
}
