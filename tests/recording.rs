//! While a `Recorder` lives, every poll, traced call, await, lock event and
//! inspect point is recorded with precise times, in order, naming the fns
//! and locks once.

mod common;

use async_inspect::record::{Event, Polls, Recorder};
use async_inspect::sync::Mutex;
use common::{events, recorded_until as collect};
use std::sync::Arc;
use std::time::Duration;

#[async_inspect::trace]
async fn load(user: u32, lock: Arc<Mutex<u32>>) -> u32 {
    let mut guard = lock.lock().await;
    *guard += user;
    async_inspect::inspect_point!("loaded", user);
    let value = *guard;
    drop(guard);
    tokio::task::yield_now().await;
    value
}

#[async_inspect::trace]
async fn outer_call(id: u64) -> u64 {
    inner_call(id + 1).await
}

#[async_inspect::trace]
async fn inner_call(id: u64) -> u64 {
    tokio::task::yield_now().await;
    id
}

#[test]
fn calls_that_keep_their_arguments_as_values_are_recorded_with_their_text_in_order() {
    let recorder = Recorder::start_with(Polls::Long);
    let runtime = two_workers();
    let task = runtime.block_on(async {
        let handle = async_inspect::spawn(outer_call(7));
        let task = handle.inspect_id().unwrap().as_u64();
        assert_eq!(handle.await.unwrap(), 8);
        task
    });
    let batches = collect(&recorder, |batches| {
        events(batches).any(|e| matches!(e, Event::End { task: t, .. } if *t == task))
    });
    let function = |id: u32| {
        batches
            .iter()
            .flat_map(|b| &b.sites)
            .find(|s| s.id == id)
            .map(|s| s.function.clone())
    };
    let enters: Vec<(Option<String>, Option<String>)> = events(&batches)
        .filter(|e| e.task() == task)
        .filter_map(|e| match e {
            Event::Enter { site, args, .. } => Some((function(*site), args.clone())),
            _ => None,
        })
        .collect();
    let expected = [("outer_call", "id=7"), ("inner_call", "id=8")]
        .map(|(f, a)| (Some(f.to_owned()), Some(a.to_owned())));
    assert_eq!(enters, expected);
}

#[test]
fn a_recording_has_polls_frames_awaits_locks_and_points() {
    let recorder = Recorder::start_with(Polls::All);
    let runtime = two_workers();
    let lock = Arc::new(Mutex::named("total", 0));
    let holder = Arc::clone(&lock);
    let (task, value) = runtime.block_on(async move {
        // Held while the loader starts, so that it has to wait.
        let guard = holder.lock().await;
        let handle = async_inspect::spawn(load(5, Arc::clone(&holder)));
        let task = handle.inspect_id().unwrap().as_u64();
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(guard);
        (task, handle.await.unwrap())
    });
    assert_eq!(value, 5);
    let batches = collect(&recorder, |batches| {
        events(batches).any(|e| matches!(e, Event::End { task: t, .. } if *t == task))
    });
    let mine: Vec<&Event> = events(&batches).filter(|e| e.task() == task).collect();
    let kinds: Vec<&str> = mine.iter().map(|e| kind(e)).collect();
    let position = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(position("spawn") < position("enter"));
    assert!(position("enter") < position("wait"));
    assert!(position("wait") < position("wait_end"));
    assert!(position("wait_end") <= position("acquire"));
    assert!(position("acquire") < position("point"));
    assert!(position("point") < position("release"));
    assert!(position("exit") < position("end"));
    assert!(
        kinds.iter().filter(|k| **k == "poll").count() >= 3,
        "{kinds:?}"
    );
    // The yield pends once: an await span of the second await.
    assert!(
        mine.iter()
            .any(|e| matches!(e, Event::AwaitStart { index: 1, .. }))
    );
    assert!(
        mine.iter()
            .any(|e| matches!(e, Event::AwaitEnd { index: 1, .. }))
    );

    let site = batches
        .iter()
        .flat_map(|b| &b.sites)
        .find(|s| s.function == "load")
        .unwrap();
    assert_eq!(site.file, file!());
    assert_eq!(site.awaits.len(), 2);
    assert!(
        site.awaits[0].0.contains("lock.lock()"),
        "{:?}",
        site.awaits
    );
    let enter = mine.iter().find_map(|e| match e {
        Event::Enter { site, args, .. } => Some((*site, args.clone())),
        _ => None,
    });
    let (site_id, args) = enter.unwrap();
    assert_eq!(site_id, site.id);
    assert!(args.unwrap().starts_with("user=5"));
    let resource = batches
        .iter()
        .flat_map(|b| &b.resources)
        .find(|r| r.label.contains("total"))
        .expect("the lock is named");
    assert!(
        mine.iter()
            .any(|e| matches!(e, Event::Wait { resource: r, .. } if *r == resource.id))
    );
    let point = mine.iter().find_map(|e| match e {
        Event::Point { label, value, .. } => Some((label.as_str(), value.as_deref())),
        _ => None,
    });
    assert_eq!(point, Some(("loaded", Some("5"))));

    // Waiting 30 ms for the lock shows in the times.
    let at = |k: &str| mine[position(k)].at();
    assert!(at("wait_end") - at("wait") >= 25_000_000, "{mine:?}");
    // Polls are spans, in order.
    for event in &mine {
        if let Event::Poll { start, end, .. } = event {
            assert!(start <= end);
        }
    }
    for batch in &batches {
        let starts: Vec<u64> = batch.events.iter().map(Event::start).collect();
        assert!(starts.is_sorted(), "a batch is in order");
    }
}

