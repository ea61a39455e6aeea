//! Trace files on the CLI's side: opening one to read, and writing one
//! from a client that records.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_inspect_model::event::Polls;
use async_inspect_model::trace_file::{Trace, TraceWriter, read_trace};

use crate::client::{Client, Message};

/// Which polls to record: all of them, or the long ones.
pub(crate) fn polls(all: bool) -> Polls {
    if all { Polls::All } else { Polls::Long }
}

/// Reads the trace at `path`, saying on stderr when it is cut short.
pub(crate) fn open_trace(path: &Path) -> anyhow::Result<Trace> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let trace = read_trace(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if trace.truncated {
        eprintln!(
            "async-inspect: {} is cut short (its recorder stopped mid-record): showing its {} whole snapshots",
            path.display(),
            trace.snapshots.len()
        );
    }
    Ok(trace)
}

/// Where to record, and which polls.
pub(crate) type RecordTo = (PathBuf, Polls);

/// A trace file being written, from a client that records.
pub(crate) struct Recorder {
    writer: TraceWriter<std::io::BufWriter<File>>,
    snapshots: usize,
    events: u64,
    dropped: u64,
}

impl Recorder {
    /// Starts the trace at `path` and asks `client` for events.
    pub(crate) fn start((path, polls): &RecordTo, client: &mut Client) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        let welcome = &client.welcome;
        let writer = TraceWriter::new(
            std::io::BufWriter::new(file),
            welcome.pid,
            &welcome.program,
            welcome.started_at_unix,
        )?;
        client.start_recording(*polls)?;
        Ok(Self {
            writer,
            snapshots: 0,
            events: 0,
            dropped: 0,
        })
    }

    pub(crate) fn keep(&mut self, message: &Message) -> std::io::Result<()> {
        match message {
            Message::Snapshot(snapshot) => {
                self.snapshots += 1;
                self.writer.snapshot(snapshot)
            }
            Message::Events(batch) => {
                self.events += batch.events.len() as u64;
                self.dropped += batch.dropped;
                self.writer.events(batch)
            }
            Message::EncodedEvents(events) => {
                self.events += events.events();
                self.dropped += events.dropped();
                self.writer.encoded_events(events)
            }
            Message::News(_) => Ok(()),
        }
    }

    /// What was recorded, in words.
    pub(crate) fn summary(&self) -> String {
        let dropped = if self.dropped > 0 {
            format!(", {} events dropped", self.dropped)
        } else {
            String::new()
        };
        format!(
            "{} snapshots and {} events ({} bytes{dropped})",
            self.snapshots,
            self.events,
            self.writer.written()
        )
    }
}
