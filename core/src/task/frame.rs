//! One active traced call's frame, kept out of line.
//!
//! A `Traced` future holds only a [`FrameHandle`]: the frame itself comes
//! from a small per-thread pool of recycled allocations, so a traced call
//! neither calls the allocator nor makes the user's future bigger by the
//! size of a frame (which, nested three calls deep, made a task's future
//! fourteen times bigger). Disabled, a traced call holds no frame at all.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::task::TaskCell;
use crate::task::detail::BlockingStretch;
use crate::trace::FnInfo;

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
/// Fields set at registration (`info`, `id`, `parent`, `args`,
/// `entered_at`, `steps`) are written while the frame is owned exclusively,
/// before any other thread can see it, and not again until it is
/// unregistered. Everything an await changes is an atomic written by the
/// polling thread alone.
#[derive(Debug)]
pub(crate) struct FrameCell {
    pub(crate) info: &'static FnInfo,
    pub(crate) id: u32,
    /// Id of the enclosing frame, 0 at the task's root.
    pub(crate) parent: u32,
    pub(crate) args: Option<Arc<str>>,
    pub(crate) entered_at: u64,
    pub(crate) steps: Steps,
    /// Index + 1 of the await in progress, 0 if none.
    current: AtomicU32,
    current_since: AtomicU64,
    /// When the fn's own code last started running: entry or the end of its
    /// latest await. The gap to the next await is synchronous code.
    resumed_at: AtomicU64,
    /// Index + 1 of the await that completed last, 0 if none.
    last_completed: AtomicU32,
}

/// A frame's address, held in its task's detail while registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramePtr(NonNull<FrameCell>);

// SAFETY: the pointee is only read through `&FrameCell` (atomics and fields
// frozen while registered), and it is alive while the pointer is in a
// task's detail: `FrameHandle::exit` removes it under the same guard before
// the frame is recycled or freed.
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
}

/// How many recycled frames a thread keeps.
const POOL_SIZE: usize = 64;

thread_local! {
    // Boxes, not values: the point is to recycle the allocations.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<FrameCell>>> = const { RefCell::new(Vec::new()) };
}

/// The frame of one traced call, owned by its `Traced` future from the
/// call's first poll until it ends. Exactly one owner, which must end it
/// with [`FrameHandle::exit`] (a handle dropped otherwise leaks its frame,
/// and leaves it registered: never done).
#[derive(Debug)]
pub(crate) struct FrameHandle(NonNull<FrameCell>);

// SAFETY: the handle owns its frame as a `Box` would, and `FrameCell` is
// `Sync` (atomics and frozen fields), so the owner may move between threads.
unsafe impl Send for FrameHandle {}
// SAFETY: shared access only hands out `&FrameCell`, which is `Sync`.
unsafe impl Sync for FrameHandle {}

impl FrameHandle {
    /// Takes a frame from this thread's pool (or allocates one), fills it in
    /// for a call of `info`, and adds it to `task`'s stack.
    pub(crate) fn enter(
        info: &'static FnInfo,
        task: &TaskCell,
        parent: Option<&FrameCell>,
        args: Option<Arc<str>>,
        now: u64,
    ) -> Self {
        let recycled = POOL.with(|pool| pool.borrow_mut().pop());
        let mut frame = match recycled {
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
        frame.args = args;
        frame.entered_at = now;
        *frame.resumed_at.get_mut() = now;
        let frame = NonNull::from(Box::leak(frame));
        task.with_detail(|detail| {
            // SAFETY: the frame was just leaked from its box: this is the
            // only pointer to it, and no other thread can see it before it
            // is pushed below.
            let this = unsafe { &mut *frame.as_ptr() };
            this.id = detail.next_id();
            this.parent = parent.map_or(0, |p| p.id);
            if this.parent == 0 && detail.root_fn.is_none() {
                detail.root_fn = Some(this.info);
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

    /// Removes the frame, and the waits and timeouts registered in it, from
    /// `task`, and recycles it. Returns the synchronous stretch before its
    /// end if the call completed and that stretch is at least `threshold`.
    pub(crate) fn exit(
        self,
        task: &TaskCell,
        completed_at: Option<u64>,
        threshold: u64,
    ) -> Option<BlockingStretch> {
        let stretch = self.get().unregister(task, completed_at, threshold);
        // SAFETY: the frame came from `Box::leak` in `enter`, and it is no
        // longer in any task's detail, so this is its only pointer.
        let mut frame = unsafe { Box::from_raw(self.0.as_ptr()) };
        frame.args = None;
        if matches!(frame.steps, Steps::Heap(_)) {
            frame.steps = Steps::Inline(Default::default());
        }
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_SIZE {
                pool.push(frame);
            }
        });
        stretch
    }
}

impl FrameCell {
    fn new(info: &'static FnInfo) -> Self {
        Self {
            info,
            id: 0,
            parent: 0,
            args: None,
            entered_at: 0,
            steps: Steps::Inline(Default::default()),
            current: AtomicU32::new(0),
            current_since: AtomicU64::new(0),
            resumed_at: AtomicU64::new(0),
            last_completed: AtomicU32::new(0),
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
    }

    /// Removes the frame, and the waits and timeouts registered in it, from
    /// `task`. Returns the synchronous stretch before its end if the call
    /// completed and that stretch is at least `threshold` long.
    fn unregister(
        &self,
        task: &TaskCell,
        completed_at: Option<u64>,
        threshold: u64,
    ) -> Option<BlockingStretch> {
        let me = FramePtr(NonNull::from(self));
        task.with_detail(|detail| {
            if let Some(position) = detail.frames.iter().rposition(|f| *f == me) {
                detail.frames.remove(position);
            }
            detail.waits.retain(|w| w.frame != Some(self.id));
            detail.timeouts.retain(|t| t.frame != Some(self.id));
        });
        let now = completed_at?;
        let duration = now.saturating_sub(self.resumed_at.load(Ordering::Relaxed));
        (duration >= threshold).then(|| self.stretch(None, duration))
    }

    fn stretch(&self, to: Option<u16>, duration: u64) -> BlockingStretch {
        BlockingStretch {
            info: self.info,
            args: self.args.clone(),
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
        let index = index(self.current.load(Ordering::Acquire))?;
        Some((index, self.current_since.load(Ordering::Relaxed)))
    }
}

fn index(plus_one: u32) -> Option<u16> {
    plus_one.checked_sub(1).and_then(|i| u16::try_from(i).ok())
}
