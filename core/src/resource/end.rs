//! The ends of an inspected channel, as holders in the wait-for graph.
//!
//! A receiver waits for the channel's senders, a sender on a full channel
//! for its receiver; either wait ends when any holder of the other end
//! acts, so it is a deadlock only when every holder is stuck. Ends move
//! between tasks unseen (into a spawned task, inside a message) and are
//! shared by reference (an `Arc<Sender>` used by many tasks), so an end is
//! held by every task that used it (sent, received) since it was made; the
//! task that made it counts only until another uses it. Each use is taken
//! as an owned guard's is: it counts only while its task spawned nothing
//! since, and never for the task that waits itself.
//!
//! A wait the channel could already end (a message arrived, room
//! appeared, and the waiting task is woken but not polled yet) is in no
//! deadlock: [`ChannelCounts`] tells.

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::ResourceCell;
use super::cell::current_owner;

/// Beyond this many users an end stops recording more: the wait-for walk
/// gives up on so many holders anyway.
const MOST_USERS: usize = 65;

/// What went through a channel, kept by its ends.
#[derive(Debug)]
pub struct ChannelCounts {
    sent: AtomicU64,
    received: AtomicU64,
    /// Room reserved for a message not sent yet.
    reserved: AtomicU64,
    /// The room, for a bounded channel.
    capacity: Option<u64>,
}

impl ChannelCounts {
    /// The counts of a new channel with room for `capacity` messages (none
    /// for an unbounded one).
    pub fn new(capacity: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            capacity: capacity.map(|c| c as u64),
        })
    }

    /// `n` messages went in.
    #[inline]
    pub fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Release);
    }

    /// `n` messages came out.
    #[inline]
    pub fn received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Release);
    }

    /// Room for one message was reserved (`reserve`), or (`false`) the
    /// reservation ended, sent or not.
    #[inline]
    pub fn reserved(&self, taken: bool) {
        if taken {
            self.reserved.fetch_add(1, Ordering::Release);
        } else {
            self.reserved.fetch_sub(1, Ordering::Release);
        }
    }

    /// How many messages went in so far.
    pub(crate) fn sent_count(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// Whether a message waits. Errs towards yes: `received` is read first.
    pub(crate) fn has_message(&self) -> bool {
        let received = self.received.load(Ordering::Acquire);
        self.sent.load(Ordering::Acquire) > received
    }

    /// Whether there is room. Errs towards yes: what fills it is read
    /// before what empties it.
    pub(crate) fn has_room(&self) -> bool {
        let Some(capacity) = self.capacity else {
            return true;
        };
        let sent = self.sent.load(Ordering::Acquire);
        let reserved = self.reserved.load(Ordering::Acquire);
        let received = self.received.load(Ordering::Acquire);
        sent.saturating_sub(received) + reserved < capacity
    }
}

/// The tasks that used one end, each with its holder record's key.
#[derive(Debug)]
struct Users {
    /// Only the task that made it so far: the first other user replaces it.
    made_only: bool,
    records: Vec<(u64, u64)>,
}

/// One end of a channel (a sender, a receiver), held by the tasks that
/// used it.
#[derive(Debug)]
pub struct EndHold {
    resource: Arc<ResourceCell>,
    /// The last user and its `moves` word: a use by the same task again
    /// costs two loads.
    last: AtomicU64,
    last_moves: AtomicU64,
    users: Mutex<Users>,
    site: &'static Location<'static>,
}

impl EndHold {
    /// An end of `resource` (the senders' or the receiver's) made at
    /// `site`, held by the current task if there is one.
    pub fn new(resource: &Arc<ResourceCell>, site: &'static Location<'static>) -> Self {
        let end = Self {
            resource: Arc::clone(resource),
            last: AtomicU64::new(0),
            last_moves: AtomicU64::new(0),
            users: Mutex::new(Users {
                made_only: true,
                records: Vec::new(),
            }),
            site,
        };
        if let Some((task, moves)) = current_owner() {
            let key = resource.set_shared_holder(0, task, moves, site);
            end.users().records.push((task, key));
            end.last.store(task, Ordering::Relaxed);
            end.last_moves.store(moves, Ordering::Relaxed);
        }
        end
    }

    /// Another end of the same resource (a cloned sender), made at `site`.
    pub fn another(&self, site: &'static Location<'static>) -> Self {
        Self::new(&self.resource, site)
    }

    /// The current task uses this end: it holds it from now on.
    #[inline]
    pub fn used(&self) {
        let Some((task, moves)) = current_owner() else {
            return;
        };
        if self.last.load(Ordering::Relaxed) == task
            && self.last_moves.load(Ordering::Relaxed) == moves
        {
            return;
        }
        self.add_user(task, moves);
    }

    #[cold]
    fn add_user(&self, task: u64, moves: u64) {
        let mut users = self.users();
        let made_only = std::mem::replace(&mut users.made_only, false);
        if let Some(user) = users.records.iter_mut().find(|(t, _)| *t == task) {
            self.resource
                .set_shared_holder(user.1, task, moves, self.site);
        } else if made_only && users.records.len() == 1 {
            // The maker handed it on before using it.
            let user = &mut users.records[0];
            self.resource
                .set_shared_holder(user.1, task, moves, self.site);
            user.0 = task;
        } else if users.records.len() < MOST_USERS {
            let key = self.resource.set_shared_holder(0, task, moves, self.site);
            users.records.push((task, key));
        }
        self.last.store(task, Ordering::Relaxed);
        self.last_moves.store(moves, Ordering::Relaxed);
    }

    fn users(&self) -> std::sync::MutexGuard<'_, Users> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for EndHold {
    fn drop(&mut self) {
        let users = self.users.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, key) in users.records.drain(..) {
            self.resource.remove_shared_holder(key);
        }
    }
}
