//! `async-inspect profile`: run a program recording every poll, then print
//! where the time went (the Performance Report) and optionally a
//! flamegraph of time per logical async stack.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_inspect_model::event::Polls;
use async_inspect_model::profile::{Profile, Weight};

use super::run::{Show, run_program};
use crate::traces::open_trace;

/// The arguments of `async-inspect profile`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Rows per table.
    #[arg(long, default_value_t = 10)]
    pub(crate) top: usize,
    /// Also write a flamegraph (SVG) of time per logical async stack.
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) flamegraph: Option<PathBuf>,
    /// The flamegraph weighs time parked on awaits, not time in polls.
    #[arg(long, requires = "flamegraph")]
    pub(crate) wait: bool,
    /// Keep the recording in this trace file.
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    pub(crate) record: Option<PathBuf>,
    /// Profile this recording instead of running a program.
    #[arg(long, value_name = "FILE")]
    pub(crate) from: Option<PathBuf>,
    /// Only the tasks serving this trace (one request: its id from a
    /// `trace_id` or `traceparent`, or its first 8 or more hex digits).
    #[arg(long, value_parser = crate::trace_id)]
    pub(crate) trace: Option<String>,
    /// The program and its arguments (after `--`).
    #[arg(
        required_unless_present = "from",
        conflicts_with = "from",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub(crate) program: Vec<OsString>,
}

/// Runs the program (or reads `--from`) and prints the profile; the
/// program's exit code.
pub(crate) fn exec(options: Args) -> anyhow::Result<i32> {
    let program = &options.program;
    let (trace_path, code, temporary) = match &options.from {
        Some(path) => (path.clone(), 0, false),
        None => {
            let path = options.record.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!(
                    "async-inspect-profile-{}.trace",
                    std::process::id()
                ))
            });
            let interval = std::time::Duration::from_secs(1);
            let record = Some((path.clone(), Polls::All));
            let code = run_program(program, Show::Nothing, record, interval, false)?;
            (path, code, options.record.is_none())
        }
    };
    let trace = open_trace(&trace_path);
    if temporary {
        let _ = std::fs::remove_file(&trace_path);
    }
    let mut trace = trace?;
    if let Some(id) = &options.trace
        && trace.retain_trace(id) == 0
    {
        anyhow::bail!(
            "no task of {} serves trace {id} (tasks show their trace with the `tracing` \
             layer or `remote::serve`)",
            trace_path.display()
        );
    }
    if let Some(path) = &options.record {
        eprintln!(
            "async-inspect: recorded {} events to {}",
            trace.events.len(),
            path.display()
        );
    }
    if trace.events.is_empty() {
        anyhow::bail!(
            "{} holds no events to profile (recorded by an older async-inspect, or the \
             program ended before its agent answered)",
            trace_path.display()
        );
    }
    let profile = Profile::from_trace(&trace);
    write!(std::io::stdout().lock(), "{}", profile.report(options.top))?;
    if let Some(svg) = &options.flamegraph {
        let weight = if options.wait {
            Weight::Wait
        } else {
            Weight::Cpu
        };
        flamegraph(&profile, weight, svg)?;
        eprintln!("async-inspect: flamegraph written to {}", svg.display());
    }
    Ok(code)
}

/// Writes the flamegraph of `profile`'s `weight` to `path` as SVG.
pub(crate) fn flamegraph(profile: &Profile, weight: Weight, path: &Path) -> anyhow::Result<()> {
    let folded = profile.folded(weight);
    let file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = match weight {
        Weight::Cpu => format!("{}: time in polls per logical async stack", profile.program),
        Weight::Wait => format!("{}: time parked per logical async stack", profile.program),
    };
    options.count_name = "ns".to_owned();
    if folded.trim().is_empty() {
        anyhow::bail!("nothing to draw: the recording has no time on traced stacks");
    }
    inferno::flamegraph::from_lines(&mut options, folded.lines(), std::io::BufWriter::new(file))
        .with_context(|| format!("cannot draw the flamegraph to {}", path.display()))?;
    Ok(())
}
