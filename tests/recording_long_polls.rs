//! By default a recording keeps only the polls long enough to see on the
//! coarse clock: the ones that hold up an executor thread. (Its own file:
//! a recorder of every poll anywhere in the process would raise the level.)

use std::time::Duration;

mod common;

use async_inspect::record::{Event, Recorder};
use common::{events, recorded_until as collect};

#[test]
fn by_default_only_polls_long_enough_to_see_are_recorded() {
    let recorder = Recorder::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (quick, slow) = runtime.block_on(async {
        let quick = async_inspect::spawn(async {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
        });
        let quick_id = quick.inspect_id().unwrap().as_u64();
        quick.await.unwrap();
        let slow = async_inspect::spawn(async {
            tokio::task::yield_now().await;
            // Holds up the executor thread: the poll a profile must show.
            std::thread::sleep(Duration::from_millis(20));
        });
        let slow_id = slow.inspect_id().unwrap().as_u64();
        slow.await.unwrap();
        (quick_id, slow_id)
    });
    let batches = collect(&recorder, |batches| {
        events(batches).any(|e| matches!(e, Event::End { task, .. } if *task == slow))
    });
    let polls = |of: u64| {
        events(&batches)
            .filter_map(move |e| match e {
                Event::Poll { task, start, end } if *task == of => Some(end - start),
                _ => None,
            })
            .collect::<Vec<u64>>()
    };
    // 51 polls of microseconds: each is seen only if it straddles a tick.
    assert!(polls(quick).len() < 51, "{:?}", polls(quick));
    let slow_polls = polls(slow);
    assert!(
        slow_polls.iter().any(|&took| took >= 15_000_000),
        "the 20 ms poll: {slow_polls:?}"
    );
}
