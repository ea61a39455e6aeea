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

/// Which tasks the table lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Filter {
    /// Every task.
    #[default]
    All,
    /// Tasks parked at a traced await or an inspected wait.
    Blocked,
    /// Tasks being polled.
    Running,
    /// Tasks parked elsewhere.
    Idle,
    /// Tasks that ended (done, panicked, aborted).
    Finished,
}

impl Filter {
    fn next(self) -> Self {
        match self {
            Filter::All => Filter::Blocked,
            Filter::Blocked => Filter::Running,
            Filter::Running => Filter::Idle,
            Filter::Idle => Filter::Finished,
            Filter::Finished => Filter::All,
        }
    }

    fn keeps(self, state: TaskState) -> bool {
        match self {
            Filter::All => true,
            Filter::Blocked => state == TaskState::Blocked,
            Filter::Running => state == TaskState::Running,
            Filter::Idle => state == TaskState::Idle,
            Filter::Finished => state.is_finished(),
        }
    }

    /// Its name in the table's title.
    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Blocked => "blocked",
            Filter::Running => "running",
            Filter::Idle => "idle",
            Filter::Finished => "finished",
        }
    }
}

/// The order of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Blocked first, then idle, running, finished; longest in its state
    /// first.
    #[default]
    State,
    /// By name.
    Name,
    /// Most polled first.
    Polls,
    /// Oldest first.
    Age,
}

impl Sort {
    fn next(self) -> Self {
        match self {
            Sort::State => Sort::Name,
            Sort::Name => Sort::Polls,
            Sort::Polls => Sort::Age,
            Sort::Age => Sort::State,
        }
    }

    /// Its name in the table's title.
    pub fn label(self) -> &'static str {
        match self {
            Sort::State => "state",
            Sort::Name => "name",
            Sort::Polls => "polls",
            Sort::Age => "age",
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
    /// Start typing a search (`/`).
    Search,
    /// A character of the search.
    Type(char),
    /// Erase the search's last character.
    Erase,
    /// End typing the search (it stays applied).
    EndSearch,
    /// The next state filter.
    Filter,
    /// The next sort order.
    Sort,
    /// In a replay, move the time cursor by this many snapshots.
    Step(i32),
}

/// The action of `key`, if it has one; `searching` while a search is
/// typed (keys are its characters then).
pub fn action_for(key: KeyEvent, searching: bool) -> Option<Action> {
    if searching {
        return match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::Type(c))
            }
            KeyCode::Backspace => Some(Action::Erase),
            KeyCode::Enter | KeyCode::Esc => Some(Action::EndSearch),
            KeyCode::Char('c') => Some(Action::Quit),
            _ => None,
        };
    }
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
        KeyCode::Char('/') => Action::Search,
        KeyCode::Char('f') => Action::Filter,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char(',') => Action::Step(-1),
        KeyCode::Char('.') => Action::Step(1),
        KeyCode::Char('<') => Action::Step(-10),
        KeyCode::Char('>') => Action::Step(10),
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
    /// The search: tasks whose name or parked-at await contains it.
    pub search: String,
    /// Whether the search is being typed.
    pub searching: bool,
    /// Which tasks are listed.
    pub filter: Filter,
    /// Their order.
    pub sort: Sort,
}

impl Default for View {
    fn default() -> Self {
        Self {
            tab: Tab::Tasks,
            selected: 0,
            detail: false,
            help: false,
            search: String::new(),
            searching: false,
            filter: Filter::All,
            sort: Sort::State,
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
            Action::Search => {
                self.switch(Tab::Tasks);
                self.searching = true;
            }
            Action::Type(c) => {
                self.search.push(c);
                self.selected = 0;
            }
            Action::Erase => {
                self.search.pop();
                self.selected = 0;
            }
            Action::EndSearch => self.searching = false,
            Action::Filter => {
                self.filter = self.filter.next();
                self.selected = 0;
            }
            Action::Sort => self.sort = self.sort.next(),
            // The replay moves its cursor; the view stays.
            Action::Step(_) => {}
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
            Tab::Tasks => listed(snapshot, self).len(),
            Tab::Resources => snapshot.resources().len(),
            Tab::Deadlocks => snapshot.deadlocks().len(),
        }
    }
}

/// The tasks the table lists, in its order: those the filter and search
/// keep, sorted as the view says (by default blocked first, then idle,
/// then running, each longest in its state first; finished ones last).
pub fn listed<'a>(snapshot: &'a Snapshot, view: &View) -> Vec<&'a TaskInfo> {
    let rank = |state: TaskState| match state {
        TaskState::Blocked => 0,
        TaskState::Idle => 1,
        TaskState::Running => 2,
        _ => 3,
    };
    let search = view.search.to_lowercase();
    let matches = |task: &TaskInfo| {
        search.is_empty()
            || task.name.to_lowercase().contains(&search)
            || task
                .blocked_at()
                .is_some_and(|(_, step)| step.expr.to_lowercase().contains(&search))
    };
    let mut tasks: Vec<&TaskInfo> = snapshot
        .tasks()
        .iter()
        .filter(|t| view.filter.keeps(t.state) && matches(t))
        .collect();
    tasks.sort_by(|a, b| {
        let order = match view.sort {
            Sort::State => rank(a.state)
                .cmp(&rank(b.state))
                .then(a.state_since.cmp(&b.state_since)),
            Sort::Name => a.name.cmp(&b.name),
            Sort::Polls => b.polls.cmp(&a.polls),
            Sort::Age => b.age.cmp(&a.age),
        };
        order.then(a.id.cmp(&b.id))
    });
    tasks
}
