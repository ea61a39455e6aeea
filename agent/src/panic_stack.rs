//! A task that panics says where it was: after the panic message (the
//! hook that was there before, the user's or the standard one, runs
//! first), the task's name, spawn site and async stack (its traced frames,
//! each at the await it was at, and its waits), taken while they are still
//! alive, before unwinding drops them. `ASYNC_INSPECT_PANIC_STACK=0` turns
//! it off. A hook set later with `std::panic::set_hook` replaces this one
//! (chain with `take_hook` to keep both).

use async_inspect_model::Snapshot;
use async_inspect_model::snapshot::SnapshotParts;

/// Chains the hook, unless the environment says not to.
pub(crate) fn install_if_wanted() {
    if std::env::var("ASYNC_INSPECT_PANIC_STACK").is_ok_and(|v| v.trim() == "0") {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if let Some(text) = stack() {
            // Through the macro: a test harness capturing output captures it.
            eprint!("{text}");
        }
    }));
}

/// The panicking task's section of the report, if a task is panicking on
/// this thread.
fn stack() -> Option<String> {
    let task = async_inspect_core::snapshot::current_task()?;
    let id = task.id;
    let report = Snapshot::from_parts(SnapshotParts {
        pid: std::process::id(),
        tasks: vec![task],
        ..SnapshotParts::default()
    })
    .to_string();
    // The task's section, without the report's header line.
    let section = report
        .split_once('\n')
        .map_or(report.as_str(), |(_, rest)| rest);
    Some(format!(
        "async-inspect: task {id} panicked; where it was:\n{}\n",
        section.trim_matches('\n')
    ))
}
