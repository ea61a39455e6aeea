#[async_inspect::trace(level = "info")]
async fn work() {}

fn main() {}
