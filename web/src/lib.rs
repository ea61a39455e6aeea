//! The web dashboard of async-inspect (`async-inspect serve`): one live
//! process, or a recording, in the browser.
//!
//! The server does no I/O with the inspected program: the caller (the CLI)
//! feeds it [`Update`]s from its agent connection, or hands it a trace
//! file's [`Trace`]. It serves a versioned JSON API under `/api/v1/`
//! ([`api`]), live updates as Server-Sent Events, and one page (HTML, CSS
//! and JS built into the binary: no CDN, works offline). It binds to
//! 127.0.0.1 unless told otherwise; elsewhere it requires a token, checked
//! on every request. It only reads.
//!
//! Layering: it reads the model (`async-inspect-model`) only. Inside,
//! `data` (what is served), `chrome` (the Chrome trace export) and `page`
//! sit below `api`, which answers requests from them.

mod api;
pub mod chrome;
mod data;
mod metrics;
mod mount;
mod page;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use async_inspect_model::Snapshot;
use async_inspect_model::event::Batch;
use async_inspect_model::trace_file::Trace;

pub use axum::Router;
pub use data::Data;
pub use mount::{Auth, Control, DebugSessions};

/// What the caller sends a live dashboard.
#[derive(Debug)]
pub enum Update {
    /// A new snapshot.
    Snapshot(Box<Snapshot>),
    /// Events recorded since the previous batch.
    Events(Box<Batch>),
    /// The program ended (or the connection dropped): why, in words.
    Ended(String),
}

/// An inspectable process the picker offers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Process {
    /// Its process id.
    pub pid: u32,
    /// Its program.
    pub program: String,
    /// Live tasks, blocked tasks, deadlocks (none if it did not answer).
    pub tasks: Option<(usize, usize, usize)>,
}

/// A live process's title and the updates that feed its dashboard.
pub type Connection = (String, std::sync::mpsc::Receiver<Update>);

/// How `serve` with neither a process nor a recording finds processes and
/// connects to the one chosen on the page: the caller's (the CLI's), since
/// the dashboard does no I/O with programs itself.
pub struct Picker {
    /// This user's inspectable processes.
    pub list: Box<dyn Fn() -> Vec<Process> + Send + Sync>,
    /// Connects to `pid`: a title and the updates to feed the dashboard.
    pub connect: Box<dyn Fn(u32) -> Result<Connection, String> + Send + Sync>,
}

impl std::fmt::Debug for Picker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Picker")
    }
}

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct Options {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The token every request must carry (`?token=` or
    /// `Authorization: Bearer`); required when `bind` is not loopback.
    pub token: Option<String>,
}

/// Why the dashboard could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Not loopback and no token: anyone on the network could look.
    #[error(
        "binding to {0} (not loopback) needs --token, so that only those given the URL can look"
    )]
    TokenRequired(SocketAddr),
    /// The address is taken or not ours.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, io::Error),
    /// The server failed.
    #[error("the dashboard stopped: {0}")]
    Io(#[from] io::Error),
}

/// The URL to open, with the token if there is one.
pub fn url(bound: SocketAddr, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("http://{bound}/?token={token}"),
        None => format!("http://{bound}/"),
    }
}

/// A dashboard bound to its address, not serving yet.
#[derive(Debug)]
pub struct Server {
    listener: std::net::TcpListener,
    token: Option<String>,
    data: Arc<Data>,
    picker: Option<Arc<Picker>>,
}

