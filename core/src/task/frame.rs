//! One active traced call's frame, kept out of line.
//!
//! A `Traced` future holds only a [`FrameHandle`]: the frame itself comes
//! from a small per-thread pool of recycled allocations, so a traced call
//! neither calls the allocator nor makes the user's future bigger by the
//! size of a frame (which, nested three calls deep, made a task's future
//! fourteen times bigger). Disabled, a traced call holds no frame at all.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::args::ArgsCell;
use crate::site::FnInfo;
use crate::task::TaskCell;
use crate::task::detail::BlockingStretch;

/// Progress of one await of a frame. Written only by the thread polling the
/// task, read by snapshots.
#[derive(Debug, Default)]
pub(crate) struct StepCell {
    pub(crate) completed: AtomicU32,
    /// How long the latest completion took, in microseconds (saturating:
    /// the clock ticks in milliseconds anyway).
    pub(crate) last_us: AtomicU32,
    pub(crate) total: AtomicU64,
}

/// What names the `Self` type of a traced method (see `trace::Owner`):
/// `None` for a free fn.
pub(crate) type OwnerName = fn() -> Option<&'static str>;

/// The [`OwnerName`] of a free fn.
pub(crate) fn no_owner() -> Option<&'static str> {
    None
}

/// How many awaits' progress a frame keeps inline, without allocating.
const INLINE_STEPS: usize = 4;

/// The progress of a frame's awaits: inline for the common small fn.
#[derive(Debug)]
pub(crate) enum Steps {
    Inline([StepCell; INLINE_STEPS]),
    Heap(Box<[StepCell]>),
}

