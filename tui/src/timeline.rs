//! The Timeline tab: a lane per task (the selected one and those below it
//! in the table), time running left to right up to the snapshot's moment,
//! each column marking whether the task was polled, waiting for a lock or
//! parked at an await then.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_inspect_model::event::{SpanKind, spans};
use async_inspect_model::format_duration;
use async_inspect_model::trace_file::Trace;
use async_inspect_model::{Snapshot, TaskInfo};

/// The widths of the window, as `+` and `-` step through them.
pub const ZOOMS: [Duration; 6] = [
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// What a task did during a column, most telling first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Nothing,
    Parked,
    Waiting,
    Polled,
}

impl Mark {
    fn symbol(self, ascii: bool) -> char {
        match (self, ascii) {
            (Mark::Nothing, _) => ' ',
            (Mark::Parked, false) => '─',
            (Mark::Parked, true) => '-',
            (Mark::Waiting, false) => '▒',
            (Mark::Waiting, true) => '=',
            (Mark::Polled, false) => '█',
            (Mark::Polled, true) => '#',
        }
    }
}

/// The lines of the timeline: a heading, the legend, then one lane per
/// task of `tasks`, `width` columns wide, ending at `snapshot`'s moment.
pub(crate) fn lines(
    trace: &Trace,
    snapshot: &Snapshot,
    tasks: &[&TaskInfo],
    window: Duration,
    width: usize,
    ascii: bool,
) -> Vec<String> {
    const LABEL: usize = 26;
    let columns = width.saturating_sub(LABEL + 1).max(10);
    let end = snapshot.taken_at().as_nanos() as u64;
    let span = (window.as_nanos() as u64).max(columns as u64);
    // The window ends at the snapshot, at the right edge, even when the
    // program is younger than the window (its start is then before 0).
    let start = i128::from(end) - i128::from(span);
    let per_column = span / columns as u64;
    let wanted: HashSet<u64> = tasks.iter().map(|t| t.id.as_u64()).collect();
    let mut lanes: HashMap<u64, Vec<Mark>> = wanted
        .iter()
        .map(|&t| (t, vec![Mark::Nothing; columns]))
        .collect();
    let mut paint = |task: u64, from: u64, to: u64, mark: Mark| {
        let Some(lane) = lanes.get_mut(&task) else {
            return;
        };
        if i128::from(to) < start || from > end {
            return;
        }
        let column = |t: u64| ((i128::from(t) - start).max(0) as u64) / per_column;
        let first = column(from);
        let last = column(to.min(end));
        for column in first..=last.min(columns as u64 - 1) {
            let cell = &mut lane[column as usize];
            *cell = (*cell).max(mark);
        }
    };
    for (task, spans) in spans(&trace.events, &wanted, end) {
        for (from, to, kind) in spans {
            let mark = match kind {
                SpanKind::Poll => Mark::Polled,
                SpanKind::Lock => Mark::Waiting,
                SpanKind::Parked => Mark::Parked,
            };
            paint(task, from, to, mark);
        }
    }
    let (polled, waiting, parked) = (
        Mark::Polled.symbol(ascii),
        Mark::Waiting.symbol(ascii),
        Mark::Parked.symbol(ascii),
    );
    let mut out = vec![
        format!(
            "the last {} up to this snapshot · {} per column · + - zoom · ↑/↓ tasks",
            format_duration(Duration::from_nanos(span)),
            format_duration(Duration::from_nanos(per_column))
        ),
        format!("{polled} polled   {waiting} waiting for a lock   {parked} parked at an await"),
    ];
    if trace.events.is_empty() {
        out.push(String::new());
        out.push(
            "No events recorded: the timeline needs a recording with events (async-inspect \
             record, run --record) or a live view."
                .to_owned(),
        );
        return out;
    }
    for task in tasks {
        let lane: String = lanes[&task.id.as_u64()]
            .iter()
            .map(|m| m.symbol(ascii))
            .collect();
        let label: String = format!("{} {}", task.id, task.name)
            .chars()
            .take(LABEL)
            .collect();
        out.push(format!("{label:<LABEL$} {lane}"));
    }
    out
}
