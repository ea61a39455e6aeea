//! `async-inspect test`: `cargo test` with every `#[async_inspect::test]`
//! under a timeout, its output passed through and read for what hung,
//! deadlocked or took locks in opposite orders.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_inspect_model::format_duration;

use crate::duration;

/// The arguments of `async-inspect test`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The timeout of each test.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub(crate) timeout: Duration,
    /// Exit non-zero when a test hung.
    #[arg(long)]
    pub(crate) fail_on_hang: bool,
    /// Exit non-zero when a deadlock was found.
    #[arg(long)]
    pub(crate) fail_on_deadlock: bool,
    /// Record lock order, and exit non-zero on an inversion.
    #[arg(long)]
    pub(crate) fail_on_lock_order: bool,
    /// Exit non-zero on any lint: a task nobody can wake, one spinning on
    /// self-wakes, one starved of a worker, a blocking poll, a lock-order
    /// inversion.
    #[arg(long)]
    pub(crate) fail_on_lint: bool,
    /// Where each hung test's trace goes (`<test>.trace`: its events and
    /// where it was stuck).
    #[arg(long, value_name = "DIR", default_value = "target/async-inspect")]
    pub(crate) trace_out: PathBuf,
    /// Arguments for `cargo test` (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) cargo_args: Vec<OsString>,
}

/// Runs `cargo test` as asked; its exit code, or 1 for a finding asked to
/// fail.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let fail_on = FailOn {
        hang: args.fail_on_hang,
        deadlock: args.fail_on_deadlock,
        lock_order: args.fail_on_lock_order,
        lint: args.fail_on_lint,
    };
    run(args.timeout, fail_on, &args.trace_out, &args.cargo_args)
}

/// Which findings make the run fail.
#[derive(Debug, Clone, Copy)]
struct FailOn {
    hang: bool,
    deadlock: bool,
    lock_order: bool,
    lint: bool,
}

/// What the tests' output told.
#[derive(Debug, Default)]
struct Findings {
    /// Tests that did not finish in time, by name.
    hung: Vec<String>,
    /// Each deadlock's cycle line: a deadlock is printed when found and
    /// again in the report of the test it hangs.
    deadlocks: Vec<String>,
    lock_order: usize,
    /// Lints other than lock-order inversions.
    lints: usize,
    /// Trace files the hung tests left.
    traces: Vec<String>,
    /// Test binaries in which no inspected task progressed.
    stalls: Vec<String>,
}

impl Findings {
    fn read(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("async-inspect: test `")
            && let Some((name, tail)) = rest.split_once('`')
            && (tail.starts_with(" did not finish within") || tail.starts_with(" is blocked"))
            && !self.hung.iter().any(|n| n == name)
        {
            self.hung.push(name.to_owned());
        }
        if let Some(cycle) = line.trim_start().strip_prefix("Cycle: ")
            && !self.deadlocks.iter().any(|c| c == cycle)
        {
            self.deadlocks.push(cycle.to_owned());
        }
        if line.starts_with("async-inspect: ⚠ potential deadlock") {
            self.lock_order += 1;
        } else if line.starts_with("async-inspect: ⚠ ") {
            self.lints += 1;
        }
        if let Some(rest) = line.strip_prefix("async-inspect: no inspected task made progress for ")
            && let Some((_, tail)) = rest.split_once(" in ")
            && let Some((program, _)) = tail.split_once(':')
        {
            self.stalls.push(program.to_owned());
        }
        if line.starts_with("async-inspect: the trace of `")
            && let Some((_, path)) = line.rsplit_once(" is in ")
            && !self.traces.iter().any(|p| p == path)
        {
            self.traces.push(path.to_owned());
        }
    }
}

