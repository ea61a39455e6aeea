//! `async-inspect serve`: the web dashboard of a running process, a
//! recording, or a process chosen on the page.

use std::path::PathBuf;
use std::time::Duration;

use async_inspect_model::event::Polls;

use crate::client::{Client, Message};
use crate::live::{counts, inspectable};
use crate::traces::open_trace;

/// The arguments of `async-inspect serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The process id of a running, inspectable program.
    #[arg(long, conflicts_with_all = ["trace", "url"])]
    pub(crate) pid: Option<u32>,
    /// A recording to serve instead.
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub(crate) trace: Option<PathBuf>,
    /// A program's dashboard on another machine instead (the router a
    /// service mounts, or another `serve`), read through its JSON API
    /// every second: tasks, locks, deadlocks and lints (its events, for
    /// the timeline, are not sent over HTTP).
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The token the dashboard at --url asks for (--token is this
    /// server's own).
    #[arg(long, value_name = "T", requires = "url")]
    pub(crate) url_token: Option<String>,
    /// The port (0: any free one).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// The address to listen on; anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: std::net::IpAddr,
    /// A token every request must carry (printed in the URL to open).
    #[arg(long)]
    pub(crate) token: Option<String>,
}

/// `async-inspect serve`: the dashboard of process `pid`, or of `trace`,
/// or of a process chosen on the page.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        pid,
        trace,
        url,
        url_token,
        port,
        bind,
        token,
    } = args;
    let (trace, bind) = (trace.as_deref(), (bind, port).into());
    let options = async_inspect_web::Options { bind, token };
    let (data, picker) = match (pid, trace) {
        _ if url.is_some() => {
            let remote = crate::remote::Remote::new(url.as_deref().unwrap_or_default(), url_token)?;
            let (title, updates) = connect_remote(remote)?;
            (async_inspect_web::live(&title, updates), None)
        }
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
    Ok(0)
}

/// How often a dashboard at a URL is read.
const REMOTE_EVERY: Duration = Duration::from_secs(1);

/// Reads the dashboard `remote` now (so that a wrong URL or token fails
/// here, in one line) and then every [`REMOTE_EVERY`]: a title, and the
/// updates for this dashboard.
fn connect_remote(
    remote: crate::remote::Remote,
) -> anyhow::Result<(String, std::sync::mpsc::Receiver<async_inspect_web::Update>)> {
    let first = remote.snapshot()?;
    let title = format!("pid {} at {}", first.pid(), remote.url());
    let (updates, receiver) = std::sync::mpsc::channel();
    let _ = updates.send(async_inspect_web::Update::Snapshot(Box::new(first)));
    std::thread::Builder::new()
        .name("async-inspect-remote".into())
        .spawn(move || {
            use async_inspect_web::Update;
            loop {
                std::thread::sleep(REMOTE_EVERY);
                let update = match remote.snapshot() {
                    Ok(snapshot) => Update::Snapshot(Box::new(snapshot)),
                    Err(error) => {
                        let _ = updates.send(Update::Ended(format!("{error:#}")));
                        return;
                    }
                };
                if updates.send(update).is_err() {
                    return;
                }
            }
        })?;
    Ok((title, receiver))
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
            let update = match client.next().and_then(Message::decoded) {
                Ok(Message::Snapshot(s)) => Update::Snapshot(s),
                Ok(Message::Events(b)) => Update::Events(b),
                Ok(Message::News(_) | Message::EncodedEvents(_)) => continue,
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
