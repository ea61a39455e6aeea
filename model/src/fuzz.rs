//! A mutation fuzzer for every decoder of outside bytes: wire frames (both
//! directions) and trace files, event blobs included. It starts from valid
//! encodings of every message kind, mutates them (bit flips, random bytes,
//! cuts, splices, length fields), and feeds the results to the decoders,
//! which must return an error or a value, never panic or run away.
//!
//! `cargo test` runs a few thousand cases. By hand, for longer:
//! `ASYNC_INSPECT_FUZZ_ITERS=2000000 cargo test --release -p async-inspect-model fuzz`
//! (`ASYNC_INSPECT_FUZZ_SEED` picks another sequence; a failure prints
//! the seed and case to rerun).

use std::time::Duration;

use crate::event::{Batch, EndHow, Event, FnSite, Polls, ResourceSite};
use crate::trace_file::{TraceWriter, read_trace};
use crate::wire::{PROTOCOL, Reply, Request, Welcome, read_frame, write_frame};
use crate::{ResourceKind, TaskKind};

/// A small xorshift generator: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn batch() -> Batch {
    let at = 1_000_000;
    Batch {
        sites: vec![FnSite {
            id: 0,
            function: "load".into(),
            module_path: "app::db".into(),
            file: "src/db.rs".into(),
            line: 12,
            awaits: vec![("query(id)".into(), 14), ("sleep(d)".into(), 15)],
        }],
        resources: vec![ResourceSite {
            id: 3,
            kind: ResourceKind::Mutex,
            label: "cache".into(),
            created_at: "src/main.rs:4:5".into(),
        }],
        events: vec![
            Event::Spawn {
                task: 7,
                parent: 1,
                kind: TaskKind::Spawned,
                name: "worker".into(),
                at,
            },
            Event::Poll {
                task: 7,
                start: at,
                end: at + 900,
            },
            Event::Enter {
                task: 7,
                frame: 1,
                parent: 0,
                site: 0,
                args: Some("id=4".into()),
                at,
            },
            Event::AwaitStart {
                task: 7,
                frame: 1,
                index: 1,
                at,
            },
            Event::AwaitEnd {
                task: 7,
                frame: 1,
                index: 1,
                at,
            },
            Event::Wait {
                task: 7,
                resource: 3,
                at,
            },
            Event::WaitEnd {
                task: 7,
                resource: 3,
                at,
            },
            Event::Acquire {
                task: 7,
                resource: 3,
                at,
            },
            Event::Release {
                task: 7,
                resource: 3,
                at,
            },
            Event::Point {
                task: 7,
                label: "loaded".into(),
                value: None,
                at,
            },
            Event::Exit {
                task: 7,
                frame: 1,
                at,
            },
            Event::End {
                task: 7,
                how: EndHow::Done,
                at,
            },
        ],
        dropped: 2,
    }
}

