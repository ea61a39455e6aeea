//! The guarded, lazily allocated part of a task: its name, frames, waits,
//! timeouts and inspect points.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Arc;

use async_inspect_model::snapshot::{BlockingPlace, Lint, LockHolder, SourceLocation};
use async_inspect_model::span::RemoteRequest;

use crate::clock;
use crate::record::NamedResource;
use crate::site::FnInfo;
use crate::span::SpanRecord;
use crate::task::TaskId;
use crate::task::frame::FramePtr;

/// How many frames a detail keeps without an allocation of their own.
const INLINE_FRAMES: usize = 4;

/// How many inspect points a task keeps (the latest ones).
pub(crate) const POINTS_KEPT: usize = 8;

/// In declaration order (`repr(C)`, no padding but at the end): what a
/// wait's start and end touch (its list, the ids, the ended count) and the
/// frame list come first, in the detail's first two cache lines; a task's
/// detail is cold by the time its sleep ends when thousands of tasks sleep
/// at once. What few tasks need is in [`Rare`], behind one pointer: every
/// task that waits or runs a traced call has a detail (a server's parked
/// connections, all of them), and most use no more than this.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Detail {
    /// In id order; an ended one in the middle may stay, marked, until
    /// swept: readers skip it. One inline: a task's first wait (a sleep, a
    /// lock, a join) would otherwise allocate the list, for every task
    /// waiting at once beyond what its thread's pool of details keeps.
    pub(crate) waits: smallvec::SmallVec<[WaitRecord; 1]>,
    /// How many of `waits` are marked ended (a `u32` beside `next_id`:
    /// one word for both).
    pub(crate) ended_waits: u32,
    next_id: u32,
    /// The task's registered frames, in the order their calls began;
    /// dead ones (calls that ended, not reaped yet) are skipped by readers.
    /// A few inline: a new detail's first frame would otherwise cost an
    /// allocation of its own (a detail is new for every task alive at
    /// once beyond what its thread's pool keeps).
    pub(crate) frames: smallvec::SmallVec<[FramePtr; INLINE_FRAMES]>,
    /// The name given at spawn.
    pub(crate) name: Option<Box<str>>,
    /// The first traced fn this task ran at its root, which names a task
    /// spawned without a name.
    pub(crate) root_fn: Option<&'static FnInfo>,
    /// What names the `Self` type of that fn, if it is a method.
    pub(crate) root_owner: Option<crate::task::OwnerName>,
    /// The rest, made on first need ([`Detail::rare_mut`]).
    pub(crate) rare: Option<Box<Rare>>,
    /// The thread that allocated it, which frees it best.
    home: Home,
}

// Half of what it was with the rare part inline (352 bytes): a 192-byte
// allocation per waiting or traced task.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Detail>() <= 176);

/// The part of a task's detail that few tasks need: timeouts, inspect
/// points, how it ended, spans, the request it serves, wakers other than
/// its runtime's first, self-wake storms, blocking-poll reports. Read
/// through [`Detail::rare`] (empty when there is none).
#[derive(Debug)]
pub(crate) struct Rare {
    pub(crate) timeouts: Vec<TimeoutRecord>,
    pub(crate) points: VecDeque<PointRecord>,
    /// How it ended, when there is more to tell than its phase.
    pub(crate) ending: Option<Box<Ending>>,
    /// When a traced frame last reported a blocking poll, so the task-level
    /// check does not report the same poll again.
    pub(crate) last_lint_at: u64,
    /// The waker wrappers it was polled with after its first.
    pub(crate) wakers: crate::task::waker::Wrappers,
    /// Whether a self-wake storm was reported for it.
    pub(crate) storm_reported: bool,
    /// Where the task's latest long self-wake streak was checked first:
    /// the clock time its poll began, and the task's busy time then.
    pub(crate) streak_from: (u64, u64),
    /// For an adopted task: the runtime's id of the task it runs in.
    pub(crate) host: Option<Box<str>>,
    /// The `tracing` span it entered last.
    pub(crate) span: Option<Arc<SpanRecord>>,
    /// The `tracing` span current where it was spawned.
    pub(crate) spawned_in: Option<Arc<SpanRecord>>,
    /// The request from another process it serves.
    pub(crate) serves: Option<Arc<RemoteRequest>>,
}

