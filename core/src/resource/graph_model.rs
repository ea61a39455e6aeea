//! A model test of the wait-for graph: thousands of random runs of holds,
//! releases, waits and cancelled waits over a few tasks and locks of every
//! kind, each new wait's verdict checked against a brute-force model.
//!
//! The model computes the deadlocked tasks as a greatest fixpoint: start
//! from every waiting task and drop those whose wait some task outside the
//! set could end (a mutex or rwlock wait ends when its blocking holder
//! moves, a semaphore wait when any holder does). Every cycle the walk
//! reports must lie inside that set (no false positive); without a
//! semaphore in reach, it must report exactly when the new wait leads back
//! to its own task; with one, at least when every task in reach is stuck
//! and leads back.

use std::panic::Location;
use std::sync::Arc;

use super::{Graph, Target};
use crate::resource::{Hold, ResourceCell, ResourceKind};
use crate::task::context;
use crate::task::{TaskCell, TaskKind};

const TASKS: usize = 5;
const PERMITS: usize = 2;
const RUNS: u64 = 3000;
const STEPS: usize = 40;

/// xorshift64*: runs are reproducible from their seed, with no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Exclusive,
    Shared,
}

struct Lock {
    cell: Arc<ResourceCell>,
    holds: Vec<(usize, Mode, Hold)>,
}

impl Lock {
    fn kind(&self) -> ResourceKind {
        self.cell.kind()
    }

    fn grantable(&self, mode: Mode) -> bool {
        match (self.kind(), mode) {
            (ResourceKind::Semaphore, _) => self.holds.len() < PERMITS,
            (ResourceKind::RwLock, Mode::Shared) => {
                self.holds.iter().all(|(_, m, _)| *m == Mode::Shared)
            }
            _ => self.holds.is_empty(),
        }
    }

    fn holders(&self) -> Vec<usize> {
        self.holds.iter().map(|(task, _, _)| *task).collect()
    }

    fn mode(&self, rng: &mut Rng) -> Mode {
        match self.kind() {
            ResourceKind::Mutex => Mode::Exclusive,
            ResourceKind::RwLock if rng.below(2) == 0 => Mode::Exclusive,
            _ => Mode::Shared,
        }
    }
}

struct World<'a> {
    tasks: &'a [Arc<TaskCell>],
    locks: Vec<Lock>,
    /// Per task: the lock it waits for and the edge.
    waits: Vec<Option<(usize, u64)>>,
    graph: Graph,
    log: Vec<String>,
}

