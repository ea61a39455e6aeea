//! `async-inspect replay FILE [--at T]`: the report as of a moment of a
//! recording, or the recording in the terminal UI.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::live::use_tui;
use crate::traces::open_trace;
use crate::{ascii, moment};

/// The arguments of `async-inspect replay`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) file: PathBuf,
    /// The moment, since the recording's start (default: its end).
    #[arg(long, value_parser = moment)]
    pub(crate) at: Option<Duration>,
    /// The report as text instead of the terminal UI (as when the
    /// output is not a terminal).
    #[arg(long)]
    pub(crate) no_tui: bool,
}

/// Shows the report as of `args.at` of the recording.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args { file, at, no_tui } = args;
    let (path, tui) = (file.as_path(), use_tui(no_tui));
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
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "replay of {} (pid {}) at {} of {}\n",
        trace.program,
        trace.pid,
        async_inspect_model::format_duration(at.min(trace.span())),
        async_inspect_model::format_duration(trace.span()),
    )?;
    write!(out, "{snapshot}")?;
    Ok(0)
}
