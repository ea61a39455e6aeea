//! Breakpoints at await points: stop a task when it reaches a given
//! `.await` of a traced fn (before it polls the awaited future), look at
//! it, step it to its next await, let it go, while the rest of the program
//! runs. A test uses the same to pin an interleaving: hold task A at an
//! await until task B got somewhere.
//!
//! A breakpoint is a place ([`Spec`]) and optional [`Conditions`]:
//!
//! | text | stops |
//! |---|---|
//! | `fetch_user` | at every await of the traced fn `fetch_user` |
//! | `fetch_user#2` | at its second await |
//! | `src/api.rs:42` | at the await on that line |
//! | `point:order received` | at the first await after `inspect_point!("order received")` |
//! | `fetch_user if task=7` | only in task 7 |
//! | `fetch_user if name=worker` | only in tasks named `worker` |
//! | `fetch_user if args~id=42` | only where the fn's arguments, as `Debug` text, contain `id=42` |
//! | `fetch_user if after=3` | from its fourth hit on |
//!
//! Conditions combine (`fetch_user#2 if task=7 after=1`); a value with
//! spaces is quoted (`args~"name: \"ann\""`).
//!
//! A paused task returns `Pending` from that await and shows, in every
//! view, as waiting "paused at breakpoint N"; it is never part of a
//! deadlock, and a task waiting for a lock it holds says so. From a pause
//! it goes on with [`PausedTask::resume`], or steps ([`Step`]): to its
//! next await anywhere, in the same call or one it returns to, or after
//! the current call returns. **Timers keep running** while a task is
//! paused: a timeout around the paused await can elapse. Nothing is
//! checked on the hot path while no breakpoint is set but one relaxed load
//! at each traced await's first poll; while one is set (or a task steps),
//! each traced await's first poll takes the debugger's lock to match it.
//!
//! ```
//! use async_inspect_core::debug::{Conditions, Spec, break_at};
//!
//! let spec: Spec = "fetch_user#2".parse().unwrap();
//! assert_eq!(spec, Spec::Await { function: "fetch_user".into(), nth: 2 });
//! let breakpoint = break_at("src/api.rs:42 if after=2").unwrap();
//! assert_eq!(breakpoint.conditions().unwrap().after, 2);
//! # drop(breakpoint);
//! assert!("point:".parse::<Spec>().is_err());
//! assert!(break_at("fetch_user if colour=red").is_err());
//! ```

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use async_inspect_model::breakpoint::parse;
pub use async_inspect_model::breakpoint::{Conditions, Spec, SpecError, Step};

use crate::TaskId;
use crate::site::FnInfo;
use crate::task::{Detail, DetailSlot, FrameCell, TaskCell, WaitKind};

/// Whether the await `index` of the traced fn `info` is `spec`'s place.
fn place_matches(spec: &Spec, info: &FnInfo, index: u16) -> bool {
    match spec {
        Spec::Function(name) => info.name == name,
        Spec::Await { function, nth } => info.name == function && index + 1 == *nth,
        Spec::Line { file, line } => {
            info.file.ends_with(file.as_str())
                && info
                    .awaits
                    .get(usize::from(index))
                    .is_some_and(|a| a.line == *line)
        }
        // A point stops at the first await after it (see `at_point`).
        _ => false,
    }
}

/// Whether the task and frame meet the conditions but the hit count.
fn admits(
    conditions: &Conditions,
    task: &TaskCell,
    detail: &DetailSlot,
    frame: Option<&FrameCell>,
) -> bool {
    if conditions.task.is_some_and(|id| id != task.id().as_u64()) {
        return false;
    }
    if let Some(name) = &conditions.name
        && task.name_with(detail) != name.as_str()
    {
        return false;
    }
    if let Some(text) = &conditions.args {
        let args = frame.and_then(|f| f.args.text(f.info));
        let args = args.as_deref().unwrap_or("");
        if !args.contains(text.as_str()) {
            return false;
        }
    }
    true
}

/// Whether any breakpoint is set or any task steps: the one load a traced
/// await pays otherwise.
static ACTIVE: CachePadded<AtomicBool> = CachePadded::new(AtomicBool::new(false));

