//! Every screen rendered on a fixed-size test terminal from a fixed model
//! (snapshots of the `stuck_request` and `deadlock` examples), and the keys
//! walked on the view state without drawing.

use async_inspect_model::Snapshot;
use async_inspect_tui::{
    Action, Filter, Recorded, Sort, Tab, View, action_for, draw, draw_with, listed,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[path = "fixtures/many.rs"]
mod many;

use many::many_tasks;

/// Selects task `id` in the table.
fn select(view: &mut View, snapshot: &Snapshot, id: async_inspect_model::TaskId) {
    view.selected = listed(snapshot, view)
        .iter()
        .position(|t| t.id == id)
        .expect("the task is listed");
}

fn fixture(name: &str) -> Snapshot {
    let path = format!(
        "{}/../model/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The screen's text, row by row.
fn render(snapshot: &Snapshot, view: &View, width: u16, height: u16) -> String {
    screen_of(snapshot, None, view, width, height)
}

/// [`render`] with recorded events.
fn render_with(
    snapshot: &Snapshot,
    recorded: &Recorded,
    view: &View,
    width: u16,
    height: u16,
) -> String {
    screen_of(snapshot, Some(recorded), view, width, height)
}

fn screen_of(
    snapshot: &Snapshot,
    recorded: Option<&Recorded>,
    view: &View,
    width: u16,
    height: u16,
) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| match recorded {
            Some(recorded) => draw_with(frame, "fixture", snapshot, Some(recorded), view),
            None => draw(frame, "fixture", snapshot, view),
        })
        .unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_task_table_lists_blocked_tasks_first_with_where_they_are_parked() {
    let snapshot = fixture("stuck_request");
    let screen = render(&snapshot, &View::default(), 120, 20);
    assert!(
        screen.contains("STATE") && screen.contains("PARKED AT"),
        "{screen}"
    );
    let first_row = screen.lines().nth(4).unwrap();
    assert!(first_row.contains("BLOCKED"), "{screen}");
    assert!(
        screen.contains("reply_rx.await  examples/stuck_request.rs:"),
        "{screen}"
    );
    assert!(screen.contains("3 blocked"), "{screen}");
    insta::assert_snapshot!("tasks", screen);
}

#[test]
fn the_detail_shows_the_stack_down_to_the_stuck_await() {
    let snapshot = fixture("stuck_request");
    let mut view = View::default();
    let row = listed(&snapshot, &view)
        .iter()
        .position(|t| t.name == "handle_request")
        .unwrap();
    for _ in 0..row {
        assert!(view.apply(Action::Down, &snapshot));
    }
    view.apply(Action::Open, &snapshot);
    assert!(view.detail);
    let screen = render(&snapshot, &view, 120, 30);
    assert!(screen.contains("handle_request(user_id=12345)"), "{screen}");
    // Each frame at the await it is suspended at, with its step.
    let handle = &snapshot
        .tasks()
        .iter()
        .find(|t| t.name == "handle_request")
        .unwrap();
    for frame in &handle.frames {
        let step = frame.current_await().unwrap();
        assert!(
            screen.contains(&format!(
                "   {}   step {}/{} · fn at line {}",
                step.location, step.step, step.of, frame.location.line
            )),
            "{} at {}: {screen}",
            frame.function,
            step.location
        );
    }
    assert!(
        screen.contains("└─> call_backend(service=\"posts\", key=\"user-12345\")"),
        "{screen}"
    );
    assert!(screen.contains("reply_rx.await ◄─── BLOCKED"), "{screen}");
    assert!(
        screen.contains("Timeout: None (will wait forever!)"),
        "{screen}"
    );
    assert!(
        !screen.contains("cache refresher"),
        "only this task: {screen}"
    );
    insta::assert_snapshot!("detail", screen);
    view.apply(Action::Back, &snapshot);
    assert!(!view.detail);
}

#[test]
fn a_deadlock_is_flagged_and_d_goes_to_it() {
    let snapshot = fixture("deadlock");
    let mut view = View::default();
    let screen = render(&snapshot, &view, 100, 24);
    assert!(
        screen.contains("💀") && screen.contains("1 deadlock(s) (d)"),
        "{screen}"
    );
    // Each task of the cycle is marked in its row, in words, and parked at
    // the lock it waits for, its holder and its lock() line.
    let wide = render(&snapshot, &view, 150, 24);
    for link in &snapshot.deadlocks()[0].cycle {
        let row = wide
            .lines()
            .find(|l| l.trim_start().starts_with(&link.task.to_string()))
            .unwrap_or_else(|| panic!("a row for {}: {wide}", link.task));
        assert!(row.contains("DEADLOCK"), "{row}");
        let name = &link.resource.as_ref().unwrap().name;
        assert!(
            row.contains(&format!("Mutex `{name}` held by {}", link.held_by)),
            "{row}"
        );
        assert!(row.contains("examples/deadlock.rs:17:"), "{row}");
    }
    let main_row = wide.lines().find(|l| l.contains(" main ")).unwrap();
    assert!(!main_row.contains("DEADLOCK"), "{main_row}");
    view.apply(Action::Deadlocks, &snapshot);
    assert_eq!(view.tab, Tab::Deadlocks);
    let screen = render(&snapshot, &view, 100, 24);
    assert!(
        screen.contains("DEADLOCK DETECTED: 2 tasks wait for each other forever"),
        "{screen}"
    );
    assert!(screen.contains("Cycle: Task"), "{screen}");
    insta::assert_snapshot!("deadlocks", screen);

    // From the flag to each task of the cycle, its stack and its locks.
    let cycle: Vec<_> = snapshot.deadlocks()[0]
        .cycle
        .iter()
        .map(|l| l.task)
        .collect();
    assert_eq!(cycle.len(), 2);
    for (row, task) in cycle.iter().enumerate() {
        view.apply(Action::Deadlocks, &snapshot);
        for _ in 0..row {
            view.apply(Action::Down, &snapshot);
        }
        view.apply(Action::Open, &snapshot);
        assert_eq!(view.tab, Tab::Tasks);
        assert!(view.detail);
        assert_eq!(listed(&snapshot, &view)[view.selected].id, *task);
        let detail = render(&snapshot, &view, 110, 30);
        assert!(detail.contains("transfer("), "its stack: {detail}");
        assert!(detail.contains("to.lock().await ◄─── BLOCKED"), "{detail}");
        assert!(
            detail.contains("held by Task #"),
            "who holds the lock: {detail}"
        );
        assert!(
            detail.contains("holds Mutex `"),
            "the lock it holds: {detail}"
        );
    }

    // A task outside the cycle shows no deadlock in its detail.
    let mut view = View::default();
    let main = snapshot
        .tasks()
        .iter()
        .find(|t| t.name == "main")
        .unwrap()
        .id;
    select(&mut view, &snapshot, main);
    view.apply(Action::Open, &snapshot);
    let detail = render(&snapshot, &view, 110, 30);
    assert!(!detail.contains("DEADLOCK"), "{detail}");
}

#[test]
fn resources_list_every_lock_with_its_holder() {
    let snapshot = fixture("deadlock");
    let view = View {
        tab: Tab::Resources,
        ..View::default()
    };
    let screen = render(&snapshot, &view, 100, 24);
    assert!(screen.contains("KIND"), "{screen}");
    assert!(
        screen.contains("Mutex") && screen.contains("alice") && screen.contains("bob"),
        "{screen}"
    );
}

#[test]
fn keys_walk_the_view_within_bounds() {
    let snapshot = fixture("stuck_request");
    let mut view = View::default();
    view.apply(Action::Up, &snapshot);
    assert_eq!(view.selected, 0, "not above the first row");
    for _ in 0..100 {
        view.apply(Action::Down, &snapshot);
    }
    assert_eq!(
        view.selected,
        snapshot.tasks().len() - 1,
        "not below the last"
    );
    let last = view.selected;
    view.apply(Action::NextTab, &snapshot);
    assert_eq!(
        (view.tab, view.selected),
        (Tab::Timeline, last),
        "the timeline follows the selected task"
    );
    for _ in 0..3 {
        view.apply(Action::NextTab, &snapshot);
    }
    assert_eq!((view.tab, view.selected), (Tab::Resources, 0));
    for _ in 0..5 {
        view.apply(Action::PrevTab, &snapshot);
    }
    assert_eq!(view.tab, Tab::Deadlocks, "wraps around");
    view.apply(Action::Help, &snapshot);
    assert!(view.help);
    let screen = render(&snapshot, &view, 100, 24);
    assert!(screen.contains("switch tabs"), "{screen}");
    view.apply(Action::Back, &snapshot);
    assert!(!view.help);
    assert!(!view.apply(Action::Quit, &snapshot));
}

#[test]
fn the_screen_fits_80_by_24() {
    let snapshot = fixture("stuck_request");
    let screen = render(&snapshot, &View::default(), 80, 24);
    assert_eq!(screen.lines().count(), 24);
    assert!(screen.lines().all(|l| l.chars().count() <= 80));
    assert!(screen.contains("q quit"), "{screen}");
}

#[test]
fn search_filter_and_sort_narrow_and_order_the_table() {
    let snapshot = fixture("stuck_request");
    let mut view = View::default();
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    // `/` then typing: the keys are the search's characters.
    let slash = action_for(key(KeyCode::Char('/')), &view).unwrap();
    view.apply(slash, &snapshot);
    assert!(view.searching);
    for c in "REPLY".chars() {
        let typed = action_for(key(KeyCode::Char(c)), &view).unwrap();
        assert_eq!(
            typed,
            Action::Type(c),
            "q and f are letters while searching"
        );
        view.apply(typed, &snapshot);
    }
    let names: Vec<&str> = listed(&snapshot, &view)
        .iter()
        .map(|t| t.name.as_ref())
        .collect();
    assert_eq!(
        names,
        ["handle_request", "handle_with_deadline"],
        "by the await they are parked on"
    );
    let screen = render(&snapshot, &view, 120, 20);
    assert!(screen.contains("/REPLY"), "{screen}");
    view.apply(Action::EndSearch, &snapshot);
    for _ in 0..5 {
        view.apply(Action::Erase, &snapshot);
    }
    assert_eq!(listed(&snapshot, &view).len(), snapshot.tasks().len());

    view.apply(Action::Filter, &snapshot);
    assert_eq!(view.filter, Filter::Blocked);
    assert!(
        listed(&snapshot, &view)
            .iter()
            .all(|t| t.state == async_inspect_model::TaskState::Blocked)
    );
    view.filter = Filter::All;

    // `s` walks every column; each orders the table by it.
    for expected in &Sort::ALL[1..] {
        view.apply(Action::Sort, &snapshot);
        assert_eq!(view.sort, *expected);
        let tasks = listed(&snapshot, &view);
        let ordered = tasks.windows(2).all(|w| {
            let (a, b) = (w[0], w[1]);
            match view.sort {
                Sort::Id => a.id < b.id,
                Sort::Name => a.name <= b.name,
                Sort::ParkedAt => match (a.blocked_at(), b.blocked_at()) {
                    (Some((_, x)), Some((_, y))) => x.expr <= y.expr,
                    (a, b) => a.is_some() || b.is_none(),
                },
                Sort::For => a.state_since <= b.state_since,
                Sort::Polls => a.polls >= b.polls,
                Sort::Age => a.age >= b.age,
                Sort::State => true,
            }
        });
        assert!(ordered, "sorted by {}", view.sort.label());
        // The sorted column is marked in the header.
        let screen = render(&snapshot, &view, 120, 20);
        assert!(screen.contains("▼") || view.sort == Sort::Age, "{screen}");
    }
    view.apply(Action::Sort, &snapshot);
    assert_eq!(view.sort, Sort::State, "and back to the start");
}

#[test]
fn a_long_table_draws_only_its_window_and_follows_the_selection() {
    let snapshot = fixture("stuck_request");
    let mut view = View::default();
    // Six tasks on a screen with room for two rows.
    let screen = render(&snapshot, &view, 100, 7);
    assert!(screen.contains("1–2 of 6"), "{screen}");
    for _ in 0..3 {
        view.apply(Action::Down, &snapshot);
    }
    let screen = render(&snapshot, &view, 100, 7);
    assert!(screen.contains("3–4 of 6"), "{screen}");
    let selected = listed(&snapshot, &view)[3].name.to_string();
    assert!(screen.contains(&selected), "{screen}");
}

#[test]
fn ascii_mode_draws_nothing_but_ascii() {
    let snapshot = fixture("deadlock");
    let mut view = View {
        ascii: true,
        ..View::default()
    };
    for tab in [Action::Deadlocks, Action::Graph] {
        view.apply(tab, &snapshot);
        let screen = render(&snapshot, &view, 100, 30);
        assert!(screen.is_ascii(), "{screen}");
        view.apply(Action::Help, &snapshot);
        assert!(render(&snapshot, &view, 100, 30).is_ascii());
        view.apply(Action::Help, &snapshot);
    }
    view.tab = Tab::Tasks;
    view.apply(Action::Open, &snapshot);
    assert!(view.detail);
    assert!(render(&snapshot, &view, 100, 30).is_ascii());
}

#[test]
fn the_graph_walks_from_the_selected_task_to_the_deadlock() {
    let snapshot = fixture("deadlock");
    let mut view = View::default();
    // A task of the deadlock, selected in the table.
    let in_cycle = snapshot.deadlocks()[0].cycle[0].task;
    select(&mut view, &snapshot, in_cycle);
    let key = KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE);
    assert_eq!(action_for(key, &View::default()), Some(Action::Graph));
    view.apply(Action::Graph, &snapshot);
    assert_eq!(view.tab, Tab::Graph);
    let screen = render(&snapshot, &view, 110, 30);
    assert!(screen.contains("Wait-for graph from task #"), "{screen}");
    assert!(screen.contains("└─ waits for Mutex `"), "{screen}");
    assert!(screen.contains("DEADLOCK"), "{screen}");
    assert!(screen.contains("Task tree"), "{screen}");
    assert!(screen.contains("◄ selected"), "{screen}");
    assert!(
        screen.contains(&format!("from task {in_cycle}")),
        "{screen}"
    );
    insta::assert_snapshot!("graph", screen);
    // ↑/↓ move to another task, and the graph follows it.
    let action = if view.selected == 0 {
        Action::Down
    } else {
        Action::Up
    };
    view.apply(action, &snapshot);
    let other = listed(&snapshot, &view)[view.selected].id;
    assert_ne!(other, in_cycle);
    let screen = render(&snapshot, &view, 110, 30);
    assert!(screen.contains(&format!("from task {other}")), "{screen}");
    // Enter: that task's detail.
    view.apply(Action::Open, &snapshot);
    assert_eq!((view.tab, view.detail), (Tab::Tasks, true));
    assert_eq!(listed(&snapshot, &view)[view.selected].id, other);
}

#[test]
fn replay_keys_step_the_time_cursor_and_leave_the_view_alone() {
    let snapshot = fixture("stuck_request");
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let steps: Vec<Option<Action>> = [',', '.', '<', '>']
        .into_iter()
        .map(|c| action_for(key(c), &View::default()))
        .collect();
    assert_eq!(
        steps,
        [
            Some(Action::Step(-1)),
            Some(Action::Step(1)),
            Some(Action::Step(-10)),
            Some(Action::Step(10))
        ]
    );
    let mut view = View::default();
    let before = view.clone();
    assert!(view.apply(Action::Step(1), &snapshot));
    assert_eq!(view, before);
    assert_eq!(
        action_for(
            key(','),
            &View {
                searching: true,
                ..View::default()
            }
        ),
        Some(Action::Type(',')),
        "typed while searching"
    );
}

/// The `stuck_request` fixture with events for its `handle_request` task:
/// a call of `load` that polls, waits 250 ms for a lock, then parks on an
/// await until the snapshot.
fn recorded(snapshot: &Snapshot) -> (Recorded, async_inspect_model::TaskId) {
    let task = snapshot
        .tasks()
        .iter()
        .find(|t| t.name == "handle_request")
        .unwrap()
        .id;
    let id = task.as_u64();
    let end = snapshot.taken_at().as_nanos() as u64;
    let t = |ms_before: u64| end - ms_before * 1_000_000;
    let batch = serde_json::json!({
        "sites": [{"id": 0, "function": "load", "module_path": "app", "file": "src/app.rs",
                   "line": 3, "awaits": [["cache.lock()", 4], ["fetch()", 5]]}],
        "resources": [{"id": 9, "kind": "mutex", "label": "cache", "created_at": "src/app.rs:1:1"}],
        "events": [
            {"poll": {"task": id, "start": t(1200), "end": t(1150)}},
            {"enter": {"task": id, "frame": 1, "parent": 0, "site": 0, "args": "id=7", "at": t(1180)}},
            {"wait": {"task": id, "resource": 9, "at": t(1150)}},
            {"await_start": {"task": id, "frame": 1, "index": 0, "at": t(1150)}},
            {"wait_end": {"task": id, "resource": 9, "at": t(900)}},
            {"await_end": {"task": id, "frame": 1, "index": 0, "at": t(900)}},
            {"poll": {"task": id, "start": t(900), "end": t(850)}},
            {"await_start": {"task": id, "frame": 1, "index": 1, "at": t(850)}},
        ],
        "dropped": 0,
    });
    let batch: async_inspect_model::event::Batch = serde_json::from_value(batch).unwrap();
    let mut trace = async_inspect_model::trace_file::Trace::new(1, "fixture", Default::default());
    trace.add_events(batch);
    (Recorded::of(trace), task)
}

#[test]
fn the_timeline_draws_polls_lock_waits_and_parked_awaits_in_lanes() {
    let snapshot = fixture("stuck_request");
    let (recorded, task) = recorded(&snapshot);
    let mut view = View::default();
    select(&mut view, &snapshot, task);
    view.apply(Action::NextTab, &snapshot);
    assert_eq!(view.tab, Tab::Timeline);
    let screen = render_with(&snapshot, &recorded, &view, 120, 20);
    assert!(
        screen.contains("the last 5.0s up to this snapshot"),
        "{screen}"
    );
    let lane = screen
        .lines()
        .find(|l| l.starts_with(&format!("{task} handle_request")))
        .unwrap_or_else(|| panic!("a lane for the task: {screen}"));
    // Polled, then waiting for the lock, polled, then parked to the end.
    let marks: String = lane[27..].chars().filter(|c| *c != ' ').collect();
    let order: Vec<char> = marks.chars().fold(Vec::new(), |mut seen, c| {
        if seen.last() != Some(&c) {
            seen.push(c);
        }
        seen
    });
    assert_eq!(order, ['█', '▒', '█', '─'], "{lane}");
    assert!(lane.ends_with('─'), "parked until now: {lane}");
    insta::assert_snapshot!("timeline", screen);
    // The selected task's lane comes first.
    let first_lane = screen.lines().nth(5).unwrap();
    assert!(first_lane.starts_with(&task.to_string()), "{screen}");
    view.apply(Action::ZoomIn, &snapshot);
    let screen = render_with(&snapshot, &recorded, &view, 120, 20);
    assert!(screen.contains("the last 1.0s"), "{screen}");
    // Without events the tab says how to get them.
    let screen = render(&snapshot, &view, 120, 20);
    assert!(screen.contains("No events recorded"), "{screen}");
}

#[test]
fn the_profile_tab_shows_the_profile_of_the_events() {
    let snapshot = fixture("stuck_request");
    let (mut recorded, _) = recorded(&snapshot);
    recorded.refresh_profile();
    let mut view = View {
        tab: Tab::Profile,
        ..View::default()
    };
    let screen = render_with(&snapshot, &recorded, &view, 120, 30);
    assert!(screen.contains("Slowest await points"), "{screen}");
    assert!(screen.contains("load → cache.lock().await"), "{screen}");
    assert!(screen.contains("Lock contention"), "{screen}");
    insta::assert_snapshot!("profile", screen);
    view.apply(Action::Down, &snapshot);
    let scrolled = render_with(&snapshot, &recorded, &view, 120, 30);
    assert_ne!(screen, scrolled, "↓ scrolls");
}

#[test]
fn h_walks_from_a_waiting_task_to_the_one_holding_its_lock() {
    let snapshot = fixture("deadlock");
    let link = &snapshot.deadlocks()[0].cycle[0];
    let mut view = View::default();
    select(&mut view, &snapshot, link.task);
    view.apply(Action::Open, &snapshot);
    let key = KeyEvent::new(KeyCode::Char('h'), KeyModifiers::NONE);
    assert_eq!(action_for(key, &View::default()), Some(Action::Holder));
    view.apply(Action::Holder, &snapshot);
    assert!(view.detail);
    assert_eq!(listed(&snapshot, &view)[view.selected].id, link.held_by);
    let screen = render(&snapshot, &view, 110, 30);
    assert!(
        screen.contains(&format!("task {}", link.held_by)),
        "{screen}"
    );
    assert!(screen.contains("parent: #1 main"), "{screen}");
}

#[test]
fn the_detail_counts_the_recorded_polls_by_duration() {
    let snapshot = fixture("stuck_request");
    let (recorded, task) = recorded(&snapshot);
    let mut view = View::default();
    select(&mut view, &snapshot, task);
    view.apply(Action::Open, &snapshot);
    let screen = render_with(&snapshot, &recorded, &view, 120, 40);
    // Two recorded polls of 50 ms.
    assert!(
        screen.contains(
            "recorded polls by duration: <10µs 0 · <100µs 0 · <1ms 0 · <10ms 0 · ≥10ms 2"
        ),
        "{screen}"
    );
}

#[test]
fn the_header_draws_activity_between_snapshots() {
    let quiet = fixture("deadlock");
    let busy = fixture("stuck_request");
    let mut recorded = Recorded::live(1, "fixture");
    for snapshot in [&quiet, &busy, &quiet, &busy] {
        recorded.note(snapshot);
    }
    let polls = |s: &Snapshot| s.tasks().iter().map(|t| t.polls).sum::<u64>();
    assert_eq!(
        recorded.activity(),
        [
            polls(&busy).saturating_sub(polls(&quiet)),
            0,
            polls(&busy).saturating_sub(polls(&quiet))
        ]
    );
    let screen = render_with(&busy, &recorded, &View::default(), 160, 10);
    let header = screen.lines().next().unwrap();
    assert!(header.contains("█▁█"), "{header}");
}

#[test]
fn ten_thousand_tasks_scroll_to_the_last() {
    let snapshot = many_tasks(10_000);
    let mut view = View {
        sort: Sort::Id,
        ..View::default()
    };
    let screen = render(&snapshot, &view, 100, 24);
    assert!(screen.contains("1–19 of 10000"), "{screen}");
    view.apply(Action::PageDown, &snapshot);
    assert_eq!(view.selected, 10);
    view.selected = 9_990;
    for _ in 0..20 {
        view.apply(Action::Down, &snapshot);
    }
    assert_eq!(view.selected, 9_999, "not past the last");
    let screen = render(&snapshot, &view, 100, 24);
    assert!(screen.contains("9982–10000 of 10000"), "{screen}");
    assert!(
        screen.contains("#10000 "),
        "the last task is drawn: {screen}"
    );
}

/// The `stuck_request` fixture with `handle_request` paused at breakpoint
/// 3 where it was parked.
fn with_a_paused_task() -> (Snapshot, async_inspect_model::TaskId) {
    let path = format!(
        "{}/../model/tests/fixtures/stuck_request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let task = json["tasks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == "handle_request")
        .unwrap();
    task["waits"] = serde_json::json!([{
        "frame": null,
        "reason": {"paused": {"breakpoint": 3, "place": "load() at src/app.rs:12"}},
        "since": {"secs": 0, "nanos": 0},
        "timeout_at": null
    }]);
    let id = async_inspect_model::TaskId::from_u64(task["id"].as_u64().unwrap());
    (serde_json::from_value(json).unwrap(), id)
}

#[test]
fn a_paused_task_stands_out_in_the_table() {
    let (snapshot, id) = with_a_paused_task();
    let screen = render(&snapshot, &View::default(), 120, 16);
    let line = screen
        .lines()
        .find(|l| l.contains("handle_request"))
        .unwrap();
    assert!(line.contains("PAUSED b3"), "{screen}");
    let plain = render(&fixture("stuck_request"), &View::default(), 120, 16);
    assert!(!plain.contains("PAUSED"), "{plain}");
    // Its detail says where and why.
    let mut view = View::default();
    select(&mut view, &snapshot, id);
    view.apply(Action::Open, &snapshot);
    let detail = render(&snapshot, &view, 120, 30);
    assert!(
        detail.contains("paused at breakpoint 3 in load() at src/app.rs:12"),
        "{detail}"
    );
}

#[test]
fn debugger_keys_depend_on_where_you_are() {
    use async_inspect_model::breakpoint::Step;
    use async_inspect_tui::Command;
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let table = View::default();
    let detail = View {
        detail: true,
        ..View::default()
    };
    assert_eq!(action_for(key('s'), &table), Some(Action::Sort));
    assert_eq!(action_for(key('f'), &table), Some(Action::Filter));
    assert_eq!(
        action_for(key('s'), &detail),
        Some(Action::Debug(Command::Go(Step::Into)))
    );
    assert_eq!(
        action_for(key('f'), &detail),
        Some(Action::Debug(Command::Go(Step::Out)))
    );
    for view in [&table, &detail] {
        assert_eq!(
            action_for(key('b'), view),
            Some(Action::Debug(Command::Toggle))
        );
        assert_eq!(
            action_for(key('c'), view),
            Some(Action::Debug(Command::Continue))
        );
        assert_eq!(
            action_for(key('n'), view),
            Some(Action::Debug(Command::Go(Step::Over)))
        );
    }
    let mut view = detail.clone();
    assert!(view.apply(Action::Debug(Command::Toggle), &fixture("stuck_request")));
    assert_eq!(view, detail, "the view stays; the request goes out");
}

#[test]
fn the_debugger_toggles_breakpoints_and_drives_paused_tasks_only() {
    use async_inspect_model::breakpoint::Step;
    use async_inspect_model::wire::Reply;
    use async_inspect_model::wire::Request;
    use async_inspect_tui::{Command, Debugger};
    let (snapshot, paused) = with_a_paused_task();
    let other = snapshot
        .tasks()
        .iter()
        .find(|t| t.name == "cache refresher")
        .unwrap();
    let mut debugger = Debugger::default();

    // `b` on a task parked at a traced await: a breakpoint at that line.
    let (_, step) = other.blocked_at().unwrap();
    let spec = format!("{}:{}", step.location.file, step.location.line);
    assert_eq!(
        debugger.request(Command::Toggle, Some(other)),
        Ok(Request::Break { spec: spec.clone() })
    );
    debugger.heard(&Reply::Breakpoint {
        id: 5,
        spec: spec.clone(),
    });
    assert_eq!(
        debugger.notice.as_deref(),
        Some(&*format!("breakpoint 5 at {spec}"))
    );
    // Again: removed.
    assert_eq!(
        debugger.request(Command::Toggle, Some(other)),
        Ok(Request::Delete { id: 5 })
    );
    assert!(debugger.breakpoints.is_empty());

    // Continue and steps only for a paused task.
    let why = debugger
        .request(Command::Continue, Some(other))
        .unwrap_err();
    assert_eq!(why, format!("task {} is not paused", other.id));
    let paused_task = snapshot.task(paused).unwrap();
    assert_eq!(
        debugger.request(Command::Continue, Some(paused_task)),
        Ok(Request::Continue {
            task: Some(paused.as_u64())
        })
    );
    assert_eq!(
        debugger.request(Command::Go(Step::Out), Some(paused_task)),
        Ok(Request::Step {
            task: Some(paused.as_u64()),
            how: Step::Out
        })
    );
    let idle = snapshot.tasks().iter().find(|t| t.name == "main").unwrap();
    let why = debugger.request(Command::Toggle, Some(idle)).unwrap_err();
    assert!(why.contains("not parked at a traced await"), "{why}");
}

#[test]
fn a_task_nobody_can_wake_says_so_in_its_row() {
    let path = format!(
        "{}/../model/tests/fixtures/stuck_request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The first task: parked, not woken since, no waker left.
    let task = &mut json["tasks"][0];
    let id = task["id"].as_u64().unwrap();
    task["wake"] = serde_json::json!({
        "self_wakes": 0, "woken_by": null, "woken_at": null,
        "max_delay": { "secs": 0, "nanos": 0 }, "wakers": 0
    });
    let snapshot: Snapshot = serde_json::from_value(json).unwrap();
    let screen = render(&snapshot, &View::default(), 120, 20);
    let row = screen
        .lines()
        .find(|line| {
            line.contains(&format!("#{id} ")) || line.trim_start().starts_with(&format!("{id} "))
        })
        .unwrap_or_else(|| panic!("task {id}'s row: {screen}"));
    assert!(row.contains("NO WAKER"), "{screen}");
    assert_eq!(screen.matches("NO WAKER").count(), 1, "{screen}");
}

#[test]
fn a_search_finds_a_request_by_its_trace_id_or_a_span_field() {
    let path = format!(
        "{}/../model/tests/fixtures/stuck_request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The last task serves a request: its spans and trace id, as the
    // tracing layer gives them.
    let task = json["tasks"].as_array_mut().unwrap().last_mut().unwrap();
    let id = task["id"].as_u64().unwrap();
    task["spans"] = serde_json::json!([{
        "name": "request", "target": "app",
        "fields": [["user_id", "7"], ["trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"]]
    }]);
    task["trace_id"] = "4bf92f3577b34da6a3ce929d0e0e4736".into();
    let snapshot: Snapshot = serde_json::from_value(json).unwrap();
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    for search in ["4BF92F35", "user_id=7"] {
        let mut view = View::default();
        view.apply(
            action_for(key(KeyCode::Char('/')), &view).unwrap(),
            &snapshot,
        );
        for c in search.chars() {
            view.apply(action_for(key(KeyCode::Char(c)), &view).unwrap(), &snapshot);
        }
        let ids: Vec<u64> = listed(&snapshot, &view)
            .iter()
            .map(|t| t.id.as_u64())
            .collect();
        assert_eq!(ids, [id], "{search}");
        // Its detail says which request it serves.
        view.apply(Action::EndSearch, &snapshot);
        view.apply(Action::Open, &snapshot);
        let screen = render(&snapshot, &view, 160, 40);
        assert!(
            screen.contains("in span request{user_id=7 trace_id=4bf92f35"),
            "{screen}"
        );
    }
    // Too short to name a trace: a search for text, which nothing has.
    let view = View {
        search: "4bf9x".into(),
        ..View::default()
    };
    assert!(listed(&snapshot, &view).is_empty());
}
