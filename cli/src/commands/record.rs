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
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub(crate) pid: Option<u32>,
    /// A program's dashboard mounted with control allowed
    /// (`async_inspect::web::router_with_control`), on this machine or
    /// another: it records itself for --duration (5s if not given) and
    /// sends the trace.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The token the dashboard at --url asks for.
    #[arg(long, value_name = "T", requires = "url")]
    pub(crate) token: Option<String>,
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
    /// a clock tick (4 ms) or more, and every wake of a task by another
    /// (costs more: see BENCHMARKS.md).
    #[arg(long)]
    pub(crate) all_polls: bool,
}

/// Records process `args.pid` until it ends, `--duration` passes, or the
/// recorder is stopped.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        pid,
        url,
        token,
        output,
        duration,
        interval,
        all_polls,
    } = args;
    let Some(pid) = pid else {
        let remote = crate::remote::Remote::new(url.as_deref().unwrap_or_default(), token)?;
        return record_remote(
            &remote,
            &output,
            duration.unwrap_or(REMOTE_DEFAULT),
            all_polls,
        );
    };
    let to = (output, polls(all_polls));
    let mut client = Client::connect_pid(pid)?;
    let mut recorder = Recorder::start(&to, &mut client)?;
    client.events_encoded();
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

/// How long a recording over a dashboard lasts when --duration is not
/// given (it is one request, so it cannot run until stopped).
const REMOTE_DEFAULT: Duration = Duration::from_secs(5);

/// Records the program behind the dashboard `remote` for `duration` into
/// `output`; checks that what came is a trace this CLI reads.
fn record_remote(
    remote: &crate::remote::Remote,
    output: &std::path::Path,
    duration: Duration,
    all_polls: bool,
) -> anyhow::Result<i32> {
    use anyhow::Context;
    let bytes = remote.record(duration, all_polls)?;
    let trace =
        async_inspect_model::trace_file::read_trace(&mut bytes.as_slice()).map_err(|e| {
            anyhow::anyhow!(
                "{}: the answer is not a trace this async-inspect reads: {e}",
                remote.url()
            )
        })?;
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    // The program stops a recording early at its size limit: its first and
    // last snapshots say how long it lasted.
    let lasted = match (trace.snapshots.first(), trace.snapshots.last()) {
        (Some(first), Some(last)) => last.taken_at().saturating_sub(first.taken_at()),
        _ => duration,
    };
    let early = if lasted + Duration::from_secs(1) < duration {
        " (the program stopped it early: its trace reached the size it keeps)"
    } else {
        ""
    };
    eprintln!(
        "async-inspect: recorded {} snapshots and {} events of {} over {}{early} to {}",
        trace.snapshots.len(),
        trace.events.len(),
        remote.url(),
        async_inspect_model::format_duration(lasted),
        output.display()
    );
    Ok(0)
}
