#[async_inspect::trace]
fn compute(x: u32) -> u32 {
    x + 1
}

fn main() {}
