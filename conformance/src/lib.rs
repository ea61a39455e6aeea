//! One conformance suite that every async-inspect runtime adapter passes:
//! generic checks over the adapter contract
//! ([`Runtime`](async_inspect_adapters::Runtime)), stamped once per runtime
//! by [`conformance_suite!`] (as tokio stamps its tests per scheduler).
//!
//! Each check runs inside the runtime's `block_on` and looks at what a user
//! sees: task names, parents and states, traced stacks and the awaits they
//! are parked on, panics, sleeps and timeouts with their deadlines, join
//! waits, the inspected locks and channels, deadlocks, and the
//! blocking-poll lint. It lives in its own crate, not in `adapters`, because
//! it drives the facade (`async_inspect::sync`, `#[trace]`), which the
//! adapters sit below.
//!
//! Checks share one process: each finds its own tasks by id or by a name
//! no other check uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_inspect::sync::{Mutex, Semaphore, mpsc, oneshot};
use async_inspect::{Lint, NodeState, Snapshot, StateNode, TaskId, TaskState, WaitReason};
use async_inspect_adapters::Runtime;

/// How long a check waits for what it expects before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Stamps every check of the suite as a `#[test]` against the runtime
/// `$runtime` makes (an expression, evaluated once per test).
///
/// ```
/// async_inspect_conformance::conformance_suite!(async_inspect_smol::Smol);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($runtime:expr) => {
        $crate::conformance_suite!(@tests $runtime;
            tasks_have_names_parents_and_end_done,
            a_parked_task_shows_its_traced_stack_and_await,
            a_panic_is_recorded_with_its_message,
            sleeps_and_timeouts_show_their_deadlines,
            awaiting_a_task_is_a_join_wait,
            a_lock_wait_names_the_holder,
            opposite_lock_orders_deadlock,
            a_semaphore_and_a_channel_show_their_holders,
            a_blocking_poll_is_a_lint,
            the_report_renders,
            a_cancelled_task_is_aborted,
            a_lock_order_inversion_is_a_lint,
            traced_code_outside_inspected_tasks_is_adopted,
            a_breakpoint_pauses_steps_and_lets_go,
            an_unannotated_task_shows_its_async_fns_awaits_and_locals,
            a_task_nobody_can_wake_is_a_lint,
            a_task_spinning_on_self_wakes_is_a_lint,
            correct_tasks_get_no_wake_lint,
        );
    };
    (@tests $runtime:expr; $($check:ident,)*) => {
        $(
            #[test]
            fn $check() {
                $crate::$check(&$runtime);
            }
        )*
    };
}

/// Takes snapshots, sleeping a millisecond on `rt` in between, until
/// `ready` holds; panics naming `what` past [`PATIENCE`].
async fn eventually<R: Runtime>(rt: &R, what: &str, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let start = Instant::now();
    loop {
        let snapshot = async_inspect::snapshot();
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}; last snapshot:\n{snapshot}"
        );
        rt.sleep(Duration::from_millis(1)).await;
    }
}

fn state(snapshot: &Snapshot, id: TaskId) -> Option<TaskState> {
    snapshot.task(id).map(|t| t.state)
}

/// The id of the current task, which must be inspected.
fn me() -> TaskId {
    async_inspect::current_task().expect("the check runs in an inspected task")
}

/// Spawned tasks carry their name and parent, and end `Done`.
pub fn tasks_have_names_parents_and_end_done<R: Runtime>(rt: &R) {
    rt.block_on("conformance root", async {
        let root = me();
        let child = rt.spawn_named("conformance child", async { me() });
        let child = child.await.expect("the child ends");
        let snapshot = eventually(rt, "the child to be done", |s| {
            state(s, child) == Some(TaskState::Done)
        })
        .await;
        let task = snapshot.task(child).unwrap();
        assert_eq!(task.name, "conformance child");
        assert_eq!(task.parent, Some(root));
        let root_task = snapshot.task(root).unwrap();
        assert_eq!(root_task.name, "conformance root");
        assert_eq!(root_task.state, TaskState::Running);
    });
}

#[async_inspect::trace]
async fn conformance_outer(rx: oneshot::Receiver<u32>) -> u32 {
    conformance_inner(rx).await + 1
}

