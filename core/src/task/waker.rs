//! The waker every inspected task is polled with: it counts the task's
//! wakes, tells who woke it (another task, or a thread outside any task)
//! and whether it woke itself, and, being one `Arc` per task, lets a
//! snapshot count how many wakers for the task exist (each clone a timer,
//! channel or lock keeps is one more strong reference).
//!
//! The wrapper is built once per task and rebuilt only when the runtime
//! hands the task a different waker (`Waker::will_wake`): a poll compares
//! two pointers and lends the cached waker, with no allocation and no
//! reference count. Wakes cost an atomic add, a load, and a store.

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Wake, Waker};

use async_inspect_model::snapshot::{LockSiteWaits, SchedulingDelays, WokenBy};

use crate::record;
use crate::task::{TaskCell, TaskId, context};

/// The waker a task is polled with: its runtime's waker, plus the task.
pub(crate) struct TaskWaker {
    /// Strong: a wake after the task finished still finds its record
    /// (which goes when the last waker does).
    cell: Arc<TaskCell>,
    inner: Waker,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        // By reference: the task's own `Inspected` keeps the wrapper (and
        // so the runtime's waker) alive while the task is, so trying to
        // take the inner waker by value would only cost a failed exchange.
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let by = woken_by(&self.cell);
        self.cell.record_wake(by);
        if record::level() == record::ALL_POLLS {
            record_wake_event(&self.cell, by);
        }
        self.inner.wake_by_ref();
    }
}

/// A recording of every poll gets the wake too (the Chrome export draws
/// it as an arrow from the waking task to the poll it brought).
#[cold]
fn record_wake_event(cell: &TaskCell, by: u64) {
    let task = cell.id().as_u64();
    let by = match by {
        SELF => task,
        by if by & (THREAD | TIMER) != 0 => 0,
        by => by,
    };
    record::emit(record::Raw::Wake {
        task,
        by,
        at: record::now(),
    });
}

/// Who is waking `cell` on this thread, encoded for
/// [`TaskCell::record_wake`]: [`SELF`], a task's id, or a thread's index
/// with [`THREAD`] set.
#[inline]
fn woken_by(cell: &TaskCell) -> u64 {
    let current = context::get();
    if current.task.is_null() {
        THREAD | thread_index()
    } else if std::ptr::eq(current.task, cell) {
        SELF
    } else {
        // SAFETY: a non-null current task is alive while its poll runs on
        // this thread (see `context::with_task`).
        unsafe { (*current.task).id().as_u64() }
    }
}

/// A wake from inside the task's own poll.
pub(crate) const SELF: u64 = 0;
/// Set on a waker code that is a thread's index.
pub(crate) const THREAD: u64 = 1 << 63;

/// Set (without [`THREAD`]) on a waker code that is an inspected timer's
/// site: the address of its `'static` `Location`.
const TIMER: u64 = 1 << 62;

/// The waker code of the inspected timer made at `site`.
pub(crate) fn timer_code(site: &'static Location<'static>) -> u64 {
    TIMER | std::ptr::from_ref(site) as u64
}

