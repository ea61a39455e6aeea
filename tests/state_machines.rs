//! Tasks nobody annotated, explained from the program's debuginfo: each
//! spawned future decoded into its async fns from root to leaf, the
//! `.await` each is suspended at (its line taken from `line!()` beside
//! it), the locals alive there with their values, and every branch of a
//! join or select; boxed futures through their vtables; generic fns told
//! apart; a task polled while snapshots are taken never read torn.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_inspect::{NodeKind, NodeState, Snapshot, StateNode, TaskId, TaskInfo};
use common::eventually;
use tokio::sync::oneshot;

/// The line of each await below, stored by the line just before it.
static HANDLE_AWAIT: AtomicU32 = AtomicU32::new(0);
static LOAD_AWAIT: AtomicU32 = AtomicU32::new(0);
static CALL_AWAIT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
struct User {
    id: u64,
    name: String,
}

async fn handle_request(user_id: u64, reply: oneshot::Receiver<u32>) -> usize {
    let user = User {
        id: user_id,
        name: format!("user-{user_id}"),
    };
    HANDLE_AWAIT.store(line!() + 1, Ordering::Relaxed);
    let posts = load_posts(&user, reply).await;
    posts.len() + user.name.len()
}

async fn load_posts(user: &User, reply: oneshot::Receiver<u32>) -> Vec<String> {
    let mut tags = vec![3_u8, 1];
    tags.push(4);
    LOAD_AWAIT.store(line!() + 1, Ordering::Relaxed);
    let got = call_backend("posts", user.id, reply).await;
    tags.iter().map(|t| format!("{t}:{got}")).collect()
}

async fn call_backend(service: &str, key: u64, reply: oneshot::Receiver<u32>) -> u32 {
    let label = format!("{service}/{key}");
    let attempts = 2_i32;
    CALL_AWAIT.store(line!() + 1, Ordering::Relaxed);
    let value = reply.await.unwrap_or(0);
    value + label.len() as u32 + attempts as u32
}

/// Spawns `future` and waits until its state machine is decoded and
/// `ready` holds for it.
async fn decoded(
    what: &str,
    id: TaskId,
    ready: impl Fn(&StateNode) -> bool,
) -> (Snapshot, StateNode) {
    let snapshot = eventually(what, |s| {
        s.task(id)
            .and_then(|t| t.state_machine.as_deref())
            .is_some_and(&ready)
    })
    .await;
    let machine = snapshot.task(id).unwrap().state_machine.clone().unwrap();
    (snapshot, *machine)
}

fn node<'a>(chain: &'a StateNode, suffix: &str) -> &'a StateNode {
    let mut found = None;
    walk(chain, &mut |n| {
        if found.is_none() && n.path.ends_with(suffix) {
            found = Some(n);
        }
    });
    found.unwrap_or_else(|| panic!("no {suffix} in {chain:#?}"))
}

fn walk<'a>(node: &'a StateNode, visit: &mut impl FnMut(&'a StateNode)) {
    visit(node);
    for child in &node.children {
        walk(child, visit);
    }
}

fn suspended_line(node: &StateNode) -> u32 {
    match &node.state {
        NodeState::Suspended { file, line, .. } => {
            assert_eq!(file, file!(), "{} is suspended in this file", node.path);
            *line
        }
        other => panic!("{} is {other:?}, not suspended", node.path),
    }
}

fn local(node: &StateNode, name: &str) -> String {
    node.local(name)
        .unwrap_or_else(|| panic!("{} has no local {name}: {:?}", node.path, node.locals))
        .value
        .clone()
}

fn spawned_id<T>(handle: &async_inspect::task::JoinHandle<T>) -> TaskId {
    handle.inspect_id().expect("inspection is on")
}