#[test]
fn nothing_is_recorded_without_a_recorder_and_each_fn_is_named_once() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lock = Arc::new(Mutex::new(0));
    // Before any recorder of this test: nothing of this task may show up.
    let before = runtime.block_on(async {
        let handle = async_inspect::spawn(load(1, Arc::clone(&lock)));
        let id = handle.inspect_id().unwrap().as_u64();
        assert_eq!(handle.await.unwrap(), 1);
        id
    });
    let recorder = Recorder::start();
    let tasks: Vec<u64> = runtime.block_on(async {
        let mut ids = Vec::new();
        for user in 0..3 {
            let handle = async_inspect::spawn(load(user, Arc::clone(&lock)));
            ids.push(handle.inspect_id().unwrap().as_u64());
            handle.await.unwrap();
        }
        ids
    });
    let batches = collect(&recorder, |batches| {
        tasks
            .iter()
            .all(|t| events(batches).any(|e| matches!(e, Event::End { task, .. } if task == t)))
    });
    let sites: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.sites)
        .map(|s| s.function.as_str())
        .filter(|f| *f == "load")
        .collect();
    assert_eq!(sites, ["load"], "a fn is named once per recorder");
    let recorded: std::collections::HashSet<u64> = events(&batches).map(Event::task).collect();
    for task in &tasks {
        assert!(recorded.contains(task));
    }
    assert!(!recorded.contains(&before), "recorded before the recorder");
    assert_eq!(recorder.flush().iter().map(|b| b.dropped).sum::<u64>(), 0);
}

/// Recording every poll records each wake of a task by another, with the
/// task whose poll woke it; a recorder of the long polls alongside gets
/// the same events but those wakes (the collector leaves them out for it).
#[test]
fn a_recording_of_every_poll_has_who_woke_whom() {
    let long = Recorder::start_with(Polls::Long);
    let all = Recorder::start_with(Polls::All);
    let (waiter, sender) = two_workers().block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let (go, ready) = tokio::sync::oneshot::channel::<()>();
        let waiter = async_inspect::spawn(async move { rx.await.unwrap() });
        let sender = async_inspect::spawn(async move {
            ready.await.unwrap();
            tx.send(7).unwrap();
        });
        let ids = (waiter.inspect_id().unwrap(), sender.inspect_id().unwrap());
        // The waiter parks first, so that the send wakes it.
        common::eventually("the waiter parked", |s| {
            s.task(ids.0)
                .is_some_and(|t| t.polls == 1 && t.state == async_inspect::TaskState::Idle)
        })
        .await;
        go.send(()).unwrap();
        assert_eq!(waiter.await.unwrap(), 7);
        sender.await.unwrap();
        (ids.0.as_u64(), ids.1.as_u64())
    });
    let woke =
        |e: &Event| matches!(e, Event::Wake { task, by, .. } if *task == waiter && *by == sender);
    let batches = collect(&all, |batches| events(batches).any(woke));
    let wake_at = events(&batches).find(|e| woke(e)).unwrap().at();
    // Inside the sender's poll, before the waiter's last poll began.
    assert!(events(&batches).any(|e| matches!(e,
        Event::Poll { task, start, end } if *task == sender && *start <= wake_at && wake_at <= *end)));
    assert!(events(&batches).any(|e| matches!(e,
        Event::Poll { task, start, .. } if *task == waiter && *start >= wake_at)));

    let long = long.flush();
    assert!(
        events(&long).any(|e| matches!(e, Event::End { task, .. } if *task == waiter)),
        "the recorder of long polls got that round's events"
    );
    assert!(!events(&long).any(|e| matches!(e, Event::Wake { .. })));
}

/// Tokio's multi-thread runtime with two workers, timers and I/O.
fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Spawn { .. } => "spawn",
        Event::End { .. } => "end",
        Event::Poll { .. } => "poll",
        Event::Enter { .. } => "enter",
        Event::Exit { .. } => "exit",
        Event::AwaitStart { .. } => "await_start",
        Event::AwaitEnd { .. } => "await_end",
        Event::Wait { .. } => "wait",
        Event::WaitEnd { .. } => "wait_end",
        Event::Acquire { .. } => "acquire",
        Event::Release { .. } => "release",
        Event::Point { .. } => "point",
        Event::Wake { .. } => "wake",
        _ => "other",
    }
}
