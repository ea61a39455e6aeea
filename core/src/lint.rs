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
#[cold]
pub(crate) fn scheduling_delay(task: TaskId, delay: u64, woken_by: Option<WokenBy>, polled: u64) {
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
