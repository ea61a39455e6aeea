//! The agent as a client meets it: the handshake, a version mismatch
//! refused on both sides, snapshots on request and streamed, recording on
//! request (events while streaming; stopped on request or when the client
//! goes), a client that vanishes mid-stream, and a socket only this user
//! can reach.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use std::time::{Duration, Instant};

use async_inspect_core::record::{Event, Polls, recording};
use async_inspect_core::{Inspected, TaskKind};
use async_inspect_model::wire::{
    MAX_READ, MAX_READS, PROTOCOL, Reply, Request, read_frame, write_frame,
};

fn connect() -> UnixStream {
    let path = async_inspect_agent::start().expect("the agent starts");
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
fn many_reads_of_the_programs_memory_come_back_each_on_its_own() {
    let mut stream = connect();
    assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
    let words: Vec<u64> = (0..3).map(|i| 0x0102_0304_0506_0700 + i).collect();
    let at = |i: usize| std::ptr::from_ref(&words[i]) as u64;
    // Two readable words around the null page, and two of them at once.
    let request = Request::ReadMemoryMany {
        reads: vec![(at(0), 8), (8, 8), (at(1), 16)],
    };
    write_frame(&mut stream, &request).unwrap();
    let Reply::MemoryMany { reads } = read_frame(&mut stream).unwrap() else {
        panic!("the bytes");
    };
    let expected: Vec<u8> = words[1..].iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert_eq!(
        reads,
        vec![Some(words[0].to_ne_bytes().to_vec()), None, Some(expected)]
    );
    // Over the limits: an error, and the connection serves on.
    for reads in [
        vec![(at(0), 8); MAX_READS + 1],
        vec![(at(0), MAX_READ), (at(0), 1)],
    ] {
        write_frame(&mut stream, &Request::ReadMemoryMany { reads }).unwrap();
        let reply = read_frame(&mut stream).unwrap();
        assert!(
            matches!(&reply, Reply::Error { message } if message.contains("over the limit")),
            "{reply:?}"
        );
    }
    write_frame(&mut stream, &Request::Snapshot).unwrap();
    assert!(matches!(
        read_frame(&mut stream).unwrap(),
        Reply::Snapshot(_)
    ));
    std::hint::black_box(&words);
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
        write_frame(
            &mut stream,
            &Request::Stream {
                interval_ms: 10,
                finished: None,
            },
        )
        .unwrap();
        for _ in 0..2 {
            let reply: Reply = read_frame(&mut stream).unwrap();
            assert!(matches!(reply, Reply::Snapshot(_)));
        }
        drop(stream);
    }
    let mut stream = connect();
    assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
}

/// The next reply that is not a streamed snapshot.
fn next_not_snapshot(stream: &mut UnixStream) -> Reply {
    loop {
        match read_frame(stream).unwrap() {
            Reply::Snapshot(_) => {}
            other => return other,
        }
    }
}

#[test]
fn a_recording_client_gets_events_while_streaming_and_can_stop() {
    let mut stream = connect();
    assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
    write_frame(
        &mut stream,
        &Request::Stream {
            interval_ms: 20,
            finished: Some(0),
        },
    )
    .unwrap();
    write_frame(&mut stream, &Request::StartRecording { polls: Polls::All }).unwrap();
    assert_eq!(
        next_not_snapshot(&mut stream),
        Reply::Recording { on: true }
    );
    let task = Inspected::new(async { 1 }, TaskKind::Spawned, Some("recorded".into()));
    let id = task.id().unwrap().as_u64();
    futures::executor::block_on(task);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e| matches!(e, Event::End { task, .. } if *task == id))
    {
        assert!(Instant::now() < deadline, "no events of the task: {seen:?}");
        if let Reply::Events(batch) = next_not_snapshot(&mut stream) {
            seen.extend(batch.events);
        }
    }
    assert!(seen.iter().any(
        |e| matches!(e, Event::Spawn { task, name, .. } if *task == id && name == "recorded")
    ));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Poll { task, .. } if *task == id))
    );
    write_frame(&mut stream, &Request::StopRecording).unwrap();
    loop {
        match next_not_snapshot(&mut stream) {
            Reply::Events(_) => {}
            reply => {
                assert_eq!(reply, Reply::Recording { on: false });
                break;
            }
        }
    }
    // Still streaming snapshots, without finished tasks (asked for none),
    // though the program still keeps the one that ended.
    let Reply::Snapshot(snapshot) = read_frame(&mut stream).unwrap() else {
        panic!("a snapshot");
    };
    assert!(snapshot.tasks().iter().all(|t| !t.state.is_finished()));
    assert!(crate_snapshot_has_finished(id));
}

/// Whether a full snapshot still lists the finished task `id`.
fn crate_snapshot_has_finished(id: u64) -> bool {
    async_inspect_core::snapshot()
        .tasks()
        .iter()
        .any(|t| t.id.as_u64() == id && t.state.is_finished())
}

#[test]
fn a_recording_client_that_vanishes_stops_the_recording() {
    let mut stream = connect();
    assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
    write_frame(&mut stream, &Request::StartRecording { polls: Polls::Long }).unwrap();
    assert_eq!(
        next_not_snapshot(&mut stream),
        Reply::Recording { on: true }
    );
    assert!(recording());
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    // The other recording test may record meanwhile; it ends by itself.
    while recording() {
        assert!(
            Instant::now() < deadline,
            "the recording outlived its client"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut again = connect();
    assert!(matches!(hello(&mut again, PROTOCOL), Reply::Welcome(_)));
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
    let path = async_inspect_agent::start().unwrap();
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
    if std::env::var_os("ASYNC_INSPECT_SOCKET").is_none() {
        let dir = path.parent().unwrap();
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
}

#[test]
fn a_debugger_sets_breakpoints_and_a_bad_spec_is_an_error() {
    let mut stream = connect();
    assert!(matches!(hello(&mut stream, PROTOCOL), Reply::Welcome(_)));
    write_frame(
        &mut stream,
        &Request::Break {
            spec: "fetch#0".into(),
        },
    )
    .unwrap();
    let Reply::Error { message } = read_frame(&mut stream).unwrap() else {
        panic!("an error");
    };
    assert!(message.contains("awaits are counted from 1"), "{message}");
    write_frame(
        &mut stream,
        &Request::Break {
            spec: "fetch_user#2".into(),
        },
    )
    .unwrap();
    let reply: Reply = read_frame(&mut stream).unwrap();
    let Reply::Breakpoint { id, spec } = reply else {
        panic!("a breakpoint: {reply:?}");
    };
    assert_eq!(spec, "fetch_user#2");
    write_frame(&mut stream, &Request::Continue { task: Some(12345) }).unwrap();
    assert!(matches!(
        read_frame(&mut stream).unwrap(),
        Reply::Error { .. }
    ));
    write_frame(&mut stream, &Request::Delete { id }).unwrap();
    assert_eq!(
        read_frame::<_, Reply>(&mut stream).unwrap(),
        Reply::Resumed { tasks: vec![] }
    );
    write_frame(&mut stream, &Request::Delete { id }).unwrap();
    assert!(matches!(
        read_frame(&mut stream).unwrap(),
        Reply::Error { .. }
    ));
}
