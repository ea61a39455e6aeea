//! The terminal UI of async-inspect: the tasks (blocked first, where each
//! is parked), a task's detail (its stack, the await it is on, its waits
//! and locks), the resources and the deadlocks, redrawn as snapshots come.
//!
//! Data, view state, keys and drawing are apart: the [`Snapshot`] is the
//! data, [`View`] the view state, [`action_for`] maps keys to [`Action`]s
//! that [`View::apply`] carries out, and [`draw`] renders both. The UI does
//! no I/O of its own besides the terminal: [`run`] takes its snapshots from
//! a channel the caller feeds.

mod draw;
mod view;

use std::io;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use async_inspect_core::Snapshot;
pub use draw::draw;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
pub use view::{Action, Filter, Sort, Tab, View, action_for, listed};

/// What the caller sends the UI.
#[derive(Debug)]
pub enum Update {
    /// A new snapshot.
    Snapshot(Box<Snapshot>),
    /// The source ended (the program exited): the UI stays until `q`, with
    /// this said in its title.
    Ended(String),
}

/// Runs the UI on this terminal until the person quits: `title` names the
/// program, `updates` brings its snapshots. Returns when `q` is pressed.
///
/// # Errors
///
/// When the terminal cannot be set up or drawn on.
pub fn run(title: &str, updates: &Receiver<Update>) -> io::Result<()> {
    let mut terminal = ratatui::init();
    let result = run_on(&mut terminal, title, updates);
    ratatui::restore();
    result
}

fn run_on(
    terminal: &mut ratatui::DefaultTerminal,
    title: &str,
    updates: &Receiver<Update>,
) -> io::Result<()> {
    let mut title = title.to_owned();
    let mut snapshot: Option<Snapshot> = None;
    let mut view = View::default();
    loop {
        loop {
            match updates.try_recv() {
                Ok(Update::Snapshot(next)) => snapshot = Some(*next),
                Ok(Update::Ended(why)) => title = format!("{title} ({why})"),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        terminal.draw(|frame| match &snapshot {
            Some(snapshot) => draw(frame, &title, snapshot, &view),
            None => {
                let waiting = format!("{title}: waiting for the first snapshot… (q quits)");
                frame.render_widget(ratatui::widgets::Paragraph::new(waiting), frame.area());
            }
        })?;
        if event::poll(Duration::from_millis(100))?
            && let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
            && let Some(action) = action_for(key, view.searching)
        {
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
