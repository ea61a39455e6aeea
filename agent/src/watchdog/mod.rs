//! The watchdog of `#[async_inspect::test(timeout = "30s")]` (and of every
//! `#[async_inspect::test]` when `ASYNC_INSPECT_TEST_TIMEOUT` is set): a
//! test that does not finish in time fails with the report of where it is
//! stuck, instead of hanging.
//!
//! One plain thread, `async-inspect-watchdog`, serves every watched test of
//! the process: a test that finishes in time costs an entry in its queue.
//! At the deadline it takes a snapshot and hands the report to the test's
//! root future, which ends with it on its next poll (the runtime's own
//! threads are not needed for that, only the one running the test). If that
//! thread is itself blocked outside any `.await` and the test has not ended
//! a grace period later, the watchdog prints the report and exits the
//! process: a hang is never the outcome.

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use async_inspect_model::parse_duration;

pub(crate) mod service;
pub(crate) mod stall;
mod trace_out;

/// How long a test past its deadline gets to end before the process exits.
const GRACE: Duration = Duration::from_secs(5);

/// How often the watchdog moves recorded events into its window, while
/// `ASYNC_INSPECT_TRACE_OUT` asks for them.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// Why a watched test failed: the report of where it was stuck.
pub struct Stuck(String);

impl fmt::Display for Stuck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Stuck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stuck {}

/// One watched test, shared by its future and the watchdog.
#[derive(Debug)]
struct Watch {
    name: Box<str>,
    timeout: Duration,
    state: Mutex<WatchState>,
}

#[derive(Debug, Default)]
struct WatchState {
    /// The test's root task, once polled.
    root: Option<async_inspect_core::TaskId>,
    /// The report, once the deadline passed.
    stuck: Option<String>,
    waker: Option<Waker>,
    finished: bool,
}

impl Watch {
    fn state(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pin_project! {
    /// A test's body under the watchdog: its output, or [`Stuck`] once its
    /// deadline passed.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Watched<F> {
        #[pin]
        body: F,
        watch: Option<Arc<Watch>>,
    }

    impl<F> PinnedDrop for Watched<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(watch) = this.project().watch.take() {
                watch.state().finished = true;
            }
            if async_inspect_core::lint::announcing() && !std::thread::panicking() {
                announce_unwakeable();
            }
        }
    }
}

impl<F> fmt::Debug for Watched<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = Result<F::Output, Stuck>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(watch) = this.watch.as_ref() {
            let mut state = watch.state();
            if let Some(report) = state.stuck.take() {
                return Poll::Ready(Err(Stuck(report)));
            }
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            if state.root.is_none() {
                state.root = async_inspect_core::current_task();
            }
        }
        this.body.poll(cx).map(Ok)
    }
}

/// At the end of a test, under `async-inspect test` (which reads lints from
/// the tests' output): the tasks that nobody can wake, which only a
/// snapshot finds (the other lints are announced as they are found). When
/// the test's future is dropped, after its last poll: a snapshot inside it
/// would make the poll a blocking one.
#[cold]
fn announce_unwakeable() {
    let snapshot = async_inspect_core::snapshot();
    for lint in snapshot.lints() {
        if matches!(lint, async_inspect_model::Lint::Unwakeable { .. }) {
            async_inspect_core::lint::announce(lint);
        }
    }
}

/// Puts the test `name`'s `body` under the watchdog: with `timeout` (from
/// the attribute, such as `"30s"`), else `ASYNC_INSPECT_TEST_TIMEOUT`, else
/// not at all.
///
/// # Panics
///
/// If `timeout` is not a duration: the test fails saying so.
pub fn watch_test<F: Future>(name: &str, timeout: Option<&str>, body: F) -> Watched<F> {
    let timeout = match timeout {
        Some(text) => Some(parse_duration(text).unwrap_or_else(|| {
            panic!("async-inspect: timeout = {text:?} is not a duration such as 500ms or 30s")
        })),
        None => env_timeout(),
    };
    let watch = timeout.map(|timeout| {
        trace_out::start();
        let watch = Arc::new(Watch {
            name: name.into(),
            timeout,
            state: Mutex::new(WatchState::default()),
        });
        // A timeout too far for an `Instant` (`"9e15h"`) is "for ever".
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + async_inspect_core::clock::FOR_EVER);
        queue().add(deadline, Arc::clone(&watch), Phase::Deadline);
        watch
    });
    Watched { body, watch }
}

/// The test's output, or its failure with the report.
///
/// # Panics
///
/// With the report, when the test was stuck.
pub fn stuck_is_failure<T>(result: Result<T, Stuck>) -> T {
    match result {
        Ok(output) => output,
        Err(stuck) => panic!("{stuck}"),
    }
}

