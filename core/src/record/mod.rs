//! Recording: every poll, traced call, await, lock event and inspect point,
//! with precise times, while someone listens.
//!
//! Nothing is produced while nobody records: the hot path pays one relaxed
//! load. A [`Recorder`] switches recording on for as long as it lives. The
//! instrumented code then pushes [`Event`]s into a bounded ring of the
//! producing thread (never blocking, never allocating; full means dropped
//! and counted), a collector thread drains the rings every
//! `INTERVAL` (10 ms) and hands each recorder a [`Batch`]
//! over a bounded channel (a recorder that falls behind loses batches, and
//! is told how many events in the next one it gets). The agent streams
//! batches to `async-inspect record`; trace files store them.
//!
//! ```
//! use async_inspect_core::record::{Event, Polls, Recorder};
//! use async_inspect_core::{Inspected, TaskKind};
//!
//! let recorder = Recorder::start_with(Polls::All);
//! let task = Inspected::new(async { 7 }, TaskKind::Spawned, Some("seven".into()));
//! let id = task.id().unwrap().as_u64();
//! futures::executor::block_on(task);
//! let events: Vec<Event> = recorder.flush().into_iter().flat_map(|b| b.events).collect();
//! assert!(events.iter().any(|e| matches!(e, Event::Poll { task, .. } if *task == id)));
//! ```

mod collector;
pub(crate) mod ring;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Duration;

pub use async_inspect_model::event::{
    Batch, EndHow, Event, FnSite, Polls, ResourceSite, Span, SpanKind, spans,
};
pub(crate) use ring::{ALL_POLLS, NamedResource, Raw, SpawnedTask, emit, level, now, on};

/// Batches a recorder can have waiting before newer ones are dropped: a
/// few seconds' worth at the collector's pace.
pub const QUEUE: usize = 256;

/// Events a recorder can have waiting before newer batches are dropped
/// (about 15 MiB): the bound that holds when the program produces far
/// more than a slow reader takes, whatever the batches' sizes.
pub const BACKLOG: u64 = 1 << 18;

/// Whether anything is being recorded: some [`Recorder`] lives.
///
/// ```
/// use async_inspect_core::record::{Recorder, recording};
///
/// let recorder = Recorder::start();
/// assert!(recording());
/// # drop(recorder);
/// ```
pub fn recording() -> bool {
    on()
}

/// Every event lost so far, in full thread rings or at recorders that did
/// not keep up.
pub fn events_dropped() -> u64 {
    collector::EVENTS_DROPPED.load(Ordering::Relaxed) + ring_dropped_unseen()
}

fn ring_dropped_unseen() -> u64 {
    // Drops the collector has not folded in yet.
    let seen = collector::lock()
        .as_ref()
        .map_or(0, |c| c.ring_dropped_seen());
    ring::RING_DROPPED
        .load(Ordering::Relaxed)
        .saturating_sub(seen)
}

/// Hands the events of `batch`, written and done with, back to the
/// collector, which fills its next batches in the same memory rather than
/// in fresh pages. Optional: a batch dropped instead costs only that.
///
/// ```
/// use async_inspect_core::record::{Recorder, recycle};
///
/// let recorder = Recorder::start();
/// for batch in recorder.flush() {
///     // … write the batch somewhere …
///     recycle(batch);
/// }
/// ```
pub fn recycle(batch: Batch) {
    collector::recycle(batch.events);
}

/// Receives the program's events for as long as it lives. Recording is on
/// while at least one recorder lives.
#[derive(Debug)]
pub struct Recorder {
    id: u64,
    rx: Receiver<Batch>,
    /// Events the collector sent and this recorder has not taken yet.
    pending: Arc<AtomicU64>,
}

impl Recorder {
    /// Starts recording, with the long polls only ([`Polls::Long`]): the
    /// recorder gets what happens from now on.
    pub fn start() -> Self {
        Self::start_with(Polls::Long)
    }

    /// Starts recording the `polls` asked for, and every other event.
    pub fn start_with(polls: Polls) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        crate::config::init();
        // Stamps are read at every event from here on.
        crate::clock::calibrate_in_background();
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(QUEUE);
        let pending = Arc::new(AtomicU64::new(0));
        {
            let mut guard = collector::lock();
            let collector = guard.get_or_insert_with(Default::default);
            // What was produced before goes to the recorders of before.
            collector.collect_once();
            collector.subscribers.push(collector::Subscriber::new(
                id,
                tx,
                Arc::clone(&pending),
                polls,
            ));
            collector.set_level();
        }
        collector::start();
        Self { id, rx, pending }
    }

    /// The next batch, waiting at most `timeout`; `None` if none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Batch> {
        let batch = self.rx.recv_timeout(timeout).ok()?;
        self.taken(&batch);
        Some(batch)
    }

    /// Collects what every thread has produced so far, and returns every
    /// batch waiting for this recorder: what happened up to this call.
    pub fn flush(&self) -> Vec<Batch> {
        collector::collect();
        let batches: Vec<Batch> = self.rx.try_iter().collect();
        batches.iter().for_each(|batch| self.taken(batch));
        batches
    }

    /// The batches waiting, without collecting first.
    #[cfg(test)]
    fn take_waiting(&self) -> Vec<Batch> {
        let batches: Vec<Batch> = self.rx.try_iter().collect();
        batches.iter().for_each(|batch| self.taken(batch));
        batches
    }

    fn taken(&self, batch: &Batch) {
        self.pending
            .fetch_sub(batch.events.len() as u64, Ordering::Relaxed);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let mut guard = collector::lock();
        if let Some(collector) = guard.as_mut() {
            collector.subscribers.retain(|s| s.id != self.id);
            collector.set_level();
        }
    }
}

