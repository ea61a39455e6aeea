//! Decoding a program's futures from outside it: its debuginfo from
//! `/proc/PID/exe`, its memory read through the kernel
//! (`process_vm_readv`), so the program never holds debuginfo for a
//! client. Each snapshot the CLI receives gets its idle tasks' state
//! machines before any view shows it.

use std::sync::OnceLock;

use async_inspect_debuginfo::{Budget, LoadBias, ProcessMemory, Program};
use async_inspect_model::Snapshot;

/// The debuginfo of one process, opened at its first snapshot with a
/// future to decode.
#[derive(Debug)]
pub struct Decoder {
    pid: u32,
    program: OnceLock<Result<(Program, LoadBias), String>>,
}

impl Decoder {
    /// The decoder of process `pid` (nothing is opened yet).
    pub fn of(pid: u32) -> Self {
        Self {
            pid,
            program: OnceLock::new(),
        }
    }

    /// Fills in the state machines of `snapshot`'s idle tasks, or says in
    /// it why they cannot be decoded.
    pub fn decode(&self, snapshot: &mut Snapshot) {
        if snapshot.tasks().iter().all(|t| t.future.is_none()) {
            return;
        }
        let pid = self.pid;
        let program = self.program.get_or_init(|| {
            let program = Program::open(format!("/proc/{pid}/exe")).map_err(|e| e.to_string())?;
            let bias = program.bias_for_pid(pid).map_err(|e| e.to_string())?;
            Ok((program, bias))
        });
        match program {
            Ok((program, bias)) => program.decode_snapshot(
                snapshot,
                &ProcessMemory::of(pid),
                *bias,
                &Budget::default(),
            ),
            Err(why) => snapshot.set_state_machines_note(Some(why.clone())),
        }
    }
}
