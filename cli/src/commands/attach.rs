//! `async-inspect attach --pid N` (or `--url URL [--token T]`, a
//! dashboard a service mounts): one report of a running process (`--dump`,
//! `--json`), or a live view (the terminal UI, or a refreshing report when
//! the output is not a terminal).

use std::io::Write;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use async_inspect_model::Snapshot;
use async_inspect_model::event::Polls;
use async_inspect_model::snapshot::across;
use async_inspect_tui::Update;

use crate::client::{self, Client, alive};
use crate::live::{feed, show_live, use_tui};
use crate::remote::Remote;
use crate::{ascii, duration, trace_id};

/// The arguments of `async-inspect attach`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The process id. Several (`--pid A --pid B`, and `--url`s) with
    /// `--dump`: their reports joined by the calls between them.
    #[arg(long, required_unless_present = "url")]
    pub(crate) pid: Vec<u32>,
    /// Or the URL of its dashboard, mounted in the service
    /// (`async_inspect::web::router`) or served by `async-inspect serve`:
    /// e.g. http://host:8080/debug/async-inspect.
    #[arg(long)]
    pub(crate) url: Vec<String>,
    /// The dashboard's token, with --url.
    #[arg(long, requires = "url")]
    pub(crate) token: Option<String>,
    /// Print one report and exit, instead of a live view.
    #[arg(long)]
    pub(crate) dump: bool,
    /// With --dump: the snapshot as JSON instead of the report.
    #[arg(long, requires = "dump")]
    pub(crate) json: bool,
    /// How often the live view refreshes.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub(crate) interval: Duration,
    /// A refreshing text report instead of the terminal UI (as when
    /// the output is not a terminal).
    #[arg(long)]
    pub(crate) no_tui: bool,
    /// Only the tasks serving this trace: its id (32 hex digits, from a
    /// `trace_id` or `traceparent` field of the spans they run in, with
    /// `async_inspect::tracing::layer()`), or its first 8 or more.
    #[arg(long, value_parser = trace_id)]
    pub(crate) trace: Option<String>,
}

/// What `attach` shows of each snapshot: all of it, or one trace's tasks.
#[derive(Clone, Debug)]
struct Shown(Option<String>);

impl Shown {
    fn apply(&self, mut snapshot: Snapshot) -> Snapshot {
        if let Some(trace) = &self.0 {
            snapshot.retain_tasks(|task| task.in_trace(trace));
        }
        snapshot
    }

    /// Relays `updates`, each snapshot cut to what is shown.
    fn relay(self, updates: Receiver<Update>) -> Receiver<Update> {
        if self.0.is_none() {
            return updates;
        }
        let (relayed, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for update in updates {
                let update = match update {
                    Update::Snapshot(snapshot) => Update::Snapshot(Box::new(self.apply(*snapshot))),
                    other => other,
                };
                if relayed.send(update).is_err() {
                    return;
                }
            }
        });
        receiver
    }
}

/// Looks inside process `args.pid`: one report, or a live view.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        pid,
        url,
        token,
        dump,
        json,
        interval,
        no_tui,
        trace,
    } = args;
    let shown = Shown(trace);
    if pid.len() + url.len() > 1 {
        if !dump {
            anyhow::bail!("several processes are shown joined in one report: add --dump");
        }
        return joined_dump(&pid, &url, token, json, &shown);
    }
    let tui = use_tui(no_tui);
    let Some(&pid) = pid.first() else {
        let remote = Remote::new(url.first().map_or("", String::as_str), token)?;
        return remote_view(&remote, dump, json, tui, interval, &shown);
    };
    let mut client = Client::connect_pid(pid)?;
    if dump {
        print_dump(&shown.apply(client.snapshot()?), json)?;
        return Ok(0);
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
        let receiver = shown.relay(receiver);
        async_inspect_tui::run(&title, &receiver, Some(&requests), ascii())?;
        return Ok(0);
    }
    loop {
        match client.next_snapshot() {
            Ok(snapshot) => show_live(&shown.apply(snapshot))?,
            Err(error) if error.is::<client::Ended>() || !alive(pid).unwrap_or(false) => {
                writeln!(std::io::stdout(), "async-inspect: process {pid} ended")?;
                return Ok(0);
            }
            Err(error) => return Err(error),
        }
    }
}

/// `attach --pid A --pid B --dump`: each process's report, then the
/// chains of waits that cross from one to the next (a task waiting for a
/// call → the task serving it → what that one waits for), and the
/// deadlocks that only show when they are joined.
fn joined_dump(
    pids: &[u32],
    urls: &[String],
    token: Option<String>,
    json: bool,
    shown: &Shown,
) -> anyhow::Result<i32> {
    let mut processes: Vec<(String, Snapshot)> = Vec::new();
    for &pid in pids {
        let mut client = Client::connect_pid(pid)?;
        let name = format!("{} (pid {pid})", client.welcome.program);
        processes.push((name, client.snapshot()?));
    }
    for url in urls {
        let snapshot = Remote::new(url, token.clone())?.snapshot()?;
        processes.push((format!("{url} (pid {})", snapshot.pid()), snapshot));
    }
    let joined = across::join(
        &processes
            .iter()
            .map(|(name, snapshot)| across::Process { name, snapshot })
            .collect::<Vec<_>>(),
    );
    let mut out = std::io::stdout().lock();
    if json {
        let processes: Vec<_> = processes
            .into_iter()
            .map(|(name, snapshot)| serde_json::json!({ "name": name, "snapshot": shown.apply(snapshot) }))
            .collect();
        let value = serde_json::json!({ "processes": processes, "across": joined });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(0);
    }
    for (name, snapshot) in processes {
        writeln!(out, "══ {name} ══")?;
        write!(out, "{}", shown.apply(snapshot))?;
        writeln!(out)?;
    }
    write!(out, "{joined}")?;
    Ok(0)
}

/// One report (or the snapshot as JSON) on stdout.
fn print_dump(snapshot: &Snapshot, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, snapshot)?;
        writeln!(out)?;
    } else {
        write!(out, "{snapshot}")?;
    }
    Ok(())
}

/// `attach --url`: one report, or a live view of snapshots fetched every
/// `interval` (read-only: no recording, no breakpoints over HTTP).
fn remote_view(
    remote: &Remote,
    dump: bool,
    json: bool,
    tui: bool,
    interval: Duration,
    shown: &Shown,
) -> anyhow::Result<i32> {
    // The first fetch says at once what is wrong with the URL or token.
    let first = shown.apply(remote.snapshot()?);
    if dump {
        print_dump(&first, json)?;
        return Ok(0);
    }
    if !tui {
        show_live(&first)?;
        loop {
            std::thread::sleep(interval);
            show_live(&shown.apply(remote.snapshot()?))?;
        }
    }
    let title = remote.url().to_owned();
    let (updates, receiver) = std::sync::mpsc::channel();
    let _ = updates.send(Update::Snapshot(Box::new(first)));
    let polled = Remote::new(remote.url(), remote.token().map(str::to_owned))?;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(interval);
            let update = match polled.snapshot() {
                Ok(snapshot) => Update::Snapshot(Box::new(snapshot)),
                Err(error) => Update::Ended(format!("{error:#}")),
            };
            let ended = matches!(update, Update::Ended(_));
            if updates.send(update).is_err() || ended {
                return;
            }
        }
    });
    let receiver = shown.clone().relay(receiver);
    async_inspect_tui::run(&title, &receiver, None, ascii())?;
    Ok(0)
}
