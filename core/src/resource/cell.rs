use std::fmt;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use slab::Slab;

use crate::task::TaskCell;
use crate::{clock, context};

/// Identifies a resource (a lock) for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(NonZeroU64);

impl ResourceId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(NonZeroU64::new(id).unwrap_or(NonZeroU64::MAX))
    }

    /// The id's number.
    pub const fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// What kind of resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceKind {
    /// An inspected `Mutex`.
    Mutex,
    /// An inspected `RwLock`.
    RwLock,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mutex => "Mutex",
            Self::RwLock => "RwLock",
        })
    }
}

/// A task holding a resource in shared mode (an `RwLock` reader).
#[derive(Debug, Clone, Copy)]
struct SharedHolder {
    task: u64,
    site: &'static Location<'static>,
    since: u64,
}

/// A lock held by a task, from acquisition to release: the guard carries
/// it back to [`ResourceCell::released`].
#[derive(Debug, Default)]
pub struct Hold {
    /// The holding task's id, 0 if not a task.
    id: u64,
    /// The holding task, while lock order is recorded: its list of held
    /// locks is updated on release, even from another task.
    ordered: Option<Arc<TaskCell>>,
}

impl Hold {
    fn current() -> Self {
        if crate::config::lock_order() {
            let ordered = context::current_cell();
            let id = ordered.as_ref().map_or(0, |t| t.id().as_u64());
            Self { id, ordered }
        } else {
            let id = context::with_task(|task, _| task.id().as_u64()).unwrap_or(0);
            Self { id, ordered: None }
        }
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
    /// Tasks waiting for it now.
    waiters: AtomicU32,
    /// Readers, for kinds with a shared mode.
    shared: Mutex<Vec<SharedHolder>>,
    /// Locks that were held when this one was taken (see `order`).
    taken_after: Mutex<Vec<ResourceId>>,
    acquisitions: AtomicU64,
    contended: AtomicU64,
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
        crate::config::init();
        let mut resources = RESOURCES.lock().unwrap_or_else(|e| e.into_inner());
        let entry = resources.vacant_entry();
        let cell = Arc::new(Self {
            holder: AtomicU64::new(0),
            holder_site: AtomicPtr::new(std::ptr::null_mut()),
            holder_since: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            shared: Mutex::new(Vec::new()),
            taken_after: Mutex::new(Vec::new()),
            acquisitions: AtomicU64::new(0),
            contended: AtomicU64::new(0),
            id: ResourceId::next(),
            kind,
            name,
            created_at,
            slot: entry.key(),
        });
        entry.insert(Arc::downgrade(&cell));
        cell
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
        Some(Holding { task, site, since })
    }

    /// Every task holding it: the exclusive holder, or the readers. A
    /// `Mutex` has at most one and allocates nothing.
    pub(crate) fn holders(&self) -> Holders {
        let exclusive = self.holder();
        if self.kind == ResourceKind::Mutex {
            return Holders::One(exclusive);
        }
        let mut holders: Vec<Holding> = exclusive.into_iter().collect();
        holders.extend(self.shared().iter().map(|h| Holding {
            task: h.task,
            site: Some(h.site),
            since: h.since,
        }));
        Holders::Many(holders)
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Vec<SharedHolder>> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the current task acquired the resource in shared mode
    /// (a read lock) at `site`. The [`Hold`] goes back to
    /// [`ResourceCell::released_shared`].
    pub fn acquired_shared(self: &Arc<Self>, site: &'static Location<'static>) -> Hold {
        let hold = Hold::current();
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
        if hold.id != 0 {
            self.shared().push(SharedHolder {
                task: hold.id,
                site,
                since: clock::now(),
            });
            if let Some(task) = &hold.ordered {
                super::order::acquired(task, self, site);
            }
        }
        hold
    }

    /// Records that a reader released it.
    pub fn released_shared(&self, hold: Hold) {
        if hold.id == 0 {
            return;
        }
        {
            let mut shared = self.shared();
            if let Some(position) = shared.iter().rposition(|h| h.task == hold.id) {
                shared.swap_remove(position);
            }
        }
        if let Some(task) = &hold.ordered {
            super::order::released(task, self);
        }
    }

    /// Records that the current task acquired the resource exclusively at
    /// `site`. The [`Hold`] goes back to [`ResourceCell::released`].
    #[inline]
    pub fn acquired(self: &Arc<Self>, site: &'static Location<'static>) -> Hold {
        let hold = Hold::current();
        let id = hold.id;
        self.holder_site.store(
            site as *const Location<'static> as *mut _,
            Ordering::Relaxed,
        );
        self.holder_since.store(clock::now(), Ordering::Relaxed);
        // The holder is exclusive, so a load and a store count without a
        // read-modify-write; readers (shared mode) use `fetch_add`.
        let count = self.acquisitions.load(Ordering::Relaxed);
        self.acquisitions.store(count + 1, Ordering::Relaxed);
        // Release suffices: a task that holds this and waits for something
        // else records its wait under the graph lock after this store, and
        // the wait that closes a cycle walks under the same lock.
        self.holder.store(id, Ordering::Release);
        if let Some(task) = &hold.ordered {
            super::order::acquired(task, self, site);
        }
        hold
    }

    /// Records that the holder released it.
    #[inline]
    pub fn released(&self, hold: Hold) {
        self.holder.store(0, Ordering::Release);
        if let Some(task) = &hold.ordered {
            super::order::released(task, self);
        }
    }

    /// Whether this lock is already known to be taken while holding `other`
    /// (remembered so that only a new pair takes the lock-order graph's lock).
    pub(crate) fn learn_taken_after(&self, other: ResourceId) -> bool {
        let mut after = self.taken_after.lock().unwrap_or_else(|e| e.into_inner());
        if after.contains(&other) {
            return false;
        }
        after.push(other);
        true
    }

    /// A task starts waiting for it.
    pub(crate) fn wait_began(&self) {
        self.contended.fetch_add(1, Ordering::Relaxed);
        self.waiters.fetch_add(1, Ordering::Relaxed);
    }

    /// A task stopped waiting for it.
    pub(crate) fn wait_ended(&self) {
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }
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

    /// Tasks waiting for it, acquisitions, and acquisitions that waited.
    pub(crate) fn counters(&self) -> (u32, u64, u64) {
        (
            self.waiters.load(Ordering::Relaxed),
            self.acquisitions.load(Ordering::Relaxed),
            self.contended.load(Ordering::Relaxed),
        )
    }
}

impl Drop for ResourceCell {
    fn drop(&mut self) {
        let mut resources = RESOURCES.lock().unwrap_or_else(|e| e.into_inner());
        resources.try_remove(self.slot);
    }
}
