#[async_inspect::trace(skip(pasword))]
async fn login(password: String) {
    let _ = password;
}

fn main() {}
