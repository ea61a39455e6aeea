//! The wait-for graph: which task waits for which resource, and the walk
//! that finds a cycle the moment it closes.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard};

use super::ResourceCell;
use super::deadlock::{self, FoundLink};
use crate::task::{TaskCell, WaitKind};
use crate::{clock, config, context};

/// One task waiting for one resource.
struct Edge {
    resource: Arc<ResourceCell>,
    task: Arc<TaskCell>,
    site: &'static Location<'static>,
}

#[derive(Default)]
struct Graph {
    /// By waiting task id.
    waiting: HashMap<u64, Edge>,
}

static GRAPH: Mutex<Option<Graph>> = Mutex::new(None);

fn graph() -> MutexGuard<'static, Option<Graph>> {
    GRAPH.lock().unwrap_or_else(|e| e.into_inner())
}

impl Graph {
    /// Looks for a path task → resource → holder → resource → … from
    /// `start` back to it (a depth-first walk over every holder, bounded by
    /// the waiting tasks); the links of the cycle if there is one.
    fn cycle_from(&self, start: u64) -> Option<Vec<FoundLink>> {
        let mut path = Vec::new();
        let mut visited = std::collections::HashSet::new();
        self.walk(start, start, &mut path, &mut visited)
            .then_some(path)
    }

    fn walk(
        &self,
        task: u64,
        start: u64,
        path: &mut Vec<FoundLink>,
        visited: &mut std::collections::HashSet<u64>,
    ) -> bool {
        let Some(edge) = self.waiting.get(&task) else {
            return false;
        };
        for holding in edge.resource.holders() {
            // A task already on the path or explored leads nowhere new; a
            // cycle that does not pass through `start` was found by the wait
            // that closed it.
            if holding.task != start && !visited.insert(holding.task) {
                continue;
            }
            path.push(FoundLink {
                task: Arc::clone(&edge.task),
                resource: Arc::clone(&edge.resource),
                waits_at: edge.site,
                held_by: holding.task,
                acquired_at: holding.site,
            });
            if holding.task == start || self.walk(holding.task, start, path, visited) {
                return true;
            }
            path.pop();
        }
        false
    }
}

/// A task's wait for a resource, from the moment the lock future is pending
/// until it completes or is dropped (cancelled by `select!` or a timeout,
/// or with its aborted task): then the edge goes, so no phantom deadlock
/// outlives it.
#[derive(Debug)]
pub struct LockWait {
    task: Arc<TaskCell>,
    resource: Arc<ResourceCell>,
    wait_id: u32,
}

impl LockWait {
    /// Called when the current task has to wait for `resource` at `site`:
    /// records the wait and looks for a cycle. `None` outside an inspected
    /// task.
    pub fn begin(resource: &Arc<ResourceCell>, site: &'static Location<'static>) -> Option<Self> {
        if !config::enabled() {
            return None;
        }
        let current = context::get();
        if current.task.is_null() {
            return None;
        }
        // SAFETY: see `context`: a non-null current task is kept alive by
        // the wrapper polling it, so taking one more strong count is sound.
        let task = unsafe {
            Arc::increment_strong_count(current.task);
            Arc::from_raw(current.task)
        };
        // SAFETY: see `context`: a non-null current frame is alive for the
        // whole poll.
        let frame = unsafe { current.frame.as_ref() };
        let wait_id = task.begin_wait(
            frame,
            WaitKind::Lock {
                resource: Arc::clone(resource),
            },
        );
        resource.count_contended();
        let id = task.id().as_u64();
        let found = {
            let mut graph = graph();
            let graph = graph.get_or_insert_with(Graph::default);
            graph.waiting.insert(
                id,
                Edge {
                    resource: Arc::clone(resource),
                    task: Arc::clone(&task),
                    site,
                },
            );
            // Paired with `ResourceCell::acquired`: see there.
            resource
                .waiters
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            graph.cycle_from(id)
        };
        if let Some(links) = found {
            deadlock::found(links, clock::now());
        }
        Some(Self {
            task,
            resource: Arc::clone(resource),
            wait_id,
        })
    }
}

impl Drop for LockWait {
    fn drop(&mut self) {
        self.resource
            .waiters
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(graph) = graph().as_mut() {
            graph.waiting.remove(&self.task.id().as_u64());
        }
        self.task.end_wait(self.wait_id);
    }
}

/// A task acquired `resource` while others wait for it: walk from those
/// waiters, in case one began waiting just before this holder was recorded.
#[cold]
pub(crate) fn holder_changed(resource: &ResourceCell) {
    let found: Vec<Vec<FoundLink>> = {
        let graph = graph();
        let Some(graph) = graph.as_ref() else { return };
        graph
            .waiting
            .iter()
            .filter(|(_, edge)| std::ptr::eq(Arc::as_ptr(&edge.resource), resource))
            .filter_map(|(task, _)| graph.cycle_from(*task))
            .collect()
    };
    let now = clock::now();
    for links in found {
        deadlock::found(links, now);
    }
}

/// The deadlocks found so far whose every wait still stands, with the same
/// holders: what a snapshot reports.
pub(crate) fn current_deadlocks() -> Vec<crate::snapshot::Deadlock> {
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
                graph.waiting.get(&link.task.as_u64()).is_some_and(|edge| {
                    edge.resource.id() == link.resource.id
                        && edge
                            .resource
                            .holders()
                            .iter()
                            .any(|h| h.task == link.held_by.as_u64())
                })
            })
        })
        .collect()
}
