//! The inspector's clock: a coarse "now" that a poll can read for about a
//! nanosecond.
//!
//! Reading `Instant::now()` costs ~30 ns on the machines we measure, and a poll
//! reads the clock twice; that alone would cost more than the whole poll
//! budget (see DESIGN.md, "Hot path"). Instead a plain OS thread,
//! `async-inspect-clock`, publishes the time since [`start`] in one atomic
//! every [`TICK`], and the hot path reads that atomic with a relaxed load.
//!
//! The price is resolution: a time stamp is at most about one tick late.
//! Durations summed over many polls (busy time) stay unbiased, because a poll
//! that straddles a tick is charged the whole tick as often as a poll of the
//! same length that does not is charged nothing. Anything shown to a person
//! (blocked for 3.2 s, a poll that blocked for 150 ms) is far coarser than a
//! tick. Precise per-poll durations are the business of the recorder, which
//! reads [`precise_now`]: the CPU's time-stamp counter, where it is
//! invariant (x86_64 that says so), else the OS clock. A counter read costs
//! 7.5 ns against 18 ns for the OS clock on the 2-core VM we measure on.
//! The counter is calibrated when a recording starts
//! ([`calibrate_in_background`]): a thread reads it with the OS clock,
//! sleeps [`CALIBRATION`], reads both again, and the ratio is the
//! counter's rate (the readings are a few tens of nanoseconds apart: a few
//! parts per million). Nothing spins: `quanta`'s calibration, used before,
//! busy-looped a core for half a millisecond on an idle machine, 5 ms per
//! recorded run of the benchmark's traced chain on the busy 2-core VM, and
//! up to 200 ms. Until then, `precise_now` reads the OS clock. A first,
//! rougher rate is taken after [`QUICK_CALIBRATION`] (tens of parts per
//! million), so that a short recording, a test's, does not stamp all its
//! events with the OS clock: the benchmark's recorded traced chain spent
//! 9% of its time reading it. The finer rate then goes on from where the
//! rougher one got to, so readings never jump.
//!
//! The thread ticks only while the clock is read: every 100 ticks it asks
//! (by publishing a sentinel the next reader replaces) and parks when a
//! tick passes unread, so an idle program wakes no thread.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_utils::CachePadded;

/// How often the clock thread publishes the time.
///
/// Four milliseconds, not one: each of the thread's wake-ups costs a
/// program whose workers park and unpark often far more than the thread's
/// own few microseconds, on the 2-core VMs we measure on. A bare tokio W3
/// (200 tasks handing one `tokio::sync::Mutex` on, a yield while holding
/// it, 2 workers) beside a thread that only sleeps a millisecond and wakes
/// took 260 ms against 178 ms alone, 207 ms beside one that sleeps 4 ms,
/// 185 ms beside one that sleeps 10 ms (medians of 15 interleaved runs);
/// the benchmark's W3 with inspection on, 323 ms with a 1 ms tick, 320 ms
/// with 2 ms, 235 ms with 4 ms (bare 161 ms; 11 runs each). The busy
/// worker then wakes the idle one about twice as often, and each wake is a
/// system call on the lock's critical path. The price is the resolution of
/// every time stamp (see the module's doc): ±4 ms on a duration, which the
/// 10 ms blocking-poll lint and the times a report shows (how long a task
/// is parked, blocked, waited) can bear.
pub const TICK: Duration = Duration::from_millis(4);

/// Nanoseconds since [`start`], as last published by the clock thread.
static NOW_NS: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(0));

struct Anchor {
    instant: Instant,
    unix: Duration,
    /// The time-stamp counter, once calibrated roughly…
    quick: OnceLock<Precise>,
    /// …and once calibrated finely, going on from the rough rate's reading.
    precise: OnceLock<Precise>,
}

impl Anchor {
    /// The counter's calibration, the finest there is yet.
    #[inline]
    fn counter(&self) -> Option<&Precise> {
        self.precise.get().or_else(|| self.quick.get())
    }
}

