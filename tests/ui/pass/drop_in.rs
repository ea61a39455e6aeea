//! What a tokio program imports builds with only the crate's name changed.
use std::sync::Arc;

use async_inspect::sync::{Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore, broadcast, mpsc, oneshot, watch};
use async_inspect::task::JoinHandle;
use async_inspect::time::{self, Duration, Instant, MissedTickBehavior};

async fn service(shutdown: broadcast::Sender<()>, purge: Arc<Notify>) -> JoinHandle<u32> {
    let mut stop = shutdown.subscribe();
    let (state, mut changes) = watch::channel(0_u32);
    let once: OnceCell<u32> = OnceCell::new();
    let barrier = Barrier::new(1);
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let (reply, answer) = oneshot::channel::<u32>();
    let lock = Mutex::new(1_u32);
    let table = RwLock::new(2_u32);
    let permits = Semaphore::new(3);
    async_inspect::spawn(async move {
        let started = Instant::now();
        let mut tick = time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.tick().await;
        let _ = time::timeout(Duration::from_millis(1), purge.notified()).await;
        let _ = time::sleep_until(started + Duration::from_millis(1)).await;
        barrier.wait().await;
        state.send(1).ok();
        changes.changed().await.ok();
        tx.send(*once.get_or_init(|| async { 4 }).await).ok();
        reply.send(rx.recv().await.unwrap_or(0)).ok();
        let _permit = permits.acquire().await;
        let sum = *lock.lock().await + *table.read().await + answer.await.unwrap_or(0);
        tokio::select! {
            _ = stop.recv() => 0,
            _ = time::sleep(Duration::from_millis(1)) => sum,
        }
    })
}

fn main() {
    let _ = service;
}
