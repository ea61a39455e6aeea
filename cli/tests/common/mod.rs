//! Helpers shared by the CLI's test binaries.
#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::process::Child;

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
