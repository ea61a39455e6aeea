//! Recording from the first poll, for a program the CLI launched to record
//! (`async-inspect run --record`, `async-inspect profile`): with
//! `ASYNC_INSPECT_RECORD=all` (every poll) or `=long` (long polls), a
//! recorder starts as the first task is made, before its first poll. Its
//! batches wait in the recorder's bounded queue until the CLI's client asks
//! for a recording and takes the recorder over, so the trace begins with
//! the program. Not taken within [`EXPIRY`] (the CLI gives up connecting
//! by then too), it is dropped and recording stops. A program that exits
//! before the CLI took it waits for the CLI (at most
//! [`UNTAKEN_WAIT`](crate::exit::UNTAKEN_WAIT)), so that even a program
//! shorter than the CLI's connecting is recorded whole.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_inspect_core::record::{Polls, Recorder};

use crate::exit::Pending;

/// How long the early recorder waits for a client.
pub const EXPIRY: Duration = Duration::from_secs(30);

/// The early recorder, the polls it records, and the exiting program's
/// wait for its events.
type Early = (Recorder, Polls, Pending);

static EARLY: Mutex<Option<Early>> = Mutex::new(None);

fn early() -> MutexGuard<'static, Option<Early>> {
    EARLY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The polls `ASYNC_INSPECT_RECORD` asks to record from the start, if any.
fn asked() -> Option<Polls> {
    match std::env::var("ASYNC_INSPECT_RECORD").ok()?.as_str() {
        "all" => Some(Polls::All),
        "long" => Some(Polls::Long),
        other => {
            eprintln!(
                "async-inspect: ASYNC_INSPECT_RECORD={other:?} is neither \"all\" nor \"long\": not recording from the start"
            );
            None
        }
    }
}

/// Starts the early recorder if the environment asks for one.
pub(crate) fn start_if_asked() {
    let Some(polls) = asked() else {
        return;
    };
    *early() = Some((Recorder::start_with(polls), polls, Pending::untaken()));
    let _ = std::thread::Builder::new()
        .name("async-inspect-early-recording".into())
        .spawn(|| {
            std::thread::sleep(EXPIRY);
            early().take();
        });
}

/// The early recorder, for a client asking to record `polls`, with the
/// exiting program's wait for its events: given once, and only if it
/// records at least those polls.
pub(crate) fn take(polls: Polls) -> Option<(Recorder, Pending)> {
    let mut early = early();
    match early.as_ref() {
        Some((_, have, _)) if *have == Polls::All || *have == polls => early
            .take()
            .map(|(recorder, _, pending)| (recorder, pending.taken())),
        _ => None,
    }
}
