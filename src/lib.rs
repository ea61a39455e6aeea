//! X-ray vision for async Rust: every task, the `.await` it is stuck on, why,
//! and for how long.
//!
//! Swap `tokio::spawn` for [`async_inspect::spawn`](spawn), `#[tokio::main]`
//! for [`#[async_inspect::main]`](main), put [`#[async_inspect::trace]`](trace)
//! on the async fns you care about, and [`snapshot()`] (or
//! [`print_report()`]) shows each task's logical async stack, the exact
//! `.await` it is parked on with file:line, why, since when, and how far each
//! traced call got.
//!
//! ```
//! use std::time::Duration;
//!
//! #[async_inspect::trace]
//! async fn fetch_user(id: u64) -> u64 {
//!     let (_tx, rx) = tokio::sync::oneshot::channel::<u64>();
//!     rx.await.unwrap_or(id) // never answered
//! }
//!
//! #[async_inspect::main(flavor = "current_thread")]
//! async fn main() {
//!     let handle = async_inspect::spawn(fetch_user(12345));
//!     async_inspect::time::sleep(Duration::from_millis(20)).await;
//!
//!     let snapshot = async_inspect::snapshot();
//!     let task = snapshot.tasks_named("fetch_user").next().unwrap();
//!     let (frame, step) = task.blocked_at().unwrap();
//!     assert_eq!(frame.call(), "fetch_user(id=12345)");
//!     assert_eq!(&*step.expr, "rx");
//!     println!("{snapshot}");
//!     handle.abort();
//! }
//! ```
//!
//! # Cargo features
//!
//! - `inspect` (default): instrumentation compiled in. Off, [`spawn`] *is*
//!   `tokio::spawn`, `#[trace]` emits the function unchanged,
//!   [`inspect_point!`] emits nothing, and [`snapshot()`] returns an empty
//!   snapshot that says instrumentation is compiled out.
//! - `tokio` (default): the tokio adapter.
//! - `smol`, `async-std`: their adapters.
//! - `web`: the dashboard to mount in your axum app (`web::router`).
//! - `tracing`: tasks in the `tracing` spans they run in
//!   (`tracing::layer()`), and the stall log through `tracing`.
//! - `http`: tower layers that carry a request's `traceparent` between
//!   processes (`remote::http`).
//!
//! At run time, `ASYNC_INSPECT=0` switches recording off (a poll then costs
//! one relaxed atomic load more than tokio's own).

pub use async_inspect_core::model::{FutureLocation, Local, NodeKind, NodeState, StateNode};
pub use async_inspect_core::snapshot::format_duration;
pub use async_inspect_core::trace::ArgValue;
pub use async_inspect_core::{
    AwaitStep, BlockingPlace, Config, Counters, Deadlock, DeadlockLink, FrameInfo, HeldLock,
    InspectPoint, Instrumentation, Lint, LockHolder, LockOrderStep, LongestHold, ResourceId,
    ResourceInfo, ResourceKind, ResourceRef, SchedulingDelays, Snapshot, SourceLocation,
    StepStatus, TaskId, TaskInfo, TaskKind, TaskState, WaitInfo, WaitReason, WakeInfo, WokenBy,
};

/// Records a frame per active call of an `async fn`: the function, its
/// arguments as `Debug` text, and for each of its own `.await`s (not those in
/// nested closures or async blocks) the expression, file:line:col, and its
/// progress ("step 2/4"). The signature is unchanged.
///
/// Arguments: `skip(a, b)` leaves those arguments out, `skip_all` all of them
/// (an argument that is not `Debug` must be skipped; the compile error says
/// so), `name = "label"` renames the frame. `self` is never recorded.
/// When every recorded argument is a small `Copy` value (integers,
/// `bool`, `char`, `Duration`, or a type of yours that implements
/// [`ArgValue`]) or a string of at most 15 bytes, the frame keeps the
/// values and formats them only when a snapshot reads them, which makes
/// such a call nearly as cheap as one without arguments.
///
/// ```
/// #[async_inspect::trace(skip(secret))]
/// async fn login(user: &str, secret: String) -> Result<u32, String> {
///     let id = lookup(user).await?;
///     Ok(id)
/// }
///
/// #[async_inspect::trace]
/// async fn lookup(user: &str) -> Result<u32, String> {
///     if user.is_empty() {
///         return Err("no user".into());
///     }
///     Ok(7)
/// }
///
/// # #[async_inspect::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(login("ada", "hunter2".into()).await, Ok(7));
/// # }
/// ```
#[cfg(feature = "inspect")]
pub use async_inspect_macros::trace;
#[cfg(not(feature = "inspect"))]
pub use async_inspect_macros::trace_disabled as trace;

