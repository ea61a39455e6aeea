//! A request handler that hangs three traced calls deep, and the report that
//! says where and why.
//!
//! `handle_request` → `fetch_posts` → `call_backend` sends a query to a
//! backend that never answers, and waits on the reply with no timeout. A
//! second request waits on the same backend under a timeout, a third is
//! sleeping, and a fourth hogged its executor thread for a moment. After a
//! second the program prints the report: the stuck `.await` with its
//! file:line and step, why it waits, and that nothing will ever end it.
//!
//! Run it with `cargo run --example stuck_request` (`-- --stay`: stay stuck).

use std::time::Duration;

use async_inspect::time::{sleep, timeout};
use tokio::sync::{mpsc, oneshot};

type Query = (String, oneshot::Sender<Vec<u8>>);

#[async_inspect::trace(skip(backend))]
async fn handle_request(user_id: u64, backend: mpsc::Sender<Query>) -> Result<String, String> {
    let user = load_user(user_id).await?;
    let posts = fetch_posts(&user, &backend).await?;
    Ok(format!("{user}: {posts} posts"))
}

#[async_inspect::trace]
async fn load_user(user_id: u64) -> Result<String, String> {
    sleep(Duration::from_millis(15)).await;
    Ok(format!("user-{user_id}"))
}

#[async_inspect::trace(skip(backend))]
async fn fetch_posts(user: &str, backend: &mpsc::Sender<Query>) -> Result<usize, String> {
    let reply = call_backend("posts", user, backend).await?;
    Ok(reply.len())
}

#[async_inspect::trace(skip(backend))]
async fn call_backend(
    service: &str,
    key: &str,
    backend: &mpsc::Sender<Query>,
) -> Result<Vec<u8>, String> {
    let (reply_tx, reply_rx) = oneshot::channel();
    backend
        .send((format!("{service}/{key}"), reply_tx))
        .await
        .map_err(|_| "backend gone".to_string())?;
    async_inspect::inspect_point!("query sent", service);
    reply_rx
        .await
        .map_err(|_| "backend dropped the query".to_string())
}

#[async_inspect::trace(skip(backend))]
async fn handle_with_deadline(user_id: u64, backend: mpsc::Sender<Query>) -> Option<String> {
    let answer = timeout(Duration::from_secs(30), handle_request(user_id, backend)).await;
    answer.ok()?.ok()
}

#[async_inspect::trace]
async fn refresh_cache(every: Duration) {
    loop {
        sleep(every).await;
    }
}

#[async_inspect::trace]
async fn crunch(rounds: u32) -> u64 {
    sleep(Duration::from_millis(1)).await;
    // CPU-bound work on an executor thread: no other task runs on it meanwhile.
    std::thread::sleep(Duration::from_millis(50 * u64::from(rounds)));
    sleep(Duration::from_millis(1)).await;
    u64::from(rounds)
}

#[async_inspect::main(worker_threads = 2)]
async fn main() {
    // A backend that takes queries and never answers them.
    let (backend, mut queries) = mpsc::channel::<Query>(16);
    async_inspect::task::Builder::new()
        .name("backend")
        .spawn(async move {
            let mut unanswered = Vec::new();
            while let Some(query) = queries.recv().await {
                unanswered.push(query);
            }
        })
        .expect("spawn backend");

    // Hogs an executor thread for 150 ms: the report's lint says where.
    async_inspect::spawn(crunch(3)).await.expect("crunch");

    let stuck = async_inspect::spawn(handle_request(12345, backend.clone()));
    let patient = async_inspect::spawn(handle_with_deadline(777, backend.clone()));
    let cache = async_inspect::task::Builder::new()
        .name("cache refresher")
        .spawn(refresh_cache(Duration::from_secs(60)))
        .expect("spawn cache refresher");

    sleep(Duration::from_secs(1)).await;
    async_inspect::print_report();
    if std::env::args().any(|arg| arg == "--stay") {
        // Stay stuck, for `async-inspect attach --pid …` from another
        // terminal (run with ASYNC_INSPECT_AGENT=1).
        std::future::pending::<()>().await;
    }

    stuck.abort();
    patient.abort();
    cache.abort();
}
