//! `async-inspect export FILE --format F -o OUT`: a recording as JSON, a
//! Chrome trace, folded stacks or a flamegraph.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use async_inspect_model::profile::Weight;

use crate::traces::open_trace;

/// The arguments of `async-inspect export`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) file: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub(crate) format: ExportFormat,
    /// Where to write it.
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: PathBuf,
}

/// What `export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ExportFormat {
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

/// Converts the recording `args.file` to `args.format`.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        file,
        format,
        output,
    } = args;
    let (path, output) = (file.as_path(), output.as_path());
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
            let profile = async_inspect_model::profile::Profile::from_trace(&trace);
            out.write_all(profile.folded(Weight::Cpu).as_bytes())?;
        }
        ExportFormat::Flamegraph => {
            drop(out);
            let profile = async_inspect_model::profile::Profile::from_trace(&trace);
            return super::profile::flamegraph(&profile, Weight::Cpu, output).map(|()| 0);
        }
    }
    out.flush()?;
    Ok(0)
}
