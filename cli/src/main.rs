//! `async-inspect`: look inside a running async Rust program from another
//! terminal.
//!
//! ```text
//! async-inspect ps                        # the inspectable processes of this user
//! async-inspect attach --pid 12345 --dump # one report of a running process
//! async-inspect attach --url http://host:8080/debug/async-inspect --token T --dump
//! async-inspect run --report -- ./my-app  # run with the agent on, report at the end
//! async-inspect record --pid 12345 -o app.trace --duration 10s
//! async-inspect replay app.trace --at 2.5s # the report as of that moment
//! async-inspect export app.trace --format json -o app.json
//! ```
//!
//! Errors are one line on stderr and exit status 1; never a panic or a hang.
//!
//! Layering: it speaks the model's protocol (`async-inspect-model`) and
//! decodes programs' futures with `async-inspect-debuginfo`; it never links
//! the program side. Inside, `decode` sits below `client` (a connection to
//! an agent) and beside `remote` (a dashboard over HTTP), below `traces` and `live` (trace files; what live views
//! share), below `commands` (one module per subcommand), which `main`
//! dispatches to.

mod client;
mod commands;
mod decode;
mod live;
mod otlp;
mod remote;
mod traces;

use std::time::Duration;

use async_inspect_model::parse_duration;
use clap::{Parser, Subcommand};

/// Look inside a running async Rust program: every task, the `.await` it is
/// stuck on, why, and who holds what it waits for.
#[derive(Parser, Debug)]
#[command(name = "async-inspect", version)]
struct Cli {
    /// Draw the terminal UI with ASCII only (no box drawing, arrows or
    /// emoji), for terminals and fonts without them.
    #[arg(long, global = true)]
    ascii: bool,
    #[command(subcommand)]
    command: Command,
}

/// Set once from `--ascii`.
static ASCII: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn ascii() -> bool {
    ASCII.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List this user's inspectable processes: pid, program, tasks, blocked
    /// tasks, deadlocks.
    Ps,
    /// Look inside a running process whose agent is on.
    Attach(commands::attach::Args),
    /// Run a program with its agent on, and show what its tasks do.
    Run(commands::run::Args),
    /// Run `cargo test` with every `#[async_inspect::test]` under a timeout:
    /// a hanging test fails with where it is stuck, and the summary lists
    /// the tests that hung, the deadlocks and the lock-order inversions.
    Test(commands::test::Args),
    /// Record a running process to a trace file (its events: polls, traced
    /// calls, awaits, lock waits and holds, inspect points; and snapshots
    /// at an interval) until it ends, `--duration` passes, or the recorder
    /// is stopped.
    Record(commands::record::Args),
    /// Run a program recording every poll, then print where the time went:
    /// the slowest traced functions and awaits (count, mean, p50, p99, max),
    /// lock contention, hot call paths and suggestions.
    Profile(commands::profile::Args),
    /// Serve a web dashboard of a running process, a recording, or (with
    /// neither) a process chosen on the page from this user's.
    Serve(commands::serve::Args),
    /// Stop a running program's tasks at await points, look, step, let go:
    /// commands on stdin (`help` lists them), one per line.
    Debug(commands::debug::Args),
    /// Print the report as of a moment of a recording.
    Replay(commands::replay::Args),
    /// Convert a recording.
    Export(commands::export::Args),
}

fn moment(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("`{text}` is not a moment such as 12.5s"))
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` is not a duration such as 500ms or 2s"))
}

/// A trace id or a prefix of one (`--trace`): 8 to 32 hex digits.
fn trace_id(text: &str) -> Result<String, String> {
    let ok = (8..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("a trace id is 32 hex digits (or its first 8 or more)".into())
    }
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        // The reader of our output went away (`| head`): nothing to say.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::exit(0)
        }
        Err(error) => {
            eprintln!("async-inspect: {error:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    ASCII.store(cli.ascii, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        Command::Ps => commands::ps::exec(),
        Command::Attach(args) => commands::attach::exec(args),
        Command::Run(args) => commands::run::exec(args),
        Command::Test(args) => commands::test::exec(args),
        Command::Record(args) => commands::record::exec(args),
        Command::Profile(args) => commands::profile::exec(args),
        Command::Serve(args) => commands::serve::exec(args),
        Command::Debug(args) => commands::debug::exec(args),
        Command::Replay(args) => commands::replay::exec(args),
        Command::Export(args) => commands::export::exec(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_parse_as_documented() {
        let cli =
            Cli::try_parse_from(["async-inspect", "attach", "--pid", "42", "--dump", "--json"])
                .unwrap();
        let Command::Attach(attach) = cli.command else {
            panic!("attach");
        };
        assert!(attach.pid == [42] && attach.dump && attach.json);
        let cli = Cli::try_parse_from(["async-inspect", "run", "--report", "--", "app", "--flag"])
            .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("run");
        };
        assert!(run.report);
        assert_eq!(run.program, ["app", "--flag"]);
        assert!(Cli::try_parse_from(["async-inspect", "attach", "--json", "--pid", "1"]).is_err());
        assert!(Cli::try_parse_from(["async-inspect", "attach", "--pid", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["async-inspect", "attach", "--pid", "1", "--interval", "0s"])
                .is_err()
        );
    }
}
