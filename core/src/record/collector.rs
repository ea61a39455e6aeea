//! The collector: drains every thread's ring on a plain OS thread
//! (`async-inspect-collector`), names what the events point at, and hands
//! each [`Recorder`](super::Recorder) its batch over a bounded channel. A
//! recorder that does not keep up loses batches, counted in the next one it
//! gets; the program is never held up.
//!
//! Draining comes first and is quick (the events move to the collector's
//! own backlog); naming and sending go a chunk at a time, with the rings
//! drained again between two chunks, so that a burst waits in the backlog
//! rather than overflowing the rings while the collector names what came
//! before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::ring::{self, NEW_RINGS, NamedResource, RING_DROPPED, Raw};
use crate::id_hash::ById;
use crate::site::FnInfo;
use async_inspect_model::event::{Batch, Event, FnSite, Polls, ResourceSite};

/// How often the collector drains the rings.
pub(crate) const INTERVAL: Duration = Duration::from_millis(10);

/// How many resources the collector names before it forgets them all (at
/// the start of a round, so that a round's batch names what it uses).
const RESOURCES_NAMED: usize = 1 << 16;

/// Every event lost so far, in rings or at recorders.
pub(crate) static EVENTS_DROPPED: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(0));

pub(crate) struct Subscriber {
    pub(crate) id: u64,
    pub(crate) tx: SyncSender<Batch>,
    /// Events sent and not yet received: at most [`BACKLOG`](super::BACKLOG).
    pub(crate) pending: Arc<AtomicU64>,
    pub(crate) polls: Polls,
    /// Sites and resources it has been given: a prefix of the collector's.
    known_sites: usize,
    known_resources: usize,
    /// Events it lost since its last batch.
    dropped: u64,
}

impl Subscriber {
    pub(crate) fn new(
        id: u64,
        tx: SyncSender<Batch>,
        pending: Arc<AtomicU64>,
        polls: Polls,
    ) -> Self {
        Self {
            id,
            tx,
            pending,
            polls,
            known_sites: 0,
            known_resources: 0,
            dropped: 0,
        }
    }
}

#[derive(Default)]
pub(crate) struct Collector {
    rings: Vec<rtrb::Consumer<Raw>>,
    /// Drained and not yet handed out, oldest first.
    pending: std::collections::VecDeque<Raw>,
    sites: Vec<FnSite>,
    site_ids: HashMap<usize, u32, ById>,
    resources: Vec<ResourceSite>,
    resource_ids: HashMap<u64, usize, ById>,
    pub(crate) subscribers: Vec<Subscriber>,
    ring_dropped_seen: u64,
    /// A chunk's order by time, as starts and indices (see
    /// [`sort_by_start`]): kept from chunk to chunk.
    order: Vec<(u64, u32)>,
}

static COLLECTOR: Mutex<Option<Collector>> = Mutex::new(None);

pub(crate) fn lock() -> MutexGuard<'static, Option<Collector>> {
    COLLECTOR.lock().unwrap_or_else(|e| e.into_inner())
}

/// The collector thread, to wake when a recorder starts or a ring fills.
static THREAD: OnceLock<Option<std::thread::Thread>> = OnceLock::new();

/// Whether a ring asked the collector for a round since its last one:
/// the threads filling their rings wake it once between two rounds.
static WAKE_ASKED: CachePadded<AtomicBool> = CachePadded::new(AtomicBool::new(false));

/// A thread's ring is half full: the collector runs a round now rather
/// than at its next tick (once, however many pushes ask before it does).
pub(crate) fn wake() {
    if WAKE_ASKED.load(Ordering::Relaxed) || WAKE_ASKED.swap(true, Ordering::AcqRel) {
        return;
    }
    #[cfg(test)]
    tests::WAKES.fetch_add(1, Ordering::Relaxed);
    if let Some(Some(thread)) = THREAD.get() {
        thread.unpark();
    }
}

/// Starts the collector thread, once, or wakes it. It drains every
/// [`INTERVAL`] while someone records and parks while nobody does, so a
/// recording that ended leaves no thread waking.
pub(crate) fn start() {
    let thread = THREAD.get_or_init(|| {
        // Without the thread, recorders still get batches from `flush`.
        std::thread::Builder::new()
            .name("async-inspect-collector".into())
            .spawn(|| {
                loop {
                    // A full ring's wake ends the wait early (and so may a
                    // spurious one: a round too many costs nothing).
                    std::thread::park_timeout(INTERVAL);
                    WAKE_ASKED.store(false, Ordering::Release);
                    collect();
                    // A recorder starting after this check unparks: the
                    // park then returns at once.
                    while lock().as_ref().is_none_or(|c| c.subscribers.is_empty()) {
                        std::thread::park();
                    }
                }
            })
            .ok()
            .map(|handle| handle.thread().clone())
    });
    if let Some(thread) = thread {
        thread.unpark();
    }
}

