//! Every live task, and a bounded list of recently finished ones.
//!
//! Tasks are spread over [`SHARDS`] shards by id, so that spawning and
//! finishing on different worker threads rarely meet on the same lock, and a
//! poll never takes one. Finished tasks are kept per shard for a bounded time
//! and count (see [`Config::retain_finished`](crate::Config::retain_finished)),
//! so memory stays flat under millions of short tasks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::CachePadded;

use crate::task::{TaskCell, TaskId};
use crate::{clock, config};

/// Number of registry shards.
pub const SHARDS: usize = 16;

struct Shard {
    live: Slots,
    /// Finished tasks, oldest first, with the clock time each finished:
    /// kept here so that a spawn deciding whether to evict the oldest does
    /// not read a record last written on another thread.
    finished: VecDeque<(u64, Arc<TaskCell>)>,
    /// Tasks of this shard that ever finished; counted here rather than in
    /// a global atomic that every worker would contend on.
    finished_total: u64,
    /// Finished tasks of this shard dropped from the retention list.
    evicted_total: u64,
}

/// A shard's live tasks by key: a slab whose free keys are reused oldest
/// first, so that a spawn knows which entry the next one in its shard will
/// write and can have it fetched ahead ([`Slots::prefetch_next`]): the
/// entry was last written by the worker that finished its task, a miss on
/// the spawning thread's path (the most recently freed key, which a slab
/// reuses first, changes under the spawner with every finish).
struct Slots {
    entries: Vec<Option<Arc<TaskCell>>>,
    /// Keys of empty entries, freed longest ago first; as `u32`s, half the
    /// size, since all of a shard's tasks ending at once (a runtime
    /// shutting down) puts every key here.
    free: VecDeque<u32>,
    len: usize,
}

