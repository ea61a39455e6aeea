//! The comparison: every contender as a child process, interleaved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, ValueEnum};

use crate::workloads::Measured;
use crate::{KitName, Workload};

#[derive(Args, Debug)]
pub struct Options {
    /// Rounds; each runs every contender once, in a rotated order.
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Workloads to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    workloads: Vec<Workload>,
    /// Multiplies the workload sizes.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Use this compiled-out build instead of building one.
    #[arg(long)]
    off_binary: Option<PathBuf>,
    /// Worker threads of every runtime (BENCHMARKS.md's targets are set for 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

/// One contender: which build, which kit, which environment.
struct Contender {
    name: &'static str,
    compiled_out: bool,
    kit: KitName,
    env: &'static [(&'static str, &'static str)],
}

impl Contender {
    /// Whether it runs on smol (W1–W4 only; its ratios are to bare smol).
    fn on_smol(&self) -> bool {
        matches!(self.kit, KitName::SmolBare | KitName::SmolInspect)
    }

    /// Whether it takes part in `workload`.
    fn runs(&self, workload: Workload) -> bool {
        match workload {
            Workload::W6 => self.name == "async-inspect enabled",
            Workload::W4s | Workload::W5 | Workload::W7 => !self.on_smol(),
            _ => true,
        }
    }
}

const CONTENDERS: &[Contender] = &[
    Contender {
        name: "bare tokio",
        compiled_out: false,
        kit: KitName::Bare,
        env: &[],
    },
    Contender {
        name: "bare tokio (again: the noise)",
        compiled_out: false,
        kit: KitName::Bare,
        env: &[],
    },
    Contender {
        name: "async-inspect compiled out",
        compiled_out: true,
        kit: KitName::Inspect,
        env: &[],
    },
    Contender {
        name: "async-inspect ASYNC_INSPECT=0",
        compiled_out: false,
        kit: KitName::Inspect,
        env: &[("ASYNC_INSPECT", "0")],
    },
    Contender {
        name: "async-inspect enabled",
        compiled_out: false,
        kit: KitName::Inspect,
        env: &[],
    },
    Contender {
        name: "async-inspect recording (events, long polls)",
        compiled_out: false,
        kit: KitName::Inspect,
        env: &[("ASYNC_INSPECT_BENCH_RECORD", "1")],
    },
    Contender {
        name: "async-inspect recording every poll",
        compiled_out: false,
        kit: KitName::Inspect,
        env: &[
            ("ASYNC_INSPECT_BENCH_RECORD", "1"),
            ("ASYNC_INSPECT_BENCH_RECORD_ALL", "1"),
        ],
    },
    Contender {
        name: "async-backtrace",
        compiled_out: false,
        kit: KitName::Backtrace,
        env: &[],
    },
    Contender {
        name: "tokio-metrics TaskMonitor",
        compiled_out: false,
        kit: KitName::Metrics,
        env: &[],
    },
    Contender {
        name: "bare smol",
        compiled_out: false,
        kit: KitName::SmolBare,
        env: &[],
    },
    Contender {
        name: "async-inspect enabled, on smol",
        compiled_out: false,
        kit: KitName::SmolInspect,
        env: &[],
    },
];

pub fn compare(options: Options) -> Result<(), String> {
    let on = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let off = match &options.off_binary {
        Some(path) => path.clone(),
        None => build_compiled_out()?,
    };
    let workloads = if options.workloads.is_empty() {
        Workload::value_variants().to_vec()
    } else {
        options.workloads.clone()
    };
    println!("{}", machine(options.workers));
    println!(
        "rounds: {} (contender order rotated each round), scale: {}\n",
        options.rounds, options.scale
    );
    for workload in workloads {
        let contenders: Vec<&Contender> = CONTENDERS.iter().filter(|c| c.runs(workload)).collect();
        let mut results: BTreeMap<usize, Vec<Measured>> = BTreeMap::new();
        for round in 0..options.rounds {
            for offset in 0..contenders.len() {
                let index = (round + offset) % contenders.len();
                let contender = contenders[index];
                let binary = if contender.compiled_out { &off } else { &on };
                let measured = run_child(binary, contender, workload, &options)?;
                results.entry(index).or_default().push(measured);
            }
            eprint!(".");
        }
        eprintln!();
        print_table(workload, &contenders, &results);
    }
    Ok(())
}

fn build_compiled_out() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace directory")?;
    let target = workspace.join("target").join("bench-compiled-out");
    eprintln!(
        "building the compiled-out contender into {} …",
        target.display()
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "-p",
            "async-inspect-bench",
            "--no-default-features",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the compiled-out contender failed".into());
    }
    Ok(target.join("release").join("async-inspect-bench"))
}

