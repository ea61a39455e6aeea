//! A future that is not a state machine but holds some: every branch a child.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_inspect_debuginfo::{NodeKind, NodeState};

use crate::support::{Never, suspend_and_decode};

/// A `futures::future::MaybeDone` look-alike.
enum MaybeDone<F: Future> {
    Future(F),
    Done(F::Output),
}

/// A two-way join over `MaybeDone`s, as `join!` expands to.
struct Join<A: Future, B: Future> {
    a: MaybeDone<A>,
    b: MaybeDone<B>,
}

impl<F: Future> MaybeDone<F> {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // SAFETY: the future is never moved out of the pinned enum; it is
        // only replaced by its output after it completes.
        let this = unsafe { self.get_unchecked_mut() };
        if let MaybeDone::Future(f) = this {
            // SAFETY: `f` is pinned because `this` is.
            if let Poll::Ready(out) = unsafe { Pin::new_unchecked(f) }.poll(cx) {
                *this = MaybeDone::Done(out);
            }
        }
        matches!(this, MaybeDone::Done(_))
    }
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the fields are pinned projections of a pinned struct.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let a = unsafe { Pin::new_unchecked(&mut this.a) }.poll(cx);
        // SAFETY: as above.
        let b = unsafe { Pin::new_unchecked(&mut this.b) }.poll(cx);
        if a && b {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

async fn left(n: u8) -> u8 {
    Never.await;
    n
}

async fn right(n: u16) -> u16 {
    n
}

async fn right_waits(n: u16) -> u16 {
    Never.await;
    n
}

#[test]
fn every_pending_branch_of_a_join_is_a_child() {
    let (_fut, node) = suspend_and_decode(async {
        Join {
            a: MaybeDone::Future(left(1)),
            b: MaybeDone::Future(right_waits(2)),
        }
        .await
    });
    let join = &node.children[0];
    assert_eq!(join.kind, NodeKind::Combinator, "{join:#?}");
    let paths: Vec<&str> = join.children.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            concat!(module_path!(), "::left"),
            concat!(module_path!(), "::right_waits")
        ]
    );
}

#[test]
fn a_finished_branch_shows_as_returned() {
    let (_fut, node) = suspend_and_decode(async {
        Join {
            a: MaybeDone::Future(left(1)),
            b: MaybeDone::Future(right(2)),
        }
        .await
    });
    let join = &node.children[0];
    let states: Vec<(&str, &NodeState)> = join
        .children
        .iter()
        .map(|c| (c.path.as_str(), &c.state))
        .collect();
    assert_eq!(
        states,
        [
            (
                concat!(module_path!(), "::left"),
                &suspended(&join.children[0])
            ),
            (concat!(module_path!(), "::right"), &NodeState::Returned),
        ]
    );
}

fn suspended(node: &async_inspect_debuginfo::StateNode) -> NodeState {
    assert!(
        matches!(node.state, NodeState::Suspended { .. }),
        "{node:#?}"
    );
    node.state.clone()
}

async fn branch_a(n: u32) -> u32 {
    Never.await;
    n
}

async fn branch_b(text: &str) -> usize {
    let copy = text.to_owned();
    Never.await;
    copy.len()
}

fn paths(node: &async_inspect_debuginfo::StateNode) -> Vec<&str> {
    node.children.iter().map(|c| c.path.as_str()).collect()
}

const BRANCH_A: &str = concat!(module_path!(), "::branch_a");
const BRANCH_B: &str = concat!(module_path!(), "::branch_b");

#[test]
fn every_branch_of_tokio_join_is_a_child() {
    let (_fut, node) = suspend_and_decode(async {
        let (a, b) = tokio::join!(branch_a(1), branch_b("tj"));
        a as usize + b
    });
    let join = &node.children[0];
    assert_eq!(join.kind, NodeKind::Combinator, "{join:#?}");
    assert_eq!(paths(join), [BRANCH_A, BRANCH_B]);
    assert_eq!(
        join.children[1].local("copy").map(|l| l.value.as_str()),
        Some("\"tj\"")
    );
}