/// Runs `async fn main` on a tokio runtime, its body the inspected root task
/// `main`. Takes `#[tokio::main]`'s options: `flavor = "current_thread" |
/// "multi_thread"`, `worker_threads = N`, `start_paused = true` (that one
/// needs tokio's `test-util` feature, as with tokio).
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
pub use async_inspect_macros::main;

/// Runs an `async fn` test on a tokio runtime (current-thread by default),
/// its body the inspected root task named after the test. Takes
/// `#[tokio::test]`'s options.
///
/// ```
/// #[async_inspect::test]
/// async fn adds() {
///     assert_eq!(async_inspect::spawn(async { 1 + 1 }).await.unwrap(), 2);
/// }
/// ```
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
pub use async_inspect_macros::test;

#[cfg(feature = "tokio")]
pub use async_inspect_tokio::{JoinHandle, spawn, spawn_blocking, spawn_local, task};

/// Timers whose deadlines the report shows: `sleep`, `sleep_until`,
/// `timeout`, `timeout_at`, with tokio's signatures. Inside a tokio runtime
/// they run on tokio's clock; with the `smol` or `async-std` feature, on
/// async-io's anywhere else.
#[cfg(all(feature = "tokio", not(any(feature = "smol", feature = "async-std"))))]
pub use async_inspect_tokio::time;

/// Timers whose deadlines the report shows: `sleep`, `sleep_until`,
/// `timeout`, `timeout_at`, with tokio's signatures. Inside a tokio runtime
/// they run on tokio's clock; with the `smol` or `async-std` feature, on
/// async-io's anywhere else.
#[cfg(any(feature = "smol", feature = "async-std"))]
pub use async_inspect_adapters::time;

/// The smol adapter: `spawn` and `block_on` as smol's, a [`Task`](smol::Task)
/// with smol's semantics, and inspected `Executor` / `LocalExecutor`.
///
/// ```
/// # #[cfg(feature = "smol")]
/// # {
/// let answer = async_inspect::smol::block_on(async {
///     async_inspect::smol::spawn(async { 6 * 7 }).await
/// });
/// assert_eq!(answer, 42);
/// # }
/// ```
#[cfg(feature = "smol")]
pub mod smol {
    pub use async_inspect_smol::{Executor, LocalExecutor, Task, block_on, block_on_named, spawn};
}

/// The async-std adapter: `spawn`, `spawn_blocking`, `block_on` and
/// `task::Builder` as `async_std::task`'s, with a
/// [`JoinHandle`](async_std::JoinHandle) that awaits to the output. (async-std
/// is discontinued upstream in favour of smol; this is for existing code.)
///
/// ```
/// # #[cfg(feature = "async-std")]
/// # {
/// let answer = async_inspect::async_std::block_on(async {
///     async_inspect::async_std::spawn(async { 6 * 7 }).await
/// });
/// assert_eq!(answer, 42);
/// # }
/// ```
#[cfg(feature = "async-std")]
pub mod async_std {
    pub use async_inspect_async_std::{
        JoinHandle, block_on, block_on_named, spawn, spawn_blocking, task,
    };
}

