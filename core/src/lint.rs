//! Lints found while the program runs: polls that blocked their executor
//! thread, locks taken in opposite orders. Kept in a small bounded list; the oldest are dropped and
//! counted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::TaskId;
use crate::clock;
use async_inspect_model::snapshot::{BlockingPlace, Lint, LockOrderStep};

/// How many lints are kept.
pub const LINTS_KEPT: usize = 256;

static LINTS: Mutex<VecDeque<Lint>> = Mutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Keeps `lint`, dropping (and counting) the oldest when full.
pub(crate) fn push(lint: Lint) {
    let mut lints = LINTS.lock().unwrap_or_else(|e| e.into_inner());
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
    push_and_print(Lint::LockOrderInversion { cycle });
}

/// Keeps a lock-order lint, and prints it when asked to (for `async-inspect
/// test --fail-on-lock-order`, which reads them from the test's output).
fn push_and_print(lint: Lint) {
    if crate::config::print_lints() {
        // Straight to the stream, past a test harness's capture of
        // `eprintln!`: a passing test's inversion must be seen too.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "async-inspect: ⚠ {lint}");
    }
    push(lint);
}

#[cold]
pub(crate) fn lock_site_order_inversion(cycle: Vec<LockOrderStep>) {
    push_and_print(Lint::LockSiteOrderInversion { cycle });
}
