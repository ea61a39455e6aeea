//! `async-inspect debug --pid N` (or `--url URL [--token T]`, a dashboard
//! the program mounts with control allowed): a line-oriented debugger for
//! a running program's await points. Commands come from stdin, one per
//! line: at a terminal through a prompt with line editing and history,
//! piped as plain lines (so it can be scripted). What the program does (a
//! task pausing, tasks let go) is printed as it happens. Its breakpoints
//! live as long as the connection, or the HTTP session: quitting, or the
//! debugger dying (an HTTP session quiet for 30 s), lets every paused task
//! go.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, StdinLock, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::Context;
use async_inspect_model::breakpoint::Step;
use async_inspect_model::wire::{Reply, Request};
use async_inspect_model::{Snapshot, TaskId};

use crate::client::Client;
use crate::remote::Remote;

/// The arguments of `async-inspect debug`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The process id.
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub(crate) pid: Option<u32>,
    /// Or the URL of its dashboard, mounted with control allowed
    /// (`async_inspect::web::router_with_control`).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// The dashboard's token, with --url.
    #[arg(long, requires = "url")]
    pub(crate) token: Option<String>,
}

/// How often a debugger over HTTP asks which tasks paused.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// Where the debugger's requests go: the agent's socket, or a dashboard's
/// debug session (whose replies, and the pauses it is asked for every
/// [`POLL_EVERY`], go to the printer through a channel).
enum Link {
    Socket(Box<Client>),
    Http {
        remote: Arc<Remote>,
        session: u64,
        replies: mpsc::Sender<Reply>,
        done: Arc<AtomicBool>,
        poller: std::thread::JoinHandle<()>,
    },
}

/// The replies the printer reads, one at a time; `None` once there are no
/// more.
type Incoming = Box<dyn FnMut() -> Option<Reply> + Send>;

impl Link {
    /// Connects to process `pid`, or opens a session on the dashboard at
    /// `url`: the link, where replies come from, and what to call the
    /// program.
    fn open(args: Args) -> anyhow::Result<(Self, Incoming, String)> {
        if let Some(pid) = args.pid {
            let client = Client::connect_pid(pid)?;
            let mut replies = client.replies()?;
            let program = format!("{} (pid {pid})", client.welcome.program);
            let link = Self::Socket(Box::new(client));
            return Ok((link, Box::new(move || replies.next().ok()), program));
        }
        let url = args.url.unwrap_or_default();
        let remote = Arc::new(Remote::new(&url, args.token)?);
        let session = remote.debug_open()?;
        let (replies, incoming) = mpsc::channel();
        let done = Arc::new(AtomicBool::new(false));
        let poller = {
            let (remote, replies, done) = (Arc::clone(&remote), replies.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(POLL_EVERY);
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    match remote.debug_exchange(session, &[]) {
                        Ok(news) => news.into_iter().for_each(|r| drop(replies.send(r))),
                        Err(error) => {
                            let message = format!("{error:#}");
                            let _ = replies.send(Reply::Error { message });
                            return;
                        }
                    }
                }
            })
        };
        let link = Self::Http {
            remote,
            session,
            replies,
            done,
            poller,
        };
        Ok((link, Box::new(move || incoming.recv().ok()), url))
    }

    fn send(&mut self, request: &Request) -> anyhow::Result<()> {
        match self {
            Self::Socket(client) => client.send(request),
            Self::Http {
                remote,
                session,
                replies,
                ..
            } => {
                for reply in remote.debug_exchange(*session, std::slice::from_ref(request))? {
                    let _ = replies.send(reply);
                }
                Ok(())
            }
        }
    }

    /// Ends the session: the program removes this debugger's breakpoints
    /// and lets every task they paused go.
    fn close(self) {
        match self {
            Self::Socket(client) => client.close(),
            Self::Http {
                remote,
                session,
                replies,
                done,
                poller,
            } => {
                done.store(true, Ordering::Relaxed);
                if let Err(error) = remote.debug_close(session) {
                    eprintln!("async-inspect debug: {error:#}");
                }
                let _ = poller.join();
                drop(replies);
            }
        }
    }
}

/// What a snapshot was asked for.
enum Wanted {
    Tasks,
    Backtrace(Option<u64>),
}

const HELP: &str = "\
break SPEC [if COND..]  stop tasks at an await: fn, fn#N (its Nth await), file.rs:LINE,
                        or point:LABEL (the first await after that inspect point);
                        COND: task=ID name=NAME args~TEXT after=N (skip N hits)
delete ID               remove breakpoint ID (its tasks go on)
info breakpoints        the breakpoints set
tasks                   the program's tasks, paused first
bt [TASK]               a task's stack and where it waits (default: the last paused)
continue [TASK]         let a paused task go (default: all of them)
step [TASK]             go to its next await, in any call, and stop there
next [TASK]             go to its next await in this call or the one it returns to
finish [TASK]           go on until this call returns, stop at the next await
                        (step, next, finish: default the last paused; timers keep running)
quit                    remove every breakpoint, let everything go, and leave";

/// Where commands come from: a prompt with history at a terminal, plain
/// lines otherwise.
enum Commands {
    Prompt(Box<rustyline::DefaultEditor>),
    Lines(std::io::Lines<StdinLock<'static>>),
}

impl Commands {
    fn new() -> Self {
        if std::io::stdin().is_terminal()
            && let Ok(editor) = rustyline::DefaultEditor::new()
        {
            return Self::Prompt(Box::new(editor));
        }
        Self::Lines(std::io::stdin().lock().lines())
    }

    /// The next command line; `None` at the end of input (or Ctrl-D).
    fn next(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Self::Prompt(editor) => match editor.readline("(async-inspect) ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    Ok(Some(line))
                }
                // Ctrl-C clears the line, as in a shell.
                Err(rustyline::error::ReadlineError::Interrupted) => Ok(Some(String::new())),
                Err(rustyline::error::ReadlineError::Eof) => Ok(None),
                Err(error) => Err(error).context("reading a command"),
            },
            Self::Lines(lines) => lines.next().transpose().context("reading a command"),
        }
    }
}

/// Runs the debugger on process `args.pid` (or the dashboard at
/// `args.url`) until `quit` or the end of stdin.
pub(crate) fn exec(args: Args) -> anyhow::Result<i32> {
    let (mut link, replies, program) = Link::open(args)?;
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
    println!("async-inspect debug: attached to {program}; `help` lists the commands");
    let mut commands = Commands::new();
    while let Some(line) = commands.next()? {
        let line = line.trim();
        let (command, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if command.is_empty() {
            continue;
        }
        let rest = rest.trim();
        let mut words = rest.split_whitespace();
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
                Some(_) => Request::Break {
                    spec: rest.to_owned(),
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
            "step" | "s" | "next" | "n" | "finish" | "f" => match task() {
                Ok(task) => Request::Step {
                    task,
                    how: match command {
                        "step" | "s" => Step::Into,
                        "next" | "n" => Step::Over,
                        _ => Step::Out,
                    },
                },
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
        link.send(&request)?;
    }
    // Closing the connection removes this debugger's breakpoints and lets
    // every task they paused go.
    link.close();
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

fn print_replies(mut replies: Incoming, shared: &Shared) {
    let wanted = &shared.wanted;
    while let Some(reply) = replies() {
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
    let paused = |t: &async_inspect_model::TaskInfo| t.paused_at().is_some();
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
