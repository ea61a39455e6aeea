//! A poll that holds its executor thread past the threshold is reported,
//! between the two awaits of the traced fn that did it.

mod common;

use std::time::Duration;

use async_inspect::{BlockingPlace, Lint};

const FIRST_AWAIT: u32 = line!() + 4;

#[async_inspect::trace]
async fn crunch(rounds: u32) -> u32 {
    tokio::task::yield_now().await;
    std::thread::sleep(Duration::from_millis(30 * u64::from(rounds)));
    tokio::task::yield_now().await;
    rounds
}

#[async_inspect::trace]
async fn quick() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

fn lints_of(task: async_inspect::TaskId) -> Vec<Lint> {
    async_inspect::snapshot()
        .lints()
        .iter()
        .filter(|l| matches!(l, Lint::BlockingPoll { task: t, .. } if *t == task))
        .cloned()
        .collect()
}

#[async_inspect::test]
async fn a_long_stretch_between_awaits_is_named_with_both_awaits() {
    let handle = async_inspect::spawn(crunch(2));
    let id = handle.inspect_id().unwrap();
    handle.await.unwrap();
    let lints = lints_of(id);
    assert_eq!(lints.len(), 1, "one report per blocking stretch: {lints:?}");
    let Lint::BlockingPoll {
        function,
        duration,
        from,
        to,
        ..
    } = &lints[0]
    else {
        unreachable!()
    };
    assert_eq!(function.as_deref(), Some("crunch(rounds=2)"));
    assert!(*duration >= Duration::from_millis(55), "{duration:?}");
    let BlockingPlace::Await { location: a, .. } = from else {
        panic!("from {from:?}")
    };
    let BlockingPlace::Await { location: b, .. } = to else {
        panic!("to {to:?}")
    };
    assert_eq!((a.line, b.line), (FIRST_AWAIT, FIRST_AWAIT + 2));
    let text = lints[0].to_string();
    assert!(text.starts_with("crunch(rounds=2) (task "), "{text}");
    assert!(text.contains("blocked its executor thread for"), "{text}");
    assert!(
        text.contains(&format!(
            "between the `.await` at {}:{FIRST_AWAIT}:",
            file!()
        )),
        "{text}"
    );
}

#[async_inspect::test]
async fn untraced_blocking_is_reported_for_the_task() {
    let handle = async_inspect::spawn(async {
        std::thread::sleep(Duration::from_millis(40));
    });
    let id = handle.inspect_id().unwrap();
    handle.await.unwrap();
    let lints = lints_of(id);
    assert_eq!(lints.len(), 1);
    assert!(matches!(
        &lints[0],
        Lint::BlockingPoll {
            function: None,
            from: BlockingPlace::Unknown,
            ..
        }
    ));
    assert!(lints[0].to_string().contains("add #[trace] to see where"));
}

#[async_inspect::test]
async fn short_polls_are_not_reported() {
    let handle = async_inspect::spawn(quick());
    let id = handle.inspect_id().unwrap();
    handle.await.unwrap();
    assert!(lints_of(id).is_empty());
}