impl Steps {
    fn new(count: usize) -> Self {
        if count <= INLINE_STEPS {
            Self::Inline(Default::default())
        } else {
            Self::Heap((0..count).map(|_| StepCell::default()).collect())
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<&StepCell> {
        match self {
            Self::Inline(steps) => steps.get(index),
            Self::Heap(steps) => steps.get(index),
        }
    }
}

/// A traced call's frame.
///
/// Fields set at registration (`info`, `id`, `parent`, `entered_at`,
/// `steps`) are written while the frame is owned exclusively, before any
/// other thread can see it, and not again until it is unregistered. The
/// arguments are set once, when the call's body starts (see [`ArgsCell`]).
/// Everything an await changes is an atomic written by the polling thread
/// alone.
#[derive(Debug)]
pub(crate) struct FrameCell {
    pub(crate) info: &'static FnInfo,
    /// The `Self` type of a method (`type_name`), which names it: the
    /// traced call's `Owner::name`, one word where the name would be two.
    pub(crate) owner: OwnerName,
    pub(crate) id: u32,
    /// Id of the enclosing frame, 0 at the task's root.
    pub(crate) parent: u32,
    pub(crate) args: ArgsCell,
    pub(crate) entered_at: u64,
    /// The call is the root of the task it adopted (see `trace`): the task
    /// ends with it.
    pub(crate) adopted: bool,
    pub(crate) steps: Steps,
    /// Index + 1 of the await in progress, 0 if none; [`PAUSED`] set while
    /// it is paused at a breakpoint, before its first poll. The frame's
    /// awaits keep no state of their own: a fn's own awaits run one at a
    /// time, so this says which one is in progress (see `AwaitPoint`).
    current: AtomicU32,
    current_since: AtomicU64,
    /// When the fn's own code last started running: entry or the end of its
    /// latest await. The gap to the next await is synchronous code.
    resumed_at: AtomicU64,
    /// Index + 1 of the await that completed last, 0 if none.
    last_completed: AtomicU32,
    /// Set when its call ended: it stays in the task's list, skipped by
    /// every reader, until the next registration in the task (or the
    /// task's end) removes and recycles it under the task's guard. So a call
    /// that ends takes no guard.
    dead: AtomicBool,
}

// With its method's type named by a function (one word), a frame fits
// the allocator's 192-byte size class rather than the 208-byte one.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<FrameCell>() <= 184);

/// A frame's address, held in its task's detail while registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramePtr(NonNull<FrameCell>);

// SAFETY: the pointee is only read through `&FrameCell` (atomics and fields
// frozen while registered), and it is alive while the pointer is in a
// task's detail: a dead frame is removed under the same guard (or with the
// detail owned outright) before it is recycled or freed (`reap`).
unsafe impl Send for FramePtr {}

impl FramePtr {
    /// # Safety
    ///
    /// The caller holds the guard of the task whose detail holds this
    /// pointer, so the frame cannot be unregistered and recycled meanwhile.
    pub(crate) unsafe fn get<'a>(self) -> &'a FrameCell {
        // SAFETY: see the function's contract and `FramePtr`'s Send impl.
        unsafe { self.0.as_ref() }
    }

    /// # Safety
    ///
    /// As [`FramePtr::get`].
    pub(crate) unsafe fn is_dead(self) -> bool {
        // SAFETY: as `get`.
        unsafe { self.get() }.dead.load(Ordering::Acquire)
    }
}

/// Where a task that is being cancelled was: its innermost live call
/// parked at an await (the one that began last, in a join of several),
/// else the one that began last; `None` if it was in no traced call. The
/// caller holds the detail's guard or owns it, before the task's future is
/// dropped (which ends its calls).
pub(crate) fn cancelled(detail: &crate::task::Detail) -> Option<crate::task::detail::Cancelled> {
    let live = || {
        detail
            .frames
            .iter()
            // SAFETY: the caller holds the detail's guard or owns it: its
            // frames stay alive meanwhile.
            .filter(|f| !unsafe { f.is_dead() })
            // SAFETY: as above.
            .map(|f| unsafe { f.get() })
    };
    let depth = u32::try_from(live().count()).unwrap_or(u32::MAX);
    let frame = live()
        .rfind(|f| f.current().is_some())
        .or_else(|| live().next_back())?;
    Some(crate::task::detail::Cancelled {
        info: frame.info,
        owner: frame.owner,
        args: frame.args.text(frame.info),
        at: frame.current(),
        depth,
    })
}

/// Removes the dead frames from `frames` (and the waits and timeouts left
/// in them) and recycles them. The caller holds the guard of the detail
/// they belong to, or owns it outright. Returns whether it emptied the
/// task's stack: then the caller lets go of the reference the stack held
/// to the task's record ([`TaskCell::release_for_stack`]), once it has
/// let go of the guard.
#[must_use = "a stack emptied lets go of its task's record"]
pub(crate) fn reap(detail: &mut crate::task::Detail) -> bool {
    // SAFETY: the caller holds the detail's guard or owns it: its frames
    // are alive until removed here.
    if !detail.frames.iter().any(|f| unsafe { f.is_dead() }) {
        return false;
    }
    // The retain below would drop ended waits uncounted.
    if detail.ended_waits > 0 {
        detail.sweep_waits();
    }
    let crate::task::Detail {
        frames,
        waits,
        rare,
        ..
    } = detail;
    let mut timeouts = rare.as_deref_mut().map(|rare| &mut rare.timeouts);
    frames.retain(|f| {
        // SAFETY: as above.
        if !unsafe { f.is_dead() } {
            return true;
        }
        // SAFETY: as above; the frame came from `Box::leak` in `enter`,
        // its call has ended (nothing else owns it) and this removes its
        // last pointer.
        let frame = unsafe { Box::from_raw(f.0.as_ptr()) };
        // Waits and timeouts end with their awaits, before the call does;
        // any left would name a frame that is gone.
        let id = Some(frame.id);
        if waits.iter().any(|w| w.frame == id) {
            waits.retain(|w| w.frame != id);
        }
        if let Some(timeouts) = timeouts.as_deref_mut()
            && timeouts.iter().any(|t| t.frame == id)
        {
            timeouts.retain(|t| t.frame != id);
        }
        recycle(frame);
        false
    });
    frames.is_empty()
}

/// Keeps `frame` in this thread's pool; a full pool hands a batch of its
/// frames to the [`DEPOT`] (or frees them, if the depot is full too).
fn recycle(mut frame: Box<FrameCell>) {
    frame.args.clear();
    if matches!(frame.steps, Steps::Heap(_)) {
        frame.steps = Steps::Inline(Default::default());
    }
    // Thread-local storage may already be gone while a thread exits.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        pool.push(frame);
        if pool.len() > POOL_SIZE {
            let keep = pool.len() - BATCH;
            let batch = pool.split_off(keep);
            let mut depot = DEPOT.lock().unwrap_or_else(|e| e.into_inner());
            if depot.len() < DEPOT_BATCHES {
                depot.push(batch);
                DEPOT_HELD.store(depot.len(), Ordering::Relaxed);
            }
        }
    });
}

