//! Every live task, and a bounded list of recently finished ones.
//!
//! Tasks are spread over [`SHARDS`] shards by id, so that spawning and
//! finishing on different worker threads rarely meet on the same lock, and a
//! poll never takes one. Finished tasks are kept per shard for a bounded time
//! and count (see [`Config::retain_finished`](crate::Config::retain_finished)),
//! so memory stays flat under millions of short tasks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use slab::Slab;

use crate::task::TaskCell;
use crate::{clock, config};

/// Number of registry shards.
pub const SHARDS: usize = 16;

struct Shard {
    live: Slab<Arc<TaskCell>>,
    /// Finished tasks, oldest first.
    finished: VecDeque<Arc<TaskCell>>,
}

static SHARD_LIST: [Mutex<Shard>; SHARDS] = [const {
    Mutex::new(Shard {
        live: Slab::new(),
        finished: VecDeque::new(),
    })
}; SHARDS];

static SPAWNED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);
static EVICTED: AtomicU64 = AtomicU64::new(0);

fn shard(cell: &TaskCell) -> MutexGuard<'static, Shard> {
    let index = (cell.id().as_u64() % SHARDS as u64) as usize;
    // The shard's data stays consistent across a panic in the few lines
    // that hold it, so a poisoned lock is used as is.
    SHARD_LIST[index].lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn insert(cell: &Arc<TaskCell>) {
    SPAWNED.fetch_add(1, Ordering::Relaxed);
    let key = shard(cell).live.insert(Arc::clone(cell));
    cell.slot.store(key, Ordering::Relaxed);
}

pub(crate) fn finish(cell: &Arc<TaskCell>) {
    FINISHED.fetch_add(1, Ordering::Relaxed);
    let key = cell.slot.load(Ordering::Relaxed);
    let (max_count, max_age) = config::retention();
    let per_shard = max_count.div_ceil(SHARDS);
    let mut shard = shard(cell);
    let Some(cell) = shard.live.try_remove(key) else {
        return;
    };
    if per_shard == 0 {
        drop(shard);
        EVICTED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    shard.finished.push_back(cell);
    let evicted = shard.trim(per_shard, max_age, clock::now());
    drop(shard);
    EVICTED.fetch_add(evicted, Ordering::Relaxed);
}

impl Shard {
    /// Drops finished tasks past the count or older than `max_age`; returns
    /// how many it dropped. The dropped cells are released with the lock
    /// held, which is cheap: a cell has no destructor beyond its memory.
    fn trim(&mut self, max_count: usize, max_age: u64, now: u64) -> u64 {
        let mut evicted = 0;
        while let Some(oldest) = self.finished.front() {
            let too_many = self.finished.len() > max_count;
            let too_old = now.saturating_sub(oldest.last_poll_end()) > max_age;
            if !(too_many || too_old) {
                break;
            }
            self.finished.pop_front();
            evicted += 1;
        }
        evicted
    }
}

/// Counts of tasks over the life of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tasks ever registered.
    pub spawned: u64,
    /// Tasks that finished.
    pub finished: u64,
    /// Finished tasks dropped from the retention list.
    pub evicted: u64,
}

pub(crate) fn totals() -> Totals {
    Totals {
        spawned: SPAWNED.load(Ordering::Relaxed),
        finished: FINISHED.load(Ordering::Relaxed),
        evicted: EVICTED.load(Ordering::Relaxed),
    }
}

/// Calls `f` with every live and retained task, shard by shard. The shard
/// lock is held only to copy its `Arc`s, never while `f` runs.
pub(crate) fn for_each(mut f: impl FnMut(&Arc<TaskCell>)) {
    let (max_count, max_age) = config::retention();
    let per_shard = max_count.div_ceil(SHARDS);
    let now = clock::now();
    let mut cells = Vec::new();
    for shard in &SHARD_LIST {
        cells.clear();
        {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let evicted = shard.trim(per_shard, max_age, now);
            EVICTED.fetch_add(evicted, Ordering::Relaxed);
            cells.reserve(shard.live.len() + shard.finished.len());
            cells.extend(shard.live.iter().map(|(_, cell)| Arc::clone(cell)));
            cells.extend(shard.finished.iter().cloned());
        }
        cells.iter().for_each(&mut f);
    }
}

/// The number of live (unfinished) tasks.
pub fn live_count() -> usize {
    SHARD_LIST
        .iter()
        .map(|shard| shard.lock().unwrap_or_else(|e| e.into_inner()).live.len())
        .sum()
}
