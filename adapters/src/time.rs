//! Timers for every runtime: `sleep` and `timeout` with tokio's signatures,
//! whose deadlines the report shows ("sleeping, wakes in 1.2s", "Timeout:
//! in 27.7s"). Inside a tokio runtime they run on tokio's timer (paused
//! time included); elsewhere (smol, async-std) on async-io's.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use async_inspect_adapters::time::{sleep, timeout};
//!
//! sleep(Duration::from_millis(10)).await;
//! let late = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
//! assert!(late.is_err());
//! # }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "inspect")]
use async_inspect_core::wait::{TimeoutSlot, Wait, WaitSlot};

/// Without recording, the slots are nothing.
#[cfg(not(feature = "inspect"))]
#[derive(Debug)]
struct WaitSlot;

#[cfg(not(feature = "inspect"))]
impl WaitSlot {
    fn new() -> Self {
        Self
    }
}

#[cfg(not(feature = "inspect"))]
use WaitSlot as TimeoutSlot;
use pin_project_lite::pin_project;
pub use std::time::Duration;
/// Intervals and tokio's paused time are tokio's own (an interval's tick
/// is not recorded as a wait).
pub use tokio::time::{Instant, Interval, MissedTickBehavior, interval, interval_at};
#[cfg(feature = "test-util")]
pub use tokio::time::{advance, pause, resume};

/// Errors of [`timeout`].
pub mod error {
    use std::fmt;

    /// The deadline of a [`timeout`](super::timeout) passed first.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Elapsed(());

    impl Elapsed {
        pub(super) fn new() -> Self {
            Self(())
        }
    }

    impl fmt::Display for Elapsed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("deadline has elapsed")
        }
    }

    impl std::error::Error for Elapsed {}

    impl From<Elapsed> for std::io::Error {
        fn from(_: Elapsed) -> Self {
            std::io::ErrorKind::TimedOut.into()
        }
    }
}

use error::Elapsed;

#[cfg(feature = "tokio-timer")]
type TokioSleep = tokio::time::Sleep;
#[cfg(not(feature = "tokio-timer"))]
type TokioSleep = NoTimer;
#[cfg(feature = "io-timer")]
type IoTimer = async_io::Timer;
#[cfg(not(feature = "io-timer"))]
type IoTimer = NoTimer;

/// Stands for a clock that is not compiled in: it cannot be made.
#[derive(Debug)]
enum NoTimer {}

#[allow(dead_code)] // One of the two stands in for a clock that is compiled in.
impl NoTimer {
    fn reset(self: Pin<&mut Self>, _: Instant) {
        match *self {}
    }

    fn set_at(&mut self, _: std::time::Instant) {
        match *self {}
    }

    fn deadline(&self) -> Instant {
        match *self {}
    }
}

impl Future for NoTimer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        match *self {}
    }
}

pin_project! {
    /// The clock a timer runs on, chosen when it is made.
    #[project = TimerProj]
    enum Timer {
        Tokio {
            #[pin]
            sleep: TokioSleep,
        },
        Io {
            timer: IoTimer,
            // async-io's timer does not tell its deadline; tokio's does.
            deadline: Instant,
        },
    }
}

impl Timer {
    /// Tokio's timer inside a tokio runtime, else async-io's.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime when only tokio's timer is compiled in, as
    /// tokio's own `sleep` does.
    fn at(deadline: Instant) -> Self {
        // Inside a tokio task (known without cloning the runtime's
        // handle, whose count every worker's timers would share), or
        // elsewhere inside a tokio runtime.
        #[cfg(all(feature = "tokio-timer", feature = "io-timer"))]
        let on_tokio =
            tokio::task::try_id().is_some() || tokio::runtime::Handle::try_current().is_ok();
        #[cfg(not(feature = "io-timer"))]
        let on_tokio = true;
        #[cfg(not(feature = "tokio-timer"))]
        let on_tokio = false;
        match on_tokio {
            #[cfg(feature = "tokio-timer")]
            true => Self::Tokio {
                sleep: tokio::time::sleep_until(deadline),
            },
            #[cfg(feature = "io-timer")]
            _ => Self::Io {
                timer: async_io::Timer::at(deadline.into_std()),
                deadline,
            },
            #[cfg(not(feature = "io-timer"))]
            false => unreachable!("only tokio's timer is compiled in"),
        }
    }

    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        match self.project() {
            TimerProj::Tokio { sleep } => sleep.reset(deadline),
            TimerProj::Io {
                timer,
                deadline: at,
            } => {
                timer.set_at(deadline.into_std());
                *at = deadline;
            }
        }
    }

    fn deadline(&self) -> Instant {
        match self {
            Self::Tokio { sleep } => sleep.deadline(),
            Self::Io { deadline, .. } => *deadline,
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            TimerProj::Tokio { sleep } => sleep.poll(cx),
            TimerProj::Io { timer, .. } => Pin::new(timer).poll(cx).map(drop),
        }
    }
}

