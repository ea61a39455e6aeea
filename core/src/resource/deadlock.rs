//! What happens when a deadlock is found: it is kept for snapshots, and
//! reported once (or handed to a hook, or turned into a panic or an abort).

use std::panic::Location;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::ResourceCell;
use crate::clock::to_duration;
use crate::task::{TaskCell, TaskId};
use async_inspect_model::snapshot::{Deadlock, DeadlockLink, ResourceRef, SourceLocation};

/// How many distinct deadlocks are kept for snapshots.
const KEPT: usize = 64;

/// One link of a cycle, as the walk found it.
#[derive(Clone)]
pub(crate) struct FoundLink {
    pub(crate) task: Arc<TaskCell>,
    /// The lock waited for; `None` for a join (waits for `held_by` to end).
    pub(crate) resource: Option<Arc<ResourceCell>>,
    pub(crate) waits_at: Option<&'static Location<'static>>,
    pub(crate) held_by: u64,
    pub(crate) acquired_at: Option<&'static Location<'static>>,
}

/// What to do when a deadlock is found (`ASYNC_INSPECT_ON_DEADLOCK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadlockAction {
    /// Print the deadlock report to stderr, once per deadlock (the default).
    #[default]
    Report,
    /// Panic in the task whose wait closed the cycle.
    Panic,
    /// Print the report and abort the process.
    Abort,
    /// Do nothing but keep it for snapshots.
    Ignore,
}

impl DeadlockAction {
    fn from_env() -> Self {
        let Ok(value) = std::env::var("ASYNC_INSPECT_ON_DEADLOCK") else {
            return Self::default();
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "report" => Self::Report,
            "panic" => Self::Panic,
            "abort" => Self::Abort,
            "ignore" => Self::Ignore,
            _ => {
                eprintln!(
                    "async-inspect: ignoring ASYNC_INSPECT_ON_DEADLOCK={value:?}: expected report, panic, abort or ignore; using report"
                );
                Self::default()
            }
        }
    }
}

type Hook = Arc<dyn Fn(&Deadlock) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);
/// A deadlock's identity: its (task, resource) pairs, sorted.
type CycleKey = Vec<(u64, u64)>;

static FOUND: Mutex<Vec<(CycleKey, Deadlock)>> = Mutex::new(Vec::new());

/// Calls `hook` for every deadlock found from now on, once per deadlock,
/// instead of the action `ASYNC_INSPECT_ON_DEADLOCK` chooses. It runs on
/// the thread of the task whose wait closed the cycle, and must not block.
///
/// ```
/// async_inspect_core::resource::on_deadlock(|deadlock| {
///     eprintln!("{} tasks are stuck", deadlock.cycle.len());
/// });
/// ```
pub fn on_deadlock(hook: impl Fn(&Deadlock) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
}

fn action() -> DeadlockAction {
    static ACTION: OnceLock<DeadlockAction> = OnceLock::new();
    *ACTION.get_or_init(DeadlockAction::from_env)
}

fn location(site: &'static Location<'static>) -> SourceLocation {
    SourceLocation::new(site.file(), site.line(), site.column())
}

/// Distinct deadlocks found so far: live streams send a snapshot at once
/// when it changes.
static FOUND_COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many distinct deadlocks were found so far.
pub fn found_count() -> u64 {
    FOUND_COUNT.load(std::sync::atomic::Ordering::Acquire)
}

/// Records a cycle found by the graph, and acts on it if it is new.
pub(crate) fn found(links: Vec<FoundLink>, now: u64) {
    let mut key: CycleKey = links
        .iter()
        .map(|l| {
            let resource = l.resource.as_ref().map_or(0, |r| r.id().as_u64());
            (l.task.id().as_u64(), resource)
        })
        .collect();
    key.sort_unstable();
    let deadlock = Deadlock {
        cycle: links
            .iter()
            .map(|link| DeadlockLink {
                task: link.task.id(),
                task_name: link.task.name().into_owned(),
                resource: link.resource.as_ref().map(|r| ResourceRef {
                    id: r.id(),
                    kind: r.kind(),
                    name: r.label(),
                }),
                waits_at: link.waits_at.map(location),
                held_by: TaskId::from_u64(link.held_by),
                acquired_at: link.acquired_at.map(location),
            })
            .collect(),
        detected_at: to_duration(now),
    };
    {
        let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
        if found.iter().any(|(k, _)| *k == key) {
            return;
        }
        if found.len() == KEPT {
            found.remove(0);
        }
        found.push((key, deadlock.clone()));
    }
    FOUND_COUNT.fetch_add(1, std::sync::atomic::Ordering::Release);
    super::graph::attention();
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(hook) = hook {
        hook(&deadlock);
        return;
    }
    match action() {
        DeadlockAction::Report => eprintln!("{deadlock}"),
        DeadlockAction::Panic => panic!("{deadlock}"),
        DeadlockAction::Abort => {
            eprintln!("{deadlock}");
            std::process::abort();
        }
        DeadlockAction::Ignore => {}
    }
}

/// Every distinct deadlock found so far (the graph filters out those that
/// no longer stand).
pub(crate) fn found_so_far() -> Vec<Deadlock> {
    let found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    found.iter().map(|(_, d)| d.clone()).collect()
}
