//! One debugger's breakpoints and the tasks paused at them, whatever
//! carries its requests: a socket connection (`debug --pid`), or an HTTP
//! session of a mounted dashboard that allows control (`debug --url`).
//! Dropping a debugger removes its breakpoints and lets its paused tasks
//! go, so a debugger that vanished never leaves the program paused: a
//! connection's goes when it closes, an HTTP session's when it is closed
//! or has not been heard from for [`SESSION_IDLE`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_inspect_core::debug::{Breakpoint, PausedTask};
use async_inspect_model::wire::{Reply, Request};

/// What one debugger set and holds.
#[derive(Default)]
pub(crate) struct Debugger {
    /// Its breakpoints, removed when it goes.
    breakpoints: Vec<Breakpoint>,
    /// Tasks paused at them, the latest last.
    paused: Vec<PausedTask>,
}

impl Debugger {
    /// Whether it has breakpoints (whose pauses must be looked for).
    pub(crate) fn is_active(&self) -> bool {
        !self.breakpoints.is_empty()
    }

    /// The answer to a debugging request (`Break`, `Delete`, `Continue`,
    /// `Step`); `None` for any other request.
    pub(crate) fn answer(&mut self, request: &Request) -> Option<Reply> {
        let error = |message: &str| Reply::Error {
            message: message.to_owned(),
        };
        Some(match request {
            Request::Break { spec } => match async_inspect_core::debug::break_at(spec) {
                Ok(breakpoint) => {
                    let reply = Reply::Breakpoint {
                        id: breakpoint.id(),
                        spec: breakpoint.describe(),
                    };
                    self.breakpoints.push(breakpoint);
                    reply
                }
                Err(e) => error(&e.to_string()),
            },
            Request::Delete { id } => {
                let before = self.breakpoints.len();
                self.breakpoints.retain(|b| b.id() != *id);
                if self.breakpoints.len() == before {
                    return Some(error(&format!("no breakpoint {id}")));
                }
                let (gone, kept): (Vec<_>, Vec<_>) =
                    self.paused.drain(..).partition(|p| p.breakpoint() == *id);
                self.paused = kept;
                let tasks = gone.iter().map(|p| p.id().as_u64()).collect();
                Reply::Resumed { tasks }
            }
            Request::Continue { task } => {
                let (go, stay): (Vec<_>, Vec<_>) = self
                    .paused
                    .drain(..)
                    .partition(|p| task.is_none_or(|t| p.id().as_u64() == t));
                self.paused = stay;
                if go.is_empty() {
                    return Some(error("no such paused task"));
                }
                let tasks = go.iter().map(|p| p.id().as_u64()).collect();
                for paused in go {
                    paused.resume();
                }
                Reply::Resumed { tasks }
            }
            Request::Step { task, how } => {
                let position = match task {
                    Some(t) => self.paused.iter().position(|p| p.id().as_u64() == *t),
                    None => self.paused.len().checked_sub(1),
                };
                let Some(position) = position else {
                    return Some(error("no such paused task"));
                };
                let paused = self.paused.remove(position);
                let tasks = vec![paused.id().as_u64()];
                paused.go(*how);
                Reply::Resumed { tasks }
            }
            _ => return None,
        })
    }

    /// The tasks that paused at its breakpoints since it last looked.
    pub(crate) fn pauses(&mut self) -> Vec<Reply> {
        let mut replies = Vec::new();
        for breakpoint in &self.breakpoints {
            while let Some(paused) = breakpoint.try_hit() {
                replies.push(Reply::Paused {
                    task: paused.id().as_u64(),
                    breakpoint: paused.breakpoint(),
                });
                self.paused.push(paused);
            }
        }
        replies
    }
}

/// An HTTP session nobody asked anything of for this long is closed.
pub const SESSION_IDLE: Duration = Duration::from_secs(30);

/// The debuggers of a mounted dashboard's HTTP sessions, by number.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<u64, (Debugger, Instant)>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, (Debugger, Instant)>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session; its number. A thread closes the sessions that go
    /// quiet, and ends when none is left.
    pub fn open(self: &Arc<Self>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let first = {
            let mut open = self.lock();
            open.insert(id, (Debugger::default(), Instant::now()));
            open.len() == 1
        };
        if first {
            let sessions = Arc::downgrade(self);
            let _ = std::thread::Builder::new()
                .name("async-inspect-debug".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                        let Some(sessions) = sessions.upgrade() else {
                            return;
                        };
                        // Dropped after the lock: their tasks go.
                        let mut quiet = Vec::new();
                        let mut open = sessions.lock();
                        open.retain(|_, (debugger, seen)| {
                            let keep = seen.elapsed() < SESSION_IDLE;
                            if !keep {
                                quiet.push(std::mem::take(debugger));
                            }
                            keep
                        });
                        let empty = open.is_empty();
                        drop(open);
                        drop(quiet);
                        if empty {
                            return;
                        }
                    }
                });
        }
        id
    }

    /// Answers `requests` in session `id`, then tells the tasks paused
    /// since; `snapshot` answers a `Snapshot` request. `None` for a session
    /// that is not open (closed, or gone quiet).
    pub fn exchange(
        &self,
        id: u64,
        requests: &[Request],
        snapshot: impl Fn() -> async_inspect_model::Snapshot,
    ) -> Option<Vec<Reply>> {
        let mut open = self.lock();
        let (debugger, seen) = open.get_mut(&id)?;
        *seen = Instant::now();
        let mut replies = Vec::new();
        for request in requests {
            let reply = match request {
                Request::Snapshot => Reply::Snapshot(Box::new(snapshot())),
                request => debugger.answer(request).unwrap_or_else(|| Reply::Error {
                    message: "a debug session answers break, delete, continue, step and \
                              snapshot"
                        .to_owned(),
                }),
            };
            replies.push(reply);
        }
        replies.extend(debugger.pauses());
        Some(replies)
    }

    /// Closes session `id`: its breakpoints go and its paused tasks with
    /// them. Whether it was open.
    pub fn close(&self, id: u64) -> bool {
        let closed = self.lock().remove(&id);
        closed.is_some()
    }
}
