use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use slab::Slab;

use super::graph::Locked;
use crate::task::TaskCell;
use crate::task::context;
use crate::{ResourceId, ResourceKind};
use crate::{clock, record};

static NEXT_RESOURCE: AtomicU64 = AtomicU64::new(1);

/// A new resource id, never issued before.
fn next_resource_id() -> ResourceId {
    ResourceId::from_u64(NEXT_RESOURCE.fetch_add(1, Ordering::Relaxed))
}

/// A task holding a resource in shared mode (an `RwLock` reader, a
/// `Semaphore` permit).
#[derive(Debug, Clone, Copy)]
struct SharedHolder {
    /// The [`Hold::key`] of the guard or permit.
    key: u64,
    task: u64,
    site: &'static Location<'static>,
    since: u64,
    permits: u32,
    moves: u64,
}

/// Marks an owned guard in a holder's `moves` word; the low bits are the
/// acquiring task's spawn count at the time (see [`Holding::movable`]).
const OWNED: u64 = 1 << 32;

/// The current task's id and the `moves` word of an owned guard it takes
/// now, if a task is current.
pub(crate) fn current_owner() -> Option<(u64, u64)> {
    context::with_task(|task, _| (task.id().as_u64(), OWNED | u64::from(task.spawned())))
}

/// A lock held by a task, from acquisition to release: the guard carries
/// it back to [`ResourceCell::released`].
#[derive(Debug, Default)]
pub struct Hold {
    /// The holding task's id, 0 if not a task.
    id: u64,
    /// Which shared holder this is (readers and permits), 0 if exclusive.
    key: u64,
    /// Where the lock-order check keeps the hold among the task's held
    /// locks (emptied on release, also from another task).
    ordered: super::order::Ordered,
}

impl Hold {
    /// The current task's hold of a resource, and its `moves` word for a
    /// guard that is `owned` or not.
    fn current(owned: bool) -> (Self, u64) {
        let moves = |task: &TaskCell| {
            if owned {
                OWNED | u64::from(task.spawned())
            } else {
                0
            }
        };
        let (id, moves) =
            context::with_task(|task, _| (task.id().as_u64(), moves(task))).unwrap_or((0, 0));
        let hold = Self {
            id,
            key: 0,
            ordered: super::order::Ordered::default(),
        };
        (hold, moves)
    }
}

/// The holders of a resource: one at most for a `Mutex`, without
/// allocating, or a list.
#[derive(Debug)]
pub(crate) enum Holders {
    One(Option<Holding>),
    Many(Vec<Holding>),
}

impl IntoIterator for Holders {
    type Item = Holding;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Holding>, std::vec::IntoIter<Holding>>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Self::One(one) => one.into_iter().chain(Vec::new()),
            Self::Many(many) => None.into_iter().chain(many),
        }
    }
}

/// Who holds a resource, as the graph and the report see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holding {
    pub(crate) task: u64,
    pub(crate) site: Option<&'static Location<'static>>,
    pub(crate) since: u64,
    /// Permits held, for a semaphore; 1 otherwise.
    pub(crate) permits: u32,
    moves: u64,
}

impl Holding {
    /// A holding that cannot move: the end of a joined task.
    pub(crate) fn pinned(task: u64) -> Self {
        Self {
            task,
            site: None,
            since: 0,
            permits: 1,
            moves: 0,
        }
    }

    /// For a guard taken owned (`lock_owned`, `acquire_owned`, …), which
    /// can move to another task without the inspector seeing it: the
    /// acquiring task's spawn count when it took it. The holding surely
    /// still belongs to that task only while the count is unchanged and
    /// the task does not wait for the same resource again.
    pub(crate) fn movable(&self) -> Option<u32> {
        (self.moves & OWNED != 0).then_some(self.moves as u32)
    }
}

