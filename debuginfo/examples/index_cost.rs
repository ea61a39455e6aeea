//! What indexing a binary's debuginfo costs: the time to open it and to
//! build the tables every decode needs (address table, vtable table), and
//! the memory it takes, split into the process's own heap (anonymous) and
//! the mapped file's pages it touched (file-backed, page cache).
//!
//! `cargo run --release -p async-inspect-debuginfo --example index_cost -- PATH`
//! (this very example when no path is given).

use std::time::Instant;

use async_inspect_debuginfo::Program;

/// `RssAnon` and `RssFile` of this process, in KiB.
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/proc/self/exe".to_owned());
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    let (anon0, file0) = resident();
    let start = Instant::now();
    let program = match Program::open(&path) {
        Ok(program) => program,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            std::process::exit(1);
        }
    };
    let opened = start.elapsed();
    if let Err(e) = program.prepare() {
        eprintln!("error: {path}: {e}");
        std::process::exit(1);
    }
    let prepared = start.elapsed();
    let (anon1, file1) = resident();
    println!("{path}: {:.1} MiB on disk", size as f64 / 1048576.0);
    println!("open     {:>8.1} ms", opened.as_secs_f64() * 1e3);
    println!(
        "index    {:>8.1} ms (address and vtable tables)",
        (prepared - opened).as_secs_f64() * 1e3
    );
    println!(
        "memory   {:>8.1} MiB heap, {:.1} MiB of the mapped file touched",
        anon1.saturating_sub(anon0) as f64 / 1024.0,
        file1.saturating_sub(file0) as f64 / 1024.0
    );
}
