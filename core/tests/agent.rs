//! The agent as a client meets it: the handshake, a version mismatch
//! refused on both sides, snapshots on request and streamed, a client that
//! vanishes mid-stream, and a socket only this user can reach.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use async_inspect_core::agent::wire::{PROTOCOL, Reply, Request, read_frame, write_frame};

fn connect() -> UnixStream {
    let path = async_inspect_core::agent::start().expect("the agent starts");
    UnixStream::connect(path).expect("the agent accepts")
}

fn hello(stream: &mut UnixStream, protocol: u32) -> Reply {
    let hello = Request::Hello {
        protocol,
        client: "agent test".into(),
    };
    write_frame(stream, &hello).unwrap();
    read_frame(stream).unwrap()
}

#[test]
fn a_client_shakes_hands_and_gets_snapshots() {
    let mut stream = connect();
    let Reply::Welcome(welcome) = hello(&mut stream, PROTOCOL) else {
        panic!("welcomed");
    };
    assert_eq!(welcome.pid, std::process::id());
    assert_eq!(welcome.protocol, PROTOCOL);
    write_frame(&mut stream, &Request::Snapshot).unwrap();
    let Reply::Snapshot(snapshot) = read_frame(&mut stream).unwrap() else {
        panic!("a snapshot");
    };
    assert_eq!(snapshot.pid(), std::process::id());
}

#[test]
fn another_protocol_version_is_refused_saying_which() {
    let mut stream = connect();
    let reply = hello(&mut stream, PROTOCOL + 1);
    let Reply::Refused { reason } = reply else {
        panic!("refused: {reply:?}");
    };
    assert!(
        reason.contains(&format!("protocol {PROTOCOL}, not {}", PROTOCOL + 1)),
        "{reason}"
    );
}

#[test]
fn a_request_before_the_hello_is_refused() {
    let mut stream = connect();
    write_frame(&mut stream, &Request::Snapshot).unwrap();
    let reply: Reply = read_frame(&mut stream).unwrap();
    assert!(matches!(reply, Reply::Refused { .. }), "{reply:?}");
}

#[test]
fn a_client_vanishing_mid_stream_leaves_the_agent_serving() {
    for _ in 0..3 {
        let mut stream = connect();
        assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
        write_frame(&mut stream, &Request::Stream { interval_ms: 10 }).unwrap();
        for _ in 0..2 {
            let reply: Reply = read_frame(&mut stream).unwrap();
            assert!(matches!(reply, Reply::Snapshot(_)));
        }
        drop(stream);
    }
    let mut stream = connect();
    assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
}

#[test]
fn garbage_on_the_socket_is_an_error_reply_not_a_crash() {
    use std::io::Write;
    let mut stream = connect();
    stream
        .write_all(&[0, 0, 0, 4, 0xc1, 0xc1, 0xc1, 0xc1])
        .unwrap();
    let reply: Reply = read_frame(&mut stream).unwrap();
    assert!(
        matches!(reply, Reply::Refused { .. } | Reply::Error { .. }),
        "{reply:?}"
    );
    let mut again = connect();
    assert!(matches!(hello(&mut again, PROTOCOL), Reply::Welcome(_)));
}

#[test]
fn only_this_user_can_reach_the_socket() {
    let path = async_inspect_core::agent::start().unwrap();
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
    if std::env::var_os("ASYNC_INSPECT_SOCKET").is_none() {
        let dir = path.parent().unwrap();
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
}