struct Cell {
    id: u64,
    spec: Spec,
    conditions: Conditions,
    /// Reaches of the place where the other conditions held.
    hits: u64,
    /// Tasks paused here that no `hit()` took yet.
    arrived: VecDeque<TaskId>,
    /// `hit()`s waiting for a task to pause here.
    waiting: Vec<Waker>,
}

impl Cell {
    /// Counts a hit if `task` in `frame` meets the conditions; `true` if it
    /// stops here.
    fn hit(&mut self, task: &TaskCell, detail: &DetailSlot, frame: Option<&FrameCell>) -> bool {
        if !admits(&self.conditions, task, detail, frame) {
            return false;
        }
        self.hits += 1;
        self.hits > self.conditions.after
    }
}

struct Paused {
    breakpoint: u64,
    waker: Waker,
    wait: u32,
    cell: Arc<TaskCell>,
    /// How deep in traced calls it paused (1: the task's root call).
    depth: usize,
}

/// A task on its way to the next pause.
struct Stepping {
    breakpoint: u64,
    how: Step,
    from: usize,
}

#[derive(Default)]
struct Registry {
    breakpoints: Vec<Cell>,
    paused: HashMap<TaskId, Paused>,
    stepping: HashMap<TaskId, Stepping>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_active(registry: &Registry) {
    let active = !registry.breakpoints.is_empty() || !registry.stepping.is_empty();
    ACTIVE.store(active, Ordering::Release);
}

/// Sets a breakpoint (a [`Spec`], then optionally `if` and
/// [`Conditions`]); it stays while the handle lives.
///
/// # Errors
///
/// When `spec` is not understood.
pub fn break_at(spec: &str) -> Result<Breakpoint, SpecError> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let (spec, conditions) = parse(spec)?;
    crate::task::on_finish(|task| {
        if active() {
            forget(task);
        }
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut guard = registry();
    let registry = guard.get_or_insert_with(Registry::default);
    registry.breakpoints.push(Cell {
        id,
        spec,
        conditions,
        hits: 0,
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
        self.with(|cell| cell.arrived.pop_front())
            .flatten()
            .map(|task| PausedTask {
                task,
                breakpoint: self.id,
            })
    }

    /// What it stops at.
    pub fn spec(&self) -> Option<Spec> {
        self.with(|cell| cell.spec.clone())
    }

    /// When it stops there.
    pub fn conditions(&self) -> Option<Conditions> {
        self.with(|cell| cell.conditions.clone())
    }

    /// How many times its place was reached with its other conditions
    /// met.
    pub fn hits(&self) -> u64 {
        self.with(|cell| cell.hits).unwrap_or(0)
    }

    /// Its spec and conditions as text, as [`break_at`] reads them.
    pub fn describe(&self) -> String {
        self.with(|cell| format!("{}{}", cell.spec, cell.conditions))
            .unwrap_or_default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Cell) -> R) -> Option<R> {
        let mut guard = registry();
        let cell = guard
            .as_mut()?
            .breakpoints
            .iter_mut()
            .find(|b| b.id == self.id)?;
        Some(f(cell))
    }
}

impl Drop for Breakpoint {
    fn drop(&mut self) {
        let mut guard = registry();
        let Some(registry) = guard.as_mut() else {
            return;
        };
        registry.breakpoints.retain(|b| b.id != self.id);
        registry.stepping.retain(|_, s| s.breakpoint != self.id);
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
        let arrived = self.breakpoint.with(|cell| {
            let task = cell.arrived.pop_front();
            if task.is_none() && !cell.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                cell.waiting.push(cx.waker().clone());
            }
            task
        });
        match arrived.flatten() {
            Some(task) => Poll::Ready(PausedTask {
                task,
                breakpoint: id,
            }),
            None => Poll::Pending,
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

    /// Lets it go on (it pauses again if it reaches a breakpoint again).
    pub fn resume(self) {
        if let Some(registry) = registry().as_mut() {
            registry.release(self.task);
        }
    }

    /// Lets it go on to its next await, in any traced call, and pause
    /// there; the breakpoint's [`hit`](Breakpoint::hit) reports it again.
    pub fn step(self) {
        self.go(Step::Into);
    }

    /// Lets it go on to its next await in the same traced call or one it
    /// returns to (over the calls it makes), and pause there.
    pub fn next(self) {
        self.go(Step::Over);
    }

    /// Lets it go on until the traced call it paused in returns, and pause
    /// at the next await after that.
    pub fn finish(self) {
        self.go(Step::Out);
    }

    /// Lets it go on and pause as `how` says. If no such await comes (the
    /// task ends first), it is not paused again; a breakpoint it reaches on
    /// the way stops it there.
    pub fn go(self, how: Step) {
        let mut guard = registry();
        let Some(registry) = guard.as_mut() else {
            return;
        };
        let Some(paused) = registry.paused.get(&self.task) else {
            // Already let go (its breakpoint was dropped).
            return;
        };
        let stepping = Stepping {
            breakpoint: self.breakpoint,
            how,
            from: paused.depth,
        };
        registry.stepping.insert(self.task, stepping);
        set_active(registry);
        registry.release(self.task);
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

/// How deep `frame` is in its task's traced calls: 1 at the root.
fn depth(detail: Option<&Detail>, frame: &FrameCell) -> usize {
    let Some(detail) = detail else { return 1 };
    let mut depth = 1;
    let mut parent = frame.parent;
    while parent != 0 && depth <= detail.frames.len() {
        // SAFETY: the task's guard is held by the caller (`read_detail`),
        // and a frame is removed under it before its memory goes.
        let Some(up) = detail
            .frames
            .iter()
            .filter(|f| !unsafe { f.is_dead() })
            .map(|f| unsafe { f.get() })
            .find(|f| f.id == parent)
        else {
            break;
        };
        depth += 1;
        parent = up.parent;
    }
    depth
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
    let (depth, breakpoint) = task.read_slot(|detail| {
        let depth = depth(detail.get(), frame);
        let mut stop = None;
        if let Some(stepping) = registry.stepping.get(&id)
            && stepping.how.stops_at(depth, stepping.from)
        {
            stop = Some(stepping.breakpoint);
        }
        // Every breakpoint here counts its hit, the first that stops wins.
        for cell in &mut registry.breakpoints {
            if place_matches(&cell.spec, frame.info, index)
                && cell.hit(task, detail, Some(frame))
                && stop.is_none()
            {
                stop = Some(cell.id);
            }
        }
        (depth, stop)
    });
    let Some(breakpoint) = breakpoint else {
        return false;
    };
    registry.stepping.remove(&id);
    set_active(registry);
    let Some(cell) = registry.breakpoints.iter_mut().find(|b| b.id == breakpoint) else {
        return false;
    };
    cell.arrived.push_back(id);
    for waker in cell.waiting.drain(..) {
        waker.wake();
    }
    let Some(task_cell) = crate::task::context::current_cell() else {
        return false;
    };
    let place = frame
        .info
        .awaits
        .get(usize::from(index))
        .map(|a| format!("{}() at {}:{}", frame.info.name, frame.info.file, a.line))
        .unwrap_or_else(|| format!("{}()", frame.info.name));
    // The await shows in progress, paused, from now on.
    frame.await_paused(index, crate::clock::now());
    let wait = task.begin_wait(Some(frame), WaitKind::Paused { breakpoint, place });
    registry.paused.insert(
        id,
        Paused {
            breakpoint,
            waker: waker.clone(),
            wait,
            cell: task_cell,
            depth,
        },
    );
    true
}

/// At `inspect_point!(label)` in `task`: a `point:` breakpoint whose
/// conditions hold makes the task stop at its next await.
#[cold]
pub(crate) fn at_point(task: &TaskCell, frame: Option<&FrameCell>, label: &str) {
    let mut guard = registry();
    let Some(registry) = guard.as_mut() else {
        return;
    };
    let stop = task.read_slot(|detail| {
        let mut stop = None;
        for cell in &mut registry.breakpoints {
            if matches!(&cell.spec, Spec::Point(l) if l == label)
                && cell.hit(task, detail, frame)
                && stop.is_none()
            {
                stop = Some(cell.id);
            }
        }
        stop
    });
    if let Some(breakpoint) = stop {
        let stepping = Stepping {
            breakpoint,
            how: Step::Into,
            from: 0,
        };
        registry.stepping.insert(task.id(), stepping);
        set_active(registry);
    }
}

/// A task ended: forgets its step and pause.
#[cold]
fn forget(task: TaskId) {
    let mut guard = registry();
    let Some(registry) = guard.as_mut() else {
        return;
    };
    registry.paused.remove(&task);
    if registry.stepping.remove(&task).is_some() {
        set_active(registry);
    }
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