/// Records a labelled point on the current task, optionally with a value's
/// `Debug` text; the report shows the latest ones.
///
/// ```
/// # #[async_inspect::main(flavor = "current_thread")]
/// # async fn main() {
/// let order_id = 42;
/// async_inspect::inspect_point!("order received");
/// async_inspect::inspect_point!("order id", order_id);
/// # }
/// ```
///
/// With the `inspect` feature off it emits nothing: the value is not
/// evaluated.
#[cfg(feature = "inspect")]
#[macro_export]
macro_rules! inspect_point {
    ($label:expr $(,)?) => {
        $crate::__private::inspect_point($label, ::core::option::Option::None)
    };
    ($label:expr, $value:expr $(,)?) => {
        $crate::__private::inspect_point(
            $label,
            ::core::option::Option::Some(&$value as &dyn ::core::fmt::Debug),
        )
    };
}

/// Records a labelled point on the current task (compiled out: emits
/// nothing).
#[cfg(not(feature = "inspect"))]
#[macro_export]
macro_rules! inspect_point {
    ($($tokens:tt)*) => {};
}

/// A snapshot of every task: what the report, the CLI and every view read.
///
/// Each idle task's future is decoded from the program's debuginfo
/// ([`TaskInfo::state_machine`]): its async fns from root to leaf, the
/// `.await` each is suspended at, the locals alive there. The debuginfo is
/// read the first time a snapshot needs it (a dev build has it; a release
/// build needs `debug = "full"`); when it cannot be, the snapshot says why
/// ([`Snapshot::state_machines_note`]).
///
/// With the `inspect` feature off, an empty snapshot whose report says
/// instrumentation is compiled out.
pub fn snapshot() -> Snapshot {
    #[cfg(feature = "inspect")]
    {
        async_inspect_agent::state_machines::snapshot()
    }
    #[cfg(not(feature = "inspect"))]
    {
        Snapshot::compiled_out()
    }
}

/// Writes the report of a fresh [`snapshot()`] to stderr.
pub fn print_report() {
    eprint!("{}", snapshot());
}

/// The inspector's id of the task being polled on this thread, if any.
pub fn current_task() -> Option<TaskId> {
    #[cfg(feature = "inspect")]
    {
        async_inspect_core::current_task()
    }
    #[cfg(not(feature = "inspect"))]
    {
        None
    }
}

pub mod remote;
pub mod sync;

/// Calls `hook` for every deadlock found from now on, once per deadlock,
/// instead of printing its report (or what `ASYNC_INSPECT_ON_DEADLOCK`
/// chooses: `report`, `panic`, `abort`, `ignore`). It runs on the thread of
/// the task whose wait closed the cycle, and must not block.
///
/// ```
/// async_inspect::on_deadlock(|deadlock| {
///     eprintln!("{} tasks are stuck for good", deadlock.cycle.len());
/// });
/// ```
pub fn on_deadlock(hook: impl Fn(&Deadlock) + Send + Sync + 'static) {
    #[cfg(feature = "inspect")]
    async_inspect_core::resource::on_deadlock(hook);
    #[cfg(not(feature = "inspect"))]
    let _ = hook;
}

/// The agent: a thread that lets `async-inspect attach --pid` and `ps` look
/// inside this program from another terminal (see the README).
///
/// ```no_run
/// let socket = async_inspect::agent::start().expect("the agent starts");
/// eprintln!("attach with: async-inspect attach --pid {}", std::process::id());
/// # let _ = socket;
/// ```
#[cfg(unix)]
pub mod agent {
    pub use async_inspect_agent::{socket, socket_dir, socket_for, start};
}

/// Logs the full report once when a task has waited for an inspected lock
/// (`Mutex`, `RwLock`, `Semaphore`) longer than `threshold`, or a deadlock
/// forms: a watchdog for services, which never stops the program (as
/// `ASYNC_INSPECT_STALL_LOG=5s` does without a code change). To stderr, or
/// through `tracing` (WARN, target `async_inspect`) with the `tracing`
/// feature once the program set a global subscriber; at most one report per `threshold`, each wait once; channel
/// receives (a connection at rest) are left out. Its thread sleeps while
/// no task waits.
///
/// # Errors
///
/// When its thread cannot start.
///
/// ```no_run
/// async_inspect::log_stalls(std::time::Duration::from_secs(5)).unwrap();
/// ```
pub use async_inspect_agent::log_stalls;

