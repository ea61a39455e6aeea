//! An idle program costs no CPU: with every task parked and nobody
//! looking, no thread of async-inspect wakes (the clock stops ticking when
//! nobody reads it; the collector parks when nobody records).

use std::time::Duration;

use tokio::sync::oneshot;

/// Nanoseconds every thread of this process has run, from the scheduler's
/// own accounting (`/proc/self/task/*/schedstat`, first field).
fn cpu_nanos() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

#[test]
fn a_parked_program_uses_no_cpu_while_idle() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_never, rx) = oneshot::channel::<()>();
    let stuck = {
        let _inside = runtime.enter();
        async_inspect::spawn(async move { rx.await.ok() })
    };
    runtime.block_on(async {
        // Busy for a moment, so the clock ticks and a snapshot is taken.
        async_inspect::time::sleep(Duration::from_millis(50)).await;
        assert!(!async_inspect::snapshot().tasks().is_empty());
    });
    // Long enough for the clock to notice nobody reads it.
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_nanos();
    std::thread::sleep(Duration::from_secs(2));
    let used = Duration::from_nanos(cpu_nanos() - before);
    // A thread waking every millisecond costs about 30 ms in 2 s here;
    // idle is well under a millisecond. The bound is generous.
    assert!(
        used < Duration::from_millis(10),
        "{used:?} of CPU in 2 s of idling"
    );
    // The clock wakes when read again.
    let later = runtime.block_on(async {
        async_inspect::time::sleep(Duration::from_millis(5)).await;
        async_inspect::snapshot()
    });
    let task = later.task(stuck.inspect_id().unwrap()).unwrap();
    assert!(
        task.in_state_for(&later) >= Duration::from_secs(2),
        "{:?}",
        task.in_state_for(&later)
    );
    stuck.abort();
}
