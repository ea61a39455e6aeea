//! Lock order: which lock each task took while holding which. A cycle in
//! that order (one task takes B while holding A, another A while holding
//! B) is a deadlock waiting for the two to run at the same moment; it is
//! reported as a lint even when the run never deadlocked.
//!
//! The order is recorded per task, not per thread: a guard held across an
//! `.await` still orders the locks taken after it, on whichever thread.
//! Each lock remembers which locks it was already taken after, so only a
//! new pair takes the global order graph's lock.
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
use crate::task::{Held, TaskCell, TaskResource};
use async_inspect_model::snapshot::{LockOrderStep, ResourceRef, SourceLocation};

/// "Took `to` at `took_at` while holding `from`, taken at `held_at`."
#[derive(Clone)]
struct Edge {
    from: Arc<dyn TaskResource>,
    to: Arc<dyn TaskResource>,
    held_at: &'static Location<'static>,
    took_at: &'static Location<'static>,
    task: crate::task::TaskId,
}

/// Where a lock was created, as a key.
type Site = (&'static str, u32, u32);

fn site_of(resource: &dyn TaskResource) -> Site {
    let at = resource.created_at();
    (at.file(), at.line(), at.column())
}

/// The order between locks, by a key of each: its id, or its creation site.
struct OrderGraph<K> {
    after: HashMap<K, Vec<Edge>>,
    /// The cycles reported, as their sorted keys.
    reported: HashSet<Vec<K>>,
    key: fn(&dyn TaskResource) -> K,
}

impl<K: Copy + Eq + Ord + std::hash::Hash> OrderGraph<K> {
    fn new(key: fn(&dyn TaskResource) -> K) -> Self {
        Self {
            after: HashMap::new(),
            reported: HashSet::new(),
            key,
        }
    }

    /// Adds an edge; the edges of a new cycle it closes, if any.
    fn add(&mut self, edge: &Edge) -> Option<Vec<Edge>> {
        let (from, to) = ((self.key)(&*edge.from), (self.key)(&*edge.to));
        let after = self.after.entry(from).or_default();
        // One edge per pair of keys: many instances of two sites add one.
        if after.iter().any(|e| (self.key)(&*e.to) == to) {
            return None;
        }
        after.push(edge.clone());
        let cycle: Vec<Edge> = {
            let back = self.path(to, from)?;
            std::iter::once(edge).chain(back).cloned().collect()
        };
        self.remember(&cycle).then_some(cycle)
    }

    /// Marks `cycle` reported; whether it was new.
    fn remember(&mut self, cycle: &[Edge]) -> bool {
        let mut key: Vec<K> = cycle.iter().map(|e| (self.key)(&*e.from)).collect();
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
            let next = (self.key)(&*edge.to);
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

/// `task` took `resource` at `site`: order it after every lock it holds.
pub(crate) fn acquired(
    task: &Arc<TaskCell>,
    resource: &Arc<ResourceCell>,
    site: &'static Location<'static>,
) {
    let held: Vec<Held> = task.with_detail(|detail| {
        let before = detail
            .held
            .iter()
            .filter(|h| h.resource.id() != resource.id())
            .cloned()
            .collect();
        detail.held.push(Held {
            resource: Arc::clone(resource) as Arc<dyn TaskResource>,
            site,
        });
        before
    });
    for h in held {
        if !resource.learn_taken_after(h.resource.id()) {
            continue;
        }
        let edge = Edge {
            from: h.resource,
            to: Arc::clone(resource) as Arc<dyn TaskResource>,
            held_at: h.site,
            took_at: site,
            task: task.id(),
        };
        add(edge);
    }
}

/// `task` let `resource` go.
pub(crate) fn released(task: &TaskCell, resource: &ResourceCell) {
    task.with_detail(|detail| {
        if let Some(position) = detail
            .held
            .iter()
            .rposition(|h| h.resource.id() == resource.id())
        {
            detail.held.remove(position);
        }
    });
}

/// Adds an edge to both graphs and reports a new cycle it closes in
/// either. A cycle of locks is also one of their sites: it is not reported
/// twice.
fn add(edge: Edge) {
    let (by_lock, by_site) = {
        let mut orders = ORDER.lock().unwrap_or_else(|e| e.into_inner());
        let orders = orders.get_or_insert_with(|| Orders {
            by_lock: OrderGraph::new(|r| r.id()),
            by_site: OrderGraph::new(site_of),
        });
        let by_lock = orders.by_lock.add(&edge);
        if let Some(cycle) = &by_lock {
            orders.by_site.remember(cycle);
        }
        let same_site = site_of(&*edge.from) == site_of(&*edge.to);
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
        held: reference(&*edge.from),
        held_at: location(edge.held_at),
        held_created_at: location(edge.from.created_at()),
        took: reference(&*edge.to),
        took_at: location(edge.took_at),
        took_created_at: location(edge.to.created_at()),
    }
}
