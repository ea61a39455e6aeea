//! `ASYNC_INSPECT=0` turns recording off at run time: tasks run as before and
//! nothing is registered.

#[async_inspect::trace]
async fn traced(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x + 1
}

#[test]
fn async_inspect_0_records_nothing() {
    // The only test in this binary, and it runs before anything reads the
    // environment.
    // SAFETY: no other thread of this process reads or writes the
    // environment at this point.
    unsafe { std::env::set_var("ASYNC_INSPECT", "0") };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _lock = runtime.block_on(async {
        // Before any spawn: the first thing that asks whether recording is
        // on reads the environment.
        let lock = async_inspect::sync::Mutex::new(0);
        *lock.lock().await += 1;
        let handle = async_inspect::spawn(traced(1));
        assert_eq!(handle.inspect_id(), None);
        assert_eq!(handle.await.unwrap(), 2);
        let adopted = traced(5).await;
        assert_eq!(adopted, 6);
        async_inspect::inspect_point!("ignored");
        lock
    });
    // Nothing read the inspector's clock: its threads never started (nor
    // calibrated the time-stamp counter, which costs milliseconds).
    #[cfg(target_os = "linux")]
    {
        let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect();
        assert!(
            !threads.iter().any(|t| t.starts_with("async-inspect-c")),
            "{threads:?}"
        );
        assert!(!threads.is_empty());
    }
    let snapshot = async_inspect::snapshot();
    assert_eq!(
        snapshot.instrumentation(),
        async_inspect::Instrumentation::DisabledAtRuntime
    );
    assert!(snapshot.tasks().is_empty(), "{snapshot}");
    assert!(snapshot.resources().is_empty(), "{snapshot}");
    assert!(snapshot.to_string().contains("recording is OFF"));
}
