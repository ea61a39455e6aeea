//! The hot side of recording: events as the instrumented code produces
//! them, pushed into a bounded buffer of the producing thread.
//!
//! Each thread that produces an event while recording gets a ring of its
//! own the first time (a wait-free single-producer single-consumer ring of
//! [`RING`] events, `rtrb`), and hands its reading end to the collector. A
//! push is a few plain writes and one release store; it never blocks and
//! never allocates: a full ring drops the event and counts it. The collector
//! drains every ring on its own schedule, so the last events of a worker
//! that parks right after them (the ones that explain a stall) are
//! collected too; batching per thread and handing the batch over would keep
//! them until that thread ran again. A ring whose thread ended is drained
//! and let go.
//!
//! A burst fills a ring long before the collector's next round (a traced
//! chain makes some twenty events per task, and a worker can push eight
//! million a second), so a push that finds its ring half full wakes the
//! collector at once, one wake per half ring; an idle program pushes
//! nothing and wakes nobody. The collector then moves what the rings hold
//! to its own backlog before it names and sends any of it. A ring is
//! 16 384 events (under 1 MiB) per thread that produces while recording:
//! with 4 096, the benchmark's traced chain (W4) lost 80 000 to 215 000 of
//! its 230 000 events while recorded, on a 2-core machine whose collector
//! waits milliseconds for a core. With 16 384 it still lost 15 000 to
//! 50 000, all in full rings: so a ring that is full when a push comes is
//! replaced by one twice its size (up to [`MOST_RING`], 4 MiB), the event
//! goes in the new one, and the collector drains the old one before it
//! lets it go. Only the threads that overflow grow, and only that often:
//! two allocations at most per thread, off the path of every other push.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use crate::site::FnInfo;
use crate::{ResourceId, ResourceKind, TaskId, TaskKind};
use async_inspect_model::event::EndHow;

/// Events one thread can have waiting for the collector at first.
pub(crate) const RING: usize = 16_384;

/// The most a thread's ring grows to (see the module).
pub(crate) const MOST_RING: usize = 4 * RING;

/// Whether anyone records ([`OFF`], [`LONG_POLLS`] or [`ALL_POLLS`]): the
/// one load the hot path pays when nobody does.
static RECORDING: CachePadded<AtomicU8> = CachePadded::new(AtomicU8::new(OFF));

/// Nobody records.
pub(crate) const OFF: u8 = 0;
/// Recording, polls only when they last a clock tick or more.
pub(crate) const LONG_POLLS: u8 = 1;
/// Recording every poll with precise times.
pub(crate) const ALL_POLLS: u8 = 2;

/// Events dropped because a thread's ring was full.
pub(crate) static RING_DROPPED: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(0));

/// Rings made since the collector last looked.
pub(crate) static NEW_RINGS: Mutex<Vec<rtrb::Consumer<Raw>>> = Mutex::new(Vec::new());

thread_local! {
    static OWN: RefCell<Option<rtrb::Producer<Raw>>> = const { RefCell::new(None) };
}

/// Whether events are being recorded.
#[inline]
pub(crate) fn on() -> bool {
    level() != OFF
}

/// What is recorded: [`OFF`], [`LONG_POLLS`] or [`ALL_POLLS`].
#[inline]
pub(crate) fn level() -> u8 {
    RECORDING.load(Ordering::Relaxed)
}

pub(crate) fn set(level: u8) {
    RECORDING.store(level, Ordering::Relaxed);
}

/// The precise time for an event's stamp.
#[inline]
pub(crate) fn now() -> u64 {
    crate::clock::precise_now()
}

/// A spawned task as a recording names it (the task cell is one): read
/// by the collector, off the spawning thread.
pub(crate) trait SpawnedTask: Send + Sync + std::fmt::Debug {
    /// The task.
    fn id(&self) -> TaskId;
    /// The task that spawned it.
    fn parent(&self) -> Option<TaskId>;
    /// How it came to be inspected.
    fn kind(&self) -> TaskKind;
    /// Its name.
    fn name(&self) -> Cow<'static, str>;
}

/// A resource (a lock, a channel's end) as a recording names it.
pub(crate) trait NamedResource: Send + Sync + std::fmt::Debug {
    /// The resource.
    fn id(&self) -> ResourceId;
    /// What it is.
    fn kind(&self) -> ResourceKind;
    /// Its name, or where it was created.
    fn label(&self) -> String;
    /// Where it was created.
    fn created_at(&self) -> &'static std::panic::Location<'static>;
}

/// An event as produced: it still points at what it names; the collector
/// turns it into an [`Event`](super::Event).
#[derive(Debug)]
pub(crate) enum Raw {
    Spawn {
        cell: Arc<dyn SpawnedTask>,
        at: u64,
    },
    End {
        task: u64,
        how: EndHow,
        at: u64,
    },
    Poll {
        task: u64,
        start: u64,
        end: u64,
    },
    Enter {
        task: u64,
        frame: u32,
        parent: u32,
        info: &'static FnInfo,
        args: Option<Arc<str>>,
        at: u64,
    },
    Exit {
        task: u64,
        frame: u32,
        at: u64,
    },
    AwaitStart {
        task: u64,
        frame: u32,
        index: u16,
        at: u64,
    },
    AwaitEnd {
        task: u64,
        frame: u32,
        index: u16,
        at: u64,
    },
    Wait {
        task: u64,
        resource: Arc<dyn NamedResource>,
        at: u64,
    },
    WaitEnd {
        task: u64,
        resource: u64,
        at: u64,
    },
    Acquire {
        task: u64,
        resource: Arc<dyn NamedResource>,
        at: u64,
    },
    Release {
        task: u64,
        resource: u64,
        at: u64,
    },
    Point {
        task: u64,
        label: Cow<'static, str>,
        value: Option<Arc<str>>,
        at: u64,
    },
    Wake {
        task: u64,
        by: u64,
        at: u64,
    },
}

// Each thread that produces while recording has a ring: 1 MiB at first,
// at most 4 MiB.
const _: () = assert!(RING * std::mem::size_of::<Raw>() <= 1 << 20);
const _: () = assert!(MOST_RING * std::mem::size_of::<Raw>() <= 4 << 20);

/// A new ring of `capacity` events, its reading end handed to the
/// collector.
fn new_ring(capacity: usize) -> rtrb::Producer<Raw> {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    NEW_RINGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(consumer);
    producer
}

/// Pushes `event` into this thread's ring (growing a full one: see the
/// module), or counts it dropped.
#[cold]
pub(crate) fn emit(event: Raw) {
    let pushed = OWN.try_with(|own| {
        // Never re-entered: nothing below produces events.
        let Ok(mut own) = own.try_borrow_mut() else {
            return false;
        };
        let ring = own.get_or_insert_with(|| new_ring(RING));
        let capacity = ring.buffer().capacity();
        let event = match ring.push(event) {
            Ok(()) => None,
            Err(rtrb::PushError::Full(event)) => Some(event),
        };
        if let Some(event) = event {
            if capacity >= MOST_RING {
                return false;
            }
            // The old ring's writing end goes: the collector drains what
            // it holds, then lets it go. It was full: the collector is
            // woken now, as it was at half.
            *ring = new_ring(capacity * 2);
            super::collector::wake();
            return ring.push(event).is_ok();
        }
        // The collector's position is read only when the copy the ring
        // keeps of it says the ring is half full (the copy lags: the ring
        // may have been drained since).
        let half = capacity / 2;
        if ring.cached_slots() < half && ring.slots() < half {
            super::collector::wake();
        }
        true
    });
    if !matches!(pushed, Ok(true)) {
        RING_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}
