//! The ends of an inspected channel, as holders in the wait-for graph.
//!
//! A receiver waits for the channel's senders (any of them may send); a
//! sender on a full channel waits for its receiver. Ends move between tasks
//! without the inspector seeing it (into a spawned task, inside a message),
//! so an end is held by the task that last used it (created, sent,
//! received), as an owned guard is: it closes a deadlock only while that
//! task spawned nothing since, and never for the task that waits itself.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ResourceCell;
use super::ResourceKind;
use super::cell::current_owner;

/// One end of a channel, held by the task that used it last.
#[derive(Debug)]
pub struct EndHold {
    resource: Arc<ResourceCell>,
    /// Its record among the senders (0 for the receiver, or until a task
    /// first holds it).
    key: AtomicU64,
    /// The task that used it last, and the `moves` word then.
    task: AtomicU64,
    moves: AtomicU64,
    site: &'static Location<'static>,
}

impl EndHold {
    /// An end of `resource` (the senders' or the receiver's) made at
    /// `site`, held by the current task if there is one.
    pub fn new(resource: &Arc<ResourceCell>, site: &'static Location<'static>) -> Self {
        let end = Self {
            resource: Arc::clone(resource),
            key: AtomicU64::new(0),
            task: AtomicU64::new(0),
            moves: AtomicU64::new(0),
            site,
        };
        end.used();
        end
    }

    /// Another end of the same resource (a cloned sender), made at `site`.
    pub fn another(&self, site: &'static Location<'static>) -> Self {
        Self::new(&self.resource, site)
    }

    /// The resource it is an end of.
    pub fn resource(&self) -> &Arc<ResourceCell> {
        &self.resource
    }

    /// The current task uses this end: it holds it now. Costs two loads
    /// when the same task uses it again.
    #[inline]
    pub fn used(&self) {
        let Some((task, moves)) = current_owner() else {
            return;
        };
        if self.task.load(Ordering::Relaxed) == task && self.moves.load(Ordering::Relaxed) == moves
        {
            return;
        }
        self.moved_to(task, moves);
    }

    #[cold]
    fn moved_to(&self, task: u64, moves: u64) {
        self.task.store(task, Ordering::Relaxed);
        self.moves.store(moves, Ordering::Relaxed);
        if self.resource.kind() == ResourceKind::ChannelReceiver {
            self.resource.set_holder(task, moves, self.site);
            return;
        }
        let key = self.key.load(Ordering::Acquire);
        let recorded = self.resource.set_shared_holder(key, task, moves, self.site);
        // Two threads using one sender at once may both add a record: one
        // keeps it, the other takes its own back.
        if key == 0
            && self
                .key
                .compare_exchange(0, recorded, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            self.resource.remove_shared_holder(recorded);
        }
    }
}

impl Drop for EndHold {
    fn drop(&mut self) {
        if self.resource.kind() == ResourceKind::ChannelReceiver {
            self.resource.clear_holder(*self.task.get_mut());
        } else {
            let key = *self.key.get_mut();
            if key != 0 {
                self.resource.remove_shared_holder(key);
            }
        }
    }
}