impl Rare {
    /// What a detail without one reads.
    const NONE: Self = Self {
        timeouts: Vec::new(),
        points: VecDeque::new(),
        ending: None,
        last_lint_at: 0,
        wakers: crate::task::waker::Wrappers::NONE,
        storm_reported: false,
        streak_from: (0, 0),
        host: None,
        span: None,
        spawned_in: None,
        serves: None,
    };

    /// Whether it holds nothing a finished task would show (its storm and
    /// blocking-poll marks aside).
    fn is_empty(&self) -> bool {
        self.timeouts.is_empty()
            && self.points.is_empty()
            && self.ending.is_none()
            && self.wakers.is_empty()
            && self.host.is_none()
            && self.span.is_none()
            && self.spawned_in.is_none()
            && self.serves.is_none()
    }
}

impl Default for Rare {
    fn default() -> Self {
        Self::NONE
    }
}

/// What [`Detail::rare`] hands out for a detail that has none.
static NO_RARE: Rare = Rare::NONE;

/// How a task ended, beyond its phase: one pointer in the detail, for
/// the few tasks that panic or are cancelled in a traced call.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The panic message.
    Panicked(Box<str>),
    /// Where it was when it was cancelled.
    Cancelled(Cancelled),
}

/// The innermost traced call of a task when it was cancelled (aborted, or
/// dropped unfinished), and the `.await` it was parked on: taken as the
/// task ends, while its frames are still alive, since its future is dropped
/// right after.
#[derive(Debug)]
pub(crate) struct Cancelled {
    pub(crate) info: &'static FnInfo,
    /// The `Self` type of a method.
    pub(crate) owner: crate::task::OwnerName,
    pub(crate) args: Option<Arc<str>>,
    /// The await in progress (its index) and since when, if it was at one.
    pub(crate) at: Option<(u16, u64)>,
    /// How many traced calls deep it was.
    pub(crate) depth: u32,
}

/// A thread, as the address of one of its thread-locals (unique among
/// the threads alive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Home(usize);

thread_local! {
    static HERE: u8 = const { 0 };
}

impl Home {
    fn here() -> Self {
        Self(
            HERE.try_with(|here| std::ptr::from_ref(here) as usize)
                .unwrap_or(0),
        )
    }
}

impl Default for Home {
    fn default() -> Self {
        Self::here()
    }
}

/// A resource as a task's record keeps it (a lock it waits for or holds):
/// what a snapshot and the lock-order check read of it. The resource
/// module's cells implement it, so that tasks name no resource type.
pub(crate) trait TaskResource: NamedResource {
    /// The tasks holding it now, with where and since when.
    fn holders(&self) -> Vec<LockHolder>;
}

