//! `cargo xtask ports`: real tokio code nobody here wrote, ported
//! with the README's renames alone, built and tested with their own tests.
//!
//! Each port's source comes from crates.io (fetched by cargo into its
//! registry cache, so nothing but the package registry is reached), is
//! copied under `target/ports/`, has the renames of the README's "change
//! only names" table applied to its `.rs` files, gets `async-inspect` (this
//! checkout) as a dependency, and runs `cargo test` in its own workspace.
//! What breaks there breaks for users. Then the ported mini-redis server
//! runs with a connection that sent half a frame, and its dump through
//! `async-inspect attach` must name that connection's handler, branches,
//! peer bytes and buffer.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{cargo, run, workspace_root};

/// A crate to port: its crates.io name and version, and the features of
/// `async-inspect` its code needs (beyond the renames).
struct Port {
    name: &'static str,
    version: &'static str,
    features: &'static [&'static str],
}

const PORTS: &[Port] = &[
    // tokio's own example of an idiomatic server: a Redis subset with
    // pub/sub over broadcast, a connection limit on a Semaphore, graceful
    // shutdown over broadcast + mpsc, a purge task on Notify, select!.
    Port {
        name: "mini-redis",
        version: "0.4.1",
        // Its tests pause time.
        features: &["test-util"],
    },
    // A connection pool much used in services: a reaper task, waiters
    // woken through Notify, timeouts; its tests spawn tasks that hold
    // connections and race for them.
    Port {
        name: "bb8",
        version: "0.9.0",
        features: &[],
    },
    // A pool built on a `Semaphore` it resizes, closes and takes permits
    // of without waiting (`try_acquire`, `add_permits`, `forget`); its
    // tests cancel waits with timeouts, race tasks for objects and check
    // the pool never deadlocks.
    Port {
        name: "deadpool",
        version: "0.12.3",
        features: &[],
    },
];

/// The README's renames, as text replacements: everything else (`select!`,
/// `net`, `io`, `signal`, `runtime`) stays tokio's.
const RENAMES: &[(&str, &str)] = &[
    ("tokio::spawn(", "async_inspect::spawn("),
    ("use tokio::spawn;", "use async_inspect::spawn;"),
    ("#[tokio::main", "#[async_inspect::main"),
    ("#[tokio::test", "#[async_inspect::test"),
    ("tokio::task::JoinHandle", "async_inspect::task::JoinHandle"),
    ("tokio::time::", "async_inspect::time::"),
    ("use tokio::time;", "use async_inspect::time;"),
    ("tokio::sync::", "async_inspect::sync::"),
];

/// Ports, builds and tests every crate of [`PORTS`].
pub(crate) fn ports() -> Result<(), String> {
    let root = workspace_root();
    let base = root.join("target").join("ports");
    for port in PORTS {
        let source = fetch(port, &base)?;
        let dir = base.join(port.name);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
        copy_dir(&source, &dir)?;
        let renamed = rename_all(&dir)?;
        depend_on_this(&dir.join("Cargo.toml"), &root, port.features)?;
        eprintln!(
            "cargo xtask ports: {} {}: {renamed} files renamed; running its tests",
            port.name, port.version
        );
        run(cargo()
            .current_dir(&dir)
            .args(["test", "--target-dir"])
            .arg(base.join("target")))
        .map_err(|e| format!("{} {}: {e}", port.name, port.version))?;
    }
    dump_mini_redis(&root, &base)
}

/// What the dump of the ported mini-redis server must say of a connection
/// that sent half a frame: the handler it is in, each branch of its
/// `select!` (the socket read, the shutdown broadcast), the peer's bytes
/// and when the last came, and the partial frame in its buffer.
const HALF_FRAME_DUMP: &[&str] = &[
    "mini_redis::server::Handler::run",
    "mini_redis::connection::Connection::read_frame",
    "mini_redis::shutdown::Shutdown::recv",
    "Waiting for: a message on channel `src/server.rs:",
    "15 bytes received, the last ",
    r#"BytesMut(15 bytes: b"*2\r\n$3\r\nGET\r\n$3")"#,
];

