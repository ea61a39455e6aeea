//! On a multi-thread runtime a task resumes on whichever worker picks it up;
//! its frames, steps and identity stay its own.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use common::{eventually, stack_names, task};
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn hop(threads: Arc<Mutex<HashSet<ThreadId>>>, rx: oneshot::Receiver<()>) -> usize {
    let me = async_inspect::current_task().expect("inside an inspected task");
    let mut yields = 0;
    while threads.lock().unwrap().len() < 2 {
        assert!(yields < 1_000_000, "never moved to another worker");
        hop_once(me).await;
        threads.lock().unwrap().insert(std::thread::current().id());
        yields += 1;
    }
    rx.await.ok();
    yields
}

#[async_inspect::trace]
async fn hop_once(me: async_inspect::TaskId) {
    tokio::task::yield_now().await;
    assert_eq!(
        async_inspect::current_task(),
        Some(me),
        "the task is still itself"
    );
}

#[async_inspect::trace]
async fn spin(stop: Arc<std::sync::atomic::AtomicBool>) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::task::yield_now().await;
    }
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_moves_between_workers_keeps_its_stack() {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..2)
        .map(|_| async_inspect::spawn(spin(stop.clone())))
        .collect();
    let (tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(hop(threads.clone(), rx));
    let id = handle.inspect_id().unwrap();

    let snapshot = eventually("hop to park at rx after moving", |s| {
        common::parked_at(s, id, "rx")
    })
    .await;
    assert!(threads.lock().unwrap().len() >= 2, "ran on two workers");
    let info = task(&snapshot, id);
    assert_eq!(stack_names(info), ["hop"], "hop_once's frames all ended");
    let steps = &info.frames[0].awaits;
    assert!(matches!(
        steps[0].status,
        async_inspect::StepStatus::Completed { times, .. } if times >= 1
    ));
    assert!(info.polls >= 2);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    tx.send(()).unwrap();
    assert!(handle.await.unwrap() >= 1);
    for spinner in spinners {
        spinner.await.unwrap();
    }
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_never_see_each_others_frames() {
    let mut handles = Vec::new();
    for i in 0..64u64 {
        handles.push(async_inspect::spawn(async move {
            for _ in 0..50 {
                checked(i).await;
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
}

#[async_inspect::trace]
async fn checked(i: u64) {
    tokio::task::yield_now().await;
    let me = async_inspect::current_task().unwrap();
    let snapshot_frames = {
        // The task's own record, read while it runs: only its own frame.
        let snapshot = async_inspect::snapshot();
        snapshot.task(me).unwrap().frames.clone()
    };
    assert_eq!(snapshot_frames.len(), 1);
    assert_eq!(
        snapshot_frames[0].args.as_deref(),
        Some(format!("i={i}").as_str())
    );
}
