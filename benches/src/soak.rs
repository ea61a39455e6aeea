//! `async-inspect-bench soak`: is memory flat over a long run with
//! inspection on? Short tasks spawned in waves, each making and taking a
//! lock of its own (distinct lock instances at one site) and half of them
//! contending on a shared one while holding theirs (a new pair of locks
//! for the lock order each time), a snapshot taken every second as a watching
//! client would; RSS sampled every second. After warm-up (the first tenth
//! of the tasks, or `--warm` percent), the late RSS (the median of the
//! last third of the samples) must stay within the tolerance of its level
//! then; the peak is printed beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_inspect::sync::Mutex;

/// The soak's sizes and tolerance.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Short tasks in all.
    #[arg(long, default_value_t = 10_000_000)]
    tasks: u64,
    /// Distinct lock instances in all (one per task until this many).
    #[arg(long, default_value_t = 1_000_000)]
    locks: u64,
    /// Tasks spawned per wave (the wave is awaited before the next).
    #[arg(long, default_value_t = 10_000)]
    wave: u64,
    /// How far RSS may rise over its level after warm-up, in percent.
    #[arg(long, default_value_t = 10.0)]
    tolerance: f64,
    /// Warm-up: the share of the tasks, in percent, after which RSS is
    /// the level the rest is held to (clients take longer to reach theirs:
    /// a slow recorder's backlog, a thread's arena per connection).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..100))]
    warm: u64,
    /// Serve the agent's socket all along to these clients (all four when
    /// named without a list; see `soak_clients`).
    #[arg(long, value_enum, value_delimiter = ',', num_args = 0.., require_equals = true)]
    clients: Option<Vec<crate::soak_clients::Client>>,
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Runs the soak; whether RSS stayed within the tolerance.
pub fn soak(options: &Options) -> bool {
    let runtime = crate::workloads::runtime();
    let shared = Arc::new(Mutex::named("shared", 0_u64));
    let started = Instant::now();
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut warm: Option<u64> = None;
    let mut done = 0_u64;
    let mut locks_made = 0_u64;
    let warm_after = options.tasks * options.warm / 100;
    let clients = options
        .clients
        .as_deref()
        .map(crate::soak_clients::Clients::start);
    while done < options.tasks {
        let wave = options.wave.min(options.tasks - done);
        runtime.block_on(async {
            let handles: Vec<_> = (0..wave)
                .map(|i| {
                    let shared = shared.clone();
                    let own = (locks_made + i < options.locks).then(|| Mutex::new(i));
                    async_inspect::spawn(async move {
                        // Half take the shared lock while holding their
                        // own: a new pair of locks each time, for the
                        // lock order to learn and forget.
                        let own = match &own {
                            Some(own) => Some(own.lock().await),
                            None => None,
                        };
                        if i % 2 == 0 {
                            *shared.lock().await += 1;
                        }
                        if let Some(mut own) = own {
                            *own += 1;
                        }
                        tokio::task::yield_now().await;
                    })
                })
                .collect();
            for handle in handles {
                handle.await.expect("a soak task");
            }
        });
        locks_made = (locks_made + wave).min(options.locks);
        done += wave;
        if warm.is_none() && done >= warm_after {
            warm = Some(rss());
        }
        let elapsed = started.elapsed();
        if elapsed >= next_sample {
            // What a watching client costs: one snapshot a second.
            let snapshot = async_inspect::snapshot();
            let rss = rss();
            samples.push((elapsed, done, rss));
            eprintln!(
                "{:>6.1}s  {done:>10} tasks  {:>8.1} MiB  ({} tasks kept in the snapshot)",
                elapsed.as_secs_f64(),
                rss as f64 / 1_048_576.0,
                snapshot.tasks().len()
            );
            next_sample = elapsed + Duration::from_secs(1);
        }
    }
    samples.push((started.elapsed(), done, rss()));
    let served = clients.is_none_or(crate::soak_clients::Clients::stop);
    let warm = warm.unwrap_or_else(rss);
    let after: Vec<u64> = samples
        .iter()
        .filter(|(_, tasks, _)| *tasks >= warm_after)
        .map(|(_, _, rss)| *rss)
        .collect();
    let peak = after.iter().copied().max().unwrap_or(warm);
    // The trend: the median of the last third of the samples after
    // warm-up against the level at warm-up (a single sample's allocator
    // noise is the peak's business, not the trend's).
    let mut last: Vec<u64> = after[after.len() - after.len().div_ceil(3)..].to_vec();
    last.sort_unstable();
    let late = last.get(last.len() / 2).copied().unwrap_or(warm);
    let percent = |rss: u64| (rss as f64 / warm as f64 - 1.0) * 100.0;
    let mib = |rss: u64| rss as f64 / 1_048_576.0;
    println!(
        "soak: {} tasks, {} distinct locks, {:.1}s: RSS {:.1} MiB after warm-up, {:.1} MiB late \
         (median of the last third: {:+.1}%; tolerance {}%), peak {:.1} MiB ({:+.1}%)",
        options.tasks,
        options.locks.min(options.tasks),
        started.elapsed().as_secs_f64(),
        mib(warm),
        mib(late),
        percent(late),
        options.tolerance,
        mib(peak),
        percent(peak),
    );
    percent(late) <= options.tolerance && served
}
