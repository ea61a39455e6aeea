//! `async-inspect export FILE --format F -o OUT`: a recording as JSON, a
//! Chrome trace, folded stacks, a flamegraph or OpenTelemetry spans
//! (OTLP/JSON); `--format otlp --endpoint URL` sends the spans to an OTLP
//! collector instead (OTLP/HTTP, protobuf).

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
    #[arg(short, long, value_name = "OUT", required_unless_present = "endpoint")]
    pub(crate) output: Option<PathBuf>,
    /// With --format otlp: send the spans to this OTLP/HTTP collector
    /// (e.g. http://localhost:4318/v1/traces) instead of writing a file.
    #[arg(long, value_name = "URL", conflicts_with = "output")]
    pub(crate) endpoint: Option<String>,
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
    /// OpenTelemetry spans as OTLP/JSON: tasks, traced calls and parked
    /// awaits, in the trace of the request each task serves.
    Otlp,
}

/// Converts the recording `args.file` to `args.format`.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let Args {
        file,
        format,
        output,
        endpoint,
    } = args;
    let trace = open_trace(&file)?;
    if let Some(endpoint) = endpoint {
        if !matches!(format, ExportFormat::Otlp) {
            anyhow::bail!("--endpoint sends OTLP: use it with --format otlp");
        }
        let request = crate::otlp::request(&trace);
        let spans = crate::otlp::send(&endpoint, &request)?;
        eprintln!("async-inspect: sent {spans} spans to {endpoint}");
        return Ok(0);
    }
    let output = output.expect("clap requires --output without --endpoint");
    let output = output.as_path();
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
        ExportFormat::Otlp => {
            serde_json::to_writer(&mut out, &crate::otlp::request(&trace))?;
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
