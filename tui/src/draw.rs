//! Drawing: the header, the tabs, and each tab's table or text, from the
//! snapshot and the view state. Nothing here changes either.

use async_inspect_core::snapshot::format_duration;
use async_inspect_core::{Snapshot, TaskState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap};

use crate::view::{Tab, View, listed};

/// Draws the whole screen: `title` names the program (or the recording).
pub fn draw(frame: &mut Frame<'_>, title: &str, snapshot: &Snapshot, view: &View) {
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(header_line(title, snapshot), header);
    let selected = Tab::ALL.iter().position(|t| *t == view.tab).unwrap_or(0);
    let titles = Tab::ALL.iter().map(|t| t.title());
    frame.render_widget(Tabs::new(titles).select(selected), tabs);
    match view.tab {
        Tab::Tasks if view.detail => task_detail(frame, body, snapshot, view),
        Tab::Tasks => tasks(frame, body, snapshot, view),
        Tab::Resources => resources(frame, body, snapshot, view),
        Tab::Deadlocks => deadlocks(frame, body, snapshot),
    }
    let keys = "Enter detail · / search · f filter · s sort · d deadlocks · ? keys · q quit";
    frame.render_widget(
        Paragraph::new(keys).style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    if view.help {
        help(frame, body);
    }
}

fn header_line<'a>(title: &'a str, snapshot: &Snapshot) -> Line<'a> {
    let count = |state| snapshot.tasks().iter().filter(|t| t.state == state).count();
    let mut spans = vec![
        Span::styled("async-inspect", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " · {title} · pid {} · {} running, {} blocked, {} idle",
            snapshot.pid(),
            count(TaskState::Running),
            count(TaskState::Blocked),
            count(TaskState::Idle),
        )),
    ];
    let deadlocks = snapshot.deadlocks().len();
    if deadlocks > 0 {
        spans.push(Span::styled(
            format!(" · 💀 {deadlocks} deadlock(s) (d)"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    let lints = snapshot.lints().len();
    if lints > 0 {
        spans.push(Span::styled(
            format!(" · ⚠ {lints} lint(s)"),
            Style::new().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
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
    let rows = listed(snapshot, view).into_iter().map(|task| {
        let at = match task.blocked_at() {
            Some((_, step)) => format!("{}.await  {}", step.expr, step.location),
            None => task
                .waits
                .first()
                .map_or_else(String::new, |_| "waiting".to_owned()),
        };
        Row::new([
            task.id.to_string(),
            task.state.label().to_owned(),
            task.name.to_string(),
            at,
            format_duration(task.in_state_for(snapshot)).to_string(),
            task.polls.to_string(),
        ])
        .style(state_style(task.state))
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Percentage(25),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(["ID", "STATE", "NAME", "PARKED AT", "FOR", "POLLS"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(Block::new().borders(Borders::TOP).title(tasks_title(view)));
    let mut state = TableState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// "showing blocked, sorted by polls, matching `fetch`".
fn tasks_title(view: &View) -> String {
    let mut title = format!(
        " showing {} · sorted by {} ",
        view.filter.label(),
        view.sort.label()
    );
    if view.searching || !view.search.is_empty() {
        let cursor = if view.searching { "▏" } else { "" };
        title.push_str(&format!("· /{}{cursor} ", view.search));
    }
    title
}

fn task_detail(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, view: &View) {
    let Some(task) = listed(snapshot, view).get(view.selected).map(|t| t.id) else {
        return;
    };
    let mut only = snapshot.clone();
    only.retain_tree(task);
    only.retain_tasks(|t| t.id == task);
    // The report's section of this task, without its header line.
    let text = only.to_string();
    let section: String = text.lines().skip(2).collect::<Vec<_>>().join("\n");
    let title = format!(" task #{task} (Esc: back) ");
    let detail = Paragraph::new(section)
        .block(Block::new().borders(Borders::TOP).title(title))
        .wrap(Wrap { trim: false });
    frame.render_widget(detail, area);
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
    .block(Block::new().borders(Borders::TOP));
    let mut state = TableState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn deadlocks(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot) {
    let text = if snapshot.deadlocks().is_empty() {
        "No deadlock.".to_owned()
    } else {
        snapshot
            .deadlocks()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let paragraph = Paragraph::new(text)
        .style(Style::new().fg(Color::Red))
        .block(Block::new().borders(Borders::TOP))
        .wrap(Wrap { trim: false });
    frame.render_widget(paragraph, area);
}

fn help(frame: &mut Frame<'_>, area: Rect) {
    let text = "\
←/→, Tab     switch tabs (Tasks, Resources, Deadlocks)
↑/↓, j/k     select a row; PgUp/PgDn ten rows
Enter        the selected task: its stack, the await it is parked on, its waits and locks
Esc          back
/            search tasks by name or by the await they are parked on
f, s         filter by state; sort by state, name, polls, age
d            the deadlocks
?            this help
q, Ctrl-C    quit";
    let width = area.width.min(90);
    let height = area.height.min(12);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::new().borders(Borders::ALL).title(" keys ");
    frame.render_widget(Paragraph::new(text).block(block), popup);
}
