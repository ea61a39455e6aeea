//! The socket server: a plain thread inside the inspected program that
//! serves the inspector protocol ([`wire`](async_inspect_model::wire)) on a Unix socket, so that `async-inspect
//! attach --pid N` and `ps` can look inside from another terminal. It never
//! runs on the inspected runtime: a deadlocked runtime is still inspectable.
//!
//! It starts with [`start`], when `ASYNC_INSPECT_AGENT=1` is set, or when
//! the program runs under `async-inspect run`. The socket is
//! `<dir>/<pid>.sock` in a per-user directory ([`socket_dir`], mode 0700;
//! the socket 0600), or `ASYNC_INSPECT_SOCKET`; it is removed when the
//! program exits normally, and `ps` cleans up after one that was killed.
//! Each client is served on a thread of its own, at most [`MAX_CLIENTS`] at
//! once, with write timeouts: a slow or vanished client never holds up the
//! program.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use async_inspect_core::record::Recorder;

use crate::debugger::Debugger;
use async_inspect_model::wire::{
    MAX_READ, MAX_READS, PROTOCOL, Reply, Request, Welcome, WireError, read_frame, socket_dir,
    write_frame,
};

/// The most clients served at once; more are refused.
pub const MAX_CLIENTS: usize = 16;

/// How long a client may take to say hello, and a write may block.
const PATIENCE: Duration = Duration::from_secs(5);

static SOCKET: OnceLock<PathBuf> = OnceLock::new();
static CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// The socket this process's agent listens on, once started.
pub fn socket() -> Option<&'static Path> {
    SOCKET.get().map(PathBuf::as_path)
}

/// Starts the agent (once; later calls return the same socket).
///
/// # Errors
///
/// When the socket directory cannot be made private to this user, or the
/// socket cannot be bound.
pub fn start() -> io::Result<&'static Path> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    async_inspect_core::config::init();
    let started = STARTED.get_or_init(|| bind_and_serve().map_err(|e| e.to_string()));
    match (started, socket()) {
        (Ok(()), Some(path)) => Ok(path),
        (Err(message), _) => Err(io::Error::other(message.clone())),
        (Ok(()), None) => Err(io::Error::other("the agent has no socket")),
    }
}

fn bind_and_serve() -> io::Result<()> {
    let path = match std::env::var_os("ASYNC_INSPECT_SOCKET").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let dir = socket_dir();
            private_dir(&dir)?;
            dir.join(format!("{}.sock", std::process::id()))
        }
    };
    // A socket left by a killed process with this pid.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", path.display()),
        )
    })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let _ = SOCKET.set(path);
    // SAFETY: `remove_socket` is an `extern "C" fn()` that does not unwind.
    unsafe {
        libc::atexit(remove_socket);
    }
    std::thread::Builder::new()
        .name("async-inspect-agent".into())
        .spawn(move || serve(listener))?;
    Ok(())
}

/// Makes `dir` (mode 0700), or checks that it is this user's alone.
fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot make {}: {e}", dir.display()),
            ));
        }
    }
    let meta = std::fs::metadata(dir)?;
    if meta.uid() != uid() || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not private to this user (owner {}, mode {:o}): not listening there",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

extern "C" fn remove_socket() {
    // While the socket is still there: the CLI that launched the program
    // to record it may not have connected yet.
    crate::exit::wait_for_last_events();
    if let Some(path) = SOCKET.get() {
        let _ = std::fs::remove_file(path);
    }
}

