//! Lock order: which lock each task took while holding which. A cycle in
//! that order (one task takes B while holding A, another A while holding
//! B) is a deadlock waiting for the two to run at the same moment; it is
//! reported as a lint even when the run never deadlocked.
//!
//! The order is recorded per task, not per thread: a guard held across an
//! `.await` still orders the locks taken after it, on whichever thread.
//! Each lock remembers which locks it was already taken after, so only a
//! new pair takes the global order graph's lock.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::{Arc, Mutex};

use super::{ResourceCell, ResourceId};
use crate::lint;
use crate::snapshot::{LockOrderStep, ResourceRef, SourceLocation};
use crate::task::TaskCell;

/// A lock a task holds, in its detail.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) resource: Arc<ResourceCell>,
    pub(crate) site: &'static Location<'static>,
}

/// "Took `to` at `took_at` while holding `from`, taken at `held_at`."
#[derive(Clone)]
struct Edge {
    from: Arc<ResourceCell>,
    to: Arc<ResourceCell>,
    held_at: &'static Location<'static>,
    took_at: &'static Location<'static>,
    task: crate::task::TaskId,
}

#[derive(Default)]
struct OrderGraph {
    after: HashMap<ResourceId, Vec<Edge>>,
    reported: HashSet<Vec<ResourceId>>,
}

static ORDER: Mutex<Option<OrderGraph>> = Mutex::new(None);

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
            resource: Arc::clone(resource),
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
            to: Arc::clone(resource),
            held_at: h.site,
            took_at: site,
            task: task.id(),
        };
        if let Some(cycle) = add(edge) {
            lint::lock_order_inversion(cycle);
        }
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

/// Adds an edge; the steps of a new cycle it closes, if any.
fn add(edge: Edge) -> Option<Vec<LockOrderStep>> {
    let mut graph = ORDER.lock().unwrap_or_else(|e| e.into_inner());
    let graph = graph.get_or_insert_with(OrderGraph::default);
    let (from, to) = (edge.from.id(), edge.to.id());
    graph.after.entry(from).or_default().push(edge.clone());
    let steps: Vec<LockOrderStep> = {
        let back = graph.path(to, from)?;
        std::iter::once(&edge).chain(back).map(step).collect()
    };
    let mut key: Vec<ResourceId> = steps.iter().map(|s| s.held.id).collect();
    key.sort_unstable();
    graph.reported.insert(key).then_some(steps)
}

impl OrderGraph {
    /// The edges of a path from `from` to `to`, if the order has one.
    fn path(&self, from: ResourceId, to: ResourceId) -> Option<Vec<&Edge>> {
        let mut visited = HashSet::new();
        let mut path = Vec::new();
        self.walk(from, to, &mut visited, &mut path).then_some(path)
    }

    fn walk<'a>(
        &'a self,
        at: ResourceId,
        to: ResourceId,
        visited: &mut HashSet<ResourceId>,
        path: &mut Vec<&'a Edge>,
    ) -> bool {
        if !visited.insert(at) {
            return false;
        }
        for edge in self.after.get(&at).into_iter().flatten() {
            path.push(edge);
            if edge.to.id() == to || self.walk(edge.to.id(), to, visited, path) {
                return true;
            }
            path.pop();
        }
        false
    }
}

fn reference(resource: &ResourceCell) -> ResourceRef {
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
        held: reference(&edge.from),
        held_at: location(edge.held_at),
        took: reference(&edge.to),
        took_at: location(edge.took_at),
    }
}
