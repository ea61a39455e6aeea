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
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::inspected::panic_message;
use crate::task::{FrameId, Phase, PollScope, TaskCell, TaskKind};
use crate::{clock, config, context};

/// A traced function, as the `#[trace]` macro describes it in a `static`.
#[derive(Debug)]
pub struct FnInfo {
    /// The function's name.
    pub name: &'static str,
    /// `module_path!()` of the function.
    pub module_path: &'static str,
    /// The source file of the function and of its awaits.
    pub file: &'static str,
    /// Line of the function's name.
    pub line: u32,
    /// Column of the function's name.
    pub column: u32,
    /// The function's own `.await`s, in source order.
    pub awaits: &'static [AwaitInfo],
}

/// One `.await` of a traced function.
#[derive(Debug)]
pub struct AwaitInfo {
    /// The awaited expression as written, e.g. `fetch_posts(user.id)`.
    pub expr: &'static str,
    /// Line of the `.await`.
    pub line: u32,
    /// Column of the `.await`.
    pub column: u32,
}

/// At most this many bytes of argument text are kept per traced call.
pub const MAX_ARGS_TEXT: usize = 256;

/// Formats a traced call's arguments as `name=value, name=value`, cut at
/// [`MAX_ARGS_TEXT`] bytes (the Debug impl stops early rather than
/// formatting a huge value in full).
///
/// ```
/// use async_inspect_core::trace::format_args_list;
///
/// let text = format_args_list(&[("user_id", &12345), ("name", &"ada")]);
/// assert_eq!(&*text, r#"user_id=12345, name="ada""#);
/// ```
pub fn format_args_list(args: &[(&str, &dyn Debug)]) -> Box<str> {
    bounded(|out| {
        for (i, (name, value)) in args.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(out, "{separator}{name}={value:?}")?;
        }
        Ok(())
    })
}

/// Formats one value's Debug text, cut as [`format_args_list`] cuts.
///
/// ```
/// assert_eq!(&*async_inspect_core::trace::format_value(&"hi"), r#""hi""#);
/// ```
pub fn format_value(value: &dyn Debug) -> Box<str> {
    bounded(|out| write!(out, "{value:?}"))
}

fn bounded(write: impl FnOnce(&mut Bounded) -> fmt::Result) -> Box<str> {
    let mut out = Bounded {
        text: String::new(),
        truncated: false,
    };
    // An error only means the text was cut.
    let _ = write(&mut out);
    if out.truncated {
        out.text.push('…');
    }
    out.text.into_boxed_str()
}

struct Bounded {
    text: String,
    truncated: bool,
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_ARGS_TEXT.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.truncated = true;
        Err(fmt::Error)
    }
}

enum FrameState {
    NotEntered {
        args: Option<Box<str>>,
    },
    Entered {
        cell: Arc<TaskCell>,
        frame: FrameId,
        adopted: bool,
    },
    Untracked,
}

pin_project! {
    /// The body of a traced call: registers its frame on first poll, makes it
    /// the current frame during each poll, and removes it when it completes or
    /// is dropped (a `select!` branch that lost, a cancelled task).
    pub struct Traced<F> {
        #[pin]
        future: F,
        info: &'static FnInfo,
        state: FrameState,
    }

    impl<F> PinnedDrop for Traced<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let FrameState::Entered { cell, frame, adopted } =
                std::mem::replace(this.state, FrameState::Untracked)
            {
                cell.exit_frame(frame, false);
                if adopted {
                    cell.finish(Phase::Aborted);
                }
            }
        }
    }
}

impl<F> Debug for Traced<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traced")
            .field("function", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Traced<F> {
    /// Wraps the body of the traced fn `info`, called with `args` (formatted
    /// by [`format_args_list`], or `None` when inspection is off).
    pub fn new(info: &'static FnInfo, args: Option<Box<str>>, future: F) -> Self {
        Self {
            future,
            info,
            state: FrameState::NotEntered { args },
        }
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let FrameState::NotEntered { args } = this.state {
            *this.state = enter(this.info, args.take());
        }
        let FrameState::Entered {
            cell,
            frame,
            adopted,
        } = &*this.state
        else {
            // Not ours to record; still hide the enclosing frame so that our
            // awaits are not counted as its steps.
            let current = context::get();
            if current.task.is_null() {
                return this.future.poll(cx);
            }
            let _restore = context::enter(current.task, None);
            return this.future.poll(cx);
        };
        let frame = *frame;
        let poll = if *adopted {
            let scope = PollScope::begin(cell, Some(frame));
            match catch_unwind(AssertUnwindSafe(|| this.future.poll(cx))) {
                Ok(poll) => {
                    scope.end(poll.is_ready());
                    poll
                }
                Err(payload) => {
                    drop(scope);
                    cell.set_panic(panic_message(payload.as_ref()));
                    cell.finish(Phase::Panicked);
                    *this.state = FrameState::Untracked;
                    resume_unwind(payload)
                }
            }
        } else {
            let _restore = context::enter(Arc::as_ptr(cell), Some(frame));
            this.future.poll(cx)
        };
        if poll.is_ready()
            && let FrameState::Entered { cell, adopted, .. } =
                std::mem::replace(this.state, FrameState::Untracked)
        {
            cell.exit_frame(frame, true);
            if adopted {
                cell.finish(Phase::Done);
            }
        }
        poll
    }
}

fn enter(info: &'static FnInfo, args: Option<Box<str>>) -> FrameState {
    if !config::enabled() {
        return FrameState::Untracked;
    }
    let current = context::get();
    if current.task.is_null() {
        let name = match &args {
            Some(args) => format!("{}({args})", info.name),
            None => format!("{}()", info.name),
        };
        let location = Location::caller();
        let cell = TaskCell::register(TaskKind::Adopted, Some(name.into()), location);
        let frame = cell.enter_frame(None, info, args);
        return FrameState::Entered {
            cell,
            frame,
            adopted: true,
        };
    }
    // SAFETY: a non-null current task was set from an `Arc<TaskCell>` that
    // the wrapper polling us holds for the whole poll (see `context`), so the
    // pointee is alive and one more strong count on it is sound.
    let cell = unsafe {
        Arc::increment_strong_count(current.task);
        Arc::from_raw(current.task)
    };
    let frame = cell.enter_frame(current.frame, info, args);
    FrameState::Entered {
        cell,
        frame,
        adopted: false,
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

#[derive(Clone, Copy, Debug)]
enum AwaitState {
    NotPolled,
    Pending(FrameId),
    Untracked,
}

pin_project! {
    /// One `.await` of a traced fn: records when it starts, whether it
    /// completes at once, and how long it took.
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
        match *this.state {
            AwaitState::Untracked => this.future.poll(cx),
            AwaitState::NotPolled => {
                let started = clock::now();
                let poll = this.future.poll(cx);
                let index = *this.index;
                let ready = poll.is_ready();
                *this.state = context::with_task(|task, frame| {
                    let frame = frame?;
                    task.await_polled_first(frame, index, started, ready);
                    (!ready).then_some(AwaitState::Pending(frame))
                })
                .flatten()
                .unwrap_or(AwaitState::Untracked);
                poll
            }
            AwaitState::Pending(frame) => {
                let poll = this.future.poll(cx);
                if poll.is_ready() {
                    let index = *this.index;
                    context::with_task(|task, _| task.await_completed(frame, index));
                    *this.state = AwaitState::Untracked;
                }
                poll
            }
        }
    }
}
