//! A recording of this program for a client that cannot reach the agent's
//! socket (`async-inspect record --url`, through a dashboard mounted with
//! control allowed): the program records itself for the time asked, on
//! the calling thread, and hands back the trace file's bytes.

use std::io;
use std::time::{Duration, Instant};

use async_inspect_core::record::{Polls, Recorder};
use async_inspect_model::trace_file::TraceWriter;

/// The longest recording one request may ask for.
pub const LONGEST: Duration = Duration::from_secs(600);

/// How often the recording takes a snapshot (what `record` does by
/// default).
const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);

/// Records the program for `duration` (at most [`LONGEST`]), with `polls`:
/// a trace file (events, and a snapshot every 100 ms, the first and the
/// last with the tasks' futures decoded), as `async-inspect record`
/// writes.
///
/// # Errors
///
/// When the trace cannot be encoded.
pub fn record_for(duration: Duration, polls: Polls) -> io::Result<Vec<u8>> {
    let duration = duration.min(LONGEST);
    let recorder = Recorder::start_with(polls);
    let first = crate::state_machines::snapshot();
    let program = crate::program_name();
    let mut bytes = Vec::new();
    let mut writer = TraceWriter::new(&mut bytes, first.pid(), &program, first.started_at_unix())?;
    writer.snapshot(&first)?;
    let started = Instant::now();
    let mut next_snapshot = started + SNAPSHOT_EVERY;
    while started.elapsed() < duration {
        let until = next_snapshot.min(started + duration);
        if let Some(batch) = recorder.recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            writer.events(&batch)?;
        }
        if Instant::now() >= next_snapshot {
            // Decoding every task's future ten times a second would cost
            // a large service too much: the first and last are decoded.
            writer.snapshot(&async_inspect_core::snapshot())?;
            next_snapshot += SNAPSHOT_EVERY;
        }
    }
    for batch in recorder.flush() {
        writer.events(&batch)?;
    }
    writer.snapshot(&crate::state_machines::snapshot())?;
    Ok(bytes)
}
