use std::borrow::Cow;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::record::{self, EndHow};
use crate::task::context::{self, PollRestore};
use crate::task::detail::{
    BlockingStretch, Detail, DetailSlot, Ending, PointRecord, Shrink, WaitKind, WaitRecord,
};
use crate::task::frame::FrameCell;
use crate::task::held::HeldLocks;
use crate::task::registry;
use crate::task::short_lock::{ShortGuard, ShortLock};
use crate::task::waker::{self, RuntimeWaker};
use async_inspect_model::FutureLocation;
use async_inspect_model::snapshot::WakeInfo;

use crate::task::{TaskId, TaskKind};
use crate::{clock, config, lint};

/// Called with each task that finishes, once something above the tasks
/// asked ([`on_finish`]): the debugger, so that a paused or stepping task
/// that ends leaves nothing behind. Unset, a finish pays one load.
static ON_FINISH: OnceLock<fn(TaskId)> = OnceLock::new();

/// Calls `hook` with every task that finishes from now on (the first hook
/// set stays).
pub(crate) fn on_finish(hook: fn(TaskId)) {
    let _ = ON_FINISH.set(hook);
}

/// The phase of a task, as its poll wrapper last set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Created, never polled yet.
    New = 0,
    /// Inside a poll.
    Running = 1,
    /// Between polls, waiting to be woken.
    Pending = 2,
    /// Completed.
    Done = 3,
    /// A poll panicked.
    Panicked = 4,
    /// Dropped before completing: aborted, cancelled, or its runtime shut down.
    Aborted = 5,
}

const PHASE_BITS: u32 = 3;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

// A reader of a task's future outside the task (the debuginfo decoder, in
// this process or another) tells an idle task by its phase word.
const _: () = assert!(PHASE_MASK == FutureLocation::PHASE_MASK);
const _: () = assert!(Phase::Pending as u64 == FutureLocation::IDLE);

impl Phase {
    fn from_bits(value: u64) -> Self {
        match value & PHASE_MASK {
            0 => Self::New,
            1 => Self::Running,
            2 => Self::Pending,
            3 => Self::Done,
            4 => Self::Panicked,
            _ => Self::Aborted,
        }
    }

    pub(crate) fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Panicked | Self::Aborted)
    }

    /// The phase and the clock time it began, packed in one word so a poll
    /// sets both with one store.
    #[inline]
    fn at(self, time: u64) -> u64 {
        (time << PHASE_BITS) | self as u64
    }
}

/// The shared record of one inspected task.
///
/// The counters are written only by the thread polling the task (a task is
/// polled by one thread at a time), so they are updated with a relaxed load
/// and store rather than a locked read-modify-write. Wakes are the
/// exception: any thread may wake a task (see `Wakes`).
#[derive(Debug)]
pub struct TaskCell {
    /// [`Phase`] in the low bits, the clock time it began in the rest.
    state: AtomicU64,
    /// Completed polls.
    polls: AtomicU64,
    /// Clock time spent inside polls, in nanoseconds.
    busy_ns: AtomicU64,
    /// What its waker counts, while wake counting is on.
    wakes: Wakes,
    id: TaskId,
    /// The spawning task's id, 0 if none.
    parent: u64,
    created_at: u64,
    location: &'static Location<'static>,
    /// Key in the registry's shard; set once at registration.
    slot: AtomicU32,
    kind: TaskKind,
    /// Tasks registered while this one was polled (its children).
    spawned: AtomicU32,
    /// The wake count (`Wakes::count`, its low 32 bits) when the latest
    /// poll began: another count means woken since (4 billion wakes
    /// between two polls would be needed to hide one).
    polled: AtomicU32,
    /// Polls in a row that woke the task itself (it stays at its most).
    streak: AtomicU32,
    /// The task's own waker handles that exist (its `Inspected`'s and every
    /// clone): between them they hold one reference to the task's record.
    handles: AtomicU32,
    /// Allocated on first use: most tasks never need it.
    detail: ShortLock<DetailSlot>,
    /// The type anchor of the task's future ([`anchor`]) and its size;
    /// `None` for a task with no future of ours (a blocking closure, a
    /// hosted task).
    future_type: Option<&'static FutureType>,
    /// The task's detail when it last had one, for [`TaskCell::prefetch_detail`]
    /// alone: a hint, never read through (it may be stale once the detail
    /// is recycled; a prefetch of any address is harmless).
    detail_hint: AtomicPtr<Detail>,
    /// Where the pinned future lives, from its first poll on; 0 before.
    future_address: AtomicUsize,
    /// The runtime's waker its own waker handles wake (see the `waker`
    /// module): set at its first poll, let go with the last handle.
    runtime_waker: RuntimeWaker,
    /// The inspected locks it holds, for the lock-order check: a
    /// `Box<HeldLocks>` made at its first lock (null before), freed with
    /// the record.
    held: AtomicPtr<HeldLocks>,
}

// The record's small counters sit together (and outside `Wakes`), so that
// it takes 184 bytes: with its `Arc`'s counts, a 208-byte allocation
// instead of 240 before they were packed.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<TaskCell>() <= 184);

