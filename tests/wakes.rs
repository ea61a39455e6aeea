//! Wakes, counted by default: each task's waker is wrapped once, and tells
//! who woke the task, how long the wake waited for a worker, and how many
//! wakers for the task exist. From them three lints: a task nobody can
//! wake, one that spins on self-wakes, one woken but starved of a worker.
//! And none of them on what is correct: every case that fooled other tools
//! runs here under a thread that takes snapshots all along.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_inspect::{Lint, TaskId, TaskState, WokenBy};
use common::{eventually, task};
use futures::StreamExt;
use tokio::sync::Notify;

/// A task that waits on a new `Notify` `rounds` times, then ends.
fn waiting_on_a_notify(rounds: u32) -> (Arc<Notify>, async_inspect::JoinHandle<()>) {
    let notify = Arc::new(Notify::new());
    let waiting = notify.clone();
    let handle = async_inspect::spawn(async move {
        for _ in 0..rounds {
            waiting.notified().await;
        }
    });
    (notify, handle)
}

#[async_inspect::test]
async fn every_wake_is_counted_by_default() {
    let (notify, handle) = waiting_on_a_notify(3);
    let id = handle.inspect_id().unwrap();
    for round in 1..=3 {
        let snapshot = eventually("the task to wait on the notify", |s| {
            s.task(id)
                .is_some_and(|t| t.polls == round && t.state == TaskState::Idle)
        })
        .await;
        // Parked on the Notify, which keeps its waker.
        assert_eq!(task(&snapshot, id).wake.wakers, Some(1));
        if round == 3 {
            let report = snapshot.to_string();
            assert!(report.contains("polls 3 (every"), "{report}");
            // The test's own task woke it last.
            let main = async_inspect::current_task().unwrap();
            let woken = format!(" · wakes 2, the last by task {main} ");
            assert!(report.contains(&woken), "{report}");
        }
        notify.notify_one();
    }
    handle.await.unwrap();
    let snapshot = async_inspect::snapshot();
    let info = task(&snapshot, id);
    assert_eq!(info.polls, 4);
    assert_eq!(info.wakes, 3);
    // The test's own task woke it, from its poll.
    let main = async_inspect::current_task().unwrap();
    assert_eq!(info.wake.woken_by, Some(WokenBy::Task(main)));
}

/// A task woken from a thread outside any task names that thread, each
/// thread by its own name (a snapshot borrows them from the inspector's
/// table; a mix-up of indexes would show another thread's name).
#[async_inspect::test]
async fn a_wake_from_a_thread_outside_any_task_names_the_thread() {
    // Waiting a third time when the test ends: the report shows a live
    // task's last wake.
    let (notify, handle) = waiting_on_a_notify(3);
    let id = handle.inspect_id().unwrap();
    for (round, name) in [(1, "first-waking-thread"), (2, "second-waking-thread")] {
        eventually("the task to wait on the notify", |s| {
            s.task(id)
                .is_some_and(|t| t.polls == round && t.state == TaskState::Idle)
        })
        .await;
        let notify = notify.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || notify.notify_one())
            .unwrap()
            .join()
            .unwrap();
        let snapshot = eventually("the task woken by the thread", |s| {
            s.task(id).is_some_and(|t| t.polls == round + 1)
        })
        .await;
        assert_eq!(
            task(&snapshot, id).wake.woken_by,
            Some(WokenBy::Thread(name.into()))
        );
        let report = snapshot.to_string();
        assert!(
            report.contains(&format!("the last by thread `{name}` outside any task")),
            "{report}"
        );
    }
    handle.abort();
}

