//! What the dashboard shows: the latest snapshot of a live process (or a
//! recording's snapshots), the recorded events, the profile computed from
//! them, and a version that moves with each change for the live page.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_inspect_model::Snapshot;
use async_inspect_model::profile::Profile;
use async_inspect_model::snapshot::Activity;
use async_inspect_model::trace_file::Trace;

use crate::Update;

/// Events kept from a live process; older ones go.
const KEPT: usize = 200_000;

/// Snapshots' worth of activity kept for the sparkline.
const ACTIVITY: usize = 60;

/// Asks the thread that takes a mounted dashboard's snapshots for a fresh
/// one, and waits for it.
#[derive(Debug)]
pub(crate) struct Refresher {
    requests: std::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
}

impl Refresher {
    /// Asks through `requests`: each carries where to say it is done.
    pub(crate) fn new(requests: std::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>) -> Self {
        Self { requests }
    }

    /// Returns once a fresh snapshot is in (or at once if the snapshot
    /// thread is gone).
    async fn refresh(&self) {
        let (done, when_done) = tokio::sync::oneshot::channel();
        if self.requests.send(done).is_ok() {
            let _ = when_done.await;
        }
    }
}

/// The dashboard's data, shared by the feeding thread and the handlers.
#[derive(Debug)]
pub struct Data {
    inner: RwLock<Inner>,
    version: tokio::sync::watch::Sender<u64>,
    /// For a dashboard mounted in the program: takes a fresh snapshot
    /// when a request wants one.
    refresher: Option<Refresher>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The program, as the page titles it.
    pub(crate) title: String,
    /// A live process, or a recording.
    pub(crate) live: bool,
    /// A recording's snapshots; a live process's latest only.
    pub(crate) trace: Trace,
    /// Why the live source ended, once it did.
    pub(crate) ended: Option<String>,
    /// When the last snapshot came.
    pub(crate) updated: Option<Instant>,
    /// Polls between consecutive snapshots.
    pub(crate) activity: Activity,
    /// The profile, and how many events it was computed from.
    profile: Option<(usize, Arc<Profile>)>,
}

impl Data {
    fn new(inner: Inner) -> Self {
        Self {
            inner: RwLock::new(inner),
            version: tokio::sync::watch::channel(0).0,
            refresher: None,
        }
    }

    /// Takes its snapshots on request, through `refresher`.
    pub(crate) fn with_refresher(mut self, refresher: Refresher) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// Whether its snapshots are taken on request (a mounted dashboard).
    pub(crate) fn on_request(&self) -> bool {
        self.refresher.is_some()
    }

    /// Whether the latest snapshot came less than `age` ago.
    pub(crate) fn fresh_within(&self, age: Duration) -> bool {
        self.read().updated.is_some_and(|at| at.elapsed() < age)
    }

    /// For a dashboard that takes snapshots on request: one younger than
    /// `age`, taken now if need be.
    pub(crate) async fn refresh(&self, age: Duration) {
        if let Some(refresher) = &self.refresher
            && !self.fresh_within(age)
        {
            refresher.refresh().await;
        }
    }

    /// The data of a recording.
    pub fn of_trace(trace: Trace) -> Self {
        let title = format!("{} (pid {}, recorded)", trace.program, trace.pid);
        let mut inner = Inner {
            title,
            live: false,
            trace: Trace::new(trace.pid, &trace.program, trace.started_at_unix),
            ended: None,
            updated: None,
            activity: Activity::new(ACTIVITY),
            profile: None,
        };
        for snapshot in &trace.snapshots {
            inner.activity.note(snapshot);
        }
        inner.trace = trace;
        Self::new(inner)
    }

    /// The data of a live process, empty until updates come.
    pub fn live(title: &str) -> Self {
        Self::new(Inner {
            title: title.to_owned(),
            live: true,
            trace: Trace::new(0, title, Duration::ZERO),
            ended: None,
            updated: None,
            activity: Activity::new(ACTIVITY),
            profile: None,
        })
    }

    /// Takes in an update from the live source.
    pub fn apply(&self, update: Update) {
        {
            let mut inner = self.write();
            match update {
                Update::Snapshot(snapshot) => {
                    inner.activity.note(&snapshot);
                    inner.trace.pid = snapshot.pid();
                    inner.trace.snapshots.clear();
                    inner.trace.snapshots.push(*snapshot);
                    inner.updated = Some(Instant::now());
                }
                Update::Events(batch) => {
                    inner.trace.add_live_events(*batch, KEPT);
                }
                Update::Ended(why) => inner.ended = Some(why),
            }
        }
        self.version.send_modify(|v| *v += 1);
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees each change.
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The profile of the events so far, computed again only when events
    /// came since.
    pub(crate) fn profile(&self) -> Arc<Profile> {
        let events = self.read().trace.events.len();
        if let Some((seen, profile)) = &self.read().profile
            && *seen == events
        {
            return Arc::clone(profile);
        }
        let profile = Arc::new(Profile::from_trace(&self.read().trace));
        self.write().profile = Some((events, Arc::clone(&profile)));
        profile
    }
}

impl Inner {
    /// The snapshot shown: a live process's latest, or a recording's as of
    /// `at` seconds from its start (its last if `None`).
    pub(crate) fn snapshot(&self, at: Option<f64>) -> Option<&Snapshot> {
        match at {
            Some(at) if !self.live => self.trace.at(Duration::from_secs_f64(at.max(0.0))),
            _ => self.trace.snapshots.last(),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_inspect_model::ResourceKind;
    use async_inspect_model::event::{Batch, Event, ResourceSite};

    use super::*;

    /// A batch naming `n` new locks from `first` on, each waited for once.
    fn locks(first: u64, n: u64) -> Batch {
        Batch {
            sites: Vec::new(),
            resources: (first..first + n)
                .map(|id| ResourceSite {
                    id,
                    kind: ResourceKind::Mutex,
                    label: format!("lock {id}"),
                    created_at: "src/a.rs:1:1".into(),
                })
                .collect(),
            events: (first..first + n)
                .map(|resource| Event::Wait {
                    task: 1,
                    resource,
                    at: resource,
                })
                .collect(),
            dropped: 0,
        }
    }

    #[test]
    fn a_live_view_keeps_its_events_and_their_locks_bounded() {
        let data = Data::live("program");
        // A lock per connection, a million connections.
        for round in 0..50 {
            data.apply(Update::Events(Box::new(locks(round * 20_000, 20_000))));
        }
        let inner = data.read();
        assert!(inner.trace.events.len() <= KEPT);
        let most = Trace::RESOURCES_KEPT.max(2 * KEPT) + 20_000;
        assert!(
            inner.trace.resources.len() <= most,
            "{}",
            inner.trace.resources.len()
        );
        // The newest events still have their locks' names.
        let last = inner.trace.events.last().and_then(Event::resource).unwrap();
        assert_eq!(
            inner.trace.resource(last).unwrap().label,
            format!("lock {last}")
        );
    }
}
