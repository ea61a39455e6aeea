//! The process-facing side of async-inspect, inside the inspected program:
//! the agent's socket server that `attach`, `run`, `record`, `serve` and
//! `debug` talk to, the watchdog that fails a hanging test with its
//! report, and the stall watcher of `async-inspect test`.
//!
//! Layering: this crate reads the hot path's state through
//! `async-inspect-core` (snapshots, recorders, breakpoints) and speaks the
//! model's protocol (`async-inspect-model`); nothing below it knows it
//! exists. Its threads are plain OS threads, never the inspected runtime's.
//!
//! Nothing here starts by itself: the runtime adapters call [`init`] when
//! they spawn or block on a task, which starts what the environment asks
//! for (`ASYNC_INSPECT_AGENT=1`, `ASYNC_INSPECT_RECORD`,
//! `ASYNC_INSPECT_STALL_TIMEOUT`), once.
//!
//! ```
//! async_inspect_agent::init(); // nothing asked for in this environment
//! assert!(async_inspect_agent::socket().is_none());
//! ```

pub mod debugger;
#[cfg(target_os = "linux")]
mod dump;
#[cfg(unix)]
mod early;
#[cfg(unix)]
mod exit;
mod panic_stack;
pub mod recording;
#[cfg(unix)]
mod server;
pub mod state_machines;
pub mod watchdog;

use std::sync::Once;

pub use async_inspect_model::wire::{socket_dir, socket_for};
#[cfg(unix)]
pub use server::{MAX_CLIENTS, socket, start};
pub use watchdog::service::log_stalls;

/// This program's name: its executable's file name (`?` if unknown).
pub fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "?".to_owned())
}

/// Reads the environment (once) and starts what it asks for: the agent
/// (`ASYNC_INSPECT_AGENT=1`, set by `async-inspect run`), a recording from
/// the first poll kept for the agent's first client
/// (`ASYNC_INSPECT_RECORD=all|long`, set by `run --record` and `profile`)
/// the stall watcher (`ASYNC_INSPECT_STALL_TIMEOUT`, set by
/// `async-inspect test`), the stall log of services
/// (`ASYNC_INSPECT_STALL_LOG=5s`) and dumps on a signal
/// (`ASYNC_INSPECT_DUMP_SIGNAL=SIGUSR1`, to stderr or
/// `ASYNC_INSPECT_DUMP_TO`).
/// Cheap after the first call: one load.
#[inline]
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        async_inspect_core::config::init();
        watchdog::stall::start_if_asked();
        watchdog::service::start_if_asked();
        panic_stack::install_if_wanted();
        #[cfg(unix)]
        early::start_if_asked();
        #[cfg(target_os = "linux")]
        dump::start_if_asked();
    });
    #[cfg(unix)]
    if async_inspect_core::config::take_agent_request()
        && let Err(error) = start()
    {
        eprintln!("async-inspect: the agent did not start: {error}");
    }
}

/// The socket this process's agent listens on: never, off Unix.
#[cfg(not(unix))]
pub fn socket() -> Option<&'static std::path::Path> {
    None
}
