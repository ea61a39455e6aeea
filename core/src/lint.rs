//! Lints found while the program runs: for now, polls that blocked their
//! executor thread. Kept in a small bounded list; the oldest are dropped and
//! counted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock;
use crate::task::TaskCell;
use crate::task::detail::BlockingStretch;
use async_inspect_model::snapshot::{BlockingPlace, Lint, LockOrderStep, SourceLocation};

/// How many lints are kept.
pub const LINTS_KEPT: usize = 256;

static LINTS: Mutex<VecDeque<Lint>> = Mutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);

fn push(lint: Lint) {
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
pub(crate) fn blocking_stretch(task: &TaskCell, stretch: BlockingStretch) {
    let info = stretch.info;
    let place = |index: Option<u16>, end: bool| match index {
        Some(i) => match info.awaits.get(usize::from(i)) {
            Some(a) => BlockingPlace::Await {
                expr: a.expr.into(),
                location: SourceLocation::new(info.file, a.line, a.column),
            },
            None => BlockingPlace::Unknown,
        },
        None if end => BlockingPlace::End,
        None => BlockingPlace::Start {
            location: SourceLocation::new(info.file, info.line, info.column),
        },
    };
    push(Lint::BlockingPoll {
        task: task.id(),
        function: Some(call_text(info.name, stretch.args.as_deref())),
        duration: clock::to_duration(stretch.duration),
        from: place(stretch.from, false),
        to: place(stretch.to, true),
        at: clock::to_duration(clock::now()),
    });
}

#[cold]
pub(crate) fn blocking_poll(task: &TaskCell, duration: u64) {
    push(Lint::BlockingPoll {
        task: task.id(),
        function: None,
        duration: clock::to_duration(duration),
        from: BlockingPlace::Unknown,
        to: BlockingPlace::Unknown,
        at: clock::to_duration(clock::now()),
    });
}

pub(crate) fn call_text(name: &str, args: Option<&str>) -> String {
    format!("{name}({})", args.unwrap_or(""))
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
