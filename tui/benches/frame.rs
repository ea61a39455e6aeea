//! One frame of the Tasks table with 100 000 tasks (target: under 50 ms),
//! and a step of the selection, which redraws it. The snapshot is the
//! `stuck_request` fixture's tasks repeated with new ids.

#[path = "../tests/fixtures/many.rs"]
mod many;

use async_inspect_tui::{Action, View, draw};
use criterion::{Criterion, criterion_group, criterion_main};
use many::many_tasks;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const TASKS: u64 = 100_000;

fn frame(c: &mut Criterion) {
    let snapshot = many_tasks(TASKS);
    assert_eq!(snapshot.tasks().len(), TASKS as usize);
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).expect("a test terminal");
    let mut view = View::default();
    let mut group = c.benchmark_group("tui frame, 100 000 tasks");
    group.sample_size(20);
    group.bench_function("draw the tasks table", |b| {
        b.iter(|| {
            terminal
                .draw(|f| draw(f, "bench", &snapshot, &view))
                .expect("drawn");
        })
    });
    group.bench_function("move the selection down and redraw", |b| {
        b.iter(|| {
            view.apply(Action::Down, &snapshot);
            terminal
                .draw(|f| draw(f, "bench", &snapshot, &view))
                .expect("drawn");
        })
    });
    group.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
