//! The dashboard mounted in the inspected program's own server: the same
//! page, API and live stream as `serve`, plus `/metrics`, reading the
//! program's inspector through a snapshot function the caller gives.
//!
//! Snapshots are taken on a thread of the dashboard's own
//! (`async-inspect-web`), never on the server's runtime, and only when a
//! request wants one (at most one per 250 ms; one per second while a page
//! is open): an idle service with the router mounted wakes no thread.

use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_inspect_model::Snapshot;
use async_inspect_model::wire::{Reply, Request};

use crate::Update;
use crate::data::{Data, Refresher};

/// Who may read a mounted dashboard.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Auth {
    /// Requests carry this token (`Authorization: Bearer T` or
    /// `?token=T`), compared in constant time; others get 401.
    Token(String),
    /// Only clients on this machine: needs the server's connection info
    /// (`into_make_service_with_connect_info::<SocketAddr>()`); without it
    /// every request is refused, saying so.
    LoopbackOnly,
    /// A layer the caller puts around the router authenticates (their own
    /// tower middleware); this router checks nothing.
    External,
}

/// What a mounted dashboard may change in the program beyond reading it,
/// given only by a caller that allows it (`allow_control`): clients with
/// access may then record the program (`POST /api/v1/record`,
/// `async-inspect record --url`) and debug it (`/api/v1/debug`,
/// `async-inspect debug --url`).
pub struct Control {
    /// Records the program for the given time (every poll when the flag
    /// is set, else the long ones) and gives the trace file's bytes. Runs
    /// on a thread of its own, never on the server's runtime.
    pub record: Box<dyn Fn(Duration, bool) -> std::io::Result<Vec<u8>> + Send + Sync>,
    /// Debugger sessions: breakpoints and the tasks paused at them.
    pub debug: Option<Arc<dyn DebugSessions>>,
}

/// Debugger sessions over HTTP, as the program keeps them: each has its
/// breakpoints and the tasks paused at them, let go when the session is
/// closed or goes quiet. Called on a thread of the dashboard's own.
pub trait DebugSessions: Send + Sync {
    /// Opens a session; its number.
    fn open(&self) -> u64;
    /// Answers `requests` (`Break`, `Delete`, `Continue`, `Step`,
    /// `Snapshot`) in session `session`, followed by the tasks paused
    /// since; `None` when that session is not open.
    fn exchange(&self, session: u64, requests: &[Request]) -> Option<Vec<Reply>>;
    /// Closes session `session`; whether it was open.
    fn close(&self, session: u64) -> bool;
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

/// The data of a dashboard fed by `source`, titled `title`, with the
/// thread that takes its snapshots.
pub(crate) fn data(
    title: &str,
    source: impl Fn() -> Snapshot + Send + 'static,
) -> std::io::Result<Arc<Data>> {
    let (requests, incoming) = mpsc::channel::<tokio::sync::oneshot::Sender<()>>();
    let data = Arc::new(Data::live(title).with_refresher(Refresher::new(requests)));
    let fed = Arc::downgrade(&data);
    std::thread::Builder::new()
        .name("async-inspect-web".into())
        .spawn(move || feed(&fed, &incoming, &source))?;
    Ok(data)
}

/// Serves refresh requests until the dashboard goes: parked while nobody
/// asks.
fn feed(
    data: &Weak<Data>,
    incoming: &mpsc::Receiver<tokio::sync::oneshot::Sender<()>>,
    source: &dyn Fn() -> Snapshot,
) {
    while let Ok(first) = incoming.recv() {
        let Some(data) = data.upgrade() else { return };
        // Every request queued meanwhile is answered by this snapshot.
        let mut waiting = vec![first];
        waiting.extend(incoming.try_iter());
        if !data.fresh_within(FRESH) {
            data.apply(Update::Snapshot(Box::new(source())));
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

/// A snapshot younger than this is fresh enough for a request.
pub(crate) const FRESH: Duration = Duration::from_millis(250);

/// How often the live stream refreshes while a page is open.
pub(crate) const LIVE_EVERY: Duration = Duration::from_secs(1);

/// Whether `given` is `expected`, in time that does not depend on where
/// they differ.
pub(crate) fn same_token(given: &[u8], expected: &[u8]) -> bool {
    let mut differ = given.len() ^ expected.len();
    for (i, &e) in expected.iter().enumerate() {
        differ |= usize::from(given.get(i).copied().unwrap_or(!e) ^ e);
    }
    differ == 0
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same_token(b"s3cret", b"s3cret"));
        assert!(!same_token(b"s3cres", b"s3cret"));
        assert!(!same_token(b"s3cre", b"s3cret"));
        assert!(!same_token(b"s3cret!", b"s3cret"));
        assert!(!same_token(b"", b"s3cret"));
    }
}