/// A task its inspected sleep woke, then its timeout's deadline, names
/// each timer by where it was set, in the snapshot and the report.
#[async_inspect::test]
async fn a_wake_by_an_inspected_timer_names_the_timer() {
    let (sent, parked) = tokio::sync::oneshot::channel::<()>();
    let (_never, late) = tokio::sync::oneshot::channel::<()>();
    let sleep_line = line!() + 3;
    let timeout_line = line!() + 4;
    let handle = async_inspect::spawn(async move {
        async_inspect::time::sleep(Duration::from_millis(20)).await;
        let _ = parked.await;
        let _ = async_inspect::time::timeout(Duration::from_millis(20), late).await;
        std::future::pending::<()>().await;
    });
    let id = handle.inspect_id().unwrap();
    let after_sleep = eventually("the task parked on the channel after its sleep", |s| {
        s.task(id)
            .is_some_and(|t| t.polls == 2 && t.state == TaskState::Idle)
    })
    .await;
    let at = |line: u32| format!("{}:{line}", file!());
    let info = task(&after_sleep, id);
    assert_eq!(info.wake.woken_by, Some(WokenBy::Timer(at(sleep_line))));
    let report = after_sleep.to_string();
    assert!(
        report.contains(&format!("the last by the timer set at {}", at(sleep_line))),
        "{report}"
    );

    // The channel's sender wakes it from this task: a task, not a timer.
    sent.send(()).unwrap();
    let main = async_inspect::current_task().unwrap();
    let on_channel = eventually("the task in its timeout", |s| {
        s.task(id)
            .is_some_and(|t| t.polls == 3 && t.state == TaskState::Idle)
    })
    .await;
    assert_eq!(
        task(&on_channel, id).wake.woken_by,
        Some(WokenBy::Task(main))
    );

    let after_timeout = eventually("the task parked after its timeout", |s| {
        s.task(id)
            .is_some_and(|t| t.polls == 4 && t.state == TaskState::Idle)
    })
    .await;
    assert_eq!(
        task(&after_timeout, id).wake.woken_by,
        Some(WokenBy::Timer(at(timeout_line)))
    );
    handle.abort();
}

/// The bug: a future that returns `Pending` and keeps no waker.
struct ForgetsItsWaker;

impl Future for ForgetsItsWaker {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

const FORGOTTEN_AT: u32 = line!() + 3;
async fn wait_for_nothing(label: &str) -> usize {
    let seen = label.len();
    ForgetsItsWaker.await;
    seen
}

#[async_inspect::test]
async fn a_task_whose_waker_is_gone_is_reported_where_it_is_parked() {
    let handle = async_inspect::spawn(wait_for_nothing("forgotten"));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the unwakeable lint", |s| {
        s.lints()
            .iter()
            .any(|l| matches!(l, Lint::Unwakeable { task, .. } if *task == id))
    })
    .await;
    let lint = snapshot
        .lints()
        .iter()
        .find(|l| matches!(l, Lint::Unwakeable { task, .. } if *task == id))
        .unwrap();
    let Lint::Unwakeable { at, .. } = lint else {
        unreachable!()
    };
    let at = at.as_deref().unwrap_or_default();
    assert!(
        at.contains("wait_for_nothing") && at.contains(&format!("tests/wakes.rs:{FORGOTTEN_AT}")),
        "{at}"
    );
    assert_eq!(task(&snapshot, id).wake.wakers, Some(0));
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!("task {id} is parked at"))
            && report.contains("no waker for it exists: it can never be polled again"),
        "{report}"
    );
    handle.abort();
}

