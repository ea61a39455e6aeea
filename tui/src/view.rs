//! What the person is looking at (the view state), the actions keys map to,
//! and how an action changes the view. Nothing here draws.

use async_inspect_core::{Snapshot, TaskInfo, TaskState};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The tabs, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Every task, blocked ones first.
    Tasks,
    /// Every inspected lock, semaphore and channel end.
    Resources,
    /// The deadlocks that stand.
    Deadlocks,
}

impl Tab {
    /// All tabs, in order.
    pub const ALL: [Tab; 3] = [Tab::Tasks, Tab::Resources, Tab::Deadlocks];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Tasks => "Tasks",
            Tab::Resources => "Resources",
            Tab::Deadlocks => "Deadlocks",
        }
    }
}

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the UI.
    Quit,
    /// Select the row above.
    Up,
    /// Select the row below.
    Down,
    /// Ten rows up.
    PageUp,
    /// Ten rows down.
    PageDown,
    /// Open the selected task's detail.
    Open,
    /// Close the detail or the help.
    Back,
    /// The next tab.
    NextTab,
    /// The previous tab.
    PrevTab,
    /// Show or hide the help.
    Help,
    /// Go to the deadlocks.
    Deadlocks,
}

/// The action of `key`, if it has one.
pub fn action_for(key: KeyEvent) -> Option<Action> {
    let action = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Enter => Action::Open,
        KeyCode::Esc => Action::Back,
        KeyCode::Right | KeyCode::Tab => Action::NextTab,
        KeyCode::Left | KeyCode::BackTab => Action::PrevTab,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('d') => Action::Deadlocks,
        _ => return None,
    };
    Some(action)
}

/// The view state: which tab, which row, what is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The tab shown.
    pub tab: Tab,
    /// The selected row of the tab's table.
    pub selected: usize,
    /// Whether the selected task's detail is open.
    pub detail: bool,
    /// Whether the help is shown.
    pub help: bool,
}

impl Default for View {
    fn default() -> Self {
        Self {
            tab: Tab::Tasks,
            selected: 0,
            detail: false,
            help: false,
        }
    }
}

impl View {
    /// Applies `action` with `snapshot` on screen; `false` once the person
    /// quits.
    pub fn apply(&mut self, action: Action, snapshot: &Snapshot) -> bool {
        let rows = self.rows(snapshot);
        match action {
            Action::Quit => return false,
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(rows.saturating_sub(1)),
            Action::PageUp => self.selected = self.selected.saturating_sub(10),
            Action::PageDown => self.selected = (self.selected + 10).min(rows.saturating_sub(1)),
            Action::Open => self.detail = self.tab == Tab::Tasks && rows > 0,
            Action::Back if self.help => self.help = false,
            Action::Back => self.detail = false,
            Action::NextTab | Action::PrevTab => {
                let at = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                let step = if action == Action::NextTab {
                    1
                } else {
                    Tab::ALL.len() - 1
                };
                self.switch(Tab::ALL[(at + step) % Tab::ALL.len()]);
            }
            Action::Help => self.help = !self.help,
            Action::Deadlocks => self.switch(Tab::Deadlocks),
        }
        true
    }

    fn switch(&mut self, tab: Tab) {
        self.tab = tab;
        self.selected = 0;
        self.detail = false;
    }

    /// How many rows the tab's table has.
    fn rows(&self, snapshot: &Snapshot) -> usize {
        match self.tab {
            Tab::Tasks => snapshot.tasks().len(),
            Tab::Resources => snapshot.resources().len(),
            Tab::Deadlocks => snapshot.deadlocks().len(),
        }
    }
}

/// The tasks in the order the table lists them: blocked first, then idle,
/// then running, each longest in its state first; finished ones last.
pub fn ordered(snapshot: &Snapshot) -> Vec<&TaskInfo> {
    let rank = |state: TaskState| match state {
        TaskState::Blocked => 0,
        TaskState::Idle => 1,
        TaskState::Running => 2,
        _ => 3,
    };
    let mut tasks: Vec<&TaskInfo> = snapshot.tasks().iter().collect();
    tasks.sort_by(|a, b| {
        rank(a.state)
            .cmp(&rank(b.state))
            .then(a.state_since.cmp(&b.state_since))
            .then(a.id.cmp(&b.id))
    });
    tasks
}
