//! What several commands share to show a live program: the terminal UI's
//! feed, the refreshing report, and this user's inspectable processes.

use std::io::{IsTerminal, Write};

use async_inspect_model::{Snapshot, TaskState};
use async_inspect_tui::Update;

use crate::client::{Client, Message, alive, sockets};
use crate::traces::Recorder;

/// This user's inspectable processes, each with its program and a
/// snapshot, or why it did not answer; sockets of killed processes are
/// cleaned up.
pub(crate) fn inspectable() -> Vec<(u32, anyhow::Result<(String, Snapshot)>)> {
    let mut found = Vec::new();
    for (pid, path) in sockets() {
        if !alive(pid).unwrap_or(true) {
            // Left by a process that was killed: nobody will answer.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let row = Client::connect(&path).and_then(|client| {
            let mut client = client.without_state_machines();
            let snapshot = client.snapshot()?;
            Ok((client.welcome.program.clone(), snapshot))
        });
        found.push((pid, row));
    }
    found
}

/// Tasks not finished, and those blocked.
pub(crate) fn counts(snapshot: &Snapshot) -> (usize, usize) {
    let live = snapshot
        .tasks()
        .iter()
        .filter(|t| {
            !matches!(
                t.state,
                TaskState::Done | TaskState::Panicked | TaskState::Aborted
            )
        })
        .count();
    let blocked = snapshot
        .tasks()
        .iter()
        .filter(|t| t.state == TaskState::Blocked)
        .count();
    (live, blocked)
}

/// Whether the live view is the terminal UI: unless refused, when the
/// output is a terminal.
pub(crate) fn use_tui(no_tui: bool) -> bool {
    !no_tui && std::io::stdout().is_terminal()
}

/// Feeds the terminal UI from `client`'s stream (recording each snapshot
/// to `writer`) until the program ends or the UI goes.
pub(crate) fn feed(
    mut client: Client,
    mut writer: Option<Recorder>,
    updates: &std::sync::mpsc::Sender<Update>,
) {
    loop {
        match client.next().and_then(Message::decoded) {
            Ok(message) => {
                if let Some(recording) = &mut writer
                    && let Err(error) = recording.keep(&message)
                {
                    let _ = updates.send(Update::Ended(format!("recording stopped: {error}")));
                    writer = None;
                }
                let update = match message {
                    Message::Snapshot(snapshot) => Update::Snapshot(snapshot),
                    Message::Events(batch) => Update::Events(batch),
                    // Decoded above.
                    Message::EncodedEvents(_) => continue,
                    Message::News(news) => Update::News(news),
                };
                if updates.send(update).is_err() {
                    return;
                }
            }
            Err(_) => {
                let _ = updates.send(Update::Ended("it ended".into()));
                return;
            }
        }
    }
}

/// Redraws the terminal with the report (the live view until the terminal
/// UI lands).
pub(crate) fn show_live(snapshot: &Snapshot) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        write!(out, "\x1b[2J\x1b[H{snapshot}")?;
    } else {
        // A log, not a screen: one report after another.
        writeln!(out, "{snapshot}")?;
    }
    out.flush()?;
    Ok(())
}
