//! Trace files: what `async-inspect record` (and `run --record`) write and
//! `replay` and `export` read.
//!
//! A file is the 8 bytes `AIQTRACE`, a format version (4 bytes, big-endian),
//! then records, each framed as on the wire ([`wire`](crate::wire)):
//! a 4-byte big-endian length and MessagePack with field names. The first
//! record says which program was recorded; then come snapshots and batches
//! of recorded events ([`event`](crate::event)), each flushed as it is
//! written, so a program or recorder killed mid-way leaves a file readable
//! up to its last whole record. Memory while recording is one snapshot or
//! one batch.
//!
//! Format 1 held snapshots only; this build reads it as a trace without
//! events.
//!
//! The reader never panics: a file that is not a trace, one written by a
//! newer format, a record cut short or bytes that are not a record are
//! each a [`TraceError`] saying so.

use std::io::{self, Read, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Snapshot;
use crate::event::{Batch, Event, FnSite, ResourceSite};

/// The first bytes of every trace file.
pub const MAGIC: &[u8; 8] = b"AIQTRACE";

/// The format version this build writes, and the newest it reads.
pub const TRACE_VERSION: u32 = 3;

/// The longest record a reader accepts: 64 MiB.
const MAX_RECORD: u32 = 64 << 20;

/// One record of a trace file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Record {
    /// The program recorded (the first record).
    Started {
        /// Its process id.
        pid: u32,
        /// Its name.
        program: String,
        /// When its inspector started, since the Unix epoch.
        started_at_unix: Duration,
    },
    /// What the program looked like at one moment.
    Snapshot(Box<Snapshot>),
    /// Events recorded since the previous batch.
    Events(Box<Batch>),
}

