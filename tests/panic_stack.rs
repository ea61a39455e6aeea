//! A task that panics says where it was: after the standard panic
//! message, its name and its async stack (the traced frames, each at its
//! await), taken before unwinding drops them. Read from a child process
//! (this binary again), whose stderr is read whole.

use std::process::Command;

const CHILD: &str = "ASYNC_INSPECT_TEST_PANIC_CHILD";

#[async_inspect::trace]
async fn load_user(id: u32) -> u32 {
    check_quota(id).await
}

#[async_inspect::trace]
async fn check_quota(id: u32) -> u32 {
    tokio::task::yield_now().await;
    assert!(id < 10, "quota table has no row {id}");
    id
}

/// In the child only: a task that panics two traced calls deep.
#[async_inspect::test]
async fn child_panics_in_a_task() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let task = async_inspect::task::Builder::new()
        .name("loader")
        .spawn(load_user(42))
        .unwrap();
    assert!(task.await.unwrap_err().is_panic());
    eprintln!("child: done");
}

#[test]
fn a_panicking_task_prints_its_async_stack_after_the_message() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["child_panics_in_a_task", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let message = stderr
        .find("quota table has no row 42")
        .unwrap_or_else(|| panic!("{stderr}"));
    let stack = stderr
        .find("panicked; where it was:")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(message < stack, "the message first: {stderr}");
    let section = &stderr[stack..];
    assert!(section.contains("loader"), "{section}");
    let load = section
        .find("load_user(id=42)")
        .unwrap_or_else(|| panic!("{section}"));
    let check = section
        .find("check_quota(id=42)")
        .unwrap_or_else(|| panic!("{section}"));
    assert!(load < check, "outermost first: {section}");
    assert_eq!(
        section.matches("panicked; where it was:").count(),
        1,
        "once"
    );
    assert!(stderr.contains("child: done"));
}
