//! The hot side of recording: events as the instrumented code produces
//! them, pushed into a bounded buffer of the producing thread.
//!
//! Each thread that produces an event while recording gets a ring (a
//! bounded `sync_channel`, [`RING`] events) of its own the first time, and
//! hands its receiving end to the collector. A push never blocks and never
//! allocates: a full ring drops the event and counts it. The collector
//! drains every ring on its own schedule, so the last events of a worker
//! that parks right after them (the ones that explain a stall) are
//! collected too; batching per thread and handing the batch over would keep
//! them until that thread ran again. A ring whose thread ended is drained
//! and let go.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use super::event::EndHow;
use crate::resource::ResourceCell;
use crate::task::TaskCell;
use crate::trace::FnInfo;

/// Events one thread can have waiting for the collector before it drops.
pub(crate) const RING: usize = 4096;

/// Whether anyone records: the one load the hot path pays when not.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Events dropped because a thread's ring was full.
pub(crate) static RING_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Rings made since the collector last looked.
pub(crate) static NEW_RINGS: Mutex<Vec<Receiver<Raw>>> = Mutex::new(Vec::new());

thread_local! {
    static OWN: OnceCell<SyncSender<Raw>> = const { OnceCell::new() };
}

/// Whether events are being recorded.
#[inline]
pub(crate) fn on() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

pub(crate) fn set(recording: bool) {
    RECORDING.store(recording, Ordering::Relaxed);
}

/// The precise time for an event's stamp.
#[inline]
pub(crate) fn now() -> u64 {
    crate::clock::precise_now()
}

/// An event as produced: it still points at what it names; the collector
/// turns it into an [`Event`](super::Event).
#[derive(Debug)]
pub(crate) enum Raw {
    Spawn {
        cell: Arc<TaskCell>,
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
        resource: Arc<ResourceCell>,
        at: u64,
    },
    WaitEnd {
        task: u64,
        resource: u64,
        at: u64,
    },
    Acquire {
        task: u64,
        resource: Arc<ResourceCell>,
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
}

/// Pushes `event` into this thread's ring, or counts it dropped.
#[cold]
pub(crate) fn emit(event: Raw) {
    let pushed = OWN.try_with(|own| {
        let ring = own.get_or_init(|| {
            let (tx, rx) = sync_channel(RING);
            NEW_RINGS.lock().unwrap_or_else(|e| e.into_inner()).push(rx);
            tx
        });
        match ring.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    });
    if !matches!(pushed, Ok(true)) {
        RING_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}
