//! The Performance Report: a [`Profile`] in words.

use std::fmt::{self, Display, Formatter};

use super::{Profile, Timing};
use crate::duration::format_duration as human;

/// Rows of each table shown by `Display`.
const TOP: usize = 10;

/// The report with `top` rows per table ([`Profile::report`]).
#[derive(Debug)]
pub struct Report<'a> {
    profile: &'a Profile,
    top: usize,
}

impl<'a> Report<'a> {
    pub(super) fn new(profile: &'a Profile, top: usize) -> Self {
        Self { profile, top }
    }
}

/// A function spending this share of its time in one await is worth a line.
const DOMINANT: f64 = 0.5;

/// A lock whose acquisitions wait this often is contended.
const CONTENDED: f64 = 0.2;

pub(super) fn suggestions(profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    for function in profile.functions.iter().take(3) {
        let Some(child) = function.children.first() else {
            continue;
        };
        if child.share < DOMINANT {
            continue;
        }
        let advice = if child.expr.contains("lock()") || child.expr.contains("acquire") {
            "the lock is contended: see Lock contention"
        } else if child.expr.contains("sleep") {
            "a sleep on this path: is it needed?"
        } else {
            "add caching, batch the requests, or run them concurrently"
        };
        out.push(format!(
            "{:.0}% of {}() is spent in {}: {advice}",
            child.share * 100.0,
            function.function,
            child.expr
        ));
    }
    for function in &profile.functions {
        let t = &function.timing;
        if t.count >= 20 && t.p50 > std::time::Duration::ZERO && t.p99 >= t.p50 * 5 {
            out.push(format!(
                "{}(): p99 {} is {}× its p50 {}: a slow tail; find what makes those calls slow",
                function.function,
                human(t.p99),
                t.p99.as_nanos() / t.p50.as_nanos().max(1),
                human(t.p50)
            ));
        }
    }
    for lock in &profile.locks {
        let share = lock.contended as f64 / lock.acquisitions.max(1) as f64;
        if lock.contended > 0 && share >= CONTENDED {
            out.push(format!(
                "{}: {:.0}% of acquisitions wait ({} in all, up to {}); it is held {} on average: \
                 hold it for less time (not across an await), or split it",
                lock.label,
                share.min(1.0) * 100.0,
                human(lock.wait.total),
                human(lock.wait.max),
                human(lock.hold.mean)
            ));
        }
    }
    if let Some((longest, stack)) = profile.long_polls.first() {
        out.push(format!(
            "{} poll(s) held an executor thread 10 ms or more (longest {} in {}): move \
             blocking or CPU-heavy work to spawn_blocking",
            profile.long_polls.len(),
            human(*longest),
            stack.replace(';', " → ")
        ));
    }
    out
}

struct Row<'a>(&'a Timing);

impl Display for Row<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let [mean, p50, p99, max, total] =
            [t.mean, t.p50, t.p99, t.max, t.total].map(|d| human(d).to_string());
        write!(
            f,
            "{:>7} {mean:>8} {p50:>8} {p99:>8} {max:>8} {total:>8}",
            t.count
        )
    }
}

impl Display for Profile {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Report::new(self, TOP).fmt(f)
    }
}

impl Display for Report<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let top = self.top;
        let this = self.profile;
        this.write(f, top)
    }
}

impl Profile {
    fn write(&self, f: &mut Formatter<'_>, top: usize) -> fmt::Result {
        writeln!(
            f,
            "async-inspect profile · {} (pid {}) · {} recorded · {} events",
            self.program,
            self.pid,
            human(self.span),
            self.events
        )?;
        if self.events_dropped > 0 {
            writeln!(
                f,
                "⚠ {} events were dropped while recording: the numbers below miss them",
                self.events_dropped
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Slowest operations (traced functions, by total time)")?;
        if self.functions.is_empty() {
            writeln!(f, "  no traced call completed while recording")?;
        } else {
            writeln!(
                f,
                "  {:<44} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "function", "count", "mean", "p50", "p99", "max", "total"
            )?;
        }
        for function in self.functions.iter().take(top) {
            let name = format!("{}()", function.function);
            writeln!(f, "  {name:<44} {}", Row(&function.timing))?;
            for child in function.children.iter().take(3) {
                writeln!(
                    f,
                    "    {:>3.0}% in {}",
                    child.share * 100.0,
                    shorten(&child.expr, 60)
                )?;
            }
        }
        if !self.awaits.is_empty() {
            writeln!(f)?;
            writeln!(f, "Slowest await points (time parked)")?;
            writeln!(
                f,
                "  {:<44} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "await", "count", "mean", "p50", "p99", "max", "total"
            )?;
            for point in self.awaits.iter().take(top) {
                let name = format!("{} → {}", point.function, point.expr);
                writeln!(f, "  {:<44} {}", shorten(&name, 44), Row(&point.timing))?;
                writeln!(f, "      at {}:{}", point.file, point.line)?;
            }
        }
        if !self.locks.is_empty() {
            writeln!(f)?;
            writeln!(f, "Lock contention")?;
        }
        for lock in self.locks.iter().take(top) {
            let share = lock.contended as f64 / lock.acquisitions.max(1) as f64;
            writeln!(
                f,
                "  {} (created at {}): {} acquisitions, {:.0}% waited · wait total {}, p99 {}, max {} · up to {} waiting · held {} mean, {} max",
                lock.label,
                lock.created_at,
                lock.acquisitions,
                share.min(1.0) * 100.0,
                human(lock.wait.total),
                human(lock.wait.p99),
                human(lock.wait.max),
                lock.max_waiters,
                human(lock.hold.mean),
                human(lock.hold.max)
            )?;
            for place in lock.waited_at.iter().take(3) {
                writeln!(
                    f,
                    "    waited at {} ({}×, {})",
                    place.place,
                    place.count,
                    human(place.total)
                )?;
            }
        }
        if !self.paths.is_empty() {
            writeln!(f)?;
            writeln!(f, "Hot paths (most frequent logical call paths)")?;
        }
        for path in self.paths.iter().take(top) {
            writeln!(
                f,
                "  {:>7}×  {}  ({:.0}% of root tasks)",
                path.calls,
                path.path.join(" → "),
                path.share.min(1.0) * 100.0
            )?;
        }
        let suggestions = self.suggestions();
        if !suggestions.is_empty() {
            writeln!(f)?;
            writeln!(f, "Suggestions")?;
            for suggestion in suggestions {
                writeln!(f, "  • {suggestion}")?;
            }
        }
        Ok(())
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}
