//! The inspector protocol: what the agent in a program and a client (the
//! CLI) say to each other over the agent's socket.
//!
//! Every message is a frame: a 4-byte big-endian length, then that many
//! bytes of MessagePack (serde, with field names, so that a newer side can
//! add fields). A frame longer than [`MAX_FRAME`] is refused before any
//! allocation. The client speaks first, with [`Request::Hello`] naming its
//! protocol version; the agent answers [`Reply::Welcome`] or, for another
//! version, [`Reply::Refused`] saying which it speaks, and both sides stop.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Snapshot;
use crate::breakpoint::Step;
use crate::event::{Batch, Polls};

/// The protocol version this build speaks.
pub const PROTOCOL: u32 = 7;

/// The longest frame either side accepts: 64 MiB (a snapshot of a million
/// tasks fits).
pub const MAX_FRAME: u32 = 64 << 20;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The first message: who is asking, in which protocol version.
    Hello {
        /// The client's [`PROTOCOL`].
        protocol: u32,
        /// The client, for the agent's messages (`async-inspect 0.1.0`).
        client: String,
    },
    /// One snapshot.
    Snapshot,
    /// A snapshot now and then every `interval_ms`, until the client goes.
    /// Other requests may follow while it streams.
    Stream {
        /// Milliseconds between snapshots (at least 10).
        interval_ms: u64,
        /// Keep only this many of the most recently finished tasks in each
        /// snapshot (a recording has their ends in its events); all if
        /// `None`.
        #[serde(default)]
        finished: Option<u32>,
    },
    /// Record events from now on and send them as they are collected
    /// ([`Reply::Events`]), until [`Request::StopRecording`] or the client
    /// goes.
    StartRecording {
        /// Which polls to keep.
        polls: Polls,
    },
    /// Stop recording; the events collected until now are sent first.
    StopRecording,
    /// Set a breakpoint (see [`debug`](crate::debug)) for as long as this
    /// client is connected; answered [`Reply::Breakpoint`] or an error.
    /// Tasks that pause at it are announced with [`Reply::Paused`].
    Break {
        /// `fn`, `fn#N`, `file.rs:LINE` or `point:LABEL`, optionally
        /// followed by conditions (see [`debug`](crate::debug)).
        spec: String,
    },
    /// Remove breakpoint `id`, letting go the tasks paused at it.
    Delete {
        /// The breakpoint.
        id: u64,
    },
    /// Let paused task `task` go on (every paused task if `None`).
    Continue {
        /// The task.
        task: Option<u64>,
    },
    /// Let paused task `task` (the one that paused last if `None`) go on
    /// and pause again as `how` says.
    Step {
        /// The task.
        task: Option<u64>,
        /// To its next await anywhere, in the same call or an outer one,
        /// or after its current call returns.
        how: Step,
    },
    /// Read `len` bytes of the program's memory at `address` (at most
    /// [`MAX_READ`]): what a client decoding the program's futures reads
    /// when the kernel will not let it read another process
    /// (`ptrace_scope`). Answered [`Reply::Memory`], or an error for memory
    /// the program cannot read itself.
    ReadMemory {
        /// The run-time address.
        address: u64,
        /// How many bytes.
        len: u32,
    },
    /// Read each range of `reads` (address, length), at most
    /// [`MAX_READS`] ranges of [`MAX_READ`] bytes in all, each on its own:
    /// [`Request::ReadMemory`] for the many small reads of a snapshot's
    /// tasks (their guard words and futures) in one round trip. Answered
    /// [`Reply::MemoryMany`], or an error for a request over the limits.
    ReadMemoryMany {
        /// The run-time addresses and lengths.
        reads: Vec<(u64, u32)>,
    },
}

/// The most bytes one [`Request::ReadMemory`] reads, or one
/// [`Request::ReadMemoryMany`] reads in all.
pub const MAX_READ: u32 = 1 << 20;

/// The most ranges one [`Request::ReadMemoryMany`] reads.
pub const MAX_READS: usize = 4096;

/// What the agent answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reply {
    /// The handshake succeeded.
    Welcome(Welcome),
    /// The handshake failed: the reason, in words.
    Refused {
        /// Why, including the agent's protocol version.
        reason: String,
    },
    /// A snapshot, asked for or streamed.
    Snapshot(Box<Snapshot>),
    /// Events recorded since the previous batch.
    Events(Box<Batch>),
    /// A breakpoint was set.
    Breakpoint {
        /// Its number.
        id: u64,
        /// What it stops at, as understood.
        spec: String,
    },
    /// A task paused at a breakpoint (or after a step).
    Paused {
        /// The task.
        task: u64,
        /// The breakpoint.
        breakpoint: u64,
    },
    /// Tasks were let go.
    Resumed {
        /// Which.
        tasks: Vec<u64>,
    },
    /// Recording started or stopped, as asked.
    Recording {
        /// Whether this client's recording is on now.
        on: bool,
    },
    /// The bytes a [`Request::ReadMemory`] asked for.
    Memory {
        /// Exactly as many as asked.
        #[serde(with = "blob")]
        bytes: Vec<u8>,
    },
    /// The bytes of each range a [`Request::ReadMemoryMany`] asked for, in
    /// order: exactly as many as asked, or `None` for a range the program
    /// cannot read itself.
    MemoryMany {
        /// One for each range.
        #[serde(with = "blobs")]
        reads: Vec<Option<Vec<u8>>>,
    },
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
}