#[async_inspect::trace]
async fn conformance_inner(rx: oneshot::Receiver<u32>) -> u32 {
    rx.await.unwrap_or(0)
}

/// A task parked in traced fns shows the stack and the await it is on.
pub fn a_parked_task_shows_its_traced_stack_and_await<R: Runtime>(rt: &R) {
    rt.block_on("conformance stack", async {
        let (tx, rx) = oneshot::channel();
        let (id_tx, id_rx) = oneshot::channel();
        let task = rt.spawn_named("conformance traced", async move {
            id_tx.send(me()).unwrap();
            conformance_outer(rx).await
        });
        let id = id_rx.await.unwrap();
        // Parked: its poll has ended (an await can show pending a moment
        // before the poll that reached it returns).
        let snapshot = eventually(rt, "the task to park in conformance_inner", |s| {
            s.task(id)
                .filter(|t| t.state == TaskState::Blocked)
                .and_then(|t| t.blocked_at())
                .is_some_and(|(frame, _)| frame.function == "conformance_inner")
        })
        .await;
        let task_info = snapshot.task(id).unwrap();
        let stack: Vec<&str> = task_info
            .stack()
            .iter()
            .map(|f| f.function.as_ref())
            .collect();
        assert_eq!(stack, ["conformance_outer", "conformance_inner"]);
        let (_, step) = task_info.blocked_at().unwrap();
        assert_eq!(step.expr, "rx");
        assert_eq!(task_info.state, TaskState::Blocked);
        tx.send(41).unwrap();
        assert_eq!(task.await.unwrap(), 42);
    });
}

/// The lines of the two awaits of the unannotated chain below, each
/// stored by the line just before its await.
static PLAIN_OUTER_AWAIT: AtomicU32 = AtomicU32::new(0);
static PLAIN_INNER_AWAIT: AtomicU32 = AtomicU32::new(0);

async fn conformance_plain_outer(rx: oneshot::Receiver<u32>, label: String) -> u32 {
    let kept = label;
    PLAIN_OUTER_AWAIT.store(line!() + 1, Ordering::Relaxed);
    let value = conformance_plain_inner(rx).await;
    value + kept.len() as u32
}

async fn conformance_plain_inner(rx: oneshot::Receiver<u32>) -> u32 {
    let count = 7_u64;
    PLAIN_INNER_AWAIT.store(line!() + 1, Ordering::Relaxed);
    let value = rx.await.unwrap_or(0);
    value + count as u32
}

/// A task nobody annotated shows, decoded from the debuginfo, its async
/// fns from root to leaf, the line of the `.await` each is suspended at,
/// and the locals alive there.
pub fn an_unannotated_task_shows_its_async_fns_awaits_and_locals<R: Runtime>(rt: &R) {
    rt.block_on("conformance plain", async {
        let (tx, rx) = oneshot::channel();
        let (id_tx, id_rx) = oneshot::channel();
        let task = rt.spawn_named("conformance plain task", async move {
            id_tx.send(me()).unwrap();
            conformance_plain_outer(rx, "plain".to_owned()).await
        });
        let id = id_rx.await.unwrap();
        let snapshot = eventually(rt, "the plain chain to be decoded", |s| {
            s.task(id)
                .and_then(|t| t.state_machine.as_ref())
                .is_some_and(|m| {
                    m.first_chain()
                        .any(|n| n.path.ends_with("conformance_plain_inner"))
                })
        })
        .await;
        let machine = snapshot.task(id).unwrap().state_machine.as_ref().unwrap();
        let chain: Vec<_> = machine.first_chain().collect();
        let at = |suffix: &str| {
            chain
                .iter()
                .find(|n| n.path.ends_with(suffix))
                .unwrap_or_else(|| panic!("{suffix} in the chain:\n{snapshot}"))
        };
        let line = |node: &StateNode| match &node.state {
            NodeState::Suspended { file, line, .. } => {
                assert!(file.ends_with("conformance/src/lib.rs"), "{file}");
                *line
            }
            other => panic!("{} is {other:?}", node.path),
        };
        let (outer, inner) = (
            at("::conformance_plain_outer"),
            at("::conformance_plain_inner"),
        );
        assert_eq!(line(outer), PLAIN_OUTER_AWAIT.load(Ordering::Relaxed));
        assert_eq!(line(inner), PLAIN_INNER_AWAIT.load(Ordering::Relaxed));
        let value = |node: &StateNode, name: &str| node.local(name).map(|l| l.value.clone());
        assert_eq!(value(outer, "kept").as_deref(), Some("\"plain\""));
        assert_eq!(value(inner, "count").as_deref(), Some("7"));
        assert!(snapshot.to_string().contains("conformance_plain_inner"));
        tx.send(1).unwrap();
        assert_eq!(task.await.unwrap(), 1 + 7 + 5);
    });
}