/// Tasks in the `tracing` spans they run in (the `tracing` feature): add
/// [`layer()`](tracing::layer) to the program's subscriber, and each task
/// shows its spans with their fields (`in span request{id=4}`) and the
/// trace id a `trace_id` or `traceparent` field carries, in every view;
/// a task spawned inside a span keeps it, also when it enters none itself.
///
/// ```
/// use tracing::Instrument;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(async_inspect::tracing::layer());
/// tracing::subscriber::set_global_default(subscriber).unwrap();
///
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// runtime.block_on(async {
///     let request = tracing::info_span!("request", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736");
///     let (tx, rx) = tokio::sync::oneshot::channel::<()>();
///     let task = async_inspect::spawn(async move { rx.await }.instrument(request));
///     tokio::task::yield_now().await;
///     # let mut parked = false;
///     # for _ in 0..1000 {
///     #     parked = async_inspect::snapshot().tasks().iter().any(|t| !t.spans.is_empty());
///     #     if parked { break }
///     #     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
///     # }
///     let snapshot = async_inspect::snapshot();
///     let served = snapshot.tasks().iter().find(|t| !t.spans.is_empty()).unwrap();
///     assert_eq!(served.spans[0].name, "request");
///     assert_eq!(served.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
///     tx.send(()).unwrap();
///     task.await.unwrap().unwrap();
/// });
/// ```
#[cfg(feature = "tracing")]
pub mod tracing {
    pub use async_inspect_core::tracing_layer::{Layer, layer};
}

/// The dashboard mounted in the program's own axum server (the `web`
/// feature): the page, the JSON API, the live stream and `/metrics` for
/// Prometheus, reading this program's inspector on a thread of its own,
/// only when a request wants a snapshot.
///
/// ```no_run
/// # async fn serve() -> std::io::Result<()> {
/// use async_inspect::web::{Auth, router};
///
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .nest("/debug/async-inspect", router(Auth::Token("s3cret".into()))?);
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
///
/// Then `https://host:8080/debug/async-inspect/?token=s3cret` in a
/// browser, or `curl -H 'Authorization: Bearer s3cret'
/// host:8080/debug/async-inspect/metrics`.
#[cfg(feature = "web")]
pub mod web {
    pub use async_inspect_web::Auth;

    /// The dashboard of this program, to nest under a path of its own
    /// server; `auth` says who may read (every route reads, none changes
    /// the program: see [`router_with_control`] for recording).
    ///
    /// # Errors
    ///
    /// When its snapshot thread cannot start.
    pub fn router(auth: Auth) -> std::io::Result<async_inspect_web::Router> {
        async_inspect_web::router(
            &title(),
            async_inspect_agent::state_machines::snapshot,
            auth,
        )
    }

    /// [`router`], and clients that `auth` lets in may also record the
    /// program (`async-inspect record --url URL --token T --duration 5s
    /// -o FILE`): the program records itself on a thread of its own for
    /// the time asked (at most 10 minutes a request) and answers the trace
    /// file; and debug it (`async-inspect debug --url URL --token T`):
    /// breakpoints at traced awaits pause the tasks that reach them until
    /// the debugger lets them go, and a debugger that closes or goes quiet
    /// for 30 s lets every task it paused go. Allow it only where reading
    /// is guarded (a token, or your own layer): recording costs the
    /// program while it lasts, and a paused task serves nobody.
    ///
    /// # Errors
    ///
    /// When its snapshot thread cannot start.
    pub fn router_with_control(auth: Auth) -> std::io::Result<async_inspect_web::Router> {
        let control = async_inspect_web::Control {
            record: Box::new(|duration, all_polls| {
                let polls = if all_polls {
                    crate::record::Polls::All
                } else {
                    crate::record::Polls::Long
                };
                async_inspect_agent::recording::record_for(
                    duration,
                    polls,
                    async_inspect_agent::recording::LARGEST,
                )
            }),
            debug: Some(std::sync::Arc::new(Debugging(std::sync::Arc::default()))),
        };
        async_inspect_web::router_with_control(
            &title(),
            async_inspect_agent::state_machines::snapshot,
            auth,
            control,
        )
    }