/// Events drained from the rings and not yet handed out, at most: a
/// burst waits here (about 15 MiB) rather than being dropped from full
/// rings while the collector names and sends what it drained before.
const PENDING_MOST: usize = super::BACKLOG as usize;

/// Events handed out at a time; the rings are drained again between two
/// chunks, and the collector's lock let go.
const CHUNK: usize = 8_192;

/// Event buffers that recorders gave back once they had written their
/// batches ([`recycle`]), for the next chunks: at most [`SPARE_BUFFERS`].
/// A chunk's buffer is up to half a megabyte of fresh memory, which the
/// kernel zeroes a page at a time (in a recorded W4, a quarter of the
/// page faults the recording added); a buffer that came back is filled
/// again instead.
static SPARE_BUFFERS_KEPT: Mutex<Vec<Vec<Event>>> = Mutex::new(Vec::new());

/// Buffers kept for reuse, at most: a few chunks' worth in flight.
const SPARE_BUFFERS: usize = 4;

/// The fewest events a buffer kept for reuse holds (smaller ones come from
/// memory the allocator reuses anyway).
const SPARE_LEAST: usize = 1_024;

/// Hands `events`, whose batch was written, back for the collector's next
/// chunks (emptied here).
pub(crate) fn recycle(mut events: Vec<Event>) {
    // Not a small one (no fresh pages to save) nor a huge one.
    if events.capacity() < SPARE_LEAST || events.capacity() > 2 * CHUNK {
        return;
    }
    events.clear();
    let mut spare = SPARE_BUFFERS_KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if spare.len() < SPARE_BUFFERS {
        spare.push(events);
    }
}

/// An empty buffer for a chunk of `events`: a recycled one, or a new one
/// of that size.
fn chunk_buffer(events: usize) -> Vec<Event> {
    let spare = SPARE_BUFFERS_KEPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop();
    match spare {
        Some(mut buffer) => {
            buffer.reserve(events);
            buffer
        }
        None => Vec::with_capacity(events),
    }
}

/// Sorts `events` by [`Event::start`], keeping the order of events that
/// start at the same time (as a stable sort would), through `order`: the
/// pairs of start and index are sorted, and the events moved into place
/// along the cycles of that permutation. A stable sort of the events
/// themselves allocated a scratch buffer half the chunk's size each time
/// (fresh pages, zeroed by the kernel); sorting indices by a key read
/// through them sent the sort to an event (some 60 bytes away from the
/// last) at every comparison, 20% of the collector's time in a recording
/// of W4: the keys are read once, in order, and sorted where they lie.
fn sort_by_start(events: &mut [Event], order: &mut Vec<(u64, u32)>) {
    let count = u32::try_from(events.len()).expect("a chunk holds far fewer than 2³² events");
    order.clear();
    order.extend(events.iter().zip(0..count).map(|(e, i)| (e.start(), i)));
    // Unique keys (the index breaks ties), so an unstable sort is stable.
    order.sort_unstable();
    // `events[k]` is to become what is at `order[k]` now. Each cycle of
    // the permutation carries the event first in it along by swaps; a
    // done slot is marked `u32::MAX`.
    for start in 0..events.len() {
        if order[start].1 == u32::MAX {
            continue;
        }
        let mut at = start;
        loop {
            let from = order[at].1 as usize;
            order[at].1 = u32::MAX;
            if from == start {
                break;
            }
            events.swap(at, from);
            at = from;
        }
    }
}

/// The most chunks one call hands out: every event pending when it began,
/// and a few drained meanwhile (a program producing faster than the
/// collector names would otherwise keep it from ever returning).
const MOST_CHUNKS: usize = PENDING_MOST / CHUNK + 4;

/// Drains the rings and hands the events out (or drops them when nobody
/// records any more), a chunk at a time: the lock is let go between two,
/// so that a snapshot or a recorder starting waits for one chunk at most.
pub(crate) fn collect() {
    for _ in 0..MOST_CHUNKS {
        let mut guard = lock();
        let collector = guard.get_or_insert_with(Collector::default);
        let more = collector.collect_chunk();
        collector.set_level();
        if !more {
            return;
        }
    }
}

