//! With the `inspect` feature off, async-inspect is tokio: `spawn` is
//! `tokio::spawn`, `#[trace]` leaves the fn as it was, `inspect_point!`
//! emits nothing, and the snapshot says instrumentation is compiled out.
//!
//! Not a test of the workspace: `tests/feature_off.rs` builds it as the
//! test of a crate of its own that depends on async-inspect with
//! `default-features = false, features = ["tokio"]`, as a user turns the
//! inspection off.

use std::sync::atomic::{AtomicUsize, Ordering};

#[async_inspect::trace]
async fn traced(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x + 1
}

async fn untraced(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x + 1
}

#[test]
fn spawn_is_tokios_spawn() {
    let spawn = async_inspect::spawn::<std::future::Ready<u8>>;
    assert!(
        std::any::type_name_of_val(&spawn).starts_with("tokio::"),
        "{}",
        std::any::type_name_of_val(&spawn)
    );
    let _: fn(std::future::Ready<u8>) -> tokio::task::JoinHandle<u8> = async_inspect::spawn;
    let _: fn(std::time::Duration) -> tokio::time::Sleep = async_inspect::time::sleep;
}

#[test]
fn trace_leaves_the_fn_as_it_was() {
    assert_eq!(
        std::mem::size_of_val(&traced(1)),
        std::mem::size_of_val(&untraced(1)),
        "no frame, no await points: the same future"
    );
}

#[test]
fn inspect_point_evaluates_nothing() {
    static EVALUATED: AtomicUsize = AtomicUsize::new(0);
    async_inspect::inspect_point!("label", EVALUATED.fetch_add(1, Ordering::Relaxed));
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 0);
}

#[test]
fn the_snapshot_says_instrumentation_is_compiled_out() {
    let snapshot = async_inspect::snapshot();
    assert_eq!(
        snapshot.instrumentation(),
        async_inspect::Instrumentation::CompiledOut
    );
    assert!(snapshot.tasks().is_empty());
    assert!(snapshot.to_string().contains("compiled out"));
}

#[async_inspect::test]
async fn main_and_test_run_the_body_on_plain_tokio() {
    assert_eq!(async_inspect::current_task(), None);
    let handle = async_inspect::task::Builder::new()
        .name("ignored")
        .spawn(traced(1))
        .unwrap();
    assert_eq!(handle.await.unwrap(), 2);
    assert!(async_inspect::snapshot().tasks().is_empty());
}
