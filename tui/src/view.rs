//! What the person is looking at (the view state), the actions keys map to,
//! and how an action changes the view. Nothing here draws.

use async_inspect_model::breakpoint::Step;
use async_inspect_model::{Snapshot, TaskInfo, TaskState, WaitReason};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::debugger::Command;

/// The tabs, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Every task, blocked ones first.
    Tasks,
    /// Lanes of polls, lock waits and parked awaits over time.
    Timeline,
    /// The wait-for graph around the selected task, and the task tree.
    Graph,
    /// The slowest functions and awaits, lock contention, hot paths.
    Profile,
    /// Every inspected lock, semaphore and channel end.
    Resources,
    /// The deadlocks that stand.
    Deadlocks,
}

impl Tab {
    /// All tabs, in order.
    pub const ALL: [Tab; 6] = [
        Tab::Tasks,
        Tab::Timeline,
        Tab::Graph,
        Tab::Profile,
        Tab::Resources,
        Tab::Deadlocks,
    ];

    /// Whether ↑/↓ walk the tasks of the table on this tab (the tab is
    /// drawn around the selected task).
    pub(crate) fn follows_tasks(self) -> bool {
        matches!(self, Tab::Tasks | Tab::Timeline | Tab::Graph)
    }

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Tasks => "Tasks",
            Tab::Timeline => "Timeline",
            Tab::Graph => "Graph",
            Tab::Profile => "Profile",
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

/// The order of the table: by one of its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Blocked first, then idle, running, finished; longest in its state
    /// first.
    #[default]
    State,
    /// By id (oldest first: ids are never reused).
    Id,
    /// By name.
    Name,
    /// By the await parked on (its expression), tasks parked nowhere last.
    ParkedAt,
    /// Longest in its state first.
    For,
    /// Most polled first.
    Polls,
    /// Oldest first.
    Age,
}

impl Sort {
    /// Every order, as `s` cycles through them.
    pub const ALL: [Sort; 7] = [
        Sort::State,
        Sort::Id,
        Sort::Name,
        Sort::ParkedAt,
        Sort::For,
        Sort::Polls,
        Sort::Age,
    ];

    fn next(self) -> Self {
        let at = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()]
    }

    /// Its name in the table's title.
    pub fn label(self) -> &'static str {
        match self {
            Sort::State => "state",
            Sort::Id => "id",
            Sort::Name => "name",
            Sort::ParkedAt => "parked at",
            Sort::For => "time in state",
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
    /// Go to the wait-for graph around the selected task.
    Graph,
    /// From a task's detail, the task holding what it waits for.
    Holder,
    /// A narrower time window on the timeline.
    ZoomIn,
    /// A wider time window on the timeline.
    ZoomOut,
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
    /// A debugger command on the selected task (live programs only).
    Debug(Command),
}

