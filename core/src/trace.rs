//! Logical async stacks: what `#[trace]` expands to.
//!
//! A traced `async fn` keeps its signature; its body runs inside a
//! [`Traced`] future described by a static [`FnInfo`], and each of the body's
//! own `.await`s (not those in nested closures or async blocks) awaits an
//! [`AwaitPoint`] that knows its index among the fn's awaits. While a
//! `Traced` is polled it is the thread's current frame, so a traced call
//! polled inside it becomes its child frame: that is how frames nest into a
//! logical stack, on whichever worker thread the task resumes.
//!
//! A `Traced` polled with no inspected task current becomes the root of an
//! *adopted* task that lives exactly as long as it does.

use std::fmt::{self, Debug};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::task::context;
use crate::task::{
    AwaitState, FrameCell, FrameHandle, Phase, Place, TaskCell, TaskKind, poll_adopted,
};
use crate::{clock, config, record};

use crate::args::Args;
pub use crate::args::{
    ArgValue, ArgValues, ArgsProbe, FormatNow, KeepValues, MAX_ARG_TEXT, MAX_ARGS_TEXT,
    format_args_list, format_value,
};
pub use crate::site::{AwaitInfo, FnInfo};

/// How an adopted task learns the id its runtime gave the task it runs in
/// (set by the runtime's adapter; core names no runtime).
static HOST_TASK_ID: std::sync::OnceLock<fn() -> Option<String>> = std::sync::OnceLock::new();

/// Tells adopted tasks how to find the runtime's id of the task they run
/// in (tokio's `task::try_id()`), for the report. The first call wins.
pub fn set_host_task_id(f: fn() -> Option<String>) {
    let _ = HOST_TASK_ID.set(f);
}

/// Where a traced call is: not polled yet (what its frame will record),
/// or polled, with the frame it entered (none when not recorded). Its
/// arguments are not here: the body hands them to the frame when it
/// starts ([`record_args`]), from its own copies. A `Traced` is 24 bytes
/// bigger than its body, in every traced call of every program built with
/// the `inspect` feature, whether recording is on or off.
enum Link {
    NotEntered(&'static FnInfo),
    Entered(Option<Entered>),
}

/// A traced call's frame, entered in `task`'s stack.
struct Entered {
    task: TaskPtr,
    frame: FrameHandle,
}

/// The record of the task a call's frame is on, by pointer, not by a
/// counted reference: the task's stack holds the record while the frame is
/// on it (see `FrameHandle::enter`), and a counted reference per call was
/// two locked instructions of every traced call (its count up and down).
#[derive(Clone, Copy)]
struct TaskPtr(NonNull<TaskCell>);

// SAFETY: a pointer to a `TaskCell`, which is `Send` and `Sync`; what keeps
// it alive is said where it is read.
unsafe impl Send for TaskPtr {}
// SAFETY: as above.
unsafe impl Sync for TaskPtr {}

impl TaskPtr {
    /// The record, as an `Arc` not counted (never dropped).
    ///
    /// # Safety
    ///
    /// The call's frame is on the task's stack (not retired yet), which
    /// keeps the record alive, for as long as the result is used.
    unsafe fn get(self) -> ManuallyDrop<Arc<TaskCell>> {
        // SAFETY: every record is made in an `Arc` (`TaskCell::register`),
        // and is alive: the caller's contract.
        ManuallyDrop::new(unsafe { Arc::from_raw(self.0.as_ptr()) })
    }
}

/// Names the `Self` type of a traced method: a type, not a value, so that
/// it takes no room in the call's future.
pub trait Owner {
    /// The type's name (`std::any::type_name`), `None` for a free fn.
    fn name() -> Option<&'static str>;
}

/// The [`Owner`] of a traced free fn: none.
#[derive(Debug)]
pub struct NoOwner;

impl Owner for NoOwner {
    #[inline]
    fn name() -> Option<&'static str> {
        None
    }
}

/// The [`Owner`] of a traced method of `T`: its frame is named
/// `T::method`.
#[derive(Debug)]
pub struct OwnerOf<T: ?Sized>(PhantomData<fn() -> *const T>);

impl<T: ?Sized> Owner for OwnerOf<T> {
    #[inline]
    fn name() -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }
}