/// The shared record of one inspected lock.
///
/// The exclusive holder (a `Mutex` owner, an `RwLock` writer) lives in
/// atomics, so the uncontended path takes no lock of ours; shared holders
/// (readers) are a short list under the resource's own guard.
#[derive(Debug)]
pub struct ResourceCell {
    /// Id of the task holding it, 0 if none or not held by a task.
    holder: AtomicU64,
    /// Where the holder acquired it.
    holder_site: AtomicPtr<Location<'static>>,
    holder_since: AtomicU64,
    /// Whether the holder's guard is owned (see [`Holding::movable`]).
    holder_moves: AtomicU64,
    /// Tasks waiting for it now.
    waiters: AtomicU32,
    /// Readers or permit holders, for kinds with a shared mode.
    shared: Mutex<Vec<SharedHolder>>,
    /// The last [`Hold::key`] given out.
    next_key: AtomicU64,
    /// Locks that were held when this one was taken (see `order`), at
    /// most [`TAKEN_AFTER_KEPT`] (then forgotten and learnt again).
    pub(super) taken_after: Mutex<Vec<ResourceId>>,
    /// Whether the lock order by lock has an edge from or to it (to be
    /// forgotten when it goes).
    ordered: std::sync::atomic::AtomicBool,
    stats: Stats,
    /// For a channel's end: what went through the channel.
    counts: Option<Arc<super::ChannelCounts>>,
    /// The wait-time histogram of its site (none past the table's size).
    site: Option<Arc<super::sites::SiteWaits>>,
    id: ResourceId,
    kind: ResourceKind,
    name: Option<Box<str>>,
    created_at: &'static Location<'static>,
    slot: usize,
}

static RESOURCES: Mutex<Slab<std::sync::Weak<ResourceCell>>> = Mutex::new(Slab::new());

impl ResourceCell {
    /// Registers a new resource created at `created_at`.
    pub fn new(
        kind: ResourceKind,
        name: Option<Box<str>>,
        created_at: &'static Location<'static>,
    ) -> Arc<Self> {
        Self::with_counts(kind, name, created_at, None)
    }

    /// Registers one end of a channel (`ChannelSenders`, `ChannelReceiver`)
    /// whose traffic `counts` follows.
    pub fn channel_end(
        kind: ResourceKind,
        name: Option<Box<str>>,
        created_at: &'static Location<'static>,
        counts: Arc<super::ChannelCounts>,
    ) -> Arc<Self> {
        Self::with_counts(kind, name, created_at, Some(counts))
    }

    fn with_counts(
        kind: ResourceKind,
        name: Option<Box<str>>,
        created_at: &'static Location<'static>,
        counts: Option<Arc<super::ChannelCounts>>,
    ) -> Arc<Self> {
        crate::config::init();
        let mut resources = RESOURCES.lock().unwrap_or_else(|e| e.into_inner());
        let entry = resources.vacant_entry();
        let cell = Arc::new(Self {
            holder: AtomicU64::new(0),
            holder_site: AtomicPtr::new(std::ptr::null_mut()),
            holder_since: AtomicU64::new(0),
            holder_moves: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            shared: Mutex::new(Vec::new()),
            next_key: AtomicU64::new(0),
            taken_after: Mutex::new(Vec::new()),
            ordered: std::sync::atomic::AtomicBool::new(false),
            stats: Stats::default(),
            site: super::sites::site(kind, name.as_deref(), created_at),
            counts,
            id: next_resource_id(),
            kind,
            name,
            created_at,
            slot: entry.key(),
        });
        entry.insert(Arc::downgrade(&cell));
        cell
    }

    /// Whether a wait for it would end now without any holder moving: a
    /// channel that has a message for a receiver, or room for a sender,
    /// whose waiting task was woken but not polled yet. Such a wait is in no
    /// deadlock.
    pub(crate) fn satisfied_now(&self) -> bool {
        match (&self.counts, self.kind) {
            (Some(counts), ResourceKind::ChannelSenders) => counts.has_message(),
            (Some(counts), ResourceKind::ChannelReceiver) => counts.has_room(),
            _ => false,
        }
    }