/// What a task waits for, as the wrapper that knows it reports it.
#[derive(Debug)]
pub(crate) enum WaitKind {
    Sleep {
        until: u64,
    },
    Join {
        task: TaskId,
    },
    Other(Cow<'static, str>),
    /// A call to another process.
    Remote(Arc<RemoteRequest>),
    /// Paused at a breakpoint (see [`debug`](crate::debug)), at `place`:
    /// `f() at file:line`.
    Paused {
        breakpoint: u64,
        place: String,
    },
}

#[derive(Debug)]
pub(crate) struct WaitRecord {
    pub(crate) id: u32,
    /// Id of the frame whose await waits.
    pub(crate) frame: Option<u32>,
    pub(crate) kind: WaitKind,
    pub(crate) since: u64,
    /// Ended, not swept yet (see [`Detail::end_wait`]).
    pub(crate) ended: bool,
}

/// Up to this many waits, an ended one is removed at once.
const SHORT: usize = 16;

#[derive(Debug)]
pub(crate) struct TimeoutRecord {
    pub(crate) id: u32,
    /// Id of the frame the timeout is awaited in.
    pub(crate) frame: Option<u32>,
    pub(crate) deadline: u64,
}

#[derive(Debug)]
pub(crate) struct PointRecord {
    pub(crate) label: Cow<'static, str>,
    pub(crate) value: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
    /// The traced fn it was recorded in; kept by name, as the frame may end
    /// long before the point is read.
    pub(crate) function: Option<&'static str>,
    pub(crate) at: u64,
}

/// A synchronous stretch of a traced fn long enough to be a blocking poll.
#[derive(Debug)]
pub(crate) struct BlockingStretch {
    pub(crate) info: &'static FnInfo,
    pub(crate) args: Option<Arc<str>>,
    pub(crate) from: Option<u16>,
    pub(crate) to: Option<u16>,
    pub(crate) duration: u64,
}

impl BlockingStretch {
    /// The lint of this stretch in task `task`: between which awaits of
    /// which call its thread was held.
    pub(crate) fn lint(&self, task: TaskId) -> Lint {
        let info = self.info;
        let place = |index: Option<u16>, end: bool| match index {
            Some(i) => match info.awaits.get(usize::from(i)) {
                Some(a) => BlockingPlace::Await {
                    expr: a.expr.into(),
                    location: SourceLocation::new(info.file, a.line, a.column),
                },
                None => BlockingPlace::Unknown,
            },
            None if end => BlockingPlace::End,
            None => BlockingPlace::Start {
                location: SourceLocation::new(info.file, info.line, info.column),
            },
        };
        Lint::BlockingPoll {
            task,
            function: Some(format!(
                "{}({})",
                info.name,
                self.args.as_deref().unwrap_or("")
            )),
            duration: clock::to_duration(self.duration),
            from: place(self.from, false),
            to: place(self.to, true),
            at: clock::to_duration(clock::now()),
        }
    }
}

/// How many recycled details a thread keeps.
const POOL_SIZE: usize = 64;

/// Longer lists than this are not kept when a detail is recycled.
const KEPT_CAPACITY: usize = 16;

thread_local! {
    // Boxes, not values: the point is to recycle the allocations.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<Detail>>> = const { RefCell::new(Vec::new()) };
}

impl Detail {
    /// A cleared detail from this thread's pool, or a new one: the first
    /// frame of every traced task needs one, and it would otherwise cost an
    /// allocation for the detail and another for its frame list.
    pub(crate) fn take() -> Box<Self> {
        POOL.with(|pool| pool.borrow_mut().pop())
            .unwrap_or_default()
    }

    /// Whether this thread's pool would keep one more detail.
    fn pool_has_room() -> bool {
        POOL.try_with(|pool| pool.borrow().len() < POOL_SIZE)
            .unwrap_or(false)
    }