fn env_timeout() -> Option<Duration> {
    let text = std::env::var("ASYNC_INSPECT_TEST_TIMEOUT").ok()?;
    let timeout = parse_duration(&text);
    if timeout.is_none() {
        eprintln!(
            "async-inspect: ignoring ASYNC_INSPECT_TEST_TIMEOUT={text:?}: expected a duration such as 30s"
        );
    }
    timeout
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The test's deadline: report where it is stuck.
    Deadline,
    /// The end of the grace period: its thread never came back.
    Grace,
}

#[derive(Debug, Default)]
struct Queue {
    entries: Mutex<Vec<(Instant, Arc<Watch>, Phase)>>,
    changed: Condvar,
}

/// Watched tests not finished yet.
fn pending_tests() -> usize {
    static_queue().map_or(0, |q| {
        q.entries()
            .iter()
            .filter(|(_, watch, _)| !watch.state().finished)
            .count()
    })
}

static QUEUE: OnceLock<&'static Queue> = OnceLock::new();

fn static_queue() -> Option<&'static Queue> {
    QUEUE.get().copied()
}

fn queue() -> &'static Queue {
    QUEUE.get_or_init(|| {
        let queue: &'static Queue = Box::leak(Box::default());
        std::thread::Builder::new()
            .name("async-inspect-watchdog".into())
            .spawn(move || queue.run())
            .expect("the watchdog thread starts");
        queue
    })
}

impl Queue {
    fn add(&self, at: Instant, watch: Arc<Watch>, phase: Phase) {
        self.entries().push((at, watch, phase));
        self.changed.notify_one();
    }

    fn entries(&self) -> MutexGuard<'_, Vec<(Instant, Arc<Watch>, Phase)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        loop {
            let due = self.next_due();
            trace_out::drain();
            for (watch, phase) in due {
                match phase {
                    Phase::Deadline => fire(self, &watch),
                    Phase::Grace => give_up(&watch),
                }
            }
        }
    }

    /// Waits until some entry is due; takes the due ones that have not
    /// finished, and drops the finished.
    fn next_due(&self) -> Vec<(Arc<Watch>, Phase)> {
        let mut entries = self.entries();
        loop {
            entries.retain(|(_, watch, _)| !watch.state().finished);
            let now = Instant::now();
            let (due, waiting): (Vec<_>, Vec<_>) =
                entries.drain(..).partition(|(at, _, _)| *at <= now);
            *entries = waiting;
            if !due.is_empty() {
                return due.into_iter().map(|(_, w, p)| (w, p)).collect();
            }
            if trace_out::recording() && !entries.is_empty() {
                // Drained by `run` between waits; a full wait would let the
                // recorder's queue fill up.
                drop(entries);
                trace_out::drain();
                entries = self.entries();
            }
            let mut next = entries.iter().map(|(at, _, _)| *at).min();
            if trace_out::recording() {
                let drain_at = now + DRAIN_EVERY;
                next = Some(next.map_or(drain_at, |at| at.min(drain_at)));
            }
            entries = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(entries, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self
                    .changed
                    .wait(entries)
                    .unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// The deadline passed: the report goes to the test's future, which is
/// woken to end with it.
fn fire(queue: &Queue, watch: &Arc<Watch>) {
    let mut snapshot = crate::state_machines::snapshot();
    // Other tests run in the same process: show this one's tasks.
    let root = watch.state().root;
    if let Some(root) = root {
        snapshot.retain_tree(root);
    }
    let written = trace_out::write(&watch.name, &snapshot);
    let report = format!(
        "async-inspect: test `{}` did not finish within {}. Found it stuck at:\n\n{snapshot}\n{written}",
        watch.name,
        async_inspect_model::format_duration(watch.timeout),
    );
    let waker = {
        let mut state = watch.state();
        state.stuck = Some(report);
        state.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
    queue.add(Instant::now() + GRACE, Arc::clone(watch), Phase::Grace);
}

/// The test's thread did not come back to end the test: it is blocked
/// outside any `.await`. Print the report and exit rather than hang.
fn give_up(watch: &Watch) {
    let report = watch.state().stuck.take();
    // Straight to stderr: a test harness capturing this thread's output
    // would lose it at the exit.
    let _ = writeln!(
        std::io::stderr(),
        "{}\nasync-inspect: test `{}` is blocked outside any .await (its thread never \
         polled it again); exiting",
        report.unwrap_or_default(),
        watch.name
    );
    std::process::exit(101);
}
