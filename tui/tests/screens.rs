//! Every screen rendered on a fixed-size test terminal from a fixed model
//! (snapshots of the `stuck_request` and `deadlock` examples), and the keys
//! walked on the view state without drawing.

use async_inspect_core::Snapshot;
use async_inspect_tui::{Action, Filter, Sort, Tab, View, action_for, draw, listed};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn fixture(name: &str) -> Snapshot {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The screen's text, row by row.
fn render(snapshot: &Snapshot, view: &View, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| draw(frame, "fixture", snapshot, view))
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
    view.apply(Action::Deadlocks, &snapshot);
    assert_eq!(view.tab, Tab::Deadlocks);
    let screen = render(&snapshot, &view, 100, 24);
    assert!(
        screen.contains("DEADLOCK DETECTED: 2 tasks wait for each other forever"),
        "{screen}"
    );
    assert!(screen.contains("Cycle: Task"), "{screen}");
    insta::assert_snapshot!("deadlocks", screen);
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
    view.apply(Action::NextTab, &snapshot);
    assert_eq!((view.tab, view.selected), (Tab::Resources, 0));
    view.apply(Action::PrevTab, &snapshot);
    view.apply(Action::PrevTab, &snapshot);
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
    let slash = action_for(key(KeyCode::Char('/')), view.searching).unwrap();
    view.apply(slash, &snapshot);
    assert!(view.searching);
    for c in "REPLY".chars() {
        let typed = action_for(key(KeyCode::Char(c)), view.searching).unwrap();
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
            .all(|t| t.state == async_inspect_core::TaskState::Blocked)
    );
    view.filter = Filter::All;

    view.apply(Action::Sort, &snapshot);
    assert_eq!(view.sort, Sort::Name);
    let names: Vec<String> = listed(&snapshot, &view)
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    view.apply(Action::Sort, &snapshot);
    let polls: Vec<u64> = listed(&snapshot, &view).iter().map(|t| t.polls).collect();
    assert!(polls.windows(2).all(|w| w[0] >= w[1]), "{polls:?}");
}

#[test]
fn replay_keys_step_the_time_cursor_and_leave_the_view_alone() {
    let snapshot = fixture("stuck_request");
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let steps: Vec<Option<Action>> = [',', '.', '<', '>']
        .into_iter()
        .map(|c| action_for(key(c), false))
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
        action_for(key(','), true),
        Some(Action::Type(',')),
        "typed while searching"
    );
}