impl World<'_> {
    fn as_task<R>(&self, task: usize, f: impl FnOnce() -> R) -> R {
        let _restore = context::enter(Arc::as_ptr(&self.tasks[task]), std::ptr::null());
        f()
    }

    fn step(&mut self, rng: &mut Rng) {
        let task = rng.below(TASKS);
        let lock = rng.below(self.locks.len());
        match rng.below(4) {
            // A task that waits is parked: it can only be cancelled.
            _ if self.waits[task].is_some() => {
                if rng.below(4) == 0 {
                    let (_, edge) = self.waits[task].take().unwrap();
                    self.graph.remove(self.id(task), edge);
                    self.log.push(format!("t{task} cancels its wait"));
                }
            }
            0 => {
                if let Some(at) = self.locks[lock].holds.iter().position(|h| h.0 == task) {
                    let (_, mode, hold) = self.locks[lock].holds.swap_remove(at);
                    let cell = &self.locks[lock].cell;
                    match mode {
                        Mode::Exclusive => cell.released(hold),
                        Mode::Shared => cell.released_shared(hold),
                    }
                    self.log.push(format!("t{task} releases l{lock}"));
                }
            }
            _ => {
                let mode = self.locks[lock].mode(rng);
                if self.locks[lock].grantable(mode) {
                    let cell = Arc::clone(&self.locks[lock].cell);
                    let hold = self.as_task(task, || match mode {
                        Mode::Exclusive => cell.acquired(Location::caller(), false),
                        Mode::Shared => cell.acquired_shared(Location::caller(), 1, false),
                    });
                    self.locks[lock].holds.push((task, mode, hold));
                    self.log.push(format!("t{task} takes l{lock} {mode:?}"));
                } else {
                    self.wait(task, lock, mode);
                }
            }
        }
        assert_eq!(
            self.graph.waiting.len(),
            self.waits.iter().flatten().count(),
            "{:#?}",
            self.log
        );
    }

    fn wait(&mut self, task: usize, lock: usize, mode: Mode) {
        self.log.push(format!("t{task} waits for l{lock} {mode:?}"));
        let target = Target::Lock {
            // The model keeps its locks for as long as it lives.
            resource: super::Kept::new(&self.locks[lock].cell),
            site: Location::caller(),
            news_after: None,
            polled_at: None,
            since: 0,
            frame: None,
        };
        let edge = self.graph.insert(&self.tasks[task], target);
        self.waits[task] = Some((lock, edge));
        let found = self.graph.cycle_from(self.id(task), edge);
        let stuck = self.deadlocked();
        let log = &self.log;
        if let Some(links) = &found {
            assert_eq!(links[0].task.id(), self.tasks[task].id(), "{log:#?}");
            for (i, link) in links.iter().enumerate() {
                let waiter = self.index(link.task.id().as_u64());
                let holder = self.index(link.held_by);
                let next = &links[(i + 1) % links.len()];
                assert_eq!(link.held_by, next.task.id().as_u64(), "a ring: {log:#?}");
                assert!(stuck[waiter] && stuck[holder], "not deadlocked: {log:#?}");
                let (waits_for, _) = self.waits[waiter].unwrap();
                let resource = link.resource.as_ref().unwrap();
                assert_eq!(resource.id(), self.locks[waits_for].cell.id(), "{log:#?}");
                assert!(
                    self.locks[waits_for].holders().contains(&holder),
                    "{log:#?}"
                );
            }
        }
        let reach = self.reach(task);
        let back = reach.iter().any(|&t| self.holders_of(t).contains(&task));
        let semaphore = reach.iter().any(|&t| {
            self.waits[t].is_some_and(|(l, _)| self.locks[l].kind() == ResourceKind::Semaphore)
        });
        if !semaphore {
            assert_eq!(found.is_some(), back, "exact without semaphores: {log:#?}");
        } else if back
            && reach
                .iter()
                .all(|&t| stuck[t] && self.reach(t).contains(&task))
        {
            assert!(found.is_some(), "every task in reach is stuck: {log:#?}");
        }
    }

    fn id(&self, task: usize) -> u64 {
        self.tasks[task].id().as_u64()
    }

    fn index(&self, id: u64) -> usize {
        self.tasks
            .iter()
            .position(|t| t.id().as_u64() == id)
            .unwrap()
    }

    fn holders_of(&self, task: usize) -> Vec<usize> {
        self.waits[task].map_or_else(Vec::new, |(lock, _)| self.locks[lock].holders())
    }

    /// The tasks reachable from `task` through waits and their holders,
    /// `task` included.
    fn reach(&self, task: usize) -> Vec<usize> {
        let mut seen = vec![task];
        let mut next = 0;
        while next < seen.len() {
            for holder in self.holders_of(seen[next]) {
                if !seen.contains(&holder) {
                    seen.push(holder);
                }
            }
            next += 1;
        }
        seen
    }

    /// The greatest set of waiting tasks none of which anyone outside the
    /// set can release.
    fn deadlocked(&self) -> Vec<bool> {
        let mut stuck: Vec<bool> = self.waits.iter().map(Option::is_some).collect();
        loop {
            let mut changed = false;
            for task in 0..TASKS {
                let Some((lock, _)) = self.waits[task] else {
                    continue;
                };
                let holders = self.locks[lock].holders();
                let still = match self.locks[lock].kind() {
                    ResourceKind::Semaphore => {
                        !holders.is_empty() && holders.iter().all(|&h| stuck[h])
                    }
                    _ => holders.iter().any(|&h| stuck[h]),
                };
                if stuck[task] && !still {
                    stuck[task] = false;
                    changed = true;
                }
            }
            if !changed {
                return stuck;
            }
        }
    }

    fn clear(mut self) {
        for task in 0..TASKS {
            if let Some((_, edge)) = self.waits[task].take() {
                self.graph.remove(self.id(task), edge);
            }
        }
        for lock in &mut self.locks {
            for (_, mode, hold) in lock.holds.drain(..) {
                match mode {
                    Mode::Exclusive => lock.cell.released(hold),
                    Mode::Shared => lock.cell.released_shared(hold),
                }
            }
        }
        assert!(self.graph.waiting.is_empty());
    }
}

#[test]
fn every_reported_cycle_is_a_deadlock_and_none_is_missed() {
    let here = Location::caller();
    let tasks: Vec<Arc<TaskCell>> = (0..TASKS)
        .map(|_| TaskCell::register(TaskKind::Spawned, None, here))
        .collect();
    let kinds = [
        ResourceKind::Mutex,
        ResourceKind::Mutex,
        ResourceKind::RwLock,
        ResourceKind::Semaphore,
    ];
    for seed in 1..=RUNS {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Some runs use only mutexes and rwlocks, where the check is exact.
        let locks = if seed % 3 == 0 { 3 } else { 4 };
        let mut world = World {
            tasks: &tasks,
            locks: kinds[..locks]
                .iter()
                .map(|&kind| Lock {
                    cell: ResourceCell::new(kind, None, here),
                    holds: Vec::new(),
                })
                .collect(),
            waits: vec![None; TASKS],
            graph: Graph::default(),
            log: vec![format!("seed {seed}")],
        };
        for _ in 0..STEPS {
            world.step(&mut rng);
        }
        world.clear();
    }
}