pin_project! {
    /// The body of a traced call: registers its frame on first poll, makes it
    /// the current frame during each poll, and removes it when it completes or
    /// is dropped (a `select!` branch that lost, a cancelled task). `O` names
    /// the method's type ([`OwnerOf`]), or [`NoOwner`].
    pub struct Traced<F, O = NoOwner> {
        #[pin]
        future: F,
        link: Link,
        owner: PhantomData<fn() -> O>,
    }

    impl<F, O> PinnedDrop for Traced<F, O> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Link::Entered(Some(entered)) = std::mem::replace(this.link, Link::Entered(None)) {
                leave(entered, None);
            }
        }
    }
}

impl<F, O> Debug for Traced<F, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = match &self.link {
            Link::NotEntered(info) => Some(*info),
            Link::Entered(Some(entered)) => Some(entered.frame.get().info),
            Link::Entered(None) => None,
        };
        f.debug_struct("Traced")
            .field("function", &info.map(|info| info.name))
            .finish_non_exhaustive()
    }
}

impl<F: Future, O: Owner> Traced<F, O> {
    /// Wraps the body of the traced fn `info`, a method of `O`'s type or a
    /// free fn ([`NoOwner`]). A body that records arguments starts with
    /// [`record_args`].
    pub fn new(info: &'static FnInfo, future: F) -> Self {
        Self {
            future,
            link: Link::NotEntered(info),
            owner: PhantomData,
        }
    }
}

impl<F: Future, O: Owner> Future for Traced<F, O> {
    type Output = F::Output;

    /// Small enough to inline into the caller's body: a call that is not
    /// recorded (inspection off at run time) costs a check and a read of
    /// the current frame, and lets the compiler fold the chain of calls
    /// as it would without `#[trace]`. A recorded call goes on in
    /// [`poll_recorded`], out of line.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Link::NotEntered(_) = this.link
            && !config::enabled()
        {
            *this.link = Link::Entered(None);
        }
        if let Link::Entered(None) = this.link {
            return poll_unrecorded(this.future, cx);
        }
        poll_recorded::<F, O>(this.future, this.link, cx)
    }
}

/// Polls the body of a call that is not recorded. Its awaits must not
/// count as the steps of an enclosing recorded call: that frame is hidden
/// for the poll.
#[inline]
fn poll_unrecorded<F: Future>(future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    let current = context::get();
    if current.frame.is_null() {
        return future.poll(cx);
    }
    let _restore = context::enter(current.task, std::ptr::null());
    future.poll(cx)
}

/// A poll of a traced call that has a frame, or has yet to see whether it
/// gets one (its first poll).
#[inline(never)]
fn poll_recorded<F: Future, O: Owner>(
    future: Pin<&mut F>,
    link: &mut Link,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    if let Link::NotEntered(info) = *link {
        *link = Link::Entered(enter(info, O::name));
    }
    let Link::Entered(Some(Entered { task, frame })) = &*link else {
        return poll_unrecorded(future, cx);
    };
    let frame: &FrameCell = frame.get();
    let poll = if frame.adopted {
        // SAFETY: the frame is on the task's stack until its call leaves.
        let cell = unsafe { task.get() };
        poll_adopted(&cell, frame, || future.poll(cx))
    } else {
        let _restore = context::enter(task.0.as_ptr(), frame);
        future.poll(cx)
    };
    if poll.is_ready()
        && let Link::Entered(Some(entered)) = std::mem::replace(link, Link::Entered(None))
    {
        leave(entered, Some(clock::now()));
    }
    poll
}

/// A traced call ends: completed at `completed_at`, or dropped before
/// (`None`). Its frame retires (reporting the synchronous stretch before a
/// completion, if long), and a task it adopted ends with it.
fn leave(Entered { task, frame }: Entered, completed_at: Option<u64>) {
    // SAFETY: the frame is on the task's stack until it retires, below,
    // and this is the last use of `cell` before.
    let cell = unsafe { task.get() };
    record_exit(&cell, &frame);
    if let Some(now) = completed_at
        && let Some(stretch) = frame.stretch_before_end(now, config::blocking_poll_ns())
    {
        cell.report_stretch(stretch, now);
    }
    if frame.get().adopted {
        // The task ends with its root call, and a counted reference keeps
        // its record meanwhile: the end reaps the frame, and lets go of
        // the stack's.
        let cell = Arc::clone(&cell);
        frame.retire();
        cell.finish(if completed_at.is_some() {
            Phase::Done
        } else {
            Phase::Aborted
        });
    } else if context::polling() == task.0.as_ptr().cast_const() && !cell.phase().0.is_finished() {
        // In a poll of its own task, which has not ended: the task's next
        // traced call, or its end, reaps the frame (not a poll of a call
        // moved out of its task, which the task may end meanwhile on
        // another thread: `context::polling`).
        frame.retire();
    } else {
        retire_elsewhere(task, frame);
    }
}

