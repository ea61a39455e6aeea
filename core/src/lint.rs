//! Lints found while the program runs: polls that blocked their executor
//! thread, locks taken in opposite orders, tasks that spin on self-wakes or
//! waited long for a worker. Kept in a small bounded list; the oldest are dropped and
//! counted.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::TaskId;
use crate::clock;
use async_inspect_model::snapshot::{BlockingPlace, Lint, LockOrderStep, WokenBy};

/// How many lints are kept.
pub const LINTS_KEPT: usize = 256;

/// How many scheduling-delay lints are kept among them.
const DELAYS_KEPT: usize = 16;

static LINTS: Mutex<VecDeque<Lint>> = Mutex::new(VecDeque::new());

/// At most one scheduling-delay lint per thread this often (clock
/// nanoseconds): see [`scheduling_delay`].
const DELAY_LINT_EVERY: u64 = 1_000_000;

thread_local! {
    /// When this thread last recorded a scheduling-delay lint (the poll's
    /// start, on the clock), 0 before its first.
    static DELAY_LINT_AT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
static DROPPED: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(0));

/// Keeps `lint`, dropping (and counting) the oldest when full.
pub(crate) fn push(lint: Lint) {
    keep(&mut LINTS.lock().unwrap_or_else(|e| e.into_inner()), lint);
}

fn keep(lints: &mut VecDeque<Lint>, lint: Lint) {
    announce(&lint);
    if lints.len() == LINTS_KEPT {
        lints.pop_front();
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    lints.push_back(lint);
}

pub(crate) fn all() -> (Vec<Lint>, u64) {
    let lints = LINTS.lock().unwrap_or_else(|e| e.into_inner());
    (
        lints.iter().cloned().collect(),
        DROPPED.load(Ordering::Relaxed),
    )
}

#[cold]
pub(crate) fn blocking_poll(task: TaskId, duration: u64) {
    push(Lint::BlockingPoll {
        task,
        function: None,
        duration: clock::to_duration(duration),
        from: BlockingPlace::Unknown,
        to: BlockingPlace::Unknown,
        at: clock::to_duration(clock::now()),
    });
}

#[cold]
pub(crate) fn lock_order_inversion(cycle: Vec<LockOrderStep>) {
    push(Lint::LockOrderInversion { cycle });
}

/// Whether lints are printed as they are found ([`announce`]).
pub fn announcing() -> bool {
    crate::config::print_lints()
}

/// Prints `lint` to stderr when asked to (`ASYNC_INSPECT_PRINT_LINTS=1`,
/// which `async-inspect test --fail-on-lint` sets and reads back from the
/// tests' output): once per kind and task (a blocked thread makes many
/// scheduling-delay lints for one task), once per text for the lints about
/// no one task. Lints found as they happen are announced when found; the
/// test harness announces those a snapshot finds (a task nobody can wake)
/// when each test ends.
pub fn announce(lint: &Lint) {
    if !crate::config::print_lints() {
        return;
    }
    /// Announced so far, forgotten past this many.
    const REMEMBERED: usize = 4096;
    static ANNOUNCED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let key = match lint.task() {
        Some(task) => format!("{} {task}", lint.kind()),
        None => lint.to_string(),
    };
    {
        let mut announced = ANNOUNCED.lock().unwrap_or_else(|e| e.into_inner());
        let announced = announced.get_or_insert_with(HashSet::new);
        if announced.len() == REMEMBERED {
            announced.clear();
        }
        if !announced.insert(key) {
            return;
        }
    }
    // Straight to the stream, past a test harness's capture of
    // `eprintln!`: a passing test's lints must be seen too.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "async-inspect: ⚠ {lint}");
}

#[cold]
pub(crate) fn lock_site_order_inversion(cycle: Vec<LockOrderStep>) {
    push(Lint::LockSiteOrderInversion { cycle });
}

/// A task that woke itself in each of its last `polls` polls, over `over`
/// clock nanoseconds.
#[cold]
pub(crate) fn self_wake_storm(task: TaskId, polls: u64, over: u64) {
    push(Lint::SelfWakeStorm {
        task,
        polls,
        over: clock::to_duration(over),
        at: None,
        found_at: clock::to_duration(clock::now()),
    });
}

/// A task woken by `woken_by` whose poll came at `polled` (clock time),
/// `delay` after the wake; names a task whose blocking poll overlapped
/// the wait, if one did.
///
/// A thread records at most one per [`DELAY_LINT_EVERY`]; the rest are
/// counted as dropped (and every delay in the histogram of scheduling
/// delays). A thread held up delays every task queued behind it at once,
/// and each of their polls would otherwise take the lints' lock and look
/// through them: a global lock per poll just when the program is late.
#[cold]
pub(crate) fn scheduling_delay(task: TaskId, delay: u64, woken_by: Option<WokenBy>, polled: u64) {
    // A thread ending records what it can: no gate.
    let gated = DELAY_LINT_AT
        .try_with(|last| {
            let gated = last.get() != 0 && polled.saturating_sub(last.get()) < DELAY_LINT_EVERY;
            if !gated {
                last.set(polled);
            }
            gated
        })
        .unwrap_or(false);
    if gated {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let woken = clock::to_duration(polled.saturating_sub(delay));
    let polled = clock::to_duration(polled);
    let mut lints = LINTS.lock().unwrap_or_else(|e| e.into_inner());
    let blocker = lints.iter().rev().find_map(|lint| match lint {
        Lint::BlockingPoll {
            task: blocker,
            duration,
            at,
            ..
        } if *blocker != task && *at >= woken && at.saturating_sub(*duration) <= polled => {
            Some(*blocker)
        }
        _ => None,
    });
    // Slow polls come in crowds when a thread is blocked: the latest few
    // are kept, and never crowd out the rarer lints.
    let delays = lints
        .iter()
        .filter(|l| matches!(l, Lint::SchedulingDelay { .. }))
        .count();
    if delays >= DELAYS_KEPT
        && let Some(oldest) = lints
            .iter()
            .position(|l| matches!(l, Lint::SchedulingDelay { .. }))
    {
        lints.remove(oldest);
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    keep(
        &mut lints,
        Lint::SchedulingDelay {
            task,
            delay: clock::to_duration(delay),
            woken_by,
            blocker,
            found_at: polled,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduling-delay lints kept for `tasks`.
    fn delays_of(tasks: &[TaskId]) -> Vec<TaskId> {
        all()
            .0
            .into_iter()
            .filter_map(|lint| match lint {
                Lint::SchedulingDelay { task, .. } if tasks.contains(&task) => Some(task),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_crowd_of_late_polls_on_one_thread_records_one_lint_a_millisecond() {
        let tasks: Vec<TaskId> = (0..101).map(|i| TaskId::from_u64(u64::MAX - i)).collect();
        let recorded = tasks.clone();
        let dropped_before = DROPPED.load(Ordering::Relaxed);
        std::thread::spawn(move || {
            let start = 10_000_000_000;
            // A hundred late polls within a millisecond: the first is kept.
            for (i, &task) in recorded[..100].iter().enumerate() {
                scheduling_delay(task, 60_000_000, None, start + i as u64 * 9_000);
            }
            // A millisecond after the first: kept too.
            scheduling_delay(recorded[100], 60_000_000, None, start + DELAY_LINT_EVERY);
        })
        .join()
        .expect("recorded");
        assert_eq!(delays_of(&tasks), [tasks[0], tasks[100]]);
        assert!(DROPPED.load(Ordering::Relaxed) - dropped_before >= 99);
    }
}