/// A task that panics is `Panicked` with its message.
pub fn a_panic_is_recorded_with_its_message<R: Runtime>(rt: &R) {
    rt.block_on("conformance panics", async {
        let (id_tx, id_rx) = oneshot::channel();
        // Some runtimes hand the panic to whoever awaits the task: nobody
        // does here.
        let task = rt.spawn_named("conformance panicking", async move {
            id_tx.send(me()).unwrap();
            panic!("conformance boom");
        });
        let id = id_rx.await.unwrap();
        let snapshot = eventually(rt, "the panic", |s| {
            state(s, id) == Some(TaskState::Panicked)
        })
        .await;
        let message = snapshot.task(id).unwrap().panic.as_deref();
        assert_eq!(message, Some("conformance boom"));
        std::mem::forget(task);
    });
}

/// A sleep shows when it wakes; an await inside a timeout shows its
/// deadline.
pub fn sleeps_and_timeouts_show_their_deadlines<R: Runtime>(rt: &R) {
    rt.block_on("conformance timers", async {
        let (stop, stopped) = oneshot::channel::<()>();
        let (id_tx, id_rx) = oneshot::channel();
        let sleeper = rt.spawn_named("conformance sleeper", async move {
            id_tx.send(me()).unwrap();
            async_inspect::time::sleep(Duration::from_secs(3600)).await;
        });
        let sleeper_id = id_rx.await.unwrap();
        let snapshot = eventually(rt, "the sleep", |s| {
            s.task(sleeper_id).is_some_and(|t| {
                t.waits
                    .iter()
                    .any(|w| matches!(w.reason, WaitReason::Sleep { .. }))
            })
        })
        .await;
        assert!(snapshot.to_string().contains("wakes in"), "{snapshot}");
        std::mem::forget(sleeper);

        let (id_tx, id_rx) = oneshot::channel();
        let waiter = rt.spawn_named("conformance timeout", async move {
            id_tx.send(me()).unwrap();
            async_inspect::time::timeout(Duration::from_secs(3600), stopped).await
        });
        let waiter_id = id_rx.await.unwrap();
        eventually(rt, "the timeout's deadline", |s| {
            s.task(waiter_id)
                .is_some_and(|t| t.waits.iter().any(|w| w.timeout_at.is_some()))
        })
        .await;
        stop.send(()).unwrap();
        let within = waiter.await.unwrap();
        assert!(matches!(within, Ok(Ok(()))), "it ended in time");
        let late =
            async_inspect::time::timeout(Duration::from_millis(5), std::future::pending::<()>())
                .await;
        assert!(late.is_err());
    });
}

/// Awaiting a task's handle is a join wait on it.
pub fn awaiting_a_task_is_a_join_wait<R: Runtime>(rt: &R) {
    rt.block_on("conformance join", async {
        let (release, released) = oneshot::channel::<()>();
        let (id_tx, id_rx) = oneshot::channel();
        let child = rt.spawn_named("conformance joined", async move {
            id_tx.send(me()).unwrap();
            released.await.unwrap();
        });
        let child_id = id_rx.await.unwrap();
        let parent = me();
        let check = async {
            eventually(rt, "the join wait", |s| {
                s.task(parent).is_some_and(|t| {
                    t.waits
                        .iter()
                        .any(|w| w.reason == WaitReason::Join { task: child_id })
                })
            })
            .await;
            release.send(()).unwrap();
        };
        let (joined, ()) = join(child, check).await;
        joined.unwrap();
    });
}

