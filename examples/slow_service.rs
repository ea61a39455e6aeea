//! A service that is slow for reasons a profile should find: a database
//! query that now and then takes 100 ms, a cache behind one contended
//! `Mutex` held across work, and a render step that burns CPU.
//!
//! Eight workers take requests in a loop: `handle_request` →
//! `authenticate` (a quick sleep) → `query_db` (5 ms, every tenth 100 ms)
//! → `update_cache` (the `cache` lock, held 2 ms) → `render` (CPU).
//! It runs for `--seconds N` (default 3; each worker serves one request at
//! least), then prints how many requests it served.
//!
//! Run it with `cargo run --example slow_service`, or profile it with
//! `async-inspect profile -- target/debug/examples/slow_service`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_inspect::sync::Mutex;
use async_inspect::time::sleep;

#[async_inspect::trace(skip(cache))]
async fn handle_request(id: u64, cache: Arc<Mutex<Vec<u64>>>) -> usize {
    authenticate(id).await;
    let rows = query_db(id).await;
    update_cache(&cache, rows).await;
    render(rows).await
}

#[async_inspect::trace]
async fn authenticate(id: u64) {
    sleep(Duration::from_millis(1 + id % 2)).await;
}

#[async_inspect::trace]
async fn query_db(id: u64) -> u64 {
    let slow = id.is_multiple_of(10);
    let took = if slow { 100 } else { 5 };
    sleep(Duration::from_millis(took)).await;
    id % 7 + 1
}

#[async_inspect::trace(skip(cache))]
async fn update_cache(cache: &Mutex<Vec<u64>>, rows: u64) {
    let mut cache = cache.lock().await;
    // Held across an await: every other worker queues behind it.
    sleep(Duration::from_millis(2)).await;
    cache.push(rows);
    if cache.len() > 64 {
        cache.clear();
    }
}

#[async_inspect::trace]
async fn render(rows: u64) -> usize {
    tokio::task::yield_now().await;
    // A little CPU per row.
    let mut hash = rows;
    for i in 0..20_000 * rows {
        hash = hash.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    std::hint::black_box(hash) as usize % 1000
}

#[async_inspect::main(worker_threads = 2)]
async fn main() {
    let seconds = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map_or(3.0, |s| s.parse::<f64>().expect("--seconds takes a number"));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let cache = Arc::new(Mutex::named("cache", Vec::new()));
    let served = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(1));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (cache, served, next) = (cache.clone(), served.clone(), next.clone());
            async_inspect::task::Builder::new()
                .name(&format!("worker-{w}"))
                .spawn(async move {
                    // One request at least, however short the run (or
                    // late the worker's start on a busy machine).
                    loop {
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        let request = async_inspect::spawn(handle_request(id, cache.clone()));
                        request.await.expect("request");
                        served.fetch_add(1, Ordering::Relaxed);
                        if Instant::now() >= until {
                            break;
                        }
                    }
                })
                .expect("spawn worker")
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    println!(
        "served {} requests in {seconds}s",
        served.load(Ordering::Relaxed)
    );
}