    /// Clears `detail` and keeps it for [`Detail::take`] on this thread.
    pub(crate) fn recycle(mut detail: Box<Self>) {
        detail.next_id = 0;
        detail.name = None;
        // No frame is left: a task's stack holds its record while it is
        // not empty, and a detail is recycled when its task's record goes
        // or its stack is empty (`shrink_finished`). Reaped all the same,
        // should a frame be left: it would be dead, as the stack of a
        // record that goes.
        let _ = crate::task::frame::reap(&mut detail);
        detail.frames.clear();
        detail.waits.clear();
        detail.ended_waits = 0;
        detail.root_fn = None;
        detail.root_owner = None;
        // Let go, not kept emptied: 10 000 tasks each taking ten inspected
        // timeouts ran in 66.7 ms either way (medians of 10 runs).
        detail.rare = None;
        if detail.frames.capacity() > KEPT_CAPACITY || detail.waits.capacity() > KEPT_CAPACITY {
            return;
        }
        // Thread-local storage may already be gone while a thread exits.
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_SIZE {
                pool.push(detail);
            }
        });
    }

    /// The detail of a task given a name at spawn.
    pub(crate) fn named(name: Box<str>) -> Box<Self> {
        let mut detail = Self::take();
        detail.name = Some(name);
        detail
    }

    /// A fresh id for a frame, wait or timeout of this task (never 0).
    pub(crate) fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Ends the wait `id`. Waits are pushed in id order and removed in
    /// place, so a binary search finds one among thousands (a `join_all` of
    /// receivers); one in the middle of many is marked ended and the ended
    /// are swept out once they are half.
    pub(crate) fn end_wait(&mut self, id: u32) {
        let found = match self.waits.binary_search_by_key(&id, |w| w.id) {
            Ok(at) => Some(at),
            // Ids wrapped around: no order to rely on.
            Err(_) => self.waits.iter().position(|w| w.id == id),
        };
        let Some(at) = found else { return };
        if at + 1 == self.waits.len() {
            self.waits.pop();
        } else if self.waits.len() <= SHORT {
            self.waits.remove(at);
        } else if !self.waits[at].ended {
            self.waits[at].ended = true;
            // Its resource may go as soon as this returns: the record no
            // longer names it.
            self.waits[at].kind = WaitKind::Other(Cow::Borrowed("ended"));
            self.ended_waits += 1;
            if self.ended_waits as usize * 2 >= self.waits.len() {
                self.sweep_waits();
            }
        }
    }

    /// Drops the ended waits (see [`Detail::end_wait`]).
    pub(crate) fn sweep_waits(&mut self) {
        self.waits.retain(|w| !w.ended);
        self.ended_waits = 0;
    }

    pub(crate) fn end_timeout(&mut self, id: u32) {
        let Some(rare) = self.rare.as_deref_mut() else {
            return;
        };
        if let Some(position) = rare.timeouts.iter().position(|t| t.id == id) {
            rare.timeouts.swap_remove(position);
        }
    }

    pub(crate) fn push_point(&mut self, point: PointRecord) {
        let points = &mut self.rare_mut().points;
        if points.len() == POINTS_KEPT {
            points.pop_front();
        }
        points.push_back(point);
    }

    /// Its rare part (see [`Rare`]): empty if it has none.
    pub(crate) fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }

    /// Its rare part, if it has one.
    pub(crate) fn rare_if_any(&mut self) -> Option<&mut Rare> {
        self.rare.as_deref_mut()
    }

    /// Its rare part, made now if it has none.
    pub(crate) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// A task's detail, in one word (the task's record stays within its size):
/// none yet, the task's own, or, once the task finished with nothing left
/// in its detail but the free traced fn that names it, that fn alone. Then
/// the detail goes back to the pool of the worker that used it, where the
/// next traced task takes it, rather than to whichever thread drops the
/// record much later (the spawning thread, which touched it last long
/// before: every line of it a miss there, and again on the worker).
pub(crate) struct DetailSlot(*mut ());

/// Set in a [`DetailSlot`] that holds a root fn, not a detail: an
/// `FnInfo`'s address is even (it holds references).
const ROOT: usize = 1;

const _: () = assert!(std::mem::align_of::<FnInfo>() > ROOT);
const _: () = assert!(std::mem::align_of::<Detail>() > ROOT);

// SAFETY: it owns a `Box<Detail>` (`Send + Sync`) or holds a `&'static
// FnInfo` (`Sync`).
unsafe impl Send for DetailSlot {}
// SAFETY: as above; shared access only hands out `&Detail` and `&FnInfo`.
unsafe impl Sync for DetailSlot {}