impl Server {
    /// Binds to `options.bind` for `data`.
    ///
    /// # Errors
    ///
    /// [`ServeError::TokenRequired`] for a non-loopback address without a
    /// token; [`ServeError::Bind`] when the address cannot be had.
    pub fn bind(options: &Options, data: Arc<Data>) -> Result<Self, ServeError> {
        if !options.bind.ip().is_loopback() && options.token.is_none() {
            return Err(ServeError::TokenRequired(options.bind));
        }
        let listener = std::net::TcpListener::bind(options.bind)
            .map_err(|e| ServeError::Bind(options.bind, e))?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            token: options.token.clone(),
            data,
            picker: None,
        })
    }

    /// Lets the page list processes and choose the one to show.
    pub fn with_picker(mut self, picker: Picker) -> Self {
        self.picker = Some(Arc::new(picker));
        self
    }

    /// The address it listens on (the port chosen, if 0 was asked).
    ///
    /// # Errors
    ///
    /// When the socket cannot say.
    pub fn address(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends, on a runtime of its own.
    ///
    /// # Errors
    ///
    /// When the runtime cannot start or the server fails.
    pub fn run(self) -> Result<(), ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("async-inspect-web")
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let access = match self.token {
                Some(token) => api::Access::Token(token.into()),
                None => api::Access::Open,
            };
            let app = api::router(self.data, access, self.picker, None);
            axum::serve(listener, app).await?;
            Ok(())
        })
    }
}

/// Serves `data` with `options` until the process ends, saying where on
/// stderr.
///
/// # Errors
///
/// See [`Server::bind`] and [`Server::run`].
pub fn serve(options: &Options, data: Arc<Data>, picker: Option<Picker>) -> Result<(), ServeError> {
    let mut server = Server::bind(options, data)?;
    if let Some(picker) = picker {
        server = server.with_picker(picker);
    }
    let address = server.address()?;
    eprintln!(
        "async-inspect: the dashboard is at {} (Ctrl-C stops it)",
        url(address, options.token.as_deref())
    );
    server.run()
}

/// The data of a recording, to serve.
pub fn of_trace(trace: Trace) -> Arc<Data> {
    Arc::new(Data::of_trace(trace))
}

/// The data of a live process, fed by `updates` on a thread of its own.
pub fn live(title: &str, updates: std::sync::mpsc::Receiver<Update>) -> Arc<Data> {
    let data = Arc::new(Data::live(title));
    let feeding = Arc::clone(&data);
    std::thread::Builder::new()
        .name("async-inspect-web-feed".into())
        .spawn(move || {
            for update in updates {
                feeding.apply(update);
            }
            feeding.apply(Update::Ended("the connection closed".into()));
        })
        .expect("the feeding thread starts");
    data
}

/// The dashboard as an axum `Router` to nest in the inspected program's
/// own server (`app.nest("/debug/async-inspect", router)`): the page, the
/// API, the live stream and `/metrics`, read from `source` (the program's
/// snapshot function) on a thread of the dashboard's own, only when a
/// request wants a snapshot. `auth` says who may read; every route reads,
/// none changes the program (see [`router_with_control`] for one that
/// may record it).
///
/// # Errors
///
/// When the snapshot thread cannot start.
///
/// ```
/// // A program built without instrumentation has this snapshot to give.
/// let snapshot = async_inspect_model::Snapshot::compiled_out;
/// let debug = async_inspect_web::router("my-service", snapshot, async_inspect_web::Auth::Token("s3cret".into()))?;
/// let app: axum::Router = axum::Router::new().nest("/debug/async-inspect", debug);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn router(
    title: &str,
    source: impl Fn() -> Snapshot + Send + 'static,
    auth: Auth,
) -> io::Result<Router> {
    let data = mount::data(title, source)?;
    Ok(api::router(data, auth.into(), None, None))
}

/// [`router`], and clients with access may also change the program as
/// `control` allows: record it (`POST /api/v1/record?duration=5s`, what
/// `async-inspect record --url` asks).
///
/// # Errors
///
/// When the snapshot thread cannot start.
pub fn router_with_control(
    title: &str,
    source: impl Fn() -> Snapshot + Send + 'static,
    auth: Auth,
    control: Control,
) -> io::Result<Router> {
    let data = mount::data(title, source)?;
    Ok(api::router(
        data,
        auth.into(),
        None,
        Some(Arc::new(control)),
    ))
}
