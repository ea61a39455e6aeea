//! Helpers shared by the CLI's test binaries.
#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::OnceLock;

/// The safety net: no test waits longer than this for an event.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// The CLI under test.
pub const CLI: &str = env!("CARGO_BIN_EXE_async-inspect");

/// Runs the CLI with `args`, to the end.
pub fn cli(args: &[&str]) -> Output {
    Command::new(CLI).args(args).output().expect("the CLI runs")
}

/// Bytes a command wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `async-inspect export TRACE --format FORMAT -o OUT`, which must succeed.
pub fn export(trace: &std::path::Path, format: &str, out: &std::path::Path) {
    let done = cli(&[
        "export",
        trace.to_str().unwrap(),
        "--format",
        format,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{}", text(&done.stderr));
}

/// The directory of the facade's examples the CLI's tests run, built once
/// per test binary.
pub fn examples() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "async-inspect"])
            .args(["--example", "stuck_request", "--example", "slow_service"])
            .args(["--example", "axum_deadlock", "--example", "unannotated"])
            .args(["--example", "two_services"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the examples build");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join("debug/examples")
    })
}

/// The address an `async-inspect serve` child listens on, read from the
/// first line it writes to stderr (`… http://ADDRESS/…`); the child's
/// stderr must be piped.
pub fn served_address(server: &mut Child) -> String {
    let mut line = String::new();
    std::io::BufReader::new(server.stderr.take().expect("stderr piped"))
        .read_line(&mut line)
        .unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("the URL: {line}"))
        .to_owned()
}

/// The whole response (head and body) to a plain HTTP/1.1 GET of `path`
/// from `address`.
pub fn http_get(address: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A debugger session: its stdin, and its output lines as they come.
pub struct Debugger {
    /// The debugger's process.
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Debugger {
    /// `async-inspect debug ARGS…`, its stdin piped.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(CLI)
            .arg("debug")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn send(&mut self, command: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends `how TASK` (a step) and checks the task pauses again at the
    /// await `at`.
    pub fn stops_at(&mut self, task: u64, how: &str, at: &str) {
        self.send(&format!("{how} {task}"));
        self.expect("the next pause", |l| {
            l == format!("task #{task} paused at breakpoint 1")
        });
        self.send(&format!("bt {task}"));
        self.expect(at, |l| l.contains(&format!("{at} ◄─── BLOCKED")));
    }

    /// The first line from now on that `matches`.
    pub fn expect(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what}; the debugger said:\n{}", self.seen.join("\n")),
            }
        }
    }
}
