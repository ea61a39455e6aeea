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

use std::fmt::{self, Debug, Write};
use std::future::{Future, IntoFuture};
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::task::context;
use crate::task::{FrameCell, FrameHandle, Phase, TaskCell, TaskKind, poll_adopted};
use crate::{clock, config, record};

pub use crate::site::{AwaitInfo, FnInfo};

/// At most this many bytes of argument text are kept per traced call.
pub const MAX_ARGS_TEXT: usize = 256;

/// At most this many bytes of one argument's value: a large value (a
/// whole shared state) leaves room for the arguments after it.
pub const MAX_ARG_TEXT: usize = 80;

/// Formats a traced call's arguments as `name=value, name=value`, each
/// value cut at [`MAX_ARG_TEXT`] bytes and the whole at [`MAX_ARGS_TEXT`]
/// (the Debug impl stops early rather than formatting a huge value in
/// full). One allocation: the text is built on the stack.
///
/// ```
/// use async_inspect_core::trace::format_args_list;
///
/// let text = format_args_list(&[("user_id", &12345), ("name", &"ada")]);
/// assert_eq!(&*text, r#"user_id=12345, name="ada""#);
///
/// // A huge first argument does not hide the next one.
/// let db = vec![0_u8; 1000];
/// let text = format_args_list(&[("db", &db), ("key", &"k")]);
/// assert!(text.starts_with("db=[0, 0,") && text.ends_with(r#"…, key="k""#), "{text}");
/// ```
pub fn format_args_list(args: &[(&str, &dyn Debug)]) -> Arc<str> {
    bounded(|out| {
        for (i, (name, value)) in args.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(out, "{separator}{name}=")?;
            // This value alone stops at its own bound, marked with `…`,
            // and the next argument goes on.
            out.value_limit = Some(out.len + MAX_ARG_TEXT);
            let cut = write!(out, "{value:?}").is_err() && !out.truncated;
            out.value_limit = None;
            if cut {
                out.write_str("…")?;
            }
        }
        Ok(())
    })
}

/// Formats one value's Debug text, cut as [`format_args_list`] cuts.
///
/// ```
/// assert_eq!(&*async_inspect_core::trace::format_value(&"hi"), r#""hi""#);
/// ```
pub fn format_value(value: &dyn Debug) -> Arc<str> {
    bounded(|out| write!(out, "{value:?}"))
}

fn bounded(write: impl FnOnce(&mut Bounded) -> fmt::Result) -> Arc<str> {
    let mut out = Bounded {
        bytes: [0; MAX_ARGS_TEXT + '…'.len_utf8()],
        len: 0,
        truncated: false,
        value_limit: None,
    };
    // An error only means the text was cut.
    let _ = write(&mut out);
    if out.truncated {
        out.push('…'.encode_utf8(&mut [0; 4]));
    }
    // Only whole `str`s and char-boundary prefixes of them were copied in.
    Arc::from(std::str::from_utf8(&out.bytes[..out.len]).unwrap_or("…"))
}

struct Bounded {
    bytes: [u8; MAX_ARGS_TEXT + 3],
    len: usize,
    /// The whole text reached [`MAX_ARGS_TEXT`].
    truncated: bool,
    /// Where the value being written must stop, if it has a bound of its
    /// own; reaching it is not `truncated`.
    value_limit: Option<usize>,
}

impl Bounded {
    fn push(&mut self, s: &str) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
    }
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_ARGS_TEXT.saturating_sub(self.len);
        // A value's own bound, if nearer; its `…` still fits the whole.
        let value_room = self
            .value_limit
            .map(|limit| limit.saturating_sub(self.len))
            .filter(|&r| r < room.saturating_sub('…'.len_utf8()));
        let room = value_room.unwrap_or(room);
        if s.len() <= room {
            self.push(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.push(&s[..cut]);
        if value_room.is_none() {
            self.truncated = true;
        }
        Err(fmt::Error)
    }
}

/// How an adopted task learns the id its runtime gave the task it runs in
/// (set by the runtime's adapter; core names no runtime).
static HOST_TASK_ID: std::sync::OnceLock<fn() -> Option<String>> = std::sync::OnceLock::new();

/// Tells adopted tasks how to find the runtime's id of the task they run
/// in (tokio's `task::try_id()`), for the report. The first call wins.
pub fn set_host_task_id(f: fn() -> Option<String>) {
    let _ = HOST_TASK_ID.set(f);
}

/// Where a traced call is: not polled yet (what its frame will record),
/// or polled, with the frame it entered (none when not recorded). Two
/// variants, so that the tag fits in the niche of `info`: a `Traced` is
/// 32 bytes bigger than its body, in every traced call of every program
/// built with the `inspect` feature, whether recording is on or off.
enum Link {
    NotEntered {
        info: &'static FnInfo,
        args: Option<Arc<str>>,
        /// The `Self` type of a method (`type_name`).
        owner: Option<fn() -> &'static str>,
    },
    Entered(Option<Entered>),
}