/// Tests that count what their recorders get run one at a time: every
/// recorder gets every thread's events, another test's too.
#[cfg(test)]
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_event(task: u64) -> Raw {
        Raw::Poll {
            task,
            start: 1,
            end: 2,
        }
    }

    fn polls_of(batches: &[Batch], task: u64) -> usize {
        batches
            .iter()
            .flat_map(|b| &b.events)
            .filter(|e| e.task() == task)
            .count()
    }

    #[test]
    fn a_full_ring_grows_to_its_most_then_drops_and_counts_never_blocks() {
        let _serial = serial();
        let recorder = Recorder::start();
        let task = u64::MAX - 1;
        // A ring of RING, then of twice and four times that, none drained.
        let held_most = ring::RING + 2 * ring::RING + ring::MOST_RING;
        let dropped_before = events_dropped();
        {
            // The collector cannot drain while this is held.
            let _held = collector::lock();
            for _ in 0..held_most {
                emit(poll_event(task));
            }
        }
        let batches = recorder.flush();
        assert_eq!(polls_of(&batches, task), held_most, "none lost");
        assert_eq!(events_dropped(), dropped_before);

        let extra = 100;
        {
            let _held = collector::lock();
            // The thread's ring is at its most now.
            for _ in 0..ring::MOST_RING + extra {
                emit(poll_event(task));
            }
        }
        let batches = recorder.flush();
        assert_eq!(polls_of(&batches, task), ring::MOST_RING);
        let dropped: u64 = batches.iter().map(|b| b.dropped).sum();
        // Other tests' events may have been dropped in the same window.
        assert!(dropped >= extra as u64, "{dropped}");
        assert!(events_dropped() >= dropped_before + extra as u64);
    }

    #[test]
    fn a_recorder_that_falls_behind_loses_batches_and_is_told() {
        let _serial = serial();
        let slow = Recorder::start();
        let fast = Recorder::start();
        let task = u64::MAX - 2;
        let rounds = QUEUE + 10;
        for _ in 0..rounds {
            emit(poll_event(task));
            assert_eq!(polls_of(&fast.flush(), task), 1);
        }
        let kept = slow.take_waiting();
        assert!(kept.len() <= QUEUE);
        let got = polls_of(&kept, task);
        assert!(got < rounds, "{got}");
        emit(poll_event(task));
        let next = slow.flush();
        // Told in the first batch that got through after a loss: one kept
        // (a small batch fits where a large one did not) or the next.
        let told: u64 = kept.iter().chain(&next).map(|b| b.dropped).sum();
        assert!(
            told >= (rounds - got) as u64,
            "told {told}, lost {}",
            rounds - got
        );
        assert_eq!(polls_of(&next, task), 1);
    }

    #[test]
    fn a_recorder_never_has_more_than_its_backlog_waiting() {
        let _serial = serial();
        let slow = Recorder::start_with(Polls::All);
        let fast = Recorder::start_with(Polls::All);
        let task = u64::MAX - 3;
        // Batches of a full ring each, far fewer than QUEUE of them, and
        // far more events than the backlog.
        let rounds = BACKLOG as usize / ring::RING + 10;
        assert!(rounds < QUEUE);
        for _ in 0..rounds {
            for _ in 0..ring::RING {
                emit(poll_event(task));
            }
            fast.flush();
        }
        let waiting = slow.pending.load(Ordering::Relaxed);
        assert!(waiting <= BACKLOG, "{waiting} waiting");
        let kept = slow.take_waiting();
        let events: usize = kept.iter().map(|b| b.events.len()).sum();
        assert!(events as u64 <= BACKLOG, "{events} kept");
        let got = polls_of(&kept, task);
        assert!(got > 0 && got < rounds * ring::RING, "{got}");
        // Taking what waited made room, and the loss is told.
        emit(poll_event(task));
        let next = slow.flush();
        assert_eq!(polls_of(&next, task), 1);
        let told: u64 = kept.iter().chain(&next).map(|b| b.dropped).sum();
        assert!(told >= (rounds * ring::RING - got) as u64, "told {told}");
    }

    #[test]
    fn recording_is_on_while_a_recorder_lives() {
        let _serial = serial();
        let recorder = Recorder::start();
        assert!(on());
        drop(recorder);
        // Other tests may record at the same time; with none, it is off.
        // Both change under the collector's lock.
        let guard = collector::lock();
        let others = guard.as_ref().is_some_and(|c| !c.subscribers.is_empty());
        assert_eq!(on(), others);
    }
}
