//! The terminal UI of async-inspect: the tasks (blocked first, where each
//! is parked; sorted by any column, filtered, searched; only the rows on
//! screen are drawn, so 100 000 tasks scroll as fast as forty), a task's
//! detail (its stack, the await it is on, its waits and locks), the
//! resources, the wait-for graph around a task with its task tree, and the
//! deadlocks, redrawn as snapshots come; ASCII only on request. On a live
//! program it is a debugger too: `b` sets a breakpoint at the await the
//! selected task is parked on, `c`, `s`, `n`, `f` let a paused task go on
//! or step it ([`Debugger`]); paused tasks stand out.
//!
//! Data, view state, keys and drawing are apart: the [`Snapshot`] is the
//! data, [`View`] the view state, [`action_for`] maps keys to [`Action`]s
//! that [`View::apply`] carries out, and [`draw`] renders both. The UI does
//! no I/O of its own besides the terminal: [`run`] takes its snapshots from
//! a channel the caller feeds (and hands debugger requests to another),
//! [`replay`] from a recording's.
//!
//! Layering: it reads the model (`async-inspect-model`) only. Inside,
//! `recorded`, `timeline`, `graph` and `debugger` (data and requests) sit
//! below `view` (view state and actions), which sits below `draw`.

mod debugger;
mod draw;
mod graph;
mod recorded;
mod timeline;
mod view;

use std::io;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Duration;

use async_inspect_model::Snapshot;
use async_inspect_model::event::Batch;
use async_inspect_model::trace_file::Trace;
use async_inspect_model::wire::{Reply, Request};
pub use debugger::{Command, Debugger};
pub use draw::{draw, draw_with};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
pub use recorded::Recorded;
pub use timeline::ZOOMS;
pub use view::{Action, Filter, Sort, Tab, View, action_for, deadlocked, listed};

/// What the caller sends the UI.
#[derive(Debug)]
pub enum Update {
    /// A new snapshot.
    Snapshot(Box<Snapshot>),
    /// Events recorded since the previous batch (for the Timeline and
    /// Profile tabs).
    Events(Box<Batch>),
    /// The source ended (the program exited): the UI stays until `q`, with
    /// this said in its title.
    Ended(String),
    /// What the agent said of a debugger request (see
    /// [`Debugger::heard`]).
    News(Reply),
}

/// Runs the UI on this terminal until the person quits: `title` names the
/// program, `updates` brings its snapshots, `requests` (if the program can
/// be debugged) takes the debugger's requests to its agent; `ascii` draws
/// with ASCII only. Returns when `q` is pressed.
///
/// # Errors
///
/// When the terminal cannot be set up or drawn on.
pub fn run(
    title: &str,
    updates: &Receiver<Update>,
    requests: Option<&Sender<Request>>,
    ascii: bool,
) -> io::Result<()> {
    let mut terminal = ratatui::init();
    let result = run_on(&mut terminal, title, updates, requests, ascii);
    ratatui::restore();
    result
}