/// A traced call's frame, entered in `cell`'s task.
struct Entered {
    cell: Arc<TaskCell>,
    frame: FrameHandle,
    /// The call is its task's root: the task is adopted (see the module).
    adopted: bool,
}

pin_project! {
    /// The body of a traced call: registers its frame on first poll, makes it
    /// the current frame during each poll, and removes it when it completes or
    /// is dropped (a `select!` branch that lost, a cancelled task).
    pub struct Traced<F> {
        #[pin]
        future: F,
        link: Link,
    }

    impl<F> PinnedDrop for Traced<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Link::Entered(Some(Entered { cell, frame, adopted })) =
                std::mem::replace(this.link, Link::Entered(None))
            {
                record_exit(&cell, &frame);
                let _ = frame.retire(None, u64::MAX);
                if adopted {
                    cell.finish(Phase::Aborted);
                }
            }
        }
    }
}

impl<F> Debug for Traced<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = match &self.link {
            Link::NotEntered { info, .. } => Some(*info),
            Link::Entered(Some(entered)) => Some(entered.frame.get().info),
            Link::Entered(None) => None,
        };
        f.debug_struct("Traced")
            .field("function", &info.map(|info| info.name))
            .finish_non_exhaustive()
    }
}

impl<F: Future> Traced<F> {
    /// Wraps the body of the traced fn `info`, called with `args` (formatted
    /// by [`format_args_list`], or `None` when inspection is off).
    pub fn new(info: &'static FnInfo, args: Option<Arc<str>>, future: F) -> Self {
        Self {
            future,
            link: Link::NotEntered {
                info,
                args,
                owner: None,
            },
        }
    }

    /// The call is a method of the type `owner` names (its
    /// `std::any::type_name`, called when the frame is entered): the frame
    /// is named `Type::method`.
    pub fn of_type(mut self, owner: Option<fn() -> &'static str>) -> Self {
        if let Link::NotEntered { owner: slot, .. } = &mut self.link {
            *slot = owner;
        }
        self
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Link::NotEntered { info, args, owner } = this.link {
            let (info, args, owner) = (*info, args.take(), owner.map(|name| name()));
            *this.link = Link::Entered(enter(info, args, owner));
        }
        let Link::Entered(Some(Entered {
            cell,
            frame,
            adopted,
        })) = &*this.link
        else {
            // Not ours to record; still hide the enclosing frame so that our
            // awaits are not counted as its steps.
            let current = context::get();
            if current.frame.is_null() {
                return this.future.poll(cx);
            }
            let _restore = context::enter(current.task, std::ptr::null());
            return this.future.poll(cx);
        };
        let frame: *const FrameCell = frame.get();
        let poll = if *adopted {
            poll_adopted(cell, frame, || this.future.poll(cx))
        } else {
            let _restore = context::enter(Arc::as_ptr(cell), frame);
            this.future.poll(cx)
        };
        if poll.is_ready()
            && let Link::Entered(Some(Entered {
                cell,
                frame,
                adopted,
            })) = std::mem::replace(this.link, Link::Entered(None))
        {
            let now = clock::now();
            record_exit(&cell, &frame);
            if let Some(stretch) = frame.retire(Some(now), config::blocking_poll_ns()) {
                cell.report_stretch(stretch, now);
            }
            if adopted {
                cell.finish(Phase::Done);
            }
        }
        poll
    }
}

fn enter(
    info: &'static FnInfo,
    args: Option<Arc<str>>,
    owner: Option<&'static str>,
) -> Option<Entered> {
    if !config::enabled() {
        return None;
    }
    let current = context::get();
    let now = clock::now();
    if current.task.is_null() {
        let function = crate::site::qualified(info.name, owner);
        let name = match &args {
            Some(args) => format!("{function}({args})"),
            None => format!("{function}()"),
        };
        let cell = TaskCell::register(TaskKind::Adopted, Some(name.into()), Location::caller());
        if let Some(host) = HOST_TASK_ID.get().and_then(|id| id()) {
            cell.with_detail(|detail| detail.host = Some(host.into()));
        }
        let frame = FrameHandle::enter(info, owner, &cell, None, args, now);
        record_enter(&cell, &frame);
        return Some(Entered {
            cell,
            frame,
            adopted: true,
        });
    }
    let cell = context::current_cell()?;
    // SAFETY: a non-null current frame is the frame of the traced call
    // polling us, alive for the whole poll (see `context`).
    let parent = unsafe { current.frame.as_ref() };
    let frame = FrameHandle::enter(info, owner, &cell, parent, args, now);
    record_enter(&cell, &frame);
    Some(Entered {
        cell,
        frame,
        adopted: false,
    })
}