// `held` owns a `HeldLocks` that any thread may reach through the record.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<HeldLocks>();
};

impl Drop for TaskCell {
    fn drop(&mut self) {
        let held = *self.held.get_mut();
        if !held.is_null() {
            // SAFETY: a non-null `held` came from `Box::into_raw` in
            // `held_locks`, and the record owned it alone.
            drop(unsafe { Box::from_raw(held) });
        }
    }
}

/// What a task's waker counts (see the `waker` module). Wakers on any
/// thread add to `count` and set `woken_at` and `by`, and count their
/// handles in the record's `handles`; the rest (and the record's `polled`
/// and `streak`) is written by the thread polling the task.
#[derive(Debug, Default)]
struct Wakes {
    /// Every wake.
    count: AtomicU64,
    /// Clock time of the first wake after the latest poll began.
    woken_at: AtomicU64,
    /// Who woke it last (see `waker::decode_woken_by`).
    by: AtomicU64,
    /// Wakes from inside its own poll.
    own: AtomicU64,
    /// The longest a wake waited for its poll, clock nanoseconds.
    max_delay: AtomicU64,
}

/// A self-wake streak is checked for a storm every this many polls; its
/// first check notes where the streak is, in the task's detail, and the
/// later ones measure from there (the record keeps no room for a streak
/// most tasks never have).
const STORM_POLLS: u64 = 1_000;
/// A storm lasts at least this long (clock nanoseconds)…
const STORM_LASTS: u64 = 100_000_000;
/// …with polls this short on average: polls that do nothing but look and
/// wake themselves, not a loop that yields between pieces of work.
const STORM_POLL_AT_MOST: u64 = 20_000;

/// A future's type as a task records it: its type anchor ([`anchor`]) and
/// its size.
type FutureType = (fn() -> &'static str, usize);

/// The [`FutureType`] of futures of type `F`, as a constant: a task keeps
/// a `'static` reference to it, one word instead of two.
struct TypeOf<F>(std::marker::PhantomData<F>);

impl<F> TypeOf<F> {
    const TYPE: FutureType = (anchor::<F>, std::mem::size_of::<F>());
}

/// The type anchor of futures of type `F`: a function monomorphised for
/// `F`, whose address names `F` in the program's debuginfo (its
/// subprogram's template parameter), and which returns `F`'s type name.
///
/// The body differs per type (the name), so that an optimising build
/// cannot fold the anchors of two types into one function.
#[inline(never)]
pub fn anchor<F>() -> &'static str {
    std::hint::black_box(std::any::type_name::<F>())
}

impl TaskCell {
    /// Creates and registers the cell of a new task. Its parent is the task
    /// currently polled on this thread, if any.
    pub fn register(
        kind: TaskKind,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> Arc<Self> {
        Self::register_with(kind, name, location, None)
    }

    /// [`TaskCell::register`] for a task that runs a future of type `F`:
    /// its type anchor and size are kept, for a reader of the debuginfo.
    pub fn register_future<F>(
        kind: TaskKind,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> Arc<Self> {
        Self::register_with(kind, name, location, Some(&TypeOf::<F>::TYPE))
    }

    fn register_with(
        kind: TaskKind,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
        future_type: Option<&'static FutureType>,
    ) -> Arc<Self> {
        config::init();
        let parent = context::with_task(|task, _| {
            task.spawned.fetch_add(1, Ordering::Relaxed);
            task.id.as_u64()
        })
        .unwrap_or(0);
        let now = clock::now();
        let mut detail = name.map(Detail::named);
        if let Some(span) = crate::span::spawn_context() {
            detail
                .get_or_insert_with(Detail::take)
                .rare_mut()
                .spawned_in = Some(span);
        }
        let fresh = Self {
            state: AtomicU64::new(Phase::New.at(now)),
            polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            wakes: Wakes::default(),
            id: super::id::next(),
            parent,
            created_at: now,
            location,
            slot: AtomicU32::new(u32::MAX),
            kind,
            spawned: AtomicU32::new(0),
            polled: AtomicU32::new(0),
            streak: AtomicU32::new(0),
            handles: AtomicU32::new(0),
            detail: ShortLock::new(DetailSlot::new(detail)),
            future_type,
            detail_hint: AtomicPtr::new(std::ptr::null_mut()),
            future_address: AtomicUsize::new(0),
            runtime_waker: RuntimeWaker::new(),
            held: AtomicPtr::new(std::ptr::null_mut()),
        };
        // An evicted record nothing holds any more is written over (its
        // old contents dropped, its detail recycled to this thread's pool)
        // rather than freed and allocated again.
        let mut cell = match registry::spare() {
            Some(mut spare) => match Arc::get_mut(&mut spare) {
                Some(old) => {
                    *old = fresh;
                    spare
                }
                None => Arc::new(fresh),
            },
            None => Arc::new(fresh),
        };
        if future_type.is_some_and(|&(anchor, _)| needs_detail::known(anchor))
            && let Some(cell) = Arc::get_mut(&mut cell)
        {
            // Taken here, from this thread's pool, the detail comes back to
            // it when the record is evicted on this thread, rather than
            // being allocated on the worker that first needs it and freed
            // here, into that worker's arena.
            cell.detail.get_mut().get_or_insert_with(Detail::take);
        }
        registry::insert(&cell);
        if record::on() {
            record::emit(record::Raw::Spawn {
                cell: Arc::clone(&cell) as Arc<dyn record::SpawnedTask>,
                at: record::now(),
            });
        }
        cell
    }

    /// This task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Notes where the task's pinned future lives, at its first poll (one
    /// load at every later poll).
    #[inline]
    pub(crate) fn note_future_address(&self, address: usize) {
        if self.future_address.load(Ordering::Relaxed) == 0 {
            self.future_address.store(address, Ordering::Relaxed);
        }
    }

    /// Where the task's future lives, for a reader of the debuginfo:
    /// `None` before its first poll or when it has no type anchor.
    pub(crate) fn future_location(&self) -> Option<FutureLocation> {
        let address = self.future_address.load(Ordering::Relaxed);
        let &(anchor, size) = self.future_type?;
        (address != 0).then(|| FutureLocation {
            address: address as u64,
            size: size as u64,
            anchor: anchor as usize as u64,
            guard: [
                std::ptr::from_ref(&self.state) as u64,
                std::ptr::from_ref(&self.polls) as u64,
            ],
        })
    }

    /// The type name of the task's future, when it has a type anchor.
    fn future_type_name(&self) -> Option<&'static str> {
        self.future_type.map(|&(anchor, _)| anchor())
    }

    /// How the task came to be inspected.
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// How many tasks it spawned so far.
    pub(crate) fn spawned(&self) -> u32 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// The task that was being polled when this one was spawned.
    pub fn parent(&self) -> Option<TaskId> {
        (self.parent != 0).then_some(TaskId::from_u64(self.parent))
    }

    /// Where the task was spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The task's name: given at spawn, else its root traced fn, else where
    /// it was spawned.
    pub fn name(&self) -> Cow<'static, str> {
        self.read_slot(|slot| self.name_with(slot))
    }

