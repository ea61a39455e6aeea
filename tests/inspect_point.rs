//! `inspect_point!` records labelled points, with values, on the current
//! task; the report shows the latest.

mod common;

use common::task;

#[async_inspect::trace]
async fn checkout(order: u32) {
    async_inspect::inspect_point!("cart loaded");
    tokio::task::yield_now().await;
    async_inspect::inspect_point!("charging", order * 100);
}

#[async_inspect::test]
async fn points_carry_label_value_location_and_frame() {
    let handle = async_inspect::spawn(async {
        checkout(7).await;
        for i in 0..20 {
            async_inspect::inspect_point!("tick", i);
        }
        checkout(8).await;
        async_inspect::current_task().unwrap()
    });
    let id = handle.await.unwrap();
    let snapshot = async_inspect::snapshot();
    let points = &task(&snapshot, id).points;
    assert_eq!(points.len(), 8, "only the latest are kept");
    let last = points.last().unwrap();
    assert_eq!(last.label, "charging");
    assert_eq!(last.value.as_deref(), Some("800"));
    assert_eq!(last.function.as_deref(), Some("checkout"));
    assert_eq!(last.location.file, file!());
    assert_eq!(last.location.line, 12);
    let tick = points.iter().find(|p| p.label == "tick").unwrap();
    assert_eq!(tick.function, None);
    assert_eq!(tick.value.as_deref(), Some("14"));
}

#[async_inspect::test]
async fn the_report_shows_the_latest_point() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = async_inspect::spawn(async move {
        async_inspect::inspect_point!("waiting for payment", "order-9");
        rx.await.ok();
    });
    let id = handle.inspect_id().unwrap();
    let snapshot = common::eventually("the point", |s| {
        s.task(id).is_some_and(|t| !t.points.is_empty())
    })
    .await;
    let report = snapshot.to_string();
    assert!(
        report.contains("last inspect point: \"waiting for payment\" = \"order-9\""),
        "{report}"
    );
    tx.send(()).unwrap();
    handle.await.unwrap();
}

#[test]
fn outside_a_task_a_point_is_a_no_op() {
    async_inspect::inspect_point!("nowhere", 1);
    assert_eq!(async_inspect::current_task(), None);
}