    /// How many messages went into the channel whose end this is (0 for
    /// a lock): what [`LockWait::begin_news`](super::LockWait::begin_news)
    /// compares with.
    pub fn sent_count(&self) -> u64 {
        self.counts.as_ref().map_or(0, |counts| counts.sent_count())
    }

    /// The resource's id.
    pub fn id(&self) -> ResourceId {
        self.id
    }

    /// Its kind.
    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    /// Its name, else where it was created, as the report writes it.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => format!(
                "{}:{}:{}",
                self.created_at.file(),
                self.created_at.line(),
                self.created_at.column()
            ),
        }
    }

    /// The task holding it exclusively, where it took it and since when.
    pub(crate) fn holder(&self) -> Option<Holding> {
        let task = self.holder.load(Ordering::Acquire);
        if task == 0 {
            return None;
        }
        let site = self.holder_site.load(Ordering::Relaxed);
        // SAFETY: only `&'static Location`s are stored in `holder_site`.
        let site = unsafe { site.as_ref() };
        let since = self.holder_since.load(Ordering::Relaxed);
        let moves = self.holder_moves.load(Ordering::Relaxed);
        Some(Holding {
            task,
            site,
            since,
            permits: 1,
            moves,
        })
    }

    /// Every task holding it: the exclusive holder, or the readers or
    /// permit holders. A `Mutex` has at most one and allocates nothing.
    pub(crate) fn holders(&self) -> Holders {
        if self.kind == ResourceKind::Mutex {
            return Holders::One(self.holder());
        }
        let mut holders: Vec<Holding> = self.holder().into_iter().collect();
        holders.extend(self.shared().iter().map(|h| Holding {
            task: h.task,
            site: Some(h.site),
            since: h.since,
            permits: h.permits,
            moves: h.moves,
        }));
        Holders::Many(holders)
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Vec<SharedHolder>> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the current task acquired `permits` of the resource in
    /// shared mode (a read lock, semaphore permits) at `site`, through an
    /// `owned` guard or not. The [`Hold`] goes back to
    /// [`ResourceCell::released_shared`].
    pub fn acquired_shared(
        self: &Arc<Self>,
        site: &'static Location<'static>,
        permits: u32,
        owned: bool,
    ) -> Hold {
        let (mut hold, moves) = Hold::current(owned);
        self.stats.acquisitions.fetch_add(1, Ordering::Relaxed);
        if record::on() {
            self.record_acquire(hold.id);
        }
        if hold.id != 0 {
            hold.key = self.next_key.fetch_add(1, Ordering::Relaxed) + 1;
            self.shared().push(SharedHolder {
                key: hold.key,
                task: hold.id,
                site,
                since: clock::now(),
                permits,
                moves,
            });
            if self.ordered() {
                hold.ordered = super::order::acquired(self, site);
            }
        }
        hold
    }

    /// Whether taking it is ordered against the other locks its task holds
    /// (locks, with lock order on).
    #[inline]
    fn ordered(&self) -> bool {
        self.kind.is_lock() && crate::config::lock_order()
    }

    /// Its key among a task's held locks.
    pub(crate) fn lock_key(&self) -> crate::task::held::LockKey {
        crate::task::held::LockKey::new(self.slot, self.id.as_u64())
    }

    /// Records that a reader or permit holder released it (or forgot its
    /// permits, which leaves them taken by no one).
    pub fn released_shared(&self, hold: Hold) {
        if hold.key == 0 {
            return;
        }
        if record::on() {
            self.record_release(hold.id);
        }
        let record = {
            let mut shared = self.shared();
            let position = shared.iter().position(|h| h.key == hold.key);
            position.map(|p| shared.swap_remove(p))
        };
        if let Some(record) = record {
            let held = clock::now().saturating_sub(record.since);
            if self.stats.longest(held) {
                self.stats.held(held, record.task, record.site);
            }
        }
        super::order::released(self, hold.id, hold.ordered);
    }

    /// Moves the permits of `from` into `into` (merged permits).
    pub fn merge_shared(&self, into: &Hold, mut from: Hold) {
        if into.key == 0 || from.key == 0 {
            return self.released_shared(from);
        }
        {
            let mut shared = self.shared();
            if let Some(position) = shared.iter().position(|h| h.key == from.key) {
                let merged = shared.swap_remove(position);
                if let Some(into) = shared.iter_mut().find(|h| h.key == into.key) {
                    into.permits = into.permits.saturating_add(merged.permits);
                }
            }
        }
        from.key = 0;
        super::order::released(self, from.id, from.ordered);
    }

    /// Splits `permits` off the holding `from` into a new one, held by the
    /// same task, taken at the same place and time.
    pub fn split_shared(self: &Arc<Self>, from: &Hold, permits: u32) -> Hold {
        let mut shared = self.shared();
        let Some(record) = shared
            .iter_mut()
            .find(|h| h.key == from.key && from.key != 0)
        else {
            return Hold::default();
        };
        record.permits = record.permits.saturating_sub(permits);
        let mut split = *record;
        split.key = self.next_key.fetch_add(1, Ordering::Relaxed) + 1;
        split.permits = permits;
        shared.push(split);
        drop(shared);
        let ordered = if from.ordered.is_kept() {
            super::order::acquired(self, split.site)
        } else {
            super::order::Ordered::default()
        };
        Hold {
            id: from.id,
            key: split.key,
            ordered,
        }
    }

    /// Records that the current task acquired the resource exclusively at
    /// `site`, through an `owned` guard or not. The [`Hold`] goes back to
    /// [`ResourceCell::released`].
    #[inline]
    pub fn acquired(self: &Arc<Self>, site: &'static Location<'static>, owned: bool) -> Hold {
        let (mut hold, moves) = Hold::current(owned);
        self.holder_site.store(
            site as *const Location<'static> as *mut _,
            Ordering::Relaxed,
        );
        self.holder_since.store(clock::now(), Ordering::Relaxed);
        self.holder_moves.store(moves, Ordering::Relaxed);
        // The holder is exclusive, so a load and a store count without a
        // read-modify-write; readers (shared mode) use `fetch_add`.
        let count = self.stats.acquisitions.load(Ordering::Relaxed);
        self.stats.acquisitions.store(count + 1, Ordering::Relaxed);
        // Release suffices: a task that holds this and waits for something
        // else records its wait under the graph lock after this store, and
        // the wait that closes a cycle walks under the same lock.
        self.holder.store(hold.id, Ordering::Release);
        if hold.id != 0 && self.ordered() {
            hold.ordered = super::order::acquired(self, site);
        }
        if record::on() {
            self.record_acquire(hold.id);
        }
        hold
    }

    /// Records that the holder released it.
    #[inline]
    pub fn released(&self, hold: Hold) {
        let held = clock::now().saturating_sub(self.holder_since.load(Ordering::Relaxed));
        if self.stats.longest(held) {
            let site = self.holder_site.load(Ordering::Relaxed);
            // SAFETY: only `&'static Location`s are stored in `holder_site`.
            if let Some(site) = unsafe { site.as_ref() } {
                self.stats.held(held, hold.id, site);
            }
        }
        self.holder.store(0, Ordering::Release);
        super::order::released(self, hold.id, hold.ordered);
        if record::on() {
            self.record_release(hold.id);
        }
    }

    #[cold]
    fn record_acquire(self: &Arc<Self>, task: u64) {
        record::emit(record::Raw::Acquire {
            task,
            resource: Arc::clone(self) as Arc<dyn record::NamedResource>,
            at: record::now(),
        });
    }

    #[cold]
    fn record_release(&self, task: u64) {
        record::emit(record::Raw::Release {
            task,
            resource: self.id.as_u64(),
            at: record::now(),
        });
    }

    /// Makes `task` the holder of the shared record `key` (a channel's
    /// sender, used by it now), adding the record if there is none yet;
    /// the record's key.
    pub(crate) fn set_shared_holder(
        &self,
        key: u64,
        task: u64,
        moves: u64,
        site: &'static Location<'static>,
    ) -> u64 {
        let mut shared = self.shared();
        if let Some(record) = shared.iter_mut().find(|h| h.key == key && key != 0) {
            record.task = task;
            record.moves = moves;
            return key;
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed) + 1;
        shared.push(SharedHolder {
            key,
            task,
            site,
            since: clock::now(),
            permits: 1,
            moves,
        });
        key
    }

    /// Removes the shared record `key`.
    pub(crate) fn remove_shared_holder(&self, key: u64) {
        let mut shared = self.shared();
        if let Some(position) = shared.iter().position(|h| h.key == key) {
            shared.swap_remove(position);
        }
    }

    /// Whether this lock is already known to be taken while holding `other`
    /// (remembered so that only a new pair takes the lock-order graph's lock).
    pub(crate) fn learn_taken_after(&self, other: ResourceId) -> bool {
        let mut after = self.taken_after.lock().unwrap_or_else(|e| e.into_inner());
        if after.contains(&other) {
            return false;
        }
        // A long-lived lock taken after many short-lived ones (a shared
        // lock under each connection's) would remember them all: the list
        // starts over instead, and the order graph drops repeats.
        if after.len() >= TAKEN_AFTER_KEPT {
            after.clear();
        }
        after.push(other);
        true
    }

    /// Notes that the lock order by lock has an edge from or to it.
    pub(crate) fn note_ordered(&self) {
        self.ordered.store(true, Ordering::Relaxed);
    }

    /// A task starts waiting for it. Waits begin and end under the
    /// wait-for graph's lock alone (`locked` says so), so its counts are
    /// written with loads and stores.
    pub(crate) fn wait_began(&self, locked: &Locked<'_>) {
        locked.add(&self.stats.contended, 1);
        let waiting = self.waiters.load(Ordering::Relaxed).wrapping_add(1);
        self.waiters.store(waiting, Ordering::Relaxed);
        if waiting > self.stats.queue_max.load(Ordering::Relaxed) {
            self.stats.queue_max.store(waiting, Ordering::Relaxed);
        }
    }

    /// A task stopped waiting for it, after `waited` nanoseconds (under
    /// the graph's lock, as [`ResourceCell::wait_began`]).
    pub(crate) fn wait_ended(&self, waited: u64, locked: &Locked<'_>) {
        let waiting = self.waiters.load(Ordering::Relaxed).wrapping_sub(1);
        self.waiters.store(waiting, Ordering::Relaxed);
        locked.add(&self.stats.wait_total, waited);
        if waited > self.stats.wait_max.load(Ordering::Relaxed) {
            self.stats.wait_max.store(waited, Ordering::Relaxed);
        }
        if let Some(site) = &self.site {
            site.record(waited, locked);
        }
    }
}