impl Slots {
    const fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: VecDeque::new(),
            len: 0,
        }
    }

    fn insert(&mut self, cell: Arc<TaskCell>) -> usize {
        self.len += 1;
        match self.free.pop_front() {
            Some(key) => {
                let key = key as usize;
                self.entries[key] = Some(cell);
                key
            }
            None => {
                self.entries.push(Some(cell));
                self.entries.len() - 1
            }
        }
    }

    fn try_remove(&mut self, key: usize) -> Option<Arc<TaskCell>> {
        let cell = self.entries.get_mut(key)?.take()?;
        self.len -= 1;
        // A shard holds far fewer than 2³² tasks at once (each takes a few
        // hundred bytes).
        self.free.push_back(key as u32);
        Some(cell)
    }

    fn get(&self, key: usize) -> Option<&Arc<TaskCell>> {
        self.entries.get(key)?.as_ref()
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<TaskCell>> {
        self.entries.iter().flatten()
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Fetches the entry the next insert writes.
    fn prefetch_next(&self) {
        if let Some(&key) = self.free.front() {
            prefetch_line(std::ptr::from_ref(&self.entries[key as usize]).cast());
        }
    }
}

/// Each on lines of its own: workers spawning and finishing in different
/// shards would otherwise fight over the lines they share.
static SHARD_LIST: [CachePadded<Mutex<Shard>>; SHARDS] = [const {
    CachePadded::new(Mutex::new(Shard {
        live: Slots::new(),
        finished: VecDeque::new(),
        finished_total: 0,
        evicted_total: 0,
    }))
}; SHARDS];

fn shard(cell: &TaskCell) -> MutexGuard<'static, Shard> {
    let index = (cell.id().as_u64() % SHARDS as u64) as usize;
    // The shard's data stays consistent across a panic in the few lines
    // that hold it, so a poisoned lock is used as is.
    SHARD_LIST[index].lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a new task, and lets go of the finished tasks of its shard
/// past the retention's count or age: on the spawning thread, which
/// allocates the records in a spawn-heavy program, so that a record is
/// mostly freed where it was allocated (a free on another thread contends
/// for the allocator's lock: the finishing workers did so before).
pub(crate) fn insert(cell: &Arc<TaskCell>) {
    let (per_shard, max_age) = retention();
    let now = cell.created_at();
    let mut shard = shard(cell);
    let key = shard.live.insert(Arc::clone(cell));
    // Two at most: a task finishes once for each spawned, so the list
    // keeps to its count, and no spawn pays for a burst of finishes.
    let evicted = [
        shard.evict(per_shard, max_age, now),
        shard.evict(per_shard, max_age, now),
    ];
    if let Some((_, next)) = shard.finished.front() {
        prefetch(next);
    }
    shard.live.prefetch_next();
    drop(shard);
    cell.set_slot(key);
    // Released after the lock, or kept for the next spawn on this thread.
    evicted.into_iter().flatten().for_each(keep_spare);
}

/// Asks the processor to bring `cell`'s first lines (its counts, where
/// the next eviction looks first) into this thread's cache: the record was
/// last written by the worker that finished it, and reading it at eviction
/// was a miss on the spawning thread's path. (A prefetch for write, in
/// `asm!`, measured no better.)
#[inline]
fn prefetch(cell: &Arc<TaskCell>) {
    let data = Arc::as_ptr(cell).cast::<u8>();
    // The `Arc`'s counts sit just before the data (the eviction's
    // `get_mut` reads them); the record's next line is the rest of what a
    // new task's record is written over first.
    prefetch_line(data.wrapping_sub(ARC_COUNTS));
    prefetch_line(data.wrapping_add(48));
}

/// The strong and weak counts an `Arc` keeps just before its value.
pub(crate) const ARC_COUNTS: usize = 2 * std::mem::size_of::<usize>();

/// [`prefetch_line`] for every cache line of the `len` bytes at `start`.
#[inline]
pub(crate) fn prefetch_lines(start: *const u8, len: usize) {
    const LINE: usize = 64;
    let skew = start as usize % LINE;
    let first = start.wrapping_sub(skew);
    for offset in (0..skew + len).step_by(LINE) {
        prefetch_line(first.wrapping_add(offset));
    }
}

/// Asks the processor to fetch the cache line of `address` into this
/// thread's cache (nothing on other processors than x86_64).
#[inline]
pub(crate) fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of x86_64; a prefetch reads nothing and
        // never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// How many evicted records a thread keeps for its next spawns.
const SPARES: usize = 4;

thread_local! {
    /// Records of evicted tasks that nothing else holds (no waker, no
    /// recording, no snapshot), for [`spare`]: a spawn-heavy program then
    /// writes each new task's record over an old one on the spawning thread,
    /// instead of a free and an allocation per task.
    static SPARE: RefCell<Vec<Arc<TaskCell>>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `cell`, evicted, for [`spare`] if nothing else holds it and there
/// is room; drops it otherwise.
fn keep_spare(mut cell: Arc<TaskCell>) {
    if Arc::get_mut(&mut cell).is_none() {
        return;
    }
    // Thread-local storage may already be gone while a thread exits.
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARES {
            spare.push(cell);
        }
    });
}

/// An evicted record of this thread's that nothing else holds (its
/// `Arc::get_mut` succeeds), to write a new task's record over.
pub(crate) fn spare() -> Option<Arc<TaskCell>> {
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
}

/// The finished tasks each shard keeps at most, and for how long.
fn retention() -> (usize, u64) {
    let (max_count, max_age) = config::retention();
    (max_count.div_ceil(SHARDS), max_age)
}

/// Moves a finished task to its shard's retention list, trimmed at the
/// next spawn in that shard or the next snapshot (so the list can exceed
/// its count by the tasks that finish in between: records that were all
/// live a moment before), and by the finishing thread itself once the
/// list is twice its count: a burst of finishes with no spawn after (a
/// runtime shutting down, a server's connections closing) would
/// otherwise keep every record of them until the next spawn, W5's
/// 100 000 among them (3 MiB more at its peak).
pub(crate) fn finish(cell: &Arc<TaskCell>) {
    let key = cell.slot();
    let finished_at = cell.phase().1;
    let mut shard = shard(cell);
    let Some(cell) = shard.live.try_remove(key) else {
        return;
    };
    shard.finished_total += 1;
    shard.finished.push_back((finished_at, cell));
    let (per_shard, _) = retention();
    let evicted = (shard.finished.len() > 2 * per_shard)
        .then(|| shard.evict(per_shard, u64::MAX, finished_at))
        .flatten();
    drop(shard);
    // Released after the lock, or kept for a spawn on this thread.
    if let Some(evicted) = evicted {
        keep_spare(evicted);
    }
}

