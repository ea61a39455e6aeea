//! The UI as a debugger: keys on the selected task become requests to the
//! program's agent (a breakpoint at the await it is parked on, continue,
//! step, next, finish), and what the agent answers is kept for the title
//! line. The UI sends requests through a channel the caller drains, as it
//! takes snapshots from one: it does no I/O of its own.

use async_inspect_model::TaskInfo;
use async_inspect_model::breakpoint::Step;
use async_inspect_model::wire::{Reply, Request};

/// What a debugger key asks for, on the selected task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Set a breakpoint at the await the task is parked on, or remove the
    /// one this UI set there (`b`).
    Toggle,
    /// Let the paused task go on (`c`).
    Continue,
    /// Let it go on and pause again: `s` (into calls, from a task's
    /// detail), `n` (next await in this call), `f` (after this call
    /// returns, from a task's detail).
    Go(Step),
}

/// The breakpoints this UI set and the latest word from the agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Debugger {
    /// Set breakpoints: the agent's number and the spec.
    pub breakpoints: Vec<(u64, String)>,
    /// The latest news (a task paused, tasks let go, an error), for the
    /// title line.
    pub notice: Option<String>,
}

impl Debugger {
    /// The request `command` on `task` makes, or why it makes none (said
    /// to the person as is).
    ///
    /// ```
    /// use async_inspect_tui::{Command, Debugger};
    ///
    /// let mut debugger = Debugger::default();
    /// let why = debugger.request(Command::Continue, None).unwrap_err();
    /// assert_eq!(why, "no task selected");
    /// ```
    pub fn request(
        &mut self,
        command: Command,
        task: Option<&TaskInfo>,
    ) -> Result<Request, String> {
        let task = task.ok_or("no task selected")?;
        match command {
            Command::Toggle => {
                let (_, step) = task
                    .blocked_at()
                    .ok_or_else(|| format!("task {} is not parked at a traced await", task.id))?;
                let spec = format!("{}:{}", step.location.file, step.location.line);
                match self.breakpoints.iter().position(|(_, s)| *s == spec) {
                    Some(at) => {
                        let (id, spec) = self.breakpoints.remove(at);
                        self.notice = Some(format!("breakpoint {id} at {spec} removed"));
                        Ok(Request::Delete { id })
                    }
                    None => Ok(Request::Break { spec }),
                }
            }
            Command::Continue | Command::Go(_) if task.paused_at().is_none() => {
                Err(format!("task {} is not paused", task.id))
            }
            Command::Continue => Ok(Request::Continue {
                task: Some(task.id.as_u64()),
            }),
            Command::Go(how) => Ok(Request::Step {
                task: Some(task.id.as_u64()),
                how,
            }),
        }
    }

    /// Takes in what the agent said of a request: a breakpoint set, a task
    /// paused, tasks let go, an error (other replies are not news here).
    pub fn heard(&mut self, reply: &Reply) {
        self.notice = Some(match reply {
            Reply::Breakpoint { id, spec } => {
                self.breakpoints.push((*id, spec.clone()));
                format!("breakpoint {id} at {spec}")
            }
            Reply::Paused { task, breakpoint } => {
                format!("task {task} paused at breakpoint {breakpoint}")
            }
            Reply::Resumed { tasks } => {
                let tasks: Vec<String> = tasks.iter().map(|t| format!("#{t}")).collect();
                format!("let go: {}", tasks.join(", "))
            }
            Reply::Error { message } => format!("error: {message}"),
            _ => return,
        });
    }
}