/// How a resource has been used.
#[derive(Debug, Default)]
struct Stats {
    acquisitions: AtomicU64,
    /// Acquisitions that had to wait.
    contended: AtomicU64,
    /// Nanoseconds spent waiting for it, summed, and the longest wait.
    wait_total: AtomicU64,
    wait_max: AtomicU64,
    /// The most tasks waiting at once.
    queue_max: AtomicU32,
    /// The longest anyone held it, in nanoseconds plus one (0 until a
    /// first release), who and from where (the three are written apart: a
    /// racing pair can mix, which a report tolerates).
    hold_max: AtomicU64,
    hold_max_task: AtomicU64,
    hold_max_site: AtomicPtr<Location<'static>>,
}

impl Stats {
    /// Whether a hold of `held` nanoseconds is the longest so far: one
    /// load, so that a release takes [`Stats::held`]'s writes only then.
    #[inline]
    fn longest(&self, held: u64) -> bool {
        held + 1 > self.hold_max.load(Ordering::Relaxed)
    }

    /// A holder let go after `held` nanoseconds.
    #[cold]
    fn held(&self, held: u64, task: u64, site: &'static Location<'static>) {
        if self.hold_max.fetch_max(held + 1, Ordering::Relaxed) < held + 1 {
            self.hold_max_task.store(task, Ordering::Relaxed);
            self.hold_max_site.store(
                site as *const Location<'static> as *mut _,
                Ordering::Relaxed,
            );
        }
    }
}