/// Why a trace file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start as a trace does.
    #[error("not an async-inspect trace (it does not start with AIQTRACE)")]
    NotATrace,
    /// The file was written by a newer async-inspect.
    #[error(
        "written in trace format {0}, newer than this async-inspect reads ({TRACE_VERSION}): update it"
    )]
    NewerFormat(u32),
    /// A record is cut short: the file ends mid-record.
    #[error("the trace is cut short after {0} whole records")]
    Truncated(usize),
    /// A record's bytes are not a record, or its length is absurd.
    #[error("the trace is corrupt at record {index}: {reason}")]
    Corrupt {
        /// Which record, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Writes a trace, one record at a time.
#[derive(Debug)]
pub struct TraceWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace of the program `pid`, `program`.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn new(mut out: W, pid: u32, program: &str, started_at_unix: Duration) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        out.write_all(&TRACE_VERSION.to_be_bytes())?;
        let mut writer = Self { out, written: 12 };
        writer.write(&Record::Started {
            pid,
            program: program.to_owned(),
            started_at_unix,
        })?;
        Ok(writer)
    }

    /// Appends a snapshot and flushes it.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn snapshot(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        self.write(&RecordRef::Snapshot(snapshot))
    }

    /// Appends a batch of recorded events and flushes it.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn events(&mut self, batch: &Batch) -> io::Result<()> {
        self.write(&RecordRef::Events(batch))
    }

    /// Appends a batch of events as it came from the agent, undecoded
    /// (see [`EncodedEvents`](crate::wire::EncodedEvents)), and flushes it.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn encoded_events(&mut self, events: &crate::wire::EncodedEvents) -> io::Result<()> {
        self.write_bytes(events.bytes())
    }

    fn write(&mut self, record: &impl Serialize) -> io::Result<()> {
        let bytes = rmp_serde::to_vec_named(record).map_err(io::Error::other)?;
        self.write_bytes(&bytes)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|&len| len <= MAX_RECORD)
            .ok_or_else(|| io::Error::other("a record over 64 MiB"))?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(bytes)?;
        self.out.flush()?;
        self.written += 4 + u64::from(len);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The output, once the trace is written.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A [`Record`] by reference, so that writing one copies nothing (the
/// variants are named as `Record`'s, which is what a reader goes by).
#[derive(Serialize)]
enum RecordRef<'a> {
    Snapshot(&'a Snapshot),
    Events(&'a Batch),
}

/// A whole trace, as read.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Trace {
    /// The program's process id.
    pub pid: u32,
    /// The program's name.
    pub program: String,
    /// When its inspector started, since the Unix epoch.
    pub started_at_unix: Duration,
    /// Its snapshots, in order.
    pub snapshots: Vec<Snapshot>,
    /// Its recorded events, in the order they began (none if it was
    /// recorded without events).
    pub events: Vec<Event>,
    /// The traced fns the events name, by [`FnSite::id`].
    pub sites: Vec<FnSite>,
    /// The resources the events name.
    pub resources: Vec<ResourceSite>,
    /// Events lost while recording.
    pub events_dropped: u64,
    /// Set when the file ends mid-record (the program or recorder was
    /// killed): everything before is here.
    pub truncated: bool,
}

/// A traced call begun before a recording's first event (see
/// [`Trace::calls_before_events`]).
#[derive(Clone, Copy, Debug)]
pub struct EarlierCall<'a> {
    /// Its task.
    pub task: u64,
    /// The call, as the first snapshot shows it.
    pub frame: &'a crate::FrameInfo,
    /// The await it was parked at then: its index among the fn's awaits
    /// (as events number them), since when (the events' clock), and the
    /// awaited expression.
    pub parked: Option<(u16, u64, &'a str)>,
}

impl Trace {
    /// An empty trace of the program `pid`, `program`, to fill as a live
    /// connection brings snapshots and events.
    pub fn new(pid: u32, program: &str, started_at_unix: Duration) -> Self {
        Self {
            pid,
            program: program.to_owned(),
            started_at_unix,
            snapshots: Vec::new(),
            events: Vec::new(),
            sites: Vec::new(),
            resources: Vec::new(),
            events_dropped: 0,
            truncated: false,
        }
    }

    /// Adds a batch of events: its sites, resources and drops too.
    pub fn add_events(&mut self, batch: Batch) {
        self.sites.extend(batch.sites);
        self.resources.extend(batch.resources);
        self.events.extend(batch.events);
        self.events_dropped += batch.dropped;
    }

    /// Adds a live batch as [`add_events`](Self::add_events) does, keeping
    /// the trace bounded for a view that runs for days: past `events_kept`
    /// events the oldest go (half of what is kept at once, so this is
    /// rare, counted as dropped), and past
    /// max([`RESOURCES_KEPT`](Self::RESOURCES_KEPT), twice the events) the
    /// resources no kept event names go too (a program that makes a lock
    /// per connection).
    pub fn add_live_events(&mut self, batch: Batch, events_kept: usize) {
        self.add_events(batch);
        let over = self.events.len().saturating_sub(events_kept);
        if over > 0 {
            let drop = over.max(events_kept / 2).min(self.events.len());
            self.events.drain(..drop);
            self.events_dropped += drop as u64;
        }
        // Twice what the kept events can name, so the sweep runs once per
        // that many new locks.
        let most = Self::RESOURCES_KEPT.max(2 * self.events.len());
        if self.resources.len() > most {
            self.forget_unnamed_resources();
        }
    }

    /// The resources a live view keeps whatever its events name (see
    /// [`add_live_events`](Self::add_live_events)).
    pub const RESOURCES_KEPT: usize = 50_000;

    /// Forgets the resources no event of the trace names any more (their
    /// events were dropped from a live view), and any named twice (a
    /// recorder names a resource again after it forgot it): a long view of
    /// a program that makes a lock per connection stays bounded. A
    /// resource named again later shows as `resource #id`.
    pub fn forget_unnamed_resources(&mut self) {
        let named: std::collections::HashSet<u64> =
            self.events.iter().filter_map(Event::resource).collect();
        let mut seen = std::collections::HashSet::new();
        self.resources
            .retain(|r| named.contains(&r.id) && seen.insert(r.id));
    }

    /// Keeps the first naming of each resource (a long recording names a
    /// resource again after the recorder forgot it).
    fn dedup_resources(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.resources.retain(|r| seen.insert(r.id));
    }

    /// The snapshot as of `at` since the first one: the last taken at or
    /// before it (the first if `at` is before it).
    pub fn at(&self, at: Duration) -> Option<&Snapshot> {
        let first = self.snapshots.first()?.taken_at();
        self.snapshots
            .iter()
            .take_while(|s| s.taken_at().saturating_sub(first) <= at)
            .last()
            .or(self.snapshots.first())
    }

    /// The traced fn an event's `site` names.
    pub fn site(&self, id: u32) -> Option<&FnSite> {
        self.sites
            .get(id as usize)
            .filter(|s| s.id == id)
            .or_else(|| self.sites.iter().find(|s| s.id == id))
    }

    /// The resource an event's `resource` names.
    pub fn resource(&self, id: u64) -> Option<&ResourceSite> {
        self.resources.iter().find(|r| r.id == id)
    }

    /// Keeps only the tasks serving trace `id` (its id, or 8 or more of
    /// its first hex digits), as the recording's snapshots show their
    /// trace ids: their events, and them in each snapshot. How many tasks
    /// it kept.
    pub fn retain_trace(&mut self, id: &str) -> usize {
        let tasks: std::collections::HashSet<u64> = self
            .snapshots
            .iter()
            .flat_map(Snapshot::tasks)
            .filter(|task| task.in_trace(id))
            .map(|task| task.id.as_u64())
            .collect();
        self.events.retain(|event| tasks.contains(&event.task()));
        for snapshot in &mut self.snapshots {
            snapshot.retain_tasks(|task| tasks.contains(&task.id.as_u64()));
        }
        tasks.len()
    }

    /// The traced calls going on before the first event, as the first
    /// snapshot shows them: the recording has no `Enter` for them, and
    /// they are often what it was made for (a task stuck since before).
    /// Empty for a recording without events.
    pub fn calls_before_events(&self) -> Vec<EarlierCall<'_>> {
        let (Some(first), Some(first_event)) = (self.snapshots.first(), self.events.first()) else {
            return Vec::new();
        };
        let first_event = first_event.start();
        let entered: std::collections::HashSet<(u64, u32)> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Enter { task, frame, .. } => Some((*task, *frame)),
                _ => None,
            })
            .collect();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let mut calls = Vec::new();
        for task in first.tasks().iter().filter(|t| !t.state.is_finished()) {
            let id = task.id.as_u64();
            for frame in &task.frames {
                if entered.contains(&(id, frame.id)) || nanos(frame.entered_at) >= first_event {
                    continue;
                }
                let parked = frame.current_await().and_then(|step| match step.status {
                    crate::StepStatus::InProgress { since } if nanos(since) < first_event => {
                        Some((step.step - 1, nanos(since), &*step.expr))
                    }
                    _ => None,
                });
                calls.push(EarlierCall {
                    task: id,
                    frame,
                    parked,
                });
            }
        }
        calls
    }

    /// How long the recording spans, first snapshot to last.
    pub fn span(&self) -> Duration {
        match (self.snapshots.first(), self.snapshots.last()) {
            (Some(first), Some(last)) => last.taken_at().saturating_sub(first.taken_at()),
            _ => Duration::ZERO,
        }
    }
}

