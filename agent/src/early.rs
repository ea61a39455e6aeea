//! Recording from the first poll, for a program the CLI launched to record
//! (`async-inspect run --record`, `async-inspect profile`): with
//! `ASYNC_INSPECT_RECORD=all` (every poll) or `=long` (long polls), a
//! recorder starts as the first task is made, before its first poll. Its
//! batches wait in the recorder's bounded queue until the CLI's client asks
//! for a recording and takes the recorder over, so the trace begins with
//! the program. Not taken within [`EXPIRY`] (the CLI gives up connecting
//! by then too), it is dropped and recording stops.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_inspect_core::record::{Polls, Recorder};

/// How long the early recorder waits for a client.
pub const EXPIRY: Duration = Duration::from_secs(30);

static EARLY: Mutex<Option<(Recorder, Polls)>> = Mutex::new(None);

fn early() -> MutexGuard<'static, Option<(Recorder, Polls)>> {
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
    *early() = Some((Recorder::start_with(polls), polls));
    let _ = std::thread::Builder::new()
        .name("async-inspect-early-recording".into())
        .spawn(|| {
            std::thread::sleep(EXPIRY);
            early().take();
        });
}

/// The early recorder, for a client asking to record `polls`: given once,
/// and only if it records at least those polls.
pub(crate) fn take(polls: Polls) -> Option<Recorder> {
    let mut early = early();
    match early.as_ref() {
        Some((_, have)) if *have == Polls::All || *have == polls => early.take().map(|(r, _)| r),
        _ => None,
    }
}
