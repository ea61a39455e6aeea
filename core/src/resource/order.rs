//! Lock order: which lock each task took while holding which. A cycle in
//! that order (one task takes B while holding A, another A while holding
//! B) is a deadlock waiting for the two to run at the same moment; it is
//! reported as a lint even when the run never deadlocked.
//!
//! The order is recorded per task, not per thread: a guard held across an
//! `.await` still orders the locks taken after it, on whichever thread.
//! Each task keeps the locks it holds in a small array of its own (see
//! `task::held`); each thread remembers the pairs it already saw, and each
//! lock which locks it was already taken after, so only a new pair takes
//! the global order graph's lock. An uncontended lock with none held
//! reads one array and writes one slot.
//!
//! Two graphs share the edges: one by lock, one by where locks are created.
//! The second sees what the first cannot: one task locks an account's
//! mutex then its ledger's, another a ledger's then an account's, each on
//! different instances so far; the day two requests meet on the same pair,
//! they deadlock. Pairs of locks created at the same place (every account
//! from one constructor) are left to the first graph: taking two of them
//! is ordered by something the creation site cannot see.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::{Arc, Mutex};

use super::{ResourceCell, ResourceId};
use crate::lint;
use crate::task::held::LockKey;
use crate::task::{TaskId, TaskResource, context};
use async_inspect_model::snapshot::{LockOrderStep, ResourceRef, SourceLocation};

/// A lock as the order graphs keep it: what a report says of it, not
/// the lock itself (the graphs must not keep dead locks alive).
#[derive(Clone)]
struct Named {
    reference: ResourceRef,
    created_at: &'static Location<'static>,
}

impl Named {
    fn of(resource: &dyn TaskResource) -> Self {
        Self {
            reference: reference(resource),
            created_at: resource.created_at(),
        }
    }
}

/// "Took `to` at `took_at` while holding `from`, taken at `held_at`."
#[derive(Clone)]
struct Edge {
    from: Named,
    to: Named,
    held_at: &'static Location<'static>,
    took_at: &'static Location<'static>,
    task: TaskId,
}

/// Where a lock was created, as a key.
type Site = (&'static str, u32, u32);

fn site_of(lock: &Named) -> Site {
    let at = lock.created_at;
    (at.file(), at.line(), at.column())
}

fn id_of(lock: &Named) -> ResourceId {
    lock.reference.id
}

/// The order between locks, by a key of each: its id, or its creation site.
struct OrderGraph<K> {
    after: HashMap<K, Vec<Edge>>,
    /// For each key, the keys with an edge to it (to forget a lock).
    before: HashMap<K, Vec<K>>,
    /// The cycles reported, as their sorted keys.
    reported: HashSet<Vec<K>>,
    key: fn(&Named) -> K,
}

impl<K: Copy + Eq + Ord + std::hash::Hash> OrderGraph<K> {
    fn new(key: fn(&Named) -> K) -> Self {
        Self {
            after: HashMap::new(),
            before: HashMap::new(),
            reported: HashSet::new(),
            key,
        }
    }

    /// Forgets every edge from or to `key` (a lock that is gone).
    fn forget(&mut self, key: K) {
        for edge in self.after.remove(&key).unwrap_or_default() {
            let to = (self.key)(&edge.to);
            if let Some(before) = self.before.get_mut(&to) {
                before.retain(|k| *k != key);
                if before.is_empty() {
                    self.before.remove(&to);
                }
            }
        }
        for from in self.before.remove(&key).unwrap_or_default() {
            if let Some(after) = self.after.get_mut(&from) {
                after.retain(|e| (self.key)(&e.to) != key);
                if after.is_empty() {
                    self.after.remove(&from);
                }
            }
        }
    }

    /// Adds an edge; the edges of a new cycle it closes, if any.
    fn add(&mut self, edge: &Edge) -> Option<Vec<Edge>> {
        let (from, to) = ((self.key)(&edge.from), (self.key)(&edge.to));
        let after = self.after.entry(from).or_default();
        // One edge per pair of keys: many instances of two sites add one.
        if after.iter().any(|e| (self.key)(&e.to) == to) {
            return None;
        }
        after.push(edge.clone());
        self.before.entry(to).or_default().push(from);
        let cycle: Vec<Edge> = {
            let back = self.path(to, from)?;
            std::iter::once(edge).chain(back).cloned().collect()
        };
        self.remember(&cycle).then_some(cycle)
    }

    /// Marks `cycle` reported; whether it was new.
    fn remember(&mut self, cycle: &[Edge]) -> bool {
        let mut key: Vec<K> = cycle.iter().map(|e| (self.key)(&e.from)).collect();
        key.sort_unstable();
        key.dedup();
        self.reported.insert(key)
    }

    /// The edges of a path from `from` to `to`, if the order has one.
    fn path(&self, from: K, to: K) -> Option<Vec<&Edge>> {
        let mut visited = HashSet::new();
        let mut path = Vec::new();
        self.walk(from, to, &mut visited, &mut path).then_some(path)
    }

    fn walk<'a>(
        &'a self,
        at: K,
        to: K,
        visited: &mut HashSet<K>,
        path: &mut Vec<&'a Edge>,
    ) -> bool {
        // Recursion per lock on the path: bounded, like the wait-for walk.
        if path.len() >= 512 || !visited.insert(at) {
            return false;
        }
        for edge in self.after.get(&at).into_iter().flatten() {
            path.push(edge);
            let next = (self.key)(&edge.to);
            if next == to || self.walk(next, to, visited, path) {
                return true;
            }
            path.pop();
        }
        false
    }
}

