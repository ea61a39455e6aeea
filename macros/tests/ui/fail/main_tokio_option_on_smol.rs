#[async_inspect::main(runtime = "smol", worker_threads = 2)]
async fn main() {}