/// Valid encodings of every kind of message and a whole trace file.
fn seeds() -> Seeds {
    let snapshot = crate::snapshot::sample();
    let requests = [
        Request::Hello {
            protocol: PROTOCOL,
            client: "fuzz".into(),
        },
        Request::Snapshot,
        Request::Stream {
            interval_ms: 100,
            finished: Some(3),
        },
        Request::StartRecording { polls: Polls::All },
        Request::StopRecording,
        Request::Break {
            spec: "fetch#2".into(),
        },
        Request::Delete { id: 3 },
        Request::Continue { task: None },
        Request::Step {
            task: Some(4),
            how: crate::breakpoint::Step::Out,
        },
        Request::ReadMemory {
            address: 0x1000,
            len: 64,
        },
        Request::ReadMemoryMany {
            reads: vec![(0x1000, 16), (0x2000, 8)],
        },
    ];
    let replies = [
        Reply::Welcome(Welcome {
            protocol: PROTOCOL,
            pid: 42,
            program: "app".into(),
            started_at_unix: Duration::from_secs(1),
        }),
        Reply::Refused {
            reason: "no".into(),
        },
        Reply::Snapshot(Box::new(snapshot.clone())),
        Reply::Memory {
            bytes: vec![0, 1, 2, 255],
        },
        Reply::MemoryMany {
            reads: vec![Some(vec![7; 8]), None],
        },
        Reply::Events(Box::new(batch())),
        Reply::Recording { on: true },
        Reply::Breakpoint {
            id: 1,
            spec: "fetch#2".into(),
        },
        Reply::Paused {
            task: 4,
            breakpoint: 1,
        },
        Reply::Resumed { tasks: vec![4, 5] },
        Reply::Error {
            message: "bad".into(),
        },
    ];
    let mut seeds = Vec::new();
    for request in &requests {
        let mut frame = Vec::new();
        write_frame(&mut frame, request).unwrap();
        seeds.push(frame);
    }
    for reply in &replies {
        let mut frame = Vec::new();
        write_frame(&mut frame, reply).unwrap();
        seeds.push(frame);
    }
    let mut trace = TraceWriter::new(Vec::new(), 42, "app", Duration::ZERO).unwrap();
    trace.snapshot(&snapshot).unwrap();
    trace.events(&batch()).unwrap();
    seeds.push(trace.into_inner());
    Seeds {
        frames: seeds,
        requests: requests.len(),
    }
}

/// Valid encodings: the requests' frames first, then the replies', then a
/// trace file.
struct Seeds {
    frames: Vec<Vec<u8>>,
    requests: usize,
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = bytes.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = rng.next() as u8;
            }
            2 => bytes.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                // Splice a copy of one stretch somewhere else.
                let from = rng.below(len);
                let to = (from + rng.below(64)).min(len);
                let piece = bytes[from..to].to_vec();
                let at = rng.below(len + 1);
                bytes.splice(at..at, piece);
            }
            4 => {
                let at = rng.below(len + 1);
                let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
            5 if len >= 16 => {
                // A length field (a frame's, or a record's after the header)
                // made huge, tiny or off by a little.
                let at = if rng.below(2) == 0 { 0 } else { 12 };
                let value = match rng.below(3) {
                    0 => u32::MAX - rng.below(1000) as u32,
                    1 => rng.below(8) as u32,
                    _ => rng.next() as u32 % 4096,
                };
                bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            _ if len > 8 => {
                // An interesting byte of MessagePack or postcard: lengths,
                // type markers, varint continuations.
                let i = rng.below(len);
                bytes[i] = [0xc1, 0xdd, 0xdf, 0xc6, 0xff, 0x80, 0x7f, 0x00][rng.below(8)];
            }
            _ => {}
        }
    }
}

fn decode_all(bytes: &[u8]) {
    let _ = read_frame::<_, Request>(&mut &bytes[..]);
    let _ = read_frame::<_, Reply>(&mut &bytes[..]);
    let _ = read_trace(bytes);
}

#[test]
fn fuzz_the_frame_and_trace_decoders() {
    let iters = std::env::var("ASYNC_INSPECT_FUZZ_ITERS")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(20_000);
    let seed = std::env::var("ASYNC_INSPECT_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0x853c_49e6_748f_ea9b);
    let Seeds {
        frames: seeds,
        requests,
    } = seeds();
    // The seeds themselves decode.
    for seed in &seeds[..requests] {
        read_frame::<_, Request>(&mut seed.as_slice()).unwrap();
    }
    for seed in &seeds[requests..seeds.len() - 1] {
        read_frame::<_, Reply>(&mut seed.as_slice()).unwrap();
    }
    let trace = read_trace(seeds[seeds.len() - 1].as_slice()).unwrap();
    assert_eq!(trace.events, batch().events);
    let mut rng = Rng(seed);
    for case in 0..iters {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut bytes);
        let decoded = std::panic::catch_unwind(|| decode_all(&bytes));
        assert!(
            decoded.is_ok(),
            "a decoder panicked on case {case} of seed {seed}: {bytes:?}"
        );
    }
}