/// Spins: wakes itself and returns `Pending` until `stop` is set.
async fn spin_until(stop: Arc<AtomicBool>) {
    std::future::poll_fn(|cx| {
        if stop.load(Ordering::Relaxed) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_spins_on_self_wakes_is_reported() {
    let stop = Arc::new(AtomicBool::new(false));
    let handle = async_inspect::spawn(spin_until(stop.clone()));
    let id = handle.inspect_id().unwrap();
    let snapshot = eventually("the self-wake storm lint", |s| {
        s.lints()
            .iter()
            .any(|l| matches!(l, Lint::SelfWakeStorm { task, .. } if *task == id))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    handle.await.unwrap();
    let Some(Lint::SelfWakeStorm { polls, over, .. }) = snapshot
        .lints()
        .iter()
        .find(|l| matches!(l, Lint::SelfWakeStorm { task, .. } if *task == id))
    else {
        unreachable!()
    };
    assert!(
        *polls >= 1_000 && *over >= Duration::from_millis(100),
        "{polls} {over:?}"
    );
    let info = task(&async_inspect::snapshot(), id).clone();
    assert!(info.wake.self_wakes >= 1_000, "{:?}", info.wake);
    let report = snapshot.to_string();
    assert!(
        report.contains(&format!("task {id} woke itself in each of its last")),
        "{report}"
    );
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_works_between_its_self_wakes_is_no_storm() {
    // Each poll works 50 µs and wakes itself: 4 000 of them, 200 ms, past
    // the storm's length, with polls longer than a storm's.
    let polls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = polls.clone();
    let handle = async_inspect::spawn(std::future::poll_fn(move |cx| {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
        if counted.fetch_add(1, Ordering::Relaxed) == 4_000 {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }));
    let id = handle.inspect_id().unwrap();
    handle.await.unwrap();
    let snapshot = async_inspect::snapshot();
    assert_eq!(task(&snapshot, id).wake.self_wakes, 4_000);
    assert!(
        !snapshot
            .lints()
            .iter()
            .any(|l| matches!(l, Lint::SelfWakeStorm { task, .. } if *task == id)),
        "{snapshot}"
    );
}

#[async_inspect::test]
async fn a_task_starved_behind_a_blocking_poll_names_the_blocker() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let waiter = async_inspect::spawn(async move { rx.await.unwrap() });
    let waiter_id = waiter.inspect_id().unwrap();
    eventually("the waiter to park", |s| {
        s.task(waiter_id)
            .is_some_and(|t| t.polls == 1 && t.state == TaskState::Idle)
    })
    .await;
    // One thread: the task that wakes the waiter then holds the thread.
    let blocker = async_inspect::spawn(async move {
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(120));
    });
    let blocker_id = blocker.inspect_id().unwrap();
    waiter.await.unwrap();
    blocker.await.unwrap();
    let snapshot = async_inspect::snapshot();
    let lint = snapshot
        .lints()
        .iter()
        .find(|l| matches!(l, Lint::SchedulingDelay { task, .. } if *task == waiter_id))
        .unwrap_or_else(|| panic!("no scheduling-delay lint:\n{snapshot}"));
    let Lint::SchedulingDelay {
        delay,
        woken_by,
        blocker,
        ..
    } = lint
    else {
        unreachable!()
    };
    assert!(*delay >= Duration::from_millis(100), "{delay:?}");
    assert_eq!(woken_by, &Some(WokenBy::Task(blocker_id)));
    assert_eq!(blocker, &Some(blocker_id));
    assert!(task(&snapshot, waiter_id).wake.max_delay >= Duration::from_millis(100));
    assert!(snapshot.scheduling_delays().count() > 0);
    let text = lint.to_string();
    assert!(
        text.contains(&format!("task {blocker_id} blocked the thread meanwhile")),
        "{text}"
    );
}

/// Takes snapshots on a thread of its own, as fast as it can, until
/// dropped: what it saw of the tasks it watches (the wake lints about
/// them, and which were seen parked with a counted waker).
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Seen>>,
    /// The tasks seen parked with wakers counted (and at least one waker
    /// for each), as they are seen.
    parked: Arc<std::sync::Mutex<HashSet<TaskId>>>,
}

#[derive(Debug, Default)]
struct Seen {
    lints: Vec<Lint>,
    snapshots: usize,
}

impl Watcher {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(std::sync::Mutex::new(HashSet::new()));
        let thread = {
            let (stop, parked) = (stop.clone(), parked.clone());
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = async_inspect::snapshot();
                    seen.snapshots += 1;
                    for task in snapshot.tasks() {
                        if task.wake.wakers.is_some_and(|n| n > 0) {
                            parked.lock().unwrap().insert(task.id);
                        }
                    }
                    for lint in snapshot.lints() {
                        if matches!(lint, Lint::Unwakeable { .. } | Lint::SelfWakeStorm { .. })
                            && !seen.lints.contains(lint)
                        {
                            seen.lints.push(lint.clone());
                        }
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                seen
            })
        };
        Self {
            stop,
            thread: Some(thread),
            parked,
        }
    }

    /// Whether a snapshot has found `task` parked with its wakers counted
    /// yet (a snapshot is slow on a busy machine: a task parked for a
    /// moment at a time can go unseen for a while).
    fn saw_parked(&self, task: TaskId) -> bool {
        self.parked.lock().unwrap().contains(&task)
    }

    /// Stops, and checks that no wake lint named any of `tasks`, and that
    /// each of `parked` was seen parked with its wakers counted.
    fn assert_quiet(mut self, tasks: &[TaskId], parked: &[TaskId]) {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.thread.take().unwrap().join().unwrap();
        let tasks: HashSet<TaskId> = tasks.iter().copied().collect();
        let false_positives: Vec<&Lint> = seen
            .lints
            .iter()
            .filter(|l| l.task().is_some_and(|t| tasks.contains(&t)))
            .collect();
        assert!(
            false_positives.is_empty(),
            "lints on a correct program ({} snapshots): {false_positives:#?}",
            seen.snapshots
        );
        for id in parked {
            assert!(
                self.saw_parked(*id),
                "task {id} was never seen parked with its wakers counted in {} snapshots",
                seen.snapshots
            );
        }
    }
}

/// Hands its waker to `to` at its first poll, and is ready at its next.
struct HandOff {
    to: std::sync::mpsc::Sender<Waker>,
    sent: bool,
}

impl Future for HandOff {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sent {
            return Poll::Ready(());
        }
        self.sent = true;
        self.to.send(cx.waker().clone()).unwrap();
        Poll::Pending
    }
}

/// A thread that wakes each waker it receives after `after`, by value or
/// by reference (then dropping it).
fn waking_thread(after: Duration, by_value: bool) -> std::sync::mpsc::Sender<Waker> {
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    std::thread::spawn(move || {
        for waker in rx {
            std::thread::sleep(after);
            if by_value {
                waker.wake();
            } else {
                waker.wake_by_ref();
                drop(waker);
            }
        }
    });
    tx
}

/// One thread, kept busy by the test's own task: each wake by value (the
/// waker gone with it) waits a while for its poll, and a snapshot then
/// sees a task with no waker that is nonetheless about to run.
#[async_inspect::test]
async fn a_wake_by_value_followed_by_a_yield_is_no_lint() {
    let watcher = Watcher::start();
    let to = waking_thread(Duration::from_millis(10), true);
    let handle = async_inspect::spawn(async move {
        for _ in 0..40 {
            HandOff {
                to: to.clone(),
                sent: false,
            }
            .await;
            tokio::task::yield_now().await;
        }
    });
    let id = handle.inspect_id().unwrap();
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(2));
        tokio::task::yield_now().await;
    }
    handle.await.unwrap();
    watcher.assert_quiet(&[id], &[id]);
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waker_sent_to_another_thread_and_woken_later_is_no_lint() {
    let watcher = Watcher::start();
    let to = waking_thread(Duration::from_millis(30), false);
    let handle = async_inspect::spawn(async move {
        for _ in 0..5 {
            HandOff {
                to: to.clone(),
                sent: false,
            }
            .await;
        }
    });
    let id = handle.inspect_id().unwrap();
    handle.await.unwrap();
    watcher.assert_quiet(&[id], &[id]);
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_dropping_a_branch_while_another_holds_a_waker_is_no_lint() {
    let watcher = Watcher::start();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let handle = {
        let ticks = ticks.clone();
        async_inspect::spawn(async move {
            loop {
                tokio::select! {
                    message = rx.recv() => return message,
                    // Its sleep wins, and the recv branch's future (and
                    // the waker it registered) is dropped; the next round
                    // registers again.
                    () = tokio::time::sleep(Duration::from_millis(2)) => {
                        ticks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let id = handle.inspect_id().unwrap();
    // Twenty rounds of a branch dropped at least, and until a snapshot
    // has seen it parked; then the message.
    let started = std::time::Instant::now();
    while ticks.load(Ordering::Relaxed) < 20 || !watcher.saw_parked(id) {
        assert!(started.elapsed() < common::PATIENCE, "never seen parked");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tx.send(7).await.unwrap();
    assert_eq!(handle.await.unwrap(), Some(7));
    watcher.assert_quiet(&[id], &[id]);
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn yield_now_in_a_loop_is_no_lint() {
    let watcher = Watcher::start();
    let handle = async_inspect::spawn(async {
        for _ in 0..20_000 {
            tokio::task::yield_now().await;
        }
    });
    let id = handle.inspect_id().unwrap();
    handle.await.unwrap();
    watcher.assert_quiet(&[id], &[]);
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_and_io_readiness_are_no_lint() {
    use tokio::io::AsyncReadExt;
    let watcher = Watcher::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let reader = async_inspect::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut byte = [0; 1];
        socket.read_exact(&mut byte).await.unwrap();
        byte[0]
    });
    let reader_id = reader.inspect_id().unwrap();
    let writer = async_inspect::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        socket.write_all(&[42]).await.unwrap();
        socket
    });
    let writer_id = writer.inspect_id().unwrap();
    assert_eq!(reader.await.unwrap(), 42);
    drop(writer.await.unwrap());
    watcher.assert_quiet(&[reader_id, writer_id], &[reader_id, writer_id]);
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_unordered_and_join_set_are_no_lint() {
    let watcher = Watcher::start();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..10)
        .map(|_| tokio::sync::oneshot::channel::<u32>())
        .unzip();
    let unordered = async_inspect::spawn(async move {
        let mut pending: futures::stream::FuturesUnordered<_> = receivers.into_iter().collect();
        let mut sum = 0;
        while let Some(value) = pending.next().await {
            sum += value.unwrap();
        }
        sum
    });
    let unordered_id = unordered.inspect_id().unwrap();
    let joiner = async_inspect::spawn(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..10_u64 {
            set.spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * i)).await;
                i
            });
        }
        let mut sum = 0;
        while let Some(i) = set.join_next().await {
            sum += i.unwrap();
        }
        sum
    });
    let joiner_id = joiner.inspect_id().unwrap();
    std::thread::spawn(move || {
        for (i, sender) in senders.into_iter().enumerate() {
            std::thread::sleep(Duration::from_millis(5));
            sender.send(i as u32).unwrap();
        }
    });
    assert_eq!(unordered.await.unwrap(), 45);
    assert_eq!(joiner.await.unwrap(), 45);
    watcher.assert_quiet(&[unordered_id, joiner_id], &[unordered_id, joiner_id]);
}

/// 10⁶ wakes across 1 000 tasks, each asking a responder task for a reply
/// a thousand times, under snapshots all along: no lint, every wake
/// counted.
#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_wakes_across_a_thousand_tasks_are_no_lint() {
    const TASKS: usize = 1_000;
    const ROUNDS: usize = 1_000;
    let watcher = Watcher::start();
    let (ask, mut asked) =
        tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<()>>();
    let responder = async_inspect::spawn(async move {
        while let Some(reply) = asked.recv().await {
            let _ = reply.send(());
        }
    });
    let mut ids = vec![responder.inspect_id().unwrap()];
    let mut askers = Vec::new();
    for _ in 0..TASKS {
        let ask = ask.clone();
        let asker = async_inspect::spawn(async move {
            for _ in 0..ROUNDS {
                let (tx, rx) = tokio::sync::oneshot::channel();
                ask.send(tx).unwrap();
                rx.await.unwrap();
            }
        });
        ids.push(asker.inspect_id().unwrap());
        askers.push(asker);
    }
    drop(ask);
    for asker in askers {
        asker.await.unwrap();
    }
    responder.await.unwrap();
    let snapshot = async_inspect::snapshot();
    let wakes: u64 = ids[1..]
        .iter()
        .filter_map(|id| snapshot.task(*id))
        .map(|t| t.wakes)
        .sum();
    let finished = ids[1..]
        .iter()
        .filter(|id| snapshot.task(**id).is_some())
        .count();
    // Each asker was woken once per reply, but for the replies that came
    // before it awaited them.
    assert!(
        wakes >= (finished * ROUNDS) as u64 * 99 / 100,
        "{wakes} wakes of {finished} tasks"
    );
    watcher.assert_quiet(&ids, &[]);
}