/// Runs the ported mini-redis server (built by its tests, with the agent
/// on), sends it half a `GET` frame, and checks what `async-inspect
/// attach --dump` says of that connection ([`HALF_FRAME_DUMP`]): the
/// issue's "done when", as a user would try it.
fn dump_mini_redis(root: &Path, base: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    run(cargo()
        .current_dir(root)
        .args(["build", "--quiet", "-p", "async-inspect-cli"]))?;
    let cli = root.join("target/debug/async-inspect");
    let server_bin = base.join("target/debug/mini-redis-server");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    drop(listener);
    let mut server = std::process::Command::new(&server_bin)
        .args(["--port", &port.to_string()])
        .env("ASYNC_INSPECT_AGENT", "1")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server_bin.display()))?;
    let checked = (|| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut client = loop {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("mini-redis never listened: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        client
            .write_all(b"*2\r\n$3\r\nGET\r\n$3")
            .map_err(|e| e.to_string())?;
        let pid = server.id().to_string();
        loop {
            let out = std::process::Command::new(&cli)
                .args(["attach", "--pid", &pid, "--dump"])
                .output()
                .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
            let dump = String::from_utf8_lossy(&out.stdout);
            let missing: Vec<&&str> = HALF_FRAME_DUMP
                .iter()
                .filter(|want| !dump.contains(**want))
                .collect();
            if missing.is_empty() {
                eprintln!("cargo xtask ports: mini-redis's dump names the half-sent connection");
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the dump of mini-redis lacks {missing:?}:\n{dump}{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })();
    let _ = server.kill();
    let _ = server.wait();
    checked
}

/// Has cargo fetch `port` from crates.io (through a scratch manifest that
/// depends on it), and returns where its source is unpacked.
fn fetch(port: &Port, base: &Path) -> Result<PathBuf, String> {
    let scratch = base.join(format!("fetch-{}", port.name));
    fs::create_dir_all(scratch.join("src")).map_err(|e| e.to_string())?;
    fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fetch-port\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{} = \"={}\"\n\n[workspace]\n",
            port.name, port.version
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::write(scratch.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    run(cargo().current_dir(&scratch).args(["fetch", "--quiet"]))?;
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let unpacked = format!("{}-{}", port.name, port.version);
    let registries = fs::read_dir(home.join("registry/src"))
        .map_err(|e| format!("no registry sources under {}: {e}", home.display()))?;
    registries
        .filter_map(|r| Some(r.ok()?.path().join(&unpacked)))
        .find(|dir| dir.join("Cargo.toml").exists())
        .ok_or_else(|| {
            format!(
                "cargo fetched {unpacked}, but its source is not in {}",
                home.display()
            )
        })
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            fs::copy(&source, &target)
                .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        }
    }
    Ok(())
}

/// Applies [`RENAMES`] to every `.rs` file under `dir`; how many changed.
fn rename_all(dir: &Path) -> Result<usize, String> {
    let mut changed = 0;
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            changed += rename_all(&path)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let renamed = RENAMES
                .iter()
                .fold(text.clone(), |text, (from, to)| text.replace(from, to));
            if renamed != text {
                fs::write(&path, renamed).map_err(|e| e.to_string())?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// Adds this checkout's `async-inspect` (with `features`) to the
/// manifest's dependencies, and makes the port its own workspace.
fn depend_on_this(manifest: &Path, root: &Path, features: &[&str]) -> Result<(), String> {
    let text = fs::read_to_string(manifest).map_err(|e| e.to_string())?;
    let features: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
    let dependency = format!(
        "[dependencies.async-inspect]\npath = {:?}\nfeatures = [{}]\n\n",
        root.display().to_string(),
        features.join(", ")
    );
    let Some(at) = text.find("[dependencies") else {
        return Err(format!("{} has no dependencies table", manifest.display()));
    };
    let mut text = text;
    text.insert_str(at, &dependency);
    text.push_str("\n[workspace]\n");
    fs::write(manifest, text).map_err(|e| e.to_string())
}