/// A task waiting for an inspected mutex names who holds it.
pub fn a_lock_wait_names_the_holder<R: Runtime>(rt: &R) {
    rt.block_on("conformance lock", async {
        let lock = std::sync::Arc::new(Mutex::named("conformance lock", 0));
        let guard = lock.lock().await;
        let (id_tx, id_rx) = oneshot::channel();
        let waiter = {
            let lock = lock.clone();
            rt.spawn_named("conformance lock waiter", async move {
                id_tx.send(me()).unwrap();
                *lock.lock().await += 1;
            })
        };
        let waiter_id = id_rx.await.unwrap();
        let holder = me();
        eventually(rt, "the lock wait", |s| {
            s.task(waiter_id).is_some_and(|t| {
                t.waits.iter().any(|w| match &w.reason {
                    WaitReason::Lock { resource, holders } => {
                        resource.name == "conformance lock"
                            && holders.iter().any(|h| h.task == holder)
                    }
                    _ => false,
                })
            })
        })
        .await;
        drop(guard);
        waiter.await.unwrap();
        assert_eq!(*lock.lock().await, 1);
    });
}

/// Two tasks taking two mutexes in opposite orders: the deadlock is found
/// with both tasks.
pub fn opposite_lock_orders_deadlock<R: Runtime>(rt: &R) {
    rt.block_on("conformance deadlock", async {
        let a = std::sync::Arc::new(Mutex::named("conformance A", ()));
        let b = std::sync::Arc::new(Mutex::named("conformance B", ()));
        let go = std::sync::Arc::new(Semaphore::new(0));
        let take = |first: std::sync::Arc<Mutex<()>>,
                    second: std::sync::Arc<Mutex<()>>,
                    ids: mpsc::UnboundedSender<TaskId>| {
            let go = go.clone();
            async move {
                let _first = first.lock().await;
                ids.send(me()).unwrap();
                // Both hold their first lock before either asks for its
                // second.
                go.acquire().await.unwrap().forget();
                let _second = second.lock().await;
            }
        };
        let (ids, mut id_rx) = mpsc::unbounded_channel();
        let one = rt.spawn_named("conformance AB", take(a.clone(), b.clone(), ids.clone()));
        let two = rt.spawn_named("conformance BA", take(b, a, ids));
        let first = id_rx.recv().await.unwrap();
        let second = id_rx.recv().await.unwrap();
        go.add_permits(2);
        let snapshot = eventually(rt, "the deadlock", |s| {
            s.deadlocks()
                .iter()
                .any(|d| d.cycle.iter().any(|l| l.task == first))
        })
        .await;
        let deadlock = snapshot
            .deadlocks()
            .iter()
            .find(|d| d.cycle.iter().any(|l| l.task == first))
            .unwrap();
        let tasks: Vec<TaskId> = deadlock.cycle.iter().map(|l| l.task).collect();
        assert!(
            tasks.contains(&first) && tasks.contains(&second),
            "{deadlock}"
        );
        std::mem::forget((one, two));
    });
}

/// A semaphore waiter lists the permit holders; a receiver waiting on a
/// channel names the sender's holder.
pub fn a_semaphore_and_a_channel_show_their_holders<R: Runtime>(rt: &R) {
    rt.block_on("conformance semaphore", async {
        let pool = std::sync::Arc::new(Semaphore::named("conformance pool", 1));
        let permit = pool.acquire().await.unwrap();
        let (tx, mut rx) = mpsc::named_channel::<u32>("conformance channel", 1);
        let (id_tx, id_rx) = oneshot::channel();
        let waiter = {
            let pool = pool.clone();
            rt.spawn_named("conformance permit waiter", async move {
                id_tx.send(me()).unwrap();
                let _permit = pool.acquire().await.unwrap();
                rx.recv().await
            })
        };
        let waiter_id = id_rx.await.unwrap();
        let holder = me();
        eventually(rt, "the permit wait", |s| {
            s.task(waiter_id).is_some_and(|t| {
                t.waits.iter().any(|w| match &w.reason {
                    WaitReason::Lock { resource, holders } => {
                        resource.name == "conformance pool"
                            && holders.iter().any(|h| h.task == holder && h.permits == 1)
                    }
                    _ => false,
                })
            })
        })
        .await;
        drop(permit);
        tx.send(7).await.unwrap();
        // The sender was used here: this task holds it.
        let snapshot = async_inspect::snapshot();
        assert!(
            snapshot.task(holder).is_some_and(|t| t
                .holds
                .iter()
                .any(|h| h.resource.name == "conformance channel")),
            "{snapshot}"
        );
        assert_eq!(waiter.await.unwrap(), Some(7));
    });
}