/// The agent's side of the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The agent's [`PROTOCOL`].
    pub protocol: u32,
    /// The program's process id.
    pub pid: u32,
    /// The program's name.
    pub program: String,
    /// When the program's inspector started, since the Unix epoch.
    pub started_at_unix: Duration,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The other side closed the connection between frames.
    #[error("the connection was closed")]
    Closed,
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A frame's length is over [`MAX_FRAME`].
    #[error("a frame of {0} bytes is over the limit of {MAX_FRAME}")]
    TooLarge(u32),
    /// A frame's bytes are not a message of this protocol.
    #[error("a malformed message: {0}")]
    Malformed(String),
}

/// Writes `message` as one frame.
///
/// # Errors
///
/// When writing fails, or the message is over [`MAX_FRAME`].
pub fn write_frame<W: Write, T: Serialize>(out: &mut W, message: &T) -> Result<(), WireError> {
    thread_local! {
        /// The frame being written, kept for the next one.
        static FRAME: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    }
    crate::kept_buffer::with_kept(&FRAME, 4 << 20, |bytes| {
        write_frame_from(out, message, bytes)
    })
}

fn write_frame_from<W: Write, T: Serialize>(
    out: &mut W,
    message: &T,
    bytes: &mut Vec<u8>,
) -> Result<(), WireError> {
    rmp_serde::encode::write_named(bytes, message)
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Reads one frame and decodes it.
///
/// # Errors
///
/// [`WireError::Closed`] at a clean end between frames; otherwise when
/// reading fails, the length is over [`MAX_FRAME`], the frame is cut short,
/// or its bytes are not a `T`.
pub fn read_frame<R: Read, T: DeserializeOwned>(input: &mut R) -> Result<T, WireError> {
    decode_frame(&read_frame_bytes(input)?)
}

/// Reads one frame's bytes, undecoded (see [`decode_frame`] and
/// [`EncodedEvents::of_frame`]).
///
/// # Errors
///
/// As [`read_frame`], but for decoding.
pub fn read_frame_bytes<R: Read>(input: &mut R) -> Result<Vec<u8>, WireError> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    let mut bytes = Vec::new();
    input.take(u64::from(len)).read_to_end(&mut bytes)?;
    if bytes.len() < len as usize {
        return Err(WireError::Malformed(format!(
            "a frame cut short: {} of {len} bytes",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Decodes a frame's bytes ([`read_frame_bytes`]).
///
/// # Errors
///
/// When they are not a `T`.
pub fn decode_frame<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    rmp_serde::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// A [`Reply::Events`] frame as it came, its events not decoded: what a
/// recorder that only writes them to a trace file keeps
/// ([`TraceWriter::encoded_events`](crate::trace_file::TraceWriter::encoded_events)),
/// for a fraction of the cost of decoding and encoding them again.
///
/// ```
/// use async_inspect_model::event::{Batch, Event};
/// use async_inspect_model::wire::{EncodedEvents, Reply, read_frame_bytes, write_frame};
///
/// let batch = Batch {
///     events: vec![Event::Poll { task: 1, start: 10, end: 20 }],
///     dropped: 3,
///     ..Batch::default()
/// };
/// let mut wire = Vec::new();
/// write_frame(&mut wire, &Reply::Events(Box::new(batch))).unwrap();
/// let frame = read_frame_bytes(&mut wire.as_slice()).unwrap();
/// let events = EncodedEvents::of_frame(frame).unwrap();
/// assert_eq!((events.events(), events.dropped()), (1, 3));
/// assert_eq!(events.decode().unwrap().events.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedEvents {
    frame: Vec<u8>,
    events: u64,
    dropped: u64,
}

impl EncodedEvents {
    /// The frame, if it is a whole, well-formed [`Reply::Events`] (its
    /// events checked as decoding them would, a few nanoseconds each);
    /// it is handed back if not (another reply, or malformed: decode it
    /// to say which).
    ///
    /// # Errors
    ///
    /// The frame, when it is not a batch of events.
    pub fn of_frame(frame: Vec<u8>) -> Result<Self, Vec<u8>> {
        /// A [`Reply`] read as a batch, its events left as they are.
        #[derive(Deserialize)]
        enum Header<'a> {
            Events(#[serde(borrow)] BatchHeader<'a>),
        }
        /// Read whole, so that a malformed batch is refused here, not
        /// written to a trace that would not read back.
        #[derive(Deserialize)]
        struct BatchHeader<'a> {
            #[serde(rename = "sites")]
            _sites: Vec<crate::event::FnSite>,
            #[serde(rename = "resources")]
            _resources: Vec<crate::event::ResourceSite>,
            dropped: u64,
            #[serde(borrow)]
            events: &'a [u8],
        }
        let counts =
            rmp_serde::from_slice::<Header<'_>>(&frame)
                .ok()
                .and_then(|Header::Events(batch)| {
                    let events = crate::event::checked_count(batch.events)?;
                    Some((events, batch.dropped))
                });
        match counts {
            Some((events, dropped)) => Ok(Self {
                frame,
                events,
                dropped,
            }),
            None => Err(frame),
        }
    }

    /// How many events it holds.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// How many events were lost since the batch before it.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The batch, decoded.
    ///
    /// # Errors
    ///
    /// When its events are malformed (only its counts were read).
    pub fn decode(&self) -> Result<Batch, WireError> {
        match decode_frame::<Reply>(&self.frame)? {
            Reply::Events(batch) => Ok(*batch),
            other => Err(WireError::Malformed(format!("{other:?} for events"))),
        }
    }

    /// The frame's bytes: a `Reply::Events`, which a trace file's
    /// `Record::Events` encodes the same way.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.frame
    }
}

/// Where agents listen: the directory of this user's agent sockets,
/// `$XDG_RUNTIME_DIR/async-inspect`, else `async-inspect-<uid>` in the
/// temp directory.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("async-inspect"),
        None => std::env::temp_dir().join(format!("async-inspect-{}", uid())),
    }
}

