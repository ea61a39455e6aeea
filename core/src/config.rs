//! Settings of the inspector: whether it records, how long finished tasks are
//! kept, and when a poll counts as blocking its executor thread.
//!
//! All settings live in atomics so that the hot path reads them with one
//! relaxed load. They start from their defaults, are overridden once from the
//! environment when the inspector first starts (`ASYNC_INSPECT`,
//! `ASYNC_INSPECT_BLOCKING_POLL`), and can be changed at any time with
//! [`Config::apply`].

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock;

static RETAIN_FINISHED: AtomicUsize = AtomicUsize::new(Config::DEFAULT_RETAIN_FINISHED);
static RETAIN_FOR_NS: AtomicU64 = AtomicU64::new(Config::DEFAULT_RETAIN_FOR.as_nanos() as u64);

/// The settings a poll, a wake or a lock reads, together on cache lines of
/// their own: a static written all the time (a counter of dropped events,
/// a runtime's id counter) that the linker put beside them would make
/// every read a miss while workers write it (it happened to the coarse
/// clock: recording every poll of W2 cost 305 ms instead of 170 while it
/// shared a line with the count of dropped events).
struct Hot {
    init: Once,
    enabled: AtomicBool,
    count_wakes: AtomicBool,
    lock_order: AtomicBool,
    blocking_poll_ns: AtomicU64,
    scheduling_delay_ns: AtomicU64,
}

static HOT: CachePadded<Hot> = CachePadded::new(Hot {
    init: Once::new(),
    enabled: AtomicBool::new(true),
    count_wakes: AtomicBool::new(true),
    lock_order: AtomicBool::new(true),
    blocking_poll_ns: AtomicU64::new(Config::DEFAULT_BLOCKING_POLL.as_nanos() as u64),
    scheduling_delay_ns: AtomicU64::new(Config::DEFAULT_SCHEDULING_DELAY.as_nanos() as u64),
});

/// Settings of the inspector, applied process-wide with [`Config::apply`].
///
/// ```
/// use std::time::Duration;
/// use async_inspect_core::Config;
///
/// Config::default()
///     .retain_finished(100, Duration::from_secs(30))
///     .blocking_poll_threshold(Duration::from_millis(50))
///     .apply();
/// assert_eq!(Config::current().blocking_poll, Duration::from_millis(50));
/// # Config::default().apply();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Whether tasks spawned from now on are inspected (`ASYNC_INSPECT=0`
    /// turns this off).
    pub enabled: bool,
    /// How many finished tasks the registry keeps for the report.
    pub retain_finished: usize,
    /// How long a finished task is kept at most.
    pub retain_for: Duration,
    /// A single poll at least this long is reported as blocking its executor
    /// thread (`ASYNC_INSPECT_BLOCKING_POLL`). Polls are timed on the
    /// inspector's coarse clock, to about a tick ([`clock::TICK`], 4 ms).
    pub blocking_poll: Duration,
    /// Whether tasks count their wakes: who woke them, how long a wake
    /// waited for its poll, how many wakers for a task exist (for the
    /// unwakeable, self-wake and scheduling-delay lints). On by default
    /// (`ASYNC_INSPECT_WAKES=0` turns it off): each task's waker is wrapped
    /// once, a poll compares two pointers, a wake adds an atomic increment.
    pub count_wakes: bool,
    /// A task woken and not polled for at least this long is reported as
    /// waiting for a worker (`ASYNC_INSPECT_SCHEDULING_DELAY`).
    pub scheduling_delay: Duration,
    /// Whether tasks record the order in which they take inspected locks,
    /// to report lock-order inversions. On by default
    /// (`ASYNC_INSPECT_LOCK_ORDER=0` turns it off): each task keeps the
    /// locks it holds in a small array of its own, and only a pair of
    /// locks seen for the first time reaches the global order.
    pub lock_order: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            retain_finished: Self::DEFAULT_RETAIN_FINISHED,
            retain_for: Self::DEFAULT_RETAIN_FOR,
            blocking_poll: Self::DEFAULT_BLOCKING_POLL,
            count_wakes: true,
            scheduling_delay: Self::DEFAULT_SCHEDULING_DELAY,
            lock_order: true,
        }
    }
}

