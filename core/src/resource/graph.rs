//! The wait-for graph: which task waits for which resource, and the walk
//! that finds a cycle the moment it closes.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::CachePadded;

use crate::id_hash::ById;

use super::ResourceCell;
use super::cell::{Holders, Holding};
use super::deadlock::{self, FoundLink};
use crate::task::context;
use crate::task::{TaskCell, TaskId};
use crate::{clock, config, record};

/// A task or resource of a wait in the graph, by address: the wait that
/// added the edge ([`LockWait`], or the join's `WaitSlot`) holds an `Arc`
/// of it until after it removed the edge (or for ever, if the wait is
/// forgotten, leaking its `Arc`), so it outlives the edge; or, for the
/// resource of a [`LockWait::begin_kept`], its caller keeps it alive
/// longer than the wait, which also reads it through this. Not an `Arc` of
/// its own: every contended lock would count it up and down once more, the
/// resource's on the line all its waiters share, the task's on the line
/// its wakers write.
#[derive(Debug)]
struct Kept<T>(std::ptr::NonNull<T>);

// SAFETY: a shared reference to a `T` (`Sync`) is all it gives.
unsafe impl<T: Sync> Send for Kept<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Kept<T> {}

impl<T> Kept<T> {
    /// The task or resource of a wait that holds `kept` for as long as
    /// its edge is in the graph.
    fn new(kept: &Arc<T>) -> Self {
        Self(std::ptr::NonNull::from(&**kept))
    }

    fn get(&self) -> &T {
        // SAFETY: see the type: alive while the edge is in the graph, and
        // edges are reached only through the graph.
        unsafe { self.0.as_ref() }
    }

    /// An `Arc` of its own, for a report that may outlive the wait.
    fn to_arc(&self) -> Arc<T> {
        // SAFETY: the pointer came from a live `Arc` (`Arc::as_ptr` is the
        // pointer `Arc::into_raw` gives) that holds a strong count for as
        // long as the edge lives; this adds one.
        unsafe {
            Arc::increment_strong_count(self.0.as_ptr());
            Arc::from_raw(self.0.as_ptr())
        }
    }
}

/// What a task waits for.
enum Target {
    /// A lock, from the `lock()` call at `site`.
    Lock {
        resource: Kept<ResourceCell>,
        site: &'static Location<'static>,
        /// For a wait for news (a broadcast or watch receiver's): the
        /// channel's send count before the wait began; any send after it
        /// ends the wait.
        news_after: Option<u64>,
        /// For a wait of a future that may be put aside unfinished (a
        /// oneshot receiver polled through `&mut` in `select!`): the
        /// task's poll count once the poll that last polled it ends. When
        /// the task's count has moved past it, the future was not polled
        /// in the task's latest poll: it may have been put aside, so the
        /// wait closes no deadlock (it still shows: a combinator such as
        /// `FuturesUnordered` polls only the futures woken).
        polled_at: Option<Arc<AtomicU64>>,
        /// When the wait began (clock time) and the traced call it began
        /// in (its frame's id): what a snapshot shows of it.
        since: u64,
        frame: Option<u32>,
    },
    /// Another task's end, through its join handle.
    Join { task: u64 },
}

/// One wait of one task.
struct Edge {
    id: u64,
    target: Target,
    task: Kept<TaskCell>,
}

impl Edge {
    /// The tasks that must move for this wait to end.
    fn holders(&self) -> Holders {
        match &self.target {
            Target::Lock { resource, .. } => resource.get().holders(),
            Target::Join { task } => Holders::One(Some(Holding::pinned(*task))),
        }
    }

    /// Whether the wait ends only when every holder can move (a semaphore:
    /// any holder's permits may be the ones it gets; a channel: any holder
    /// of the other end may send or receive), rather than when one that blocks it does (a
    /// mutex, the readers before a writer, a joined task).
    fn needs_every_holder(&self) -> bool {
        self.resource().is_some_and(|r| {
            matches!(
                r.kind(),
                super::ResourceKind::Semaphore
                    | super::ResourceKind::ChannelSenders
                    | super::ResourceKind::ChannelReceiver
            )
        })
    }

