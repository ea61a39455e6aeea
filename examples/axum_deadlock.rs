//! An axum service whose handlers hyper runs in tasks it spawned itself
//! (plain `tokio::spawn`): traced handlers become adopted tasks, so a stuck
//! request shows where it is stuck, and two requests that deadlock show
//! the cycle.
//!
//! - `GET /transfer/{from}/{to}` moves money between two accounts, taking
//!   `from`'s lock then `to`'s: `/transfer/alice/bob` and
//!   `/transfer/bob/alice` at the same time deadlock.
//! - `GET /report/{user}` waits on a downstream service that never answers.
//! - `GET /health` answers at once, whatever else is stuck.
//!
//! Run it with `cargo run --example axum_deadlock` (`-- --port N`; 3000 by
//! default), then from another terminal:
//!
//! ```sh
//! curl localhost:3000/transfer/alice/bob & curl localhost:3000/transfer/bob/alice &
//! curl localhost:3000/report/7 &
//! async-inspect attach --pid <the pid it printed> --dump
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_inspect::sync::Mutex;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use tokio::sync::oneshot;

/// The bank: an inspected lock per account. (Public, as `app`, for the
/// end-to-end test that serves this file's service.)
#[derive(Clone, Debug)]
pub struct Bank {
    accounts: Arc<HashMap<String, Arc<Mutex<i64>>>>,
    /// Queries to a downstream service that never answers them.
    downstream: Arc<std::sync::Mutex<Vec<oneshot::Sender<String>>>>,
}

impl Default for Bank {
    fn default() -> Self {
        Self::new()
    }
}

impl Bank {
    /// Three accounts of 100 each.
    pub fn new() -> Self {
        let accounts = ["alice", "bob", "carol"]
            .into_iter()
            .map(|name| (name.to_owned(), Arc::new(Mutex::named(name, 100))))
            .collect();
        Self {
            accounts: Arc::new(accounts),
            downstream: Arc::default(),
        }
    }

    fn account(&self, name: &str) -> Option<Arc<Mutex<i64>>> {
        self.accounts.get(name).cloned()
    }
}

#[async_inspect::trace(skip(bank))]
async fn transfer(bank: Bank, from: String, to: String) -> String {
    let (Some(source), Some(target)) = (bank.account(&from), bank.account(&to)) else {
        return "no such account\n".to_owned();
    };
    let mut source = source.lock().await;
    // Long enough for a request the other way to take its first lock.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut target = target.lock().await;
    *source -= 10;
    *target += 10;
    format!("moved 10 from {from} to {to}\n")
}

#[async_inspect::trace(skip(bank))]
async fn report(bank: Bank, user: u32) -> String {
    let history = fetch_history(&bank, user).await;
    format!("report for {user}: {history}\n")
}

#[async_inspect::trace(skip(bank))]
async fn fetch_history(bank: &Bank, user: u32) -> String {
    let (tx, rx) = oneshot::channel();
    // The downstream service keeps the query and never answers.
    bank.downstream
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(tx);
    async_inspect::inspect_point!("history requested", user);
    rx.await.unwrap_or_default()
}

/// The service's routes.
pub fn app(bank: Bank) -> Router {
    Router::new()
        .route(
            "/transfer/{from}/{to}",
            get(
                |State(bank): State<Bank>, Path((from, to)): Path<(String, String)>| {
                    transfer(bank, from, to)
                },
            ),
        )
        .route(
            "/report/{user}",
            get(|State(bank): State<Bank>, Path(user): Path<u32>| report(bank, user)),
        )
        .route("/health", get(|| async { "ok\n" }))
        .with_state(bank)
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .map_or(3000, |p| p.parse().expect("--port takes a number"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is free");
    let address = listener.local_addr().expect("an address");
    // So that `async-inspect attach --pid` can look inside.
    if let Err(error) = async_inspect::agent::start() {
        eprintln!("the agent did not start: {error}");
    }
    println!(
        "listening on http://{address} (pid {}); attach with: async-inspect attach --pid {}",
        std::process::id(),
        std::process::id()
    );
    axum::serve(listener, app(Bank::new()))
        .await
        .expect("the server runs");
}