impl Config {
    /// Finished tasks kept by default.
    pub const DEFAULT_RETAIN_FINISHED: usize = 1024;
    /// How long finished tasks are kept by default.
    pub const DEFAULT_RETAIN_FOR: Duration = Duration::from_secs(300);
    /// The default blocking-poll threshold.
    pub const DEFAULT_BLOCKING_POLL: Duration = Duration::from_millis(10);
    /// The default scheduling-delay threshold.
    pub const DEFAULT_SCHEDULING_DELAY: Duration = Duration::from_millis(50);

    /// The settings in force now.
    pub fn current() -> Self {
        init();
        Self {
            enabled: HOT.enabled.load(Ordering::Relaxed),
            retain_finished: RETAIN_FINISHED.load(Ordering::Relaxed),
            retain_for: Duration::from_nanos(RETAIN_FOR_NS.load(Ordering::Relaxed)),
            blocking_poll: Duration::from_nanos(HOT.blocking_poll_ns.load(Ordering::Relaxed)),
            count_wakes: HOT.count_wakes.load(Ordering::Relaxed),
            scheduling_delay: Duration::from_nanos(HOT.scheduling_delay_ns.load(Ordering::Relaxed)),
            lock_order: HOT.lock_order.load(Ordering::Relaxed),
        }
    }

    /// Sets whether new tasks are inspected.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Keeps at most `count` finished tasks, each for at most `age`.
    pub fn retain_finished(mut self, count: usize, age: Duration) -> Self {
        self.retain_finished = count;
        self.retain_for = age;
        self
    }

    /// Sets the blocking-poll threshold.
    pub fn blocking_poll_threshold(mut self, threshold: Duration) -> Self {
        self.blocking_poll = threshold;
        self
    }

    /// Sets whether tasks count their wakes.
    pub fn count_wakes(mut self, count: bool) -> Self {
        self.count_wakes = count;
        self
    }

    /// Sets the scheduling-delay threshold.
    pub fn scheduling_delay_threshold(mut self, threshold: Duration) -> Self {
        self.scheduling_delay = threshold;
        self
    }

    /// Sets whether tasks record lock order, for lock-order inversions.
    pub fn lock_order(mut self, record: bool) -> Self {
        self.lock_order = record;
        self
    }

    /// Makes these settings the process-wide ones.
    pub fn apply(self) {
        init();
        if self.enabled {
            clock::start();
        }
        HOT.enabled.store(self.enabled, Ordering::Relaxed);
        RETAIN_FINISHED.store(self.retain_finished, Ordering::Relaxed);
        RETAIN_FOR_NS.store(clock::from_duration(self.retain_for), Ordering::Relaxed);
        HOT.blocking_poll_ns
            .store(clock::from_duration(self.blocking_poll), Ordering::Relaxed);
        HOT.count_wakes.store(self.count_wakes, Ordering::Relaxed);
        HOT.scheduling_delay_ns.store(
            clock::from_duration(self.scheduling_delay),
            Ordering::Relaxed,
        );
        HOT.lock_order.store(self.lock_order, Ordering::Relaxed);
    }
}

/// Whether lints are printed to stderr as they are found
/// (`ASYNC_INSPECT_PRINT_LINTS`, which `async-inspect test` sets).
static PRINT_LINTS: AtomicBool = AtomicBool::new(false);

/// Whether lints are printed as they are found.
pub(crate) fn print_lints() -> bool {
    PRINT_LINTS.load(Ordering::Relaxed)
}

/// Whether `ASYNC_INSPECT_AGENT` asked for the agent, until it starts.
static AGENT_WANTED: AtomicBool = AtomicBool::new(false);

/// Starts the inspector's clock and reads the environment, once. Starting
/// what the environment asks for (the agent, the stall watcher) is the
/// agent crate's `init`, which the adapters call.
pub fn init() {
    HOT.init.call_once(|| {
        apply_env(|name| std::env::var(name).ok());
        // Switched off, nothing reads the clock: no thread, no calibration
        // (`Config::apply` starts it if inspection is switched on later).
        if HOT.enabled.load(Ordering::Relaxed) {
            clock::start();
        }
    });
}

/// Whether `ASYNC_INSPECT_AGENT` (or `async-inspect run`) asked for the
/// agent and nobody took the request yet: `true` once, to whoever starts
/// it.
pub fn take_agent_request() -> bool {
    init();
    AGENT_WANTED.load(Ordering::Relaxed) && AGENT_WANTED.swap(false, Ordering::AcqRel)
}

