//! Two services in two processes: `checkout` calls `inventory` over HTTP,
//! and one view of both follows each stuck request from the handler that
//! waits in the first process to the line where the second is stuck.
//!
//! - `POST /checkout/{item}` (checkout) calls `POST /reserve/{item}`
//!   (inventory), which waits for the Mutex `stock` that a restock job
//!   holds while its supplier never answers.
//! - `POST /pay/{order}` (checkout) takes the Mutex `ledger` and calls
//!   `POST /confirm/{order}` (inventory), which calls back
//!   `POST /audit/{order}` (checkout), which needs `ledger`: a deadlock
//!   that neither process sees alone.
//!
//! Every call carries a W3C `traceparent` (`remote::Outbound` on the
//! client side, `remote::http::ServeLayer` on the servers), so each
//! handler shows the request's trace and the call it serves. The example
//! sends both requests, joins its own snapshot with inventory's (as
//! `async-inspect attach --pid A --pid B --dump` does), prints what the
//! join found, and checks it; with `--stay` it then keeps both services up
//! for `async-inspect attach`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_inspect::Snapshot;
use async_inspect::remote::Outbound;
use async_inspect::remote::across::{Process, join};
use async_inspect::remote::http::ServeLayer;
use async_inspect::sync::Mutex;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The trace of the request a user sends to `/checkout` (as a browser or
/// a gateway in front would give it).
const USER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// POSTs `path` to `address` with hyper's client, sending `traceparent`
/// if given: the answer's body.
async fn post_to(address: SocketAddr, path: &str, traceparent: Option<&str>) -> String {
    let Ok(stream) = tokio::net::TcpStream::connect(address).await else {
        return "unreachable".into();
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return "no handshake".into();
    };
    tokio::spawn(connection);
    let mut request = hyper::Request::post(path).header("host", "localhost");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let request = request.body(Empty::<Bytes>::new()).expect("a request");
    match sender.send_request(request).await {
        Ok(response) => match response.into_body().collect().await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            Err(_) => "cut".into(),
        },
        Err(_) => "failed".into(),
    }
}

/// A call to another service, as the calling task waits for it.
async fn call(address: SocketAddr, path: &str) -> String {
    let call = Outbound::new(format!("POST http://{address}{path}"));
    let traceparent = call.traceparent();
    call.wait(post_to(address, path, Some(&traceparent))).await
}

// ---- checkout ----

#[derive(Clone)]
struct Checkout {
    inventory: SocketAddr,
    ledger: Arc<Mutex<u64>>,
}

#[async_inspect::trace(skip(shop))]
async fn handle_checkout(shop: Checkout, item: u32) -> String {
    let reserved = call(shop.inventory, &format!("/reserve/{item}")).await;
    format!("checked out {item}: {reserved}")
}

#[async_inspect::trace(skip(shop))]
async fn pay(shop: Checkout, order: u32) -> String {
    let mut ledger = shop.ledger.lock().await;
    let confirmed = call(shop.inventory, &format!("/confirm/{order}")).await;
    *ledger += 1;
    format!("paid {order}: {confirmed}")
}

#[async_inspect::trace(skip(shop))]
async fn audit(shop: Checkout, order: u32) -> String {
    let ledger = shop.ledger.lock().await;
    format!("order {order} audited at entry {}", *ledger)
}

fn checkout_app(shop: Checkout) -> Router {
    Router::new()
        .route(
            "/checkout/{item}",
            post(|State(s): State<Checkout>, Path(item): Path<u32>| handle_checkout(s, item)),
        )
        .route(
            "/pay/{order}",
            post(|State(s): State<Checkout>, Path(order): Path<u32>| pay(s, order)),
        )
        .route(
            "/audit/{order}",
            post(|State(s): State<Checkout>, Path(order): Path<u32>| audit(s, order)),
        )
        .with_state(shop)
        .layer(ServeLayer::new())
}

// ---- inventory ----

#[derive(Clone)]
struct Inventory {
    checkout: SocketAddr,
    stock: Arc<Mutex<u32>>,
}

#[async_inspect::trace(skip(shop))]
async fn reserve(shop: Inventory, item: u32) -> String {
    let mut stock = shop.stock.lock().await;
    *stock -= 1;
    format!("reserved {item}")
}

#[async_inspect::trace(skip(shop))]
async fn confirm(shop: Inventory, order: u32) -> String {
    call(shop.checkout, &format!("/audit/{order}")).await
}

#[async_inspect::trace(skip(stock))]
async fn restock(stock: Arc<Mutex<u32>>) {
    let mut stock = stock.lock().await;
    // The supplier never answers, and the lock is held meanwhile.
    std::future::pending::<()>().await;
    *stock += 10;
}

fn inventory_app(shop: Inventory) -> Router {
    Router::new()
        .route(
            "/reserve/{item}",
            post(|State(s): State<Inventory>, Path(item): Path<u32>| reserve(s, item)),
        )
        .route(
            "/confirm/{order}",
            post(|State(s): State<Inventory>, Path(order): Path<u32>| confirm(s, order)),
        )
        // What the checkout process joins with its own snapshot.
        .route(
            "/debug/snapshot",
            get(|| async { axum::Json(async_inspect::snapshot()) }),
        )
        .with_state(shop)
        .layer(ServeLayer::new())
}

