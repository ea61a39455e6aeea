//! Decoding a future in another process, as the CLI does: the program from
//! `/proc/PID/exe`, the bias from `/proc/PID/maps`, the bytes through
//! `process_vm_readv`. The other process is the `held_future` example,
//! which `cargo test` builds beside this test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use async_inspect_debuginfo::{Budget, ProcessMemory, Program, RootFuture};

/// The `held_future` example, in the target directory's `examples/`
/// beside this test's `deps/`: `cargo test` builds it, and a run of this
/// test alone builds it here (a no-op when it is there).
fn held_future() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "async-inspect-debuginfo"])
        .args(["--example", "held_future"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let built = build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(built.success(), "cargo build --example held_future");
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile.join("examples").join("held_future")
}

/// The child process, killed if the test fails before it is done with it.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_future_in_another_process_decodes_through_its_pid() {
    let mut child = Child(
        Command::new(held_future())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child"),
    );
    let pid = child.0.id();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("ROOT ").map(|(_, rest)| rest.to_owned()))
        .expect("the child reports its future");
    let fields: Vec<u64> = line.split(' ').map(|f| f.parse().unwrap()).collect();

    let program = Program::open(format!("/proc/{pid}/exe")).unwrap();
    let bias = program.bias_for_pid(pid).unwrap();
    let root = RootFuture {
        anchor_pc: bias.to_link_time(fields[0]),
        address: fields[1],
        size: fields[2],
    };
    let node = program
        .decode(&root, &ProcessMemory::of(pid), bias, &Budget::default())
        .unwrap();
    assert_eq!(node.path, "held_future::held_elsewhere");
    assert_eq!(
        node.local("kept").map(|l| l.value.as_str()),
        Some("\"from the child\"")
    );
    drop(child.0.stdin.take());
}