/// A recycled frame: from this thread's pool, or else a batch from the
/// [`DEPOT`] that other threads filled.
fn take() -> Option<Box<FrameCell>> {
    POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.is_empty() {
            // With every task's calls in flight at once, pools and depot
            // stay empty: then a call's entry pays one load, not the lock.
            if DEPOT_HELD.load(Ordering::Relaxed) == 0 {
                return None;
            }
            let mut depot = DEPOT.lock().unwrap_or_else(|e| e.into_inner());
            let batch = depot.pop();
            DEPOT_HELD.store(depot.len(), Ordering::Relaxed);
            *pool = batch?;
        }
        pool.pop()
    })
    .ok()
    .flatten()
}

/// How many recycled frames a thread keeps (at most about 160 KiB of
/// frames, kept only after that many calls were in flight on the thread at
/// once). Frames are taken at a call's entry and recycled at its task's
/// next entry or end, both mostly on the workers; with thousands of traced
/// tasks in flight, a pool of 64 emptied and filled in bursts, and every
/// frame past it cost an allocation and a free: W4 at 50 000 tasks,
/// medians of 9 interleaved runs, 81.9 ms with 64, 66.7 with 1 024 (and no
/// better with 4 096).
const POOL_SIZE: usize = 1024;

/// How many frames move between a thread's pool and the depot at once.
const BATCH: usize = 128;

/// How many batches the depot keeps (at most about 1.3 MiB of frames).
const DEPOT_BATCHES: usize = 64;

/// Batches of recycled frames that threads with too many hand to threads
/// with none. A task's calls can start on one thread and end on another
/// (smol's executor threads, a work-stealing runtime's workers): one
/// thread's pool then only fills and another's only empties, and every
/// frame was allocated on one thread and freed on the other, whose malloc
/// arena lock the two fought over. One lock per batch, not per frame.
#[allow(clippy::vec_box)]
static DEPOT: Mutex<Vec<Vec<Box<FrameCell>>>> = Mutex::new(Vec::new());

/// How many batches the depot holds, as of its last change (read without
/// its lock; a stale value only costs a needless lock or one allocation).
static DEPOT_HELD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Boxes, not values: the point is to recycle the allocations.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<FrameCell>>> = const { RefCell::new(Vec::new()) };
}

/// The frame of one traced call, owned by its `Traced` future from the
/// call's first poll until it ends. Exactly one owner, which must end it
/// with [`FrameHandle::retire`], handing it to its task's list to reap (a
/// handle dropped otherwise leaks its frame, and leaves it registered:
/// never done).
#[derive(Debug)]
pub(crate) struct FrameHandle(NonNull<FrameCell>);

// SAFETY: the handle owns its frame as a `Box` would, and `FrameCell` is
// `Sync` (atomics and frozen fields), so the owner may move between threads.
unsafe impl Send for FrameHandle {}
// SAFETY: shared access only hands out `&FrameCell`, which is `Sync`.
unsafe impl Sync for FrameHandle {}

/// Where a new frame goes in its task's stack.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place<'a> {
    /// Called by the traced call of this frame.
    Under(&'a FrameCell),
    /// At the root of a task.
    Root,
    /// At the root of the task it adopts (see `trace`), which ends with it.
    AdoptedRoot,
}

impl FrameHandle {
    /// Takes a frame from this thread's pool (or allocates one), fills it in
    /// for a call of `info`, and adds it to `task`'s stack, under `parent`
    /// (`Some(None)` at the root of a task), or as the root of the task it
    /// adopts (`None`).
    pub(crate) fn enter(
        info: &'static FnInfo,
        owner: OwnerName,
        task: &TaskCell,
        at: Place<'_>,
        now: u64,
    ) -> Self {
        let mut frame = match take() {
            Some(mut frame) => {
                frame.reset(info);
                frame
            }
            None => Box::new(FrameCell::new(info)),
        };
        let count = info.awaits.len();
        if count > INLINE_STEPS {
            frame.steps = Steps::new(count);
        }
        frame.owner = owner;
        frame.adopted = matches!(at, Place::AdoptedRoot);
        frame.entered_at = now;
        *frame.resumed_at.get_mut() = now;
        let frame = NonNull::from(Box::leak(frame));
        task.with_detail(|detail| {
            // While its stack is not empty, the task's record is held by
            // it: a frame's call refers to its task by pointer (see
            // `trace::Entered`), and the record must outlive the call
            // even when the call's future outlives the task. Taken as the
            // first frame goes on; let go by whoever reaps the last.
            if detail.frames.is_empty() {
                task.hold_for_stack();
            }
            // The guard is held anyway: the frames whose calls ended since
            // go now (never the last: one goes on below).
            let _ = reap(detail);
            // SAFETY: the frame was just leaked from its box: this is the
            // only pointer to it, and no other thread can see it before it
            // is pushed below.
            let this = unsafe { &mut *frame.as_ptr() };
            this.id = detail.next_id();
            this.parent = match at {
                Place::Under(parent) => parent.id,
                Place::Root | Place::AdoptedRoot => 0,
            };
            if this.parent == 0 && detail.root_fn.is_none() {
                detail.root_fn = Some(this.info);
                detail.root_owner = (this.owner)().is_some().then_some(this.owner);
            }
            detail.frames.push(FramePtr(frame));
        });
        Self(frame)
    }

