//! `async-inspect`: look inside a running async Rust program from another
//! terminal.
//!
//! ```text
//! async-inspect ps                        # the inspectable processes of this user
//! async-inspect attach --pid 12345 --dump # one report of a running process
//! async-inspect run --report -- ./my-app  # run with the agent on, report at the end
//! async-inspect record --pid 12345 -o app.trace --duration 10s
//! async-inspect replay app.trace --at 2.5s # the report as of that moment
//! async-inspect export app.trace --format json -o app.json
//! ```
//!
//! Errors are one line on stderr and exit status 1; never a panic or a hang.

mod client;
mod debug;
mod profile;
mod test;

use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_inspect_core::config::parse_duration;
use async_inspect_core::profile::Weight;
use async_inspect_core::record::Polls;
use async_inspect_core::trace_file::{Trace, TraceWriter, read_trace};
use async_inspect_core::{Snapshot, TaskState};
use async_inspect_tui::Update;
use clap::{Parser, Subcommand};

use client::{Client, Message, alive, sockets};

/// Look inside a running async Rust program: every task, the `.await` it is
/// stuck on, why, and who holds what it waits for.
#[derive(Parser, Debug)]
#[command(name = "async-inspect", version)]
struct Cli {
    /// Draw the terminal UI with ASCII only (no box drawing, arrows or
    /// emoji), for terminals and fonts without them.
    #[arg(long, global = true)]
    ascii: bool,
    #[command(subcommand)]
    command: Command,
}

/// Set once from `--ascii`.
static ASCII: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn ascii() -> bool {
    ASCII.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List this user's inspectable processes: pid, program, tasks, blocked
    /// tasks, deadlocks.
    Ps,
    /// Look inside a running process whose agent is on.
    Attach {
        /// The process id.
        #[arg(long)]
        pid: u32,
        /// Print one report and exit, instead of a live view.
        #[arg(long)]
        dump: bool,
        /// With --dump: the snapshot as JSON instead of the report.
        #[arg(long, requires = "dump")]
        json: bool,
        /// How often the live view refreshes.
        #[arg(long, default_value = "1s", value_parser = duration)]
        interval: Duration,
        /// A refreshing text report instead of the terminal UI (as when
        /// the output is not a terminal).
        #[arg(long)]
        no_tui: bool,
    },
    /// Run a program with its agent on, and show what its tasks do.
    Run {
        /// Print the report as of the program's end, without a live view.
        #[arg(long)]
        report: bool,
        /// Also record the run to this trace file.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Record every poll with precise times, not only the long ones
        /// (costs more: see BENCHMARKS.md).
        #[arg(long, requires = "record")]
        all_polls: bool,
        /// How often the live view refreshes.
        #[arg(long, default_value = "1s", value_parser = duration)]
        interval: Duration,
        /// A refreshing text report instead of the terminal UI (as when
        /// the output is not a terminal).
        #[arg(long)]
        no_tui: bool,
        /// The program and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        program: Vec<OsString>,
    },
    /// Run `cargo test` with every `#[async_inspect::test]` under a timeout:
    /// a hanging test fails with where it is stuck, and the summary lists
    /// the tests that hung, the deadlocks and the lock-order inversions.
    Test {
        /// The timeout of each test.
        #[arg(long, default_value = "60s", value_parser = duration)]
        timeout: Duration,
        /// Exit non-zero when a test hung.
        #[arg(long)]
        fail_on_hang: bool,
        /// Exit non-zero when a deadlock was found.
        #[arg(long)]
        fail_on_deadlock: bool,
        /// Record lock order, and exit non-zero on an inversion.
        #[arg(long)]
        fail_on_lock_order: bool,
        /// Where each hung test's trace goes (`<test>.trace`: its events and
        /// where it was stuck).
        #[arg(long, value_name = "DIR", default_value = "target/async-inspect")]
        trace_out: PathBuf,
        /// Arguments for `cargo test` (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<OsString>,
    },
    /// Record a running process to a trace file (its events: polls, traced
    /// calls, awaits, lock waits and holds, inspect points; and snapshots
    /// at an interval) until it ends, `--duration` passes, or the recorder
    /// is stopped.
    Record {
        /// The process id.
        #[arg(long)]
        pid: u32,
        /// The trace file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// How long to record.
        #[arg(long, value_parser = duration)]
        duration: Option<Duration>,
        /// How often to take a snapshot.
        #[arg(long, default_value = "100ms", value_parser = duration)]
        interval: Duration,
        /// Record every poll with precise times, not only those that last
        /// a clock tick (1 ms) or more (costs more: see BENCHMARKS.md).
        #[arg(long)]
        all_polls: bool,
    },
    /// Run a program recording every poll, then print where the time went:
    /// the slowest traced functions and awaits (count, mean, p50, p99, max),
    /// lock contention, hot call paths and suggestions.
    Profile {
        /// Rows per table.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Also write a flamegraph (SVG) of time per logical async stack.
        #[arg(long, value_name = "OUT.svg")]
        flamegraph: Option<PathBuf>,
        /// The flamegraph weighs time parked on awaits, not time in polls.
        #[arg(long, requires = "flamegraph")]
        wait: bool,
        /// Keep the recording in this trace file.
        #[arg(long, value_name = "FILE", conflicts_with = "from")]
        record: Option<PathBuf>,
        /// Profile this recording instead of running a program.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// The program and its arguments (after `--`).
        #[arg(
            required_unless_present = "from",
            conflicts_with = "from",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        program: Vec<OsString>,
    },
    /// Serve a web dashboard of a running process, a recording, or (with
    /// neither) a process chosen on the page from this user's.
    Serve {
        /// The process id of a running, inspectable program.
        #[arg(long, conflicts_with = "trace")]
        pid: Option<u32>,
        /// A recording to serve instead.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// The port (0: any free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on; anything but loopback needs --token.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// A token every request must carry (printed in the URL to open).
        #[arg(long)]
        token: Option<String>,
    },
    /// Stop a running program's tasks at await points, look, step, let go:
    /// commands on stdin (`help` lists them), one per line.
    Debug {
        /// The process id.
        #[arg(long)]
        pid: u32,
    },
    /// Print the report as of a moment of a recording.
    Replay {
        /// The trace file.
        file: PathBuf,
        /// The moment, since the recording's start (default: its end).
        #[arg(long, value_parser = moment)]
        at: Option<Duration>,
        /// The report as text instead of the terminal UI (as when the
        /// output is not a terminal).
        #[arg(long)]
        no_tui: bool,
    },
    /// Convert a recording.
    Export {
        /// The trace file.
        file: PathBuf,
        /// The format to write.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Where to write it.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
}

/// What `export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ExportFormat {
    /// The program and every snapshot, as JSON.
    Json,
    /// The Chrome trace event format, for Perfetto or chrome://tracing:
    /// one track per task, its traced calls and awaits as nested slices.
    Chrome,
    /// Folded stacks (`outer;inner count` lines) of time in polls per
    /// logical async stack, for any flamegraph tool.
    Folded,
    /// A flamegraph (SVG) of time in polls per logical async stack.
    Flamegraph,
}