/// The inventory process: serves until its parent closes its stdin.
async fn run_inventory(checkout: SocketAddr) {
    let stock = Arc::new(Mutex::named("stock", 100));
    async_inspect::spawn(restock(Arc::clone(&stock)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let _ = async_inspect::agent::start();
    println!("inventory {address} {}", std::process::id());
    tokio::spawn(async move {
        let app = inventory_app(Inventory { checkout, stock });
        axum::serve(listener, app).await.expect("inventory serves");
    });
    // The parent went away (or closed our stdin): so do we.
    tokio::task::spawn_blocking(|| std::io::stdin().lines().for_each(drop))
        .await
        .expect("stdin read");
}

// ---- the example ----

/// Inventory, as a child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Takes `snapshot` until `ready` holds, for at most 20 seconds.
async fn until<F: std::future::Future<Output = Snapshot>>(
    what: &str,
    mut snapshot: impl FnMut() -> F,
    ready: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let start = Instant::now();
    loop {
        let taken = snapshot().await;
        if ready(&taken) {
            return taken;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not happen:\n{taken}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn waits_remote(snapshot: &Snapshot, name: &str) -> bool {
    snapshot.tasks().iter().any(|t| {
        t.name.starts_with(name)
            && t.waits
                .iter()
                .any(|w| matches!(w.reason, async_inspect::WaitReason::Remote(_)))
    })
}

fn blocked_in(snapshot: &Snapshot, name: &str) -> bool {
    snapshot
        .tasks()
        .iter()
        .any(|t| t.name.starts_with(name) && t.state == async_inspect::TaskState::Blocked)
}

async fn run_checkout(stay: bool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let _ = async_inspect::agent::start();
    let mut child = Command::new(std::env::current_exe().expect("this program"))
        .args(["inventory", &address.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("inventory starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("inventory says where it is");
    let child = Running(child);
    let mut words = line.split_whitespace().skip(1);
    let inventory: SocketAddr = words
        .next()
        .and_then(|a| a.parse().ok())
        .expect("inventory's address");
    let inventory_pid = words.next().unwrap_or("?").to_owned();
    let shop = Checkout {
        inventory,
        ledger: Arc::new(Mutex::named("ledger", 0)),
    };
    tokio::spawn(async move {
        axum::serve(listener, checkout_app(shop))
            .await
            .expect("checkout serves")
    });

    // A user's request, in the user's trace; and an order to pay.
    let user = format!("00-{USER_TRACE}-00f067aa0ba902b7-01");
    tokio::spawn(async move { post_to(address, "/checkout/42", Some(&user)).await });
    tokio::spawn(async move { post_to(address, "/pay/7", None).await });

    let fetch_inventory = || async move {
        let json = inventory_snapshot(inventory).await;
        serde_json::from_str::<Snapshot>(&json).expect("inventory's snapshot")
    };
    let mine = || async { async_inspect::snapshot() };
    until("checkout's calls", mine, |s| {
        waits_remote(s, "POST /checkout/42")
            && waits_remote(s, "POST /pay/7")
            && blocked_in(s, "POST /audit/7")
    })
    .await;
    let theirs = until("inventory stuck", fetch_inventory, |s| {
        blocked_in(s, "POST /reserve/42") && waits_remote(s, "POST /confirm/7")
    })
    .await;
    let ours = async_inspect::snapshot();

    let names = [
        format!("checkout (pid {})", std::process::id()),
        format!("inventory (pid {inventory_pid})"),
    ];
    let joined = join(&[
        Process {
            name: &names[0],
            snapshot: &ours,
        },
        Process {
            name: &names[1],
            snapshot: &theirs,
        },
    ]);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{joined}").expect("stdout");
    let text = joined.to_string();
    // The user's request: the handler waits for inventory, whose handler
    // waits for `stock`, held by the restock job.
    let chain: Vec<&str> = joined.chains[0]
        .iter()
        .filter_map(|node| joined.line(*node))
        .collect();
    assert!(
        chain.len() == 3
            && chain[0].contains("POST /checkout/42 in checkout")
            && chain[1].contains("POST /reserve/42 in inventory")
            && chain[1].contains("Mutex `stock` held by")
            && chain[1].contains(USER_TRACE)
            && chain[2].contains("restock in inventory"),
        "{text}"
    );
    assert_eq!(joined.deadlocks.len(), 1, "{text}");
    let attach = format!(
        "async-inspect attach --pid {} --pid {inventory_pid} --dump",
        std::process::id()
    );
    if stay {
        writeln!(out, "Both services stay up: {attach}").expect("stdout");
    } else {
        writeln!(out, "With --stay both services stay up for: {attach}").expect("stdout");
    }
    drop(out);
    if stay {
        std::future::pending::<()>().await;
    }
    drop(child);
}

/// Inventory's snapshot, as the JSON its `/debug/snapshot` answers.
async fn inventory_snapshot(address: SocketAddr) -> String {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("inventory is up");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("a handshake");
    tokio::spawn(connection);
    let request = hyper::Request::get("/debug/snapshot")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("a request");
    let response = sender.send_request(request).await.expect("an answer");
    let body = response.into_body().collect().await.expect("a body");
    String::from_utf8_lossy(&body.to_bytes()).into_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    match args.first().map(String::as_str) {
        Some("inventory") => {
            let checkout = args
                .get(1)
                .and_then(|a| a.parse().ok())
                .expect("usage: two_services inventory CHECKOUT_ADDRESS");
            runtime.block_on(run_inventory(checkout));
        }
        _ => runtime.block_on(run_checkout(args.iter().any(|a| a == "--stay"))),
    }
}
