// `all_tasks` without `--cfg tokio_unstable`: an error naming the flag.
// (The cfg is checked in the user's crate, which may warn that it does not
// know it; this case only looks at the error.)
#![allow(unexpected_cfgs)]

#[async_inspect::main(all_tasks = true)]
async fn main() {}
