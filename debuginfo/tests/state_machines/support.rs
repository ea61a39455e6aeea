//! Helpers: poll a future once, then decode it from this process.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use async_inspect_debuginfo::{
    Budget, Error, LoadBias, Memory, ProcessMemory, Program, RootFuture, StateNode, anchor,
};

/// This test binary, opened once for all tests.
pub fn program() -> &'static (Program, LoadBias) {
    static PROGRAM: OnceLock<(Program, LoadBias)> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let program = Program::open("/proc/self/exe").expect("open /proc/self/exe");
        let bias = program.bias_for_self().expect("load bias");
        (program, bias)
    })
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// The run-time address of the type anchor of `F`.
pub fn anchor_of<F>(_: &F) -> u64 {
    anchor::<F> as fn() -> &'static str as usize as u64
}

/// What the hot path records for a pinned future.
pub fn root_of<F>(fut: &F) -> RootFuture {
    let (_, bias) = program();
    RootFuture {
        anchor_pc: bias.to_link_time(anchor_of(fut)),
        address: fut as *const F as u64,
        size: std::mem::size_of_val(fut) as u64,
    }
}

/// Decodes `fut` (already polled as the test wants) from this process.
pub fn try_decode_with<F>(
    fut: &F,
    memory: &dyn Memory,
    budget: &Budget,
) -> Result<StateNode, Error> {
    let (program, bias) = program();
    program.decode(&root_of(fut), memory, *bias, budget)
}

/// Decodes `fut` with the default budget; panics with the error.
pub fn decode<F>(fut: &F) -> StateNode {
    match try_decode_with(fut, &ProcessMemory::this_process(), &Budget::default()) {
        Ok(node) => node,
        Err(e) => panic!("decode failed: {e}"),
    }
}

/// Pins `fut` on the heap, polls it once and decodes it.
pub fn suspend_and_decode<F: Future>(fut: F) -> (Pin<Box<F>>, StateNode) {
    let mut fut = Box::pin(fut);
    assert!(
        poll_once(fut.as_mut()).is_pending(),
        "the future should suspend"
    );
    let node = decode(&*fut);
    (fut, node)
}

/// A future that is never ready: the await every test suspends on.
#[derive(Debug, Default)]
pub struct Never;

impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// The line and file of the await a node is suspended at.
pub fn suspended_at(node: &StateNode) -> (u32, &str) {
    match &node.state {
        async_inspect_debuginfo::NodeState::Suspended { line, file, .. } => (*line, file.as_str()),
        other => panic!("{} is not suspended but {other:?}", node.path),
    }
}