/// The action of `key` in `view`, if it has one: while a search is typed
/// keys are its characters; in a task's detail `s` and `f` step the task
/// (into calls, out of the current one), in the table they sort and
/// filter.
pub fn action_for(key: KeyEvent, view: &View) -> Option<Action> {
    if view.searching {
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
        KeyCode::Char('g') => Action::Graph,
        KeyCode::Char('h') => Action::Holder,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::ZoomIn,
        KeyCode::Char('-') => Action::ZoomOut,
        KeyCode::Char('/') => Action::Search,
        KeyCode::Char('s') if view.detail => Action::Debug(Command::Go(Step::Into)),
        KeyCode::Char('f') if view.detail => Action::Debug(Command::Go(Step::Out)),
        KeyCode::Char('f') => Action::Filter,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('b') => Action::Debug(Command::Toggle),
        KeyCode::Char('c') => Action::Debug(Command::Continue),
        KeyCode::Char('n') => Action::Debug(Command::Go(Step::Over)),
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
    /// Draw with ASCII only (`--ascii`): no box drawing, arrows or emoji.
    pub ascii: bool,
    /// The timeline's window, an index into [`ZOOMS`](crate::timeline::ZOOMS).
    pub zoom: usize,
    /// The first line of the profile shown.
    pub scroll: usize,
    /// In a replay, the snapshot the cursor is on.
    pub replay_at: Option<usize>,
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
            ascii: false,
            zoom: 2,
            scroll: 0,
            replay_at: None,
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
            Action::Up | Action::Down | Action::PageUp | Action::PageDown
                if self.tab == Tab::Profile =>
            {
                self.scroll = step(self.scroll, action, 10_000);
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown
                if self.tab.follows_tasks() =>
            {
                // Walk the tasks from the graph or the timeline.
                let tasks = listed(snapshot, self).len();
                self.selected = step(self.selected, action, tasks);
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                self.selected = step(self.selected, action, rows);
            }
            Action::Open if self.tab == Tab::Deadlocks => self.open_deadlocked(snapshot),
            Action::Open if matches!(self.tab, Tab::Graph | Tab::Timeline) => {
                // The selected task's detail, from the tabs drawn around it.
                self.switch(Tab::Tasks);
                self.detail = listed(snapshot, self).len() > self.selected;
            }
            Action::Open => self.detail = self.tab == Tab::Tasks && rows > 0,
            Action::Graph => self.switch(Tab::Graph),
            Action::Holder => self.go_to_holder(snapshot),
            Action::ZoomIn => self.zoom = self.zoom.saturating_sub(1),
            Action::ZoomOut => self.zoom = (self.zoom + 1).min(crate::timeline::ZOOMS.len() - 1),
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
            // The replay moves its cursor, the debugger talks to the
            // program; the view stays.
            Action::Step(_) | Action::Debug(_) => {}
        }
        true
    }

    /// From a task's detail: the detail of the task holding what it waits
    /// for (the first lock or channel holder, or the joined task).
    fn go_to_holder(&mut self, snapshot: &Snapshot) {
        if !(self.tab == Tab::Tasks && self.detail) {
            return;
        }
        let Some(task) = listed(snapshot, self).get(self.selected).copied() else {
            return;
        };
        let holder = task.waits.iter().find_map(|wait| match &wait.reason {
            WaitReason::Lock { holders, .. } | WaitReason::Channel { holders, .. } => {
                holders.first().map(|h| h.task)
            }
            WaitReason::Join { task } => Some(*task),
            _ => None,
        });
        let Some(holder) = holder else {
            return;
        };
        self.filter = Filter::All;
        self.search.clear();
        if let Some(row) = listed(snapshot, self).iter().position(|t| t.id == holder) {
            self.selected = row;
        }
    }

    /// From the Deadlocks tab: the selected task of a cycle, its detail.
    fn open_deadlocked(&mut self, snapshot: &Snapshot) {
        let Some(&(task, _)) = deadlocked(snapshot).get(self.selected) else {
            return;
        };
        // It must be listed to be shown.
        self.filter = Filter::All;
        self.search.clear();
        self.tab = Tab::Tasks;
        if let Some(row) = listed(snapshot, self).iter().position(|t| t.id == task) {
            self.selected = row;
            self.detail = true;
        }
    }

    fn switch(&mut self, tab: Tab) {
        // Between the tabs drawn around the selected task, it stays.
        let keep = self.tab.follows_tasks() && tab.follows_tasks();
        self.tab = tab;
        if !keep {
            self.selected = 0;
        }
        self.detail = false;
    }

    /// How many rows the tab's table has.
    fn rows(&self, snapshot: &Snapshot) -> usize {
        match self.tab {
            Tab::Tasks => listed(snapshot, self).len(),
            Tab::Resources => snapshot.resources().len(),
            // These follow the task selected in the table.
            Tab::Graph | Tab::Timeline => listed(snapshot, self).len(),
            Tab::Profile => 0,
            Tab::Deadlocks => deadlocked(snapshot).len(),
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
    let mut tasks: Vec<&TaskInfo> = snapshot
        .tasks()
        .iter()
        .filter(|t| view.filter.keeps(t.state) && t.matches(&search))
        .collect();
    let parked = |t: &TaskInfo| t.blocked_at().map(|(_, step)| step.expr.to_string());
    tasks.sort_by(|a, b| {
        let order = match view.sort {
            Sort::State => rank(a.state)
                .cmp(&rank(b.state))
                .then(a.state_since.cmp(&b.state_since)),
            Sort::Id => a.id.cmp(&b.id),
            Sort::Name => a.name.cmp(&b.name),
            Sort::ParkedAt => match (parked(a), parked(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            // Since longest ago: longest in its state.
            Sort::For => a.state_since.cmp(&b.state_since),
            Sort::Polls => b.polls.cmp(&a.polls),
            Sort::Age => b.age.cmp(&a.age),
        };
        order.then(a.id.cmp(&b.id))
    });
    tasks
}

/// The tasks of the standing deadlocks, cycle by cycle: the Deadlocks
/// tab's rows, with the index of their deadlock.
pub fn deadlocked(snapshot: &Snapshot) -> Vec<(async_inspect_model::TaskId, usize)> {
    snapshot
        .deadlocks()
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.cycle.iter().map(move |link| (link.task, i)))
        .collect()
}

/// The row `action` moves to from `selected`, within `rows`.
fn step(selected: usize, action: Action, rows: usize) -> usize {
    let last = rows.saturating_sub(1);
    match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::PageUp => selected.saturating_sub(10),
        Action::PageDown => (selected + 10).min(last),
        _ => selected,
    }
}