fn moment(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("`{text}` is not a moment such as 12.5s"))
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` is not a duration such as 500ms or 2s"))
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        // The reader of our output went away (`| head`): nothing to say.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::exit(0)
        }
        Err(error) => {
            eprintln!("async-inspect: {error:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    ASCII.store(cli.ascii, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        Command::Ps => ps().map(|()| 0),
        Command::Attach {
            pid,
            dump,
            json,
            interval,
            no_tui,
        } => attach(pid, dump, json, interval, use_tui(no_tui)).map(|()| 0),
        Command::Run {
            report,
            record,
            all_polls,
            interval,
            no_tui,
            program,
        } => {
            let tui = !report && use_tui(no_tui);
            let record = record.map(|path| (path, polls(all_polls)));
            let show = if report { Show::Report } else { Show::Live };
            run_program(&program, show, record, interval, tui)
        }
        Command::Test {
            timeout,
            fail_on_hang,
            fail_on_deadlock,
            fail_on_lock_order,
            trace_out,
            cargo_args,
        } => {
            let fail_on = test::FailOn {
                hang: fail_on_hang,
                deadlock: fail_on_deadlock,
                lock_order: fail_on_lock_order,
            };
            test::run(timeout, fail_on, &trace_out, &cargo_args)
        }
        Command::Record {
            pid,
            output,
            duration,
            interval,
            all_polls,
        } => record(pid, (output, polls(all_polls)), duration, interval).map(|()| 0),
        Command::Profile {
            top,
            flamegraph,
            wait,
            record,
            from,
            program,
        } => {
            let options = profile::Options {
                top,
                flamegraph,
                wait,
                record,
                from,
            };
            profile::run(&program, &options)
        }
        Command::Serve {
            pid,
            trace,
            port,
            bind,
            token,
        } => serve(pid, trace.as_deref(), (bind, port).into(), token).map(|()| 0),
        Command::Debug { pid } => debug::run(pid),
        Command::Replay { file, at, no_tui } => replay(&file, at, use_tui(no_tui)).map(|()| 0),
        Command::Export {
            file,
            format,
            output,
        } => export(&file, format, &output).map(|()| 0),
    }
}

fn polls(all: bool) -> Polls {
    if all { Polls::All } else { Polls::Long }
}

/// Where to record, and which polls.
type RecordTo = (PathBuf, Polls);

/// A trace file being written, from a client that records.
struct Recorder {
    writer: TraceWriter<std::io::BufWriter<File>>,
    snapshots: usize,
    events: usize,
    dropped: u64,
}

impl Recorder {
    /// Starts the trace at `path` and asks `client` for events.
    fn start((path, polls): &RecordTo, client: &mut Client) -> anyhow::Result<Self> {
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

    fn keep(&mut self, message: &Message) -> std::io::Result<()> {
        match message {
            Message::Snapshot(snapshot) => {
                self.snapshots += 1;
                self.writer.snapshot(snapshot)
            }
            Message::Events(batch) => {
                self.events += batch.events.len();
                self.dropped += batch.dropped;
                self.writer.events(batch)
            }
            Message::News(_) => Ok(()),
        }
    }

    /// What was recorded, in words.
    fn summary(&self) -> String {
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

fn record(
    pid: u32,
    to: RecordTo,
    duration: Option<Duration>,
    interval: Duration,
) -> anyhow::Result<()> {
    let mut client = Client::connect_pid(pid)?;
    let mut recorder = Recorder::start(&to, &mut client)?;
    let output = &to.0;
    client.stream(interval)?;
    let started = Instant::now();
    while duration.is_none_or(|d| started.elapsed() < d) {
        match client.next() {
            Ok(message) => recorder.keep(&message)?,
            Err(error) if error.is::<client::Ended>() || !alive(pid).unwrap_or(false) => break,
            Err(error) => return Err(error),
        }
    }
    eprintln!(
        "async-inspect: recorded {} of process {pid} over {} to {}",
        recorder.summary(),
        async_inspect_core::snapshot::format_duration(started.elapsed()),
        output.display()
    );
    Ok(())
}

fn open_trace(path: &Path) -> anyhow::Result<Trace> {
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

fn replay(path: &Path, at: Option<Duration>, tui: bool) -> anyhow::Result<()> {
    let trace = open_trace(path)?;
    let at = at.unwrap_or_else(|| trace.span());
    let Some(snapshot) = trace.at(at) else {
        bail!("{} has no snapshot", path.display());
    };
    if tui {
        let start = trace
            .snapshots
            .iter()
            .position(|s| std::ptr::eq(s, snapshot))
            .unwrap_or(0);
        let title = format!("replay of {} (pid {})", trace.program, trace.pid);
        async_inspect_tui::replay(&title, trace, start, ascii())?;
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "replay of {} (pid {}) at {} of {}\n",
        trace.program,
        trace.pid,
        async_inspect_core::snapshot::format_duration(at.min(trace.span())),
        async_inspect_core::snapshot::format_duration(trace.span()),
    )?;
    write!(out, "{snapshot}")?;
    Ok(())
}

fn export(path: &Path, format: ExportFormat, output: &Path) -> anyhow::Result<()> {
    let trace = open_trace(path)?;
    let file =
        File::create(output).with_context(|| format!("cannot write {}", output.display()))?;
    let mut out = std::io::BufWriter::new(file);
    match format {
        ExportFormat::Json => {
            let json = serde_json::json!({
                "pid": trace.pid,
                "program": trace.program,
                "started_at_unix": trace.started_at_unix,
                "truncated": trace.truncated,
                "snapshots": trace.snapshots,
                "sites": trace.sites,
                "resources": trace.resources,
                "events": trace.events,
                "events_dropped": trace.events_dropped,
            });
            serde_json::to_writer(&mut out, &json)?;
        }
        ExportFormat::Chrome => {
            serde_json::to_writer(&mut out, &async_inspect_web::chrome::chrome_trace(&trace))?;
        }
        ExportFormat::Folded => {
            let profile = async_inspect_core::profile::Profile::from_trace(&trace);
            out.write_all(profile.folded(Weight::Cpu).as_bytes())?;
        }
        ExportFormat::Flamegraph => {
            drop(out);
            let profile = async_inspect_core::profile::Profile::from_trace(&trace);
            return profile::flamegraph(&profile, Weight::Cpu, output);
        }
    }
    out.flush()?;
    Ok(())
}

fn ps() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>8}  {:<24} {:>7} {:>8} {:>9}",
        "PID", "PROGRAM", "TASKS", "BLOCKED", "DEADLOCKS"
    )?;
    for (pid, found) in inspectable() {
        match found {
            Ok((program, snapshot)) => {
                let (live, blocked) = counts(&snapshot);
                let deadlocks = snapshot.deadlocks().len();
                writeln!(
                    out,
                    "{pid:>8}  {program:<24} {live:>7} {blocked:>8} {deadlocks:>9}"
                )?;
            }
            Err(error) => writeln!(out, "{pid:>8}  ? ({error:#})")?,
        }
    }
    Ok(())
}

/// This user's inspectable processes, each with its program and a
/// snapshot, or why it did not answer; sockets of killed processes are
/// cleaned up.
fn inspectable() -> Vec<(u32, anyhow::Result<(String, Snapshot)>)> {
    let mut found = Vec::new();
    for (pid, path) in sockets() {
        if !alive(pid).unwrap_or(true) {
            // Left by a process that was killed: nobody will answer.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let row = Client::connect(&path).and_then(|mut client| {
            let snapshot = client.snapshot()?;
            Ok((client.welcome.program.clone(), snapshot))
        });
        found.push((pid, row));
    }
    found
}

/// Tasks not finished, and those blocked.
fn counts(snapshot: &Snapshot) -> (usize, usize) {
    let live = snapshot
        .tasks()
        .iter()
        .filter(|t| {
            !matches!(
                t.state,
                TaskState::Done | TaskState::Panicked | TaskState::Aborted
            )
        })
        .count();
    let blocked = snapshot
        .tasks()
        .iter()
        .filter(|t| t.state == TaskState::Blocked)
        .count();
    (live, blocked)
}

/// Whether the live view is the terminal UI: unless refused, when the
/// output is a terminal.
fn use_tui(no_tui: bool) -> bool {
    !no_tui && std::io::stdout().is_terminal()
}

/// Feeds the terminal UI from `client`'s stream (recording each snapshot
/// to `writer`) until the program ends or the UI goes.
fn feed(
    mut client: Client,
    mut writer: Option<Recorder>,
    updates: &std::sync::mpsc::Sender<Update>,
) {
    loop {
        match client.next() {
            Ok(message) => {
                if let Some(recording) = &mut writer
                    && let Err(error) = recording.keep(&message)
                {
                    let _ = updates.send(Update::Ended(format!("recording stopped: {error}")));
                    writer = None;
                }
                let update = match message {
                    Message::Snapshot(snapshot) => Update::Snapshot(snapshot),
                    Message::Events(batch) => Update::Events(batch),
                    Message::News(news) => Update::News(news),
                };
                if updates.send(update).is_err() {
                    return;
                }
            }
            Err(_) => {
                let _ = updates.send(Update::Ended("it ended".into()));
                return;
            }
        }
    }
}

fn attach(pid: u32, dump: bool, json: bool, interval: Duration, tui: bool) -> anyhow::Result<()> {
    let mut client = Client::connect_pid(pid)?;
    if dump {
        let snapshot = client.snapshot()?;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &snapshot)?;
            writeln!(out)?;
        } else {
            write!(out, "{snapshot}")?;
        }
        return Ok(());
    }
    if tui {
        // Events for the Timeline and Profile tabs (long polls: cheap).
        client.start_recording(Polls::Long)?;
    }
    client.stream(interval)?;
    if tui {
        let title = format!("{} (pid {pid})", client.welcome.program);
        let requests = client.requests()?;
        let (updates, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || feed(client, None, &updates));
        async_inspect_tui::run(&title, &receiver, Some(&requests), ascii())?;
        return Ok(());
    }
    loop {
        match client.next_snapshot() {
            Ok(snapshot) => show_live(&snapshot)?,
            Err(error) if error.is::<client::Ended>() || !alive(pid).unwrap_or(false) => {
                writeln!(std::io::stdout(), "async-inspect: process {pid} ended")?;
                return Ok(());
            }
            Err(error) => return Err(error),
        }
    }
}

/// Redraws the terminal with the report (the live view until the terminal
/// UI lands).
fn show_live(snapshot: &Snapshot) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        write!(out, "\x1b[2J\x1b[H{snapshot}")?;
    } else {
        // A log, not a screen: one report after another.
        writeln!(out, "{snapshot}")?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `program` with its agent on (recording it to `record`), with the
/// terminal UI if `tui`; its exit code.
fn run_program(
    program: &[OsString],
    show: Show,
    record: Option<RecordTo>,
    interval: Duration,
    tui: bool,
) -> anyhow::Result<i32> {
    let (name, args) = program.split_first().context("no program to run")?;
    let mut command = Process::new(name);
    command
        .args(args)
        .env("ASYNC_INSPECT_AGENT", "1")
        .env_remove("ASYNC_INSPECT_SOCKET");
    // Under the terminal UI the program's output would scribble over it:
    // it goes to a log, named when the UI closes.
    let log = std::env::temp_dir().join(format!("async-inspect-run-{}.log", std::process::id()));
    if tui {
        let file = File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
        command.stdout(file.try_clone()?).stderr(file);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", name.to_string_lossy()))?;
    let pid = child.id();
    if tui {
        let title = format!("{} (pid {pid})", name.to_string_lossy());
        let (updates, receiver) = std::sync::mpsc::channel();
        // The debugger's requests, handed to the connection once there is
        // one.
        let (requests, to_agent) =
            std::sync::mpsc::channel::<async_inspect_core::agent::wire::Request>();
        let record = record.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let client = loop {
                if let Some(path) = client::socket_of_tree(pid)
                    && let Ok(client) = Client::connect(&path)
                {
                    break client;
                }
                if started.elapsed() > Duration::from_secs(30) {
                    let _ = updates.send(Update::Ended("no agent answered".into()));
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let mut client = client;
            let writer = match record
                .as_ref()
                .map(|r| Recorder::start(r, &mut client))
                .transpose()
            {
                Ok(writer) => writer,
                Err(error) => {
                    let _ = updates.send(Update::Ended(format!("cannot record: {error:#}")));
                    None
                }
            };
            // Events for the Timeline and Profile tabs, if not recorded
            // to a file already.
            if writer.is_none() && client.start_recording(Polls::Long).is_err() {
                return;
            }
            if client.stream(interval).is_err() {
                return;
            }
            let Ok(agent) = client.requests() else { return };
            std::thread::spawn(move || {
                for request in to_agent {
                    if agent.send(request).is_err() {
                        return;
                    }
                }
            });
            feed(client, writer, &updates);
        });
        async_inspect_tui::run(&title, &receiver, Some(&requests), ascii())?;
        eprintln!(
            "async-inspect: the output of {} is in {}",
            name.to_string_lossy(),
            log.display()
        );
        if child.try_wait()?.is_none() {
            eprintln!(
                "async-inspect: waiting for {} to end (Ctrl-C stops it)",
                name.to_string_lossy()
            );
        }
        return Ok(exit_code(child.wait()?));
    }
    // The report is as of the last snapshot before the program ended.
    let every = if show == Show::Live {
        interval
    } else {
        Duration::from_millis(100)
    };
    let mut last = None;
    let started = Instant::now();
    let mut client = None;
    let mut writer = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        match &mut client {
            None => {
                if let Some(path) = client::socket_of_tree(pid)
                    && let Ok(mut connected) = Client::connect(&path)
                {
                    if let Some(record) = &record {
                        writer = Some(Recorder::start(record, &mut connected)?);
                    }
                    connected.stream(every)?;
                    client = Some(connected);
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Some(connected) => match connected.next() {
                Ok(message) => {
                    if let Some(writer) = &mut writer {
                        writer.keep(&message)?;
                    }
                    if let Message::Snapshot(snapshot) = message {
                        if show == Show::Live {
                            show_live(&snapshot)?;
                        }
                        last = Some(snapshot);
                    }
                }
                Err(_) => {
                    // The program is ending: wait for it.
                    break child.wait()?;
                }
            },
        }
        if client.is_none() && started.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "async-inspect: {} has no agent after 30s (built without the `inspect` feature?); \
                 waiting for it to end",
                name.to_string_lossy()
            );
            break child.wait()?;
        }
    };
    if let (Some(writer), Some((path, _))) = (&writer, &record)
        && show != Show::Nothing
    {
        eprintln!(
            "async-inspect: recorded {} to {}",
            writer.summary(),
            path.display()
        );
    }
    let mut out = std::io::stdout().lock();
    match (&last, show) {
        (Some(snapshot), Show::Report) => write!(out, "{snapshot}")?,
        (None, _) => eprintln!(
            "async-inspect: {} ended before its agent answered (built without the `inspect` \
             feature?)",
            name.to_string_lossy()
        ),
        (Some(_), Show::Live) => writeln!(out, "async-inspect: the program ended: {status}")?,
        (Some(_), Show::Nothing) => {}
    }
    Ok(exit_code(status))
}

/// `async-inspect serve`: the dashboard of process `pid`, or of `trace`,
/// or of a process chosen on the page.
fn serve(
    pid: Option<u32>,
    trace: Option<&Path>,
    bind: std::net::SocketAddr,
    token: Option<String>,
) -> anyhow::Result<()> {
    let options = async_inspect_web::Options { bind, token };
    let (data, picker) = match (pid, trace) {
        (_, Some(path)) => (async_inspect_web::of_trace(open_trace(path)?), None),
        (Some(pid), None) => {
            let (title, updates) = connect_live(pid)?;
            (async_inspect_web::live(&title, updates), None)
        }
        (None, None) => {
            let picker = async_inspect_web::Picker {
                list: Box::new(|| {
                    inspectable()
                        .into_iter()
                        .map(|(pid, found)| match found {
                            Ok((program, snapshot)) => {
                                let (live, blocked) = counts(&snapshot);
                                async_inspect_web::Process {
                                    pid,
                                    program,
                                    tasks: Some((live, blocked, snapshot.deadlocks().len())),
                                }
                            }
                            Err(error) => async_inspect_web::Process {
                                pid,
                                program: format!("? ({error:#})"),
                                tasks: None,
                            },
                        })
                        .collect()
                }),
                connect: Box::new(|pid| connect_live(pid).map_err(|e| format!("{e:#}"))),
            };
            let waiting = async_inspect_web::Data::live("no process chosen yet");
            (std::sync::Arc::new(waiting), Some(picker))
        }
    };
    async_inspect_web::serve(&options, data, picker)?;
    Ok(())
}

/// Connects to `pid`, records its events (long polls) and streams its
/// snapshots: a title, and the updates for the dashboard.
fn connect_live(
    pid: u32,
) -> anyhow::Result<(String, std::sync::mpsc::Receiver<async_inspect_web::Update>)> {
    let mut client = Client::connect_pid(pid)?;
    client.start_recording(Polls::Long)?;
    client.stream(Duration::from_secs(1))?;
    let title = format!("{} (pid {pid})", client.welcome.program);
    let (updates, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use async_inspect_web::Update;
        loop {
            let update = match client.next() {
                Ok(Message::Snapshot(s)) => Update::Snapshot(s),
                Ok(Message::Events(b)) => Update::Events(b),
                Ok(Message::News(_)) => continue,
                Err(error) => {
                    let _ = updates.send(Update::Ended(format!("{error:#}")));
                    return;
                }
            };
            if updates.send(update).is_err() {
                return;
            }
        }
    });
    Ok((title, receiver))
}

/// What `run_program` shows while the program runs, without the terminal UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Show {
    /// A refreshing report.
    Live,
    /// The report as of the end.
    Report,
    /// Nothing (the caller shows what it made of the recording).
    Nothing,
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_parse_as_documented() {
        let cli =
            Cli::try_parse_from(["async-inspect", "attach", "--pid", "42", "--dump", "--json"])
                .unwrap();
        assert!(matches!(
            cli.command,
            Command::Attach {
                pid: 42,
                dump: true,
                json: true,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["async-inspect", "run", "--report", "--", "app", "--flag"])
            .unwrap();
        let Command::Run {
            program, report, ..
        } = cli.command
        else {
            panic!("run");
        };
        assert!(report);
        assert_eq!(program, ["app", "--flag"]);
        assert!(Cli::try_parse_from(["async-inspect", "attach", "--json", "--pid", "1"]).is_err());
        assert!(Cli::try_parse_from(["async-inspect", "attach", "--pid", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["async-inspect", "attach", "--pid", "1", "--interval", "0s"])
                .is_err()
        );
    }
}
