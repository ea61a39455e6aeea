//! One generic async fn instantiated twice: each instance is told apart by
//! its generic arguments; methods are named after their `self` type.

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

/// A connection handler with an async method, as services write them.
struct Handler {
    id: u32,
}

impl Handler {
    async fn run(&mut self, never: Never) -> u32 {
        never.await;
        self.id
    }
}

/// A service whose method takes `self: Arc<Self>`.
struct Service;

impl Service {
    async fn serve(self: std::sync::Arc<Self>) {
        Never.await;
    }
}

#[test]
fn methods_are_named_after_their_self_type() {
    let mut handler = Handler { id: 3 };
    let (_fut, root) = suspend_and_decode(handler.run(Never));
    assert_eq!(root.path, concat!(module_path!(), "::Handler::run"));
    let (_fut, root) = suspend_and_decode(std::sync::Arc::new(Service).serve());
    assert_eq!(root.path, concat!(module_path!(), "::Service::serve"));
}
