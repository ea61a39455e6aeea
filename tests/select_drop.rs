//! A traced future dropped mid-await (a `select!` branch that lost, a timeout
//! that elapsed) takes its frame with it.

mod common;

use std::time::Duration;

use common::{eventually, stack_names, task};
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn slow_branch(rx: oneshot::Receiver<u32>) -> u32 {
    rx.await.unwrap_or(0)
}

#[async_inspect::trace]
async fn racer(
    slow: oneshot::Receiver<u32>,
    fast: oneshot::Receiver<u32>,
    after: oneshot::Receiver<()>,
) -> u32 {
    let winner = tokio::select! {
        v = slow_branch(slow) => v,
        v = fast => v.unwrap_or(0),
    };
    after.await.ok();
    winner
}

#[async_inspect::test]
async fn the_losing_select_branch_leaves_no_frame() {
    let (_slow_tx, slow_rx) = oneshot::channel();
    let (fast_tx, fast_rx) = oneshot::channel();
    let (after_tx, after_rx) = oneshot::channel();
    let handle = async_inspect::spawn(racer(slow_rx, fast_rx, after_rx));
    let id = handle.inspect_id().unwrap();

    let snapshot = eventually("slow_branch to park", |s| common::parked_at(s, id, "rx")).await;
    assert_eq!(stack_names(task(&snapshot, id)), ["racer", "slow_branch"]);

    fast_tx.send(9).unwrap();
    let snapshot = eventually("racer to move on", |s| common::parked_at(s, id, "after")).await;
    let info = task(&snapshot, id);
    assert_eq!(stack_names(info), ["racer"]);
    assert_eq!(
        info.frames.len(),
        1,
        "slow_branch was dropped with its frame"
    );

    after_tx.send(()).unwrap();
    assert_eq!(handle.await.unwrap(), 9);
}

#[async_inspect::trace]
async fn gives_up(rx: oneshot::Receiver<()>, done: oneshot::Receiver<()>) {
    let _ = async_inspect::time::timeout(Duration::from_millis(20), slow_unit(rx)).await;
    done.await.ok();
}

#[async_inspect::trace]
async fn slow_unit(rx: oneshot::Receiver<()>) {
    rx.await.ok();
}

#[async_inspect::test]
async fn an_elapsed_timeout_drops_the_frame_and_its_deadline() {
    let (_tx, rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let handle = async_inspect::spawn(gives_up(rx, done_rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("gives_up to wait on done", |s| {
        common::parked_at(s, id, "done")
    })
    .await;
    let info = task(&snapshot, id);
    assert_eq!(stack_names(info), ["gives_up"]);
    assert_eq!(info.frames[0].timeout_at, None, "the timeout ended");
    done_tx.send(()).unwrap();
    handle.await.unwrap();
}