/// Whether recording is on: one relaxed load once the environment is read
/// (reading it first if nothing did yet: a lock created before the first
/// spawn must see `ASYNC_INSPECT=0`).
#[inline]
pub fn enabled() -> bool {
    if !HOT.init.is_completed() {
        init();
    }
    HOT.enabled.load(Ordering::Relaxed)
}

/// Whether lock order is recorded: one relaxed load.
#[inline]
pub(crate) fn lock_order() -> bool {
    HOT.lock_order.load(Ordering::Relaxed)
}

/// Whether wakes are counted: one relaxed load.
#[inline]
pub(crate) fn count_wakes() -> bool {
    HOT.count_wakes.load(Ordering::Relaxed)
}

#[inline]
pub(crate) fn scheduling_delay_ns() -> u64 {
    HOT.scheduling_delay_ns.load(Ordering::Relaxed)
}

#[inline]
pub(crate) fn blocking_poll_ns() -> u64 {
    HOT.blocking_poll_ns.load(Ordering::Relaxed)
}

pub(crate) fn retention() -> (usize, u64) {
    (
        RETAIN_FINISHED.load(Ordering::Relaxed),
        RETAIN_FOR_NS.load(Ordering::Relaxed),
    )
}

fn apply_env(var: impl Fn(&str) -> Option<String>) {
    if let Some(value) = var("ASYNC_INSPECT") {
        match parse_switch(&value) {
            Some(on) => HOT.enabled.store(on, Ordering::Relaxed),
            None => warn_env("ASYNC_INSPECT", &value, "expected 0/1, on/off, true/false"),
        }
    }
    if let Some(value) = var("ASYNC_INSPECT_WAKES") {
        match parse_switch(&value) {
            Some(on) => HOT.count_wakes.store(on, Ordering::Relaxed),
            None => warn_env(
                "ASYNC_INSPECT_WAKES",
                &value,
                "expected 0/1, on/off, true/false",
            ),
        }
    }
    if let Some(value) = var("ASYNC_INSPECT_LOCK_ORDER") {
        match parse_switch(&value) {
            Some(on) => HOT.lock_order.store(on, Ordering::Relaxed),
            None => warn_env(
                "ASYNC_INSPECT_LOCK_ORDER",
                &value,
                "expected 0/1, on/off, true/false",
            ),
        }
    }
    if let Some(value) = var("ASYNC_INSPECT_PRINT_LINTS") {
        match parse_switch(&value) {
            Some(on) => PRINT_LINTS.store(on, Ordering::Relaxed),
            None => warn_env(
                "ASYNC_INSPECT_PRINT_LINTS",
                &value,
                "expected 0/1, on/off, true/false",
            ),
        }
    }
    if let Some(value) = var("ASYNC_INSPECT_AGENT") {
        match parse_switch(&value) {
            Some(on) => AGENT_WANTED.store(on, Ordering::Relaxed),
            None => warn_env(
                "ASYNC_INSPECT_AGENT",
                &value,
                "expected 0/1, on/off, true/false",
            ),
        }
    }
    if let Some(value) = var("ASYNC_INSPECT_SCHEDULING_DELAY") {
        match parse_duration(&value) {
            Some(d) => HOT
                .scheduling_delay_ns
                .store(clock::from_duration(d), Ordering::Relaxed),
            None => warn_env(
                "ASYNC_INSPECT_SCHEDULING_DELAY",
                &value,
                "expected a duration such as 50ms or 1s",
            ),
        }
    }
    if let Some(value) = var("ASYNC_INSPECT_BLOCKING_POLL") {
        match parse_duration(&value) {
            Some(d) => HOT
                .blocking_poll_ns
                .store(clock::from_duration(d), Ordering::Relaxed),
            None => warn_env(
                "ASYNC_INSPECT_BLOCKING_POLL",
                &value,
                "expected a duration such as 10ms or 1s",
            ),
        }
    }
}

fn warn_env(name: &str, value: &str, expected: &str) {
    eprintln!("async-inspect: ignoring {name}={value:?}: {expected}; using the default");
}

fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

pub use async_inspect_model::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse() {
        assert_eq!(parse_switch("0"), Some(false));
        assert_eq!(parse_switch(" On "), Some(true));
        assert_eq!(parse_switch("maybe"), None);
    }
}
