//! Drawing: the header, the tabs, and each tab's table or text, from the
//! snapshot and the view state. Nothing here changes either.

use async_inspect_model::format_duration;
use async_inspect_model::{Snapshot, TaskState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap};

use async_inspect_model::trace_file::Trace;

use crate::recorded::Recorded;
use crate::timeline::ZOOMS;
use crate::view::{Sort, Tab, View, deadlocked, listed};

/// Draws the whole screen: `title` names the program (or the recording).
/// Without recorded events the Timeline and Profile tabs say how to get
/// them; see [`draw_with`].
pub fn draw(frame: &mut Frame<'_>, title: &str, snapshot: &Snapshot, view: &View) {
    draw_with(frame, title, snapshot, None, view);
}

/// [`draw`], with the recorded events the Timeline and Profile tabs draw.
pub fn draw_with(
    frame: &mut Frame<'_>,
    title: &str,
    snapshot: &Snapshot,
    recorded: Option<&Recorded>,
    view: &View,
) {
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let activity = match recorded {
        Some(recorded) if view.replay_at.is_some() => {
            recorded.activity_until(view.replay_at.unwrap_or(0))
        }
        Some(recorded) => recorded.activity().to_vec(),
        None => Vec::new(),
    };
    frame.render_widget(header_line(title, snapshot, &activity, view.ascii), header);
    let selected = Tab::ALL.iter().position(|t| *t == view.tab).unwrap_or(0);
    let titles = Tab::ALL.iter().map(|t| t.title());
    let divider = if view.ascii { "|" } else { "│" };
    frame.render_widget(Tabs::new(titles).select(selected).divider(divider), tabs);
    match view.tab {
        Tab::Tasks if view.detail => task_detail(frame, body, snapshot, recorded, view),
        Tab::Tasks => tasks(frame, body, snapshot, view),
        Tab::Resources => resources(frame, body, snapshot, view),
        Tab::Graph => graph(frame, body, snapshot, view),
        Tab::Timeline => timeline(frame, body, snapshot, recorded, view),
        Tab::Profile => profile(frame, body, recorded, view),
        Tab::Deadlocks => deadlocks(frame, body, snapshot, view),
    }
    let keys = "Enter detail · g graph · / search · f filter · s sort · ? keys · q quit";
    let keys = shown(view, keys);
    frame.render_widget(
        Paragraph::new(keys).style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    if view.help {
        help(frame, body, view);
    }
}

/// A top border drawn with `-` in ASCII mode.
fn top_block(view: &View) -> Block<'static> {
    let block = Block::new().borders(Borders::TOP);
    if view.ascii {
        block.border_set(ASCII_BORDER)
    } else {
        block
    }
}

const ASCII_BORDER: symbols::border::Set = symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// `text` as the view draws it: as is, or in ASCII with `--ascii`.
fn shown(view: &View, text: impl Into<String>) -> String {
    let text = text.into();
    if view.ascii { to_ascii(&text) } else { text }
}

/// `text` with its box drawing, arrows, marks and emoji in ASCII.
pub(crate) fn to_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '│' | '┃' => out.push('|'),
            '└' | '├' | '┌' | '┐' | '┘' | '┤' | '┬' | '┴' | '┼' => out.push('+'),
            '─' | '━' => out.push('-'),
            '◄' => out.push('<'),
            '►' | '▶' => out.push('>'),
            '✓' => out.push('v'),
            '■' => out.push('#'),
            '✗' => out.push('x'),
            '○' => out.push('o'),
            '↺' => out.push('@'),
            '▼' => out.push('v'),
            '→' => out.push_str("->"),
            '←' => out.push_str("<-"),
            '↑' => out.push('^'),
            '·' => out.push('-'),
            '…' => out.push_str("..."),
            '⚠' => out.push('!'),
            '💀' => out.push_str("XX"),
            '▏' => out.push('_'),
            'µ' => out.push('u'),
            '×' => out.push('x'),
            c if c.is_ascii() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// `values` as a sparkline, one character each, scaled to the largest.
