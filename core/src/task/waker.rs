//! The waker every inspected task is polled with: it counts the task's
//! wakes, tells who woke it (another task, a timer, or a thread outside any
//! task) and whether it woke itself, and counts its own handles, so that a
//! snapshot knows how many wakers for the task exist (each clone a timer,
//! channel or lock keeps is one more).
//!
//! The task's own waker is its record: a handle's data is the task's
//! [`TaskCell`], whose `handles` count the handles (between them they hold
//! one reference to the record), and which keeps the runtime's waker they
//! forward to. A clone and a drop touch the task's own record, which its
//! poller writes anyway: no allocation per task for the waker, and no
//! line shared with another task's. (A wrapper per task in an `Arc` of its
//! own put the counts of neighbouring tasks on one cache line, which the
//! workers polling them fought over: W2 took 125 ms against 103 ms now,
//! medians of four runs on a 2-core VM; each idle task kept 48 bytes more.)
//!
//! A poll compares two pointers (`Waker::will_wake`'s) and lends the
//! task's handle, with no allocation and no reference count. A runtime
//! that hands the task a different waker later (none of tokio, smol or
//! async-std does) gets a wrapper of that waker in an `Arc` of its own
//! ([`TaskWaker`]). Wakes cost an atomic add, a load, and a store.

use std::borrow::Cow;
use std::cell::UnsafeCell;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{RawWaker, RawWakerVTable, Wake, Waker};

use async_inspect_model::snapshot::{LockSiteWaits, SchedulingDelays, WokenBy};

use crate::record;
use crate::task::{TaskCell, TaskId, context};

/// The runtime's waker a task's own handles forward to.
///
/// Written once, by the task's poller at its first poll, before any handle
/// exists; read by the handles while any exists; taken by the drop of the
/// last one, which (`AcqRel` on the count) comes after every other
/// handle's last use. No two of these overlap, so no lock is needed.
pub(crate) struct RuntimeWaker(UnsafeCell<Option<Waker>>);

// SAFETY: see the type's doc: the write, the reads and the take never
// overlap, and `Waker` is `Send + Sync`.
unsafe impl Sync for RuntimeWaker {}

impl std::fmt::Debug for RuntimeWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not read: a handle may be taking it.
        f.write_str("RuntimeWaker")
    }
}

impl RuntimeWaker {
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new(None))
    }
}

/// The task's own waker handles: data is the task's `TaskCell`.
static HANDLE: RawWakerVTable =
    RawWakerVTable::new(clone_handle, wake_handle, wake_by_handle, drop_handle);

/// # Safety
///
/// `data` is a live handle's: a `TaskCell` with `handles` ≥ 1.
unsafe fn clone_handle(data: *const ()) -> RawWaker {
    // SAFETY: a live handle keeps the record.
    let cell = unsafe { &*data.cast::<TaskCell>() };
    // Relaxed, as `Arc`'s clone: made from a live handle, the count is
    // already at least one.
    cell.waker_handles().fetch_add(1, Ordering::Relaxed);
    RawWaker::new(data, &HANDLE)
}

/// # Safety
///
/// As [`clone_handle`]; the handle is consumed.
unsafe fn wake_handle(data: *const ()) {
    // SAFETY: as the function's.
    unsafe {
        wake_by_handle(data);
        drop_handle(data);
    }
}

/// # Safety
///
/// As [`clone_handle`].
unsafe fn wake_by_handle(data: *const ()) {
    // SAFETY: a live handle keeps the record.
    let cell = unsafe { &*data.cast::<TaskCell>() };
    // SAFETY: and the runtime's waker, set before the first handle was
    // made and taken only with the last (see `RuntimeWaker`).
    let runtime = unsafe { (*cell.runtime_waker().0.get()).as_ref() };
    if let Some(runtime) = runtime {
        wake_through(cell, runtime);
    }
}

