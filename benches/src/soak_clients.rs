//! `soak --clients`: the agent's socket served all along the soak to the
//! clients that hurt a server most, each on a thread of its own:
//!
//! - a **stalled** one asks for a snapshot every 10 ms and never reads; the
//!   agent must let it go by itself (its write times out) and it comes back,
//!   over and over;
//! - a **slow** one records every poll and reads a frame every 100 ms, so
//!   the program's events pile up at the agent for it;
//! - a **churning** one connects, asks for a snapshot, reads it and hangs
//!   up, ten times a second: it must never be refused;
//! - a **vanishing** one starts a recording and hangs up at once, twice a
//!   second.
//!
//! Memory is the soak's business; these say what they saw, and whether
//! the agent kept serving.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_inspect_core::model::wire::{PROTOCOL, Reply, Request, read_frame, write_frame};
use async_inspect_core::record::Polls;

/// How long the stalled client, never reading, waits for the agent to hang
/// up on it: the agent gives up once a write of its has waited past its
/// write timeout (5 s) twice (a write that blocks returns what it wrote when
/// its time is up, and the next one then times out), so some 10 s after the
/// socket's buffer filled; the rest is room for a loaded machine. Reading
/// anything before the agent hung up would let its blocked write go on,
/// and the client would look kept (it did, on a loaded 2-core machine,
/// when the client started reading after 12 s).
const LET_GO_WITHIN: Duration = Duration::from_secs(60);

/// What the clients saw, counted as they go.
#[derive(Default)]
struct Seen {
    stalled_let_go: AtomicU64,
    stalled_kept: AtomicU64,
    slow_frames: AtomicU64,
    slow_events: AtomicU64,
    slow_dropped: AtomicU64,
    snapshots: AtomicU64,
    vanished: AtomicU64,
    /// The first thing that went wrong, in words.
    failures: std::sync::Mutex<Vec<String>>,
}

impl Seen {
    fn fail(&self, what: String) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() < 10 {
            failures.push(what);
        }
    }
}

/// One of the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Streams snapshots and never reads.
    Stalled,
    /// Records every poll and reads a frame every 100 ms.
    Slow,
    /// Connects, takes a snapshot, hangs up, ten times a second.
    Churning,
    /// Starts a recording and hangs up, twice a second.
    Vanishing,
}

/// The clients, running until [`Clients::stop`].
pub struct Clients {
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
    which: Vec<Client>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Starts this process's agent and `which` clients against it (all
    /// when none are named).
    pub fn start(which: &[Client]) -> Self {
        let socket = async_inspect_agent::start().expect("the agent starts");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Seen::default());
        let all = [
            Client::Stalled,
            Client::Slow,
            Client::Churning,
            Client::Vanishing,
        ];
        let which = if which.is_empty() { &all[..] } else { which };
        let threads = which
            .iter()
            .map(|&client| {
                let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
                let run: fn(&Path, &AtomicBool, &Seen) = match client {
                    Client::Stalled => stalled,
                    Client::Slow => slow,
                    Client::Churning => churning,
                    Client::Vanishing => vanishing,
                };
                std::thread::Builder::new()
                    .name(format!("soak-{client:?}-client"))
                    .spawn(move || run(socket, &stop, &seen))
                    .expect("a client thread")
            })
            .collect();
        Self {
            stop,
            seen,
            which: which.to_vec(),
            threads,
        }
    }

    /// Stops the clients; prints what they saw and whether the agent
    /// served them all as it should.
    pub fn stop(self) -> bool {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        let seen = &self.seen;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        println!(
            "clients: stalled let go {} times (kept {}); slow got {} frames, {} events ({} dropped \
             for it); {} snapshots to churning clients; {} vanished recorders",
            n(&seen.stalled_let_go),
            n(&seen.stalled_kept),
            n(&seen.slow_frames),
            n(&seen.slow_events),
            n(&seen.slow_dropped),
            n(&seen.snapshots),
            n(&seen.vanished),
        );
        let mut failures = seen
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let ran = |client| self.which.contains(&client);
        if n(&seen.stalled_kept) > 0 {
            failures.push("the agent kept a client that stopped reading".into());
        }
        if ran(Client::Stalled) && n(&seen.stalled_let_go) == 0 {
            failures.push("the agent never let the stalled client go".into());
        }
        if ran(Client::Slow) && n(&seen.slow_events) == 0 {
            failures.push("the slow recorder got no events".into());
        }
        if ran(Client::Churning) && n(&seen.snapshots) == 0 {
            failures.push("no churning client got a snapshot".into());
        }
        for failure in &failures {
            println!("clients: {failure}");
        }
        failures.is_empty()
    }
}