    /// Whether the wait would end now without anyone moving (see
    /// [`ResourceCell::satisfied_now`]): then it is in no deadlock.
    fn satisfied(&self) -> bool {
        if let Target::Lock {
            polled_at: Some(polled_at),
            ..
        } = &self.target
            && polled_at.load(Ordering::Relaxed) < self.task.get().polls()
        {
            return true;
        }
        match &self.target {
            Target::Lock {
                resource,
                news_after: Some(seen),
                ..
            } => resource.get().sent_count() > *seen,
            Target::Lock { resource, .. } => resource.get().satisfied_now(),
            Target::Join { .. } => false,
        }
    }

    fn resource(&self) -> Option<&ResourceCell> {
        match &self.target {
            Target::Lock { resource, .. } => Some(resource.get()),
            Target::Join { .. } => None,
        }
    }
}

/// A task's edges: almost always one, kept inline; more by id (a task
/// awaiting thousands of receivers at once, a `join_all`, adds and removes
/// each in logarithmic time).
struct TaskEdges {
    first: Edge,
    more: BTreeMap<u64, Edge>,
}

impl TaskEdges {
    fn iter(&self) -> impl Iterator<Item = &Edge> {
        std::iter::once(&self.first).chain(self.more.values())
    }

    fn get(&self, id: u64) -> Option<&Edge> {
        if self.first.id == id {
            Some(&self.first)
        } else {
            self.more.get(&id)
        }
    }

    /// Removes the edge `id`; whether any is left.
    fn remove(&mut self, id: u64) -> bool {
        if self.first.id == id {
            match self.more.pop_last() {
                Some((_, next)) => self.first = next,
                None => return false,
            }
        } else {
            self.more.remove(&id);
        }
        true
    }
}

#[derive(Default)]
struct Graph {
    /// By waiting task id. A task waits for all of its edges (`join!` of a
    /// lock and a handle needs both), so a cycle through any one of them
    /// is a deadlock.
    waiting: HashMap<u64, TaskEdges, ById>,
    next_edge: u64,
}

/// On lines of its own: every contended lock takes it.
static GRAPH: CachePadded<Mutex<Option<Graph>>> = CachePadded::new(Mutex::new(None));

/// How many tasks one check of a semaphore's holders looks at before it
/// gives up (and reports nothing): it never runs away under the graph lock.
const STUCK_BUDGET: u32 = 10_000;

/// The longest chain of waits a walk follows. The walk recurses once per
/// task on the chain: a chain of ten thousand tasks each awaiting the next
/// would overflow the thread's stack. A cycle longer than this is not
/// reported.
const MOST_DEPTH: usize = 512;

fn graph() -> MutexGuard<'static, Option<Graph>> {
    GRAPH.lock().unwrap_or_else(|e| e.into_inner())
}

/// Says that the graph's lock is held, which every contended wait takes
/// as it begins and as it ends: what such a wait counts (its resource's
/// waiters, contended acquisitions and wait times, its site's histogram)
/// is written under it alone, with a load and a store where a locked
/// instruction each would be needed otherwise. Made only here, from the
/// lock's guard.
pub(crate) struct Locked<'g>(PhantomData<&'g ()>);

impl<'g> Locked<'g> {
    fn by(_guard: &'g MutexGuard<'static, Option<Graph>>) -> Self {
        Self(PhantomData)
    }

