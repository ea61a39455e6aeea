#[async_inspect::main(flavor = "single_thread")]
async fn main() {}