pub(crate) fn sparkline(values: &[u64], ascii: bool) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII_BARS: [char; 8] = ['_', '.', '.', '-', '-', '=', '=', '#'];
    let bars = if ascii { ASCII_BARS } else { BARS };
    let top = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| bars[(v * 7).div_ceil(top).min(7) as usize])
        .collect()
}

fn header_line<'a>(title: &'a str, snapshot: &Snapshot, activity: &[u64], ascii: bool) -> Line<'a> {
    let count = |state| snapshot.tasks().iter().filter(|t| t.state == state).count();
    let live = snapshot
        .tasks()
        .iter()
        .filter(|t| !t.state.is_finished())
        .count();
    // What must be seen comes first: a narrow terminal cuts the rest.
    let mut spans = vec![Span::styled(
        "async-inspect",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    let deadlocks = snapshot.deadlocks().len();
    if deadlocks > 0 {
        let skull = if ascii { "XX" } else { "💀" };
        spans.push(Span::styled(
            format!(" · {skull} {deadlocks} deadlock(s) (d)"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::raw(format!(
        " · {live} tasks: {} running, {} blocked, {} idle",
        count(TaskState::Running),
        count(TaskState::Blocked),
        count(TaskState::Idle),
    )));
    let lints = snapshot.lints().len();
    if lints > 0 {
        spans.push(Span::styled(
            format!(" · ⚠ {lints} lint(s)"),
            Style::new().fg(Color::Yellow),
        ));
    }
    let dropped = snapshot.counters().events_dropped;
    if dropped > 0 {
        spans.push(Span::styled(
            format!(" · {dropped} events dropped"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if activity.len() > 1 {
        spans.push(Span::styled(
            format!(" {}", sparkline(activity, ascii)),
            Style::new().fg(Color::Cyan),
        ));
    }
    spans.push(Span::raw(format!(
        " · {title} · pid {} · up {}",
        snapshot.pid(),
        format_duration(snapshot.taken_at()),
    )));
    if ascii {
        for span in &mut spans {
            span.content = to_ascii(&span.content).into();
        }
    }
    Line::from(spans)
}

/// A mark per state, so that state reads without colour too.
fn state_icon(state: TaskState) -> char {
    match state {
        TaskState::Running => '▶',
        TaskState::Blocked => '■',
        TaskState::Idle => '○',
        TaskState::Done => '✓',
        TaskState::Panicked => '✗',
        _ => '·',
    }
}

fn state_style(state: TaskState) -> Style {
    match state {
        TaskState::Blocked => Style::new().fg(Color::Red),
        TaskState::Running => Style::new().fg(Color::Green),
        TaskState::Panicked => Style::new().fg(Color::Magenta),
        _ => Style::new(),
    }
}

fn tasks(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, view: &View) {
    let listed = listed(snapshot, view);
    // Only the rows on screen are built: a table of 100 000 tasks draws as
    // fast as one of forty. The border and the header take two lines.
    let height = usize::from(area.height.saturating_sub(2)).max(1);
    let selected = view.selected.min(listed.len().saturating_sub(1));
    let first = window_start(selected, height, listed.len());
    let end = listed.len().min(first + height);
    let in_deadlock: std::collections::HashSet<_> = deadlocked(snapshot)
        .into_iter()
        .map(|(task, _)| task)
        .collect();
    let rows = listed[first..end].iter().map(|task| {
        // Where it is parked (the lock and its holder for a lock wait),
        // else where it was spawned.
        let at = match task.parked_at() {
            Some(at) => at,
            None if !task.waits.is_empty() => "waiting".to_owned(),
            None => format!("spawned at {}", task.location),
        };
        let busy = if task.age.is_zero() {
            0.0
        } else {
            100.0 * task.busy.as_secs_f64() / task.age.as_secs_f64()
        };
        let paused = task.paused_at();
        // A deadlocked row says so in words, not only in colour.
        let state = match paused {
            Some(breakpoint) => format!("{} PAUSED b{breakpoint}", state_icon(task.state)),
            None if in_deadlock.contains(&task.id) => {
                format!("{} DEADLOCK", state_icon(task.state))
            }
            // Nothing can poll it again (its waker is gone): a lint.
            None if task.unwakeable() => format!("{} NO WAKER", state_icon(task.state)),
            None => format!("{} {}", state_icon(task.state), task.state.label()),
        };
        let cells = [
            task.id.to_string(),
            state,
            task.name.to_string(),
            at,
            format_duration(task.in_state_for(snapshot)).to_string(),
            task.polls.to_string(),
            task.wakes.to_string(),
            format!("{busy:.0}%"),
        ];
        let cells = cells.map(|c| if view.ascii { to_ascii(&c) } else { c });
        let style = match paused {
            // A paused task stands out: someone is looking at it.
            Some(_) => Style::new()
                .fg(Color::Black)
                .bg(Color::LightYellow)
                .add_modifier(Modifier::BOLD),
            None if in_deadlock.contains(&task.id) || task.unwakeable() => {
                state_style(task.state).add_modifier(Modifier::BOLD)
            }
            None => state_style(task.state),
        };
        Row::new(cells).style(style)
    });
    let marker = if view.ascii { " v" } else { " ▼" };
    let sorted_column = match view.sort {
        Sort::State => 1,
        Sort::Id => 0,
        Sort::Name => 2,
        Sort::ParkedAt => 3,
        Sort::For => 4,
        Sort::Polls => 5,
        Sort::Age => usize::MAX,
    };
    let header = [
        "ID",
        "STATE",
        "NAME",
        "PARKED AT",
        "FOR",
        "POLLS",
        "WAKES",
        "BUSY",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| {
        if i == sorted_column {
            format!("{name}{marker}")
        } else {
            (*name).to_owned()
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(11),
            Constraint::Percentage(18),
            Constraint::Fill(1),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(5),
        ],
    )
    .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(top_block(view).title(tasks_title(view, first, end, listed.len())));
    let mut state = TableState::default().with_selected(Some(selected - first));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The first row shown so that `selected` is on screen: whole screens at a
/// time, so the table does not shift under the cursor as it moves.
fn window_start(selected: usize, height: usize, rows: usize) -> usize {
    let first = selected - selected % height;
    first.min(rows.saturating_sub(height))
}

/// "showing blocked, sorted by polls, matching `fetch`".
fn tasks_title(view: &View, first: usize, end: usize, rows: usize) -> String {
    let mut title = format!(
        " showing {} · sorted by {} ",
        view.filter.label(),
        view.sort.label()
    );
    if view.searching || !view.search.is_empty() {
        let cursor = if view.searching { "▏" } else { "" };
        title.push_str(&format!("· /{}{cursor} ", view.search));
    }
    if rows > 0 {
        title.push_str(&format!("· {}–{end} of {rows} ", first + 1));
    }
    if view.ascii { to_ascii(&title) } else { title }
}

fn task_detail(
    frame: &mut Frame<'_>,
    area: Rect,
    snapshot: &Snapshot,
    recorded: Option<&Recorded>,
    view: &View,
) {
    let Some(task) = listed(snapshot, view).get(view.selected).map(|t| t.id) else {
        return;
    };
    let mut only = snapshot.clone();
    only.retain_tree(task);
    only.retain_tasks(|t| t.id == task);
    // The report's section of this task, without its header line.
    let text = only.to_string();
    let mut section: String = text.lines().skip(2).collect::<Vec<_>>().join("\n");
    section.push_str(&family(snapshot, task));
    if let Some(recorded) = recorded {
        section.push_str(&poll_histogram(recorded, task));
    }
    let title =
        format!(" task {task} (Esc: back · g: its graph · h: the holder of what it waits for) ");
    let title = shown(view, title);
    let section = shown(view, section);
    let detail = Paragraph::new(section)
        .block(top_block(view).title(title))
        .wrap(Wrap { trim: false });
    frame.render_widget(detail, area);
}

/// "parent #1 main · children #4 handle_request, #5 …".
fn family(snapshot: &Snapshot, task: async_inspect_model::TaskId) -> String {
    let name = |id| {
        snapshot
            .task(id)
            .map_or_else(|| id.to_string(), |t| format!("{id} {}", t.name))
    };
    let parent = snapshot
        .task(task)
        .and_then(|t| t.parent)
        .map_or_else(|| "none".to_owned(), name);
    let children: Vec<String> = snapshot
        .tasks()
        .iter()
        .filter(|t| t.parent == Some(task))
        .map(|t| name(t.id))
        .collect();
    let children = if children.is_empty() {
        "none".to_owned()
    } else {
        children.join(", ")
    };
    format!("\n\nparent: {parent} · children: {children}")
}

/// The recorded polls of `task` by duration, as counts per bucket.
fn poll_histogram(recorded: &Recorded, task: async_inspect_model::TaskId) -> String {
    const BUCKETS: [(u64, &str); 5] = [
        (10_000, "<10µs"),
        (100_000, "<100µs"),
        (1_000_000, "<1ms"),
        (10_000_000, "<10ms"),
        (u64::MAX, "≥10ms"),
    ];
    let id = task.as_u64();
    let mut counts = [0u64; BUCKETS.len()];
    let mut polls = 0;
    for event in &recorded.trace().events {
        if let async_inspect_model::event::Event::Poll { task, start, end } = event
            && *task == id
        {
            let took = end.saturating_sub(*start);
            let bucket = BUCKETS
                .iter()
                .position(|(below, _)| took < *below)
                .unwrap_or(4);
            counts[bucket] += 1;
            polls += 1;
        }
    }
    if polls == 0 {
        return "\nrecorded polls: none (short polls are recorded with --all-polls)".to_owned();
    }
    let cells: Vec<String> = BUCKETS
        .iter()
        .zip(counts)
        .map(|((_, label), n)| format!("{label} {n}"))
        .collect();
    format!("\nrecorded polls by duration: {}", cells.join(" · "))
}

fn resources(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, view: &View) {
    let rows = snapshot.resources().iter().map(|r| {
        let holders: Vec<String> = r.holders.iter().map(|h| h.task.to_string()).collect();
        Row::new([
            r.resource.kind.to_string(),
            r.resource.name.clone(),
            holders.join(" "),
            r.waiters.to_string(),
            r.acquisitions.to_string(),
            r.contended.to_string(),
            format_duration(r.max_wait).to_string(),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Fill(1),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new([
            "KIND",
            "NAME",
            "HELD BY",
            "WAITERS",
            "TAKEN",
            "CONTENDED",
            "MAX WAIT",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(top_block(view));
    let mut state = TableState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn graph(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, view: &View) {
    let text = match listed(snapshot, view).get(view.selected) {
        Some(task) => crate::graph::lines(snapshot, task.id).join("\n"),
        None => "No task selected: pick one in the Tasks tab.".to_owned(),
    };
    let paragraph = Paragraph::new(shown(view, text))
        .block(top_block(view).title(shown(view, " ↑/↓ another task · Enter its detail ")))
        .wrap(Wrap { trim: false });
    frame.render_widget(paragraph, area);
}

fn timeline(
    frame: &mut Frame<'_>,
    area: Rect,
    snapshot: &Snapshot,
    recorded: Option<&Recorded>,
    view: &View,
) {
    let listed = listed(snapshot, view);
    let lanes = usize::from(area.height.saturating_sub(3));
    let from = view.selected.min(listed.len().saturating_sub(1));
    let tasks = &listed[from.min(listed.len())..listed.len().min(from + lanes)];
    let empty = Trace::new(0, "", std::time::Duration::ZERO);
    let trace = recorded.map_or(&empty, Recorded::trace);
    let window = ZOOMS[view.zoom.min(ZOOMS.len() - 1)];
    let text = crate::timeline::lines(
        trace,
        snapshot,
        tasks,
        window,
        usize::from(area.width),
        view.ascii,
    )
    .join("\n");
    frame.render_widget(
        Paragraph::new(shown(view, text)).block(top_block(view)),
        area,
    );
}

fn profile(frame: &mut Frame<'_>, area: Rect, recorded: Option<&Recorded>, view: &View) {
    let text = match recorded.and_then(Recorded::profile) {
        Some(profile) if profile.events > 0 => profile.report(20).to_string(),
        _ => "No events recorded yet: the profile needs a recording with events \
              (async-inspect record, run --record) or a live view."
            .to_owned(),
    };
    let scroll = u16::try_from(view.scroll).unwrap_or(u16::MAX);
    let paragraph = Paragraph::new(shown(view, text))
        .block(top_block(view).title(shown(view, " the whole recording · ↑/↓ scroll ")))
        .scroll((scroll, 0));
    frame.render_widget(paragraph, area);
}

fn deadlocks(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, view: &View) {
    if snapshot.deadlocks().is_empty() {
        let paragraph = Paragraph::new("No deadlock.").block(top_block(view));
        frame.render_widget(paragraph, area);
        return;
    }
    // The tasks of each cycle, to pick one and open it; the reports below.
    let rows = deadlocked(snapshot);
    let [table_area, text_area] = Layout::vertical([
        Constraint::Length(u16::try_from(rows.len() + 1).unwrap_or(u16::MAX)),
        Constraint::Min(1),
    ])
    .areas(area);
    let table_rows = rows.iter().map(|&(task, cycle)| {
        let link = snapshot.deadlocks()[cycle]
            .cycle
            .iter()
            .find(|l| l.task == task);
        let waits = link.map_or_else(String::new, |l| {
            let what = l.resource.as_ref().map_or_else(
                || "a task".to_owned(),
                |r| format!("{} `{}`", r.kind, r.name),
            );
            let at = l
                .waits_at
                .as_ref()
                .map_or_else(String::new, |w| format!(" at {w}"));
            format!("waits for {what}{at}, held by {}", l.held_by)
        });
        let name = link.map_or_else(String::new, |l| l.task_name.clone());
        let cells = [
            format!("cycle {}", cycle + 1),
            task.to_string(),
            name,
            waits,
        ];
        Row::new(cells.map(|c| if view.ascii { to_ascii(&c) } else { c }))
    });
    let title = " Enter: the selected task's stack and locks ";
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(20),
            Constraint::Fill(1),
        ],
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .style(Style::new().fg(Color::Red))
    .block(top_block(view).title(title));
    let mut state = TableState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
    let text = snapshot
        .deadlocks()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let text = shown(view, text);
    let paragraph = Paragraph::new(text)
        .style(Style::new().fg(Color::Red))
        .block(top_block(view))
        .wrap(Wrap { trim: false });
    frame.render_widget(paragraph, text_area);
}

fn help(frame: &mut Frame<'_>, area: Rect, view: &View) {
    let text = "\
←/→, Tab     switch tabs (Tasks, Timeline, Graph, Profile, Resources, Deadlocks)
↑/↓, j/k     select a row; PgUp/PgDn ten rows
Enter        the selected task: its stack, the await it is parked on, its waits and locks
g            the wait-for graph from the selected task, and its task tree
h            in a task's detail: the task holding what it waits for
+ -          on the timeline: a narrower or wider time window
Esc          back
/            search tasks by name or by the await they are parked on
f            filter by state: all, blocked, running, idle, finished
s            sort by the next column: state, id, name, parked at, time in state, polls, age
d            the deadlocks: ↑/↓ a task of a cycle, Enter its stack and locks
b            a breakpoint at the await the selected task is parked on (again: remove it)
c            let the selected paused task go on
n            step it to its next await in the same call (timers keep running)
s, f         in a task's detail: step into calls; step out of the current call
, . < >      in a replay: one snapshot back or on; ten
?            this help
q, Ctrl-C    quit";
    let text = shown(view, text);
    let width = area.width.min(96);
    let height = area.height.min(21);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::new().borders(Borders::ALL).title(" keys ");
    let block = if view.ascii {
        block.border_set(ASCII_BORDER)
    } else {
        block
    };
    frame.render_widget(Paragraph::new(text).block(block), popup);
}