/// Retires the frame of a call that ends outside a poll of its task (its
/// future moved to another task, or dropped after its task ended): nothing
/// may reap it later, so it is reaped now, under the task's guard, and the
/// stack's reference to the task's record goes if it was the last frame.
#[cold]
fn retire_elsewhere(task: TaskPtr, frame: FrameHandle) {
    let emptied = {
        // SAFETY: the frame is on the task's stack until it retires, inside
        // this block, and the stack is reaped under the guard the block
        // holds: the record lives until the block ends.
        let cell = unsafe { task.get() };
        frame.retire_and_reap(&cell)
    };
    if emptied {
        // SAFETY: the stack held a reference and was just emptied; nothing
        // touches the record after.
        unsafe { TaskCell::release_for_stack(task.0.as_ptr()) };
    }
}

fn enter(info: &'static FnInfo, owner: crate::task::OwnerName) -> Option<Entered> {
    // Inspection is on: `Traced::poll` checked before calling.
    let current = context::get();
    let now = clock::now();
    if current.task.is_null() {
        // Named with its arguments when the body hands them over.
        let name = info
            .args
            .is_empty()
            .then(|| format!("{}()", crate::site::qualified(info.name, owner())).into());
        let cell = TaskCell::register(TaskKind::Adopted, name, Location::caller());
        if let Some(host) = HOST_TASK_ID.get().and_then(|id| id()) {
            cell.with_detail(|detail| detail.rare_mut().host = Some(host.into()));
        }
        let frame = FrameHandle::enter(info, owner, &cell, Place::AdoptedRoot, now);
        if info.args.is_empty() {
            record_enter(&cell, frame.get());
        }
        // Kept by the registry and by its stack, which the frame is on.
        let task = TaskPtr(NonNull::from(&*cell));
        return Some(Entered { task, frame });
    }
    // SAFETY: a non-null current task was set by the wrapper polling it,
    // which holds its record for the whole poll (see `context`).
    let cell = unsafe { &*current.task };
    // SAFETY: a non-null current frame is the frame of the traced call
    // polling us, alive for the whole poll (see `context`).
    let at = unsafe { current.frame.as_ref() }.map_or(Place::Root, Place::Under);
    let frame = FrameHandle::enter(info, owner, cell, at, now);
    // A call with arguments is recorded once its body hands them over.
    if info.args.is_empty() {
        record_enter(cell, frame.get());
    }
    // From here the stack, which the frame is on, keeps the record.
    let task = TaskPtr(NonNull::from(cell));
    Some(Entered { task, frame })
}

/// The first thing the body of a traced call that records arguments does:
/// hands them to its frame, as `values` (see [`ArgValue`]) if it has them,
/// else as `text` (see [`format_args_list`]). Neither runs when the call is
/// not recorded. What `#[trace]` expands to; not an API.
#[doc(hidden)]
#[inline]
pub fn record_args(values: impl FnOnce() -> Option<ArgValues>, text: impl FnOnce() -> Arc<str>) {
    let current = context::get();
    if current.frame.is_null() || current.task.is_null() {
        return;
    }
    // SAFETY: both were set by the `Traced` polling this body, which holds
    // the task and owns the frame for the whole poll (see `context`).
    let (task, frame) = unsafe { (&*current.task, &*current.frame) };
    let args = match values() {
        Some(values) => Args::Values(values),
        None => Args::Text(text()),
    };
    // SAFETY: this thread polls the frame's call: it is the current frame.
    if unsafe { frame.args.set(args) } {
        record_enter(task, frame);
        if frame.adopted {
            name_adopted(task, frame);
        }
    }
}

