//! Overhead of async-inspect against bare tokio and its peers.
//!
//! `cargo run --release -p async-inspect-bench -- compare` builds this crate
//! a second time with instrumentation compiled out, then runs every
//! contender on every workload as a child process, interleaved over several
//! rounds, and prints per workload the median wall time, its spread, the
//! ratio to bare tokio measured in the same round, CPU time and peak RSS.
//! `run` is what each child does: one workload, one contender, one JSON line.
//! `soak` runs millions of short tasks and distinct locks with inspection
//! on and checks that memory stays flat.

mod compare;
mod kits;
mod recorder;
mod soak;
mod soak_clients;
mod workloads;

use clap::{Parser, Subcommand, ValueEnum};

use kits::{Backtrace, Bare, Inspect, Kit, Metrics, SmolBare, SmolInspect};
use workloads::{Measured, Sizes};

#[derive(Parser)]
#[command(about = "Overhead of async-inspect against bare tokio and its peers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every contender on every workload, interleaved, and print the table.
    Compare(compare::Options),
    /// Long run with inspection on: is memory flat? (exit 1 if RSS rose
    /// past the tolerance after warm-up)
    Soak(soak::Options),
    /// Run one workload with one kit and print what it measured as JSON.
    Run {
        #[arg(long, value_enum)]
        workload: Workload,
        #[arg(long, value_enum)]
        kit: KitName,
        /// Multiplies the workload sizes.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Worker threads of the runtime (tokio's workers, smol's executor
        /// threads).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: u16,
        /// W3: iterations of busy work added inside each critical section,
        /// the same for every kit (what a fixed cost per acquisition does
        /// to the wall time).
        #[arg(long, default_value_t = 0)]
        lock_work: u64,
    },
}

/// The workloads of the benchmark issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Spawn-heavy: 200 000 tasks, one yield each.
    W1,
    /// Poll-heavy: 1 000 tasks × 2 000 yields.
    W2,
    /// Lock-heavy: 200 tasks × 1 000 lock/yield/unlock on one Mutex.
    W3,
    /// Traced chain: 10 000 tasks through three nested instrumented fns.
    W4,
    /// The traced chain sleeping 50 µs at each level instead of yielding.
    W4s,
    /// Memory: 100 000 live idle tasks.
    W5,
    /// Snapshot of 100 000 tasks parked in traced fns.
    W6,
    /// Timers: 10 000 tasks × 10 sleeps of 1 ms.
    W7,
}

/// How tasks are spawned and instrumented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KitName {
    /// Plain `tokio::spawn`.
    Bare,
    /// `async_inspect::spawn` and `#[trace]`.
    Inspect,
    /// async-backtrace's `#[framed]`.
    Backtrace,
    /// tokio-metrics' `TaskMonitor`.
    Metrics,
    /// Plain smol: `smol::Executor` on two threads (W1–W4).
    SmolBare,
    /// `async_inspect::smol::Executor` on two threads and `#[trace]` (W1–W4).
    SmolInspect,
}

fn run<K: Kit>(kit: K, workload: Workload, sizes: Sizes) -> Measured {
    match workload {
        Workload::W1 => workloads::w1_spawn(kit, sizes),
        Workload::W2 => workloads::w2_poll(kit, sizes),
        Workload::W3 => workloads::w3_lock(kit, sizes),
        Workload::W4 => workloads::w4_chain(kit, sizes),
        Workload::W4s => workloads::w4_sleeping_chain(kit, sizes),
        Workload::W7 => workloads::w7_timers(kit, sizes),
        Workload::W5 => workloads::w5_memory(kit, sizes),
        Workload::W6 => workloads::w6_snapshot(sizes),
    }
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Compare(options) => {
            if let Err(error) = compare::compare(options) {
                eprintln!("async-inspect-bench: {error}");
                std::process::exit(1);
            }
        }
        Command::Soak(options) => {
            if !soak::soak(&options) {
                std::process::exit(1);
            }
        }
        Command::Run {
            workload,
            kit,
            scale,
            workers,
            lock_work,
        } => {
            let sizes = Sizes::scaled(scale);
            workloads::set_workers(usize::from(workers));
            workloads::set_lock_work(lock_work);
            recorder::start_if_asked();
            let measured = match kit {
                KitName::Bare => run(Bare, workload, sizes),
                KitName::Inspect => run(Inspect, workload, sizes),
                KitName::Backtrace => run(Backtrace, workload, sizes),
                KitName::Metrics => run(Metrics, workload, sizes),
                KitName::SmolBare | KitName::SmolInspect
                    if matches!(
                        workload,
                        Workload::W4s | Workload::W5 | Workload::W6 | Workload::W7
                    ) =>
                {
                    eprintln!("async-inspect-bench: W4s, W5, W6 and W7 run on tokio only");
                    std::process::exit(2);
                }
                KitName::SmolBare => run(SmolBare, workload, sizes),
                KitName::SmolInspect => run(SmolInspect, workload, sizes),
            };
            println!(
                "{}",
                serde_json::to_string(&measured).expect("plain numbers serialise")
            );
        }
    }
}
