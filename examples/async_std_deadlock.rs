//! The deadlock example on async-std: two transfers take the same two accounts'
//! locks in opposite orders; async-inspect names both tasks, both locks and
//! both lines the moment the cycle closes.
//!
//! Run it with `cargo run --example async_std_deadlock --features async-std`.

use std::sync::Arc;
use std::time::Duration;

use async_inspect::sync::Mutex;

#[async_inspect::trace(skip(from, to))]
async fn transfer(from: Arc<Mutex<u64>>, to: Arc<Mutex<u64>>, amount: u64) {
    let mut source = from.lock().await;
    // Long enough for the other transfer to take its first lock.
    async_inspect::time::sleep(Duration::from_millis(50)).await;
    let mut target = to.lock().await;
    *source -= amount;
    *target += amount;
}

#[async_inspect::main(runtime = "async-std")]
async fn main() {
    let alice = Arc::new(Mutex::named("alice", 100));
    let bob = Arc::new(Mutex::named("bob", 100));

    // The deadlock report is printed to stderr when the cycle closes.
    let a = async_inspect::async_std::spawn(transfer(alice.clone(), bob.clone(), 10));
    let b = async_inspect::async_std::spawn(transfer(bob.clone(), alice.clone(), 20));

    async_inspect::time::sleep(Duration::from_millis(500)).await;
    let snapshot = async_inspect::snapshot();
    eprintln!("\n--- the report a moment later ---\n{snapshot}");
    assert_eq!(snapshot.deadlocks().len(), 1, "the transfers deadlocked");
    a.cancel().await;
    b.cancel().await;
}
