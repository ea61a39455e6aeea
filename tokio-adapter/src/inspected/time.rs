//! Inspected timers: `sleep` and `timeout` with tokio's signatures, whose
//! deadlines the report shows ("sleeping, wakes in 1.2s", "timeout in
//! 27.7s").

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_inspect_core::wait::{TimeoutSlot, Wait, WaitSlot};
use pin_project_lite::pin_project;
pub use tokio::time::{Instant, error::Elapsed};

/// Waits until `duration` has elapsed, as `tokio::time::sleep`, recording a
/// sleep wait on the task while pending.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// async_inspect_tokio::time::sleep(std::time::Duration::from_millis(10)).await;
/// # }
/// ```
///
/// # Panics
///
/// As tokio's: outside a runtime with the time driver enabled.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        inner: tokio::time::sleep(duration),
        wait: WaitSlot::new(),
    }
}

/// Waits until `deadline`, as `tokio::time::sleep_until`.
///
/// # Panics
///
/// As tokio's: outside a runtime with the time driver enabled.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        inner: tokio::time::sleep_until(deadline),
        wait: WaitSlot::new(),
    }
}

pin_project! {
    /// The future of [`sleep`]: `tokio::time::Sleep` plus its recorded wait.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Sleep {
        #[pin]
        inner: tokio::time::Sleep,
        wait: WaitSlot,
    }
}

impl Sleep {
    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline()
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.inner.is_elapsed()
    }

    /// Moves the deadline, as `tokio::time::Sleep::reset`.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        this.wait.clear();
        this.inner.reset(deadline);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let deadline = this.inner.deadline();
        let ready = this.inner.poll(cx);
        if ready.is_pending() {
            this.wait
                .pending(|| Wait::Sleep(deadline.saturating_duration_since(Instant::now())));
        } else {
            this.wait.clear();
        }
        ready
    }
}

/// Requires `future` to complete before `duration` has elapsed, as
/// `tokio::time::timeout`. Awaits polled inside it show the deadline
/// ("Timeout: in 27.7s") instead of "will wait forever".
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use async_inspect_tokio::time::timeout;
///
/// let late = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
/// assert!(late.is_err());
/// # }
/// ```
///
/// # Panics
///
/// As tokio's: outside a runtime with the time driver enabled.
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    let deadline = Instant::now().checked_add(duration);
    Timeout {
        inner: tokio::time::timeout(duration, future),
        deadline,
        slot: TimeoutSlot::new(),
    }
}

/// Requires `future` to complete before `deadline`, as
/// `tokio::time::timeout_at`.
///
/// # Panics
///
/// As tokio's: outside a runtime with the time driver enabled.
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        inner: tokio::time::timeout_at(deadline, future),
        deadline: Some(deadline),
        slot: TimeoutSlot::new(),
    }
}

pin_project! {
    /// The future of [`timeout`]: `tokio::time::Timeout` plus its recorded
    /// deadline. Resolves to `Result<T, Elapsed>` as tokio's.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        deadline: Option<Instant>,
        slot: TimeoutSlot,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        self.inner.get_ref()
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        self.inner.get_mut()
    }

    /// The wrapped future, unwrapped.
    pub fn into_inner(self) -> F {
        self.inner.into_inner()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(deadline) = *this.deadline {
            this.slot
                .enter(|| deadline.saturating_duration_since(Instant::now()));
        }
        let poll = this.inner.poll(cx);
        if poll.is_ready() {
            this.slot.clear();
        }
        poll
    }
}