    /// The frame.
    pub(crate) fn get(&self) -> &FrameCell {
        // SAFETY: the handle owns the frame until `exit`, which consumes it.
        unsafe { self.0.as_ref() }
    }

    /// The synchronous stretch before the call's end at `now`, if it is
    /// at least `threshold`.
    pub(crate) fn stretch_before_end(&self, now: u64, threshold: u64) -> Option<BlockingStretch> {
        let frame = self.get();
        let duration = now.saturating_sub(frame.resumed_at.load(Ordering::Relaxed));
        (duration >= threshold).then(|| frame.stretch(None, duration))
    }

    /// Ends the call: the frame is marked dead (readers skip it from now
    /// on) and left in its task's list, which owns it from here and
    /// recycles it at the task's next traced call or its end. Takes no
    /// guard. Once it returns, neither the frame nor its task may be
    /// touched through this call (the task's record may go with the
    /// frame's reaping: see [`FrameHandle::enter`]).
    pub(crate) fn retire(self) {
        // From here the task's list owns the frame (the handle has no
        // `Drop`: it goes without freeing it).
        self.get().dead.store(true, Ordering::Release);
    }

    /// Ends the call as [`retire`](Self::retire) does, under `task`'s guard,
    /// and reaps its stack at once: for a call that ends where nothing
    /// would reap it later. Returns whether the stack is empty now (see
    /// [`reap`]).
    #[must_use = "a stack emptied lets go of its task's record"]
    pub(crate) fn retire_and_reap(self, task: &TaskCell) -> bool {
        task.with_detail(|detail| {
            self.retire();
            reap(detail)
        })
    }
}

impl FrameCell {
    fn new(info: &'static FnInfo) -> Self {
        Self {
            info,
            owner: no_owner,
            id: 0,
            parent: 0,
            args: ArgsCell::new(),
            entered_at: 0,
            adopted: false,
            steps: Steps::Inline(Default::default()),
            current: AtomicU32::new(0),
            current_since: AtomicU64::new(0),
            resumed_at: AtomicU64::new(0),
            last_completed: AtomicU32::new(0),
            dead: AtomicBool::new(false),
        }
    }

    /// Clears a recycled frame for a new call of `info`.
    fn reset(&mut self, info: &'static FnInfo) {
        self.info = info;
        if let Steps::Inline(steps) = &mut self.steps {
            for step in steps {
                *step = StepCell::default();
            }
        }
        *self.current.get_mut() = 0;
        *self.current_since.get_mut() = 0;
        *self.last_completed.get_mut() = 0;
        *self.dead.get_mut() = false;
    }

    fn stretch(&self, to: Option<u16>, duration: u64) -> BlockingStretch {
        BlockingStretch {
            info: self.info,
            args: self.args.text(self.info),
            from: index(self.last_completed.load(Ordering::Relaxed)),
            to,
            duration,
        }
    }

    /// The await `index`, polled first at `started` (read before that
    /// poll), is now pending (`ready == false`) or completed at once.
    /// Returns the synchronous stretch before it if at least `threshold`.
    #[inline]
    pub(crate) fn await_polled_first(
        &self,
        index: u16,
        started: u64,
        ready: bool,
        threshold: u64,
    ) -> Option<BlockingStretch> {
        let gap = started.saturating_sub(self.resumed_at.load(Ordering::Relaxed));
        let stretch = if gap >= threshold {
            Some(self.stretch(Some(index), gap))
        } else {
            None
        };
        if ready {
            self.complete(index, started, started);
        } else {
            self.current_since.store(started, Ordering::Relaxed);
            self.current.store(u32::from(index) + 1, Ordering::Release);
        }
        stretch
    }