/// A poll that holds its thread past the threshold is a lint naming the
/// task.
pub fn a_blocking_poll_is_a_lint<R: Runtime>(rt: &R) {
    rt.block_on("conformance blocking", async {
        let threshold = async_inspect::Config::current().blocking_poll;
        let (id_tx, id_rx) = oneshot::channel();
        let task = rt.spawn_named("conformance blocker", async move {
            id_tx.send(me()).unwrap();
            std::thread::sleep(threshold + Duration::from_millis(20));
        });
        let id = id_rx.await.unwrap();
        task.await.unwrap();
        eventually(rt, "the blocking-poll lint", |s| {
            s.lints()
                .iter()
                .any(|l| matches!(l, Lint::BlockingPoll { task, .. } if *task == id))
        })
        .await;
    });
}

/// The text report renders the root task and the tasks it spawned.
pub fn the_report_renders<R: Runtime>(rt: &R) {
    rt.block_on("conformance report", async {
        let (release, released) = oneshot::channel::<()>();
        let child = rt.spawn_named("conformance reported", async move {
            released.await.unwrap();
        });
        let snapshot = eventually(rt, "the reported child", |s| {
            s.tasks()
                .iter()
                .any(|t| t.name == "conformance reported" && t.polls > 0)
        })
        .await;
        let report = snapshot.to_string();
        assert!(report.contains("conformance report"), "{report}");
        assert!(report.contains("conformance reported"), "{report}");
        release.send(()).unwrap();
        child.await.unwrap();
    });
}

#[async_inspect::trace]
async fn conformance_adopted_root(rounds: u32) -> TaskId {
    conformance_adopted_step(rounds).await
}

#[async_inspect::trace]
async fn conformance_adopted_step(rounds: u32) -> TaskId {
    let me = me();
    let snapshot = async_inspect::snapshot();
    let task = snapshot.task(me).expect("the adopted task is listed");
    assert_eq!(task.kind, async_inspect::TaskKind::Adopted);
    assert!(
        task.name.starts_with("conformance_adopted_root(rounds="),
        "{}",
        task.name
    );
    let stack: Vec<&str> = task.frames.iter().map(|f| f.function.as_ref()).collect();
    assert_eq!(
        stack,
        ["conformance_adopted_root", "conformance_adopted_step"]
    );
    for _ in 0..rounds {
        YieldOnce(false).await;
    }
    me
}

#[async_inspect::trace]
async fn conformance_debugged(n: u32) -> u32 {
    YieldOnce(false).await;
    let doubled = conformance_debugged_inner(n).await;
    YieldOnce(false).await;
    doubled + 1
}

#[async_inspect::trace]
async fn conformance_debugged_inner(n: u32) -> u32 {
    YieldOnce(false).await;
    n * 2
}

/// Where `id` is paused: its breakpoint and the fn and await number.
fn paused_where(snapshot: &Snapshot, id: TaskId) -> Option<(u64, String, u16)> {
    let task = snapshot.task(id)?;
    let (frame, step) = task.blocked_at()?;
    Some((task.paused_at()?, frame.function.to_string(), step.step))
}

/// A breakpoint stops a task at an await on this runtime, it shows paused
/// there (and in no deadlock), steps into a call, finishes out of it, and
/// goes on to its end when let go; a `hit()` awaited on the runtime wakes.
pub fn a_breakpoint_pauses_steps_and_lets_go<R: Runtime>(rt: &R) {
    rt.block_on("conformance debugger", async {
        let breakpoint = async_inspect::debug::break_at("conformance_debugged#2 if args~n=20")
            .expect("a good spec");
        let task = rt.spawn_named("conformance debugged", conformance_debugged(20));
        let paused = breakpoint.hit().await;
        let snapshot = async_inspect::snapshot();
        let at = paused_where(&snapshot, paused.id());
        assert_eq!(
            at,
            Some((breakpoint.id(), "conformance_debugged".into(), 2)),
            "{snapshot}"
        );
        assert!(snapshot.deadlocks().is_empty());
        paused.step();
        let paused = breakpoint.hit().await;
        let at = paused_where(&async_inspect::snapshot(), paused.id());
        assert_eq!(
            at,
            Some((breakpoint.id(), "conformance_debugged_inner".into(), 1))
        );
        paused.finish();
        let paused = breakpoint.hit().await;
        let at = paused_where(&async_inspect::snapshot(), paused.id());
        assert_eq!(
            at,
            Some((breakpoint.id(), "conformance_debugged".into(), 3))
        );
        paused.resume();
        assert_eq!(task.await.unwrap(), 41);
        assert_eq!(breakpoint.hits(), 1);
    });
}

