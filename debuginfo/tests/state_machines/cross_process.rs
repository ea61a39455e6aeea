//! Decoding a future in another process, as the CLI does: the program from
//! `/proc/PID/exe`, the bias from `/proc/PID/maps`, the bytes through
//! `process_vm_readv`. The other process is this test binary, re-run to
//! execute only `child_holds_a_suspended_future`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use async_inspect_debuginfo::{Budget, ProcessMemory, Program, RootFuture};

use crate::support::{Never, poll_once};

const CHILD_ENV: &str = "ASYNC_INSPECT_DEBUGINFO_CHILD";

async fn held_elsewhere(label: String) -> usize {
    let kept = label;
    Never.await;
    kept.len()
}

#[test]
#[ignore = "runs as the child of a_future_in_another_process_decodes_through_its_pid"]
fn child_holds_a_suspended_future() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let mut fut = Box::pin(held_elsewhere("from the child".to_owned()));
    assert!(poll_once(fut.as_mut()).is_pending());
    let anchor = crate::support::anchor_of(&*fut);
    println!(
        "ROOT {anchor} {} {}",
        &*fut as *const _ as usize,
        std::mem::size_of_val(&*fut)
    );
    std::io::stdout().flush().unwrap();
    // Hold the future until the parent is done reading it.
    let _ = std::io::stdin().read(&mut [0]);
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
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "cross_process::child_holds_a_suspended_future"])
            .args(["--include-ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child"),
    );
    let pid = child.0.id();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    // The harness prints the test's name on the same line, before ours.
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
    assert_eq!(node.path, concat!(module_path!(), "::held_elsewhere"));
    assert_eq!(
        node.local("kept").map(|l| l.value.as_str()),
        Some("\"from the child\"")
    );
    drop(child.0.stdin.take());
}