    #[inline]
    pub(crate) fn await_completed(&self, index: u16, now: u64) {
        let since = self.current_since.load(Ordering::Relaxed);
        self.complete(index, since, now);
    }

    fn complete(&self, index: u16, since: u64, now: u64) {
        if let Some(step) = self.steps.get(usize::from(index)) {
            let took = now.saturating_sub(since);
            // Single writer: the polling thread.
            let completed = step.completed.load(Ordering::Relaxed);
            step.completed
                .store(completed.saturating_add(1), Ordering::Relaxed);
            let took_us = u32::try_from(took / 1_000).unwrap_or(u32::MAX);
            step.last_us.store(took_us, Ordering::Relaxed);
            let total = step.total.load(Ordering::Relaxed);
            step.total
                .store(total.saturating_add(took), Ordering::Relaxed);
        }
        self.last_completed
            .store(u32::from(index) + 1, Ordering::Relaxed);
        self.resumed_at.store(now, Ordering::Relaxed);
        self.current.store(0, Ordering::Release);
    }

    /// The await in progress and since when.
    pub(crate) fn current(&self) -> Option<(u16, u64)> {
        let index = index(self.current.load(Ordering::Acquire) & !PAUSED)?;
        Some((index, self.current_since.load(Ordering::Relaxed)))
    }

    /// Where the await `index` is, for its own poll (on the polling
    /// thread, the only writer).
    #[inline]
    pub(crate) fn await_state(&self, index: u16) -> AwaitState {
        let current = self.current.load(Ordering::Relaxed);
        if current & !PAUSED != u32::from(index) + 1 {
            AwaitState::NotStarted
        } else if current & PAUSED != 0 {
            AwaitState::Paused
        } else {
            AwaitState::InProgress
        }
    }

    /// The await `index` stops at a breakpoint before its first poll: in
    /// progress from `now`, and paused.
    pub(crate) fn await_paused(&self, index: u16, now: u64) {
        self.current_since.store(now, Ordering::Relaxed);
        self.current
            .store((u32::from(index) + 1) | PAUSED, Ordering::Release);
    }

    /// The paused await in progress was let go: in progress since it
    /// paused, and polled from now on.
    pub(crate) fn await_let_go(&self) {
        let current = self.current.load(Ordering::Relaxed);
        self.current.store(current & !PAUSED, Ordering::Release);
    }
}

/// The bit of [`FrameCell`]'s `current` set while its await is paused.
const PAUSED: u32 = 1 << 31;

/// Where one of a frame's awaits is, as [`FrameCell::await_state`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AwaitState {
    /// Not polled yet (or completed: a completed await is not polled again).
    NotStarted,
    /// Polled before and pending.
    InProgress,
    /// Stopped at a breakpoint before its first poll.
    Paused,
}

fn index(plus_one: u32) -> Option<u16> {
    plus_one.checked_sub(1).and_then(|i| u16::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    static INFO: FnInfo = FnInfo {
        name: "depot_test",
        module_path: module_path!(),
        file: file!(),
        line: line!(),
        column: 1,
        awaits: &[],
        args: &[],
    };

    #[test]
    fn frames_a_thread_has_too_many_of_go_to_a_thread_that_has_none() {
        // A thread that recycles more frames than its pool keeps (its
        // tasks' calls started elsewhere)…
        let recycled: Vec<usize> = std::thread::spawn(|| {
            let frames: Vec<Box<FrameCell>> = (0..POOL_SIZE + 3 * BATCH)
                .map(|_| Box::new(FrameCell::new(&INFO)))
                .collect();
            let addresses = frames
                .iter()
                .map(|f| &**f as *const FrameCell as usize)
                .collect();
            frames.into_iter().for_each(recycle);
            addresses
        })
        .join()
        .unwrap();
        // …and one whose pool is empty (its calls start here): it takes
        // the other's frames instead of allocating.
        let taken: Vec<usize> = std::thread::spawn(|| {
            (0..BATCH)
                .map(|_| take().map_or(0, |f| &*f as *const FrameCell as usize))
                .collect()
        })
        .join()
        .unwrap();
        let from_the_other = taken.iter().filter(|a| recycled.contains(a)).count();
        assert_eq!(
            from_the_other,
            BATCH,
            "{} of {BATCH} allocated anew",
            BATCH - from_the_other
        );
    }
}