/// The socket the agent of process `pid` listens on, by default.
pub fn socket_for(pid: u32) -> PathBuf {
    socket_dir().join(format!("{pid}.sock"))
}

#[cfg(unix)]
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

/// Bytes as one binary string (msgpack's `bin`), not a list of numbers
/// (up to two bytes each, and a call per byte to write and read them).
mod blob {
    use std::fmt;

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], out: S) -> Result<S::Ok, S::Error> {
        out.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<u8>, D::Error> {
        input.deserialize_byte_buf(Bytes)
    }

    /// Reads bytes whichever way the format hands them.
    pub(super) struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // A format without a bytes type hands them as a list.
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

/// A list of [`blob`]s, each of them or `None`.
mod blobs {
    use serde::de::Deserializer;
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    /// One read's bytes, written as a blob.
    #[derive(Serialize)]
    struct Out<'a>(#[serde(with = "super::blob")] &'a Vec<u8>);

    /// One read's bytes, read as a blob.
    #[derive(Deserialize)]
    struct In(#[serde(with = "super::blob")] Vec<u8>);

    pub(super) fn serialize<S: Serializer>(
        reads: &[Option<Vec<u8>>],
        out: S,
    ) -> Result<S::Ok, S::Error> {
        out.collect_seq(reads.iter().map(|read| read.as_ref().map(Out)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        input: D,
    ) -> Result<Vec<Option<Vec<u8>>>, D::Error> {
        let reads = Vec::<Option<In>>::deserialize(input)?;
        Ok(reads
            .into_iter()
            .map(|read| read.map(|In(bytes)| bytes))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_goes_through_a_frame_unchanged() {
        let snapshot = crate::snapshot::sample();
        let mut wire = Vec::new();
        write_frame(&mut wire, &Reply::Snapshot(Box::new(snapshot.clone()))).unwrap();
        let back: Reply = read_frame(&mut wire.as_slice()).unwrap();
        assert_eq!(back, Reply::Snapshot(Box::new(snapshot)));
    }

    #[test]
    fn memory_goes_as_binary_strings_and_comes_back_the_same() {
        let page: Vec<u8> = (0..4096).map(|i| (i % 256) as u8).collect();
        for reply in [
            Reply::Memory {
                bytes: page.clone(),
            },
            Reply::MemoryMany {
                reads: vec![
                    Some(page.clone()),
                    None,
                    Some(Vec::new()),
                    Some(vec![255; 8]),
                ],
            },
        ] {
            let mut wire = Vec::new();
            write_frame(&mut wire, &reply).unwrap();
            // Each byte once (half of them would take two as numbers).
            assert!(wire.len() < page.len() + 100, "{} bytes", wire.len());
            let back: Reply = read_frame(&mut wire.as_slice()).unwrap();
            assert_eq!(back, reply);
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let too_long = (MAX_FRAME + 1).to_be_bytes();
        let read = read_frame::<_, Request>(&mut too_long.as_slice());
        assert!(matches!(read, Err(WireError::TooLarge(_))), "{read:?}");

        let cut = [0, 0, 0, 10, 1, 2];
        let read = read_frame::<_, Request>(&mut cut.as_slice());
        assert!(matches!(read, Err(WireError::Malformed(_))), "{read:?}");

        let garbage = [0, 0, 0, 3, 0xc1, 0xc1, 0xc1];
        let read = read_frame::<_, Request>(&mut garbage.as_slice());
        assert!(matches!(read, Err(WireError::Malformed(_))), "{read:?}");

        let read = read_frame::<_, Request>(&mut [].as_slice());
        assert!(matches!(read, Err(WireError::Closed)), "{read:?}");
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 64) as usize;
            bytes.extend_from_slice(&(len as u32).to_be_bytes());
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state as u8);
            }
            let _ = read_frame::<_, Request>(&mut bytes.as_slice());
            let _ = read_frame::<_, Reply>(&mut bytes.as_slice());
        }
    }
}
