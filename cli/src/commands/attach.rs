//! `async-inspect attach --pid N`: one report of a running process
//! (`--dump`, `--json`), or a live view (the terminal UI, or a refreshing
//! report when the output is not a terminal).

use std::io::Write;
use std::time::Duration;

use async_inspect_model::event::Polls;

use crate::client::{self, Client, alive};
use crate::live::{feed, show_live, use_tui};
use crate::{ascii, duration};

/// The arguments of `async-inspect attach`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The process id.
    #[arg(long)]
    pub(crate) pid: u32,
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
}

/// Looks inside process `args.pid`: one report, or a live view.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        pid,
        dump,
        json,
        interval,
        no_tui,
    } = args;
    let tui = use_tui(no_tui);
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
        async_inspect_tui::run(&title, &receiver, Some(&requests), ascii())?;
        return Ok(0);
    }
    loop {
        match client.next_snapshot() {
            Ok(snapshot) => show_live(&snapshot)?,
            Err(error) if error.is::<client::Ended>() || !alive(pid).unwrap_or(false) => {
                writeln!(std::io::stdout(), "async-inspect: process {pid} ended")?;
                return Ok(0);
            }
            Err(error) => return Err(error),
        }
    }
}