/// A resource's counters, as a snapshot reads them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) waiters: u32,
    pub(crate) acquisitions: u64,
    pub(crate) contended: u64,
    pub(crate) wait_total: u64,
    pub(crate) wait_max: u64,
    pub(crate) queue_max: u32,
    /// The longest hold so far: nanoseconds, task (0 if none), where taken.
    pub(crate) hold_max: Option<(u64, u64, &'static Location<'static>)>,
}

/// The live resource registered at `slot`, if it is the lock `key` names.
pub(crate) fn by_key(key: crate::task::held::LockKey) -> Option<Arc<ResourceCell>> {
    let resources = RESOURCES.lock().unwrap_or_else(|e| e.into_inner());
    let cell = resources.get(key.slot())?.upgrade()?;
    key.is(cell.id.as_u64()).then_some(cell)
}

/// Every live resource.
pub(crate) fn all() -> Vec<Arc<ResourceCell>> {
    let resources = RESOURCES.lock().unwrap_or_else(|e| e.into_inner());
    resources.iter().filter_map(|(_, r)| r.upgrade()).collect()
}

impl ResourceCell {
    /// Where it was created.
    pub(crate) fn created_at(&self) -> &'static Location<'static> {
        self.created_at
    }

    /// Its counters now.
    pub(crate) fn counters(&self) -> Counters {
        let stats = &self.stats;
        let site = stats.hold_max_site.load(Ordering::Relaxed);
        // SAFETY: only `&'static Location`s are stored in `hold_max_site`.
        let site = unsafe { site.as_ref() };
        Counters {
            waiters: self.waiters.load(Ordering::Relaxed),
            acquisitions: stats.acquisitions.load(Ordering::Relaxed),
            contended: stats.contended.load(Ordering::Relaxed),
            wait_total: stats.wait_total.load(Ordering::Relaxed),
            wait_max: stats.wait_max.load(Ordering::Relaxed),
            queue_max: stats.queue_max.load(Ordering::Relaxed),
            hold_max: site.map(|site| {
                let held = stats.hold_max.load(Ordering::Relaxed).saturating_sub(1);
                (held, stats.hold_max_task.load(Ordering::Relaxed), site)
            }),
        }
    }
}

