//! A process that holds a suspended future for the cross-process decoding
//! test (`tests/state_machines/cross_process.rs`): it prints
//! `ROOT <anchor> <address> <size>` and keeps the future until its stdin
//! closes.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Never ready.
struct Never;

impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

async fn held_elsewhere(label: String) -> usize {
    let kept = label;
    Never.await;
    kept.len()
}

fn anchor_of<F>(_: &F) -> usize {
    async_inspect_debuginfo::anchor::<F> as fn() -> &'static str as usize
}

fn main() {
    let mut fut = Box::pin(held_elsewhere("from the child".to_owned()));
    let polled = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending());
    println!(
        "ROOT {} {} {}",
        anchor_of(&*fut),
        &*fut as *const _ as usize,
        std::mem::size_of_val(&*fut)
    );
    std::io::stdout().flush().unwrap();
    // Hold the future until the parent is done reading it.
    let _ = std::io::stdin().read(&mut [0]);
}