fn run_child(
    binary: &Path,
    contender: &Contender,
    workload: Workload,
    options: &Options,
) -> Result<Measured, String> {
    let workload_arg = workload.to_possible_value().expect("no skipped variants");
    let kit_arg = contender
        .kit
        .to_possible_value()
        .expect("no skipped variants");
    let output = Command::new(binary)
        .args([
            "run",
            "--workload",
            workload_arg.get_name(),
            "--kit",
            kit_arg.get_name(),
        ])
        .args(["--scale", &options.scale.to_string()])
        .args(["--workers", &options.workers.to_string()])
        .envs(contender.env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} on {:?} failed: {}",
            contender.name,
            workload,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("bad result line {line:?}: {e}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn print_table(
    workload: Workload,
    contenders: &[&Contender],
    results: &BTreeMap<usize, Vec<Measured>>,
) {
    let about = match workload {
        Workload::W1 => "W1 spawn-heavy: 200 000 tasks, one yield each",
        Workload::W2 => "W2 poll-heavy: 1 000 tasks × 2 000 yields",
        Workload::W3 => {
            "W3 lock-heavy: 200 tasks × 1 000 lock/yield/unlock on one Mutex (async-inspect: its own)"
        }
        Workload::W4 => "W4 traced chain: 10 000 tasks × 3 nested instrumented fns, 2 yields each",
        Workload::W4s => {
            "W4s sleeping chain: 10 000 tasks × 3 nested instrumented fns, each sleeping 50 µs (async-inspect: its own sleep)"
        }
        Workload::W7 => {
            "W7 timers: 10 000 tasks × 10 sleeps of 1 ms (async-inspect: its own sleep)"
        }
        Workload::W5 => "W5 memory: 100 000 live idle tasks",
        Workload::W6 => "W6 snapshot of 100 000 tasks parked in traced fns",
    };
    println!("### {about}\n");
    println!(
        "| contender | median wall | min – max | ratio to bare (tokio, or smol on smol) | CPU time | peak RSS | extra |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    // The baselines: bare tokio (the first contender), and bare smol for
    // the contenders on smol.
    let bare_tokio = results.get(&0);
    let bare_smol = contenders
        .iter()
        .position(|c| c.kit == KitName::SmolBare)
        .and_then(|index| results.get(&index));
    for (index, contender) in contenders.iter().enumerate() {
        let Some(runs) = results.get(&index) else {
            continue;
        };
        let bare = if contender.on_smol() {
            bare_smol
        } else {
            bare_tokio
        };
        let walls: Vec<f64> = runs.iter().map(|m| m.wall_ns as f64 / 1e6).collect();
        let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let max = walls.iter().copied().fold(0.0, f64::max);
        let ratio = match bare {
            Some(bare) if workload != Workload::W6 => {
                let ratios: Vec<f64> = runs
                    .iter()
                    .zip(bare)
                    .map(|(m, b)| {
                        if workload == Workload::W5 {
                            m.max_rss_kb as f64 / b.max_rss_kb as f64
                        } else {
                            m.wall_ns as f64 / b.wall_ns as f64
                        }
                    })
                    .collect();
                let unit = if workload == Workload::W5 {
                    " (RSS)"
                } else {
                    ""
                };
                format!("{:.3}×{unit}", median(ratios))
            }
            _ => "–".into(),
        };
        let cpu = median(runs.iter().map(|m| m.cpu_ns as f64 / 1e6).collect());
        let rss = median(runs.iter().map(|m| m.max_rss_kb as f64 / 1024.0).collect());
        let extra = match workload {
            Workload::W5 => format!(
                "{:.0} B/task",
                median(runs.iter().filter_map(|m| m.bytes_per_task).collect())
            ),
            Workload::W6 => format!(
                "snapshot {:.1} ms (a process's first: {:.1} ms); deadlock check of a wait on 10 000 edges {:.0} µs",
                median(runs.iter().filter_map(|m| m.snapshot_ms).collect()),
                median(runs.iter().filter_map(|m| m.first_snapshot_ms).collect()),
                median(runs.iter().filter_map(|m| m.deadlock_check_us).collect())
            ),
            _ => String::new(),
        };
        let lost: Vec<f64> = runs
            .iter()
            .filter_map(|m| m.events_lost.map(|n| n as f64))
            .collect();
        let extra = if lost.is_empty() {
            extra
        } else {
            let lost = format!("{:.0} events lost", median(lost));
            if extra.is_empty() {
                lost
            } else {
                format!("{extra}; {lost}")
            }
        };
        println!(
            "| {} | {:.1} ms | {:.1} – {:.1} | {} | {:.0} ms | {:.1} MiB | {} |",
            contender.name,
            median(walls.clone()),
            min,
            max,
            ratio,
            cpu,
            rss,
            extra
        );
    }
    println!();
}

fn machine(workers: u16) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "machine: {cpu}, {cores} cores available; runtime: tokio multi-thread, {workers} worker{}; release build",
        if workers == 1 { "" } else { "s" }
    )
}
