//! `#[trace]` records a frame per active call: function, arguments, its own
//! awaits with index, count, expression text and the user's file:line:col;
//! frames nest into a logical stack and are popped when calls end.

mod common;

use std::fmt::Debug;

use async_inspect::{StepStatus, TaskState};
use common::{eventually, stack_names, task};
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn fetch_user_data(user_id: u64, rx: oneshot::Receiver<u32>) -> u32 {
    let profile = load_profile(user_id).await;
    let posts = fetch_posts(user_id, rx).await;
    profile + posts
}

#[async_inspect::trace]
async fn load_profile(user_id: u64) -> u32 {
    tokio::task::yield_now().await;
    user_id as u32 % 10
}

#[async_inspect::trace(skip(rx))]
async fn fetch_posts(user: u64, rx: oneshot::Receiver<u32>) -> u32 {
    tokio::task::yield_now().await;
    wait_for_reply(user, rx).await
}

const REPLY_AWAIT_LINE: u32 = line!() + 5;

#[async_inspect::trace(skip_all)]
async fn wait_for_reply(_user: u64, rx: oneshot::Receiver<u32>) -> u32 {
    tokio::task::yield_now().await;
    rx.await.unwrap_or(0)
}

#[async_inspect::test]
async fn a_blocked_task_shows_its_logical_stack_and_the_exact_await() {
    let (tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(fetch_user_data(12345, rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the task to park at rx", |s| common::parked_at(s, id, "rx")).await;
    let info = task(&snapshot, id);
    assert_eq!(info.state, TaskState::Blocked);
    assert_eq!(
        stack_names(info),
        ["fetch_user_data", "fetch_posts", "wait_for_reply"]
    );
    let stack = info.stack();
    assert!(
        stack[0]
            .args
            .as_deref()
            .unwrap()
            .starts_with("user_id=12345, rx=Receiver")
    );
    assert_eq!(stack[1].call(), "fetch_posts(user=12345)");
    assert_eq!(stack[2].call(), "wait_for_reply()");
    assert_eq!(stack[1].parent, Some(stack[0].id));
    assert_eq!(stack[2].parent, Some(stack[1].id));

    let (frame, step) = info.blocked_at().unwrap();
    assert_eq!(frame.function, "wait_for_reply");
    assert_eq!(step.expr, "rx");
    assert_eq!((step.step, step.of), (2, 2));
    assert_eq!(step.location.file, file!());
    assert_eq!(step.location.line, REPLY_AWAIT_LINE);
    assert_eq!(
        step.location.column, 8,
        "the column of `await` in `    rx.await`"
    );
    assert!(matches!(
        frame.awaits[0].status,
        StepStatus::Completed { times: 1, .. }
    ));

    let outer = stack[0];
    assert_eq!(outer.awaits.len(), 2);
    assert_eq!(outer.awaits[0].expr, "load_profile(user_id)");
    assert!(matches!(
        outer.awaits[0].status,
        StepStatus::Completed { .. }
    ));
    assert_eq!(outer.awaits[1].expr, "fetch_posts(user_id, rx)");
    assert!(matches!(
        outer.awaits[1].status,
        StepStatus::InProgress { .. }
    ));
    assert_eq!(outer.location.file, file!());

    tx.send(40).unwrap();
    assert_eq!(handle.await.unwrap(), 45);
    let snapshot = async_inspect::snapshot();
    assert!(
        task(&snapshot, id).frames.is_empty(),
        "frames end with the calls"
    );
}

#[async_inspect::trace]
async fn might_fail(fail: bool) -> Result<u32, String> {
    tokio::task::yield_now().await;
    if fail {
        return Err("no".into());
    }
    Ok(1)
}

#[async_inspect::trace]
async fn tries_twice(rx: oneshot::Receiver<()>) -> Result<u32, String> {
    let first = might_fail(false).await?;
    let second = might_fail(true).await;
    rx.await.map_err(|e| e.to_string())?;
    let third = might_fail(true).await?;
    Ok(first + second.unwrap_or(0) + third)
}

#[async_inspect::test]
async fn early_returns_and_question_marks_pop_their_frames() {
    let (tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(tries_twice(rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("tries_twice to wait on rx", |s| {
        common::parked_at(s, id, "rx")
    })
    .await;
    let info = task(&snapshot, id);
    assert_eq!(stack_names(info), ["tries_twice"]);
    assert_eq!(info.frames.len(), 1, "might_fail's frames are gone");
    let steps = &info.frames[0].awaits;
    assert_eq!(steps.len(), 4);
    assert!(matches!(steps[0].status, StepStatus::Completed { .. }));
    assert!(matches!(steps[1].status, StepStatus::Completed { .. }));
    assert!(matches!(steps[2].status, StepStatus::InProgress { .. }));
    assert_eq!(steps[3].status, StepStatus::NotStarted);

    tx.send(()).unwrap();
    assert_eq!(handle.await.unwrap(), Err("no".to_string()));
    assert!(task(&async_inspect::snapshot(), id).frames.is_empty());
}

#[derive(Debug)]
struct Store<T> {
    items: Vec<T>,
}

impl<T: Debug + Clone + Send + Sync> Store<T> {
    #[async_inspect::trace]
    async fn get(&self, index: usize, gate: &tokio::sync::Notify) -> Option<T> {
        gate.notified().await;
        self.items.get(index).cloned()
    }
}

#[async_inspect::trace]
async fn first_of<T: Debug + Send>(items: Vec<T>, label: impl Debug + Send) -> Option<T> {
    tokio::task::yield_now().await;
    let _ = label;
    items.into_iter().next()
}

#[async_inspect::test]
async fn methods_generics_and_impl_trait_arguments_are_traced() {
    let store = std::sync::Arc::new(Store {
        items: vec!["a", "b"],
    });
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let handle = {
        let (store, gate) = (store.clone(), gate.clone());
        async_inspect::spawn(async move { store.get(1, &gate).await })
    };
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("get to wait on the gate", |s| {
        common::parked_at(s, id, "gate.notified()")
    })
    .await;
    let (frame, step) = task(&snapshot, id).blocked_at().unwrap();
    assert_eq!(
        frame.function, "Store::get",
        "a method is named by its type"
    );
    assert!(
        frame
            .args
            .as_deref()
            .unwrap()
            .starts_with("index=1, gate=Notify")
    );
    assert_eq!(step.expr, "gate.notified()");
    gate.notify_one();
    assert_eq!(handle.await.unwrap(), Some("b"));

    assert_eq!(first_of(vec![3, 4], "label").await, Some(3));
    assert_eq!(first_of(Vec::<u8>::new(), 1.5).await, None);
}

#[async_inspect::trace]
async fn awaits_in_closures_and_blocks_are_not_steps(rx: oneshot::Receiver<()>) {
    let nested = async {
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
    };
    nested.await;
    let make = || async { tokio::task::yield_now().await };
    make().await;
    rx.await.ok();
}

#[async_inspect::test]
async fn only_the_fns_own_awaits_are_counted() {
    let (tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(awaits_in_closures_and_blocks_are_not_steps(rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the fn to wait on rx", |s| common::parked_at(s, id, "rx")).await;
    let (frame, step) = task(&snapshot, id).blocked_at().unwrap();
    let exprs: Vec<&str> = frame.awaits.iter().map(|a| &*a.expr).collect();
    assert_eq!(exprs, ["nested", "make()", "rx"]);
    assert_eq!((step.step, step.of), (3, 3));
    tx.send(()).unwrap();
    handle.await.unwrap();
}

#[async_inspect::trace]
async fn loops(n: u32) -> u32 {
    let mut total = 0;
    for i in 0..n {
        tokio::task::yield_now().await;
        total += i;
    }
    std::future::pending::<()>().await;
    total
}

#[async_inspect::test]
async fn an_await_in_a_loop_counts_each_completion() {
    let handle = async_inspect::spawn(loops(5));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("loops to park", |s| {
        s.task(id)
            .and_then(|t| t.blocked_at())
            .is_some_and(|(_, step)| step.step == 2)
    })
    .await;
    let (frame, _) = task(&snapshot, id).blocked_at().unwrap();
    assert!(matches!(
        frame.awaits[0].status,
        StepStatus::Completed { times: 5, .. }
    ));
    handle.abort();
}

#[async_inspect::trace]
async fn long_argument(text: String) {
    std::future::pending::<()>().await;
    drop(text);
}

#[async_inspect::test]
async fn argument_text_is_bounded() {
    let handle = async_inspect::spawn(long_argument("x".repeat(10_000)));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("long_argument to park", |s| {
        common::blocked_in(s, id, "long_argument")
    })
    .await;
    let args = task(&snapshot, id).frames[0].args.clone().unwrap();
    // One value keeps at most 80 bytes, and its cut is marked.
    let value = args.strip_prefix("text=").unwrap();
    assert!(
        value.len() <= 80 + '…'.len_utf8(),
        "{} bytes kept",
        value.len()
    );
    assert!(value.starts_with("\"xxxx"));
    assert!(value.ends_with('…'));
    handle.abort();

    // A large first argument leaves the next one whole.
    let handle = async_inspect::spawn(two_arguments("x".repeat(10_000), 42));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("two_arguments to park", |s| {
        common::blocked_in(s, id, "two_arguments")
    })
    .await;
    let args = task(&snapshot, id).frames[0].args.clone().unwrap();
    assert!(args.ends_with("…, id=42"), "{args}");
    assert!(args.len() <= 260, "{} bytes kept", args.len());
    handle.abort();
}

/// An id of the application's own, which it lets traced calls keep as a
/// value.
#[derive(Clone, Copy, Debug)]
struct UserId(#[allow(dead_code, reason = "shown by Debug")] u64);

impl async_inspect::ArgValue for UserId {}

#[async_inspect::trace]
async fn kept_as_values(user: UserId, pause: std::time::Duration) {
    std::future::pending::<()>().await;
    let _ = (user, pause);
}

#[async_inspect::trace]
async fn kept_as_copy(name: &str, id: u32) {
    std::future::pending::<()>().await;
    let _ = (name, id);
}

#[async_inspect::test]
async fn arguments_kept_as_values_show_as_the_same_text() {
    let name = String::from("ada \"lovelace\"");
    let handle = async_inspect::spawn(async move { kept_as_copy(&name, 3).await });
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("kept_as_copy to park", |s| {
        common::blocked_in(s, id, "kept_as_copy")
    })
    .await;
    let args = task(&snapshot, id).frames[0].args.clone();
    assert_eq!(args.as_deref(), Some(r#"name="ada \"lovelace\"", id=3"#));
    handle.abort();

    let pause = std::time::Duration::from_millis(50);
    let handle = async_inspect::spawn(kept_as_values(UserId(7), pause));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("kept_as_values to park", |s| {
        common::blocked_in(s, id, "kept_as_values")
    })
    .await;
    let frame = &task(&snapshot, id).frames[0];
    assert_eq!(frame.args.as_deref(), Some("user=UserId(7), pause=50ms"));
    assert!(
        snapshot
            .to_string()
            .contains("kept_as_values(user=UserId(7), pause=50ms)"),
        "{snapshot}"
    );
    handle.abort();
}

#[async_inspect::trace]
async fn two_arguments(shared: String, id: u32) {
    std::future::pending::<()>().await;
    drop((shared, id));
}

#[async_inspect::trace]
async fn traced_outside_any_inspected_task(rx: oneshot::Receiver<()>) {
    rx.await.ok();
}

#[test]
fn a_traced_future_outside_inspected_tasks_is_an_adopted_task() {
    let (tx, rx) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    // Plain tokio::spawn: no inspected task around the traced future.
    let handle = runtime.spawn(traced_outside_any_inspected_task(rx));
    let adopted = |s: &async_inspect::Snapshot| {
        s.tasks()
            .iter()
            .find(|t| {
                t.kind == async_inspect::TaskKind::Adopted
                    && common::blocked_in(s, t.id, "traced_outside_any_inspected_task")
            })
            .map(|t| t.id)
    };
    let snapshot =
        common::eventually_blocking("the adopted task to park", |s| adopted(s).is_some());
    let id = adopted(&snapshot).unwrap();
    let info = task(&snapshot, id);
    assert!(
        info.name
            .starts_with("traced_outside_any_inspected_task(rx=")
    );
    assert_eq!(info.polls, 1);
    assert!(
        snapshot
            .to_string()
            .contains("adopted: runs in a task spawned elsewhere")
    );

    tx.send(()).unwrap();
    runtime.block_on(handle).unwrap();
    let snapshot = async_inspect::snapshot();
    assert_eq!(task(&snapshot, id).state, TaskState::Done);
    assert_eq!(task(&snapshot, id).polls, 2);
}

struct Listener;

#[derive(Debug)]
struct Handler {
    peer: u32,
}

impl Listener {
    #[async_inspect::trace]
    async fn run(&self, handler: Handler) -> u32 {
        handler.run().await
    }
}

impl Handler {
    #[async_inspect::trace]
    async fn run(&self) -> u32 {
        std::future::pending::<()>().await;
        self.peer
    }
}

#[async_inspect::test]
async fn methods_of_the_same_name_are_told_apart_by_their_type() {
    let handle = async_inspect::spawn(async { Listener.run(Handler { peer: 7 }).await });
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the handler to park", |s| {
        s.task(id).is_some_and(|t| t.frames.len() == 2)
    })
    .await;
    let task = task(&snapshot, id);
    let names: Vec<&str> = task.stack().iter().map(|f| &*f.function).collect();
    assert_eq!(names, ["Listener::run", "Handler::run"]);
    assert_eq!(task.name, "Listener::run", "named after its root call");
    let report = snapshot.to_string();
    assert!(report.contains("└─> Handler::run()"), "{report}");
    handle.abort();
}

/// `#[trace]` above `#[tracing::instrument]`: the frame's steps are the
/// fn's own awaits, as without tracing.
#[async_inspect::trace(skip(rx))]
#[tracing::instrument(skip(rx))]
async fn instrumented(id: u32, rx: oneshot::Receiver<()>) -> u32 {
    rx.await.ok();
    id
}

#[async_inspect::test]
async fn trace_above_tracing_instrument_keeps_the_fns_own_awaits() {
    let (_tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(instrumented(3, rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("instrumented to park", |s| {
        common::blocked_in(s, id, "instrumented")
    })
    .await;
    let (frame, step) = task(&snapshot, id).blocked_at().unwrap();
    assert_eq!(frame.function, "instrumented");
    assert_eq!(frame.args.as_deref(), Some("id=3"));
    assert_eq!((step.expr.as_ref(), step.step, step.of), ("rx", 1, 1));
    handle.abort();
}

/// The other order: `#[tracing::instrument]` rewrites the body first.
#[tracing::instrument(skip(rx))]
#[async_inspect::trace(skip(rx))]
async fn instrumented_outside(id: u32, rx: oneshot::Receiver<()>) -> u32 {
    rx.await.ok();
    id
}

#[async_inspect::test]
async fn trace_below_tracing_instrument_also_keeps_the_fns_own_awaits() {
    let (_tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(instrumented_outside(4, rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("instrumented_outside to park", |s| {
        common::blocked_in(s, id, "instrumented_outside")
    })
    .await;
    let (frame, step) = task(&snapshot, id).blocked_at().unwrap();
    assert_eq!(frame.args.as_deref(), Some("id=4"));
    assert_eq!((step.expr.as_ref(), step.step, step.of), ("rx", 1, 1));
    handle.abort();
}
