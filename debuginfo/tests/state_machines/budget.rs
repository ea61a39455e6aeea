//! The budget bounds depth, items and bytes, and says when it cut.

use async_inspect_debuginfo::{Budget, NodeKind, ProcessMemory};

use crate::support::{Never, poll_once, try_decode_with};

async fn deep(n: u32) -> u32 {
    if n == 0 {
        Never.await;
        0
    } else {
        Box::pin(deep(n - 1)).await + 1
    }
}

async fn big_locals() -> usize {
    let list: Vec<u32> = (0..100).collect();
    let text = "x".repeat(1000);
    Never.await;
    list.len() + text.len()
}

#[test]
fn a_chain_deeper_than_max_depth_ends_in_a_truncated_opaque_node() {
    let mut fut = Box::pin(deep(6));
    assert!(poll_once(fut.as_mut()).is_pending());
    let mut budget = Budget::default();
    budget.max_depth = 3;
    let node = try_decode_with(&*fut, &ProcessMemory::this_process(), &budget).unwrap();
    let chain: Vec<_> = node.first_chain().collect();
    assert_eq!(chain.len(), 5, "{chain:#?}");
    assert_eq!(chain[4].kind, NodeKind::Opaque);
    assert!(chain[4].truncated);
    assert!(node.any_truncated());
    let full = try_decode_with(&*fut, &ProcessMemory::this_process(), &Budget::default()).unwrap();
    assert_eq!(full.first_chain().count(), 8);
    assert!(!full.any_truncated());
}

#[test]
fn long_values_are_cut_to_max_items_and_max_string() {
    let mut fut = Box::pin(big_locals());
    assert!(poll_once(fut.as_mut()).is_pending());
    let mut budget = Budget::default();
    budget.max_items = 3;
    budget.max_string = 4;
    let node = try_decode_with(&*fut, &ProcessMemory::this_process(), &budget).unwrap();
    assert_eq!(node.local("list").unwrap().value, "[0, 1, 2, … 97 more]");
    assert_eq!(node.local("text").unwrap().value, "\"xxxx\"…");
    assert!(node.truncated);
}

#[test]
fn reads_through_pointers_stop_at_max_bytes() {
    let mut fut = Box::pin(big_locals());
    assert!(poll_once(fut.as_mut()).is_pending());
    let mut budget = Budget::default();
    budget.max_bytes = 0;
    let node = try_decode_with(&*fut, &ProcessMemory::this_process(), &budget).unwrap();
    assert_eq!(node.local("text").unwrap().value, "…");
    assert!(node.truncated);
}
