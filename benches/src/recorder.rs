//! The "recording" contender: the program's agent streams every event (each
//! poll, traced call, await, lock event) and a snapshot every 100 ms to a
//! recorder that writes them to a trace file, as `async-inspect record`
//! does from another process. Here the recorder is a
//! thread of the benchmark's own process, so its work counts too.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use async_inspect_core::model::trace_file::TraceWriter;
use async_inspect_core::model::wire::{
    EncodedEvents, PROTOCOL, Reply, Request, decode_frame, read_frame, read_frame_bytes,
    write_frame,
};
use async_inspect_core::record::Polls;

/// How often the recorder asks for a snapshot.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Starts the agent and a recorder writing to a temp file, when
/// `ASYNC_INSPECT_BENCH_RECORD` is set.
pub fn start_if_asked() {
    if std::env::var_os("ASYNC_INSPECT_BENCH_RECORD").is_none() {
        return;
    }
    let socket = async_inspect_agent::start().expect("the agent starts");
    let mut stream = UnixStream::connect(socket).expect("the agent accepts");
    let hello = Request::Hello {
        protocol: PROTOCOL,
        client: "async-inspect-bench".into(),
    };
    write_frame(&mut stream, &hello).expect("hello");
    let Ok(Reply::Welcome(welcome)) = read_frame(&mut stream) else {
        panic!("the agent welcomes the recorder");
    };
    let interval_ms = u64::try_from(INTERVAL.as_millis()).unwrap_or(100);
    let polls = if std::env::var_os("ASYNC_INSPECT_BENCH_RECORD_ALL").is_some() {
        Polls::All
    } else {
        Polls::Long
    };
    write_frame(&mut stream, &Request::StartRecording { polls }).expect("record");
    write_frame(
        &mut stream,
        &Request::Stream {
            interval_ms,
            finished: Some(16),
        },
    )
    .expect("stream");
    let path =
        std::env::temp_dir().join(format!("async-inspect-bench-{}.trace", std::process::id()));
    let file = std::fs::File::create(&path).expect("a temp trace file");
    // Written through the open file; unlinked now, so that a process that
    // ends before its recorder thread (every run does) leaves nothing.
    let _ = std::fs::remove_file(&path);
    let mut writer = TraceWriter::new(
        std::io::BufWriter::new(file),
        welcome.pid,
        &welcome.program,
        welcome.started_at_unix,
    )
    .expect("the trace starts");
    // The agent starts recording on its own thread: the measured body
    // begins once it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !async_inspect_core::record::recording() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never started recording"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // As `async-inspect record` does: events are written as they came,
    // undecoded; snapshots decoded (the CLI decodes their futures).
    std::thread::spawn(move || {
        while let Ok(frame) = read_frame_bytes(&mut stream) {
            let frame = match EncodedEvents::of_frame(frame) {
                Ok(events) => {
                    if writer.encoded_events(&events).is_err() {
                        break;
                    }
                    continue;
                }
                Err(frame) => frame,
            };
            let written = match decode_frame(&frame) {
                Ok(Reply::Snapshot(snapshot)) => writer.snapshot(&snapshot),
                Ok(Reply::Events(batch)) => writer.events(&batch),
                Ok(Reply::Recording { .. }) => Ok(()),
                _ => break,
            };
            if written.is_err() {
                break;
            }
        }
    });
}