/// Runs `cargo test cargo_args…`; the exit code.
fn run(
    timeout: Duration,
    fail_on: FailOn,
    trace_out: &Path,
    cargo_args: &[OsString],
) -> anyhow::Result<i32> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    // Relative to where this was run, not to each test's package.
    let trace_out = std::path::absolute(trace_out)
        .with_context(|| format!("no such place: {}", trace_out.display()))?;
    command
        .args(["test", "--no-fail-fast"])
        .args(cargo_args)
        .env(
            "ASYNC_INSPECT_TEST_TIMEOUT",
            format!("{}ms", timeout.as_millis()),
        )
        .env("ASYNC_INSPECT_TRACE_OUT", &trace_out)
        .env(
            "ASYNC_INSPECT_STALL_TIMEOUT",
            format!("{}ms", timeout.as_millis()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if fail_on.lock_order {
        command.env("ASYNC_INSPECT_LOCK_ORDER", "1");
    }
    if fail_on.lock_order || fail_on.lint {
        command.env("ASYNC_INSPECT_PRINT_LINTS", "1");
    }
    let mut child = command.spawn().context("cannot run cargo test")?;
    let findings = Arc::new(Mutex::new(Findings::default()));
    let stdout = child.stdout.take().context("cargo's output")?;
    let stderr = child.stderr.take().context("cargo's errors")?;
    let readers = [
        pass_through(stdout, std::io::stdout, &findings),
        pass_through(stderr, std::io::stderr, &findings),
    ];
    let status = child.wait()?;
    for reader in readers {
        let _ = reader.join();
    }
    let findings = findings.lock().unwrap_or_else(|e| e.into_inner());
    let mut summary = format!(
        "async-inspect test: {} hung, {} deadlock(s), {} lock-order inversion(s)",
        findings.hung.len(),
        findings.deadlocks.len(),
        findings.lock_order
    );
    if fail_on.lint {
        summary.push_str(&format!(", {} other lint(s)", findings.lints));
    }
    if !findings.stalls.is_empty() {
        summary.push_str(&format!(
            ", {} stalled test binar{} ({})",
            findings.stalls.len(),
            if findings.stalls.len() == 1 {
                "y"
            } else {
                "ies"
            },
            findings.stalls.join(", ")
        ));
    }
    if !findings.hung.is_empty() {
        let names: Vec<String> = findings.hung.iter().map(|n| format!("`{n}`")).collect();
        summary.push_str(&format!(
            " (timeout {}: {})",
            format_duration(timeout),
            names.join(", ")
        ));
    }
    eprintln!("{summary}");
    for trace in &findings.traces {
        eprintln!("async-inspect test: trace written to {trace}");
    }
    let failed = (fail_on.hang && !(findings.hung.is_empty() && findings.stalls.is_empty()))
        || (fail_on.deadlock && !findings.deadlocks.is_empty())
        || (fail_on.lock_order && findings.lock_order > 0)
        || (fail_on.lint && findings.lock_order + findings.lints > 0);
    let code = status.code().unwrap_or(1);
    Ok(if failed { code.max(1) } else { code })
}

/// Copies `input` to `output` line by line, reading each for findings.
fn pass_through<R: Read + Send + 'static, W: Write + 'static>(
    input: R,
    output: fn() -> W,
    findings: &Arc<Mutex<Findings>>,
) -> std::thread::JoinHandle<()> {
    let findings = Arc::clone(findings);
    std::thread::spawn(move || {
        let mut lines = BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let _ = output().write_all(&line);
            let text = String::from_utf8_lossy(&line);
            findings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .read(text.trim_end());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_read_from_the_output() {
        let mut findings = Findings::default();
        for line in [
            "async-inspect: test `waits_forever` did not finish within 1.0s. Found it stuck at:",
            "async-inspect: test `waits_forever` did not finish within 1.0s. Found it stuck at:",
            "async-inspect: test `spins` is blocked outside any .await (its thread never polled it again); exiting",
            "💀 DEADLOCK DETECTED: 2 tasks wait for each other forever",
            "  Cycle: Task #2 → Mutex a → Task #3 → Mutex b → Task #2",
            "│ Cycle: Task #2 → Mutex a → Task #3 → Mutex b → Task #2",
            "async-inspect: ⚠ potential deadlock: lock order inversion between Mutex `a` and Mutex `b`: …",
            "async-inspect: the trace of `waits_forever` (12 events) is in target/async-inspect/waits_forever.trace",
            "async-inspect: no inspected task made progress for 1.0s in stall-0a1b: the process is stalled. Where each task is stuck:",
            "test ordinary ... ok",
        ] {
            findings.read(line);
        }
        assert_eq!(findings.hung, ["waits_forever", "spins"]);
        assert_eq!((findings.deadlocks.len(), findings.lock_order), (1, 1));
        assert_eq!(
            findings.traces,
            ["target/async-inspect/waits_forever.trace"]
        );
    }
}