/// The live task `id`, registered under `key` (its cell's slot).
pub(crate) fn find(id: TaskId, key: usize) -> Option<Arc<TaskCell>> {
    let index = (id.as_u64() % SHARDS as u64) as usize;
    let shard = SHARD_LIST[index].lock().unwrap_or_else(|e| e.into_inner());
    shard.live.get(key).filter(|cell| cell.id() == id).cloned()
}

impl Shard {
    /// Removes the oldest finished task if the list is past `max_count`
    /// or it is older than `max_age`, and returns it, to be released once
    /// the lock is dropped.
    fn evict(&mut self, max_count: usize, max_age: u64, now: u64) -> Option<Arc<TaskCell>> {
        let (finished_at, _) = self.finished.front()?;
        let too_many = self.finished.len() > max_count;
        let too_old = now.saturating_sub(*finished_at) > max_age;
        if !(too_many || too_old) {
            return None;
        }
        self.evicted_total += 1;
        self.finished.pop_front().map(|(_, cell)| cell)
    }

    /// Removes every finished task past the count or older than `max_age`;
    /// the last one removed is returned, to be released once the lock is
    /// dropped (the rest are released here).
    fn trim(&mut self, max_count: usize, max_age: u64, now: u64) -> Option<Arc<TaskCell>> {
        let mut evicted = None;
        while let Some(cell) = self.evict(max_count, max_age, now) {
            evicted = Some(cell);
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
    let mut totals = Totals {
        spawned: crate::task::id::issued(),
        ..Totals::default()
    };
    for shard in &SHARD_LIST {
        let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        totals.finished += shard.finished_total;
        totals.evicted += shard.evicted_total;
    }
    totals
}

/// Every live and retained task, by id. Each shard's lock is held only to
/// copy its `Arc`s. Each comes in an `Option`, so that a snapshot can let
/// go of a record where it reads it (see `snapshot::capture_tasks`).
pub(crate) fn all() -> Vec<(TaskId, Option<Arc<TaskCell>>)> {
    let (per_shard, max_age) = retention();
    let now = clock::now();
    let mut cells = Vec::with_capacity(live_count() + per_shard * SHARDS);
    for shard in &SHARD_LIST {
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let _evicted = shard.trim(per_shard, max_age, now);
        // The id is read while the cell's line is in cache for the clone,
        // so that sorting compares plain pairs.
        let pair = |cell: &Arc<TaskCell>| (cell.id(), Some(Arc::clone(cell)));
        cells.extend(shard.live.iter().map(pair));
        cells.extend(shard.finished.iter().map(|(_, cell)| pair(cell)));
    }
    // Each shard yields its tasks mostly in id order, and a stable sort
    // merges such runs in near-linear time.
    cells.sort_by_key(|(id, _)| *id);
    cells
}

/// The number of live (unfinished) tasks.
pub fn live_count() -> usize {
    SHARD_LIST
        .iter()
        .map(|shard| shard.lock().unwrap_or_else(|e| e.into_inner()).live.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Inspected, TaskKind};

    /// One future type for the marked tasks and the plain ones.
    async fn work(mark: bool) {
        if mark {
            // What `inspect_point!` records.
            crate::task::context::with_task(|task, frame| {
                task.push_point(frame, "marked".into(), None, std::panic::Location::caller());
            });
        }
    }

    #[test]
    fn a_task_given_a_recycled_record_or_detail_at_spawn_keeps_nothing_of_the_old_task() {
        // Enough finished tasks for every shard to evict, many times over:
        // their records are written over by new ones on this thread, and
        // their details, recycled here, go to the new tasks of their type.
        let rounds = 4 * (Config::DEFAULT_RETAIN_FINISHED + SHARDS * SPARES);
        let work_name = name_of_work();
        let mut given = 0;
        for round in 0..rounds {
            // Its point makes its detail after its spawn, which teaches
            // that tasks of its type need one; a named one has one from
            // its spawn.
            let name = (round % 2 == 1).then(|| "marked".into());
            let marked = Inspected::new(work(true), TaskKind::Spawned, name);
            futures::executor::block_on(marked);
            let plain = Inspected::new(work(false), TaskKind::Spawned, None);
            let cell = Arc::clone(plain.cell().expect("inspection is on"));
            // A nameless task has a detail before its first poll only when
            // its type was learnt to need one.
            let detail = cell.read_detail(|detail| {
                detail.map(|d| (d.name.is_some(), d.rare().points.len(), d.root_fn.is_some()))
            });
            if let Some(left) = detail {
                assert_eq!(left, (false, 0, false), "an old task's detail, not cleared");
                given += 1;
            }
            assert_eq!(cell.polls(), 0);
            assert!(!cell.phase().0.is_finished());
            futures::executor::block_on(plain);
            assert_eq!(cell.polls(), 1);
            assert!(cell.read_detail(|d| d.is_none_or(|d| d.rare().points.is_empty())));
            assert_eq!(cell.name(), work_name);
        }
        assert!(
            given > 0,
            "no task of a type needing a detail got one at spawn"
        );
    }

    #[test]
    fn a_burst_of_finishes_with_no_spawn_after_keeps_to_twice_the_retention() {
        let per_shard = Config::DEFAULT_RETAIN_FINISHED.div_ceil(SHARDS);
        let location = std::panic::Location::caller();
        let cells: Vec<_> = (0..8 * Config::DEFAULT_RETAIN_FINISHED)
            .map(|_| TaskCell::register(TaskKind::Spawned, None, location))
            .collect();
        for cell in &cells {
            cell.finish(crate::task::Phase::Aborted);
        }
        // Every shard, whatever other tests finish meanwhile (they keep to
        // the same bound).
        for shard in &SHARD_LIST {
            let kept = shard
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .finished
                .len();
            assert!(
                kept <= 2 * per_shard,
                "{kept} finished tasks kept in a shard"
            );
        }
    }

    #[test]
    fn slots_reuse_the_key_freed_longest_ago() {
        // Registered tasks too (a cell has no other maker): finished below.
        let made = std::cell::RefCell::new(Vec::new());
        let cell = || {
            let location = std::panic::Location::caller();
            let cell = TaskCell::register(crate::TaskKind::Spawned, None, location);
            made.borrow_mut().push(Arc::clone(&cell));
            cell
        };
        let mut slots = Slots::new();
        let keys: Vec<usize> = (0..3).map(|_| slots.insert(cell())).collect();
        assert_eq!(keys, [0, 1, 2]);
        assert!(slots.try_remove(1).is_some());
        assert!(slots.try_remove(0).is_some());
        assert!(slots.try_remove(0).is_none(), "removed twice");
        assert_eq!(slots.len(), 1);
        assert_eq!(slots.insert(cell()), 1);
        assert_eq!(slots.insert(cell()), 0);
        assert_eq!(slots.insert(cell()), 3);
        assert_eq!(slots.len(), 4);
        assert_eq!(slots.iter().count(), 4);
        assert!(slots.get(2).is_some() && slots.get(4).is_none());
        for cell in made.take() {
            cell.finish(crate::task::Phase::Aborted);
        }
    }

    /// The name a nameless task running `work` shows.
    fn name_of_work() -> String {
        let task = Inspected::new(work(false), TaskKind::Spawned, None);
        task.cell().expect("inspection is on").name().into_owned()
    }
}