/// An adopted task is named by its root call, arguments and all.
#[cold]
fn name_adopted(task: &TaskCell, frame: &FrameCell) {
    let function = crate::site::qualified(frame.info.name, (frame.owner)());
    let args = frame.args.text(frame.info).unwrap_or_default();
    task.with_detail(|detail| detail.name = Some(format!("{function}({args})").into()));
}

fn record_enter(cell: &TaskCell, frame: &FrameCell) {
    if record::on() {
        record::emit(record::Raw::Enter {
            task: cell.id().as_u64(),
            frame: frame.id,
            parent: frame.parent,
            info: frame.info,
            args: frame.args.text(frame.info),
            at: record::now(),
        });
    }
}

fn record_exit(cell: &TaskCell, frame: &FrameHandle) {
    if record::on() {
        record::emit(record::Raw::Exit {
            task: cell.id().as_u64(),
            frame: frame.get().id,
            at: record::now(),
        });
    }
}

/// Turns the operand of a traced fn's `.await` number `INDEX` into an
/// [`AwaitPoint`].
pub fn await_point<const INDEX: u16, F: IntoFuture>(future: F) -> AwaitPoint<F::IntoFuture, INDEX> {
    AwaitPoint {
        future: future.into_future(),
    }
}

/// One `.await` of a traced fn, number `INDEX` among the fn's own: records
/// when it starts, whether it completes at once, and how long it took. No
/// lock: it writes the atomics of its fn's frame.
///
/// It is exactly as big as the future it awaits. Where it is (not polled
/// yet, pending, paused at a breakpoint) is its frame's: a fn's own awaits
/// run one at a time, and the frame says which one is in progress. Outside
/// a frame (inspection off, or a call that was not entered) it only polls
/// its future.
#[derive(Debug)]
pub struct AwaitPoint<F, const INDEX: u16> {
    /// Pinned whenever the point is (structural pinning: no `Drop` moves
    /// it, and the point is `Unpin` only when it is).
    future: F,
}

impl<F: Future, const INDEX: u16> Future for AwaitPoint<F, INDEX> {
    type Output = F::Output;

    /// Outside a frame, only a read of the current frame before the
    /// awaited future's poll; inside one, [`poll_in_frame`], out of line.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned (see the field): it is
        // never moved out of a pinned point.
        let future = unsafe { self.map_unchecked_mut(|point| &mut point.future) };
        let current = context::get();
        if current.frame.is_null() || current.task.is_null() {
            return future.poll(cx);
        }
        // SAFETY: both were set by the `Traced` polling this await's fn,
        // which holds the task and owns the frame for the whole poll (see
        // `context`).
        let (task, frame) = unsafe { (&*current.task, &*current.frame) };
        poll_in_frame(task, frame, INDEX, future, cx)
    }
}

/// A poll of await `index` of `frame`, a call of `task`.
#[inline(never)]
fn poll_in_frame<F: Future>(
    task: &TaskCell,
    frame: &FrameCell,
    index: u16,
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    match frame.await_state(index) {
        AwaitState::InProgress => {}
        AwaitState::NotStarted => return first_poll(task, frame, index, future, cx),
        AwaitState::Paused => {
            if crate::debug::still_paused(task.id(), cx.waker()) {
                return Poll::Pending;
            }
            // Let go: first polled now, in progress since it paused.
            frame.await_let_go();
        }
    }
    let poll = future.poll(cx);
    if poll.is_ready() {
        frame.await_completed(index, clock::now());
        record_await(task, frame, index, false);
    }
    poll
}

/// The first poll of `frame`'s await `index`: stops at a breakpoint if one
/// says so, else polls and records the start (or the whole await, if it
/// completes at once) and the synchronous stretch before it.
#[inline]
fn first_poll<F: Future>(
    task: &TaskCell,
    frame: &FrameCell,
    index: u16,
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    if crate::debug::active() && crate::debug::check(task, frame, index, cx.waker()) {
        record_await(task, frame, index, true);
        return Poll::Pending;
    }
    let started = clock::now();
    let poll = future.poll(cx);
    let ready = poll.is_ready();
    if !ready {
        record_await(task, frame, index, true);
    }
    let threshold = config::blocking_poll_ns();
    if let Some(stretch) = frame.await_polled_first(index, started, ready, threshold) {
        task.report_stretch(stretch, started);
    }
    poll
}

