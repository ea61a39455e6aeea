//! A client of an agent: connect, shake hands, ask for snapshots.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use async_inspect_model::Snapshot;
use async_inspect_model::event::{Batch, Polls};
use async_inspect_model::wire::{
    EncodedEvents, PROTOCOL, Reply, Request, Welcome, WireError, decode_frame, read_frame,
    read_frame_bytes, write_frame,
};
use async_inspect_model::wire::{socket_dir, socket_for};

use crate::decode::Decoder;

/// How long the handshake and one snapshot may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// A connection to one program's agent.
pub struct Client {
    stream: UnixStream,
    pub welcome: Welcome,
    /// Whether it asked for events (then streamed snapshots carry only the
    /// latest finished tasks: the events have them all).
    recording: bool,
    /// Whether debugger requests go out while it streams.
    debugging: bool,
    /// Decodes the program's futures in each snapshot; `None` when asked
    /// not to ([`Client::without_state_machines`]).
    decoder: Option<Decoder>,
    /// Whether batches of events come undecoded
    /// ([`Client::events_encoded`]).
    events_encoded: bool,
}

/// Finished tasks kept in each snapshot of a recording.
const FINISHED_IN_RECORDINGS: u32 = 16;

/// Whether process `pid` exists: `Ok(true)`, `Ok(false)`, or an error when
/// it is another user's.
pub fn alive(pid: u32) -> anyhow::Result<bool> {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return Ok(false);
    };
    // SAFETY: signal 0 only checks that the process exists and may be
    // signalled; nothing is sent.
    if unsafe { libc::kill(raw, 0) } == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EPERM) => {
            bail!("process {pid} belongs to another user: only its user can attach")
        }
        _ => Ok(false),
    }
}

impl Client {
    /// Connects to the agent of process `pid`, with errors that say what to
    /// do about them.
    pub fn connect_pid(pid: u32) -> anyhow::Result<Self> {
        if !alive(pid)? {
            bail!("no process {pid}");
        }
        let path = socket_for(pid);
        if !path.exists() {
            bail!(
                "process {pid} is not inspectable: no agent socket at {} (build it with the \
                 `inspect` feature, and start the agent: run it under `async-inspect run`, or \
                 with ASYNC_INSPECT_AGENT=1)",
                path.display()
            );
        }
        Self::connect(&path).with_context(|| format!("process {pid}"))
    }

    /// Connects to the agent listening on `path` and shakes hands.
    pub fn connect(path: &Path) -> anyhow::Result<Self> {
        let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => {
                anyhow::anyhow!("permission denied on {}", path.display())
            }
            _ => anyhow::anyhow!("cannot connect to {}: {e}", path.display()),
        })?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        let hello = Request::Hello {
            protocol: PROTOCOL,
            client: format!("async-inspect {}", env!("CARGO_PKG_VERSION")),
        };
        write_frame(&mut stream, &hello).map_err(wire_error)?;
        match read_frame::<_, Reply>(&mut stream).map_err(wire_error)? {
            Reply::Welcome(welcome) => Ok(Self {
                stream,
                decoder: Some(Decoder::of(welcome.pid, path)),
                welcome,
                recording: false,
                debugging: false,
                events_encoded: false,
            }),
            Reply::Refused { reason } => {
                bail!("the agent refused this CLI (protocol {PROTOCOL}): {reason}")
            }
            other => bail!("the agent answered the handshake with {other:?}"),
        }
    }

    /// Snapshots come as the agent sends them, without decoding the
    /// program's futures (for a quick look at many processes).
    pub fn without_state_machines(mut self) -> Self {
        self.decoder = None;
        self
    }

    /// Batches of events come as [`Message::EncodedEvents`], undecoded:
    /// for a recorder that only writes them to a trace file (decoding them
    /// and encoding them again cost more than the program's collecting
    /// them).
    pub fn events_encoded(&mut self) {
        self.events_encoded = true;
    }

    /// One snapshot.
    pub fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        write_frame(&mut self.stream, &Request::Snapshot).map_err(wire_error)?;
        self.next_snapshot()
    }

    /// Asks for a snapshot every `interval`; read them with
    /// [`Client::next_snapshot`].
    pub fn stream(&mut self, interval: Duration) -> anyhow::Result<()> {
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        // A stream may pause longer than a request.
        self.stream.set_read_timeout(Some(interval + PATIENCE))?;
        let finished = self.recording.then_some(FINISHED_IN_RECORDINGS);
        let request = Request::Stream {
            interval_ms,
            finished,
        };
        write_frame(&mut self.stream, &request).map_err(wire_error)
    }

    /// Asks for every event from now on, sent as the agent collects them;
    /// read them with [`Client::next`].
    pub fn start_recording(&mut self, polls: Polls) -> anyhow::Result<()> {
        self.recording = true;
        write_frame(&mut self.stream, &Request::StartRecording { polls }).map_err(wire_error)
    }

    /// The next snapshot or batch of events the agent sends.
    pub fn next(&mut self) -> anyhow::Result<Message> {
        loop {
            let mut frame = read_frame_bytes(&mut self.stream).map_err(wire_error)?;
            if self.events_encoded {
                match EncodedEvents::of_frame(frame) {
                    Ok(events) => return Ok(Message::EncodedEvents(events)),
                    Err(other) => frame = other,
                }
            }
            match decode_frame::<Reply>(&frame).map_err(wire_error)? {
                Reply::Snapshot(mut snapshot) => {
                    if let Some(decoder) = &self.decoder {
                        decoder.decode(&mut snapshot);
                    }
                    return Ok(Message::Snapshot(snapshot));
                }
                Reply::Events(batch) => return Ok(Message::Events(batch)),
                Reply::Recording { .. } => {}
                news
                @ (Reply::Breakpoint { .. } | Reply::Paused { .. } | Reply::Resumed { .. }) => {
                    return Ok(Message::News(news));
                }
                // Debugger requests are sent only while the stream runs:
                // an error then is about one of them, and the stream goes on.
                news @ Reply::Error { .. } if self.debugging => return Ok(Message::News(news)),
                Reply::Error { message } => bail!("the agent could not answer: {message}"),
                other => bail!("the agent answered with {other:?}"),
            }
        }
    }

    /// The next snapshot the agent sends (events are skipped).
    pub fn next_snapshot(&mut self) -> anyhow::Result<Snapshot> {
        loop {
            if let Message::Snapshot(snapshot) = self.next()? {
                return Ok(*snapshot);
            }
        }
    }
}

