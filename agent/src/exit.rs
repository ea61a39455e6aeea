//! A recording's last events, sent before the program exits.
//!
//! A recording client gets its events every `EVENTS_EVERY` (see the
//! server); what the program did in its last moments was still in the
//! threads' rings and the recorder's queue when the process ended, and was
//! lost without a count: a profile of a short program missed its last
//! requests, and most of them on a busy machine, where the CLI connects
//! late and reads slowly. At exit (the `atexit` handler that removes the
//! agent's socket, just before it does) the exiting thread asks every
//! recording session to send all that was recorded, and waits for them,
//! at most [`EXIT_WAIT`]; and for the CLI that launched the program to
//! take the recording it began for it, at most [`UNTAKEN_WAIT`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an exiting program waits for its recording sessions to send
/// their last events (a client that does not read is given up on).
pub(crate) const EXIT_WAIT: Duration = Duration::from_secs(5);

/// How long an exiting program waits for a client to take the recording
/// it began at its start for the CLI that launched it (`early`): the CLI
/// tries to connect every 20 ms; a process that inherited the request
/// from a program the CLI launched, and that the CLI never connects to,
/// is not held up for long.
pub(crate) const UNTAKEN_WAIT: Duration = Duration::from_secs(1);

/// Set by the exiting thread: sessions send everything, then say so.
static EXITING: AtomicBool = AtomicBool::new(false);

/// What the exiting program waits for.
#[derive(Debug)]
struct Unsent {
    /// Recording sessions that have not sent their last events since the
    /// program began to exit (before, every recording session).
    sessions: usize,
    /// Whether the recording begun for the launching CLI is still
    /// untaken.
    untaken: bool,
}

static UNSENT: Mutex<Unsent> = Mutex::new(Unsent {
    sessions: 0,
    untaken: false,
});
static CHANGED: Condvar = Condvar::new();

fn unsent() -> MutexGuard<'static, Unsent> {
    UNSENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the program is exiting: a recording session sends all it has
/// and calls [`Pending::sent`].
pub(crate) fn exiting() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// A recording the exiting program waits for: a session's, until it has
/// sent its last events or is gone; or the one begun for the launching
/// CLI, until a session takes it.
#[derive(Debug)]
pub(crate) struct Pending {
    untaken: bool,
    sent: bool,
}

impl Pending {
    /// A session that starts recording.
    pub(crate) fn new() -> Self {
        unsent().sessions += 1;
        Self {
            untaken: false,
            sent: false,
        }
    }

    /// The recording begun at the program's start for the CLI that
    /// launched it, until a session takes it ([`Pending::taken`]).
    pub(crate) fn untaken() -> Self {
        unsent().untaken = true;
        Self {
            untaken: true,
            sent: false,
        }
    }

    /// A session took the recording begun for the launching CLI: the
    /// program now waits for the session's last events.
    pub(crate) fn taken(mut self) -> Self {
        let mut unsent = unsent();
        if std::mem::replace(&mut self.untaken, false) {
            unsent.untaken = false;
            unsent.sessions += 1;
        }
        drop(unsent);
        CHANGED.notify_all();
        self
    }

    /// Whether the session sent its last events.
    pub(crate) fn is_sent(&self) -> bool {
        self.sent
    }

    /// The session sent everything recorded up to the exit (or is gone).
    pub(crate) fn sent(&mut self) {
        if std::mem::replace(&mut self.sent, true) {
            return;
        }
        let mut unsent = unsent();
        if self.untaken {
            unsent.untaken = false;
        } else {
            unsent.sessions -= 1;
        }
        drop(unsent);
        CHANGED.notify_all();
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.sent();
    }
}

/// Run by the exiting thread: asks the recording sessions for their last
/// events and waits until each has sent them or is gone ([`EXIT_WAIT`] at
/// most), and for an untaken early recording to be taken
/// ([`UNTAKEN_WAIT`] at most). Never panics (it runs in an `atexit`
/// handler).
pub(crate) fn wait_for_last_events() {
    EXITING.store(true, Ordering::Release);
    let started = Instant::now();
    let mut unsent = unsent();
    loop {
        let limit = match (unsent.sessions, unsent.untaken) {
            (0, false) => return,
            (0, true) => UNTAKEN_WAIT,
            _ => EXIT_WAIT,
        };
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return;
        }
        unsent = match CHANGED.wait_timeout(unsent, left) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}
