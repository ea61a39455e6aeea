#[async_inspect::main(runtime = "rocket")]
async fn main() {}
