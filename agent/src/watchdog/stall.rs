//! Whole-process stalls: with `ASYNC_INSPECT_STALL_TIMEOUT` set (as
//! `async-inspect test` sets it), a thread checks that some inspected task
//! makes progress. When live tasks exist and none was polled, spawned or
//! finished for the timeout, while no watched test is pending (those report
//! themselves), the process is stuck where no test timeout can see it (a
//! plain `#[tokio::test]`, a binary): the watchdog prints where every task
//! is stuck, leaves the trace, and exits with status 101 rather than hang.

use std::io::Write;
use std::time::{Duration, Instant};

use async_inspect_model::parse_duration;

/// Starts the stall watcher if `ASYNC_INSPECT_STALL_TIMEOUT` asks for it.
pub(crate) fn start_if_asked() {
    let Ok(text) = std::env::var("ASYNC_INSPECT_STALL_TIMEOUT") else {
        return;
    };
    let Some(timeout) = parse_duration(&text) else {
        eprintln!(
            "async-inspect: ignoring ASYNC_INSPECT_STALL_TIMEOUT={text:?}: expected a duration such as 30s"
        );
        return;
    };
    let _ = std::thread::Builder::new()
        .name("async-inspect-stall".into())
        .spawn(move || watch(timeout));
}

/// What changes when any inspected task makes progress.
fn progress() -> (u64, u64, u64, usize) {
    let snapshot = async_inspect_core::snapshot();
    let polls = snapshot.tasks().iter().map(|t| t.polls).sum();
    let live = snapshot
        .tasks()
        .iter()
        .filter(|t| !t.state.is_finished())
        .count();
    let counters = snapshot.counters();
    (polls, counters.tasks_spawned, counters.tasks_finished, live)
}

fn watch(timeout: Duration) {
    let check = (timeout / 4).max(Duration::from_millis(50));
    let mut last = progress();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(check);
        let now = progress();
        if now != last || now.3 == 0 || super::pending_tests() > 0 {
            last = now;
            since = Instant::now();
            continue;
        }
        if since.elapsed() >= timeout {
            stalled(timeout);
        }
    }
}

fn stalled(timeout: Duration) -> ! {
    let snapshot = crate::state_machines::snapshot();
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "process".to_owned());
    let written = super::trace_out::write(&format!("{program}-stall"), &snapshot);
    // Straight to stderr: a test harness capturing this thread's output
    // would lose it at the exit.
    let _ = writeln!(
        std::io::stderr(),
        "async-inspect: no inspected task made progress for {} in {program}: the process \
         is stalled. Where each task is stuck:\n\n{snapshot}\n{written}\nasync-inspect: exiting",
        async_inspect_model::format_duration(timeout)
    );
    std::process::exit(101);
}