fn run_on(
    terminal: &mut ratatui::DefaultTerminal,
    title: &str,
    updates: &Receiver<Update>,
    requests: Option<&Sender<Request>>,
    ascii: bool,
) -> io::Result<()> {
    let mut title = title.to_owned();
    let mut debugger = Debugger::default();
    let mut snapshot: Option<Snapshot> = None;
    let mut recorded: Option<Recorded> = None;
    let mut view = View {
        ascii,
        ..View::default()
    };
    loop {
        loop {
            match updates.try_recv() {
                Ok(Update::Snapshot(next)) => {
                    recorded
                        .get_or_insert_with(|| Recorded::live(0, &title))
                        .note(&next);
                    snapshot = Some(*next);
                }
                Ok(Update::Events(batch)) => recorded
                    .get_or_insert_with(|| Recorded::live(0, &title))
                    .add(*batch),
                Ok(Update::Ended(why)) => title = format!("{title} ({why})"),
                Ok(Update::News(news)) => debugger.heard(&news),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let heading = match &debugger.notice {
            Some(notice) => format!("{title} · {notice}"),
            None => title.clone(),
        };
        if view.tab == Tab::Profile
            && let Some(recorded) = &mut recorded
        {
            recorded.refresh_profile();
        }
        terminal.draw(|frame| match &snapshot {
            Some(snapshot) => draw_with(frame, &heading, snapshot, recorded.as_ref(), &view),
            None => {
                let waiting = format!("{title}: waiting for the first snapshot… (q quits)");
                frame.render_widget(ratatui::widgets::Paragraph::new(waiting), frame.area());
            }
        })?;
        if event::poll(Duration::from_millis(100))?
            && let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
            && let Some(action) = action_for(key, &view)
        {
            if let (Action::Debug(command), Some(snapshot)) = (action, &snapshot) {
                debug(command, snapshot, &view, &mut debugger, requests);
            }
            let keep_going = match &snapshot {
                Some(snapshot) => view.apply(action, snapshot),
                None => action != Action::Quit,
            };
            if !keep_going {
                return Ok(());
            }
        }
    }
}

/// Carries out a debugger key on the selected task: a request to the
/// agent, or a word in the title saying why not.
fn debug(
    command: Command,
    snapshot: &Snapshot,
    view: &View,
    debugger: &mut Debugger,
    requests: Option<&Sender<Request>>,
) {
    let Some(requests) = requests else {
        debugger.notice = Some("the debugger needs a live program".to_owned());
        return;
    };
    if !view.tab.follows_tasks() {
        debugger.notice = Some("select a task first (Tasks tab)".to_owned());
        return;
    }
    let task = listed(snapshot, view).get(view.selected).copied();
    match debugger.request(command, task) {
        Ok(request) => {
            if requests.send(request).is_err() {
                debugger.notice = Some("the program's agent is gone".to_owned());
            }
        }
        Err(why) => debugger.notice = Some(why),
    }
}

/// Runs the UI over a recording from its snapshot at `start`, with a time
/// cursor: `,` and `.` step one snapshot back and forth, `<` and `>` ten;
/// the timeline ends at the cursor. `ascii` draws with ASCII only.
/// Returns when `q` is pressed.
///
/// # Errors
///
/// When the terminal cannot be set up or drawn on.
pub fn replay(title: &str, trace: Trace, start: usize, ascii: bool) -> io::Result<()> {
    if trace.snapshots.is_empty() {
        return Ok(());
    }
    let mut recorded = Recorded::of(trace);
    let mut terminal = ratatui::init();
    let result = replay_on(&mut terminal, title, &mut recorded, start, ascii);
    ratatui::restore();
    result
}

fn replay_on(
    terminal: &mut ratatui::DefaultTerminal,
    title: &str,
    recorded: &mut Recorded,
    start: usize,
    ascii: bool,
) -> io::Result<()> {
    recorded.refresh_profile();
    let snapshots = &recorded.trace().snapshots;
    let last = snapshots.len() - 1;
    let origin = snapshots[0].taken_at();
    let span = snapshots[last].taken_at().saturating_sub(origin);
    let mut at = start.min(last);
    let mut view = View {
        ascii,
        ..View::default()
    };
    loop {
        let snapshot = &snapshots[at];
        view.replay_at = Some(at);
        let heading = cursor_heading(
            title,
            snapshot.taken_at().saturating_sub(origin),
            span,
            at,
            last,
        );
        terminal.draw(|frame| draw_with(frame, &heading, snapshot, Some(recorded), &view))?;
        if let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
            && let Some(action) = action_for(key, &view)
        {
            match action {
                Action::Step(by) => {
                    let moved = i64::try_from(at).unwrap_or(0) + i64::from(by);
                    at = usize::try_from(moved.max(0)).unwrap_or(0).min(last);
                }
                _ if !view.apply(action, snapshot) => return Ok(()),
                _ => {}
            }
        }
    }
}

/// "app · at 2.5s of 1m00s (26/600) · , . step".
fn cursor_heading(title: &str, at: Duration, span: Duration, index: usize, last: usize) -> String {
    use async_inspect_model::format_duration;
    format!(
        "{title} · at {} of {} ({}/{}) · , . step",
        format_duration(at),
        format_duration(span),
        index + 1,
        last + 1
    )
}
