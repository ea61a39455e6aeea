//! What the leaves people await wait for: a timer's deadline, a oneshot's
//! value or its dropped sender, a channel's senders.

use std::time::Duration;

use async_inspect_debuginfo::StateNode;
use async_inspect_model::duration::parse_duration;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::support::{decode, suspend_and_decode};

/// The innermost future on the first chain.
fn leaf(root: &StateNode) -> &StateNode {
    root.first_chain().last().expect("a chain has a leaf")
}

/// What the chain's leaf, or the library future above it, says it waits for.
fn detail(root: &StateNode) -> String {
    root.first_chain()
        .filter_map(|n| n.detail.clone())
        .last()
        .unwrap_or_else(|| {
            panic!(
                "no detail in {}",
                serde_json::to_string_pretty(root).unwrap()
            )
        })
}

async fn nap(length: Duration) {
    tokio::time::sleep(length).await;
}

#[test]
fn a_timer_says_when_it_is_due() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let (_fut, root) = suspend_and_decode(nap(Duration::from_secs(60)));
    assert!(
        leaf(&root).path.starts_with("tokio::time::sleep::Sleep"),
        "{}",
        leaf(&root).path
    );
    let text = detail(&root);
    let left = text
        .strip_prefix("deadline in ")
        .and_then(parse_duration)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        left > Duration::from_secs(50) && left <= Duration::from_secs(60),
        "{text}"
    );
}

async fn reply(rx: oneshot::Receiver<u32>) -> u32 {
    rx.await.unwrap_or(0)
}

#[test]
fn a_oneshot_says_whether_its_value_is_coming() {
    let (tx, rx) = oneshot::channel();
    let (fut, root) = suspend_and_decode(reply(rx));
    assert_eq!(detail(&root), "no value sent yet; its sender is alive");
    drop(tx);
    assert_eq!(
        detail(&decode(&*fut)),
        "its sender was dropped without sending"
    );

    let (tx, rx) = oneshot::channel();
    let (fut, _) = suspend_and_decode(reply(rx));
    tx.send(7).unwrap();
    assert_eq!(detail(&decode(&*fut)), "a value was sent, not yet taken");
}

async fn next(mut rx: mpsc::Receiver<u32>) -> Option<u32> {
    rx.recv().await
}

async fn next_broadcast(mut rx: broadcast::Receiver<u32>) -> Option<u32> {
    rx.recv().await.ok()
}

#[test]
fn a_channel_receiver_counts_its_senders() {
    let (tx, rx) = mpsc::channel(4);
    let second = tx.clone();
    let (fut, root) = suspend_and_decode(next(rx));
    assert_eq!(detail(&root), "2 senders alive");
    drop(second);
    assert_eq!(detail(&decode(&*fut)), "1 sender alive");
    drop(tx);
    assert_eq!(detail(&decode(&*fut)), "every sender was dropped");

    let (tx, rx) = broadcast::channel(4);
    let (_fut, root) = suspend_and_decode(next_broadcast(rx));
    assert_eq!(detail(&root), "1 sender alive");
    drop(tx);
}

#[test]
fn a_pending_future_never_completes() {
    let (_fut, root) = suspend_and_decode(async { std::future::pending::<()>().await });
    assert_eq!(detail(&root), "never completes");
}
