//! Boxed futures: `Box<dyn Future>` and `Pin<Box<dyn Future + Send>>`
//! are followed through their vtable to the concrete state machine, both
//! when awaited and as the root.

use std::future::Future;
use std::pin::Pin;

use async_inspect_debuginfo::NodeKind;

use crate::support::{Never, suspend_and_decode};

async fn boxed_leaf(tag: &'static str) -> usize {
    Never.await;
    tag.len()
}

async fn awaits_pinned_box() -> usize {
    let fut: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(boxed_leaf("pinned"));
    fut.await
}

async fn awaits_box_pin() -> usize {
    let fut: Box<dyn Future<Output = usize> + Unpin> = Box::new(Box::pin(boxed_leaf("unpin")));
    fut.await
}

#[test]
fn an_awaited_pinned_box_dyn_future_is_followed_through_its_vtable() {
    let (_fut, node) = suspend_and_decode(awaits_pinned_box());
    assert_eq!(node.children.len(), 1, "{node:#?}");
    let child = &node.children[0];
    assert_eq!(child.path, concat!(module_path!(), "::boxed_leaf"));
    assert_eq!(child.kind, NodeKind::AsyncFn);
    assert_eq!(
        child.local("tag").map(|l| l.value.as_str()),
        Some("\"pinned\"")
    );
}

#[test]
fn an_awaited_box_dyn_future_is_followed_through_its_vtable() {
    let (_fut, node) = suspend_and_decode(awaits_box_pin());
    let paths: Vec<&str> = node.first_chain().map(|n| n.path.as_str()).collect();
    assert_eq!(
        paths[1],
        concat!(module_path!(), "::boxed_leaf"),
        "{paths:?}"
    );
    assert_eq!(
        node.children[0].local("tag").map(|l| l.value.as_str()),
        Some("\"unpin\"")
    );
}

#[test]
fn a_root_that_is_a_pinned_box_dyn_future_decodes_as_its_concrete_type() {
    let mut root: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(boxed_leaf("root"));
    assert!(crate::support::poll_once(root.as_mut()).is_pending());
    let node = crate::support::decode(&root);
    assert_eq!(node.path, concat!(module_path!(), "::boxed_leaf"));
    assert_eq!(
        node.local("tag").map(|l| l.value.as_str()),
        Some("\"root\"")
    );
}