/// # Safety
///
/// As [`clone_handle`]; the handle is gone after.
unsafe fn drop_handle(data: *const ()) {
    // SAFETY: as the function's.
    let cell = unsafe { &*data.cast::<TaskCell>() };
    if cell.waker_handles().fetch_sub(1, Ordering::AcqRel) == 1 {
        // The last handle: nothing reads the runtime's waker any more, and
        // none can be made (the task's own went with its `Inspected`).
        // SAFETY: see `RuntimeWaker`; then the handles' reference goes.
        unsafe {
            drop((*cell.runtime_waker().0.get()).take());
            Arc::decrement_strong_count(data.cast::<TaskCell>());
        }
    }
}

/// Makes the task's first handle, forwarding to `runtime`, for its
/// `Inspected` to own; false if it has one already (only its `Inspected`
/// makes one, at its first poll).
fn make_first_handle(cell: &Arc<TaskCell>, runtime: &Waker) -> bool {
    if cell.waker_handles().load(Ordering::Relaxed) != 0 {
        return false;
    }
    // SAFETY: no handle exists yet, so nothing reads the runtime's waker
    // (see `RuntimeWaker`); only this task's poller gets here.
    unsafe { *cell.runtime_waker().0.get() = Some(runtime.clone()) };
    cell.waker_handles().store(1, Ordering::Release);
    // The handles' reference to the record, given back by the last.
    std::mem::forget(Arc::clone(cell));
    true
}

/// Counts a wake of `cell` and forwards it to the runtime's `waker`.
#[inline]
fn wake_through(cell: &TaskCell, waker: &Waker) {
    let by = woken_by(cell);
    cell.record_wake(by);
    // Only a wake from another task's poll: a self-wake or one from a
    // thread draws no arrow, and they are as many as polls (recording
    // each doubled the cost of recording every poll of a yielding loop).
    if by != SELF && by & (THREAD | TIMER) == 0 && record::level() == record::ALL_POLLS {
        record_wake_event(cell, by);
    }
    waker.wake_by_ref();
}

/// The waker a task is polled with when its runtime hands it a waker other
/// than the one its own handles forward to: that waker, plus the task.
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
        wake_through(&self.cell, &self.inner);
    }
}

/// A recording of every poll gets a wake from another task's poll too (the
/// Chrome export draws it as an arrow from the waking task to the poll it
/// brought); `by` is that task's id.
#[cold]
fn record_wake_event(cell: &TaskCell, by: u64) {
    record::emit(record::Raw::Wake {
        task: cell.id().as_u64(),
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
        code if code & THREAD != 0 => WokenBy::Thread(Cow::Borrowed(thread_name(code & !THREAD))),
        code if code & TIMER != 0 => {
            // SAFETY: a code with TIMER (and not THREAD) is only made by
            // `timer_code`, from a `&'static Location`: it lives forever.
            let site = unsafe { &*((code & !TIMER) as *const Location<'static>) };
            WokenBy::Timer(format!("{}:{}", site.file(), site.line()))
        }
        id => WokenBy::Task(TaskId::from_u64(id)),
    })
}

/// Names of the threads that woke tasks outside any task, by index, each
/// set once by its thread and kept for the life of the process (at most
/// [`THREADS_NAMED`] of them): a snapshot reads them without a lock and
/// copies none. Later threads share the last index, "another thread".
static THREAD_NAMES: [OnceLock<&'static str>; THREADS_NAMED] =
    [const { OnceLock::new() }; THREADS_NAMED];
/// Indexes handed out so far.
static THREADS_INDEXED: AtomicUsize = AtomicUsize::new(0);
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
    let index = THREADS_INDEXED
        .fetch_add(1, Ordering::Relaxed)
        .min(THREADS_NAMED - 1);
    if index < THREADS_NAMED - 1 {
        let thread = std::thread::current();
        let name = match thread.name() {
            Some(name) => name.into(),
            None => format!("{:?}", thread.id()).into_boxed_str(),
        };
        // Bounded by the table's size: kept for good, to be borrowed.
        let _ = THREAD_NAMES[index].set(Box::leak(name));
    }
    // Set before any wake carries the index.
    let index = index as u64;
    THREAD_INDEX.with(|i| i.set(index));
    index
}

fn thread_name(index: u64) -> &'static str {
    usize::try_from(index)
        .ok()
        .filter(|&i| i < THREADS_NAMED - 1)
        .and_then(|i| THREAD_NAMES[i].get().copied())
        .unwrap_or("another thread")
}

/// A wrapper of a waker the runtime handed the task after its first, kept
/// in the task's detail ([`Wrappers`]) until the next or the task's end.
#[derive(Debug)]
struct Later {
    /// The wrapper, as a waker (the reference the task holds).
    waker: Waker,
    /// The runtime waker's identity.
    outer: (usize, usize),
}

/// A waker lent for one poll: a copy of a handle someone else owns (the
/// task's `Inspected`, or the task's detail for a later wrapper), never
/// dropped.
pub(crate) struct Lent<'a> {
    waker: std::mem::ManuallyDrop<Waker>,
    owner: std::marker::PhantomData<&'a TaskCell>,
}

