//! Memory stays bounded over millions of short tasks and distinct locks
//! with inspection on: the bench binary's `soak`, run as a child (its
//! resident memory is its own) and failing when the memory late in the run
//! grew past the tolerance over its level after warm-up. A leak of 10
//! bytes a task would exceed it. The two soaks run at once, each a
//! process of its own.

use std::process::Command;

/// Runs `async-inspect-bench soak ARGS` to its end; it must pass.
fn soak(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_async-inspect-bench"))
        .arg("soak")
        .args(args)
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "soak {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("soak: "), "no verdict line:\n{stdout}");
}

#[test]
fn memory_stays_bounded_over_millions_of_tasks_and_locks() {
    soak(&[
        "--tasks",
        "2000000",
        "--locks",
        "200000",
        "--tolerance",
        "50",
    ]);
}

/// The same while the agent serves a client that stopped reading, a slow
/// recorder, one that connects ten times a second and one that vanishes:
/// the agent must let the stalled one go, keep serving the others, and
/// stay bounded (held to its level after 40% of the tasks: a slow
/// recorder's backlog and the connections' allocator arenas take that long
/// to fill).
#[test]
fn memory_stays_bounded_while_the_agent_serves_bad_clients() {
    soak(&[
        "--tasks",
        "1000000",
        "--locks",
        "100000",
        "--tolerance",
        "50",
        "--warm",
        "40",
        "--clients",
    ]);
}
