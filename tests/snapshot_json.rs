//! A snapshot serialises to versioned JSON and reads back unchanged.

mod common;

use async_inspect::Snapshot;
use tokio::sync::oneshot;

#[async_inspect::trace]
async fn waits(rx: oneshot::Receiver<()>) {
    async_inspect::inspect_point!("about to wait", 3);
    rx.await.ok();
}

#[async_inspect::test]
async fn a_snapshot_round_trips_through_json() {
    let (tx, rx) = oneshot::channel();
    let handle = async_inspect::spawn(waits(rx));
    let id = handle.inspect_id().unwrap();
    let snapshot = common::eventually("waits to park", |s| common::parked_at(s, id, "rx")).await;
    let json = serde_json::to_string_pretty(&snapshot).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["format_version"], 2);
    assert_eq!(value["instrumentation"], "enabled");
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(back.to_string(), snapshot.to_string());
    tx.send(()).unwrap();
    handle.await.unwrap();
}