/// What a waker code says, for a snapshot; `None` before any wake.
pub(crate) fn decode_woken_by(code: u64, woken: bool, own: TaskId) -> Option<WokenBy> {
    if !woken {
        return None;
    }
    Some(match code {
        SELF => WokenBy::Task(own),
        code if code & THREAD != 0 => WokenBy::Thread(thread_name(code & !THREAD)),
        code if code & TIMER != 0 => {
            // SAFETY: a code with TIMER (and not THREAD) is only made by
            // `timer_code`, from a `&'static Location`: it lives forever.
            let site = unsafe { &*((code & !TIMER) as *const Location<'static>) };
            WokenBy::Timer(format!("{}:{}", site.file(), site.line()))
        }
        id => WokenBy::Task(TaskId::from_u64(id)),
    })
}

/// Names of the threads that woke tasks outside any task, by index; at
/// most [`THREADS_NAMED`], later ones share the last index.
static THREAD_NAMES: Mutex<Vec<Box<str>>> = Mutex::new(Vec::new());
const THREADS_NAMED: usize = 1024;

thread_local! {
    static THREAD_INDEX: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
}

#[inline]
fn thread_index() -> u64 {
    let index = THREAD_INDEX.with(std::cell::Cell::get);
    if index != u64::MAX {
        return index;
    }
    name_this_thread()
}

#[cold]
fn name_this_thread() -> u64 {
    let mut names = THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let index = if names.len() < THREADS_NAMED {
        let thread = std::thread::current();
        let name = match thread.name() {
            Some(name) => name.into(),
            None => format!("{:?}", thread.id()).into(),
        };
        names.push(name);
        names.len() - 1
    } else {
        THREADS_NAMED - 1
    };
    let index = index as u64;
    THREAD_INDEX.with(|i| i.set(index));
    index
}

fn thread_name(index: u64) -> String {
    let names = THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    match usize::try_from(index).ok().and_then(|i| names.get(i)) {
        Some(name) if index < THREADS_NAMED as u64 - 1 => name.to_string(),
        _ => "another thread".to_owned(),
    }
}

/// The wrapped waker of one task, kept by its `Inspected` future across
/// polls (only its poller touches it, so it needs no lock).
#[derive(Default)]
pub(crate) struct WakerCache {
    cached: Option<(Arc<TaskWaker>, Waker)>,
    /// The runtime waker's data and vtable pointers (what `will_wake`
    /// compares), kept here beside the task's future rather than read
    /// through the wrapper, whose line the task's wakers write.
    outer: (usize, usize),
}

impl std::fmt::Debug for WakerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakerCache")
            .field("cached", &self.cached.is_some())
            .finish()
    }
}

impl WakerCache {
    /// The task's waker for a poll with the runtime's `outer`: the cached
    /// one, or a new one when the runtime's waker changed.
    #[inline]
    pub(crate) fn get(&mut self, cell: &Arc<TaskCell>, outer: &Waker) -> &Waker {
        if self.cached.is_none() || self.outer != identity(outer) {
            self.rebuild(cell, outer);
        }
        match &self.cached {
            Some((_, waker)) => waker,
            None => unreachable!("rebuilt above"),
        }
    }

    #[cold]
    fn rebuild(&mut self, cell: &Arc<TaskCell>, outer: &Waker) {
        let wrapper = Arc::new(TaskWaker {
            cell: Arc::clone(cell),
            inner: outer.clone(),
        });
        let weak = Arc::downgrade(&wrapper);
        if let Err(weak) = cell.set_first_waker(weak) {
            cell.with_detail(|detail| detail.wakers.adopt(weak));
        }
        let waker = Waker::from(Arc::clone(&wrapper));
        self.cached = Some((wrapper, waker));
        self.outer = identity(outer);
    }
}

/// What `Waker::will_wake` compares: the data and vtable pointers.
#[inline]
fn identity(waker: &Waker) -> (usize, usize) {
    (
        waker.data() as usize,
        std::ptr::from_ref(waker.vtable()) as usize,
    )
}

/// The wrappers a task was polled with after its first (the first is in
/// its cell), kept weakly in its detail so that a snapshot can count the
/// wakers for it that exist. Runtimes hand a task the same waker at every
/// poll, so this stays empty but for executors that do not.
#[derive(Debug, Default)]
pub(crate) struct Wrappers {
    later: Vec<Weak<TaskWaker>>,
    /// More wrappers were made than are kept: their clones cannot be
    /// counted.
    overflowed: bool,
}

/// How many later wrappers a task keeps track of (a runtime that hands a
/// new waker at every poll makes them uncountable past this).
const WRAPPERS_KEPT: usize = 8;

/// References the task's own `Inspected` holds on its latest wrapper (its
/// `Arc` and its `Waker`).
const OWN_REFERENCES: usize = 2;

impl Wrappers {
    fn adopt(&mut self, wrapper: Weak<TaskWaker>) {
        self.later.retain(|w| w.strong_count() > 0);
        if self.later.len() == WRAPPERS_KEPT {
            self.later.remove(0);
            self.overflowed = true;
        }
        self.later.push(wrapper);
    }
}

/// The wakers for a task that exist outside its own `Inspected`, between
/// its polls, given its first wrapper and the later ones; `None` when
/// they cannot be counted, or when its `Inspected` is gone.
pub(crate) fn wakers_outside(first: &Weak<TaskWaker>, later: Option<&Wrappers>) -> Option<u64> {
    let later = later.filter(|w| !w.later.is_empty() || w.overflowed);
    let (latest, older) = match later {
        None => (first.strong_count(), 0),
        Some(later) if later.overflowed => return None,
        Some(later) => {
            let (latest, older) = later.later.split_last()?;
            let older: usize = older.iter().map(Weak::strong_count).sum();
            (latest.strong_count(), older + first.strong_count())
        }
    };
    Some((latest.checked_sub(OWN_REFERENCES)? + older) as u64)
}