/// Yields to the executor once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A traced future the runtime runs with no inspected task around it (as
/// a library's task would) is an adopted task with its stack, polled as
/// itself, and done when it ends.
pub fn traced_code_outside_inspected_tasks_is_adopted<R: Runtime>(rt: &R) {
    let id = rt.block_on_uninspected(conformance_adopted_root(3));
    let snapshot = async_inspect::snapshot();
    let task = snapshot.task(id).expect("kept as finished");
    assert_eq!(task.state, TaskState::Done);
    assert_eq!(task.polls, 4, "its own polls: the first and one per yield");
}

/// A task cancelled the runtime's way shows `Aborted`, and its lock is free.
pub fn a_cancelled_task_is_aborted<R: Runtime>(rt: &R) {
    rt.block_on("conformance cancel", async {
        let lock = std::sync::Arc::new(Mutex::named("conformance cancelled lock", ()));
        let (id_tx, id_rx) = oneshot::channel();
        let held = lock.clone();
        let task = async move {
            let _guard = held.lock().await;
            id_tx.send(me()).unwrap();
            std::future::pending::<()>().await;
        };
        let (started_tx, started_rx) = oneshot::channel::<TaskId>();
        let started = async move {
            let id = id_rx.await.unwrap();
            started_tx.send(id).unwrap();
        };
        rt.spawn_and_cancel("conformance cancelled", task, started)
            .await;
        let id = started_rx.await.unwrap();
        eventually(rt, "the task to be aborted", |s| {
            state(s, id) == Some(TaskState::Aborted)
        })
        .await;
        assert!(lock.try_lock().is_ok(), "the guard went with the task");
    });
}

/// Two tasks taking two locks in opposite orders, one after the other,
/// are a lock-order lint (lock order is recorded by default).
pub fn a_lock_order_inversion_is_a_lint<R: Runtime>(rt: &R) {
    rt.block_on("conformance lock order", async {
        let a = std::sync::Arc::new(Mutex::named("conformance order A", ()));
        let b = std::sync::Arc::new(Mutex::named("conformance order B", ()));
        let take = |first: std::sync::Arc<Mutex<()>>, second: std::sync::Arc<Mutex<()>>| async move {
            let _first = first.lock().await;
            let _second = second.lock().await;
        };
        rt.spawn_named("conformance AB order", take(a.clone(), b.clone()))
            .await
            .unwrap();
        rt.spawn_named("conformance BA order", take(b, a))
            .await
            .unwrap();
        eventually(rt, "the inversion", |s| {
            s.lints().iter().any(|l| match l {
                Lint::LockOrderInversion { cycle } => cycle
                    .iter()
                    .any(|step| step.took.name == "conformance order A"),
                _ => false,
            })
        })
        .await;
    });
}

