//! The data the Timeline and Profile tabs draw from: a recording's events
//! (a trace file's, or those a live connection streams), bounded, and the
//! profile computed from them, refreshed at most once a second.

use std::time::{Duration, Instant};

use async_inspect_model::event::Batch;
use async_inspect_model::profile::Profile;
use async_inspect_model::snapshot::Activity;
use async_inspect_model::trace_file::Trace;

/// Events kept from a live connection; older ones go.
pub const KEPT: usize = 200_000;

/// How often a live profile is computed again.
const REFRESH: Duration = Duration::from_secs(1);

/// Snapshots' worth of activity the header's sparkline shows.
pub const ACTIVITY: usize = 24;

/// Recorded events and their profile, and the activity seen so far.
#[derive(Debug)]
pub struct Recorded {
    trace: Trace,
    profile: Option<Profile>,
    /// Events in the trace when the profile was computed, and when.
    profiled: Option<(usize, Instant)>,
    activity: Activity,
}

impl Recorded {
    /// Events to come from a live connection to `program` (pid `pid`).
    pub fn live(pid: u32, program: &str) -> Self {
        Self::of(Trace::new(pid, program, Duration::ZERO))
    }

    /// The events of a recording.
    pub fn of(trace: Trace) -> Self {
        Self {
            trace,
            profile: None,
            profiled: None,
            activity: Activity::new(ACTIVITY),
        }
    }

    /// Notes a new snapshot's polls for the activity sparkline.
    pub fn note(&mut self, snapshot: &async_inspect_model::Snapshot) {
        self.activity.note(snapshot);
    }

    /// Polls between the latest snapshots, oldest first.
    pub fn activity(&self) -> &[u64] {
        self.activity.samples()
    }

    /// The activity up to the recording's snapshot `at` (for a replay).
    pub fn activity_until(&self, at: usize) -> Vec<u64> {
        let snapshots = &self.trace.snapshots;
        let to = at.min(snapshots.len().saturating_sub(1));
        let mut activity = Activity::new(ACTIVITY);
        for snapshot in snapshots
            .get(at.saturating_sub(ACTIVITY)..=to)
            .unwrap_or(&[])
        {
            activity.note(snapshot);
        }
        activity.samples().to_vec()
    }

    /// Adds a live batch, letting the oldest events go past [`KEPT`], and
    /// the locks no kept event names (see [`Trace::add_live_events`]).
    pub fn add(&mut self, batch: Batch) {
        self.trace.add_live_events(batch, KEPT);
    }

    /// The events, as a trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Computes the profile again if events came since, at most once per
    /// [`REFRESH`].
    pub fn refresh_profile(&mut self) {
        let events = self.trace.events.len();
        let stale = match self.profiled {
            None => true,
            Some((seen, at)) => seen != events && at.elapsed() >= REFRESH,
        };
        if stale {
            self.profile = Some(Profile::from_trace(&self.trace));
            self.profiled = Some((events, Instant::now()));
        }
    }

    /// The latest profile, once computed.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }
}
