//! Every task of a tokio runtime, not only those spawned through
//! async-inspect: tokio's task hooks (which need `--cfg tokio_unstable`)
//! register each task a library spawns with plain `tokio::spawn` as a
//! *hosted* task, so it appears in every view with its spawn location,
//! states, polls and busy time, and traced code running inside it belongs
//! to it (not to an adopted root).
//!
//! The price: each poll of such a task looks its record up in a sharded
//! map (a short lock of one of 32 shards) in the before- and after-poll
//! hooks. Tasks spawned through async-inspect skip all of it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_inspect_core::TaskCell;
use async_inspect_core::hosted::{self, HostedPoll};
use tokio::runtime::{Builder, TaskMeta};
use tokio::task::Id;

const SHARDS: usize = 32;

/// The hosted tasks by tokio's id, in one of the shards.
type Shard = Option<HashMap<Id, Arc<TaskCell>>>;

static TASKS: [Mutex<Shard>; SHARDS] = [const { Mutex::new(None) }; SHARDS];

thread_local! {
    /// Set while async-inspect itself spawns: its tasks are inspected
    /// already.
    static OURS: Cell<bool> = const { Cell::new(false) };
    /// The polls of hosted tasks running on this thread, innermost last.
    static POLLS: RefCell<Vec<(Id, HostedPoll)>> = const { RefCell::new(Vec::new()) };
}

fn shard(id: Id) -> MutexGuard<'static, Shard> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    let index = (hasher.finish() as usize) % SHARDS;
    TASKS[index].lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `spawn` marked as async-inspect's own, so the hooks skip the task.
pub(crate) fn ours<T>(spawn: impl FnOnce() -> T) -> T {
    OURS.with(|ours| ours.set(true));
    let spawned = spawn();
    OURS.with(|ours| ours.set(false));
    spawned
}

/// Adds the hooks that record every task of the runtime `builder` builds:
/// call it before `build()`, as in
/// `async_inspect::tokio::instrument_runtime(&mut builder)`. (Its tests are
/// in `tokio-unstable-tests/`, built with the cfg.)
pub fn instrument_runtime(builder: &mut Builder) -> &mut Builder {
    builder
        .on_task_spawn(|meta: &TaskMeta<'_>| {
            if OURS.with(Cell::get) || !async_inspect_core::config::enabled() {
                return;
            }
            let cell = hosted::register(meta.spawned_at());
            shard(meta.id())
                .get_or_insert_with(HashMap::new)
                .insert(meta.id(), cell);
        })
        .on_before_task_poll(|meta: &TaskMeta<'_>| {
            let cell = shard(meta.id())
                .as_ref()
                .and_then(|m| m.get(&meta.id()).cloned());
            if let Some(cell) = cell {
                let poll = HostedPoll::begin(cell);
                POLLS.with(|polls| polls.borrow_mut().push((meta.id(), poll)));
            }
        })
        .on_after_task_poll(|meta: &TaskMeta<'_>| {
            let poll = POLLS.with(|polls| {
                let mut polls = polls.borrow_mut();
                let position = polls.iter().rposition(|(id, _)| *id == meta.id())?;
                Some(polls.remove(position).1)
            });
            if let Some(poll) = poll {
                poll.end();
            }
        })
        .on_task_terminate(|meta: &TaskMeta<'_>| {
            let cell = shard(meta.id()).as_mut().and_then(|m| m.remove(&meta.id()));
            if let Some(cell) = cell {
                hosted::ended(&cell);
            }
        })
}