/// Polls two futures to completion together (no runtime's `join!`).
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut a_out, mut b_out) = (None, None);
    std::future::poll_fn(|cx| {
        if a_out.is_none()
            && let std::task::Poll::Ready(out) = a.as_mut().poll(cx)
        {
            a_out = Some(out);
        }
        if b_out.is_none()
            && let std::task::Poll::Ready(out) = b.as_mut().poll(cx)
        {
            b_out = Some(out);
        }
        if a_out.is_some() && b_out.is_some() {
            std::task::Poll::Ready((a_out.take().unwrap(), b_out.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// A task parked on a future that kept no waker is a lint that says where
/// it is parked.
pub fn a_task_nobody_can_wake_is_a_lint<R: Runtime>(rt: &R) {
    rt.block_on("conformance unwakeable root", async {
        let (id_tx, id_rx) = oneshot::channel();
        let lost = rt.spawn_named("conformance unwakeable", async move {
            id_tx.send(me()).unwrap();
            // Pending, and the waker dropped: nothing can poll it again.
            std::future::poll_fn(|_| Poll::<()>::Pending).await;
        });
        let id = id_rx.await.unwrap();
        let snapshot = eventually(rt, "the unwakeable lint", |s| {
            s.lints()
                .iter()
                .any(|l| matches!(l, Lint::Unwakeable { task, .. } if *task == id))
        })
        .await;
        assert_eq!(snapshot.task(id).unwrap().wake.wakers, Some(0));
        drop(lost);
    });
}

/// A task that wakes itself poll after poll, waiting for a flag another
/// thread sets, is a self-wake storm.
pub fn a_task_spinning_on_self_wakes_is_a_lint<R: Runtime>(rt: &R) {
    rt.block_on("conformance spin root", async {
        let stop = Arc::new(AtomicBool::new(false));
        let (id_tx, id_rx) = oneshot::channel();
        let spinner = {
            let stop = stop.clone();
            rt.spawn_named("conformance spinner", async move {
                id_tx.send(me()).unwrap();
                std::future::poll_fn(|cx| {
                    if stop.load(Ordering::Relaxed) {
                        Poll::Ready(())
                    } else {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                })
                .await;
            })
        };
        let id = id_rx.await.unwrap();
        eventually(rt, "the self-wake storm lint", |s| {
            s.lints()
                .iter()
                .any(|l| matches!(l, Lint::SelfWakeStorm { task, .. } if *task == id))
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        spinner.await.unwrap();
    });
}

/// Tasks that sleep, exchange messages, and yield between pieces of work
/// (a self-wake each time, on executors whose yield wakes at once) get no
/// wake lint, under snapshots taken all along.
pub fn correct_tasks_get_no_wake_lint<R: Runtime>(rt: &R) {
    rt.block_on("conformance quiet root", async {
        let done = Arc::new(AtomicU32::new(0));
        let finish = |done: &Arc<AtomicU32>| {
            done.fetch_add(1, Ordering::Relaxed);
            me()
        };
        let sleeper = {
            let done = done.clone();
            rt.spawn_named("conformance sleeper", async move {
                for _ in 0..30 {
                    async_inspect::time::sleep(Duration::from_millis(1)).await;
                }
                finish(&done)
            })
        };
        let (ask, mut asked) = mpsc::channel::<oneshot::Sender<u32>>(1);
        let responder = {
            let done = done.clone();
            rt.spawn_named("conformance responder", async move {
                while let Some(reply) = asked.recv().await {
                    let _ = reply.send(1);
                }
                finish(&done)
            })
        };
        let asker = {
            let done = done.clone();
            rt.spawn_named("conformance asker", async move {
                for _ in 0..200 {
                    let (tx, rx) = oneshot::channel();
                    ask.send(tx).await.unwrap();
                    rx.await.unwrap();
                }
                finish(&done)
            })
        };
        let worker = {
            let done = done.clone();
            rt.spawn_named("conformance yielding worker", async move {
                // Past 1 000 polls and 100 ms: long enough to be judged
                // for a storm, with 100 µs of work in every poll.
                for _ in 0..1_500 {
                    let began = Instant::now();
                    while began.elapsed() < Duration::from_micros(100) {
                        std::hint::spin_loop();
                    }
                    yield_once().await;
                }
                finish(&done)
            })
        };
        let mut linted = Vec::new();
        let started = Instant::now();
        while done.load(Ordering::Relaxed) < 4 {
            assert!(started.elapsed() < PATIENCE, "the quiet tasks did not end");
            let snapshot = async_inspect::snapshot();
            linted.extend(snapshot.lints().iter().filter_map(|l| match l {
                Lint::Unwakeable { task, .. } | Lint::SelfWakeStorm { task, .. } => Some(*task),
                _ => None,
            }));
            rt.sleep(Duration::from_millis(1)).await;
        }
        let ids = [
            sleeper.await.unwrap(),
            responder.await.unwrap(),
            asker.await.unwrap(),
            worker.await.unwrap(),
        ];
        linted.retain(|t| ids.contains(t));
        assert!(linted.is_empty(), "wake lints on correct tasks: {linted:?}");
    });
}

/// Wakes itself and yields once, as smol's and async-std's `yield_now`.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}
