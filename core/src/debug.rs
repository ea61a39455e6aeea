//! Breakpoints at await points: stop a task when it reaches a given
//! `.await` of a traced fn (before it polls the awaited future), look at
//! it, step it to its next await, let it go, while the rest of the program
//! runs. A test uses the same to pin an interleaving: hold task A at an
//! await until task B got somewhere.
//!
//! A paused task returns `Pending` from that await and shows, in every
//! view, as waiting "paused at breakpoint N"; it is never part of a
//! deadlock. Timers keep running while it is paused. Nothing is checked
//! on the hot path while no breakpoint is set but one relaxed load at each
//! traced await's first poll.
//!
//! ```
//! use async_inspect_core::debug::{Spec, break_at};
//!
//! let spec: Spec = "fetch_user#2".parse().unwrap();
//! assert_eq!(spec, Spec::Await { function: "fetch_user".into(), nth: 2 });
//! let breakpoint = break_at("src/api.rs:42").unwrap();
//! # drop(breakpoint);
//! assert!("point:".parse::<Spec>().is_err());
//! ```

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::TaskId;
use crate::task::{FrameCell, TaskCell, WaitKind};
use crate::trace::FnInfo;

/// Where a breakpoint stops.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Spec {
    /// Every await of the traced fn `function`.
    Function(String),
    /// The `nth` await (from 1) of the traced fn `function`: `name#2`.
    Await {
        /// The fn.
        function: String,
        /// Which of its awaits, from 1.
        nth: u16,
    },
    /// The await on `line` of a file whose path ends with `file`:
    /// `src/api.rs:42`.
    Line {
        /// The end of the file's path.
        file: String,
        /// The line.
        line: u32,
    },
}

/// Why a spec was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{spec}` is not a breakpoint: {why} (try fn_name, fn_name#2 or path/file.rs:LINE)")]
pub struct SpecError {
    spec: String,
    why: &'static str,
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function(name) => write!(f, "{name}"),
            Self::Await { function, nth } => write!(f, "{function}#{nth}"),
            Self::Line { file, line } => write!(f, "{file}:{line}"),
        }
    }
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, SpecError> {
        let error = |why| SpecError {
            spec: text.to_owned(),
            why,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(error("it is empty"));
        }
        if text.starts_with("point:") {
            return Err(error("breakpoints at inspect points are not supported yet"));
        }
        if let Some((file, line)) = text.rsplit_once(':') {
            let line = line
                .parse()
                .map_err(|_| error("the line is not a number"))?;
            if file.is_empty() {
                return Err(error("the file is missing"));
            }
            return Ok(Self::Line {
                file: file.to_owned(),
                line,
            });
        }
        if let Some((function, nth)) = text.split_once('#') {
            let nth: u16 = nth
                .parse()
                .map_err(|_| error("the await number is not a number"))?;
            if nth == 0 {
                return Err(error("awaits are counted from 1"));
            }
            return Ok(Self::Await {
                function: function.to_owned(),
                nth,
            });
        }
        if !text.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(error("a fn name has letters, digits and _ only"));
        }
        Ok(Self::Function(text.to_owned()))
    }
}

impl Spec {
    fn matches(&self, info: &FnInfo, index: u16) -> bool {
        match self {
            Self::Function(name) => info.name == name,
            Self::Await { function, nth } => info.name == function && index + 1 == *nth,
            Self::Line { file, line } => {
                info.file.ends_with(file.as_str())
                    && info
                        .awaits
                        .get(usize::from(index))
                        .is_some_and(|a| a.line == *line)
            }
        }
    }
}

/// Whether any breakpoint is set or any task steps: the one load a traced
/// await pays otherwise.
static ACTIVE: AtomicBool = AtomicBool::new(false);

struct Cell {
    id: u64,
    spec: Spec,
    /// Tasks paused here that no `hit()` took yet.
    arrived: VecDeque<TaskId>,
    /// `hit()`s waiting for a task to pause here.
    waiting: Vec<Waker>,
}

struct Paused {
    breakpoint: u64,
    waker: Waker,
    wait: u32,
    cell: Arc<TaskCell>,
}

#[derive(Default)]
struct Registry {
    breakpoints: Vec<Cell>,
    paused: HashMap<TaskId, Paused>,
    /// Tasks to pause at their next await, for the breakpoint that let
    /// them step.
    stepping: HashMap<TaskId, u64>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_active(registry: &Registry) {
    let active = !registry.breakpoints.is_empty() || !registry.stepping.is_empty();
    ACTIVE.store(active, Ordering::Release);
}

/// Sets a breakpoint at `spec` (see [`Spec`]); it stays while the handle
/// lives.
///
/// # Errors
///
/// When `spec` is not understood.
pub fn break_at(spec: &str) -> Result<Breakpoint, SpecError> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let spec: Spec = spec.parse()?;
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut guard = registry();
    let registry = guard.get_or_insert_with(Registry::default);
    registry.breakpoints.push(Cell {
        id,
        spec,
        arrived: VecDeque::new(),
        waiting: Vec::new(),
    });
    set_active(registry);
    Ok(Breakpoint { id })
}

/// A breakpoint. Dropping it removes it and lets go every task paused at
/// it.
#[derive(Debug)]
pub struct Breakpoint {
    id: u64,
}

impl Breakpoint {
    /// Its number, as reports name it ("paused at breakpoint 2").
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next task that pauses here (or steps to a pause after pausing
    /// here), as soon as one does. Any executor can await it.
    pub fn hit(&self) -> Hit<'_> {
        Hit { breakpoint: self }
    }

