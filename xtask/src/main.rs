//! `cargo xtask test [CARGO TEST ARGS…]`: every test of the project, on a
//! machine that has only the Rust toolchain.
//!
//! `cargo test --workspace` alone needs two programs from outside Rust: the
//! dashboard's browser tests drive Debian's headless Chromium, and the
//! terminal UI's end-to-end test runs in a pseudo-terminal through
//! util-linux's `script`. This task finds them, installs the missing ones
//! with `apt-get` (as root, or through `sudo`), and says in one line what
//! to install where it cannot; then it runs the workspace's tests and the
//! tokio all-tasks tests, which build apart with `--cfg tokio_unstable`.
//!
//! `cargo xtask ports`: real tokio applications ported with the README's
//! renames alone, built and tested with their own tests (see `ports`).

mod ports;

use std::env;
use std::path::Path;
use std::process::{Command, ExitCode};

/// A program some tests run, and the Debian packages that bring it.
struct Needed {
    program: &'static str,
    packages: &'static [&'static str],
    why: &'static str,
}

const NEEDED: &[Needed] = &[
    Needed {
        program: "/usr/bin/chromium",
        packages: &["chromium", "chromium-driver"],
        why: "the dashboard's browser tests (web/tests/browser.rs)",
    },
    Needed {
        program: "script",
        packages: &["bsdutils"],
        why: "the terminal UI's pseudo-terminal test (cli/tests/cli.rs)",
    },
];

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    match args.next().as_deref() {
        Some("test") => match test(args.collect()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("cargo xtask test: {message}");
                ExitCode::FAILURE
            }
        },
        Some("ports") => match ports::ports() {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("cargo xtask ports: {message}");
                ExitCode::FAILURE
            }
        },
        Some("install-test-deps") => match install_missing() {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("cargo xtask install-test-deps: {message}");
                ExitCode::FAILURE
            }
        },
        other => {
            if let Some(other) = other {
                eprintln!("cargo xtask: unknown task `{other}`");
            }
            eprintln!(
                "usage: cargo xtask test [CARGO TEST ARGS…]   every test, installing what they need\n       \
                 cargo xtask ports                      real tokio applications, ported by the README's renames, with their tests\n       \
                 cargo xtask install-test-deps          only install what the tests need"
            );
            ExitCode::from(2)
        }
    }
}

fn test(extra: Vec<String>) -> Result<(), String> {
    install_missing()?;
    let root = workspace_root();
    run(cargo()
        .current_dir(&root)
        .args(["test", "--workspace"])
        .args(&extra))?;
    run(cargo()
        .current_dir(&root)
        .env("RUSTFLAGS", "--cfg tokio_unstable")
        .args([
            "test",
            "--manifest-path",
            "tokio-unstable-tests/Cargo.toml",
            "--target-dir",
            "target/unstable",
        ])
        .args(&extra))
}

/// Installs the Debian packages of every missing program, or says which
/// to install when this machine cannot.
fn install_missing() -> Result<(), String> {
    let missing: Vec<&Needed> = NEEDED.iter().filter(|n| !found(n.program)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().flat_map(|n| n.packages).copied().collect();
    for need in &missing {
        eprintln!(
            "cargo xtask: {} is missing ({}); installing {}",
            need.program,
            need.why,
            need.packages.join(" ")
        );
    }
    let how = format!("install it by hand: apt-get install {}", packages.join(" "));
    if !found("apt-get") {
        return Err(format!("no apt-get on this machine: {how}"));
    }
    let sudo: &[&str] = if is_root() {
        &[]
    } else if found("sudo") {
        &["sudo"]
    } else {
        return Err(format!("not root and no sudo: {how}"));
    };
    let apt = |args: &[&str]| {
        let mut command = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !sudo.is_empty() {
            command.arg("apt-get");
        }
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        command
    };
    run(&mut apt(&["update", "-qq"])).map_err(|e| format!("{e}; {how}"))?;
    run(apt(&["install", "-y", "-qq"]).args(&packages)).map_err(|e| format!("{e}; {how}"))?;
    match missing.iter().find(|n| !found(n.program)) {
        Some(still) => Err(format!(
            "{} still missing after the install; {how}",
            still.program
        )),
        None => Ok(()),
    }
}

/// Whether `program` (a path, or a name looked up on `PATH`) exists.
fn found(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    env::var_os("PATH")
        .map(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn workspace_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("could not start {:?}: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}