/// The calibrated counter, and where its readings meet [`Anchor::instant`]'s.
#[derive(Clone, Copy, Debug)]
struct Precise {
    /// The counter's reading when it took over…
    start: u64,
    /// …the nanoseconds since the anchor then…
    offset: u64,
    /// …and nanoseconds per count, in 32.32 fixed point.
    scale: u64,
}

impl Precise {
    #[inline]
    fn now(&self, count: u64) -> u64 {
        // A count a hair behind `start` (read on another core) reads as
        // `start`.
        let counts = count.saturating_sub(self.start);
        self.offset + ((u128::from(counts) * u128::from(self.scale)) >> 32) as u64
    }
}

/// How long the calibration's two readings are apart.
pub const CALIBRATION: Duration = Duration::from_millis(50);

/// The furthest ahead a sleep or a deadline is set: about 30 years, as
/// tokio's longest sleep. An `Instant` holds it; `Duration::MAX` ahead
/// (how "for ever" is often written) overflows one.
pub const FOR_EVER: Duration = Duration::from_secs(86_400 * 365 * 30);

/// How long the rough first calibration's readings are apart.
pub const QUICK_CALIBRATION: Duration = Duration::from_millis(2);

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let anchor = Anchor {
            instant: Instant::now(),
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            quick: OnceLock::new(),
            precise: OnceLock::new(),
        };
        // The thread only reads the anchor, which is set before it starts.
        let started = std::thread::Builder::new()
            .name("async-inspect-clock".into())
            .spawn(tick_forever);
        if started.is_err() {
            // Without the thread every reading stays at zero; `precise_now`
            // still works (from the OS clock), and the report says nothing
            // wrong, only coarser.
            NOW_NS.store(1, Ordering::Relaxed);
        }
        anchor
    })
}

/// Has the time-stamp counter calibrated, once, on a thread of its own
/// (the ticks go on meanwhile), for a recording's stamps: until it is, and
/// without it, [`precise_now`] reads the OS clock. Only recording reads
/// the precise clock often enough for the counter to matter, and the
/// calibration busy-loops a core for half a millisecond or more.
pub fn calibrate_in_background() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("async-inspect-calibrate".into())
            .spawn(|| calibrate(anchor()));
    });
}

/// Calibrates the time-stamp counter and lets [`precise_now`] read it from
/// now on, continuing the OS clock's readings: roughly after
/// [`QUICK_CALIBRATION`], finely after [`CALIBRATION`]; nothing if the
/// counter is not invariant (its rate would change with the processor's).
fn calibrate(anchor: &Anchor) {
    if !counter::invariant() {
        return;
    }
    let first = reading(anchor, counter::read);
    std::thread::sleep(QUICK_CALIBRATION);
    let Some(quick) = rate(first, reading(anchor, counter::read)) else {
        return;
    };
    let _ = anchor.quick.set(quick);
    std::thread::sleep(CALIBRATION.saturating_sub(QUICK_CALIBRATION));
    let Some(fine) = rate(first, reading(anchor, counter::read)) else {
        return;
    };
    // Going on from the rough rate's reading at the switch, not from the
    // OS clock's: a reading never goes back (the two part by a few
    // microseconds at most, and the time since the anchor keeps that
    // much error).
    let _ = anchor.precise.set(Precise {
        offset: quick.now(fine.start),
        ..fine
    });
}

/// The counter's rate between two readings of it and of the OS clock, as
/// a [`Precise`] taking over at the second; `None` if the counter did not
/// move.
fn rate((first_count, first_ns): (u64, u64), (count, ns): (u64, u64)) -> Option<Precise> {
    let (counts, elapsed) = (
        count.saturating_sub(first_count),
        ns.saturating_sub(first_ns),
    );
    if counts == 0 {
        return None;
    }
    let scale = u64::try_from((u128::from(elapsed) << 32) / u128::from(counts)).ok()?;
    (scale != 0).then_some(Precise {
        start: count,
        offset: ns,
        scale,
    })
}

