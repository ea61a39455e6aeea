//! Heavy contention without a cycle is never reported as a deadlock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_inspect::sync::Mutex;

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_tasks_contending_in_one_order_never_deadlock() {
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    async_inspect::on_deadlock(|_| {
        REPORTED.fetch_add(1, Ordering::Relaxed);
    });
    let locks: Arc<[Mutex<u64>; 3]> = Arc::new([
        Mutex::named("first", 0),
        Mutex::named("second", 0),
        Mutex::named("third", 0),
    ]);
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let locks = locks.clone();
            async_inspect::spawn(async move {
                for round in 0..50 {
                    let mut a = locks[0].lock().await;
                    tokio::task::yield_now().await;
                    if round % 2 == 0 {
                        let mut b = locks[1].lock().await;
                        *b += 1;
                    }
                    let mut c = locks[2].lock().await;
                    tokio::task::yield_now().await;
                    *a += 1;
                    *c += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(*locks[0].lock().await, 200 * 50);
    assert_eq!(*locks[1].lock().await, 200 * 25);
    assert_eq!(REPORTED.load(Ordering::Relaxed), 0);
    assert!(async_inspect::snapshot().deadlocks().is_empty());
}