struct Orders {
    by_lock: OrderGraph<ResourceId>,
    by_site: OrderGraph<Site>,
}

static ORDER: Mutex<Option<Orders>> = Mutex::new(None);

/// Where a hold sits among its task's held locks: the slot's index plus
/// one (0: not kept), and the task's registry key, to find the task when
/// another one releases the lock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ordered {
    slot: u8,
    task_key: usize,
}

impl Ordered {
    /// Whether the hold is kept among its task's held locks.
    pub(crate) fn is_kept(self) -> bool {
        self.slot != 0
    }
}

/// Pairs of locks (held, taken) this thread already saw, direct-mapped:
/// a pair found here takes no lock at all; a miss (a new pair, or one
/// pushed out by another) asks the lock itself, under its own guard.
const KNOWN_PAIRS: usize = 512;

thread_local! {
    static KNOWN: [std::cell::Cell<(u64, u64)>; KNOWN_PAIRS] =
        const { [const { std::cell::Cell::new((0, 0)) }; KNOWN_PAIRS] };
}

/// Whether this thread already ordered `taken` after `held`; notes it.
#[inline]
fn seen_here(held: LockKey, taken: LockKey) -> bool {
    let pair = (held.word(), taken.word());
    let hash =
        pair.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ pair.1.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let index = (hash >> 55) as usize % KNOWN_PAIRS;
    KNOWN
        .try_with(|known| known[index].replace(pair) == pair)
        .unwrap_or(false)
}

/// The current task took `resource` at `site`: orders it after every lock
/// the task holds, and keeps it among them. A pair of locks is looked at
/// by the global order only the first time it is seen.
#[inline]
pub(crate) fn acquired(resource: &Arc<ResourceCell>, site: &'static Location<'static>) -> Ordered {
    context::with_task(|task, _| {
        let held = task.held_locks();
        let key = resource.lock_key();
        for (other, other_site) in held.held() {
            if other != key && !seen_here(other, key) {
                new_pair(task.id(), other, other_site, resource, site);
            }
        }
        match held.push(key, site) {
            Some(index) => Ordered {
                slot: index as u8 + 1,
                task_key: task.slot(),
            },
            None => Ordered::default(),
        }
    })
    .unwrap_or_default()
}

/// A pair this thread had not seen: if the lock was never taken after
/// the held one before, the order graph gets the edge.
#[cold]
fn new_pair(
    task: TaskId,
    held: LockKey,
    held_at: &'static Location<'static>,
    resource: &Arc<ResourceCell>,
    took_at: &'static Location<'static>,
) {
    let Some(held) = super::cell::by_key(held) else {
        return;
    };
    if !resource.learn_taken_after(held.id()) {
        return;
    }
    held.note_ordered();
    resource.note_ordered();
    add(Edge {
        from: Named::of(&*held),
        to: Named::of(&**resource),
        held_at,
        took_at,
        task,
    });
}

/// The hold `ordered` of `resource` by task `holder` ended: it leaves the
/// task's held locks (found through the registry when another task lets
/// it go, a guard that moved).
#[inline]
pub(crate) fn released(resource: &ResourceCell, holder: u64, ordered: Ordered) {
    if !ordered.is_kept() {
        return;
    }
    let index = usize::from(ordered.slot - 1);
    let key = resource.lock_key();
    let here = context::with_task(|task, _| {
        let mine = task.id().as_u64() == holder;
        if mine {
            task.held_locks().remove(index, key);
        }
        mine
    });
    if here != Some(true) {
        released_elsewhere(TaskId::from_u64(holder), ordered.task_key, index, key);
    }
}

