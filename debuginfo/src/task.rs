//! Decoding the futures of a snapshot's tasks: each one read while its
//! task is idle, checked whole afterwards, and what went wrong for the
//! whole program said once.

use async_inspect_model::{FutureLocation, NodeKind, ResourceId, Snapshot, StateNode, TaskId};

use crate::decode::FoundGuard;
use crate::{Budget, Error, LoadBias, Memory, Program, RootFuture};

/// How many times a task polled during a read is read again.
const RETRIES: usize = 2;

/// Why a task's future was not decoded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task was being polled (or was polled while it was read): its
    /// bytes would be torn. It shows as running.
    #[error("the task was running")]
    Running,
    /// The future could not be decoded.
    #[error(transparent)]
    Decode(#[from] Error),
}

impl Program {
    /// Decodes the future at `future` (a task's, from a snapshot) if its
    /// task is between polls, checking afterwards that it was not polled
    /// meanwhile (else it is read again, then given up as running).
    ///
    /// # Errors
    ///
    /// [`TaskError::Running`] for a task being polled; the errors of
    /// [`Program::decode`] otherwise.
    pub fn decode_task(
        &self,
        future: &FutureLocation,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> Result<StateNode, TaskError> {
        self.decode_task_guards(future, memory, bias, budget)
            .map(|(tree, _)| tree)
    }

    /// [`Program::decode_task`], with the owned guards and permits met.
    fn decode_task_guards(
        &self,
        future: &FutureLocation,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> Result<(StateNode, Vec<FoundGuard>), TaskError> {
        let root = RootFuture {
            anchor_pc: bias.to_link_time(future.anchor),
            address: future.address,
            size: future.size,
        };
        for _ in 0..=RETRIES {
            let before = guard(memory, future)?;
            if !FutureLocation::is_idle(before[0]) {
                return Err(TaskError::Running);
            }
            let decoded = self.decode_with_guards(&root, memory, bias, budget);
            if guard(memory, future)? == before {
                return decoded.map_err(TaskError::Decode);
            }
        }
        Err(TaskError::Running)
    }

    /// Decodes the future of every task of `snapshot` that has one and is
    /// idle, into [`TaskInfo::state_machine`](async_inspect_model::TaskInfo::state_machine).
    /// A failure that concerns the whole program (no debuginfo, split or
    /// compressed debuginfo) is said once, in the snapshot's
    /// [`state_machines_note`](Snapshot::state_machines_note), and stops
    /// the decoding; so is a future whose crate has no type debuginfo (its
    /// task is left undecoded); one that concerns a task's future alone
    /// (its bytes unreadable, a size that does not match) is an opaque
    /// node saying why. Running tasks are left undecoded.
    pub fn decode_snapshot(
        &self,
        snapshot: &mut Snapshot,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) {
        let mut note = None;
        let mut moved = Vec::new();
        for task in snapshot.tasks_mut() {
            let Some(future) = task.future else {
                continue;
            };
            match self.decode_task_guards(&future, memory, bias, budget) {
                Ok((tree, guards)) => {
                    task.state_machine = Some(tree);
                    moved.extend(guards.into_iter().map(|g| (g, task.id)));
                }
                Err(TaskError::Running) => {}
                Err(TaskError::Decode(error)) if error.concerns_the_program() => {
                    note = Some(error.to_string());
                    break;
                }
                // A crate built without type debuginfo: said once, its
                // tasks shown as they would be without decoding.
                Err(TaskError::Decode(error @ Error::NoTypeInfo { .. })) => {
                    note.get_or_insert_with(|| error.to_string());
                }
                Err(TaskError::Decode(error)) => {
                    let mut opaque = StateNode::new(String::new(), NodeKind::Opaque);
                    opaque.error = Some(error.to_string());
                    task.state_machine = Some(opaque);
                }
            }
        }
        snapshot.set_state_machines_note(note);
        // A guard in a task's future is that task's, whoever took it.
        for (guard, holder) in moved {
            snapshot.move_hold(
                ResourceId::from_u64(guard.resource),
                TaskId::from_u64(guard.taken_by),
                holder,
                guard.site.as_deref(),
            );
        }
        // Lints that say where a task is parked can now say it from its
        // decoded future.
        snapshot.locate_lints();
    }
}

/// The task's phase word and poll count, as they are now.
fn guard(memory: &dyn Memory, future: &FutureLocation) -> Result<[u64; 2], Error> {
    let mut words = [0; 2];
    for (word, &address) in words.iter_mut().zip(&future.guard) {
        let mut bytes = [0; 8];
        memory.read(address, &mut bytes).map_err(Error::from)?;
        *word = u64::from_ne_bytes(bytes);
    }
    Ok(words)
}
