//! `async-inspect ps`: this user's inspectable processes, with their
//! tasks, blocked tasks and deadlocks.

use std::io::Write;

use crate::live::{counts, inspectable};

/// Lists this user's inspectable processes.
pub(crate) fn exec() -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>8}  {:<24} {:>7} {:>8} {:>9}",
        "PID", "PROGRAM", "TASKS", "BLOCKED", "DEADLOCKS"
    )?;
    for (pid, found) in inspectable() {
        match found {
            Ok((program, snapshot)) => {
                let (live, blocked) = counts(&snapshot);
                let deadlocks = snapshot.deadlocks().len();
                writeln!(
                    out,
                    "{pid:>8}  {program:<24} {live:>7} {blocked:>8} {deadlocks:>9}"
                )?;
            }
            Err(error) => writeln!(out, "{pid:>8}  ? ({error:#})")?,
        }
    }
    Ok(0)
}
