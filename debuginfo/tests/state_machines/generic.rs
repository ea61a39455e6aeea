//! One generic async fn instantiated twice: each instance is told apart by
//! its generic arguments.

use async_inspect_debuginfo::NodeKind;

use crate::support::{Never, suspend_and_decode};

async fn hold<T: std::fmt::Debug>(item: T) -> String {
    Never.await;
    format!("{item:?}")
}

#[test]
fn a_generic_async_fn_instantiated_twice_is_told_apart() {
    let (_a, number) = suspend_and_decode(hold(42u8));
    let (_b, text) = suspend_and_decode(hold("forty-two"));
    assert_eq!(number.path, concat!(module_path!(), "::hold<u8>"));
    assert_eq!(text.path, concat!(module_path!(), "::hold<&str>"));
    assert_eq!(number.kind, NodeKind::AsyncFn);
    assert_eq!(number.local("item").map(|l| l.value.as_str()), Some("42"));
    assert_eq!(
        text.local("item").map(|l| l.value.as_str()),
        Some("\"forty-two\"")
    );
}
