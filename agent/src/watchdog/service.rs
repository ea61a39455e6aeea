//! Stalls in services, logged, never fatal: with `ASYNC_INSPECT_STALL_LOG=5s`
//! (or [`log_stalls`]), a task that has waited for an inspected lock
//! (`Mutex`, `RwLock`, `Semaphore`) longer than that, or a deadlock that
//! forms, writes the full report once: to `tracing` (at `WARN`, target
//! `async_inspect`) with the `tracing` feature, else to stderr.
//!
//! Channel receives are left out: a connection task waiting for a message
//! for minutes is a service at rest, not a stall. Each wait is reported
//! once; reports are at most one per threshold (what came meanwhile goes
//! in the next).
//!
//! One thread, `async-inspect-stalls`, asleep while no task waits: the
//! core calls it when a wait begins or a deadlock is found
//! ([`on_wait_or_deadlock`](async_inspect_core::resource::on_wait_or_deadlock)),
//! and it looks again only when the oldest wait it has not reported could
//! have become a stall.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

use async_inspect_core::resource::{deadlocks_found, on_wait_or_deadlock};
use async_inspect_model::{Snapshot, WaitReason, format_duration, parse_duration};

/// The watching thread, once started.
static THREAD: OnceLock<Thread> = OnceLock::new();

/// Set while the thread sleeps with nothing to look at again: the next
/// wait to begin wakes it.
static IDLE: AtomicBool = AtomicBool::new(false);

/// Deadlocks found when the thread last looked.
static SEEN_DEADLOCKS: AtomicU64 = AtomicU64::new(0);

/// Starts the stall log if `ASYNC_INSPECT_STALL_LOG` asks for it.
pub(crate) fn start_if_asked() {
    let Ok(text) = std::env::var("ASYNC_INSPECT_STALL_LOG") else {
        return;
    };
    match parse_duration(&text) {
        Some(threshold) if !threshold.is_zero() => {
            if let Err(e) = log_stalls(threshold) {
                eprintln!("async-inspect: no stall log: {e}");
            }
        }
        _ => eprintln!(
            "async-inspect: ignoring ASYNC_INSPECT_STALL_LOG={text:?}: expected a duration such as 5s"
        ),
    }
}

/// Logs the report when a task has waited for an inspected lock longer
/// than `threshold`, or a deadlock forms (see the module). Once per
/// process: a later call keeps the first threshold.
///
/// # Errors
///
/// When its thread cannot start.
pub fn log_stalls(threshold: Duration) -> std::io::Result<()> {
    if THREAD.get().is_some() {
        return Ok(());
    }
    SEEN_DEADLOCKS.store(deadlocks_found(), Ordering::Relaxed);
    let thread = std::thread::Builder::new()
        .name("async-inspect-stalls".into())
        .spawn(move || watch(threshold))?;
    if THREAD.set(thread.thread().clone()).is_ok() {
        on_wait_or_deadlock(wake);
    }
    Ok(())
}

/// The core's listener: wakes the thread if it sleeps with nothing to
/// look at, or a deadlock is new. Two loads otherwise.
fn wake() {
    let new_deadlock = deadlocks_found() != SEEN_DEADLOCKS.load(Ordering::Relaxed);
    if (new_deadlock || IDLE.swap(false, Ordering::AcqRel))
        && let Some(thread) = THREAD.get()
    {
        thread.unpark();
    }
}

/// A wait's identity: its task and when it began.
type WaitKey = (u64, Duration);

fn watch(threshold: Duration) {
    let mut reported: HashSet<WaitKey> = HashSet::new();
    let mut last_report: Option<Instant> = None;
    loop {
        // Idle from before the look: a wait that begins during it wakes
        // the next sleep at once.
        IDLE.store(true, Ordering::Release);
        let deadlocks = deadlocks_found();
        let new_deadlock = deadlocks != SEEN_DEADLOCKS.load(Ordering::Relaxed);
        let snapshot = async_inspect_core::snapshot();
        let look = look(&snapshot, threshold, &reported);
        let limited = last_report.is_some_and(|at| at.elapsed() < threshold);
        let mut next = look.next_due;
        if (new_deadlock || !look.due.is_empty()) && !limited {
            report(&look.due, threshold, new_deadlock);
            SEEN_DEADLOCKS.store(deadlocks, Ordering::Relaxed);
            reported.extend(look.due.iter().map(|(key, _)| *key));
            last_report = Some(Instant::now());
        } else if new_deadlock || !look.due.is_empty() {
            let wait = threshold.saturating_sub(last_report.map_or(threshold, |at| at.elapsed()));
            next = Some(next.map_or(wait, |n| n.min(wait)));
        }
        // Forget the waits that ended.
        reported.retain(|key| look.present.contains(key));
        match next {
            Some(after) => {
                IDLE.store(false, Ordering::Release);
                std::thread::park_timeout(after.max(Duration::from_millis(10)));
            }
            None => std::thread::park(),
        }
    }
}

/// What one look at a snapshot found.
struct Look {
    /// Lock waits past the threshold not reported yet, with their lines.
    due: Vec<(WaitKey, String)>,
    /// Every lock wait there is.
    present: HashSet<WaitKey>,
    /// When the oldest unreported wait not yet past it will be.
    next_due: Option<Duration>,
}

fn look(snapshot: &Snapshot, threshold: Duration, reported: &HashSet<WaitKey>) -> Look {
    let now = snapshot.taken_at();
    let mut look = Look {
        due: Vec::new(),
        present: HashSet::new(),
        next_due: None,
    };
    for task in snapshot.tasks() {
        for wait in &task.waits {
            let WaitReason::Lock { resource, holders } = &wait.reason else {
                continue;
            };
            let key = (task.id.as_u64(), wait.since);
            look.present.insert(key);
            if reported.contains(&key) {
                continue;
            }
            let waited = now.saturating_sub(wait.since);
            if waited >= threshold {
                let holders: Vec<String> = holders.iter().map(|h| h.task.to_string()).collect();
                let held = if holders.is_empty() {
                    String::new()
                } else {
                    format!(" held by {}", holders.join(", "))
                };
                let at = wait
                    .at
                    .as_ref()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default();
                look.due.push((
                    key,
                    format!(
                        "task {} {} has waited {} for {} `{}`{held}{at}",
                        task.id,
                        task.name,
                        format_duration(waited),
                        resource.kind,
                        resource.name
                    ),
                ));
            } else {
                let left = threshold - waited;
                look.next_due = Some(look.next_due.map_or(left, |n| n.min(left)));
            }
        }
    }
    look
}

/// Writes the report, with what it is for.
fn report(due: &[(WaitKey, String)], threshold: Duration, new_deadlock: bool) {
    let mut why: Vec<String> = due.iter().map(|(_, line)| line.clone()).collect();
    if new_deadlock {
        why.insert(0, "a deadlock formed".to_owned());
    }
    let snapshot = crate::state_machines::snapshot();
    let text = format!(
        "async-inspect: stalled (over {}): {}\n{snapshot}",
        format_duration(threshold),
        why.join("; ")
    );
    write(&text);
}

/// Writes the report through `tracing` (WARN, target `async_inspect`)
/// when the program set a subscriber and the feature is on, else to
/// stderr: a report nobody would see is not written.
fn write(text: &str) {
    #[cfg(feature = "tracing")]
    if tracing::dispatcher::has_been_set() {
        tracing::warn!(target: "async_inspect", "{text}");
        return;
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