/// Reads a whole trace. A file cut mid-record (its program or recorder was
/// killed) is read up to its last whole record, with [`Trace::truncated`]
/// set; one cut before it names its program is [`TraceError::Truncated`].
///
/// # Errors
///
/// See [`TraceError`].
pub fn read_trace<R: Read>(mut input: R) -> Result<Trace, TraceError> {
    let mut head = Vec::new();
    (&mut input).take(12).read_to_end(&mut head)?;
    if head.len() < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
        return Err(TraceError::NotATrace);
    }
    if head.len() < 12 {
        return Err(TraceError::Truncated(0));
    }
    let version = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    if version > TRACE_VERSION {
        return Err(TraceError::NewerFormat(version));
    }
    let mut records = Vec::new();
    let truncated = loop {
        match read_record(&mut input, records.len()) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => break false,
            Err(TraceError::Truncated(_)) if !records.is_empty() => break true,
            Err(error) => return Err(error),
        }
    };
    assemble(records, truncated)
}

fn assemble(records: Vec<Record>, truncated: bool) -> Result<Trace, TraceError> {
    let mut records = records.into_iter();
    let Some(Record::Started {
        pid,
        program,
        started_at_unix,
    }) = records.next()
    else {
        return Err(TraceError::Corrupt {
            index: 0,
            reason: "the first record does not name the program".into(),
        });
    };
    let mut trace = Trace::new(pid, &program, started_at_unix);
    trace.truncated = truncated;
    for (i, record) in records.enumerate() {
        match record {
            Record::Snapshot(snapshot) => trace.snapshots.push(*snapshot),
            Record::Events(batch) => trace.add_events(*batch),
            Record::Started { .. } => {
                return Err(TraceError::Corrupt {
                    index: i + 1,
                    reason: "a second start".into(),
                });
            }
        }
    }
    // Batches are each in order; a poll that began before the previous
    // batch was collected can end up after it.
    trace.events.sort_by_key(Event::start);
    trace.dedup_resources();
    Ok(trace)
}

