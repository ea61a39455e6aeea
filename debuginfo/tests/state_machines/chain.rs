//! A chain of async fns three deep: one nested read gives every fn, its
//! await line and the leaf it waits on.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use async_inspect_debuginfo::{NodeKind, NodeState};

use crate::support::{Never, suspend_and_decode, suspended_at};

static TOP_AWAIT: AtomicU32 = AtomicU32::new(0);
static MIDDLE_AWAIT: AtomicU32 = AtomicU32::new(0);
static BOTTOM_AWAIT: AtomicU32 = AtomicU32::new(0);

#[rustfmt::skip] // the await shares its line with `line!()`
async fn top(id: u32) -> u32 {
    TOP_AWAIT.store(line!(), Relaxed); let r = middle(id + 1).await;
    r + 1
}

#[rustfmt::skip] // the await shares its line with `line!()`
async fn middle(id: u32) -> u32 {
    MIDDLE_AWAIT.store(line!(), Relaxed); let r = bottom(id * 2).await;
    r + id
}

#[rustfmt::skip] // the await shares its line with `line!()`
async fn bottom(id: u32) -> u32 {
    BOTTOM_AWAIT.store(line!(), Relaxed); Never.await;
    id
}

#[test]
fn three_async_fns_deep_decode_as_a_chain_with_their_await_lines() {
    let (_fut, root) = suspend_and_decode(top(7));
    let chain: Vec<_> = root.first_chain().collect();
    let paths: Vec<&str> = chain.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            concat!(module_path!(), "::top"),
            concat!(module_path!(), "::middle"),
            concat!(module_path!(), "::bottom"),
            "state_machines::support::Never",
        ]
    );
    let lines = [&TOP_AWAIT, &MIDDLE_AWAIT, &BOTTOM_AWAIT].map(|l| l.load(Relaxed));
    for (node, line) in chain.iter().zip(lines) {
        assert_eq!(node.kind, NodeKind::AsyncFn, "{}", node.path);
        let (at, file) = suspended_at(node);
        assert_eq!(at, line, "{}", node.path);
        assert!(
            file.ends_with(file!()),
            "{file} should end with {}",
            file!()
        );
        assert!(matches!(
            node.state,
            NodeState::Suspended {
                index: 0,
                column: None,
                ..
            }
        ));
    }
    assert_eq!(
        chain[3].kind,
        NodeKind::Leaf("state_machines::support::Never".into())
    );
    assert!(!root.any_truncated());
    println!("{}", serde_json::to_string_pretty(&root).unwrap());
}
