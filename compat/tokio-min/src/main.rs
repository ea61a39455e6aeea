//! A program on the oldest supported tokio: a traced call, an inspected
//! lock and channel, the report.

use std::time::Duration;

use async_inspect::sync::{Mutex, mpsc};

#[async_inspect::trace]
async fn work(lock: &Mutex<u32>, tx: mpsc::Sender<u32>) {
    let mut value = lock.lock().await;
    *value += 1;
    tx.send(*value).await.expect("the receiver is alive");
}

#[async_inspect::main]
async fn main() {
    let lock = std::sync::Arc::new(Mutex::named("counter", 0));
    let (tx, mut rx) = mpsc::channel(4);
    let task = {
        let lock = lock.clone();
        async_inspect::spawn(async move { work(&lock, tx).await })
    };
    assert_eq!(rx.recv().await, Some(1));
    task.await.expect("the task ends");
    async_inspect::time::sleep(Duration::from_millis(1)).await;
    let snapshot = async_inspect::snapshot();
    assert!(snapshot.tasks().iter().any(|t| t.name == "main"));
    println!("tokio-min: ok");
}