impl DetailSlot {
    pub(crate) fn new(detail: Option<Box<Detail>>) -> Self {
        match detail {
            Some(detail) => Self(Box::into_raw(detail).cast()),
            None => Self(std::ptr::null_mut()),
        }
    }

    /// The detail the slot owns: null if none, or if it holds a root fn.
    fn own(&self) -> *mut Detail {
        if self.0.addr() & ROOT != 0 {
            return std::ptr::null_mut();
        }
        self.0.cast()
    }

    /// The root fn the slot holds instead of a detail.
    fn tagged_root(&self) -> Option<&'static FnInfo> {
        if self.0.addr() & ROOT == 0 {
            return None;
        }
        // SAFETY: a tagged pointer is a `&'static FnInfo` (see
        // `shrink_finished`).
        Some(unsafe { &*self.0.map_addr(|a| a & !ROOT).cast::<FnInfo>() })
    }

    /// The task's own detail, if it has one.
    pub(crate) fn get(&self) -> Option<&Detail> {
        // SAFETY: a non-null `own` is a `Box<Detail>` this slot owns.
        unsafe { self.own().as_ref() }
    }

    /// The task's own detail, mutably, if it has one.
    pub(crate) fn get_mut(&mut self) -> Option<&mut Detail> {
        // SAFETY: as in `get`, and `&mut self` is exclusive.
        unsafe { self.own().as_mut() }
    }

    /// The task's own detail, made by `make` if it has none (keeping the
    /// root fn, if that is all it had).
    pub(crate) fn get_or_insert_with(&mut self, make: impl FnOnce() -> Box<Detail>) -> &mut Detail {
        if self.own().is_null() {
            let mut detail = make();
            if let Some(root) = self.tagged_root() {
                detail.root_fn = Some(root);
            }
            *self = Self::new(Some(detail));
        }
        match self.get_mut() {
            Some(detail) => detail,
            None => unreachable!("made above"),
        }
    }

    /// Takes the task's own detail out, leaving nothing.
    pub(crate) fn take(&mut self) -> Option<Box<Detail>> {
        let own = self.own();
        self.0 = std::ptr::null_mut();
        // SAFETY: a non-null `own` is a `Box<Detail>` this slot owned, and
        // no longer holds.
        (!own.is_null()).then(|| unsafe { Box::from_raw(own) })
    }

    /// The first traced fn the task ran at its root, with the `Self` type
    /// of a method: what names a task spawned without a name.
    pub(crate) fn root(&self) -> Option<(&'static FnInfo, Option<&'static str>)> {
        match self.get() {
            Some(detail) => detail
                .root_fn
                .map(|root| (root, detail.root_owner.and_then(|owner| owner()))),
            None => self.tagged_root().map(|root| (root, None)),
        }
    }

    /// The task finished: if its detail holds nothing but a free fn at its
    /// root (no name, panic, inspect point, wait, frame, span, host or
    /// request), keeps only that fn and recycles the detail on this thread:
    /// into its pool, or, if that is full, back to the allocator, but only
    /// on the thread that allocated it; elsewhere it stays where it is
    /// (smol moves a task between its threads at every wake, and a free on
    /// another thread than the allocating one takes the slow path).
    pub(crate) fn shrink_finished(&mut self) -> Shrink {
        let Some(detail) = self.get() else {
            return Shrink::Shrunk;
        };
        let only_root = detail.name.is_none()
            && detail.root_owner.is_none()
            && detail.frames.is_empty()
            && detail.waits.is_empty()
            && detail.rare().is_empty();
        if !only_root {
            return Shrink::Kept;
        }
        // Freed on the thread that allocated it (a full pool frees what it
        // is given), the memory is reused by that thread's next
        // allocations; on another, it would take the allocator's slow path.
        if !Detail::pool_has_room() && detail.home != Home::here() {
            return Shrink::PoolFull;
        }
        let root = detail.root_fn;
        if let Some(detail) = self.take() {
            Detail::recycle(detail);
        }
        if let Some(root) = root {
            let root = std::ptr::from_ref(root).cast::<()>().cast_mut();
            self.0 = root.map_addr(|a| a | ROOT);
        }
        Shrink::Shrunk
    }
}

