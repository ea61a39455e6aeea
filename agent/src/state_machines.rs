//! Decoding tasks' futures in the program itself, for the reports it
//! prints (a hanging test's, a stall's, `print_report`) and for
//! `snapshot()`: the program's own debuginfo, read from
//! `/proc/self/exe` the first time a snapshot asks, kept for the next.
//! Clients of the agent (the CLI) decode from outside instead, so the
//! program never holds debuginfo for them.

use std::sync::OnceLock;

use async_inspect_debuginfo::{Budget, LoadBias, ProcessMemory, Program};
use async_inspect_model::Snapshot;

/// This program's debuginfo and load bias, or why they cannot be had.
static PROGRAM: OnceLock<Result<(Program, LoadBias), String>> = OnceLock::new();

/// Decodes the futures of `snapshot`'s idle tasks from this program's
/// debuginfo ([`TaskInfo::state_machine`](async_inspect_model::TaskInfo::state_machine));
/// when that cannot be done, the snapshot says why, once. Opens nothing
/// when no task has a future to decode.
pub fn decode(snapshot: &mut Snapshot) {
    if snapshot.tasks().iter().all(|t| t.future.is_none()) {
        return;
    }
    let program = PROGRAM.get_or_init(|| {
        let program = Program::open("/proc/self/exe").map_err(|e| e.to_string())?;
        let bias = program.bias_for_self().map_err(|e| e.to_string())?;
        Ok((program, bias))
    });
    match program {
        Ok((program, bias)) => program.decode_snapshot(
            snapshot,
            &ProcessMemory::this_process(),
            *bias,
            &Budget::default(),
        ),
        Err(why) => snapshot.set_state_machines_note(Some(why.clone())),
    }
}

/// A snapshot of every task, with the futures of idle tasks decoded.
///
/// ```
/// let snapshot = async_inspect_agent::state_machines::snapshot();
/// assert!(snapshot.tasks().iter().all(|t| t.state_machine.is_none() || t.future.is_some()));
/// ```
pub fn snapshot() -> Snapshot {
    let mut snapshot = async_inspect_core::snapshot();
    decode(&mut snapshot);
    snapshot
}
