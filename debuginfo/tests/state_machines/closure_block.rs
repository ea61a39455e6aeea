//! Async blocks: inside a closure, and capturing variables (which, unlike
//! an async fn's arguments, stay live in place).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use async_inspect_debuginfo::NodeKind;

use crate::support::{Never, suspend_and_decode, suspended_at};

static BLOCK_AWAIT: AtomicU32 = AtomicU32::new(0);

#[test]
fn an_async_block_inside_a_closure_is_named_after_its_closure() {
    #[rustfmt::skip] // the await shares its line with `line!()`
    let make = |seed: u32| async move {
        let doubled = seed * 2;
        BLOCK_AWAIT.store(line!(), Relaxed); Never.await;
        doubled
    };
    let (_fut, node) = suspend_and_decode(make(21));
    assert_eq!(node.kind, NodeKind::AsyncBlock);
    assert_eq!(
        node.path,
        concat!(
            module_path!(),
            "::an_async_block_inside_a_closure_is_named_after_its_closure::{closure#0}::{async block}"
        )
    );
    assert_eq!(suspended_at(&node).0, BLOCK_AWAIT.load(Relaxed));
    assert_eq!(node.local("doubled").map(|l| l.value.as_str()), Some("42"));
    assert_eq!(node.local("seed").map(|l| l.value.as_str()), Some("21"));
}

#[test]
fn an_async_block_shows_its_captures_and_its_awaited_fn() {
    async fn inner(n: u8) -> u8 {
        Never.await;
        n
    }
    let label = String::from("captured");
    let block = async move {
        let n = inner(3).await;
        label.len() + usize::from(n)
    };
    let (_fut, node) = suspend_and_decode(block);
    assert_eq!(node.kind, NodeKind::AsyncBlock);
    assert_eq!(
        node.local("label").map(|l| l.value.as_str()),
        Some("\"captured\"")
    );
    assert_eq!(node.children.len(), 1);
    assert!(
        node.children[0].path.ends_with("::inner"),
        "{}",
        node.children[0].path
    );
}