impl Drop for ResourceCell {
    fn drop(&mut self) {
        RESOURCES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_remove(self.slot);
        if *self.ordered.get_mut() {
            super::order::forget(self.id);
        }
    }
}

/// How many locks a lock remembers being taken after (see
/// [`ResourceCell::learn_taken_after`]).
const TAKEN_AFTER_KEPT: usize = 256;

impl record::NamedResource for ResourceCell {
    fn id(&self) -> ResourceId {
        ResourceCell::id(self)
    }

    fn kind(&self) -> ResourceKind {
        ResourceCell::kind(self)
    }

    fn label(&self) -> String {
        ResourceCell::label(self)
    }

    fn created_at(&self) -> &'static Location<'static> {
        ResourceCell::created_at(self)
    }
}

impl crate::task::TaskResource for ResourceCell {
    fn holders(&self) -> Vec<async_inspect_model::LockHolder> {
        use async_inspect_model::{LockHolder, SourceLocation, TaskId};
        ResourceCell::holders(self)
            .into_iter()
            .map(|h| LockHolder {
                task: TaskId::from_u64(h.task),
                acquired_at: h
                    .site
                    .map(|site| SourceLocation::new(site.file(), site.line(), site.column())),
                since: clock::to_duration(h.since),
                permits: h.permits,
            })
            .collect()
    }
}