fn record_enter(cell: &TaskCell, frame: &FrameHandle) {
    if record::on() {
        let frame = frame.get();
        record::emit(record::Raw::Enter {
            task: cell.id().as_u64(),
            frame: frame.id,
            parent: frame.parent,
            info: frame.info,
            args: frame.args.clone(),
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

/// Turns the operand of a traced fn's `.await` into an [`AwaitPoint`].
pub fn await_point<F: IntoFuture>(index: u16, future: F) -> AwaitPoint<F::IntoFuture> {
    AwaitPoint {
        future: future.into_future(),
        index,
        state: AwaitState::NotPolled,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AwaitState {
    NotPolled,
    /// Paused at a breakpoint before its first poll (see [`debug`](crate::debug)).
    Paused,
    /// Let go from a breakpoint: first polled now, without stopping again.
    Resumed,
    Pending,
    Untracked,
}

pin_project! {
    /// One `.await` of a traced fn: records when it starts, whether it
    /// completes at once, and how long it took. No lock: it writes the
    /// atomics of its fn's frame.
    #[derive(Debug)]
    pub struct AwaitPoint<F> {
        #[pin]
        future: F,
        index: u16,
        state: AwaitState,
    }
}

impl<F: Future> Future for AwaitPoint<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if *this.state == AwaitState::Paused {
            let task = context::with_task(|task, _| task.id());
            if task.is_some_and(|task| crate::debug::still_paused(task, cx.waker())) {
                return Poll::Pending;
            }
            *this.state = AwaitState::Resumed;
        }
        match *this.state {
            AwaitState::Untracked => this.future.poll(cx),
            // The frame has had this await in progress since it paused.
            AwaitState::Resumed => {
                let poll = this.future.poll(cx);
                if poll.is_ready() {
                    let index = *this.index;
                    context::with_task(|_, frame| {
                        if let Some(frame) = frame {
                            frame.await_completed(index, clock::now());
                        }
                    });
                    *this.state = AwaitState::Untracked;
                } else {
                    *this.state = AwaitState::Pending;
                }
                poll
            }
            AwaitState::NotPolled | AwaitState::Paused => {
                if *this.state == AwaitState::NotPolled && crate::debug::active() {
                    let index = *this.index;
                    let paused = context::with_task(|task, frame| {
                        frame.is_some_and(|f| crate::debug::check(task, f, index, cx.waker()))
                    });
                    if paused == Some(true) {
                        *this.state = AwaitState::Paused;
                        return Poll::Pending;
                    }
                }
                // Outside a traced call's frame (inspection off, or the
                // call was not entered), nothing is tracked: not even the
                // clock is read.
                if context::get().frame.is_null() {
                    *this.state = AwaitState::Untracked;
                    return this.future.poll(cx);
                }
                let started = clock::now();
                let poll = this.future.poll(cx);
                let index = *this.index;
                let ready = poll.is_ready();
                let tracked = context::with_task(|task, frame| {
                    let frame = frame?;
                    if !ready && record::on() {
                        record::emit(record::Raw::AwaitStart {
                            task: task.id().as_u64(),
                            frame: frame.id,
                            index,
                            at: record::now(),
                        });
                    }
                    let threshold = config::blocking_poll_ns();
                    if let Some(stretch) =
                        frame.await_polled_first(index, started, ready, threshold)
                    {
                        task.report_stretch(stretch, started);
                    }
                    Some(())
                })
                .flatten();
                *this.state = match tracked {
                    Some(()) if !ready => AwaitState::Pending,
                    _ => AwaitState::Untracked,
                };
                poll
            }
            AwaitState::Pending => {
                let poll = this.future.poll(cx);
                if poll.is_ready() {
                    let index = *this.index;
                    context::with_task(|task, frame| {
                        if let Some(frame) = frame {
                            frame.await_completed(index, clock::now());
                            if record::on() {
                                record::emit(record::Raw::AwaitEnd {
                                    task: task.id().as_u64(),
                                    frame: frame.id,
                                    index,
                                    at: record::now(),
                                });
                            }
                        }
                    });
                    *this.state = AwaitState::Untracked;
                }
                poll
            }
        }
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn a_traced_call_adds_four_words() {
        // The tag of `Link` sits in the niche of its `info`; the body's
        // future comes on top.
        assert_eq!(std::mem::size_of::<super::Link>(), 32);
        assert_eq!(
            std::mem::size_of::<super::Traced<std::future::Ready<u64>>>(),
            32 + std::mem::size_of::<std::future::Ready<u64>>()
        );
    }
}