/// What [`DetailSlot::shrink_finished`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shrink {
    /// The slot keeps only the root fn, if any; its detail went to this
    /// thread's pool.
    Shrunk,
    /// The detail holds more than its root fn: kept.
    Kept,
    /// This thread's pool is full and the detail was allocated on another:
    /// kept.
    PoolFull,
}

impl Drop for DetailSlot {
    fn drop(&mut self) {
        if let Some(detail) = self.take() {
            Detail::recycle(detail);
        }
    }
}

impl std::fmt::Debug for DetailSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some(detail) => detail.fmt(f),
            None => f
                .debug_struct("DetailSlot")
                .field("root", &self.tagged_root().map(|root| root.name))
                .finish(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A traced fn for tests of what a finished task keeps.
    pub(crate) static ROOT: FnInfo = FnInfo {
        name: "named_by_me",
        module_path: "tests",
        file: "root.rs",
        line: 7,
        column: 9,
        awaits: &[],
        args: &[],
    };

    fn panic_of(ending: &Ending) -> Option<&str> {
        match ending {
            Ending::Panicked(message) => Some(message),
            Ending::Cancelled(_) => None,
        }
    }

    #[test]
    fn a_detail_with_more_than_a_free_root_fn_is_kept() {
        let mut slot = DetailSlot::new(Some(Detail::take()));
        let detail = slot.get_mut().expect("given");
        detail.root_fn = Some(&ROOT);
        detail.rare_mut().ending = Some(Box::new(Ending::Panicked("boom".into())));
        assert_eq!(slot.shrink_finished(), Shrink::Kept);
        let panic = slot
            .get()
            .and_then(|d| panic_of(d.rare().ending.as_deref()?));
        assert_eq!(panic, Some("boom"));
    }

    #[test]
    fn a_full_pool_frees_only_a_detail_its_thread_allocated() {
        // Made on this thread; shrunk on another whose pool is full.
        let mut foreign = DetailSlot::new(Some(Box::default()));
        foreign.get_mut().expect("given").root_fn = Some(&ROOT);
        std::thread::spawn(move || {
            for _ in 0..POOL_SIZE {
                Detail::recycle(Box::default());
            }
            assert!(!Detail::pool_has_room());
            assert_eq!(foreign.shrink_finished(), Shrink::PoolFull);
            assert!(foreign.get().is_some(), "kept where it is");
            let mut own = DetailSlot::new(Some(Box::default()));
            own.get_mut().expect("given").root_fn = Some(&ROOT);
            assert_eq!(own.shrink_finished(), Shrink::Shrunk);
            assert_eq!(own.root().map(|(root, _)| root.name), Some("named_by_me"));
        })
        .join()
        .expect("the checks passed");
    }

    #[test]
    fn a_shrunk_slot_keeps_its_root_fn_in_a_detail_made_later() {
        let mut slot = DetailSlot::new(Some(Detail::take()));
        slot.get_mut().expect("given").root_fn = Some(&ROOT);
        assert_eq!(slot.shrink_finished(), Shrink::Shrunk);
        assert!(slot.get().is_none());
        assert_eq!(slot.root().map(|(root, _)| root.name), Some("named_by_me"));
        slot.get_or_insert_with(Detail::take).rare_mut().ending =
            Some(Box::new(Ending::Panicked("late".into())));
        assert_eq!(slot.root().map(|(root, _)| root.name), Some("named_by_me"));
        let late = slot
            .take()
            .and_then(|d| panic_of(d.rare().ending.as_deref()?).map(str::to_owned));
        assert_eq!(late.as_deref(), Some("late"));
        assert!(slot.root().is_none());
    }
}
