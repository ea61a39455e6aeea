//! No `#[trace]` anywhere: only `async_inspect::spawn` and the inspected
//! `Mutex` instead of tokio's. A request is stuck three async fns deep on
//! a reply that never comes, and another task waits for a lock; the
//! report still names every async fn, the line of the `.await` each is
//! suspended at, the locals alive there, and what the innermost one waits
//! on, decoded from the program's debuginfo.
//!
//! Run it with `cargo run --example unannotated` (`--stay` keeps it
//! running, for `async-inspect attach --pid N --dump`).

use std::sync::Arc;
use std::time::Duration;

use async_inspect::sync::Mutex;
use tokio::sync::oneshot;

#[derive(Debug)]
struct User {
    id: u64,
    name: String,
}

async fn handle_request(user_id: u64, backend: Backend) -> usize {
    let user = User {
        id: user_id,
        name: format!("user-{user_id}"),
    };
    let posts = fetch_posts(&user, &backend).await;
    posts.len() + user.name.len()
}

async fn fetch_posts(user: &User, backend: &Backend) -> Vec<String> {
    let page = 1_u32;
    let reply = call_backend("posts", user.id, backend).await;
    vec![format!("{reply} (page {page})")]
}

async fn call_backend(service: &str, key: u64, backend: &Backend) -> String {
    let query = format!("{service}/{key}");
    let (reply_tx, reply_rx) = oneshot::channel();
    backend
        .requests
        .lock()
        .await
        .push((query.clone(), reply_tx));
    reply_rx.await.unwrap_or_default()
}

/// Requests with where to send their replies.
type Queue = Vec<(String, oneshot::Sender<String>)>;

/// A backend that takes requests and never answers them.
#[derive(Clone)]
struct Backend {
    requests: Arc<Mutex<Queue>>,
}

async fn refresh_cache(cache: Arc<Mutex<Vec<String>>>) {
    let mut entries = cache.lock().await;
    entries.push("refreshed".into());
}

#[async_inspect::main(worker_threads = 2)]
async fn main() {
    let backend = Backend {
        requests: Arc::new(Mutex::named("backend queue", Vec::new())),
    };
    let request = async_inspect::spawn(handle_request(12345, backend.clone()));

    let cache = Arc::new(Mutex::named("cache", Vec::new()));
    let held = cache.lock().await;
    let refresher = async_inspect::spawn(refresh_cache(cache.clone()));

    async_inspect::time::sleep(Duration::from_millis(300)).await;
    let snapshot = async_inspect::snapshot();
    println!("{snapshot}");
    let stuck = snapshot.task(request.inspect_id().unwrap()).unwrap();
    let machine = stuck
        .state_machine
        .as_ref()
        .expect("decoded from debuginfo");
    let chain: Vec<&str> = machine.first_chain().map(|n| n.path.as_str()).collect();
    assert!(
        chain.iter().any(|p| p.ends_with("::call_backend")),
        "the request is stuck in call_backend: {chain:?}"
    );

    if std::env::args().any(|arg| arg == "--stay") {
        println!(
            "pid {}: attach with async-inspect attach --pid {} --dump",
            std::process::id(),
            std::process::id()
        );
        std::future::pending::<()>().await;
    }
    drop(held);
    refresher.await.unwrap();
    request.abort();
}
