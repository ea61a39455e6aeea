//! The trace a hung test leaves behind: its tasks' snapshot at the
//! deadline and, when `ASYNC_INSPECT_TRACE_OUT` is set (as `async-inspect
//! test` sets it), the recent events of its tasks.
//!
//! With the variable set, the first watched test starts one recorder for
//! the process; the watchdog thread keeps the latest [`WINDOW`] events
//! (older ones go: memory stays bounded however long the tests run). A test
//! that hangs gets `<dir>/<test name>.trace`: the events of its own task
//! tree, then the snapshot. Without the variable, a hung test still gets
//! its snapshot written under the target directory's `async-inspect/`.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_inspect_core::record::Recorder;
use async_inspect_model::Snapshot;
use async_inspect_model::event::{Batch, Event, FnSite, ResourceSite};
use async_inspect_model::trace_file::TraceWriter;

/// Events kept for the trace of a test that hangs.
pub(super) const WINDOW: usize = 100_000;

/// The process's recorder and its latest events.
struct Window {
    recorder: Recorder,
    events: VecDeque<Event>,
    sites: Vec<FnSite>,
    resources: Vec<ResourceSite>,
    dropped: u64,
}

static WINDOW_STATE: OnceLock<Option<Mutex<Window>>> = OnceLock::new();

fn window() -> Option<MutexGuard<'static, Window>> {
    let window = WINDOW_STATE.get_or_init(|| {
        std::env::var_os("ASYNC_INSPECT_TRACE_OUT")
            .filter(|dir| !dir.is_empty())
            .map(|_| {
                Mutex::new(Window {
                    recorder: Recorder::start(),
                    events: VecDeque::new(),
                    sites: Vec::new(),
                    resources: Vec::new(),
                    dropped: 0,
                })
            })
    });
    window
        .as_ref()
        .map(|w| w.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Starts recording for the traces of hung tests, if asked.
pub(super) fn start() {
    drop(window());
}

/// Whether events are being kept (the watchdog then drains them often).
pub(super) fn recording() -> bool {
    WINDOW_STATE.get().is_some_and(Option::is_some)
}

/// Moves what the recorder collected into the window.
pub(super) fn drain() {
    let Some(mut window) = window() else {
        return;
    };
    while let Some(batch) = window.recorder.recv_timeout(Duration::ZERO) {
        window.keep(batch);
    }
}

impl Window {
    fn keep(&mut self, mut batch: Batch) {
        self.sites.append(&mut batch.sites);
        self.resources.append(&mut batch.resources);
        self.dropped += batch.dropped;
        self.events.extend(batch.events.drain(..));
        async_inspect_core::record::recycle(batch);
        let over = self.events.len().saturating_sub(WINDOW);
        if over > 0 {
            self.events.drain(..over);
            self.dropped += over as u64;
        }
    }
}

/// Where traces go: `ASYNC_INSPECT_TRACE_OUT`, else `async-inspect/` in the
/// target directory of the test binary (or `./target`).
fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ASYNC_INSPECT_TRACE_OUT").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|p| p.file_name().is_some_and(|n| n == "target"))
            .map(Path::to_path_buf)
    });
    target
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("async-inspect")
}

/// A file name from a test's name.
fn file_name(test: &str) -> String {
    let name: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.trace")
}

/// Writes the trace of the hung test `test` (its tasks are `snapshot`'s),
/// and says where, or why not.
pub(super) fn write(test: &str, snapshot: &Snapshot) -> String {
    let dir = dir();
    let path = dir.join(file_name(test));
    match write_to(&dir, &path, test, snapshot) {
        Ok(events) => format!(
            "async-inspect: the trace of `{test}` ({events} events) is in {}",
            path.display()
        ),
        Err(error) => format!(
            "async-inspect: could not write the trace of `{test}` to {}: {error}",
            path.display()
        ),
    }
}

fn write_to(dir: &Path, path: &Path, test: &str, snapshot: &Snapshot) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::create(path)?;
    let mut writer = TraceWriter::new(
        std::io::BufWriter::new(file),
        std::process::id(),
        test,
        snapshot.started_at_unix(),
    )?;
    let tasks: HashSet<u64> = snapshot.tasks().iter().map(|t| t.id.as_u64()).collect();
    drain();
    let mut count = 0;
    if let Some(window) = window() {
        let events: Vec<Event> = window
            .events
            .iter()
            .filter(|e| tasks.contains(&e.task()))
            .cloned()
            .collect();
        count = events.len();
        let batch = Batch {
            sites: window.sites.clone(),
            resources: window.resources.clone(),
            events,
            dropped: window.dropped,
        };
        writer.events(&batch)?;
    }
    writer.snapshot(snapshot)?;
    Ok(count)
}