/// `read` and the OS clock's nanoseconds since the anchor, read together:
/// of a few tries, the one whose two clock reads around `read`'s are
/// closest, `read` taken as read halfway.
fn reading(anchor: &Anchor, read: impl Fn() -> u64) -> (u64, u64) {
    (0..8)
        .map(|_| {
            let before = anchor.instant.elapsed().as_nanos() as u64;
            let count = read();
            let after = anchor.instant.elapsed().as_nanos() as u64;
            (
                after.saturating_sub(before),
                count,
                before + (after - before) / 2,
            )
        })
        .min_by_key(|&(spread, _, _)| spread)
        .map(|(_, count, ns)| (count, ns))
        .unwrap_or_default()
}

/// The processor's time-stamp counter.
mod counter {
    /// Whether the counter runs at one rate whatever the processor does
    /// (CPUID leaf 0x8000_0007, EDX bit 8).
    #[cfg(target_arch = "x86_64")]
    // `__cpuid` is a safe function in newer Rust, `unsafe` in older ones.
    #[allow(unused_unsafe)]
    pub(super) fn invariant() -> bool {
        use std::arch::x86_64::__cpuid;
        // SAFETY: CPUID exists on every x86_64 processor; leaf
        // 0x8000_0000 gives the highest extended leaf.
        let highest = unsafe { __cpuid(0x8000_0000) }.eax;
        // SAFETY: as above, a leaf the processor has.
        highest >= 0x8000_0007 && unsafe { __cpuid(0x8000_0007) }.edx & (1 << 8) != 0
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn invariant() -> bool {
        false
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: RDTSC exists on every x86_64 processor.
        unsafe { std::arch::x86_64::_rdtsc() }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    pub(super) fn read() -> u64 {
        0
    }
}

/// How many ticks the clock runs between checks that someone still reads
/// it.
const TICKS_BETWEEN_CHECKS: u32 = 100;

/// [`NOW_NS`] while the clock thread asks whether anyone reads it: the
/// next [`now`] publishes the time itself and wakes the thread.
const ASLEEP: u64 = 0;

/// The clock thread, to wake.
static CLOCK_THREAD: OnceLock<std::thread::Thread> = OnceLock::new();

/// Publishes the time every tick while the clock is read, and sleeps
/// (parked, no wake-ups) once a tick passes with no reader: an idle
/// program costs no CPU. Every [`TICKS_BETWEEN_CHECKS`] ticks it stores
/// [`ASLEEP`]; a reader that finds it publishes the time and unparks the
/// thread (once per check, a few microseconds).
fn tick_forever() {
    let _ = CLOCK_THREAD.set(std::thread::current());
    let start = anchor().instant;
    loop {
        for _ in 0..TICKS_BETWEEN_CHECKS {
            let elapsed = start.elapsed().as_nanos() as u64;
            NOW_NS.store(elapsed.max(1), Ordering::Relaxed);
            std::thread::sleep(TICK);
        }
        NOW_NS.store(ASLEEP, Ordering::Relaxed);
        std::thread::sleep(TICK);
        // Nobody read the clock during that tick: sleep until someone
        // does (a token left by an earlier unpark returns at once).
        while NOW_NS.load(Ordering::Relaxed) == ASLEEP {
            std::thread::park();
        }
    }
}

/// A reader found the clock asleep: publish the time and wake the thread.
#[cold]
#[inline(never)]
fn wake() -> u64 {
    let precise = precise_now().max(1);
    let now = match NOW_NS.compare_exchange(ASLEEP, precise, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => precise,
        Err(published) => published,
    };
    if let Some(thread) = CLOCK_THREAD.get() {
        thread.unpark();
    }
    now
}

/// Starts the clock thread if it is not running. Idempotent and cheap after
/// the first call.
pub fn start() {
    let _ = anchor();
    // Publish a first reading so that callers right after start see a sane
    // time even before the thread has been scheduled.
    let precise = precise_now();
    NOW_NS.fetch_max(precise, Ordering::Relaxed);
}

/// The coarse time in nanoseconds since the inspector started: one relaxed
/// load. Call [`start`] once before relying on it.
#[inline]
pub fn now() -> u64 {
    match NOW_NS.load(Ordering::Relaxed) {
        ASLEEP => wake(),
        now => now,
    }
}

/// The precise time in nanoseconds since the inspector started: one read
/// of the time-stamp counter; for snapshots, recorded events and cold
/// paths, never per poll when nobody records.
#[inline]
pub fn precise_now() -> u64 {
    let anchor = anchor();
    match anchor.counter() {
        Some(precise) => precise.now(counter::read()),
        None => anchor.instant.elapsed().as_nanos() as u64,
    }
}

/// The wall-clock time at which the inspector started, as a duration since
/// the Unix epoch.
pub fn started_at_unix() -> Duration {
    anchor().unix
}

/// Converts a clock reading to a [`Duration`].
#[inline]
pub fn to_duration(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

/// Converts a [`Duration`] to clock nanoseconds, saturating.
#[inline]
pub fn from_duration(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_follows_the_precise_one() {
        start();
        let first = now();
        assert!(first > 0, "start publishes a first reading");
        let deadline = Instant::now() + Duration::from_secs(10);
        while now() < first + 5 * TICK.as_nanos() as u64 {
            assert!(Instant::now() < deadline, "the clock thread never ticked");
            std::thread::sleep(TICK);
        }
        let coarse = now();
        let precise = precise_now();
        assert!(
            coarse <= precise,
            "coarse {coarse} ahead of precise {precise}"
        );
    }

    #[test]
    fn the_precise_clock_goes_on_from_the_os_clock_once_the_counter_is_calibrated() {
        start();
        calibrate_in_background();
        let anchor = anchor();
        let mut last = precise_now();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Readings never go back, from the OS clock before the counter
        // takes over, across the switch, and after.
        while counter::invariant() && anchor.precise.get().is_none() {
            assert!(
                Instant::now() < deadline,
                "the counter never got calibrated"
            );
            let now = precise_now();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        for _ in 0..10_000 {
            let now = precise_now();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        // The fine rate took over from the rough one where it had got to.
        if let (Some(quick), Some(fine)) = (anchor.quick.get(), anchor.precise.get()) {
            assert_eq!(fine.offset, quick.now(fine.start));
            assert!(fine.start > quick.start);
        }
        // And the counter keeps to the OS clock's time since the anchor.
        let os = anchor.instant.elapsed().as_nanos() as u64;
        let counter = precise_now();
        let apart = os.abs_diff(counter);
        assert!(apart < 1_000_000, "{apart} ns apart");
    }

    #[test]
    fn the_counter_keeps_time_with_the_os_clock() {
        // 3 counts per nanosecond, taking over at count 1 000 and 5 ms.
        let precise = Precise {
            start: 1_000,
            offset: 5_000_000,
            scale: (1 << 32) / 3,
        };
        assert_eq!(precise.now(1_000), 5_000_000);
        assert_eq!(
            precise.now(999),
            5_000_000,
            "a count behind reads as the start"
        );
        let second = precise.now(1_000 + 3_000_000_000);
        assert!(second.abs_diff(1_005_000_000) <= 1, "{second}");
        if !counter::invariant() {
            return;
        }
        // The calibrated counter against the OS clock over 50 ms.
        start();
        calibrate_in_background();
        let anchor = anchor();
        let deadline = Instant::now() + Duration::from_secs(10);
        while anchor.precise.get().is_none() {
            assert!(
                Instant::now() < deadline,
                "the counter never got calibrated"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Both clocks read together (the tightest of a few tries: a thread
        // preempted between two reads would put them milliseconds apart).
        let (counter_before, os_before) = reading(anchor, precise_now);
        std::thread::sleep(Duration::from_millis(50));
        let (counter, os) = reading(anchor, precise_now);
        let (os, counted) = (os - os_before, counter - counter_before);
        // A few parts per million off, and the reads' own spread.
        assert!(os.abs_diff(counted) < 50_000, "{os} ns vs {counted}");
    }
}
