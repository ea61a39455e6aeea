//! Inspected RwLocks: every reader is a holder; a writer waiting behind
//! readers names them all; a reader asking for the write lock it blocks
//! itself, and a cycle through one of many readers, are deadlocks.

mod common;

use std::sync::Arc;

use async_inspect::WaitReason;
use async_inspect::sync::{Mutex, RwLock};
use common::eventually;
use tokio::sync::Barrier;

fn in_deadlock(snapshot: &async_inspect::Snapshot, task: async_inspect::TaskId) -> bool {
    snapshot
        .deadlocks()
        .iter()
        .any(|d| d.cycle.iter().any(|l| l.task == task))
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_behind_readers_names_every_reader() {
    let lock = Arc::new(RwLock::named("table", 0u32));
    let readers_in = Arc::new(Barrier::new(6));
    let (release_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let (lock, readers_in) = (lock.clone(), readers_in.clone());
            let mut release = release_tx.subscribe();
            async_inspect::spawn(async move {
                let value = lock.read().await;
                readers_in.wait().await;
                release.recv().await.ok();
                *value
            })
        })
        .collect();
    readers_in.wait().await;
    let writer = {
        let lock = lock.clone();
        async_inspect::spawn(async move {
            *lock.write().await += 1;
        })
    };
    let writer_id = writer.inspect_id().unwrap();
    let snapshot = eventually("the writer to wait", |s| {
        s.task(writer_id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let task = common::task(&snapshot, writer_id);
    let WaitReason::Lock { resource, holders } = &task.waits[0].reason else {
        panic!("a lock wait: {:?}", task.waits[0].reason);
    };
    assert_eq!(resource.name, "table");
    assert_eq!(holders.len(), 5);
    let reader_ids: Vec<_> = readers.iter().map(|r| r.inspect_id().unwrap()).collect();
    for holder in holders {
        assert!(reader_ids.contains(&holder.task));
    }
    assert!(
        snapshot
            .to_string()
            .contains("RwLock `table` held by 5 tasks")
    );
    assert!(!in_deadlock(&common::after_checks(), writer_id));

    release_tx.send(()).unwrap();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), 0);
    }
    writer.await.unwrap();
    assert_eq!(*lock.read().await, 1);
}

#[async_inspect::test]
async fn asking_for_the_write_lock_while_reading_is_a_deadlock() {
    let lock = Arc::new(RwLock::named("settings", ()));
    let task = {
        let lock = lock.clone();
        async_inspect::spawn(async move {
            let _read = lock.read().await;
            let _write = lock.write().await;
        })
    };
    let id = task.inspect_id().unwrap();
    let snapshot = eventually("the read-to-write deadlock", |s| in_deadlock(s, id)).await;
    let deadlock = snapshot
        .deadlocks()
        .iter()
        .find(|d| d.cycle.iter().any(|l| l.task == id))
        .unwrap();
    assert_eq!(deadlock.cycle.len(), 1);
    assert_eq!(
        deadlock.cycle[0].resource.as_ref().unwrap().name,
        "settings"
    );
    task.abort();
}

#[async_inspect::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_through_one_of_several_readers_is_found() {
    let table = Arc::new(RwLock::named("table", ()));
    let audit = Arc::new(Mutex::named("audit", ()));
    let start = Arc::new(Barrier::new(3));
    // A quiet reader that will let go, and a reader that then needs `audit`.
    let quiet = {
        let (table, start) = (table.clone(), start.clone());
        async_inspect::spawn(async move {
            let _r = table.read().await;
            start.wait().await;
            std::future::pending::<()>().await;
        })
    };
    let reader = {
        let (table, audit, start) = (table.clone(), audit.clone(), start.clone());
        async_inspect::spawn(async move {
            let _r = table.read().await;
            start.wait().await;
            let _a = audit.lock().await;
        })
    };
    // The writer holds `audit` and waits for both readers to leave.
    let _audit_held = audit.lock().await;
    start.wait().await;
    let reader_id = reader.inspect_id().unwrap();
    eventually("the reader to wait for audit", |s| {
        s.task(reader_id).is_some_and(|t| !t.waits.is_empty())
    })
    .await;
    let me = async_inspect::current_task().unwrap();
    let write = {
        let table = table.clone();
        async move {
            let _w = table.write().await;
        }
    };
    tokio::select! {
        _ = write => panic!("the writer cannot get in"),
        _ = eventually("the deadlock through a reader", |s| in_deadlock(s, me) && in_deadlock(s, reader_id)) => {}
    }
    quiet.abort();
    reader.abort();
}