/// What a stream brings.
#[derive(Debug)]
pub enum Message {
    /// A snapshot.
    Snapshot(Box<Snapshot>),
    /// Events recorded since the previous batch.
    Events(Box<Batch>),
    /// The same, undecoded ([`Client::events_encoded`]).
    EncodedEvents(EncodedEvents),
    /// What the agent said of a debugger request.
    News(Reply),
}

impl Message {
    /// The message with its events decoded, if they came undecoded: for
    /// a view that shows them.
    pub fn decoded(self) -> anyhow::Result<Self> {
        match self {
            Self::EncodedEvents(events) => {
                Ok(Self::Events(Box::new(events.decode().map_err(wire_error)?)))
            }
            message => Ok(message),
        }
    }
}

/// The program closed the connection: it ended (or stopped its agent).
#[derive(Debug)]
pub struct Ended;

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the program closed the connection (did it exit?)")
    }
}

impl std::error::Error for Ended {}

fn wire_error(error: WireError) -> anyhow::Error {
    match error {
        WireError::Closed => Ended.into(),
        WireError::Io(e) if e.kind() == io::ErrorKind::ConnectionReset => Ended.into(),
        other => anyhow::anyhow!("{other}"),
    }
}

/// The agent sockets of this user's processes, by pid.
pub fn sockets() -> Vec<(u32, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(socket_dir()) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let pid = path
                .file_name()?
                .to_str()?
                .strip_suffix(".sock")?
                .parse()
                .ok()?;
            Some((pid, path))
        })
        .collect();
    found.sort();
    found
}

/// The agent socket of `root` or, when it has none, of a process it
/// started (`async-inspect run -- cargo run --example x` inspects the
/// example, a grandchild): the first socket whose process descends from
/// `root`.
pub fn socket_of_tree(root: u32) -> Option<std::path::PathBuf> {
    let own = socket_for(root);
    if own.exists() {
        return Some(own);
    }
    sockets()
        .into_iter()
        .find(|(pid, _)| descends_from(*pid, root))
        .map(|(_, path)| path)
}

/// Whether `pid`'s parent chain reaches `root` (through /proc; false where
/// there is none).
fn descends_from(mut pid: u32, root: u32) -> bool {
    for _ in 0..64 {
        if pid == root {
            return true;
        }
        match parent_of(pid) {
            Some(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

impl Client {
    /// Sends one request (for the debugger, whose replies a reader thread
    /// takes: see [`Client::replies`]).
    pub fn send(&mut self, request: &Request) -> anyhow::Result<()> {
        write_frame(&mut self.stream, request).map_err(wire_error)
    }

    /// Ends the connection for both handles (the agent then lets go what
    /// this client held).
    /// A channel whose requests are written to the agent (by a thread of
    /// its own) while this client reads the stream: the terminal UI's
    /// debugger. Their answers come from [`Client::next`] as
    /// [`Message::News`].
    pub fn requests(&mut self) -> anyhow::Result<std::sync::mpsc::Sender<Request>> {
        let mut stream = self.stream.try_clone()?;
        self.debugging = true;
        let (sender, requests) = std::sync::mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for request in requests {
                if write_frame(&mut stream, &request).is_err() {
                    return;
                }
            }
        });
        Ok(sender)
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// A second handle on the connection that reads the agent's replies,
    /// one at a time, with no time limit.
    pub fn replies(&self) -> anyhow::Result<Replies> {
        let stream = self.stream.try_clone()?;
        stream.set_read_timeout(None)?;
        Ok(Replies(stream))
    }
}

/// The reading side of a connection.
#[derive(Debug)]
pub struct Replies(UnixStream);

impl Replies {
    /// The next reply.
    pub fn next(&mut self) -> anyhow::Result<Reply> {
        read_frame::<_, Reply>(&mut self.0).map_err(wire_error)
    }
}