    /// [`TaskCell::name`] with the detail already in hand.
    pub(crate) fn name_with(&self, slot: &DetailSlot) -> Cow<'static, str> {
        if let Some(name) = slot.get().and_then(|detail| detail.name.as_deref()) {
            return Cow::Owned(name.to_owned());
        }
        match slot.root() {
            Some((root, None)) => Cow::Borrowed(root.name),
            Some((root, owner)) => Cow::Owned(crate::site::qualified(root.name, owner)),
            None => match self.future_type_name().and_then(async_fn_name) {
                Some(name) => Cow::Borrowed(name),
                None => {
                    let l = self.location;
                    Cow::Owned(format!("{}:{}:{}", l.file(), l.line(), l.column()))
                }
            },
        }
    }

    pub(crate) fn created_at(&self) -> u64 {
        self.created_at
    }

    /// The phase and since when.
    pub(crate) fn phase(&self) -> (Phase, u64) {
        let state = self.state.load(Ordering::Relaxed);
        (Phase::from_bits(state), state >> PHASE_BITS)
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    pub(crate) fn busy_ns(&self) -> u64 {
        self.busy_ns.load(Ordering::Relaxed)
    }

    pub(crate) fn wakes(&self) -> u64 {
        self.wakes.count.load(Ordering::Relaxed)
    }

    /// What its wakes tell a snapshot, given its detail (read under the
    /// task's guard) and its phase and poll count read before the detail.
    pub(crate) fn wake_info(&self, detail: Option<&Detail>, before: (Phase, u64)) -> WakeInfo {
        let w = &self.wakes;
        let outside = waker::wakers_outside(
            u64::from(self.handles.load(Ordering::Acquire)),
            detail.map(|d| &d.rare().wakers),
        );
        // A waker dropped after its wake (a wake by value) published the
        // wake first: seen gone, its wake is seen too.
        std::sync::atomic::fence(Ordering::Acquire);
        let count = w.count.load(Ordering::Relaxed);
        // Acquire: a poll that marked these wakes as seen marked the task
        // running before, so the phase read next says it is not steady.
        let woken_since_poll = count as u32 != self.polled.load(Ordering::Acquire);
        let woken_at = w.woken_at.load(Ordering::Relaxed);
        let steady = before == (self.phase().0, self.polls()) && before.0 == Phase::Pending;
        WakeInfo {
            self_wakes: w.own.load(Ordering::Relaxed),
            woken_by: waker::decode_woken_by(w.by.load(Ordering::Relaxed), count > 0, self.id),
            woken_at: (woken_since_poll && before.0 == Phase::Pending)
                .then(|| clock::to_duration(woken_at)),
            last_woken_at: (count > 0).then(|| clock::to_duration(woken_at)),
            max_delay: clock::to_duration(w.max_delay.load(Ordering::Relaxed)),
            wakers: outside.filter(|_| steady),
        }
    }

    fn guard(&self) -> ShortGuard<'_, DetailSlot> {
        self.detail.lock()
    }

    /// Whether nobody holds the task's detail this instant (for a reader
    /// that must not wait: a panic hook on a thread that may hold it).
    pub(crate) fn detail_free(&self) -> bool {
        self.detail.try_lock().is_some()
    }

    /// Runs `f` on the task's detail, allocating it on first use.
    pub(crate) fn with_detail<R>(&self, f: impl FnOnce(&mut Detail) -> R) -> R {
        let mut slot = self.guard();
        let detail = slot.get_or_insert_with(Detail::take);
        let at: *mut Detail = detail;
        if self.detail_hint.load(Ordering::Relaxed) != at {
            self.detail_hint.store(at, Ordering::Relaxed);
        }
        f(detail)
    }

    /// Asks the processor to fetch the first lines of the task's detail, at
    /// the start of a poll: its waits and frames are what the poll's sleeps
    /// and traced calls touch first, long after the task last ran, and the
    /// fetch goes on while the poll gets there.
    #[inline]
    pub(crate) fn prefetch_detail(&self) {
        let hint = self.detail_hint.load(Ordering::Relaxed);
        if !hint.is_null() {
            registry::prefetch_line(hint.cast());
            registry::prefetch_line(hint.cast::<u8>().wrapping_add(64));
        }
    }

    /// Asks the processor to fetch the whole record (its `Arc`'s counts
    /// included), for a snapshot that reads it a few tasks from now.
    #[inline]
    pub(crate) fn prefetch_record(self: &Arc<Self>) {
        let start = Arc::as_ptr(self)
            .cast::<u8>()
            .wrapping_sub(registry::ARC_COUNTS);
        registry::prefetch_lines(start, registry::ARC_COUNTS + std::mem::size_of::<Self>());
    }

    /// Asks the processor to fetch the whole of the task's detail (through
    /// its hint: see `detail_hint`), for a snapshot that reads it a few
    /// tasks from now. The record itself should have been fetched first.
    #[inline]
    pub(crate) fn prefetch_whole_detail(&self) {
        let hint = self.detail_hint.load(Ordering::Relaxed);
        if !hint.is_null() {
            registry::prefetch_lines(hint.cast(), std::mem::size_of::<Detail>());
        }
    }

    /// Notes that the task entered `tracing` span `span` (kept until it
    /// enters another).
    #[cfg(feature = "tracing")]
    pub(crate) fn enter_span(&self, span: &Arc<crate::span::SpanRecord>) {
        self.with_detail(|detail| {
            let rare = detail.rare_mut();
            if !rare.span.as_ref().is_some_and(|s| Arc::ptr_eq(s, span)) {
                rare.span = Some(Arc::clone(span));
            }
        });
    }

    /// The trace the task is in: that of its `tracing` spans, else that
    /// of the request it serves for another process.
    pub(crate) fn trace_id(&self) -> Option<String> {
        self.read_detail(|detail| {
            let rare = detail?.rare();
            crate::span::shown(rare.span.as_ref(), rare.spawned_in.as_ref())
                .1
                .or_else(|| rare.serves.as_ref().map(|call| call.trace_id.clone()))
        })
    }

    /// Notes the request from another process the task serves.
    pub(crate) fn serve(&self, call: Option<Arc<async_inspect_model::span::RemoteRequest>>) {
        self.with_detail(|detail| detail.rare_mut().serves = call);
    }

    /// The task no longer serves `call` (if it still did).
    pub(crate) fn stop_serving(&self, call: &Arc<async_inspect_model::span::RemoteRequest>) {
        self.with_detail(|detail| {
            if let Some(rare) = detail.rare_if_any()
                && rare.serves.as_ref().is_some_and(|c| Arc::ptr_eq(c, call))
            {
                rare.serves = None;
            }
        });
    }

    /// Runs `f` on the task's detail, if it has one, for reading.
    pub(crate) fn read_detail<R>(&self, f: impl FnOnce(Option<&Detail>) -> R) -> R {
        self.read_slot(|slot| f(slot.get()))
    }

    /// Runs `f` on the task's detail slot: its detail, and the root fn
    /// that names it (which a finished task may keep without a detail).
    pub(crate) fn read_slot<R>(&self, f: impl FnOnce(&DetailSlot) -> R) -> R {
        f(&self.guard())
    }

    /// Counts a wake by `by` (see `waker::woken_by`).
    #[inline]
    pub(crate) fn record_wake(&self, by: u64) {
        let w = &self.wakes;
        let before = w.count.fetch_add(1, Ordering::Relaxed);
        if before as u32 == self.polled.load(Ordering::Relaxed) {
            w.woken_at.store(clock::now(), Ordering::Relaxed);
        }
        if by == waker::SELF {
            // Only the thread polling the task wakes it from its poll.
            w.own
                .store(w.own.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        w.by.store(by, Ordering::Relaxed);
    }

    /// The task, parked on an inspected timer made at `site`, is polled
    /// and finds it elapsed: if its last wake came from a thread outside
    /// any task (the runtime's timer), that wake is the timer's. Called by
    /// the thread polling the task.
    pub(crate) fn woken_by_timer(&self, site: &'static std::panic::Location<'static>) {
        let by = &self.wakes.by;
        if by.load(Ordering::Relaxed) & waker::THREAD != 0 {
            // A plain store, not an exchange: a wake racing with it may
            // have written its own code meanwhile, and either is as good
            // (whichever is last, as between two wakes).
            by.store(waker::timer_code(site), Ordering::Relaxed);
        }
    }

    /// The task's phase word as it is, read before a poll marks the task
    /// running, for [`TaskCell::wake_poll_begins`].
    #[inline]
    pub(crate) fn phase_word(&self) -> u64 {
        self.state.load(Ordering::Relaxed)
    }

    /// A poll that began at `start`, the phase word having been `before`,
    /// notes whether the task was woken since the previous poll, and how
    /// long that wake waited for this one (from the wake, or from the end
    /// of the previous poll when the wake came during it). Called once the
    /// poll marked the task running, so that a snapshot that sees this
    /// poll's mark of its wakes sees it running; returns the task's
    /// self-wakes so far, for [`TaskCell::wake_poll_ends`].
    #[inline]
    pub(crate) fn wake_poll_begins(&self, before: u64, start: u64) -> u64 {
        let w = &self.wakes;
        let count = w.count.load(Ordering::Relaxed) as u32;
        if count != self.polled.load(Ordering::Relaxed) {
            // Release: seen by a snapshot, the running mark is seen too.
            self.polled.store(count, Ordering::Release);
            let (phase, since) = (Phase::from_bits(before), before >> PHASE_BITS);
            let woken_at = w.woken_at.load(Ordering::Relaxed);
            let waiting_from = if phase == Phase::Pending {
                woken_at.max(since)
            } else {
                woken_at
            };
            let delay = start.saturating_sub(waiting_from);
            waker::count_delay(delay);
            if delay > w.max_delay.load(Ordering::Relaxed) {
                w.max_delay.store(delay, Ordering::Relaxed);
            }
            if delay >= config::scheduling_delay_ns() {
                self.late_poll(delay, start);
            }
        }
        w.own.load(Ordering::Relaxed)
    }

    /// The poll that began at `start` with `own_before` self-wakes ended
    /// at `end`: a streak of polls that woke the task itself grows or
    /// ends.
    #[inline]
    pub(crate) fn wake_poll_ends(&self, own_before: u64, start: u64, end: u64) {
        if self.wakes.own.load(Ordering::Relaxed) != own_before {
            let streak = self.streak.load(Ordering::Relaxed).saturating_add(1);
            self.streak.store(streak, Ordering::Relaxed);
            let streak = u64::from(streak);
            if streak.is_multiple_of(STORM_POLLS) {
                self.storm_check(streak, start, end);
            }
        } else if self.streak.load(Ordering::Relaxed) != 0 {
            self.streak.store(0, Ordering::Relaxed);
        }
    }

    #[cold]
    fn late_poll(&self, delay: u64, start: u64) {
        let w = &self.wakes;
        let by = waker::decode_woken_by(w.by.load(Ordering::Relaxed), true, self.id);
        lint::scheduling_delay(self.id, delay, by, start);
    }

    /// A streak of `streak` self-waking polls, the latest from `start` to
    /// `end`: its first check notes the streak's start (this poll's, and
    /// the busy time before it); a later one reports a storm once the
    /// polls since that start have lasted long enough and been short.
    #[cold]
    fn storm_check(&self, streak: u64, start: u64, end: u64) {
        let busy = self.busy_ns.load(Ordering::Relaxed);
        let storm = self.with_detail(|detail| {
            if streak == STORM_POLLS {
                detail.rare_mut().streak_from = (start, busy);
                return None;
            }
            let (since, busy_then) = detail.rare().streak_from;
            let over = end.saturating_sub(since);
            // Busy time is added when a poll ends, after this check: the
            // polls counted are those from the first check's to the last.
            let polls = streak - STORM_POLLS;
            let short = busy.saturating_sub(busy_then) / polls <= STORM_POLL_AT_MOST;
            let first = !detail.rare().storm_reported;
            (over >= STORM_LASTS && short && first).then(|| {
                detail.rare_mut().storm_reported = true;
                over
            })
        });
        if let Some(over) = storm {
            // The polls `over` spans: from the first check's to this one.
            lint::self_wake_storm(self.id, streak - STORM_POLLS + 1, over);
        }
    }

    /// The count of the task's own waker handles.
    #[inline]
    pub(crate) fn waker_handles(&self) -> &AtomicU32 {
        &self.handles
    }

    /// The runtime's waker its own handles wake.
    #[inline]
    pub(crate) fn runtime_waker(&self) -> &RuntimeWaker {
        &self.runtime_waker
    }

    /// The locks the task holds, for the lock-order check; the array is
    /// made at the first call.
    #[inline]
    pub(crate) fn held_locks(&self) -> &HeldLocks {
        let held = self.held.load(Ordering::Acquire);
        if !held.is_null() {
            // SAFETY: set once from `Box::into_raw`, freed only with the
            // record (`&self` keeps it).
            return unsafe { &*held };
        }
        self.make_held_locks()
    }

    #[cold]
    fn make_held_locks(&self) -> &HeldLocks {
        let made = Box::into_raw(Box::new(HeldLocks::new()));
        let held = match self.held.compare_exchange(
            std::ptr::null_mut(),
            made,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => made,
            Err(first) => {
                // SAFETY: `made` was never shared.
                drop(unsafe { Box::from_raw(made) });
                first
            }
        };
        // SAFETY: as in `held_locks`.
        unsafe { &*held }
    }

    /// The task's key in its registry shard.
    pub(crate) fn slot(&self) -> usize {
        self.slot.load(Ordering::Relaxed) as usize
    }

    /// Notes the task's key in its registry shard, at registration.
    pub(crate) fn set_slot(&self, key: usize) {
        // A shard holds far fewer than 2³² tasks at once.
        self.slot.store(key as u32, Ordering::Relaxed);
    }

    /// Marks the task finished with `phase` and hands it to the registry's
    /// retention list. Only the first call counts; the caller owns the
    /// task's poll, so nothing else changes the phase meanwhile.
    pub(crate) fn finish(self: &Arc<Self>, phase: Phase) {
        debug_assert!(phase.is_finished());
        if self.phase().0.is_finished() {
            return;
        }
        if phase == Phase::Aborted {
            // Its future is dropped after this: where it was parked is
            // read now, while its calls are alive, and before it shows as
            // finished (a snapshot never sees it cancelled without it).
            let mut slot = self.guard();
            if let Some(detail) = slot.get_mut()
                && detail.rare().ending.is_none()
                && let Some(cancelled) = crate::task::frame::cancelled(detail)
            {
                detail.rare_mut().ending = Some(Box::new(Ending::Cancelled(cancelled)));
            }
        }
        self.state.store(phase.at(clock::now()), Ordering::Relaxed);
        if let Some(hook) = ON_FINISH.get() {
            hook(self.id);
        }
        if record::on() {
            let how = match phase {
                Phase::Done => EndHow::Done,
                Phase::Panicked => EndHow::Panicked,
                _ => EndHow::Aborted,
            };
            record::emit(record::Raw::End {
                task: self.id.as_u64(),
                how,
                at: record::now(),
            });
        }
        // The calls it made are over: their frames go back to this
        // thread's pool now (where a worker's frames mostly came from),
        // not on whichever thread drops the record later; so does its
        // detail, if all it holds is the fn that names the task (unless it
        // came from the spawning thread's pool, to go back there).
        let mut slot = self.guard();
        let mut emptied = false;
        if let Some(detail) = slot.get_mut() {
            emptied = crate::task::frame::reap(detail);
            if let Some(rare) = detail.rare_if_any() {
                rare.wakers.end();
            }
        }
        if let Some(&(anchor, _)) = self.future_type
            && !needs_detail::known(anchor)
            && slot.shrink_finished() == Shrink::Kept
        {
            needs_detail::learn(anchor);
        }
        drop(slot);
        registry::finish(self);
        if emptied {
            // SAFETY: the stack held a reference, and was emptied above;
            // the caller holds one of its own (`self`; or, polling an
            // adopted task's root call, that call's live frame, which
            // keeps the stack from emptying).
            unsafe { Self::release_for_stack(Arc::as_ptr(self)) };
        }
    }

    /// Takes the reference to the record that the task's stack of frames
    /// holds while it is not empty (see `FrameHandle::enter`).
    pub(crate) fn hold_for_stack(&self) {
        // SAFETY: every record is made in an `Arc` (`register_with`), and
        // this one is alive: `self` borrows it.
        unsafe { Arc::increment_strong_count(self) };
    }

    /// Lets go of the reference that the task's stack held, its last frame
    /// reaped.
    ///
    /// # Safety
    ///
    /// `this` is a record whose stack held a reference ([`hold_for_stack`](Self::hold_for_stack))
    /// and is now empty; the caller touches the record afterwards only
    /// through a reference of its own.
    pub(crate) unsafe fn release_for_stack(this: *const Self) {
        // SAFETY: the caller's contract: the stack's reference is let go
        // of once.
        unsafe { Arc::decrement_strong_count(this) };
    }

    /// Records a panic message for the report.
    pub(crate) fn set_panic(&self, message: Box<str>) {
        self.with_detail(|detail| {
            detail.rare_mut().ending = Some(Box::new(Ending::Panicked(message)));
        });
    }

    pub(crate) fn begin_wait(&self, frame: Option<&FrameCell>, kind: WaitKind) -> u32 {
        let now = clock::now();
        self.with_detail(|detail| {
            let id = detail.next_id();
            detail.waits.push(WaitRecord {
                id,
                frame: frame.map(|f| f.id),
                kind,
                since: now,
                ended: false,
            });
            id
        })
    }

    pub(crate) fn end_wait(&self, id: u32) {
        self.with_detail(|detail| detail.end_wait(id));
    }

    pub(crate) fn begin_timeout(&self, frame: Option<&FrameCell>, deadline: u64) -> u32 {
        self.with_detail(|detail| {
            let id = detail.next_id();
            detail
                .rare_mut()
                .timeouts
                .push(crate::task::detail::TimeoutRecord {
                    id,
                    frame: frame.map(|f| f.id),
                    deadline,
                });
            id
        })
    }

    pub(crate) fn end_timeout(&self, id: u32) {
        self.with_detail(|detail| detail.end_timeout(id));
    }

    pub(crate) fn push_point(
        &self,
        frame: Option<&FrameCell>,
        label: Cow<'static, str>,
        value: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) {
        if record::on() {
            record::emit(record::Raw::Point {
                task: self.id.as_u64(),
                label: label.clone(),
                value: value.clone(),
                at: record::now(),
            });
        }
        let point = PointRecord {
            label,
            value,
            location,
            function: frame.map(|f| f.info.name),
            at: clock::now(),
        };
        self.with_detail(|detail| detail.push_point(point));
    }

    /// Reports a blocking stretch found by a traced frame.
    #[cold]
    pub(crate) fn report_stretch(&self, stretch: BlockingStretch, now: u64) {
        self.with_detail(|detail| detail.rare_mut().last_lint_at = now);
        lint::push(stretch.lint(self.id()));
    }

    /// The task-level blocking-poll check, for a long poll that no traced
    /// frame has already explained.
    #[cold]
    fn long_poll(&self, start: u64, end: u64) {
        let explained = self.read_detail(|d| d.is_some_and(|d| d.rare().last_lint_at >= start));
        if !explained {
            lint::blocking_poll(self.id(), end - start);
        }
    }
}

/// The future types whose tasks finished with a detail that kept more
/// than the fn that names them (a name, an inspect point, a panic): a task
/// of such a type gets its detail at spawn, on the spawning thread, so that
/// it goes back to that thread's pool when the record is evicted there,
/// rather than being allocated on a worker and freed on the spawning
/// thread, into the worker's arena. (A detail that shrinks at the task's
/// end goes back to the finishing worker's pool instead: see
/// `DetailSlot`.) By the type anchor's address, in a small direct-mapped
/// table: a spawn reads one slot, and only a task that ends with a detail
/// to keep writes one (two types sharing a slot take turns; either only
/// loses the head start).
mod needs_detail {
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SLOTS: usize = 64;

    static KNOWN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

    fn slot(anchor: fn() -> &'static str) -> (&'static AtomicUsize, usize) {
        let address = anchor as usize;
        // Fibonacci hashing: the top bits vary with every address bit.
        let index = address.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> (usize::BITS - 6);
        (&KNOWN[index % SLOTS], address)
    }

    /// Whether tasks of the type of `anchor` were seen to keep a detail.
    pub(super) fn known(anchor: fn() -> &'static str) -> bool {
        let (slot, address) = slot(anchor);
        slot.load(Ordering::Relaxed) == address
    }

    /// A task of the type of `anchor` ended with a detail to keep.
    pub(super) fn learn(anchor: fn() -> &'static str) {
        let (slot, address) = slot(anchor);
        if slot.load(Ordering::Relaxed) != address {
            slot.store(address, Ordering::Relaxed);
        }
    }
}

/// One poll of the adopted task `cell` (whose root is a wrapper of ours,
/// polled outside any inspected task), with `frame` current: a panic
/// marks the task panicked, with its message, and unwinds on.
pub(crate) fn poll_adopted<T>(
    cell: &Arc<TaskCell>,
    frame: *const FrameCell,
    poll: impl FnOnce() -> std::task::Poll<T>,
) -> std::task::Poll<T> {
    let scope = PollScope::begin(cell, frame);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll)) {
        Ok(poll) => {
            scope.end(poll.is_ready());
            poll
        }
        Err(payload) => {
            drop(scope);
            cell.set_panic(panic_message(payload.as_ref()));
            cell.finish(Phase::Panicked);
            std::panic::resume_unwind(payload)
        }
    }
}

