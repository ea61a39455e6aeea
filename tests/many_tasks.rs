//! Many tasks: a snapshot of 20 000 parked tasks (taken by several threads
//! at that size) lists them all, in order, and finished tasks are kept only
//! up to the retention bound, so memory stays flat.

mod common;

use std::time::Duration;

use async_inspect::{Config, TaskState};
use tokio::sync::watch;

#[async_inspect::trace]
async fn parked(index: usize, mut go: watch::Receiver<bool>) -> usize {
    go.wait_for(|go| *go).await.ok();
    index
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_parked_tasks_are_all_in_the_snapshot() {
    const TASKS: usize = 20_000;
    let (go_tx, go_rx) = watch::channel(false);
    let handles: Vec<_> = (0..TASKS)
        .map(|i| async_inspect::spawn(parked(i, go_rx.clone())))
        .collect();
    let ids: Vec<_> = handles.iter().map(|h| h.inspect_id().unwrap()).collect();

    let snapshot = common::eventually("every task to park", |s| {
        ids.iter()
            .all(|id| common::parked_at(s, *id, "go.wait_for(|go| *go)"))
    })
    .await;
    let listed: Vec<_> = snapshot.tasks().iter().map(|t| t.id).collect();
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "tasks in id order, each once"
    );
    for (i, id) in ids.iter().enumerate() {
        let task = common::task(&snapshot, *id);
        assert_eq!(task.state, TaskState::Blocked);
        assert!(
            task.frames[0]
                .args
                .as_deref()
                .unwrap()
                .starts_with(&format!("index={i}, go="))
        );
    }
    let report = snapshot.to_string();
    assert!(
        report
            .lines()
            .filter(|l| l.contains("◄─── BLOCKED"))
            .count()
            >= TASKS
    );

    go_tx.send(true).unwrap();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap(), i);
    }
}

#[test]
fn finished_tasks_are_kept_only_up_to_the_retention_bound() {
    Config::default()
        .retain_finished(64, Duration::from_secs(3600))
        .apply();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let before = async_inspect::snapshot().counters().tasks_finished;
    runtime.block_on(async {
        for _ in 0..20 {
            let batch: Vec<_> = (0..1_000).map(|_| async_inspect::spawn(async {})).collect();
            for handle in batch {
                handle.await.unwrap();
            }
        }
    });
    let snapshot = async_inspect::snapshot();
    let finished = snapshot
        .tasks()
        .iter()
        .filter(|t| t.state.is_finished())
        .count();
    assert!(finished <= 64, "kept {finished} finished tasks");
    assert!(finished > 0, "the most recent are kept");
    let counters = snapshot.counters();
    assert!(counters.tasks_finished - before >= 20_000);
    assert!(counters.finished_evicted >= 20_000 - 64);
}