/// Waits until `duration` has elapsed, as `tokio::time::sleep`, recording a
/// sleep wait on the task while pending.
///
/// # Panics
///
/// Outside any runtime with a timer: a tokio runtime with the time driver,
/// or anywhere once smol or async-std support is compiled in.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    // As tokio's: "for ever" (`Duration::MAX`) is about 30 years.
    let duration = duration.min(async_inspect_core::clock::FOR_EVER);
    Sleep::new(
        Instant::now() + duration,
        ends_at(duration),
        Location::caller(),
    )
}

/// Waits until `deadline`, as `tokio::time::sleep_until`.
///
/// # Panics
///
/// As [`sleep`].
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline, 0, Location::caller())
}

/// When a sleep of `duration` made now ends, on the inspector's clock, or 0
/// when inspection is off (the clock is then not read: reading it starts
/// its thread).
#[cfg(feature = "inspect")]
fn ends_at(duration: Duration) -> u64 {
    use async_inspect_core::{clock, config};
    if !config::enabled() {
        return 0;
    }
    clock::now().saturating_add(clock::from_duration(duration))
}

#[cfg(not(feature = "inspect"))]
fn ends_at(_: Duration) -> u64 {
    0
}

pin_project! {
    /// The future of [`sleep`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Sleep {
        #[pin]
        timer: Timer,
        wait: WaitSlot,
        // Where it was made: what woke the task, when the timer did.
        site: &'static Location<'static>,
        // When it ends on the inspector's clock, if known when it was made
        // (`sleep`'s duration): the wait it records needs no reading of
        // the OS clock then. 0 if not known (`sleep_until`, a reset).
        ends_at: u64,
    }
}

impl Sleep {
    fn new(deadline: Instant, ends_at: u64, site: &'static Location<'static>) -> Self {
        Self {
            timer: Timer::at(deadline),
            wait: WaitSlot::new(),
            site,
            ends_at,
        }
    }

    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.timer.deadline()
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    /// Moves the deadline, as `tokio::time::Sleep::reset`.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        #[cfg(feature = "inspect")]
        this.wait.clear();
        #[cfg(not(feature = "inspect"))]
        let _ = this.wait;
        *this.ends_at = 0;
        this.timer.reset(deadline);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let ready = this.timer.as_mut().poll(cx);
        #[cfg(not(feature = "inspect"))]
        let _ = (this.wait, this.site, this.ends_at);
        #[cfg(feature = "inspect")]
        if ready.is_pending() {
            let timer = this.timer.as_ref().get_ref();
            let ends_at = *this.ends_at;
            this.wait.pending(|| {
                Wait::Sleep(if ends_at != 0 {
                    let now = async_inspect_core::clock::now();
                    Duration::from_nanos(ends_at.saturating_sub(now))
                } else {
                    timer.deadline().saturating_duration_since(Instant::now())
                })
            });
        } else {
            this.wait.elapsed(this.site);
        }
        ready
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .finish_non_exhaustive()
    }
}

/// Requires `future` to complete before `duration` has elapsed, as
/// `tokio::time::timeout`. Awaits polled inside it show the deadline
/// ("Timeout: in 27.7s") instead of "will wait forever".
///
/// # Panics
///
/// As [`sleep`].
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    match Instant::now().checked_add(duration) {
        Some(deadline) => timeout_at(deadline, future),
        // Too far to represent: never.
        None => Timeout {
            future: future.into_future(),
            timer: None,
            slot: TimeoutSlot::new(),
            site: Location::caller(),
        },
    }
}

/// Requires `future` to complete before `deadline`, as
/// `tokio::time::timeout_at`.
///
/// # Panics
///
/// As [`sleep`].
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        timer: Some(Timer::at(deadline)),
        slot: TimeoutSlot::new(),
        site: Location::caller(),
    }
}

pin_project! {
    /// The future of [`timeout`]: resolves to `Result<T, Elapsed>`.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        timer: Option<Timer>,
        slot: TimeoutSlot,
        // Where it was made: what woke the task, when its deadline did.
        site: &'static Location<'static>,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The wrapped future, unwrapped.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        #[cfg(feature = "inspect")]
        if let Some(timer) = this.timer.as_ref().get_ref() {
            this.slot
                .enter(|| timer.deadline().saturating_duration_since(Instant::now()));
        }
        #[cfg(not(feature = "inspect"))]
        let _ = (this.slot, this.site);
        // The future first, as tokio's: one that is ready at the deadline
        // still wins.
        let poll = match this.future.poll(cx) {
            Poll::Ready(output) => Poll::Ready(Ok(output)),
            Poll::Pending => match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed::new())),
                _ => Poll::Pending,
            },
        };
        #[cfg(feature = "inspect")]
        match &poll {
            Poll::Ready(Err(_)) => this.slot.elapsed(this.site),
            Poll::Ready(Ok(_)) => this.slot.clear(),
            Poll::Pending => {}
        }
        poll
    }
}

impl<F: fmt::Debug> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("future", &self.future)
            .field("deadline", &self.timer.as_ref().map(Timer::deadline))
            .finish_non_exhaustive()
    }
}