#[cold]
fn released_elsewhere(holder: TaskId, task_key: usize, index: usize, key: LockKey) {
    if let Some(task) = crate::task::registry::find(holder, task_key) {
        task.held_locks().remove(index, key);
    }
}

/// Adds an edge to both graphs and reports a new cycle it closes in
/// either. A cycle of locks is also one of their sites: it is not reported
/// twice.
fn add(edge: Edge) {
    let (by_lock, by_site) = {
        let mut orders = ORDER.lock().unwrap_or_else(|e| e.into_inner());
        let orders = orders.get_or_insert_with(|| Orders {
            by_lock: OrderGraph::new(id_of),
            by_site: OrderGraph::new(site_of),
        });
        let by_lock = orders.by_lock.add(&edge);
        if let Some(cycle) = &by_lock {
            orders.by_site.remember(cycle);
        }
        let same_site = site_of(&edge.from) == site_of(&edge.to);
        let by_site = if by_lock.is_none() && !same_site {
            orders.by_site.add(&edge)
        } else {
            None
        };
        (by_lock, by_site)
    };
    if let Some(cycle) = by_lock {
        lint::lock_order_inversion(cycle.iter().map(step).collect());
    }
    if let Some(cycle) = by_site {
        lint::lock_site_order_inversion(cycle.iter().map(step).collect());
    }
}

fn reference(resource: &dyn TaskResource) -> ResourceRef {
    ResourceRef {
        id: resource.id(),
        kind: resource.kind(),
        name: resource.label(),
    }
}

fn location(site: &'static Location<'static>) -> SourceLocation {
    SourceLocation::new(site.file(), site.line(), site.column())
}

fn step(edge: &Edge) -> LockOrderStep {
    LockOrderStep {
        task: edge.task,
        held: edge.from.reference.clone(),
        held_at: location(edge.held_at),
        held_created_at: location(edge.from.created_at),
        took: edge.to.reference.clone(),
        took_at: location(edge.took_at),
        took_created_at: location(edge.to.created_at),
    }
}

/// The lock `id` is gone: the order by lock forgets it (the order by
/// site keeps what its sites taught). Called only for locks that were
/// ever in it.
pub(crate) fn forget(id: ResourceId) {
    let mut orders = ORDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(orders) = orders.as_mut() {
        orders.by_lock.forget(id);
    }
}

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::*;
    use crate::{Inspected, TaskKind};
    use async_inspect_model::ResourceKind;

    /// Edges of the order by lock from or to `id`.
    fn edges_touching(id: ResourceId) -> usize {
        let orders = ORDER.lock().unwrap_or_else(|e| e.into_inner());
        orders.as_ref().map_or(0, |orders| {
            let graph = &orders.by_lock;
            graph.after.get(&id).map_or(0, Vec::len) + graph.before.get(&id).map_or(0, Vec::len)
        })
    }

    /// A long-lived lock taken under a thousand short-lived ones (as a
    /// shared lock under each connection's): once they are gone, the order
    /// keeps none of them, and the shared lock remembers a bounded few.
    #[test]
    fn locks_that_go_leave_the_order() {
        let shared = ResourceCell::new(
            ResourceKind::Mutex,
            Some("shared".into()),
            Location::caller(),
        );
        let task = Inspected::new(
            {
                let shared = Arc::clone(&shared);
                async move {
                    let mut peak = 0;
                    for _ in 0..1_000 {
                        let own = ResourceCell::new(ResourceKind::Mutex, None, Location::caller());
                        let own_hold = own.acquired(Location::caller(), false);
                        let shared_hold = shared.acquired(Location::caller(), false);
                        peak = peak.max(edges_touching(shared.id()));
                        shared.released(shared_hold);
                        own.released(own_hold);
                    }
                    peak
                }
            },
            TaskKind::Spawned,
            None,
        );
        let peak = futures::executor::block_on(task);
        assert!(peak >= 1, "the pairs were ordered");
        assert_eq!(edges_touching(shared.id()), 0);
        let remembered = shared.taken_after.lock().unwrap().len();
        assert!(remembered <= 256, "{remembered}");
    }
}