/// Records the start or the end of an await that waits, when recording.
#[inline]
fn record_await(task: &TaskCell, frame: &FrameCell, index: u16, start: bool) {
    if !record::on() {
        return;
    }
    let (task, frame, at) = (task.id().as_u64(), frame.id, record::now());
    record::emit(if start {
        record::Raw::AwaitStart {
            task,
            frame,
            index,
            at,
        }
    } else {
        record::Raw::AwaitEnd {
            task,
            frame,
            index,
            at,
        }
    });
}

#[cfg(test)]
mod size {
    use std::future::Ready;
    use std::mem::size_of;

    #[test]
    fn a_traced_call_adds_three_words_and_an_await_nothing() {
        // The tag of `Link` sits in the niche of its `info`, the entered
        // frame beside it; a method's type is a type, not a field. The
        // body's future comes on top.
        assert_eq!(size_of::<super::Link>(), 24);
        assert_eq!(
            size_of::<super::Traced<Ready<u64>>>(),
            24 + size_of::<Ready<u64>>()
        );
        assert_eq!(
            size_of::<super::Traced<Ready<u64>, super::OwnerOf<str>>>(),
            24 + size_of::<Ready<u64>>()
        );
        // An await's state is its frame's.
        assert_eq!(
            size_of::<super::AwaitPoint<Ready<u64>, 3>>(),
            size_of::<Ready<u64>>()
        );
    }
}

#[cfg(test)]
mod finished {
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use super::{NoOwner, OwnerOf, Traced};
    use crate::task::detail::tests::ROOT;
    use crate::{Inspected, TaskKind};

    #[test]
    fn a_finished_task_keeps_the_fn_that_names_it_and_lets_its_detail_go() {
        let body = Traced::<_, NoOwner>::new(&ROOT, async {});
        let task = Inspected::new(body, TaskKind::Spawned, None);
        let cell = Arc::clone(task.cell().expect("inspection is on"));
        futures::executor::block_on(task);
        assert!(cell.phase().0.is_finished());
        assert!(
            cell.read_detail(|detail| detail.is_none()),
            "the detail was kept"
        );
        assert_eq!(cell.name(), "named_by_me");
    }

    #[test]
    fn an_adopted_task_starts_where_its_root_fn_is() {
        // A traced future polled outside any task, parked (a live task is
        // never evicted by other tests' spawns).
        let mut adopted = pin!(Traced::<_, NoOwner>::new(
            &ROOT,
            std::future::pending::<()>()
        ));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(adopted.as_mut().poll(&mut cx), Poll::Pending);
        let snapshot = crate::snapshot();
        let info = snapshot
            .tasks()
            .iter()
            .rev()
            .find(|t| t.kind == TaskKind::Adopted && t.name == "named_by_me()")
            .expect("the adopted task is live");
        assert_eq!((&*info.location.file, info.location.line), ("root.rs", 7));
    }

    #[test]
    fn a_method_s_finished_task_keeps_its_detail_for_its_type() {
        // The slot has no room for a method's type, which names it too.
        let body = Traced::<_, OwnerOf<str>>::new(&ROOT, async {});
        let task = Inspected::new(body, TaskKind::Spawned, None);
        let cell = Arc::clone(task.cell().expect("inspection is on"));
        futures::executor::block_on(task);
        assert!(cell.read_detail(|detail| detail.is_some()));
        assert_eq!(cell.name(), "str::named_by_me");
    }
}

#[cfg(test)]
mod stack {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use super::{NoOwner, Traced};
    use crate::task::detail::tests::ROOT;
    use crate::{Inspected, TaskKind};

    type Call = Pin<Box<dyn Future<Output = ()> + Send>>;

    /// A task that enters a traced call, hands the call's future out
    /// through `out` while it is parked, and then stays pending or ends.
    fn handing_out(out: Arc<Mutex<Option<Call>>>, then_end: bool) -> Inspected<impl Future> {
        let body = async move {
            let mut call: Call = Box::pin(Traced::<_, NoOwner>::new(
                &ROOT,
                std::future::pending::<()>(),
            ));
            enter(&mut call).await;
            *out.lock().unwrap() = Some(call);
            if !then_end {
                std::future::pending::<()>().await;
            }
        };
        Inspected::new(body, TaskKind::Spawned, None)
    }