/// Connects and shakes hands.
fn connect(socket: &Path, seen: &Seen, who: &str) -> Option<UnixStream> {
    let mut stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(e) => {
            seen.fail(format!("{who}: cannot connect: {e}"));
            return None;
        }
    };
    // An agent that stops answering fails the soak, not hangs it.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let hello = Request::Hello {
        protocol: PROTOCOL,
        client: format!("soak {who}"),
    };
    let welcomed = write_frame(&mut stream, &hello)
        .map_err(|e| e.to_string())
        .and_then(|()| read_frame::<_, Reply>(&mut stream).map_err(|e| e.to_string()));
    match welcomed {
        Ok(Reply::Welcome(_)) => Some(stream),
        Ok(other) => {
            seen.fail(format!("{who}: not welcomed: {other:?}"));
            None
        }
        Err(e) => {
            seen.fail(format!("{who}: no welcome: {e}"));
            None
        }
    }
}

/// Sleeps `how_long` in short steps; whether the clients were stopped.
fn pause(stop: &AtomicBool, how_long: Duration) -> bool {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20).min(how_long));
    }
    stop.load(Ordering::Relaxed)
}

fn stalled(socket: &Path, stop: &AtomicBool, seen: &Seen) {
    // Each round runs to its end, also when the soak stops meanwhile: a
    // short soak still sees the agent let go of one client.
    loop {
        let Some(mut stream) = connect(socket, seen, "stalled") else {
            if pause(stop, Duration::from_secs(1)) {
                return;
            }
            continue;
        };
        let ask = Request::Stream {
            interval_ms: 10,
            finished: None,
        };
        if let Err(e) = write_frame(&mut stream, &ask) {
            seen.fail(format!("stalled: cannot ask for snapshots: {e}"));
            return;
        }
        let let_go = hung_up_within(&stream, LET_GO_WITHIN);
        let counter = if let_go {
            &seen.stalled_let_go
        } else {
            &seen.stalled_kept
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Whether the other end of `stream` hangs up within `limit`, asked of
/// the kernel without reading (`poll` for a hang-up): what the agent wrote
/// stays unread, so its writes stay blocked.
fn hung_up_within(stream: &UnixStream, limit: Duration) -> bool {
    use std::os::fd::AsRawFd;
    #[cfg(target_os = "linux")]
    const HUNG_UP: libc::c_short = libc::POLLHUP | libc::POLLRDHUP;
    #[cfg(not(target_os = "linux"))]
    const HUNG_UP: libc::c_short = libc::POLLHUP;
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let mut fd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: HUNG_UP,
            revents: 0,
        };
        // SAFETY: one valid `pollfd` for a descriptor `stream` owns.
        let ready = unsafe { libc::poll(&mut fd, 1, 100) };
        if ready > 0 && fd.revents & (HUNG_UP | libc::POLLERR) != 0 {
            return true;
        }
    }
    false
}

fn slow(socket: &Path, stop: &AtomicBool, seen: &Seen) {
    let Some(mut stream) = connect(socket, seen, "slow") else {
        return;
    };
    let polls = Polls::All;
    if let Err(e) = write_frame(&mut stream, &Request::StartRecording { polls }) {
        seen.fail(format!("slow: cannot ask to record: {e}"));
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    while !pause(stop, Duration::from_millis(100)) {
        match read_frame::<_, Reply>(&mut stream) {
            Ok(Reply::Events(batch)) => {
                seen.slow_frames.fetch_add(1, Ordering::Relaxed);
                seen.slow_events
                    .fetch_add(batch.events.len() as u64, Ordering::Relaxed);
                seen.slow_dropped
                    .fetch_add(batch.dropped, Ordering::Relaxed);
            }
            Ok(_) => {
                seen.slow_frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                seen.fail(format!("slow: the recording ended: {e}"));
                return;
            }
        }
    }
}

fn churning(socket: &Path, stop: &AtomicBool, seen: &Seen) {
    while !pause(stop, Duration::from_millis(100)) {
        let Some(mut stream) = connect(socket, seen, "churning") else {
            continue;
        };
        let answered = write_frame(&mut stream, &Request::Snapshot)
            .map_err(|e| e.to_string())
            .and_then(|()| read_frame::<_, Reply>(&mut stream).map_err(|e| e.to_string()));
        match answered {
            Ok(Reply::Snapshot(_)) => {
                seen.snapshots.fetch_add(1, Ordering::Relaxed);
            }
            Ok(other) => seen.fail(format!("churning: not a snapshot: {other:?}")),
            Err(e) => seen.fail(format!("churning: no snapshot: {e}")),
        }
    }
}

fn vanishing(socket: &Path, stop: &AtomicBool, seen: &Seen) {
    while !pause(stop, Duration::from_millis(500)) {
        let Some(mut stream) = connect(socket, seen, "vanishing") else {
            continue;
        };
        let polls = Polls::All;
        if write_frame(&mut stream, &Request::StartRecording { polls }).is_ok() {
            seen.vanished.fetch_add(1, Ordering::Relaxed);
        }
    }
}