impl Lent<'_> {
    /// # Safety
    ///
    /// A handle of `data` and `vtable` is owned elsewhere for the borrow.
    unsafe fn of(data: *const (), vtable: &'static RawWakerVTable) -> Self {
        Self {
            // SAFETY: the caller's: the copy is never dropped, so it takes
            // no count of its own.
            waker: std::mem::ManuallyDrop::new(unsafe {
                Waker::from_raw(RawWaker::new(data, vtable))
            }),
            owner: std::marker::PhantomData,
        }
    }
}

impl std::ops::Deref for Lent<'_> {
    type Target = Waker;

    fn deref(&self) -> &Waker {
        &self.waker
    }
}

/// The waker `cell`'s task is polled with when the runtime hands it
/// `outer`: its own handle, lent, while the runtime hands the same waker.
/// Called by the task's `Inspected`, which holds the handle from the first
/// poll until [`let_go`].
///
/// The handle takes no room in the task's future: it is the record's
/// address and a static vtable, remade on the stack at each poll, and the
/// runtime's waker it forwards to is in the record. (Kept in the future,
/// the handle and the runtime waker's identity made every task's future 40
/// bytes bigger, which tipped a small task's 128-byte-aligned tokio
/// allocation into the next size: W5's idle tasks each took 128 bytes
/// more.)
#[inline]
pub(crate) fn lend<'a>(cell: &'a Arc<TaskCell>, outer: &Waker) -> Lent<'a> {
    // SAFETY: the runtime's waker is written only by this task's poller,
    // at its first poll, and taken only with the last handle, which cannot
    // go while the `Inspected` holds its own (see `RuntimeWaker`).
    let runtime = unsafe { (*cell.runtime_waker().0.get()).as_ref() };
    if runtime.is_some_and(|runtime| identity(runtime) == identity(outer)) {
        // SAFETY: the `Inspected` owns the task's first handle, made when
        // the runtime's waker was set.
        unsafe { Lent::of(Arc::as_ptr(cell).cast(), &HANDLE) }
    } else {
        lend_other(cell, outer, runtime.is_none())
    }
}

/// [`lend`] at the task's first poll, or for a runtime's waker other than
/// the first (none of tokio, smol or async-std hands one: a runtime that
/// did at every poll would take the task's detail lock at each).
#[cold]
fn lend_other<'a>(cell: &'a Arc<TaskCell>, outer: &Waker, first: bool) -> Lent<'a> {
    if first && make_first_handle(cell, outer) {
        // SAFETY: just made, for the `Inspected` to own.
        return unsafe { Lent::of(Arc::as_ptr(cell).cast(), &HANDLE) };
    }
    let (data, vtable) = cell.with_detail(|detail| {
        let wrappers = &mut detail.rare_mut().wakers;
        if wrappers
            .current
            .as_ref()
            .is_none_or(|later| later.outer != identity(outer))
        {
            let wrapper = Arc::new(TaskWaker {
                cell: Arc::clone(cell),
                inner: outer.clone(),
            });
            wrappers.adopt(Arc::downgrade(&wrapper));
            wrappers.current = Some(Box::new(Later {
                waker: Waker::from(wrapper),
                outer: identity(outer),
            }));
        }
        match &wrappers.current {
            Some(later) => (later.waker.data(), later.waker.vtable()),
            None => unreachable!("made above"),
        }
    });
    // SAFETY: the detail owns the wrapper until this poller replaces it
    // (at a later poll) or the task finishes (after its last poll).
    unsafe { Lent::of(data, vtable) }
}

