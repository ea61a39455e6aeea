//! `async-inspect debug --pid N`: a line-oriented debugger for a running
//! program's await points. Commands come from stdin, one per line (so it
//! can be scripted); what the program does (a task pausing, tasks let go)
//! is printed as it happens. Its breakpoints live as long as the
//! connection: quitting, or the debugger dying, lets every paused task go.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_inspect_core::agent::wire::{Reply, Request};
use async_inspect_core::{Snapshot, TaskId};

use crate::client::{Client, Replies};

/// What a snapshot was asked for.
enum Wanted {
    Tasks,
    Backtrace(Option<u64>),
}

const HELP: &str = "\
break SPEC        stop tasks at an await: fn, fn#N (its Nth await) or file.rs:LINE
delete ID         remove breakpoint ID (its tasks go on)
info breakpoints  the breakpoints set
tasks             the program's tasks, paused first
bt [TASK]         a task's stack and where it waits (default: the last paused)
continue [TASK]   let a paused task go (default: all of them)
step [TASK]       let it go to its next await and stop there (default: the last paused)
quit              remove every breakpoint, let everything go, and leave";

/// Runs the debugger on process `pid` until `quit` or the end of stdin.
pub fn run(pid: u32) -> anyhow::Result<i32> {
    let mut client = Client::connect_pid(pid)?;
    let replies = client.replies()?;
    let wanted: Arc<Mutex<VecDeque<Wanted>>> = Arc::default();
    let last_paused: Arc<Mutex<Option<u64>>> = Arc::default();
    let breakpoints: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let printer = {
        let shared = Shared {
            wanted: Arc::clone(&wanted),
            last_paused: Arc::clone(&last_paused),
            breakpoints: Arc::clone(&breakpoints),
        };
        std::thread::spawn(move || print_replies(replies, &shared))
    };
    let interactive = std::io::stdin().is_terminal();
    println!(
        "async-inspect debug: attached to {} (pid {pid}); `help` lists the commands",
        client.welcome.program
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("(async-inspect) ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading a command")?;
        let mut words = line.split_whitespace();
        let Some(command) = words.next() else {
            continue;
        };
        let argument = words.next();
        let task = || -> anyhow::Result<Option<u64>> {
            argument
                .map(|t| t.trim_start_matches('#').parse::<u64>())
                .transpose()
                .map_err(|_| anyhow::anyhow!("`{}` is not a task number", argument.unwrap_or("")))
        };
        let request = match command {
            "help" | "h" | "?" => {
                println!("{HELP}");
                continue;
            }
            "break" | "b" => match argument {
                Some(spec) => Request::Break {
                    spec: spec.to_owned(),
                },
                None => {
                    println!("break what? e.g. `break fetch_user#2`");
                    continue;
                }
            },
            "delete" | "d" => match argument.and_then(|a| a.parse().ok()) {
                Some(id) => {
                    lock(&breakpoints).retain(|(b, _)| *b != id);
                    Request::Delete { id }
                }
                None => {
                    println!("delete which breakpoint? e.g. `delete 1`");
                    continue;
                }
            },
            "info" => {
                let breakpoints = lock(&breakpoints);
                if breakpoints.is_empty() {
                    println!("no breakpoints");
                }
                for (id, spec) in breakpoints.iter() {
                    println!("breakpoint {id} at {spec}");
                }
                continue;
            }
            "tasks" => {
                lock(&wanted).push_back(Wanted::Tasks);
                Request::Snapshot
            }
            "bt" | "backtrace" => match task() {
                Ok(task) => {
                    let task = task.or(*lock(&last_paused));
                    lock(&wanted).push_back(Wanted::Backtrace(task));
                    Request::Snapshot
                }
                Err(error) => {
                    println!("{error}");
                    continue;
                }
            },
            "continue" | "c" => match task() {
                Ok(task) => Request::Continue { task },
                Err(error) => {
                    println!("{error}");
                    continue;
                }
            },
            "step" | "s" => match task() {
                Ok(task) => Request::Step { task },
                Err(error) => {
                    println!("{error}");
                    continue;
                }
            },
            "quit" | "q" => break,
            other => {
                println!("unknown command `{other}`; `help` lists them");
                continue;
            }
        };
        client.send(&request)?;
    }
    // Closing the connection removes this debugger's breakpoints and lets
    // every task they paused go.
    client.close();
    let _ = printer.join();
    println!("async-inspect debug: detached; nothing is left paused");
    Ok(0)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the command loop and the reply printer share.
struct Shared {
    /// The snapshots asked for, in order.
    wanted: Arc<Mutex<VecDeque<Wanted>>>,
    last_paused: Arc<Mutex<Option<u64>>>,
    /// The breakpoints set, as the agent numbered them.
    breakpoints: Arc<Mutex<Vec<(u64, String)>>>,
}

fn print_replies(mut replies: Replies, shared: &Shared) {
    let wanted = &shared.wanted;
    while let Ok(reply) = replies.next() {
        let mut out = std::io::stdout().lock();
        let _ = match reply {
            Reply::Breakpoint { id, spec } => {
                lock(&shared.breakpoints).push((id, spec.clone()));
                writeln!(out, "breakpoint {id} at {spec}")
            }
            Reply::Paused { task, breakpoint } => {
                *lock(&shared.last_paused) = Some(task);
                writeln!(out, "task #{task} paused at breakpoint {breakpoint}")
            }
            Reply::Resumed { tasks } => {
                let tasks: Vec<String> = tasks.iter().map(|t| format!("#{t}")).collect();
                writeln!(out, "let go: {}", tasks.join(", "))
            }
            Reply::Snapshot(snapshot) => match lock(wanted).pop_front() {
                Some(Wanted::Tasks) => write!(out, "{}", task_list(&snapshot)),
                Some(Wanted::Backtrace(task)) => write!(out, "{}", backtrace(&snapshot, task)),
                None => Ok(()),
            },
            Reply::Error { message } => writeln!(out, "error: {message}"),
            _ => Ok(()),
        };
        let _ = out.flush();
    }
}

/// Every task, one line each, paused ones first.
fn task_list(snapshot: &Snapshot) -> String {
    let paused = |t: &async_inspect_core::TaskInfo| {
        t.waits
            .iter()
            .any(|w| matches!(&w.reason, async_inspect_core::WaitReason::Other(text) if text.starts_with("paused at breakpoint")))
    };
    let mut tasks: Vec<_> = snapshot
        .tasks()
        .iter()
        .filter(|t| !t.state.is_finished())
        .collect();
    tasks.sort_by_key(|t| (!paused(t), t.id));
    let mut out = String::new();
    for task in tasks {
        let at = task
            .blocked_at()
            .map(|(_, step)| format!(" at {}.await {}", step.expr, step.location))
            .unwrap_or_default();
        let mark = if paused(task) {
            "PAUSED"
        } else {
            task.state.label()
        };
        out.push_str(&format!("{} {} · {mark}{at}\n", task.id, task.name));
    }
    out
}

/// The report's section of `task`.
fn backtrace(snapshot: &Snapshot, task: Option<u64>) -> String {
    let Some(task) = task else {
        return "bt of which task? none paused yet\n".to_owned();
    };
    let id = TaskId::from_u64(task);
    if snapshot.task(id).is_none() {
        return format!("no task #{task}\n");
    }
    let mut only = snapshot.clone();
    only.retain_tasks(|t| t.id == id);
    let text = only.to_string();
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Task "))
        .take_while(|l| !l.is_empty())
        .collect();
    section.join("\n") + "\n"
}
