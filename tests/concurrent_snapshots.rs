//! Snapshots taken while tasks enter, leave and drop traced calls on other
//! threads read only live frames: frames are unregistered under the task's
//! guard before they are recycled. Exercises that path hard; a use after
//! recycling would show as garbage frames, wrong await counts or a crash.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_inspect::StepStatus;

#[async_inspect::trace]
async fn outer(round: u32) {
    inner(round).await;
    tokio::task::yield_now().await;
}

#[async_inspect::trace]
async fn inner(round: u32) {
    tokio::task::yield_now().await;
    if round.is_multiple_of(3) {
        let _ = tokio::time::timeout(std::time::Duration::from_micros(1), dropped_midway()).await;
    }
}

#[async_inspect::trace]
async fn dropped_midway() {
    std::future::pending::<()>().await;
}

#[test]
fn snapshots_never_see_a_recycled_frame() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let snapshot = async_inspect::snapshot();
                for task in snapshot.tasks() {
                    for frame in &task.frames {
                        seen.fetch_add(1, Ordering::Relaxed);
                        let expected = match &*frame.function {
                            "outer" => 2,
                            "inner" => 2,
                            "dropped_midway" => 1,
                            other => panic!("a frame of an unknown fn: {other:?}"),
                        };
                        assert_eq!(frame.awaits.len(), expected, "{frame:?}");
                        let in_progress = frame
                            .awaits
                            .iter()
                            .filter(|a| matches!(a.status, StepStatus::InProgress { .. }))
                            .count();
                        assert!(in_progress <= 1, "{frame:?}");
                        if let Some(parent) = frame.parent {
                            assert!(
                                task.frames.iter().any(|f| f.id == parent),
                                "a frame whose parent is gone: {frame:?}"
                            );
                        }
                    }
                }
            }
        })
    };
    runtime.block_on(async {
        // Until the reader has checked plenty of live frames (the batch
        // count is only a safety net).
        for batch in 0..20_000u32 {
            if batch >= 40 && seen.load(Ordering::Relaxed) >= 2_000 {
                break;
            }
            let handles: Vec<_> = (0..100u32)
                .map(|i| async_inspect::spawn(outer(batch * 100 + i)))
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader saw only sound frames");
    assert!(
        seen.load(Ordering::Relaxed) >= 2_000,
        "the reader checked live frames"
    );
}