    /// Polls `call` once, inside the task polling this: it enters its
    /// frame and parks.
    async fn enter(call: &mut Call) {
        std::future::poll_fn(|cx| {
            assert!(call.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
    }

    fn live_frames(cell: &crate::task::TaskCell) -> usize {
        cell.read_detail(|detail| detail.map_or(0, |d| d.frames.len()))
    }

    #[test]
    fn a_call_that_ends_outside_its_task_lets_the_stack_s_hold_go() {
        let out = Arc::new(Mutex::new(None));
        let mut task = Box::pin(handing_out(out.clone(), false));
        let cell = Arc::clone(task.cell().expect("inspection is on"));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(task.as_mut().poll(&mut cx).is_pending());
        let call = out.lock().unwrap().take().expect("handed out");
        assert_eq!(live_frames(&cell), 1);
        // Ours, the task's, the registry's (a live task stays), the stack's.
        let held = Arc::strong_count(&cell);
        drop(call);
        assert_eq!(live_frames(&cell), 0, "reaped where it ended");
        assert_eq!(Arc::strong_count(&cell), held - 1);
    }

    #[test]
    fn a_call_that_outlives_its_task_keeps_the_record_until_it_ends() {
        let out = Arc::new(Mutex::new(None));
        let task = handing_out(out.clone(), true);
        let cell = Arc::downgrade(task.cell().expect("inspection is on"));
        futures::executor::block_on(task);
        let call = out.lock().unwrap().take().expect("handed out");
        // The registry may let go of a finished task at any time (other
        // tests spawn); the stack keeps it while the call lives.
        let record = cell.upgrade().expect("kept by the call's stack");
        assert!(record.phase().0.is_finished());
        assert_eq!(live_frames(&record), 1);
        drop(record);
        drop(call);
        if let Some(record) = cell.upgrade() {
            assert_eq!(live_frames(&record), 0, "reaped where it ended");
        }
    }

    #[test]
    fn a_call_that_ends_under_a_call_moved_to_another_task_is_reaped_at_once() {
        // The outer call is entered in the first task, its inner call too;
        // then the outer one is polled from another task, where the inner
        // one ends: under the outer call the current task is the first
        // one, but it is not the task polled, which may end meanwhile on
        // another thread: the frame is reaped where it ends.
        let out = Arc::new(Mutex::new(None::<Call>));
        let handed = out.clone();
        let mut first = Box::pin(Inspected::new(
            async move {
                let mut outer: Call = Box::pin(Traced::<_, NoOwner>::new(&ROOT, async {
                    let mut yielded = false;
                    let inner = Traced::<_, NoOwner>::new(
                        &ROOT,
                        std::future::poll_fn(move |cx| {
                            if yielded {
                                return Poll::Ready(());
                            }
                            yielded = true;
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }),
                    );
                    inner.await;
                    std::future::pending::<()>().await;
                }));
                enter(&mut outer).await;
                *handed.lock().unwrap() = Some(outer);
                std::future::pending::<()>().await;
            },
            TaskKind::Spawned,
            None,
        ));
        let cell = Arc::clone(first.cell().expect("inspection is on"));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert_eq!(live_frames(&cell), 2, "the outer call and the inner one");
        let mut outer = out.lock().unwrap().take().expect("handed out");
        let mut second = Box::pin(Inspected::new(
            std::future::poll_fn(move |cx| {
                assert!(outer.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            }),
            TaskKind::Spawned,
            None,
        ));
        assert!(second.as_mut().poll(&mut cx).is_ready());
        assert_eq!(live_frames(&cell), 1, "the inner call's frame, reaped");
    }

    #[test]
    fn a_task_whose_calls_end_in_it_lets_the_stack_s_hold_go_at_its_end() {
        let body = async {
            for _ in 0..3 {
                Traced::<_, NoOwner>::new(&ROOT, async {}).await;
            }
            // Parked in one, then dropped with the task.
            let mut call: Call = Box::pin(Traced::<_, NoOwner>::new(
                &ROOT,
                std::future::pending::<()>(),
            ));
            enter(&mut call).await;
        };
        let task = Inspected::new(body, TaskKind::Spawned, None);
        let cell = Arc::clone(task.cell().expect("inspection is on"));
        futures::executor::block_on(task);
        assert_eq!(live_frames(&cell), 0);
        // Ours and, unless it let go already, the registry's.
        assert!(Arc::strong_count(&cell) <= 2, "the stack still holds it");
    }
}