impl Collector {
    /// Records as much as the most demanding recorder asks, or nothing.
    pub(crate) fn set_level(&self) {
        let level = self.subscribers.iter().map(|s| match s.polls {
            Polls::Long => ring::LONG_POLLS,
            Polls::All => ring::ALL_POLLS,
        });
        ring::set(level.max().unwrap_or(ring::OFF));
    }

    pub(crate) fn ring_dropped_seen(&self) -> u64 {
        self.ring_dropped_seen
    }

    /// Drains the rings and hands out everything drained, under the lock
    /// the caller holds.
    pub(crate) fn collect_once(&mut self) {
        for _ in 0..MOST_CHUNKS {
            if !self.collect_chunk() {
                return;
            }
        }
    }

    /// Moves what the rings hold to the pending events (as much as fits).
    fn drain(&mut self) {
        self.rings
            .append(&mut NEW_RINGS.lock().unwrap_or_else(|e| e.into_inner()));
        let pending = &mut self.pending;
        self.rings.retain_mut(|ring| {
            // Read before draining: a thread that ended has pushed its last.
            let abandoned = ring.is_abandoned();
            let room = PENDING_MOST.saturating_sub(pending.len());
            let take = ring.slots().min(room);
            if let Ok(chunk) = ring.read_chunk(take) {
                pending.extend(chunk);
            }
            !abandoned || !ring.is_empty()
        });
    }

    /// Drains the rings and hands out one chunk of the pending events;
    /// whether any are left.
    fn collect_chunk(&mut self) -> bool {
        if self.resources.len() >= RESOURCES_NAMED {
            self.forget_resources();
        }
        self.drain();
        let ring_dropped = RING_DROPPED.load(Ordering::Relaxed);
        let lost = ring_dropped - self.ring_dropped_seen;
        self.ring_dropped_seen = ring_dropped;
        EVENTS_DROPPED.fetch_add(lost, Ordering::Relaxed);
        if self.subscribers.is_empty() {
            self.pending.clear();
            return false;
        }
        // Named straight out of the backlog (taken out of `self` meanwhile:
        // naming needs the rest of it), not copied to a chunk first.
        let mut pending = std::mem::take(&mut self.pending);
        let take = pending.len().min(CHUNK);
        let mut events = chunk_buffer(take);
        events.extend(pending.drain(..take).map(|raw| self.name(raw)));
        self.pending = pending;
        self.hand_out(events, lost);
        !self.pending.is_empty()
    }

