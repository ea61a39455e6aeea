//! Builds the facade with the `inspect` feature off and runs
//! `feature_off/compiled_out.rs` against it: the zero-cost toggle, proven
//! by a build.
//!
//! The build is a crate of its own, made here, that depends on this one as
//! a user who turns inspection off does: the facade's own tests would bring
//! every dev-dependency (axum, hyper, the adapters) into a second build.
//! It takes the workspace's lock file, so it builds the same versions.
#![cfg(feature = "inspect")]

use std::fs;
use std::path::Path;
use std::process::Command;

#[test]
fn with_inspect_off_the_facade_is_plain_tokio() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Its own target dir: the outer `cargo test` may still hold the lock on
    // the workspace's, and the feature set differs anyway.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("feature-off");
    let krate = dir.join("crate");
    fs::create_dir_all(krate.join("tests")).unwrap();
    let manifest = format!(
        r#"[package]
name = "feature-off"
version = "0.0.0"
edition = "2024"
publish = false

# Its own workspace, not a member of the one it sits under.
[workspace]

[dependencies]
async-inspect = {{ path = {root:?}, default-features = false, features = ["tokio"] }}
tokio = {{ version = "1.41", default-features = false, features = ["rt"] }}
"#,
        root = root.display().to_string(),
    );
    fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    fs::copy(
        root.join("tests/feature_off/compiled_out.rs"),
        krate.join("tests/compiled_out.rs"),
    )
    .unwrap();
    let output = Command::new(env!("CARGO"))
        .args(["test", "--test", "compiled_out", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
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
