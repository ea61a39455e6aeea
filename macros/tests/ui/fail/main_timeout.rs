#[async_inspect::main(timeout = "30s")]
async fn main() {}