/// The task's `Inspected` lets go of its own handle of `cell` (if its
/// first poll made one), once, as the task finishes or is dropped.
pub(crate) fn let_go(cell: &TaskCell) {
    // SAFETY: as in `lend`: only the poller, while it holds its handle.
    if unsafe { (*cell.runtime_waker().0.get()).is_some() } {
        // SAFETY: the `Inspected`'s own handle, dropped once.
        unsafe { drop_handle(std::ptr::from_ref(cell).cast()) };
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

/// The wrappers of the wakers a runtime handed the task after the one its
/// own handles forward to, kept in its detail (the latest for the task to
/// poll with, every one weakly so that a snapshot can count the wakers for
/// it that exist). Runtimes hand a task the same waker
/// at every poll, so this stays empty but for executors that do not.
#[derive(Debug, Default)]
pub(crate) struct Wrappers {
    /// The latest wrapper, which the task holds until the next or its end
    /// ([`Wrappers::end`]): the reference [`OWN_REFERENCES`] counts. Boxed:
    /// every detail has this, and only executors that hand a task another
    /// waker need it.
    current: Option<Box<Later>>,
    later: Vec<Weak<TaskWaker>>,
    /// More wrappers were made than are kept: their clones cannot be
    /// counted.
    overflowed: bool,
}

/// How many later wrappers a task keeps track of (a runtime that hands a
/// new waker at every poll makes them uncountable past this).
const WRAPPERS_KEPT: usize = 8;

/// References the task holds on its latest wrapper (its `Waker`, in
/// [`Wrappers::current`]).
const OWN_REFERENCES: usize = 1;

impl Wrappers {
    /// None kept.
    pub(crate) const NONE: Self = Self {
        current: None,
        later: Vec::new(),
        overflowed: false,
    };

    /// Whether it keeps track of no wrapper (none was ever made).
    pub(crate) fn is_empty(&self) -> bool {
        self.later.is_empty() && !self.overflowed
    }

    /// The task finished: it lets go of its latest wrapper (which holds
    /// its record: kept, the two would hold each other).
    pub(crate) fn end(&mut self) {
        self.current = None;
    }

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
/// its polls, given its own `handles` (its `Inspected`'s among them) and
/// its later wrappers; `None` when they cannot be counted, or before its
/// first poll.
pub(crate) fn wakers_outside(handles: u64, later: Option<&Wrappers>) -> Option<u64> {
    let own = handles.checked_sub(1)?;
    let Some(later) = later.filter(|w| !w.later.is_empty() || w.overflowed) else {
        return Some(own);
    };
    if later.overflowed {
        return None;
    }
    let (latest, older) = later.later.split_last()?;
    let older: usize = older.iter().map(Weak::strong_count).sum();
    let latest = latest.strong_count().checked_sub(OWN_REFERENCES)?;
    Some(own + (latest + older) as u64)
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
    use crate::{Inspected, TaskKind};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll};

    /// A runtime's waker that says when it was woken and when the last
    /// clone of it went.
    #[derive(Default)]
    struct Runtime {
        woken: AtomicU64,
        dropped: Arc<AtomicBool>,
    }

    impl Wake for Runtime {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.woken.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Drop for Runtime {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }

    /// Where a [`KeepsItsWaker`] keeps the waker of its latest poll.
    type Kept = Arc<Mutex<Option<Waker>>>;

    /// Pending for ever; keeps a clone of the waker of its latest poll.
    struct KeepsItsWaker(Kept);

    /// A task of a [`KeepsItsWaker`], its record, and where the future
    /// keeps its waker.
    fn keeping_its_waker() -> (Pin<Box<Inspected<KeepsItsWaker>>>, Arc<TaskCell>, Kept) {
        let kept = Arc::new(Mutex::new(None));
        let task = Box::pin(Inspected::new(
            KeepsItsWaker(Arc::clone(&kept)),
            TaskKind::Spawned,
            None,
        ));
        let cell = Arc::clone(task.cell().unwrap());
        (task, cell, kept)
    }

    impl Future for KeepsItsWaker {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            *self.0.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Polls `task` with `waker`, which leaves it pending.
    fn poll_pending(task: &mut Pin<Box<Inspected<KeepsItsWaker>>>, waker: &Waker) {
        assert!(
            task.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
    }

    /// The wakers for the parked task that exist outside it, as a
    /// snapshot counts them.
    fn wakers_of(cell: &TaskCell) -> Option<u64> {
        let handles = u64::from(cell.waker_handles().load(Ordering::Acquire));
        cell.with_detail(|detail| wakers_outside(handles, Some(&detail.rare().wakers)))
    }

    #[test]
    fn a_tasks_own_waker_counts_its_handles_and_lets_the_runtimes_go_with_the_last() {
        let runtime = Arc::new(Runtime::default());
        let dropped = Arc::clone(&runtime.dropped);
        let outer = Waker::from(Arc::clone(&runtime));
        drop(runtime);
        let (mut task, cell, kept) = keeping_its_waker();
        let mut cx = Context::from_waker(&outer);
        for _ in 0..3 {
            assert!(task.as_mut().poll(&mut cx).is_pending());
        }
        // The same runtime waker at each poll: one handle kept outside.
        assert_eq!(wakers_of(&cell), Some(1));
        let handle = kept.lock().unwrap().take().unwrap();
        let clone = handle.clone();
        assert_eq!(wakers_of(&cell), Some(2));
        clone.wake();
        assert_eq!(cell.wakes(), 1);
        assert_eq!(wakers_of(&cell), Some(1));
        // The task goes; its record and the runtime's waker stay with the
        // handle, which still wakes (a wake after the end is harmless).
        drop(task);
        drop(outer);
        assert!(!dropped.load(Ordering::Relaxed));
        handle.wake_by_ref();
        assert_eq!(cell.wakes(), 2);
        drop(handle);
        // (With it the handles' reference to the record: both go in one
        // branch. Other tests' snapshots and spawns move the record's
        // count meanwhile, so it is not compared here.)
        assert!(
            dropped.load(Ordering::Relaxed),
            "the runtime's waker went with the last handle"
        );
    }

    #[test]
    fn a_runtime_that_hands_other_wakers_gets_wrappers_counted_too() {
        let (mut task, cell, kept) = keeping_its_waker();
        let first = Waker::from(Arc::new(Runtime::default()));
        poll_pending(&mut task, &first);
        let from_first = kept.lock().unwrap().take().unwrap();
        // Another waker: the task is polled with a wrapper of it.
        let second = Waker::from(Arc::new(Runtime::default()));
        poll_pending(&mut task, &second);
        // Outside the task: the handle kept at the first poll, and the
        // wrapper's clone kept at the second.
        assert_eq!(wakers_of(&cell), Some(2));
        drop(from_first);
        assert_eq!(wakers_of(&cell), Some(1));
        kept.lock().unwrap().take().unwrap().wake();
        assert_eq!(cell.wakes(), 1);
        assert_eq!(wakers_of(&cell), Some(0));
    }

    #[test]
    fn a_later_wrapper_goes_with_its_task() {
        let (mut task, cell, kept) = keeping_its_waker();
        let first = Waker::from(Arc::new(Runtime::default()));
        poll_pending(&mut task, &first);
        let runtime = Arc::new(Runtime::default());
        let dropped = Arc::clone(&runtime.dropped);
        let second = Waker::from(runtime);
        for _ in 0..2 {
            poll_pending(&mut task, &second);
        }
        // One wrapper for the same waker at both polls, which wakes it.
        let from_second = kept.lock().unwrap().take().unwrap();
        assert_eq!(wakers_of(&cell), Some(1));
        from_second.wake();
        assert_eq!(cell.wakes(), 1);
        drop(second);
        assert!(
            !dropped.load(Ordering::Relaxed),
            "the task's wrapper holds it"
        );
        // The task goes: its wrapper, and with it the runtime's waker,
        // which the wrapper and the record would otherwise hold for ever.
        drop(task);
        assert!(
            dropped.load(Ordering::Relaxed),
            "the wrapper went with the task"
        );
    }

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
