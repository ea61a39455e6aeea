//! `async-inspect run -- PROGRAM`: run a program with its agent on and
//! show what its tasks do (the terminal UI, a refreshing report, or the
//! report as of its end), optionally recording it.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_inspect_model::event::Polls;
use async_inspect_tui::Update;

use crate::client::{self, Client, Message};
use crate::live::{feed, show_live, use_tui};
use crate::traces::{RecordTo, Recorder, polls};
use crate::{ascii, duration};

/// The arguments of `async-inspect run`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print the report as of the program's end, without a live view.
    #[arg(long)]
    pub(crate) report: bool,
    /// Also record the run to this trace file.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Record every poll with precise times, not only the long ones
    /// (costs more: see BENCHMARKS.md).
    #[arg(long, requires = "record")]
    pub(crate) all_polls: bool,
    /// How often the live view refreshes.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub(crate) interval: Duration,
    /// A refreshing text report instead of the terminal UI (as when
    /// the output is not a terminal).
    #[arg(long)]
    pub(crate) no_tui: bool,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) program: Vec<OsString>,
}

/// Runs the program; its exit code.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        report,
        record,
        all_polls,
        interval,
        no_tui,
        program,
    } = args;
    let tui = !report && use_tui(no_tui);
    let record = record.map(|path| (path, polls(all_polls)));
    let show = if report { Show::Report } else { Show::Live };
    run_program(&program, show, record, interval, tui)
}

/// Runs `program` with its agent on (recording it to `record`), with the
/// terminal UI if `tui`; its exit code.
pub(crate) fn run_program(
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
        .env_remove("ASYNC_INSPECT_SOCKET")
        .env_remove("ASYNC_INSPECT_RECORD");
    // Recording starts with the program, not when this connects: the
    // program keeps its events until then.
    if let Some((_, polls)) = &record {
        let polls = match polls {
            Polls::All => "all",
            Polls::Long => "long",
        };
        command.env("ASYNC_INSPECT_RECORD", polls);
    }
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
        let (requests, to_agent) = std::sync::mpsc::channel::<async_inspect_model::wire::Request>();
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
    let mut ended: Option<(ExitStatus, Instant)> = None;
    let status = loop {
        // Connected, what the program sent before it ended is read to the
        // end of the connection: its last events come as it exits.
        if let Some((status, at)) = ended {
            if client.is_none() || at.elapsed() > LAST_WORDS {
                break status;
            }
        } else if let Some(status) = child.try_wait()? {
            ended = Some((status, Instant::now()));
            continue;
        }
        match &mut client {
            None => {
                if let Some(path) = client::socket_of_tree(pid)
                    && let Ok(mut connected) = Client::connect(&path)
                {
                    if let Some(record) = &record {
                        writer = Some(Recorder::start(record, &mut connected)?);
                        // Its events are only written.
                        connected.events_encoded();
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
                    break match ended {
                        Some((status, _)) => status,
                        None => child.wait()?,
                    };
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

/// How long the connection to a program that ended is read for what it
/// sent last (its connection ends with it, unless a process it started
/// keeps the socket open).
const LAST_WORDS: Duration = Duration::from_secs(10);

/// What `run_program` shows while the program runs, without the terminal UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Show {
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
