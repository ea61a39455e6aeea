//! A recording of this program for a client that cannot reach the agent's
//! socket (`async-inspect record --url`, through a dashboard mounted with
//! control allowed): the program records itself for the time asked, on
//! the calling thread, and hands back the trace file's bytes.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_inspect_core::record::{Polls, Recorder};
use async_inspect_model::trace_file::TraceWriter;

/// The longest recording one request may ask for.
pub const LONGEST: Duration = Duration::from_secs(600);

/// The largest trace one recording keeps in memory before it stops early
/// (a busy program recording every poll for minutes): 256 MiB.
pub const LARGEST: usize = 256 << 20;

/// Whether a recording for a client is under way: one at a time.
static UNDER_WAY: AtomicBool = AtomicBool::new(false);

/// Whether a recording for a client ([`record_for`]) is under way.
pub fn under_way() -> bool {
    UNDER_WAY.load(Ordering::Acquire)
}

/// Lets the next recording start when this one ends, however it ends.
struct UnderWay;

impl Drop for UnderWay {
    fn drop(&mut self) {
        UNDER_WAY.store(false, Ordering::Release);
    }
}

/// How often the recording takes a snapshot (what `record` does by
/// default).
const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);

/// Records the program for `duration` (at most [`LONGEST`]), with `polls`:
/// a trace file (events, and a snapshot every 100 ms, the first and the
/// last with the tasks' futures decoded), as `async-inspect record`
/// writes. A recording whose trace passes `largest` bytes (at most
/// [`LARGEST`]) stops there, with its last snapshot: its snapshots say
/// how long it lasted.
///
/// # Errors
///
/// When the trace cannot be encoded, or another recording is under way
/// ([`io::ErrorKind::ResourceBusy`]: one at a time, so that clients
/// cannot pile up recordings in the program's memory).
pub fn record_for(duration: Duration, polls: Polls, largest: usize) -> io::Result<Vec<u8>> {
    if UNDER_WAY.swap(true, Ordering::Acquire) {
        return Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "another recording of this program is under way",
        ));
    }
    let _under_way = UnderWay;
    let duration = duration.min(LONGEST);
    let largest = largest.min(LARGEST);
    let recorder = Recorder::start_with(polls);
    let first = crate::state_machines::snapshot();
    let program = crate::program_name();
    let mut bytes = Vec::new();
    let mut writer = TraceWriter::new(&mut bytes, first.pid(), &program, first.started_at_unix())?;
    writer.snapshot(&first)?;
    let started = Instant::now();
    let mut next_snapshot = started + SNAPSHOT_EVERY;
    while started.elapsed() < duration && writer.written() < largest as u64 {
        let until = next_snapshot.min(started + duration);
        if let Some(batch) = recorder.recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            writer.events(&batch)?;
            async_inspect_core::record::recycle(batch);
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
        async_inspect_core::record::recycle(batch);
    }
    writer.snapshot(&crate::state_machines::snapshot())?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_inspect_model::trace_file::read_trace;

    #[test]
    fn one_recording_at_a_time_and_none_past_its_size() {
        // A trace already past its size stops at once, with its last
        // snapshot.
        let started = Instant::now();
        let bytes = record_for(Duration::from_secs(60), Polls::All, 1).unwrap();
        assert!(started.elapsed() < Duration::from_secs(30));
        let trace = read_trace(bytes.as_slice()).unwrap();
        assert_eq!(trace.snapshots.len(), 2);

        // While one runs, another is refused, and not held up.
        let first = std::thread::spawn(|| record_for(Duration::from_secs(2), Polls::Long, LARGEST));
        let waited = Instant::now();
        while !under_way() {
            assert!(waited.elapsed() < Duration::from_secs(20), "never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        let refused = record_for(Duration::from_secs(2), Polls::Long, LARGEST).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ResourceBusy);
        assert!(refused.to_string().contains("under way"), "{refused}");
        let first = read_trace(first.join().unwrap().unwrap().as_slice()).unwrap();
        assert!(first.snapshots.len() >= 2);

        // Then the next may start.
        record_for(Duration::ZERO, Polls::Long, LARGEST).unwrap();
    }
}
