//! On a multi-thread runtime a task resumes on whichever worker picks it up;
//! its frames, steps and identity stay its own, and concurrent tasks never
//! see each other's frames.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::ThreadId;

use async_inspect_core::{Inspected, TaskKind};
use common::stack_names;

/// Pending on its first poll, ready on the next: one step per poll.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[async_inspect::trace]
async fn relay(hops: u32, threads: Arc<Mutex<Vec<ThreadId>>>) -> u32 {
    let me = async_inspect::current_task().expect("inside an inspected task");
    for _ in 0..hops {
        hop_once(me, &threads).await;
    }
    hops
}

#[async_inspect::trace(skip(threads))]
async fn hop_once(me: async_inspect::TaskId, threads: &Mutex<Vec<ThreadId>>) {
    YieldOnce(false).await;
    assert_eq!(
        async_inspect::current_task(),
        Some(me),
        "the task is still itself"
    );
    threads.lock().unwrap().push(std::thread::current().id());
}

#[test]
fn a_task_resumed_on_another_thread_keeps_its_stack() {
    // Poll the task by hand, each time on a new thread, as a work-stealing
    // runtime may: the frames and the current task follow the task.
    let threads = Arc::new(Mutex::new(Vec::new()));
    let task = Inspected::new(
        relay(3, threads.clone()),
        TaskKind::Spawned,
        Some("relay".into()),
    );
    let id = task.id().unwrap();
    let mut task = Box::pin(task);
    let mut polls = 0;
    let output = loop {
        let (returned, poll) = std::thread::spawn(move || {
            let poll = task
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()));
            (task, poll)
        })
        .join()
        .unwrap();
        task = returned;
        polls += 1;
        if let Poll::Ready(output) = poll {
            break output;
        }
        let snapshot = async_inspect::snapshot();
        let info = common::task(&snapshot, id);
        assert_eq!(
            stack_names(info),
            ["relay", "hop_once"],
            "after poll {polls}"
        );
        let relay = info.stack()[0];
        assert!(
            matches!(
                relay.awaits[0].status,
                async_inspect::StepStatus::InProgress { .. }
            ),
            "relay waits on hop_once: {:?}",
            relay.awaits[0].status
        );
        assert!(common::parked_at(&snapshot, id, "YieldOnce(false)"));
        assert_eq!(info.polls, polls);
    };
    assert_eq!(output, 3);
    assert_eq!(polls, 4);
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 3);
    assert!(
        threads.windows(2).all(|w| w[0] != w[1]),
        "every hop ran on a new thread"
    );
    let snapshot = async_inspect::snapshot();
    let info = common::task(&snapshot, id);
    assert_eq!(info.state, async_inspect::TaskState::Done);
    assert!(info.frames.is_empty());
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
