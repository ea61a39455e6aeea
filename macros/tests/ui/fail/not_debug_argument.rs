struct Secret;

#[async_inspect::trace]
async fn login(user: u32, secret: Secret) {
    let _ = (user, secret);
}

fn main() {}