#[test]
fn a_finished_branch_of_tokio_join_shows_as_returned() {
    let (_fut, node) = suspend_and_decode(async {
        let (a, b) = tokio::join!(branch_a(1), async { 5usize });
        a as usize + b
    });
    let join = &node.children[0];
    assert_eq!(join.children.len(), 2, "{join:#?}");
    assert_eq!(join.children[0].path, BRANCH_A);
    assert_eq!(join.children[1].kind, NodeKind::AsyncBlock);
    assert_eq!(
        join.children[1].state,
        async_inspect_debuginfo::NodeState::Returned
    );
}

#[test]
fn every_branch_of_tokio_select_is_a_child_leaves_included() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _in_runtime = runtime.enter();
    let (_fut, node) = suspend_and_decode(async {
        tokio::select! {
            a = branch_a(2) => a as usize,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => 0,
        }
    });
    assert_eq!(
        paths(&node.children[0]),
        [BRANCH_A, "tokio::time::sleep::Sleep"]
    );
    assert_eq!(
        node.children[0].children[1].kind,
        NodeKind::Leaf("tokio::time::sleep::Sleep".into())
    );
}

#[test]
fn a_tokio_timeout_holds_its_future() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _in_runtime = runtime.enter();
    let (_fut, node) = suspend_and_decode(async {
        tokio::time::timeout(std::time::Duration::from_secs(3600), branch_a(4)).await
    });
    let timeout = &node.children[0];
    assert!(
        timeout.path.starts_with("tokio::time::timeout::Timeout<"),
        "{}",
        timeout.path
    );
    assert_eq!(paths(timeout), [BRANCH_A]);
}

#[test]
fn every_future_of_join_all_and_futures_join_is_a_child() {
    let (_fut, node) = suspend_and_decode(async {
        futures::future::join_all(vec![branch_a(5), branch_a(6)])
            .await
            .len()
    });
    let all = &node.children[0];
    assert_eq!(paths(all), [BRANCH_A, BRANCH_A]);
    let ns: Vec<&str> = all
        .children
        .iter()
        .map(|c| c.local("n").unwrap().value.as_str())
        .collect();
    assert_eq!(ns, ["5", "6"]);

    let (_fut, node) = suspend_and_decode(async {
        let (a, b) = futures::join!(branch_a(3), branch_b("fj"));
        a as usize + b
    });
    assert_eq!(paths(&node.children[0]), [BRANCH_A, BRANCH_B]);
}

#[test]
fn every_future_in_a_futures_unordered_is_a_child() {
    use futures::StreamExt as _;
    let (_fut, node) = suspend_and_decode(async {
        let mut set: futures::stream::FuturesUnordered<_> = (1..=3).map(branch_a).collect();
        set.next().await
    });
    let set = &node.children[0];
    assert_eq!(paths(set), [BRANCH_A, BRANCH_A, BRANCH_A], "{set:#?}");
    let mut ns: Vec<&str> = set
        .children
        .iter()
        .map(|c| c.local("n").unwrap().value.as_str())
        .collect();
    ns.sort();
    assert_eq!(ns, ["1", "2", "3"]);

    // `join_all` of many futures runs them in a `FuturesOrdered`.
    let (_fut, node) =
        suspend_and_decode(async { futures::future::join_all((0..40).map(branch_a)).await.len() });
    let mut count = 0;
    fn walk(node: &async_inspect_debuginfo::StateNode, count: &mut usize) {
        *count += usize::from(node.path == BRANCH_A);
        for child in &node.children {
            walk(child, count);
        }
    }
    walk(&node, &mut count);
    assert_eq!(count, 16, "as many as the budget's items: {node:#?}");
    assert!(node.any_truncated(), "the rest is marked as cut");
}