    /// The program's debugger sessions over HTTP (`debug --url`).
    struct Debugging(std::sync::Arc<async_inspect_agent::debugger::Sessions>);

    impl async_inspect_web::DebugSessions for Debugging {
        fn open(&self) -> u64 {
            self.0.open()
        }

        fn exchange(
            &self,
            session: u64,
            requests: &[async_inspect_core::model::wire::Request],
        ) -> Option<Vec<async_inspect_core::model::wire::Reply>> {
            self.0.exchange(
                session,
                requests,
                async_inspect_agent::state_machines::snapshot,
            )
        }

        fn close(&self, session: u64) -> bool {
            self.0.close(session)
        }
    }

    /// The dashboard's title: the program and its pid.
    fn title() -> String {
        format!(
            "{} (pid {})",
            async_inspect_agent::program_name(),
            std::process::id()
        )
    }
}

/// Recording every poll, traced call, await, lock event and inspect point
/// with precise times, while a [`Recorder`](record::Recorder) lives: what
/// `async-inspect record` streams into a trace file and `profile` sums up.
pub use async_inspect_core::record;

/// Breakpoints at await points: `debug::break_at("fetch#2")` stops a task
/// at that await; `hit().await` gives it; `resume()` or `step()` moves it
/// on. Tests use it to pin an interleaving.
pub use async_inspect_core::debug;

/// The performance profile of a recording (what `async-inspect profile`
/// prints): slowest functions and awaits, lock contention, hot paths, and
/// folded stacks for a flamegraph.
pub use async_inspect_core::model::profile;

/// Every task of a tokio runtime, also those libraries spawn with plain
/// `tokio::spawn`: [`instrument_runtime`](tokio::instrument_runtime) adds
/// tokio's task hooks to a runtime builder. Needs `--cfg tokio_unstable`
/// (tokio's hooks are unstable): `RUSTFLAGS="--cfg tokio_unstable"`.
#[cfg(all(feature = "tokio", feature = "inspect", tokio_unstable))]
pub mod tokio {
    pub use async_inspect_tokio::instrument_runtime;
}

/// The items most programs use.
pub mod prelude {
    pub use crate::{Snapshot, TaskState, inspect_point, trace};
}

/// What the macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "inspect")]
    pub use async_inspect_core::trace::{
        ArgsProbe, AwaitInfo, FnInfo, FormatNow, KeepValues, NoOwner, Owner, OwnerOf, Traced,
        await_point, format_args_list, record_args,
    };

    /// The body of a traced call (what `#[trace]` expands to), a method of
    /// `O`'s type or a free fn ([`NoOwner`]). The first call starts what
    /// the environment asks for (the agent under `async-inspect run`:
    /// traced code may run in tasks no adapter spawned), and tells adopted
    /// tasks how to find the id of the runtime task they run in.
    #[cfg(feature = "inspect")]
    #[inline]
    pub fn traced<O: Owner, F: std::future::Future>(
        info: &'static FnInfo,
        body: F,
    ) -> Traced<F, O> {
        use std::sync::atomic::{AtomicBool, Ordering};
        static FIRST_DONE: AtomicBool = AtomicBool::new(false);
        if !FIRST_DONE.load(Ordering::Relaxed) {
            first_traced_call();
            FIRST_DONE.store(true, Ordering::Relaxed);
        }
        Traced::new(info, body)
    }

    #[cfg(feature = "inspect")]
    #[cold]
    fn first_traced_call() {
        async_inspect_agent::init();
        #[cfg(feature = "tokio")]
        async_inspect_core::trace::set_host_task_id(|| {
            tokio::task::try_id().map(|id| id.to_string())
        });
    }
    pub use async_inspect_agent::watchdog::{stuck_is_failure, watch_test};
    #[cfg(feature = "inspect")]
    pub use async_inspect_core::wait::inspect_point;
    #[cfg(all(feature = "tokio", feature = "inspect", tokio_unstable))]
    pub use async_inspect_tokio::instrument_runtime;
    #[cfg(feature = "tokio")]
    pub use async_inspect_tokio::root_task;
    #[cfg(feature = "tokio")]
    pub use tokio;
}