    /// Adds `n` to `count`, which is written only under the graph's lock.
    pub(crate) fn add(&self, count: &AtomicU64, n: u64) {
        count.store(
            count.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
}

/// Runs `f` with the graph's lock held, for tests of what is counted
/// under it.
#[cfg(test)]
pub(crate) fn with_locked<R>(f: impl FnOnce(&Locked<'_>) -> R) -> R {
    let guard = graph();
    f(&Locked::by(&guard))
}

impl Graph {
    /// Looks for a path task → resource → holder → resource → … from
    /// `start`'s new wait `edge` back to `start` (a depth-first walk over
    /// every holder, bounded by the waiting tasks); the links of the cycle
    /// if there is one. Only the new wait is walked from `start`: a cycle
    /// through one of its older waits was looked for when the wait that
    /// closed it began (and a task waiting for thousands of receivers at
    /// once, a `join_all`, costs one walk per wait, not thousands).
    fn cycle_from(&self, start: u64, edge: u64) -> Option<Vec<FoundLink>> {
        let new = self.waiting.get(&start)?.get(edge)?;
        let mut path = Vec::new();
        let mut visited = HashSet::default();
        self.walk_edge(new, start, &mut path, &mut visited)
            .then_some(path)
    }

    fn walk(
        &self,
        task: u64,
        start: u64,
        path: &mut Vec<FoundLink>,
        visited: &mut HashSet<u64, ById>,
    ) -> bool {
        if path.len() >= MOST_DEPTH {
            return false;
        }
        let Some(edges) = self.waiting.get(&task) else {
            return false;
        };
        edges
            .iter()
            .any(|edge| self.walk_edge(edge, start, path, visited))
    }

    fn walk_edge(
        &self,
        edge: &Edge,
        start: u64,
        path: &mut Vec<FoundLink>,
        visited: &mut HashSet<u64, ById>,
    ) -> bool {
        if edge.satisfied() {
            return false;
        }
        if edge.needs_every_holder() {
            return self.walk_every_holder(edge, start, path, visited);
        }
        for holding in edge.holders() {
            // A task already on the path or explored leads nowhere new; a
            // cycle that does not pass through `start` was found by the wait
            // that closed it. Nor does a holder that waits for nothing (the
            // common case: it runs): it is passed over before its link is
            // made (two counts up and down) and the path and the set of
            // visited tasks allocate, which took a contended lock's wait
            // from 300 to 256 ns (two inspected tasks taking turns, polled
            // by hand).
            if !self.surely_holds(&holding, edge)
                || holding.task != start
                    && (!self.waiting.contains_key(&holding.task) || !visited.insert(holding.task))
            {
                continue;
            }
            path.push(link(edge, &holding));
            if holding.task == start || self.walk(holding.task, start, path, visited) {
                return true;
            }
            path.pop();
        }
        false
    }

    /// A wait that any holder could end (a semaphore's) is part of a
    /// deadlock only if every holder is stuck: each one is `start`, on the
    /// path, or waits (through holders) only on such tasks. The ring then
    /// goes on through a holder that leads back to `start`.
    fn walk_every_holder(
        &self,
        edge: &Edge,
        start: u64,
        path: &mut Vec<FoundLink>,
        visited: &mut HashSet<u64, ById>,
    ) -> bool {
        /// Beyond this many holders the walk gives up rather than explore.
        const MOST_HOLDERS: usize = 64;
        // No holder (permits forgotten, or only ever added by hand): no
        // task of ours can end this wait, so no cycle of ours does.
        let holders: Vec<Holding> = edge.holders().into_iter().collect();
        if holders.is_empty() || holders.len() > MOST_HOLDERS {
            return false;
        }
        // The tasks entered so far: `start`, then each link's holder.
        let mut entered: Vec<u64> = std::iter::once(start)
            .chain(path.iter().map(|l| l.held_by))
            .collect();
        let mut budget = STUCK_BUDGET;
        if !holders
            .iter()
            .all(|h| self.surely_holds(h, edge) && self.stuck(h.task, &mut entered, &mut budget))
        {
            return false;
        }
        // A ring through another task reads better than a cycle of one.
        let (others, own): (Vec<&Holding>, Vec<&Holding>) =
            holders.iter().partition(|h| h.task != start);
        for holding in others {
            if entered.contains(&holding.task) || !visited.insert(holding.task) {
                continue;
            }
            path.push(link(edge, holding));
            if self.walk(holding.task, start, path, visited) {
                return true;
            }
            path.pop();
        }
        if let Some(holding) = own.first() {
            path.push(link(edge, holding));
            return true;
        }
        false
    }

    /// Whether `task` can never move, assuming the tasks in `entered` cannot
    /// (the walk is deciding that for them): it waits, and one of its waits
    /// is on a holder that is stuck (a semaphore's: on holders all stuck).
    /// Gives up (not stuck) once `budget` tasks were looked at.
    fn stuck(&self, task: u64, entered: &mut Vec<u64>, budget: &mut u32) -> bool {
        if entered.contains(&task) {
            return true;
        }
        if entered.len() >= MOST_DEPTH {
            return false;
        }
        let Some(edges) = self.waiting.get(&task) else {
            return false;
        };
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        entered.push(task);
        let stuck = edges.iter().filter(|edge| !edge.satisfied()).any(|edge| {
            let mut holders = edge.holders().into_iter();
            let mut stuck_holder =
                |h: Holding| self.surely_holds(&h, edge) && self.stuck(h.task, entered, budget);
            if edge.needs_every_holder() {
                let holders: Vec<Holding> = holders.collect();
                !holders.is_empty() && holders.into_iter().all(&mut stuck_holder)
            } else {
                holders.any(stuck_holder)
            }
        });
        entered.pop();
        stuck
    }

    /// Whether `holding` surely still belongs to the task that took it.
    /// An owned guard can move to another task unseen: it counts only if
    /// its task spawned nothing since it took it, and never for a task
    /// waiting for the same resource again (the usual shape of handing
    /// owned permits to workers, not of a deadlock).
    fn surely_holds(&self, holding: &Holding, edge: &Edge) -> bool {
        let Some(spawned) = holding.movable() else {
            return true;
        };
        if holding.task == edge.task.get().id().as_u64() {
            return false;
        }
        match self.waiting.get(&holding.task) {
            Some(edges) => edges.first.task.get().spawned() == spawned,
            None => true,
        }
    }
}

/// The link of a cycle through `edge`, held by `holding`.
fn link(edge: &Edge, holding: &Holding) -> FoundLink {
    FoundLink {
        task: edge.task.to_arc(),
        resource: match &edge.target {
            Target::Lock { resource, .. } => Some(resource.to_arc()),
            Target::Join { .. } => None,
        },
        waits_at: match &edge.target {
            Target::Lock { site, .. } => Some(*site),
            Target::Join { .. } => None,
        },
        held_by: holding.task,
        acquired_at: holding.site,
    }
}

/// The listener of [`on_wait_or_deadlock`], a `fn()` (null: none).
static ATTENTION: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Has `listener` called each time a task begins to wait for an inspected
/// resource, and each time a new deadlock is found: what a watcher that
/// sleeps otherwise (the agent's stall log) needs to wake. One listener; a
/// second call replaces the first. It runs on the waiting task's thread:
/// it must only wake someone (`Thread::unpark`), never block.
pub fn on_wait_or_deadlock(listener: fn()) {
    ATTENTION.store(listener as *mut (), Ordering::Release);
}

/// Calls the [`on_wait_or_deadlock`] listener, if there is one.
#[inline]
pub(crate) fn attention() {
    let listener = ATTENTION.load(Ordering::Acquire);
    if !listener.is_null() {
        // SAFETY: only `on_wait_or_deadlock` stores here, a `fn()` cast to
        // a pointer of the same size.
        let listener = unsafe { std::mem::transmute::<*mut (), fn()>(listener) };
        listener();
    }
}

/// A task's wait for a resource, from the moment the lock future is pending
/// until it completes or is dropped (cancelled by `select!` or a timeout,
/// or with its aborted task): then the edge goes, so no phantom deadlock
/// outlives it.
#[derive(Debug)]
pub struct LockWait {
    task: Arc<TaskCell>,
    resource: Kept<ResourceCell>,
    /// The count of the resource this wait holds, unless its caller keeps
    /// the resource alive for it ([`LockWait::begin_kept`]).
    _keeps: Option<Arc<ResourceCell>>,
    edge: u64,
    since: u64,
    /// See [`LockWait::begin_polled`].
    polled_at: Option<Arc<AtomicU64>>,
}

impl LockWait {
    /// Called when the current task has to wait for `resource` at `site`:
    /// records the wait and looks for a cycle. `None` outside an inspected
    /// task.
    pub fn begin(resource: &Arc<ResourceCell>, site: &'static Location<'static>) -> Option<Self> {
        Self::begin_target(resource, site, None, false, true)
    }

    /// [`LockWait::begin`] without a count of the resource of its own: a
    /// contended lock counted its resource up and down once more, on the
    /// line all of its waiters share (W3, 200 tasks on one `Mutex`: 216 ->
    /// 207 ms without).
    ///
    /// # Safety
    ///
    /// `resource` outlives the wait: e.g. the wait is kept in a future that
    /// borrows the lock whose resource it is.
    pub unsafe fn begin_kept(
        resource: &Arc<ResourceCell>,
        site: &'static Location<'static>,
    ) -> Option<Self> {
        Self::begin_target(resource, site, None, false, false)
    }

    /// [`LockWait::begin`] for a future that may be put aside unfinished
    /// and polled again later (a oneshot receiver, polled through `&mut`):
    /// the wait shows until it ends, but closes a deadlock only while the
    /// future was polled in its task's latest poll, which
    /// [`LockWait::polled`] says at each poll.
    pub fn begin_polled(
        resource: &Arc<ResourceCell>,
        site: &'static Location<'static>,
    ) -> Option<Self> {
        Self::begin_target(resource, site, None, true, true)
    }

    /// The future of a [`LockWait::begin_polled`] wait was polled again,
    /// still pending; `false` if the current task is not the one that
    /// began it (the future moved: begin a new wait).
    pub fn polled(&self) -> bool {
        // By address: no count taken for a comparison.
        if !std::ptr::eq(context::get().task, Arc::as_ptr(&self.task)) {
            return false;
        }
        if let Some(polled_at) = &self.polled_at {
            polled_at.store(self.task.polls() + 1, Ordering::Relaxed);
        }
        true
    }

    /// Called when the current task has to wait at `site` for news on a
    /// channel whose senders are `resource` (a broadcast or watch
    /// receiver's wait), having seen `sent` messages sent (read with
    /// [`ResourceCell::sent_count`] before the receiver was polled): a
    /// message sent since then ends the wait, so it is in no deadlock
    /// even before its task is polled again.
    pub fn begin_news(
        resource: &Arc<ResourceCell>,
        site: &'static Location<'static>,
        sent: u64,
    ) -> Option<Self> {
        Self::begin_target(resource, site, Some(sent), false, true)
    }

    fn begin_target(
        resource: &Arc<ResourceCell>,
        site: &'static Location<'static>,
        news_after: Option<u64>,
        polled: bool,
        keep: bool,
    ) -> Option<Self> {
        if !config::enabled() {
            return None;
        }
        let task = context::current_cell()?;
        // The poll under way ends with one more poll counted.
        let polled_at = polled.then(|| Arc::new(AtomicU64::new(task.polls() + 1)));
        if record::on() {
            record::emit(record::Raw::Wait {
                task: task.id().as_u64(),
                resource: Arc::clone(resource) as Arc<dyn record::NamedResource>,
                at: record::now(),
            });
        }
        let since = clock::now();
        // SAFETY: see `context`: a non-null current frame is alive for the
        // whole poll.
        let frame = unsafe { context::get().frame.as_ref() }.map(|frame| frame.id);
        let target = Target::Lock {
            resource: Kept::new(resource),
            site,
            news_after,
            polled_at: polled_at.clone(),
            since,
            frame,
        };
        // The edge is the wait's only record: a snapshot shows the wait
        // from the graph, so it shows a wait only once it was checked (a
        // snapshot also holds back a deadlock until it can show all of its
        // waits).
        let (edge, found) = add_edge(&task, target);
        // From here the wait owns the edge: if anything after unwinds (a
        // deadlock action that panics), its drop takes it out before the
        // resource it names can go.
        let wait = Self {
            task,
            resource: Kept::new(resource),
            _keeps: keep.then(|| Arc::clone(resource)),
            edge,
            since,
            polled_at,
        };
        // After the wait shows: a watcher woken now sees it.
        attention();
        if let Some(links) = found {
            deadlock::found(links, clock::now());
        }
        Some(wait)
    }
}

impl Drop for LockWait {
    fn drop(&mut self) {
        let waited = clock::now().saturating_sub(self.since);
        if record::on() {
            record::emit(record::Raw::WaitEnd {
                task: self.task.id().as_u64(),
                resource: self.resource.get().id().as_u64(),
                at: record::now(),
            });
        }
        let mut graph = graph();
        self.resource.get().wait_ended(waited, &Locked::by(&graph));
        if let Some(graph) = graph.as_mut() {
            graph.remove(self.task.id().as_u64(), self.edge);
        }
    }
}

/// Adds `task`'s wait for `target` to the graph and looks for a cycle the
/// new edge closes. Returns the edge's id for [`remove_edge`] and the
/// cycle's links, for the caller to report ([`deadlock::found`]) once
/// whatever removes the edge is in place: the report may panic. The
/// caller keeps its `task` until it removed the edge (see [`Kept`]).
///
/// Why one walk, from the new edge, finds every deadlock: every other task
/// of a cycle already waits, and recorded what it holds before it took the
/// graph lock to record that wait; the closing wait walks under the same
/// lock, so it sees them all.
fn add_edge(task: &Arc<TaskCell>, target: Target) -> (u64, Option<Vec<FoundLink>>) {
    let mut graph = graph();
    if let Target::Lock { resource, .. } = &target {
        resource.get().wait_began(&Locked::by(&graph));
    }
    let graph = graph.get_or_insert_with(Graph::default);
    let edge = graph.insert(task, target);
    let id = task.id().as_u64();
    // A walk that panicked would leave the edge behind, naming a task and
    // a resource that only the caller keeps alive: it goes first.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| graph.cycle_from(id, edge))) {
        Ok(found) => (edge, found),
        Err(payload) => {
            graph.remove(id, edge);
            std::panic::resume_unwind(payload)
        }
    }
}

pub(crate) fn remove_edge(task: &TaskCell, edge: u64) {
    if let Some(graph) = graph().as_mut() {
        graph.remove(task.id().as_u64(), edge);
    }
}

impl Graph {
    /// Records `task`'s wait for `target`; the edge's id.
    fn insert(&mut self, task: &Arc<TaskCell>, target: Target) -> u64 {
        self.next_edge += 1;
        let edge = Edge {
            id: self.next_edge,
            target,
            task: Kept::new(task),
        };
        match self.waiting.entry(task.id().as_u64()) {
            Entry::Occupied(mut edges) => {
                edges.get_mut().more.insert(edge.id, edge);
            }
            Entry::Vacant(entry) => {
                entry.insert(TaskEdges {
                    first: edge,
                    more: BTreeMap::new(),
                });
            }
        }
        self.next_edge
    }

    /// Removes the wait `edge` of the task `id`.
    fn remove(&mut self, id: u64, edge: u64) {
        if let Entry::Occupied(mut edges) = self.waiting.entry(id)
            && !edges.get_mut().remove(edge)
        {
            edges.remove();
        }
    }
}

/// Adds `task`'s wait for `target`'s end (through an inspected join
/// handle) to the graph; the edge's id goes back to [`remove_edge`], and
/// the caller keeps its `task` until then (see [`Kept`]).
pub(crate) fn add_join(task: &Arc<TaskCell>, target: crate::task::TaskId) -> (u64, Option<Cycle>) {
    let (edge, found) = add_edge(
        task,
        Target::Join {
            task: target.as_u64(),
        },
    );
    (edge, found.map(Cycle))
}

/// A deadlock a new wait closed, to report once whatever removes the wait
/// is in place (the report may panic: see [`add_edge`]).
pub(crate) struct Cycle(Vec<FoundLink>);

impl Cycle {
    /// Reports the deadlock (its action may panic).
    pub(crate) fn report(self) {
        deadlock::found(self.0, clock::now());
    }
}

/// A task's wait for a lock or channel end, as the graph keeps it: what a
/// snapshot shows of it.
pub(crate) struct LockWaitView {
    pub(crate) task: TaskId,
    pub(crate) resource: Arc<ResourceCell>,
    /// The `lock()` (or `send()`, `recv()`…) call that waits.
    pub(crate) site: &'static Location<'static>,
    /// When it began (clock time).
    pub(crate) since: u64,
    /// The traced call it began in (its frame's id).
    pub(crate) frame: Option<u32>,
}

/// The waits for a lock or a channel end of every task (of task `only`,
/// if given), each task's in the order they began. The graph's lock is
/// held only to copy them (a snapshot formats them after: meanwhile every
/// new wait in the program would wait for it). `None` if `wait` is false
/// and the graph is busy: a panic hook must not wait on a lock its own
/// thread may hold.
pub(crate) fn lock_waits(only: Option<TaskId>, wait: bool) -> Option<Vec<LockWaitView>> {
    let guard = if wait {
        graph()
    } else {
        match GRAPH.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    };
    let Some(graph) = guard.as_ref() else {
        return Some(Vec::new());
    };
    let tasks: Box<dyn Iterator<Item = (&u64, &TaskEdges)>> = match only {
        Some(task) => Box::new(graph.waiting.get_key_value(&task.as_u64()).into_iter()),
        None => Box::new(graph.waiting.iter()),
    };
    let mut waits: Vec<(u64, LockWaitView)> = tasks
        .flat_map(|(&id, edges)| edges.iter().map(move |edge| (id, edge)))
        .filter_map(|(id, edge)| match &edge.target {
            Target::Lock {
                resource,
                site,
                since,
                frame,
                ..
            } => Some((
                edge.id,
                LockWaitView {
                    task: TaskId::from_u64(id),
                    resource: resource.to_arc(),
                    site,
                    since: *since,
                    frame: *frame,
                },
            )),
            Target::Join { .. } => None,
        })
        .collect();
    drop(guard);
    // Edge ids grow with each wait; a task's `first` edge is its oldest
    // but when an older one ended (then its newest took the place).
    waits.sort_unstable_by_key(|(edge, _)| *edge);
    Some(waits.into_iter().map(|(_, view)| view).collect())
}

/// The deadlocks found so far whose every wait still stands, with the same
/// holders: what a snapshot reports.
pub(crate) fn current_deadlocks() -> Vec<async_inspect_model::snapshot::Deadlock> {
    let candidates = deadlock::found_so_far();
    if candidates.is_empty() {
        return candidates;
    }
    let graph = graph();
    let Some(graph) = graph.as_ref() else {
        return Vec::new();
    };
    candidates
        .into_iter()
        .filter(|d| {
            d.cycle.iter().all(|link| {
                let edges = graph.waiting.get(&link.task.as_u64());
                edges.into_iter().flat_map(TaskEdges::iter).any(|edge| {
                    !edge.satisfied()
                        && edge.resource().map(|r| r.id()) == link.resource.as_ref().map(|r| r.id)
                        && edge
                            .holders()
                            .into_iter()
                            .any(|h| h.task == link.held_by.as_u64())
                })
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "graph_model.rs"]
mod model;
