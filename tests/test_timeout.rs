//! `#[async_inspect::test(timeout = …)]` and `ASYNC_INSPECT_TEST_TIMEOUT`:
//! a test that does not finish in time fails with the report of where it
//! is stuck, and one whose thread is blocked outside any `.await` ends the
//! process rather than hang it. The last two run this binary again as a
//! child, so that their failure is observed rather than suffered.

use std::process::Command;
use std::time::{Duration, Instant};

#[async_inspect::trace]
async fn fetch_data() -> u32 {
    std::future::pending::<u32>().await
}

#[async_inspect::trace]
async fn long_operation() -> u32 {
    fetch_data().await + 1
}

#[async_inspect::test(timeout = "300ms")]
#[should_panic(
    expected = "test `a_hanging_test_fails_with_the_report` did not finish within 300ms"
)]
async fn a_hanging_test_fails_with_the_report() {
    long_operation().await;
}

#[async_inspect::test(timeout = "10s")]
async fn a_test_that_ends_in_time_is_unaffected() {
    async_inspect::time::sleep(Duration::from_millis(1)).await;
}

/// Runs `body` as `#[async_inspect::test]` would, on a current-thread
/// runtime: the test's output, or the panic message it fails with.
fn run_watched<F: Future<Output = u32>>(name: &str, timeout: Option<&str>, body: F) -> u32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let watched = async_inspect::__private::watch_test(name, timeout, body);
    let result = runtime.block_on(async_inspect::__private::root_task(name, watched));
    async_inspect::__private::stuck_is_failure(result)
}

#[test]
fn a_timeout_too_far_for_an_instant_never_fires() {
    // 9e18 s: a `Duration`, but past what an `Instant` can hold.
    let far = "2600000000000000h";
    assert_eq!(run_watched("far", Some(far), async { 7 }), 7);
}

async fn plain_fetch() -> u32 {
    let attempt = 3_u32;
    std::future::pending::<u32>().await + attempt
}

async fn plain_operation() -> u32 {
    plain_fetch().await + 1
}

#[test]
fn the_report_of_a_hanging_test_nobody_annotated_shows_its_async_fns() {
    let failure =
        std::panic::catch_unwind(|| run_watched("stuck plain", Some("200ms"), plain_operation()))
            .expect_err("the test fails");
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted message");
    let source = include_str!("test_timeout.rs");
    let line_of = |needle: &str| source.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (function, line) in [
        (
            "test_timeout::plain_operation",
            line_of("plain_fetch().await + 1"),
        ),
        (
            "test_timeout::plain_fetch",
            line_of("pending::<u32>().await + attempt"),
        ),
    ] {
        let expected = format!("{function}   tests/test_timeout.rs:{line}");
        assert!(message.contains(&expected), "{expected} in {message}");
    }
    assert!(message.contains("attempt = 3"), "{message}");
}

#[test]
fn the_report_shows_the_stuck_await_and_ends_soon_after_the_deadline() {
    let start = Instant::now();
    let failure =
        std::panic::catch_unwind(|| run_watched("stuck deep", Some("200ms"), long_operation()))
            .expect_err("the test fails");
    let elapsed = start.elapsed();
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.contains("test `stuck deep` did not finish within 200ms. Found it stuck at:"),
        "{message}"
    );
    assert!(message.contains("Task #"), "{message}");
    assert!(message.contains(" stuck deep · BLOCKED"), "{message}");
    assert!(message.contains("└─> fetch_data()"), "{message}");
    assert!(
        message.contains("std::future::pending::<u32>().await ◄─── BLOCKED"),
        "{message}"
    );
    assert!(message.contains("will wait forever!"), "{message}");
    assert!(
        !message.contains("a_hanging_test_fails_with_the_report"),
        "only this test's tasks: {message}"
    );
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(5),
        "failed after {elapsed:?}"
    );
}

#[test]
fn a_bad_timeout_fails_the_test_saying_so() {
    let failure =
        std::panic::catch_unwind(|| run_watched("bad timeout", Some("soon"), async { 1 }))
            .expect_err("the test fails");
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("timeout = \"soon\" is not a duration"),
        "{message}"
    );
}

/// Runs the test `name` of this binary alone in a child process with
/// `FIXTURE` set (and `env`); its exit code and stderr.
fn run_child(name: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("FIXTURE", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the test binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    )
}

fn in_child() -> bool {
    std::env::var_os("FIXTURE").is_some()
}

#[test]
fn the_environment_sets_the_timeout_of_every_test() {
    if in_child() {
        // Under ASYNC_INSPECT_TEST_TIMEOUT, with no timeout of its own.
        run_watched("env timed", None, long_operation());
        return;
    }
    let (code, output) = run_child(
        "the_environment_sets_the_timeout_of_every_test",
        &[("ASYNC_INSPECT_TEST_TIMEOUT", "200ms")],
    );
    assert_eq!(code, Some(101), "{output}");
    assert!(
        output.contains("test `env timed` did not finish within 200ms"),
        "{output}"
    );
}

#[test]
fn a_test_blocked_outside_any_await_ends_the_process() {
    if in_child() {
        run_watched("blocked thread", Some("100ms"), async {
            std::thread::sleep(Duration::from_secs(60));
            0
        });
        return;
    }
    let start = Instant::now();
    let (code, output) = run_child("a_test_blocked_outside_any_await_ends_the_process", &[]);
    assert_eq!(code, Some(101), "{output}");
    assert!(
        output.contains("test `blocked thread` is blocked outside any .await"),
        "{output}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the process ended after the grace period, not the 60s sleep"
    );
}