/// Scheduling delays of every woken poll, per thread: a bucket per
/// [`LockSiteWaits::bound`] and one beyond, then the sum of the delays in
/// nanoseconds; written only by that thread (a load and a store: no locked
/// instruction on the poll path) and read by snapshots.
struct ThreadDelays([AtomicU64; SLOTS]);

const SLOTS: usize = LockSiteWaits::BOUNDS + 2;

impl ThreadDelays {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; SLOTS])
    }

    /// Adds `n` to slot `i`; only the owning thread writes.
    #[inline]
    fn add(&self, i: usize, n: u64) {
        let slot = &self.0[i];
        slot.store(slot.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// The delays of every thread alive that counted some, and of those gone
/// (folded in when their thread ends, under the same lock).
struct AllDelays {
    threads: Vec<Arc<ThreadDelays>>,
    gone: [u64; SLOTS],
}

static ALL_DELAYS: Mutex<AllDelays> = Mutex::new(AllDelays {
    threads: Vec::new(),
    gone: [0; SLOTS],
});

/// This thread's counts, registered at its first woken poll and folded
/// into the gone threads' when it ends.
struct Mine(Arc<ThreadDelays>);

impl Mine {
    fn register() -> Self {
        let mine = Arc::new(ThreadDelays::new());
        all_delays().threads.push(Arc::clone(&mine));
        Self(mine)
    }
}

impl Drop for Mine {
    fn drop(&mut self) {
        let mut all = all_delays();
        all.threads.retain(|t| !Arc::ptr_eq(t, &self.0));
        for (gone, slot) in all.gone.iter_mut().zip(&self.0.0) {
            *gone += slot.load(Ordering::Relaxed);
        }
    }
}

fn all_delays() -> std::sync::MutexGuard<'static, AllDelays> {
    ALL_DELAYS.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    static MINE: Mine = Mine::register();
}

/// Counts one woken poll that waited `delay_ns` for its worker.
#[inline]
pub(crate) fn count_delay(delay_ns: u64) {
    // Bucket i holds delays up to 1 µs × 2^i.
    let micros = delay_ns.div_ceil(1_000);
    let bucket = if micros <= 1 {
        0
    } else {
        (64 - (micros - 1).leading_zeros() as usize).min(LockSiteWaits::BOUNDS)
    };
    // A thread ending has no counts left to keep.
    let _ = MINE.try_with(|mine| {
        mine.0.add(bucket, 1);
        if delay_ns > 0 {
            mine.0.add(SLOTS - 1, delay_ns);
        }
    });
}

/// The scheduling delays counted so far.
pub(crate) fn delays() -> SchedulingDelays {
    let all = all_delays();
    let mut slots = all.gone;
    for thread in &all.threads {
        for (sum, slot) in slots.iter_mut().zip(&thread.0) {
            *sum += slot.load(Ordering::Relaxed);
        }
    }
    SchedulingDelays {
        buckets: slots[..SLOTS - 1].to_vec(),
        total: std::time::Duration::from_nanos(slots[SLOTS - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_fall_in_their_bucket() {
        let before = delays();
        count_delay(0);
        count_delay(3_000_000); // 3 ms: ≤ 4.096 ms, bucket 12
        let after = delays();
        assert_eq!(after.buckets[0] - before.buckets[0], 1);
        assert_eq!(after.buckets[12] - before.buckets[12], 1);
        assert!(LockSiteWaits::bound(12) >= std::time::Duration::from_millis(3));
        assert!(LockSiteWaits::bound(11) < std::time::Duration::from_millis(3));
    }

    #[test]
    fn a_thread_that_ends_keeps_its_delays_counted() {
        let before = delays();
        std::thread::spawn(|| count_delay(5_000_000))
            .join()
            .unwrap();
        let after = delays();
        // 5 ms: ≤ 8.192 ms, bucket 13.
        assert_eq!(after.buckets[13] - before.buckets[13], 1);
        assert!(after.total - before.total >= std::time::Duration::from_millis(5));
    }
}
