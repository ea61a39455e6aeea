//! The states a state machine can be in besides suspended.

use std::panic::AssertUnwindSafe;

use async_inspect_debuginfo::NodeState;

use crate::support::{Never, decode, poll_once};

async fn quick(n: u32) -> u32 {
    n + 1
}

async fn panics(n: u32) -> u32 {
    if n > 0 {
        panic!("on purpose");
    }
    Never.await;
    n
}

#[test]
fn a_future_never_polled_is_unresumed_with_its_arguments() {
    let fut = quick(4);
    let node = decode(&fut);
    assert_eq!(node.state, NodeState::Unresumed);
    assert_eq!(node.local("n").map(|l| l.value.as_str()), Some("4"));
    let defined = node.defined_at.expect("fn location");
    assert!(defined.file.ends_with(file!()));
}

#[test]
fn a_finished_future_is_returned_with_no_locals() {
    let mut fut = Box::pin(quick(4));
    assert!(poll_once(fut.as_mut()).is_ready());
    let node = decode(&*fut);
    assert_eq!(node.state, NodeState::Returned);
    assert!(node.locals.is_empty());
    assert!(node.children.is_empty());
}

#[test]
fn a_future_that_panicked_is_panicked() {
    let mut fut = Box::pin(panics(1));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut())));
    std::panic::set_hook(hook);
    assert!(result.is_err());
    assert_eq!(decode(&*fut).state, NodeState::Panicked);
}