/// Marks a task as running on this thread for the length of one poll:
/// sets the current task, stamps the clock, and on [`PollScope::end`] (or on
/// unwind) restores the previous task and updates the counters.
pub(crate) struct PollScope<'a> {
    cell: &'a TaskCell,
    start: u64,
    /// The precise start while recording every poll, else 0.
    recorded: u64,
    _restore: PollRestore,
}

impl<'a> PollScope<'a> {
    #[inline]
    pub(crate) fn begin(cell: &'a Arc<TaskCell>, frame: *const FrameCell) -> Self {
        let (start, recorded) = poll_began(cell);
        Self {
            cell,
            start,
            recorded,
            _restore: context::enter_poll(Arc::as_ptr(cell), frame),
        }
    }

    /// When the poll began (clock time).
    #[inline]
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Ends the poll; `ready` says whether the future completed (the caller
    /// then finishes the task).
    #[inline]
    pub(crate) fn end(self, ready: bool) {
        poll_ended(self.cell, self.start, self.recorded, ready);
    }
}

/// A poll of `cell` begins: it is running from now. Returns when (and,
/// when every poll is recorded, precisely when; else 0).
#[inline]
fn poll_began(cell: &TaskCell) -> (u64, u64) {
    cell.prefetch_detail();
    let start = clock::now();
    cell.state
        .store(Phase::Running.at(start), Ordering::Relaxed);
    let recorded = if record::level() == record::ALL_POLLS {
        record::now()
    } else {
        0
    };
    (start, recorded)
}

/// A poll of `cell` that began at `start` (and, when every poll is
/// recorded, precisely at `recorded`) ends.
#[inline]
fn poll_ended(cell: &TaskCell, start: u64, recorded: u64, ready: bool) {
    let end = clock::now();
    let took = end.saturating_sub(start);
    cell.polls
        .store(cell.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    if took > 0 {
        cell.busy_ns.store(
            cell.busy_ns.load(Ordering::Relaxed) + took,
            Ordering::Relaxed,
        );
        if took >= config::blocking_poll_ns() {
            cell.long_poll(start, end);
        }
    }
    if !ready {
        cell.state.store(Phase::Pending.at(end), Ordering::Relaxed);
    }
    if recorded != 0 {
        record::emit(record::Raw::Poll {
            task: cell.id.as_u64(),
            start: recorded,
            end: record::now(),
        });
    } else if took > 0 && record::on() {
        // Long enough to see on the coarse clock: recorded with its
        // precision.
        let end = record::now();
        record::emit(record::Raw::Poll {
            task: cell.id.as_u64(),
            start: end.saturating_sub(took),
            end,
        });
    }
}

/// A task its runtime spawned with its own spawn, seen through the
/// runtime's task hooks (tokio's, with `--cfg tokio_unstable`): its cell,
/// its polls begun in one hook and ended in another, and its end.
pub mod hosted {
    use std::panic::Location;
    use std::sync::Arc;

    use super::{Phase, TaskCell, TaskKind, poll_began, poll_ended};
    use crate::task::context::{self, PollRestore};

    /// Registers a task the runtime spawned at `location`. Its name is its
    /// root traced fn once it runs one, else where it was spawned.
    pub fn register(location: &'static Location<'static>) -> Arc<TaskCell> {
        TaskCell::register(TaskKind::Hosted, None, location)
    }

    /// One poll of a hosted task, from the runtime's before-poll hook to
    /// its after-poll hook; the task is current on this thread meanwhile, so
    /// traced code, locks and waits inside belong to it.
    #[derive(Debug)]
    #[must_use = "the poll lasts until `end`"]
    pub struct HostedPoll {
        cell: Arc<TaskCell>,
        start: u64,
        recorded: u64,
        _restore: PollRestore,
    }

    impl HostedPoll {
        /// The poll of `cell` begins.
        pub fn begin(cell: Arc<TaskCell>) -> Self {
            let (start, recorded) = poll_began(&cell);
            let restore = context::enter_poll(Arc::as_ptr(&cell), std::ptr::null());
            Self {
                cell,
                start,
                recorded,
                _restore: restore,
            }
        }

        /// The poll ended (the hook does not say how: the task's end comes
        /// with [`ended`], which tokio calls before its after-poll hook).
        pub fn end(self) {
            let done = self.cell.phase().0.is_finished();
            poll_ended(&self.cell, self.start, self.recorded, done);
        }
    }

    /// The task ended.
    pub fn ended(cell: &Arc<TaskCell>) {
        cell.finish(Phase::Done);
    }
}

/// The text of a panic's payload, as a task's panic message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Box<str> {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).into()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_str().into()
    } else {
        "panicked with a non-string payload".into()
    }
}
/// The name of the async fn (or the fn holding the async block) whose
/// future has type name `type_name`, without the crate:
/// `app::db::fetch_user::{{closure}}` is `db::fetch_user`. `None` for a
/// future that is not an async fn's or block's.
fn async_fn_name(type_name: &'static str) -> Option<&'static str> {
    let mut path = type_name.strip_suffix("::{{closure}}")?;
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    if path.contains(['<', '{']) {
        // Generic arguments or a closure inside: the whole path says more.
        return Some(path);
    }
    Some(path.split_once("::").map_or(path, |(_, rest)| rest))
}

impl record::SpawnedTask for TaskCell {
    fn id(&self) -> TaskId {
        self.id
    }

    fn parent(&self) -> Option<TaskId> {
        TaskCell::parent(self)
    }

    fn kind(&self) -> TaskKind {
        TaskCell::kind(self)
    }

    fn name(&self) -> Cow<'static, str> {
        TaskCell::name(self)
    }
}