    /// A task that paused here and was not taken yet, if any: for a
    /// thread that is not an executor (the agent serving a debugger).
    pub fn try_hit(&self) -> Option<PausedTask> {
        let mut guard = registry();
        let cell = guard
            .as_mut()?
            .breakpoints
            .iter_mut()
            .find(|b| b.id == self.id)?;
        cell.arrived.pop_front().map(|task| PausedTask {
            task,
            breakpoint: self.id,
        })
    }

    /// What it stops at.
    pub fn spec(&self) -> Option<Spec> {
        let guard = registry();
        guard
            .as_ref()?
            .breakpoints
            .iter()
            .find(|b| b.id == self.id)
            .map(|b| b.spec.clone())
    }
}

impl Drop for Breakpoint {
    fn drop(&mut self) {
        let mut guard = registry();
        let Some(registry) = guard.as_mut() else {
            return;
        };
        registry.breakpoints.retain(|b| b.id != self.id);
        registry.stepping.retain(|_, b| *b != self.id);
        let stopped: Vec<TaskId> = registry
            .paused
            .iter()
            .filter(|(_, p)| p.breakpoint == self.id)
            .map(|(task, _)| *task)
            .collect();
        for task in stopped {
            registry.release(task);
        }
        set_active(registry);
    }
}

/// The future of [`Breakpoint::hit`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Hit<'a> {
    breakpoint: &'a Breakpoint,
}

impl Future for Hit<'_> {
    type Output = PausedTask;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PausedTask> {
        let id = self.breakpoint.id;
        let mut guard = registry();
        let Some(cell) = guard
            .as_mut()
            .and_then(|r| r.breakpoints.iter_mut().find(|b| b.id == id))
        else {
            return Poll::Pending;
        };
        match cell.arrived.pop_front() {
            Some(task) => Poll::Ready(PausedTask {
                task,
                breakpoint: id,
            }),
            None => {
                cell.waiting.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A task paused at a breakpoint.
#[derive(Debug)]
#[must_use = "the task stays paused until resumed, stepped, or its breakpoint is dropped"]
pub struct PausedTask {
    task: TaskId,
    breakpoint: u64,
}

impl PausedTask {
    /// The paused task.
    pub fn id(&self) -> TaskId {
        self.task
    }

    /// The breakpoint it paused at.
    pub fn breakpoint(&self) -> u64 {
        self.breakpoint
    }

    /// Lets it go on (it pauses again if it reaches the breakpoint again).
    pub fn resume(self) {
        release(self.task);
    }

    /// Lets it go on to its next await, in any frame, and pause there; the
    /// breakpoint's [`hit`](Breakpoint::hit) reports it again.
    pub fn step(self) {
        if let Some(registry) = registry().as_mut() {
            registry.stepping.insert(self.task, self.breakpoint);
            set_active(registry);
        }
        release(self.task);
    }
}

fn release(task: TaskId) {
    if let Some(registry) = registry().as_mut() {
        registry.release(task);
    }
}

impl Registry {
    /// Lets `task` go: its pause ends now (also if it is never polled
    /// again: an aborted task leaves nothing behind) and it is woken.
    fn release(&mut self, task: TaskId) {
        if let Some(paused) = self.paused.remove(&task) {
            paused.cell.end_wait(paused.wait);
            paused.waker.wake();
        }
    }
}

/// Whether an await should check for breakpoints: one relaxed load.
#[inline]
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// At the first poll of await `index` of `frame` in `task`: pauses the
/// task there if a breakpoint (or a step) says so. `true` if it paused.
#[cold]
pub(crate) fn check(task: &TaskCell, frame: &FrameCell, index: u16, waker: &Waker) -> bool {
    let mut guard = registry();
    let Some(registry) = guard.as_mut() else {
        return false;
    };
    let id = task.id();
    let breakpoint = match registry.stepping.remove(&id) {
        Some(breakpoint) => Some(breakpoint),
        None => registry
            .breakpoints
            .iter()
            .find(|b| b.spec.matches(frame.info, index))
            .map(|b| b.id),
    };
    set_active(registry);
    let Some(breakpoint) = breakpoint else {
        return false;
    };
    let Some(cell) = registry.breakpoints.iter_mut().find(|b| b.id == breakpoint) else {
        return false;
    };
    cell.arrived.push_back(id);
    for waker in cell.waiting.drain(..) {
        waker.wake();
    }
    let place = frame
        .info
        .awaits
        .get(usize::from(index))
        .map(|a| format!("{}:{}", frame.info.file, a.line))
        .unwrap_or_default();
    let text = format!(
        "paused at breakpoint {breakpoint} in {}() at {place}",
        frame.info.name
    );
    let Some(cell) = crate::context::current_cell() else {
        return false;
    };
    // The await shows in progress, paused, from now on.
    let _ = frame.await_polled_first(index, crate::clock::now(), false, u64::MAX);
    let wait = task.begin_wait(Some(frame), WaitKind::Other(text.into()));
    registry.paused.insert(
        id,
        Paused {
            breakpoint,
            waker: waker.clone(),
            wait,
            cell,
        },
    );
    true
}

/// A paused task polled again: `true` while it stays paused (its waker
/// is kept), `false` once it was let go.
#[cold]
pub(crate) fn still_paused(task: TaskId, waker: &Waker) -> bool {
    let mut guard = registry();
    let Some(registry) = guard.as_mut() else {
        return false;
    };
    let Some(paused) = registry.paused.get_mut(&task) else {
        // Let go.
        return false;
    };
    if !paused.waker.will_wake(waker) {
        paused.waker = waker.clone();
    }
    true
}
