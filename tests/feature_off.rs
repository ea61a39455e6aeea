//! Builds the facade with the `inspect` feature off and runs
//! `compiled_out.rs` against it: the zero-cost toggle, proven by a build.
#![cfg(feature = "inspect")]

use std::path::Path;
use std::process::Command;

#[test]
fn with_inspect_off_the_facade_is_plain_tokio() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // Its own target dir: the outer `cargo test` may still hold the lock on
    // the workspace's, and the feature set differs anyway.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("feature-off");
    let output = Command::new(env!("CARGO"))
        .args(["test", "--manifest-path"])
        .arg(&manifest)
        .args([
            "-p",
            "async-inspect",
            "--no-default-features",
            "--features",
            "tokio",
            "--test",
            "compiled_out",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the feature-off build failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("test result: ok. 5 passed; 0 failed"),
        "expected compiled_out's 5 tests to run:\n{stdout}"
    );
}