#[async_inspect::test]
async fn a_chain_of_three_async_fns_shows_each_await_line_and_its_locals() {
    let (tx, rx) = oneshot::channel();
    let task = async_inspect::spawn(handle_request(12345, rx));
    let id = spawned_id(&task);
    let (snapshot, machine) = decoded("the chain down to call_backend", id, |m| {
        m.first_chain().any(|n| n.path.ends_with("::call_backend"))
    })
    .await;
    let paths: Vec<&str> = machine.first_chain().map(|n| n.path.as_str()).collect();
    assert_eq!(
        &paths[..3],
        [
            "state_machines::handle_request",
            "state_machines::load_posts",
            "state_machines::call_backend"
        ]
    );
    let (handle, load, call) = (
        node(&machine, "::handle_request"),
        node(&machine, "::load_posts"),
        node(&machine, "::call_backend"),
    );
    assert_eq!(suspended_line(handle), HANDLE_AWAIT.load(Ordering::Relaxed));
    assert_eq!(suspended_line(load), LOAD_AWAIT.load(Ordering::Relaxed));
    assert_eq!(suspended_line(call), CALL_AWAIT.load(Ordering::Relaxed));
    // A struct with its fields, a String, a Vec, integers.
    assert_eq!(
        local(handle, "user"),
        r#"User { id: 12345, name: "user-12345" }"#
    );
    assert_eq!(local(load, "tags"), "[3, 1, 4]");
    assert_eq!(local(call, "label"), r#""posts/12345""#);
    assert_eq!(local(call, "attempts"), "2");
    assert_eq!(local(call, "key"), "12345");
    // The leaf is what call_backend awaits: tokio's oneshot receiver.
    let leaf = machine.first_chain().last().unwrap();
    assert!(
        matches!(&leaf.kind, NodeKind::Leaf(name) if name.starts_with("tokio::sync::oneshot::Receiver")),
        "{leaf:?}"
    );
    // Named after its root async fn, not after where it was spawned.
    let info = snapshot.task(id).unwrap();
    assert_eq!(info.name, "handle_request");
    let report = snapshot.to_string();
    for line in [
        HANDLE_AWAIT.load(Ordering::Relaxed),
        LOAD_AWAIT.load(Ordering::Relaxed),
        CALL_AWAIT.load(Ordering::Relaxed),
    ] {
        assert!(
            report.contains(&format!("{}:{line}", file!())),
            "line {line} in\n{report}"
        );
    }
    assert!(report.contains(r#"label = "posts/12345""#), "{report}");
    assert!(
        report.contains("here: no value sent yet; its sender is alive"),
        "the leaf says what it waits for:\n{report}"
    );
    tx.send(7).unwrap();
    assert_eq!(task.await.unwrap(), 3 + "user-12345".len());
}

async fn moves_its_argument(text: String, never: oneshot::Receiver<()>) -> usize {
    let taken = text;
    let _ = never.await;
    taken.len()
}

#[async_inspect::test]
async fn an_argument_moved_before_the_await_is_not_shown_as_live() {
    let (_tx, rx) = oneshot::channel();
    let task = async_inspect::spawn(moves_its_argument("moved".into(), rx));
    let (_, machine) = decoded("moves_its_argument to suspend", spawned_id(&task), |m| {
        matches!(m.state, NodeState::Suspended { .. })
    })
    .await;
    assert_eq!(local(&machine, "taken"), r#""moved""#);
    assert!(machine.local("text").is_none(), "{:?}", machine.locals);
    task.abort();
}

async fn branch(name: &'static str, never: oneshot::Receiver<()>) -> &'static str {
    let _ = never.await;
    name
}

static JOIN_LINE: AtomicU32 = AtomicU32::new(0);
static SELECT_LINE: AtomicU32 = AtomicU32::new(0);

#[rustfmt::skip] // the join shares its line with `line!()`
async fn both(a: oneshot::Receiver<()>, b: oneshot::Receiver<()>) {
    JOIN_LINE.store(line!(), Ordering::Relaxed); tokio::join!(branch("left", a), branch("right", b));
}

#[rustfmt::skip] // the select shares its line with `line!()`
async fn either(c: oneshot::Receiver<()>, d: oneshot::Receiver<()>) -> &'static str {
    SELECT_LINE.store(line!(), Ordering::Relaxed); tokio::select! {
        x = branch("first", c) => x,
        y = branch("second", d) => y,
    }
}

#[async_inspect::test]
async fn every_branch_of_a_join_and_a_select_is_a_child() {
    let (_a, a) = oneshot::channel();
    let (_b, b) = oneshot::channel();
    let joined = async_inspect::spawn(both(a, b));
    let (_c, c) = oneshot::channel();
    let (_d, d) = oneshot::channel();
    let selected = async_inspect::spawn(either(c, d));
    let branches = |m: &StateNode| {
        let mut n = 0;
        walk(m, &mut |node| {
            n += usize::from(node.path.ends_with("::branch"))
        });
        n
    };
    let (_, join) = decoded("both join branches", spawned_id(&joined), |m| {
        branches(m) == 2
    })
    .await;
    let (_, select) = decoded("both select branches", spawned_id(&selected), |m| {
        branches(m) == 2
    })
    .await;
    for machine in [&join, &select] {
        let mut names = Vec::new();
        walk(machine, &mut |node| {
            if node.path.ends_with("::branch") {
                names.push(local(node, "name"));
            }
        });
        names.sort();
        assert_eq!(names.len(), 2, "{machine:#?}");
    }
    // The line of the macro's call, not a line inside tokio's macro.
    assert_eq!(suspended_line(&join), JOIN_LINE.load(Ordering::Relaxed));
    assert_eq!(suspended_line(&select), SELECT_LINE.load(Ordering::Relaxed));
    joined.abort();
    selected.abort();
}

async fn boxed_inner(never: oneshot::Receiver<()>) {
    let marker = 99_u16;
    let _ = never.await;
    let _ = marker;
}

async fn hold<T: std::fmt::Debug>(value: T, never: oneshot::Receiver<()>) -> T {
    let _ = never.await;
    value
}

#[async_inspect::test]
async fn a_boxed_dyn_future_and_a_generic_fn_twice_are_told_apart() {
    let (_a, a) = oneshot::channel();
    let boxed: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(boxed_inner(a));
    let boxed = async_inspect::spawn(boxed);
    let (_b, b) = oneshot::channel();
    let (_c, c) = oneshot::channel();
    let bytes = async_inspect::spawn(hold(7_u8, b));
    let text = async_inspect::spawn(hold("seven", c));
    let (_, machine) = decoded("the boxed future", spawned_id(&boxed), |m| {
        m.first_chain().any(|n| n.path.ends_with("::boxed_inner"))
    })
    .await;
    assert_eq!(local(node(&machine, "::boxed_inner"), "marker"), "99");
    let generic = |handle_id| async move {
        decoded("a generic instance", handle_id, |m| {
            m.path.contains("::hold")
        })
        .await
        .1
    };
    let (u8_hold, str_hold) = (
        generic(spawned_id(&bytes)).await,
        generic(spawned_id(&text)).await,
    );
    assert_ne!(u8_hold.path, str_hold.path, "two instances, two paths");
    assert!(u8_hold.path.contains("u8"), "{}", u8_hold.path);
    assert_eq!(local(&u8_hold, "value"), "7");
    assert_eq!(local(&str_hold, "value"), r#""seven""#);
    bytes.abort();
    text.abort();
    boxed.abort();
}

#[async_inspect::test]
async fn an_async_block_inside_a_closure_decodes() {
    let (_tx, rx) = oneshot::channel::<()>();
    let make = |rx: oneshot::Receiver<()>| async move {
        let inside = "closure";
        let _ = rx.await;
        inside.len()
    };
    let task = async_inspect::spawn(make(rx));
    let (_, machine) = decoded("the closure's block", spawned_id(&task), |m| {
        matches!(m.kind, NodeKind::AsyncBlock)
    })
    .await;
    assert_eq!(local(&machine, "inside"), r#""closure""#);
    task.abort();
}

async fn busy(stop: Arc<AtomicBool>) -> u64 {
    let counted = 5_u64;
    // Woken at once each time: always being polled or about to be.
    while !stop.load(Ordering::Relaxed) {
        tokio::task::yield_now().await;
    }
    counted
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_polled_while_snapshots_are_taken_is_never_read_torn() {
    let stop = Arc::new(AtomicBool::new(false));
    let task = async_inspect::spawn(busy(stop.clone()));
    let id = spawned_id(&task);
    // At least 1 000 snapshots, and until 20 of them caught the task
    // between polls (so the check below ran).
    let reader = std::thread::spawn(move || {
        let (mut decoded, mut running) = (0, 0);
        let start = std::time::Instant::now();
        while decoded + running < 1000 || decoded < 20 {
            assert!(
                start.elapsed() < common::PATIENCE,
                "{decoded} of {} snapshots caught the task between polls",
                decoded + running
            );
            let snapshot = async_inspect::snapshot();
            let Some(info) = snapshot.task(id) else {
                continue;
            };
            match &info.state_machine {
                Some(machine) => {
                    // Whole when read: the fn, its await, its local.
                    assert!(machine.path.ends_with("::busy"), "{machine:?}");
                    assert!(matches!(machine.state, NodeState::Suspended { .. }));
                    assert_eq!(local(machine, "counted"), "5");
                    decoded += 1;
                }
                None => running += 1,
            }
        }
        (decoded, running)
    });
    let (decoded, running) = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert!(decoded >= 20 && decoded + running >= 1000);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(task.await.unwrap(), 5);
}

#[async_inspect::test]
async fn a_running_or_finished_task_has_no_future_to_decode() {
    let me = async_inspect::current_task().unwrap();
    let snapshot = async_inspect::snapshot();
    let info: &TaskInfo = snapshot.task(me).unwrap();
    assert!(
        info.state_machine.is_none(),
        "a task being polled is not read"
    );
    let done = async_inspect::spawn(async { 1 });
    let done_id = spawned_id(&done);
    done.await.unwrap();
    let snapshot = async_inspect::snapshot();
    let info = snapshot.task(done_id).expect("finished tasks are retained");
    assert!(info.state.is_finished());
    assert!(info.future.is_none() && info.state_machine.is_none());
}

static UNTRACED_AWAIT: AtomicU32 = AtomicU32::new(0);

#[async_inspect::trace]
async fn traced_outer(reply: oneshot::Receiver<u32>) -> u32 {
    untraced_middle(reply).await + 1
}

async fn untraced_middle(reply: oneshot::Receiver<u32>) -> u32 {
    let margin = 6_u32;
    UNTRACED_AWAIT.store(line!() + 1, Ordering::Relaxed);
    reply.await.unwrap_or(0) + margin
}

#[async_inspect::test]
async fn under_a_traced_call_the_untraced_fns_it_waits_in_are_shown() {
    let (tx, rx) = oneshot::channel();
    let task = async_inspect::spawn(traced_outer(rx));
    let id = spawned_id(&task);
    let (snapshot, _) = decoded("the traced task to be decoded", id, |m| {
        let mut found = false;
        walk(m, &mut |n| found |= n.path.ends_with("::untraced_middle"));
        found
    })
    .await;
    let report = snapshot.to_string();
    let section: String = report
        .split("\n\n")
        .find(|s| s.starts_with(&format!("Task {id} ")))
        .unwrap()
        .to_owned();
    let blocked = section
        .lines()
        .position(|l| l.contains("untraced_middle(reply).await ◄─── BLOCKED"))
        .unwrap_or_else(|| panic!("{section}"));
    let below = section.lines().nth(blocked + 1).unwrap();
    let line = UNTRACED_AWAIT.load(Ordering::Relaxed);
    assert!(
        below.contains(&format!(
            "state_machines::untraced_middle   {}:{line}",
            file!()
        )),
        "{section}"
    );
    assert!(section.contains("margin = 6"), "{section}");
    tx.send(1).unwrap();
    assert_eq!(task.await.unwrap(), 8);
}

async fn wait_for_lock(lock: Arc<async_inspect::sync::Mutex<Vec<u8>>>) -> usize {
    let items = lock.lock().await;
    items.len()
}

async fn join_child(child: async_inspect::task::JoinHandle<usize>) -> usize {
    child.await.unwrap_or(0)
}

#[async_inspect::test]
async fn an_inspected_lock_in_a_local_is_named_with_its_holder_and_a_join_names_its_task() {
    let lock = Arc::new(async_inspect::sync::Mutex::named("inventory", vec![1, 2]));
    let guard = lock.lock().await;
    let me = async_inspect::current_task().expect("the test is a task");
    let waiter = async_inspect::spawn(wait_for_lock(Arc::clone(&lock)));
    let waiter_id = spawned_id(&waiter);
    let joiner = async_inspect::spawn(join_child(waiter));
    let joiner_id = spawned_id(&joiner);
    let (_, machine) = decoded("the waiter at its lock", waiter_id, |m| {
        m.first_chain().any(|n| n.path.ends_with("::wait_for_lock"))
    })
    .await;
    assert_eq!(
        local(&machine, "lock"),
        format!("Mutex `inventory` (held by task {me})")
    );
    let (_, machine) = decoded("the joiner at its join", joiner_id, |m| {
        m.first_chain().last().is_some_and(|n| n.detail.is_some())
    })
    .await;
    let leaf = machine.first_chain().last().unwrap();
    assert_eq!(
        leaf.detail.as_deref(),
        Some(format!("joins task {waiter_id}").as_str()),
        "{leaf:?}"
    );
    drop(guard);
    assert_eq!(joiner.await.unwrap(), 2);
}

/// A connection as servers keep one: the socket and what was read of the
/// request so far.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: bytes::BytesMut,
}

async fn read_request(mut connection: Connection) -> usize {
    use tokio::io::AsyncReadExt;
    loop {
        let read = connection
            .stream
            .read_buf(&mut connection.buffer)
            .await
            .unwrap_or(0);
        if read == 0 || connection.buffer.ends_with(b"\r\n\r\n") {
            return connection.buffer.len();
        }
    }
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_shows_its_peer_and_the_bytes_it_has_of_a_half_sent_request() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let task = async_inspect::spawn(read_request(Connection {
        stream,
        buffer: bytes::BytesMut::with_capacity(64),
    }));
    client.write_all(b"GET / HTTP/1.1\r\nHost").await.unwrap();
    let (_, machine) = decoded(
        "the connection with its half request",
        spawned_id(&task),
        |m| {
            m.local("connection")
                .is_some_and(|c| c.value.contains("BytesMut(20 bytes"))
        },
    )
    .await;
    let connection = local(&machine, "connection");
    assert!(
        connection.contains(r#"BytesMut(20 bytes: b"GET / HTTP/1.1\r\nHost")"#),
        "{connection}"
    );
    assert!(
        connection.contains(&format!("{} ⇄ {peer}", listener.local_addr().unwrap())),
        "the socket by its addresses: {connection}"
    );
    // The kernel's count of what came, and when the last byte did: a
    // half request 0 ms ago, not an idle connection.
    assert!(
        connection.contains(", 20 bytes received, the last "),
        "the socket's traffic: {connection}"
    );
    client.write_all(b": x\r\n\r\n").await.unwrap();
    assert_eq!(task.await.unwrap(), 27);
}

static TRACED_SELECT_LINE: AtomicU32 = AtomicU32::new(0);

#[rustfmt::skip] // the select shares its line with `line!()`
#[async_inspect::trace]
async fn traced_select(c: oneshot::Receiver<()>, d: oneshot::Receiver<()>) -> &'static str {
    TRACED_SELECT_LINE.store(line!(), Ordering::Relaxed); tokio::select! {
        x = branch("first", c) => x,
        y = branch("second", d) => y,
    }
}

#[async_inspect::test]
async fn a_traced_fn_parked_in_a_select_shows_every_branch() {
    let (_c, c) = oneshot::channel();
    let (_d, d) = oneshot::channel();
    let task = async_inspect::spawn(traced_select(c, d));
    let id = spawned_id(&task);
    let (snapshot, _) = decoded("both branches under the traced fn", id, |m| {
        let mut n = 0;
        walk(m, &mut |node| {
            n += usize::from(node.path.ends_with("::branch"))
        });
        n == 2
    })
    .await;
    let report = snapshot.to_string();
    let section = report
        .split("\n\n")
        .find(|s| s.contains("traced_select("))
        .unwrap_or_else(|| panic!("{report}"));
    let line = TRACED_SELECT_LINE.load(Ordering::Relaxed);
    assert!(
        section.contains(&format!("parked at {}:{line}, on:", file!())),
        "{section}"
    );
    let branches: Vec<&str> = section
        .lines()
        .filter(|l| l.contains("state_machines::branch"))
        .collect();
    assert_eq!(branches.len(), 2, "{section}");
    assert!(section.contains(r#"name = "first""#) && section.contains(r#"name = "second""#));
    task.abort();
}

/// Serves one connection while holding a permit of the connection limit,
/// as servers do: the permit moved in from the accepting task.
async fn serve_with(
    permit: async_inspect::sync::OwnedSemaphorePermit,
    replies: async_inspect::sync::mpsc::Sender<u32>,
    done: oneshot::Receiver<()>,
) {
    let _ = done.await;
    drop((permit, replies));
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permit_moved_into_a_spawned_task_is_held_by_that_task() {
    use async_inspect::WaitReason;
    use async_inspect::sync::Semaphore;
    let limit = Arc::new(Semaphore::named("connections", 1));
    let main = async_inspect::current_task().unwrap();
    let permit = limit.clone().acquire_owned().await.unwrap();
    let (finish, done) = oneshot::channel();
    let (kept, _replies) = async_inspect::sync::mpsc::named_channel::<u32>("replies", 1);
    let (made, cloned) = (line!() - 1, line!() + 1);
    let replies = kept.clone();
    let server = async_inspect::spawn(serve_with(permit, replies, done));
    let served = spawned_id(&server);
    let waiter = {
        let limit = limit.clone();
        async_inspect::spawn(async move { drop(limit.acquire().await.unwrap()) })
    };
    let waiting = spawned_id(&waiter);
    let snapshot = eventually("the permit found in the server's future", |s| {
        s.task(served)
            .is_some_and(|t| t.holds.iter().any(|h| h.resource.name == "connections"))
            && s.task(waiting).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let held = snapshot
        .task(served)
        .unwrap()
        .holds
        .iter()
        .find(|h| h.resource.name == "connections")
        .unwrap();
    assert_eq!(held.taken_by, Some(main));
    // Of the two senders this task made, the clone moved into the
    // server is the server's; the first stays here.
    let senders = |task: TaskId| -> Vec<u32> {
        let task = snapshot.task(task).unwrap();
        let ends = task.holds.iter();
        ends.filter(|h| h.resource.kind == async_inspect::ResourceKind::ChannelSenders)
            .filter_map(|h| h.acquired_at.as_ref().map(|at| at.line))
            .collect()
    };
    assert_eq!(senders(served), [cloned], "{snapshot}");
    assert_eq!(senders(main), [made], "{snapshot}");
    let moved_sender = snapshot.task(served).unwrap().holds.iter();
    let moved_sender = moved_sender
        .filter(|h| h.resource.name == "replies")
        .find_map(|h| h.taken_by);
    assert_eq!(moved_sender, Some(main));
    assert!(
        snapshot
            .task(main)
            .unwrap()
            .holds
            .iter()
            .all(|h| h.resource.name != "connections"),
        "the accepting task holds the permit no more:\n{snapshot}"
    );
    let WaitReason::Lock { holders, .. } = &snapshot.task(waiting).unwrap().waits[0].reason else {
        panic!("{snapshot}");
    };
    assert_eq!(holders.iter().map(|h| h.task).collect::<Vec<_>>(), [served]);
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!("by task {main}, moved here)")),
        "{report}"
    );
    finish.send(()).unwrap();
    server.await.unwrap();
    waiter.await.unwrap();
    drop(kept);
}