fn serve(listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if CLIENTS.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            CLIENTS.fetch_sub(1, Ordering::AcqRel);
            refuse(
                stream,
                format!("the agent serves {MAX_CLIENTS} clients at most"),
            );
            continue;
        }
        let spawned = std::thread::Builder::new()
            .name("async-inspect-client".into())
            .spawn(move || {
                let _ = serve_client(stream);
                CLIENTS.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            CLIENTS.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn refuse(mut stream: UnixStream, reason: String) {
    let _ = stream.set_write_timeout(Some(PATIENCE));
    let _ = write_frame(&mut stream, &Reply::Refused { reason });
}

fn serve_client(mut stream: UnixStream) -> Result<(), WireError> {
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let first = match read_frame::<_, Request>(&mut stream) {
        Ok(first) => first,
        Err(error) => {
            let reason = format!("no hello: {error}");
            let _ = write_frame(&mut stream, &Reply::Refused { reason });
            return Err(error);
        }
    };
    match first {
        Request::Hello { protocol, .. } if protocol == PROTOCOL => {}
        Request::Hello { protocol, client } => {
            eprintln!(
                "async-inspect agent: refused {client}: it speaks protocol {protocol}, this program {PROTOCOL}"
            );
            let reason = format!("this program speaks protocol {PROTOCOL}, not {protocol}");
            return write_frame(&mut stream, &Reply::Refused { reason });
        }
        _ => {
            let reason = "the first message must be a hello".to_owned();
            return write_frame(&mut stream, &Reply::Refused { reason });
        }
    }
    write_frame(&mut stream, &Reply::Welcome(welcome()))?;
    // Requests may come at any pace from now on, also while streaming: a
    // thread of its own reads them.
    stream.set_read_timeout(None)?;
    let requests = read_requests(stream.try_clone()?);
    let served = Session::default().serve(&mut stream, &requests);
    // Wakes the reader, blocked on the socket.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    served
}

/// How often a recording client gets its events.
const EVENTS_EVERY: Duration = Duration::from_millis(50);

/// How soon a streaming client gets a snapshot once a deadlock is found.
const DEADLOCK_NOTICE: Duration = Duration::from_millis(50);

/// Reads requests on a thread of their own until the client goes.
fn read_requests(mut stream: UnixStream) -> Receiver<Result<Request, WireError>> {
    let (tx, rx) = sync_channel(4);
    let spawned = std::thread::Builder::new()
        .name("async-inspect-client-reader".into())
        .spawn(move || {
            loop {
                let request = read_frame::<_, Request>(&mut stream);
                let last = request.is_err();
                if tx.send(request).is_err() || last {
                    return;
                }
            }
        });
    if let Err(error) = spawned {
        let (tx, rx) = sync_channel(1);
        let _ = tx.send(Err(WireError::Io(error)));
        return rx;
    }
    rx
}

/// What one client has asked for.
#[derive(Default)]
struct Session {
    /// Snapshot interval and when the next is due, while streaming.
    stream: Option<(Duration, Instant)>,
    /// Finished tasks kept in streamed snapshots.
    finished: Option<u32>,
    /// Deadlocks found when the last snapshot was streamed.
    deadlocks_seen: u64,
    recorder: Option<Recorder>,
    /// While recording: the exiting program waits for this session's last
    /// events (see the `exit` module).
    pending: Option<crate::exit::Pending>,
    /// This client's breakpoints and the tasks paused at them: dropped
    /// (and the tasks let go) when it goes.
    debugger: Debugger,
}

impl Session {
    fn serve(
        mut self,
        out: &mut UnixStream,
        requests: &Receiver<Result<Request, WireError>>,
    ) -> Result<(), WireError> {
        loop {
            let now = Instant::now();
            let mut wait = Duration::from_secs(3600);
            if let Some((_, due)) = self.stream {
                wait = wait
                    .min(due.saturating_duration_since(now))
                    .min(DEADLOCK_NOTICE);
            }
            if self.recorder.is_some() || self.debugger.is_active() {
                wait = wait.min(EVENTS_EVERY);
            }
            match requests.recv_timeout(wait) {
                Ok(Ok(request)) => self.answer(out, request)?,
                Ok(Err(WireError::Closed)) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(Err(error)) => {
                    let message = error.to_string();
                    let _ = write_frame(out, &Reply::Error { message });
                    return Err(error);
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.send_events(out)?;
            self.send_last_events(out)?;
            self.announce_pauses(out)?;
            // A new deadlock is news now, not at the next interval.
            let deadlocks = async_inspect_core::resource::deadlocks_found();
            if let Some((_, due)) = &mut self.stream
                && deadlocks != self.deadlocks_seen
            {
                self.deadlocks_seen = deadlocks;
                *due = Instant::now();
            }
            if let Some((interval, due)) = &mut self.stream
                && Instant::now() >= *due
            {
                let mut snapshot = async_inspect_core::snapshot();
                if let Some(n) = self.finished {
                    snapshot.keep_recent_finished(n as usize);
                }
                write_frame(out, &Reply::Snapshot(Box::new(snapshot)))?;
                *due = Instant::now() + *interval;
            }
        }
    }

    fn answer(&mut self, out: &mut UnixStream, request: Request) -> Result<(), WireError> {
        match request {
            Request::ReadMemory { address, len } => {
                let reply = match read_own_memory(address, len) {
                    Ok(bytes) => Reply::Memory { bytes },
                    Err(message) => Reply::Error { message },
                };
                write_frame(out, &reply)
            }
            Request::ReadMemoryMany { reads } => {
                let reply = match read_own_memory_many(&reads) {
                    Ok(reads) => Reply::MemoryMany { reads },
                    Err(message) => Reply::Error { message },
                };
                write_frame(out, &reply)
            }
            Request::Snapshot => write_frame(
                out,
                &Reply::Snapshot(Box::new(async_inspect_core::snapshot())),
            ),
            Request::Stream {
                interval_ms,
                finished,
            } => {
                let interval = Duration::from_millis(interval_ms.max(10));
                self.stream = Some((interval, Instant::now()));
                self.finished = finished;
                Ok(())
            }
            Request::StartRecording { polls } => {
                // Asked again with other polls: the new recorder starts
                // before the old one stops, so nothing is lost between.
                // The recording the program began at its start for the
                // CLI that launched it, if it is this client's to take.
                let (recorder, pending) = match crate::early::take(polls) {
                    Some((recorder, pending)) => (recorder, Some(pending)),
                    None => (Recorder::start_with(polls), None),
                };
                self.send_events(out)?;
                self.recorder = Some(recorder);
                if let Some(pending) = pending {
                    self.pending = Some(pending);
                }
                self.pending.get_or_insert_with(crate::exit::Pending::new);
                write_frame(out, &Reply::Recording { on: true })
            }
            Request::StopRecording => {
                self.send_events(out)?;
                self.recorder = None;
                self.pending = None;
                write_frame(out, &Reply::Recording { on: false })
            }
            Request::Hello { .. } => {
                let message = "a hello after the handshake".to_owned();
                write_frame(out, &Reply::Error { message })
            }
            request => match self.debugger.answer(&request) {
                Some(reply) => write_frame(out, &reply),
                None => Ok(()),
            },
        }
    }

    /// Tells the client of tasks that paused at its breakpoints.
    fn announce_pauses(&mut self, out: &mut UnixStream) -> Result<(), WireError> {
        for reply in self.debugger.pauses() {
            write_frame(out, &reply)?;
        }
        Ok(())
    }

    /// Once the program is exiting: collects what every thread recorded
    /// and sends all of it, once (see the `exit` module).
    fn send_last_events(&mut self, out: &mut UnixStream) -> Result<(), WireError> {
        if !crate::exit::exiting() {
            return Ok(());
        }
        let (Some(recorder), Some(pending)) = (&self.recorder, &mut self.pending) else {
            return Ok(());
        };
        if pending.is_sent() {
            return Ok(());
        }
        for batch in recorder.flush() {
            write_events(out, batch)?;
        }
        pending.sent();
        Ok(())
    }

    /// Sends the events collected for this client so far.
    fn send_events(&mut self, out: &mut UnixStream) -> Result<(), WireError> {
        let Some(recorder) = &self.recorder else {
            return Ok(());
        };
        while let Some(batch) = recorder.recv_timeout(Duration::ZERO) {
            write_events(out, batch)?;
        }
        Ok(())
    }
}

/// Sends `batch`, then hands its buffer back to the collector.
fn write_events(
    out: &mut UnixStream,
    batch: async_inspect_core::record::Batch,
) -> Result<(), WireError> {
    let reply = Reply::Events(Box::new(batch));
    write_frame(out, &reply)?;
    if let Reply::Events(batch) = reply {
        async_inspect_core::record::recycle(*batch);
    }
    Ok(())
}

fn welcome() -> Welcome {
    Welcome {
        protocol: PROTOCOL,
        pid: std::process::id(),
        program: crate::program_name(),
        started_at_unix: async_inspect_core::clock::started_at_unix(),
    }
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// `len` bytes of this program's memory at `address`, read through the
/// kernel (never a fault on a bad address).
/// Each of `reads` from this process's memory, in a few system calls;
/// `None` for a range it cannot read. An error for a request over the
/// limits ([`MAX_READS`] ranges, [`MAX_READ`] bytes in all).
fn read_own_memory_many(reads: &[(u64, u32)]) -> Result<Vec<Option<Vec<u8>>>, String> {
    use async_inspect_debuginfo::{Memory, ProcessMemory};
    let total: u64 = reads.iter().map(|&(_, len)| u64::from(len)).sum();
    if reads.len() > MAX_READS || total > u64::from(MAX_READ) {
        return Err(format!(
            "{} reads of {total} bytes in all are over the limit of {MAX_READS} reads of {MAX_READ} bytes",
            reads.len()
        ));
    }
    let mut buffers: Vec<Vec<u8>> = reads
        .iter()
        .map(|&(_, len)| vec![0; len as usize])
        .collect();
    let mut ranges: Vec<(u64, &mut [u8])> = reads
        .iter()
        .zip(&mut buffers)
        .map(|(&(address, _), buffer)| (address, &mut buffer[..]))
        .collect();
    let results = ProcessMemory::this_process().read_each(&mut ranges);
    drop(ranges);
    Ok(buffers
        .into_iter()
        .zip(results)
        .map(|(bytes, result)| result.is_ok().then_some(bytes))
        .collect())
}

fn read_own_memory(address: u64, len: u32) -> Result<Vec<u8>, String> {
    use async_inspect_debuginfo::{Memory, ProcessMemory};
    if len > MAX_READ {
        return Err(format!(
            "a read of {len} bytes is over the limit of {MAX_READ}"
        ));
    }
    let mut bytes = vec![0; len as usize];
    ProcessMemory::this_process()
        .read(address, &mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}