    /// Sends `events` to every recorder, with the events lost since the
    /// last chunk.
    fn hand_out(&mut self, mut events: Vec<Event>, lost: u64) {
        sort_by_start(&mut events, &mut self.order);
        let count = self.subscribers.len();
        for i in 0..count {
            let subscriber = &mut self.subscribers[i];
            subscriber.dropped += lost;
            let mut events = if i + 1 == count {
                std::mem::take(&mut events)
            } else {
                events.clone()
            };
            // Wakes are for the recorders of every poll (as many as polls).
            if matches!(subscriber.polls, Polls::Long) && ring::level() == ring::ALL_POLLS {
                events.retain(|e| !matches!(e, Event::Wake { .. }));
            }
            let batch = Batch {
                sites: self.sites[subscriber.known_sites..].to_vec(),
                resources: self.resources[subscriber.known_resources..].to_vec(),
                dropped: subscriber.dropped,
                events,
            };
            if batch.is_empty() {
                continue;
            }
            let sent = batch.events.len() as u64;
            // Counted before sending: the recorder subtracts what it takes.
            let pending = subscriber.pending.fetch_add(sent, Ordering::Relaxed);
            let sent_now = if pending + sent > super::BACKLOG && sent > 0 {
                Err(TrySendError::Full(batch))
            } else {
                subscriber.tx.try_send(batch)
            };
            if sent_now.is_err() {
                subscriber.pending.fetch_sub(sent, Ordering::Relaxed);
            }
            match sent_now {
                Ok(()) => {
                    subscriber.known_sites = self.sites.len();
                    subscriber.known_resources = self.resources.len();
                    subscriber.dropped = 0;
                }
                Err(TrySendError::Full(_)) => {
                    subscriber.dropped += sent;
                    EVENTS_DROPPED.fetch_add(sent, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => subscriber.id = 0,
            }
        }
        self.subscribers.retain(|s| s.id != 0);
    }

    /// Turns a raw event into one that names things by id, naming each
    /// site and resource the first time it is seen.
    fn name(&mut self, raw: Raw) -> Event {
        match raw {
            Raw::Spawn { cell, at } => Event::Spawn {
                task: cell.id().as_u64(),
                parent: cell.parent().map_or(0, |p| p.as_u64()),
                kind: cell.kind(),
                name: cell.name().into_owned(),
                at,
            },
            Raw::End { task, how, at } => Event::End { task, how, at },
            Raw::Poll { task, start, end } => Event::Poll { task, start, end },
            Raw::Enter {
                task,
                frame,
                parent,
                info,
                args,
                at,
            } => Event::Enter {
                task,
                frame,
                parent,
                site: self.site(info),
                args: args.map(|a| a.to_string()),
                at,
            },
            Raw::Exit { task, frame, at } => Event::Exit { task, frame, at },
            Raw::AwaitStart {
                task,
                frame,
                index,
                at,
            } => Event::AwaitStart {
                task,
                frame,
                index,
                at,
            },
            Raw::AwaitEnd {
                task,
                frame,
                index,
                at,
            } => Event::AwaitEnd {
                task,
                frame,
                index,
                at,
            },
            Raw::Wait { task, resource, at } => Event::Wait {
                task,
                resource: self.resource(&*resource),
                at,
            },
            Raw::WaitEnd { task, resource, at } => Event::WaitEnd { task, resource, at },
            Raw::Acquire { task, resource, at } => Event::Acquire {
                task,
                resource: self.resource(&*resource),
                at,
            },
            Raw::Release { task, resource, at } => Event::Release { task, resource, at },
            Raw::Point {
                task,
                label,
                value,
                at,
            } => Event::Point {
                task,
                label: label.into_owned(),
                value: value.map(|v| v.to_string()),
                at,
            },
            Raw::Wake { task, by, at } => Event::Wake { task, by, at },
        }
    }

    fn site(&mut self, info: &'static FnInfo) -> u32 {
        let key = info as *const FnInfo as usize;
        if let Some(&id) = self.site_ids.get(&key) {
            return id;
        }
        let id = self.sites.len() as u32;
        self.sites.push(FnSite {
            id,
            function: info.name.to_owned(),
            module_path: info.module_path.to_owned(),
            file: info.file.to_owned(),
            line: info.line,
            awaits: info
                .awaits
                .iter()
                .map(|a| (a.expr.to_owned(), a.line))
                .collect(),
        });
        self.site_ids.insert(key, id);
        id
    }

    /// Forgets every resource named so far (each recorder has been sent
    /// them, or lost the events that named them): those used again are
    /// named again. A recording that lives for days through a lock per
    /// connection keeps this table bounded.
    fn forget_resources(&mut self) {
        self.resources.clear();
        self.resource_ids.clear();
        for subscriber in &mut self.subscribers {
            subscriber.known_resources = 0;
        }
    }

    fn resource(&mut self, cell: &dyn NamedResource) -> u64 {
        let id = cell.id().as_u64();
        if !self.resource_ids.contains_key(&id) {
            let at = cell.created_at();
            self.resource_ids.insert(id, self.resources.len());
            self.resources.push(ResourceSite {
                id,
                kind: cell.kind(),
                label: cell.label(),
                created_at: format!("{}:{}:{}", at.file(), at.line(), at.column()),
            });
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Polls, Recorder, emit};

    /// Wakes [`wake`] sent.
    pub(super) static WAKES: AtomicU64 = AtomicU64::new(0);

    #[test]
    fn sorting_a_chunk_by_start_keeps_the_order_of_ties_as_a_stable_sort() {
        // Starts from a small range, so that many tie; the task is the
        // event's place before sorting.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut order = Vec::new();
        for len in [0, 1, 2, 3, 17, 1_000, CHUNK] {
            let events: Vec<Event> = (0..len as u64)
                .map(|task| {
                    let start = next() % 50;
                    Event::Poll {
                        task,
                        start,
                        end: start + 1,
                    }
                })
                .collect();
            let mut stable = events.clone();
            stable.sort_by_key(Event::start);
            let mut sorted = events;
            sort_by_start(&mut sorted, &mut order);
            assert_eq!(sorted, stable, "{len} events");
        }
    }

    #[test]
    fn a_recycled_buffer_comes_back_empty_for_the_next_chunk() {
        let _serial = crate::record::serial();
        // Whatever spares there are go first.
        let before: Vec<Vec<Event>> = (0..SPARE_BUFFERS).map(|_| chunk_buffer(0)).collect();
        let mut events = Vec::with_capacity(CHUNK);
        events.push(Event::Poll {
            task: 1,
            start: 1,
            end: 2,
        });
        let address = events.as_ptr();
        recycle(events);
        let again = chunk_buffer(CHUNK);
        assert_eq!(again.as_ptr(), address, "the same memory");
        assert!(again.is_empty() && again.capacity() >= CHUNK);
        // A buffer too small to be worth keeping is let go.
        let kept = || SPARE_BUFFERS_KEPT.lock().unwrap().len();
        let spares = kept();
        recycle(Vec::with_capacity(8));
        assert_eq!(kept(), spares);
        recycle(again);
        assert_eq!(kept(), spares + 1);
        drop(before);
    }

    #[test]
    fn a_ring_past_half_full_wakes_the_collector() {
        let _serial = crate::record::serial();
        let recorder = Recorder::start_with(Polls::All);
        // A wake an earlier burst asked for is answered at the collector's
        // next round.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while WAKE_ASKED.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "never answered");
            std::thread::sleep(Duration::from_millis(1));
        }
        let task = u64::MAX - 6;
        let poll = move |at| Raw::Poll {
            task,
            start: at,
            end: at,
        };
        // On a thread of its own, whose ring starts empty; the collector
        // cannot drain it meanwhile.
        let (at_half, past_half) = std::thread::spawn(move || {
            let _held = lock();
            let before = WAKES.load(Ordering::Relaxed);
            for at in 0..ring::RING as u64 / 2 {
                emit(poll(at));
            }
            let at_half = WAKES.load(Ordering::Relaxed) - before;
            emit(poll(ring::RING as u64 / 2));
            (at_half, WAKES.load(Ordering::Relaxed) - before)
        })
        .join()
        .unwrap();
        assert_eq!((at_half, past_half), (0, 1));
        // And nothing was lost.
        let got = recorder
            .flush()
            .iter()
            .flat_map(|b| &b.events)
            .filter(|e| e.task() == task)
            .count();
        assert_eq!(got, ring::RING / 2 + 1);
    }
    use async_inspect_model::resource::{ResourceId, ResourceKind};

    #[derive(Debug)]
    struct Lock(u64);

    impl NamedResource for Lock {
        fn id(&self) -> ResourceId {
            ResourceId::from_u64(self.0)
        }
        fn kind(&self) -> ResourceKind {
            ResourceKind::Mutex
        }
        fn label(&self) -> String {
            format!("lock {}", self.0)
        }
        fn created_at(&self) -> &'static std::panic::Location<'static> {
            std::panic::Location::caller()
        }
    }

    fn acquire(id: u64) {
        emit(Raw::Acquire {
            task: u64::MAX - 4,
            resource: Arc::new(Lock(id)),
            at: 1,
        });
    }

    #[test]
    fn a_flush_hands_out_a_chunk_at_a_time_and_keeps_every_event() {
        let _serial = crate::record::serial();
        let recorder = Recorder::start_with(Polls::All);
        let task = u64::MAX - 5;
        let count = CHUNK + 10;
        for at in 0..count as u64 {
            emit(Raw::Poll {
                task,
                start: at,
                end: at,
            });
        }
        let batches = recorder.flush();
        assert!(batches.len() >= 2, "{} batches", batches.len());
        assert!(batches.iter().all(|b| b.events.len() <= CHUNK));
        let starts: Vec<u64> = batches
            .iter()
            .flat_map(|b| &b.events)
            .filter(|e| e.task() == task)
            .map(Event::start)
            .collect();
        assert_eq!(starts, (0..count as u64).collect::<Vec<_>>());
    }

    #[test]
    fn the_named_resources_stay_bounded_and_what_a_batch_uses_is_named() {
        let _serial = crate::record::serial();
        let recorder = Recorder::start_with(Polls::All);
        // Far more distinct locks than the collector names, a ring's
        // worth a round; then the first lock again.
        let first = 1 << 40;
        let rounds = 3 * RESOURCES_NAMED / ring::RING;
        let mut named = std::collections::HashSet::new();
        for round in 0..rounds {
            for i in 0..ring::RING / 2 {
                acquire(first + (round * ring::RING + i) as u64);
            }
            for batch in recorder.flush() {
                named.extend(batch.resources.iter().map(|r| r.id));
            }
            let table = lock().as_ref().map_or(0, |c| c.resources.len());
            // Bounded by the table and one round of new names (other
            // tests' included).
            assert!(table < RESOURCES_NAMED + 2 * ring::RING, "{table}");
        }
        acquire(first);
        let again: Vec<Batch> = recorder.flush();
        let used: Vec<u64> = again
            .iter()
            .flat_map(|b| &b.events)
            .filter_map(Event::resource)
            .collect();
        assert!(used.contains(&first));
        // Every lock a kept event uses was named to this recorder, the
        // first one twice (it was forgotten between).
        assert!(named.contains(&first));
        assert!(
            again
                .iter()
                .flat_map(|b| &b.resources)
                .any(|r| r.id == first)
        );
    }
}