/// The next record: `None` at a clean end of file.
fn read_record<R: Read>(input: &mut R, index: usize) -> Result<Option<Record>, TraceError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(TraceError::Truncated(index)),
            n => got += n,
        }
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_RECORD {
        return Err(TraceError::Corrupt {
            index,
            reason: format!("a record of {len} bytes"),
        });
    }
    let mut bytes = Vec::new();
    input.take(u64::from(len)).read_to_end(&mut bytes)?;
    if bytes.len() < len as usize {
        return Err(TraceError::Truncated(index));
    }
    rmp_serde::from_slice(&bytes)
        .map(Some)
        .map_err(|e| TraceError::Corrupt {
            index,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_of(snapshots: usize) -> Vec<u8> {
        let mut writer = TraceWriter::new(Vec::new(), 7, "app", Duration::from_secs(1)).unwrap();
        for _ in 0..snapshots {
            writer.snapshot(&crate::snapshot::sample()).unwrap();
        }
        writer.out
    }

    #[test]
    fn a_trace_keeps_one_requests_tasks() {
        let mut snapshot = crate::snapshot::sample();
        let served = snapshot.tasks()[0].id.as_u64();
        let other = snapshot.tasks()[1].id.as_u64();
        snapshot.tasks_mut()[0].trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        let mut trace = Trace::new(7, "app", Duration::from_secs(1));
        trace.snapshots.push(snapshot);
        trace.events = [served, other, served]
            .into_iter()
            .enumerate()
            .map(|(i, task)| Event::Poll {
                task,
                start: i as u64 * 10,
                end: i as u64 * 10 + 5,
            })
            .collect();
        assert_eq!(trace.clone().retain_trace("0af76519"), 0);
        assert_eq!(trace.retain_trace("4BF92F35"), 1);
        assert!(trace.events.len() == 2 && trace.events.iter().all(|e| e.task() == served));
        let tasks = trace.snapshots[0].tasks();
        assert!(tasks.len() == 1 && tasks[0].id.as_u64() == served);
    }

    #[test]
    fn a_trace_reads_back_as_written() {
        let bytes = trace_of(3);
        let trace = read_trace(bytes.as_slice()).unwrap();
        assert_eq!((trace.pid, trace.program.as_str()), (7, "app"));
        assert_eq!(trace.snapshots.len(), 3);
        assert!(!trace.truncated);
        assert!(trace.at(Duration::ZERO).is_some());
    }

    #[test]
    fn events_read_back_in_order_with_their_sites() {
        use crate::event::{Batch, Event};
        let mut writer = TraceWriter::new(Vec::new(), 7, "app", Duration::ZERO).unwrap();
        writer.snapshot(&crate::snapshot::sample()).unwrap();
        let poll = |task, start| Event::Poll {
            task,
            start,
            end: start + 5,
        };
        let first = Batch {
            sites: vec![crate::event::FnSite {
                id: 0,
                function: "load".into(),
                module_path: "app".into(),
                file: "src/main.rs".into(),
                line: 3,
                awaits: vec![("fetch()".into(), 4)],
            }],
            events: vec![poll(1, 10), poll(1, 30)],
            ..Batch::default()
        };
        let second = Batch {
            events: vec![poll(2, 20)],
            dropped: 4,
            ..Batch::default()
        };
        writer.events(&first).unwrap();
        // The second as it comes from the agent, undecoded: the same
        // record as a decoded batch makes.
        let mut wire = Vec::new();
        let reply = crate::wire::Reply::Events(Box::new(second.clone()));
        crate::wire::write_frame(&mut wire, &reply).unwrap();
        let frame = crate::wire::read_frame_bytes(&mut wire.as_slice()).unwrap();
        let encoded = crate::wire::EncodedEvents::of_frame(frame).unwrap();
        assert_eq!((encoded.events(), encoded.dropped()), (1, 4));
        let mut decoded = TraceWriter::new(Vec::new(), 7, "app", Duration::ZERO).unwrap();
        let start = decoded.out.len();
        decoded.events(&second).unwrap();
        assert_eq!(&decoded.out[start + 4..], encoded.bytes());
        writer.encoded_events(&encoded).unwrap();
        let trace = read_trace(writer.out.as_slice()).unwrap();
        let starts: Vec<u64> = trace.events.iter().map(Event::start).collect();
        assert_eq!(starts, [10, 20, 30]);
        assert_eq!(trace.events_dropped, 4);
        assert_eq!(trace.site(0).unwrap().function, "load");
        assert_eq!(trace.snapshots.len(), 1);
    }

    #[test]
    fn only_a_batch_of_events_is_kept_encoded() {
        let mut wire = Vec::new();
        let reply = crate::wire::Reply::Snapshot(Box::new(crate::snapshot::sample()));
        crate::wire::write_frame(&mut wire, &reply).unwrap();
        let frame = crate::wire::read_frame_bytes(&mut wire.as_slice()).unwrap();
        let back = crate::wire::EncodedEvents::of_frame(frame.clone()).unwrap_err();
        assert_eq!(back, frame, "handed back whole");
        let garbage = vec![0xc1, 0x00, 0x13];
        assert!(crate::wire::EncodedEvents::of_frame(garbage).is_err());
        // A batch whose events are malformed is no batch to keep: here
        // the wake's time runs on past the end of the events.
        let batch = crate::event::Batch {
            events: vec![crate::event::Event::Wake {
                task: 1,
                by: 2,
                at: 300,
            }],
            ..crate::event::Batch::default()
        };
        let mut wire = Vec::new();
        crate::wire::write_frame(&mut wire, &crate::wire::Reply::Events(Box::new(batch))).unwrap();
        let frame = crate::wire::read_frame_bytes(&mut wire.as_slice()).unwrap();
        assert!(crate::wire::EncodedEvents::of_frame(frame.clone()).is_ok());
        let at = frame
            .windows(5)
            .position(|w| w == [12, 1, 2, 0xac, 0x02])
            .expect("the wake's bytes");
        let mut cut = frame;
        cut[at + 4] = 0x82; // 300's last byte, now saying more follow
        assert!(crate::wire::EncodedEvents::of_frame(cut).is_err());
    }

    #[test]
    fn a_resource_named_again_reads_back_once() {
        use crate::event::{Batch, ResourceSite};
        use crate::resource::ResourceKind;
        let lock = |id, label: &str| ResourceSite {
            id,
            kind: ResourceKind::Mutex,
            label: label.into(),
            created_at: "src/main.rs:1:1".into(),
        };
        let mut writer = TraceWriter::new(Vec::new(), 7, "app", Duration::ZERO).unwrap();
        // The recorder forgot lock 3 between the batches and named it again.
        for resources in [vec![lock(3, "db"), lock(4, "cache")], vec![lock(3, "db")]] {
            let batch = Batch {
                resources,
                ..Batch::default()
            };
            writer.events(&batch).unwrap();
        }
        let trace = read_trace(writer.out.as_slice()).unwrap();
        let ids: Vec<u64> = trace.resources.iter().map(|r| r.id).collect();
        assert_eq!(ids, [3, 4]);
        assert_eq!(trace.resource(3).unwrap().label, "db");
    }

    #[test]
    fn a_trace_cut_mid_record_keeps_what_came_before() {
        let mut writer = TraceWriter::new(Vec::new(), 7, "app", Duration::ZERO).unwrap();
        let snapshot = crate::snapshot::sample();
        writer.snapshot(&snapshot).unwrap();
        writer.snapshot(&snapshot).unwrap();
        let two = usize::try_from(writer.written()).unwrap();
        writer.snapshot(&snapshot).unwrap();
        let whole = writer.out;
        let cut = &whole[..two + 10];
        let trace = read_trace(cut).unwrap();
        assert_eq!(trace.snapshots.len(), 2);
        assert!(trace.truncated);
        assert!(matches!(
            read_trace(&whole[..14]),
            Err(TraceError::Truncated(0))
        ));
    }

    #[test]
    fn not_a_trace_newer_and_corrupt_files_are_errors() {
        assert!(matches!(
            read_trace(b"hello world, not a trace".as_slice()),
            Err(TraceError::NotATrace)
        ));
        let mut newer = trace_of(1);
        newer[8..12].copy_from_slice(&(TRACE_VERSION + 1).to_be_bytes());
        let error = read_trace(newer.as_slice()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("newer than this async-inspect reads")
        );
        let mut corrupt = trace_of(1);
        let last = corrupt.len() - 1;
        corrupt[20..last].fill(0xc1);
        assert!(matches!(
            read_trace(corrupt.as_slice()),
            Err(TraceError::Corrupt { .. })
        ));
    }

    #[test]
    fn random_bytes_after_the_header_never_panic_the_reader() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..500 {
            let mut bytes = trace_of(0);
            for _ in 0..(state % 200) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state as u8);
            }
            let _ = read_trace(bytes.as_slice());
        }
    }
}
