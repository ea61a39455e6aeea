//! What must build and run with the macros and the drop-in names: a tokio
//! program with only the crate's name changed, and every signature
//! `#[trace]` must keep working. (Part of the workspace's own test build;
//! `macros/tests/ui.rs` holds the cases that must fail to compile.)

mod drop_in {
    use std::sync::Arc;

    use async_inspect::sync::{
        Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore, broadcast, mpsc, oneshot, watch,
    };
    use async_inspect::task::JoinHandle;
    use async_inspect::time::{self, Duration, Instant, MissedTickBehavior};

    async fn service(shutdown: broadcast::Sender<()>, purge: Arc<Notify>) -> JoinHandle<u32> {
        let mut stop = shutdown.subscribe();
        let (state, mut changes) = watch::channel(0_u32);
        let once: OnceCell<u32> = OnceCell::new();
        let barrier = Barrier::new(1);
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let (reply, answer) = oneshot::channel::<u32>();
        let lock = Mutex::new(1_u32);
        let table = RwLock::new(2_u32);
        let permits = Semaphore::new(3);
        async_inspect::spawn(async move {
            let started = Instant::now();
            let mut tick = time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick.tick().await;
            let _ = time::timeout(Duration::from_millis(1), purge.notified()).await;
            let _ = time::sleep_until(started + Duration::from_millis(1)).await;
            barrier.wait().await;
            state.send(1).ok();
            changes.changed().await.ok();
            tx.send(*once.get_or_init(|| async { 4 }).await).ok();
            reply.send(rx.recv().await.unwrap_or(0)).ok();
            let _permit = permits.acquire().await;
            let sum = *lock.lock().await + *table.read().await + answer.await.unwrap_or(0);
            tokio::select! {
                _ = stop.recv() => 0,
                _ = time::sleep(Duration::from_millis(1)) => sum,
            }
        })
    }

    /// The names resolve, the types line up, and the service runs to its
    /// sum (1 + 2 + 4: the lock, the table and the reply), its shutdown
    /// sender kept alive so that the sleep's branch wins.
    #[async_inspect::test]
    async fn a_tokio_service_runs_with_the_crate_name_changed() {
        let (shutdown, _) = broadcast::channel(1);
        let service = service(shutdown.clone(), Arc::new(Notify::new())).await;
        assert_eq!(service.await.unwrap(), 7);
        drop(shutdown);
    }
}

mod signatures {
    use std::fmt::Debug;

    #[derive(Debug)]
    struct Service {
        name: String,
    }

    impl Service {
        #[async_inspect::trace]
        async fn by_ref(&self, id: u32) -> &str {
            let _ = id;
            &self.name
        }

        #[async_inspect::trace]
        async fn by_mut(&mut self, name: String) {
            self.name = name;
        }

        #[async_inspect::trace]
        async fn by_value(self) -> String {
            self.name
        }
    }

    #[async_inspect::trace]
    async fn generic<T: Debug + Send>(value: T) -> T {
        value
    }

    #[async_inspect::trace]
    async fn impl_arg(value: impl Debug) -> String {
        format!("{value:?}")
    }

    #[async_inspect::trace]
    async fn fallible(fail: bool) -> Result<u32, Box<dyn std::error::Error>> {
        let n: u32 = "7".parse()?;
        if fail {
            return Err("failed".into());
        }
        Ok(n)
    }

    #[async_inspect::trace]
    async fn lifetimes<'a>(text: &'a str, _unused: &str) -> &'a str {
        text
    }

    #[async_inspect::trace]
    async fn patterns((a, b): (u32, u32), mut c: u32, _: u8) -> u32 {
        c += 1;
        a + b + c
    }

    #[async_inspect::trace(skip_all, name = "renamed")]
    async fn not_debug(value: std::cell::Cell<u32>) -> u32 {
        value.get()
    }

    #[async_inspect::trace]
    async fn returns_impl(x: u32) -> impl Debug {
        x
    }

    #[async_inspect::trace]
    async fn r#async(r#type: u32) -> u32 {
        r#type
    }

    trait Fetch {
        async fn fetch(&self, key: u32) -> u32;
    }

    impl Fetch for Service {
        #[async_inspect::trace]
        async fn fetch(&self, key: u32) -> u32 {
            key
        }
    }

    // A default method: its `Self` may be unsized.
    trait Describe {
        #[async_inspect::trace]
        async fn describe(&self) -> usize {
            std::mem::size_of_val(self)
        }
    }

    impl Describe for str {}

    #[async_inspect::test(flavor = "current_thread")]
    async fn every_signature_runs() -> Result<(), Box<dyn std::error::Error>> {
        let mut service = Service { name: "a".into() };
        assert_eq!(service.by_ref(1).await, "a");
        service.by_mut("b".into()).await;
        assert_eq!(service.fetch(3).await, 3);
        assert_eq!(service.by_value().await, "b");
        assert_eq!(generic(5u8).await, 5);
        assert_eq!(impl_arg(1).await, "1");
        assert_eq!(fallible(false).await?, 7);
        assert!(fallible(true).await.is_err());
        assert_eq!(lifetimes("x", "y").await, "x");
        assert_eq!(patterns((1, 2), 3, 0).await, 7);
        assert_eq!(not_debug(std::cell::Cell::new(4)).await, 4);
        let _ = returns_impl(1).await;
        assert_eq!(r#async(2).await, 2);
        assert_eq!("abc".describe().await, 3);
        Ok(())
    }
}
