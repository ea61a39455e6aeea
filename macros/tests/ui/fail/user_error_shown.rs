#[async_inspect::trace]
async fn typo(x: u32) -> u32 {
    x + undefined_name
}

fn main() {}
