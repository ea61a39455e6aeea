//! `async-inspect record --pid N -o FILE`: record a running process to a
//! trace file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::{self, Client, alive};
use crate::duration;
use crate::traces::{Recorder, polls};

/// The arguments of `async-inspect record`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The process id.
    #[arg(long)]
    pub(crate) pid: u32,
    /// The trace file to write.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// How long to record.
    #[arg(long, value_parser = duration)]
    pub(crate) duration: Option<Duration>,
    /// How often to take a snapshot.
    #[arg(long, default_value = "100ms", value_parser = duration)]
    pub(crate) interval: Duration,
    /// Record every poll with precise times, not only those that last
    /// a clock tick (1 ms) or more (costs more: see BENCHMARKS.md).
    #[arg(long)]
    pub(crate) all_polls: bool,
}

/// Records process `args.pid` until it ends, `--duration` passes, or the
/// recorder is stopped.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        pid,
        output,
        duration,
        interval,
        all_polls,
    } = args;
    let to = (output, polls(all_polls));
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
        async_inspect_model::format_duration(started.elapsed()),
        output.display()
    );
    Ok(0)
}
