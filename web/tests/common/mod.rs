//! A dashboard served on a free port from a fixture, and a tiny HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_inspect_model::Snapshot;
use async_inspect_web::{Data, Options, Server, Update};

/// The `deadlock` example's snapshot: two transfers in a cycle.
pub fn fixture() -> Snapshot {
    let path = format!(
        "{}/../model/tests/fixtures/deadlock.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Serves `data` on 127.0.0.1 (any port) with `token`; its address.
pub fn serve(data: Arc<Data>, token: Option<&str>) -> SocketAddr {
    let options = Options {
        bind: "127.0.0.1:0".parse().unwrap(),
        token: token.map(str::to_owned),
    };
    let server = Server::bind(&options, data).unwrap();
    let address = server.address().unwrap();
    std::thread::spawn(move || server.run());
    address
}

/// A live dashboard showing the fixture.
pub fn live_fixture(token: Option<&str>) -> (Arc<Data>, SocketAddr) {
    let data = Arc::new(Data::live("fixture"));
    data.apply(Update::Snapshot(Box::new(fixture())));
    let address = serve(Arc::clone(&data), token);
    (data, address)
}

/// GET `path` (with `headers`): the status code and the body.
pub fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = request(address, path, headers);
    (status, body)
}

/// GET `path` (with `headers`): the status code, the head and the body.
pub fn request(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, head.to_owned(), body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// GET `path` as JSON, which must answer 200.
pub fn json(address: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = get(address, path, &[]);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Loads `url` once in a headless Chromium: its DOM after the scripts ran
/// (a screenshot named `shot` is left in the target directory too).
pub fn visit_url(url: &str, shot: &str) -> String {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium ({CHROMIUM}): `cargo xtask test` installs it \
         (or apt-get install chromium chromium-driver)"
    );
    let scratch = tempdir(shot);
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--virtual-time-budget=5000",
        "--window-size=1200,800",
    ];
    let profile = format!("--user-data-dir={}", scratch.join("profile").display());
    let dom = std::process::Command::new(CHROMIUM)
        .args(flags)
        .arg(&profile)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = format!("--user-data-dir={}", scratch.join("profile2").display());
    let png = shots.join(format!("{shot}.png"));
    let screenshot = std::process::Command::new(CHROMIUM)
        .args(flags)
        .arg(&profile)
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        screenshot.status.success() && png.exists(),
        "no screenshot of {url}: {}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    // Chromium's two profiles are megabytes each: a run of the suite left
    // them behind by the hundred.
    let _ = std::fs::remove_dir_all(&scratch);
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "async-inspect-browser-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Script errors: the page marks each on `<body data-errors=…>` (and shows
/// it); headless Chromium does not log the console.
pub fn script_errors(dom: &str) -> Vec<&str> {
    dom.lines().filter(|l| l.contains("data-errors=")).collect()
}
