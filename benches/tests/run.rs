//! `async-inspect-bench run`, as `compare` runs it for each contender: its
//! JSON line, and the runtime's worker threads it was asked for.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_async-inspect-bench"))
        .arg("run")
        .args(args)
        .output()
        .expect("the bench binary runs")
}

/// The workers a run reports, from its JSON line.
fn workers_of(output: &Output) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the run failed:\n{stdout}\n{stderr}"
    );
    let line = stdout.lines().last().unwrap_or_default();
    let measured: serde_json::Value = serde_json::from_str(line).expect("one JSON line");
    assert!(
        measured["wall_ns"].as_u64().is_some_and(|ns| ns > 0),
        "{line}"
    );
    measured["workers"].as_u64().expect("the workers it ran on")
}

#[test]
fn a_run_uses_the_workers_it_is_given_on_tokio_and_on_smol() {
    for kit in ["bare", "inspect", "smol-inspect"] {
        let small = ["--workload", "w3", "--kit", kit, "--scale", "0.05"];
        assert_eq!(workers_of(&run(&small)), 2, "{kit}: two by default");
        let one = run(&[&small[..], &["--workers", "1", "--lock-work", "50"]].concat());
        assert_eq!(workers_of(&one), 1, "{kit}");
        let three = run(&[&small[..], &["--workers", "3"]].concat());
        assert_eq!(workers_of(&three), 3, "{kit}");
    }
}

#[test]
fn no_workers_is_refused_in_one_line() {
    let output = run(&["--workload", "w3", "--kit", "bare", "--workers", "0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .next()
            .is_some_and(|l| l.contains("--workers")),
        "{stderr}"
    );
}
