//! `#[async_inspect::test(runtime = …)]` runs the body as the inspected
//! root task on smol and on async-std.

fn root_name() -> String {
    let me = async_inspect::current_task().expect("the body is the inspected root");
    async_inspect::snapshot().task(me).unwrap().name.to_string()
}

#[async_inspect::test(runtime = "smol")]
async fn a_smol_test_is_the_inspected_root() {
    assert_eq!(root_name(), "a_smol_test_is_the_inspected_root");
    assert_eq!(async_inspect::smol::spawn(async { 1 }).await, 1);
}

#[async_inspect::test(runtime = "async-std")]
async fn an_async_std_test_is_the_inspected_root() {
    assert_eq!(root_name(), "an_async_std_test_is_the_inspected_root");
    assert_eq!(async_inspect::async_std::spawn(async { 1 }).await, 1);
}
