//! The `blocking_*` methods' wait: a future run to completion on the
//! calling thread, parked between polls. tokio has these methods on its
//! `Semaphore` only in newer versions; running the wait here lets the
//! inspected semaphore keep them on every tokio the crate supports.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Wakes the blocked thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on this thread until it completes.
///
/// # Panics
///
/// As tokio's `blocking_*` methods, inside a tokio runtime: blocking one
/// of its threads on a wait that another of its tasks must end could
/// never finish.
#[track_caller]
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        panic!(
            "Cannot block the current thread from within a runtime. This happens because a \
             function attempted to block the current thread while the thread is being used to \
             drive asynchronous tasks."
        );
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
