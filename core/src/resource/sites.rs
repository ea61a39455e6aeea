//! Wait times per lock site: every inspected lock (or channel end) made at
//! one line, of one kind, shares one histogram of how long tasks waited
//! for it, so a program with a million locks at one line has one series
//! (for `/metrics`). The table is found once per lock made (under the lock
//! that registers the lock anyway), and counted into with two atomic adds
//! per wait that ends, on the counts of the waiting thread's shard: the
//! waits at one site end on every worker, and one set of counts was a line
//! they all fought over. It holds at most [`MOST_SITES`] sites, and locks
//! of sites beyond are counted nowhere.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use async_inspect_model::snapshot::{LockSiteWaits, SourceLocation};

use super::ResourceKind;

/// The most sites kept.
const MOST_SITES: usize = 4096;

/// The buckets' upper bounds: 1 µs × 2ⁱ (1 µs … 8.4 s), then +Inf.
const BUCKETS: usize = LockSiteWaits::BOUNDS;

/// One site's waits.
#[derive(Debug)]
pub(crate) struct SiteWaits {
    kind: ResourceKind,
    /// The first name given at the site, or none.
    name: Option<Box<str>>,
    created_at: &'static Location<'static>,
    /// Its counts, split by thread (see [`shard`]): a snapshot adds them up.
    shards: Box<[CachePadded<Counts>; SHARDS]>,
}

/// How many sets of counts a site keeps (about 1 KiB a site).
const SHARDS: usize = 4;

/// Waits ended at a site, on the threads of one shard.
#[derive(Debug, Default)]
struct Counts {
    /// Waits ended in each bucket; the last is beyond the largest bound.
    buckets: [AtomicU64; BUCKETS + 1],
    waited_ns: AtomicU64,
}

/// This thread's shard: threads take them in turn, the first time they
/// count a wait.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD
        .try_with(|shard| {
            if shard.get() == usize::MAX {
                shard.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            shard.get()
        })
        .unwrap_or(0)
}

impl SiteWaits {
    /// A wait of `ns` nanoseconds ended.
    #[inline]
    pub(crate) fn record(&self, ns: u64) {
        let micros = ns.div_ceil(1_000);
        // The smallest i with micros <= 2^i.
        let bucket = if micros <= 1 {
            0
        } else {
            (u64::BITS - (micros - 1).leading_zeros()) as usize
        };
        let counts = &self.shards[shard()];
        counts.buckets[bucket.min(BUCKETS)].fetch_add(1, Ordering::Relaxed);
        counts.waited_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Waits ended in each bucket, every shard's, and the time they waited
    /// in all.
    fn counts(&self) -> (Vec<u64>, u64) {
        let mut buckets = vec![0; BUCKETS + 1];
        let mut waited_ns = 0u64;
        for counts in self.shards.iter() {
            for (sum, bucket) in buckets.iter_mut().zip(&counts.buckets) {
                *sum += bucket.load(Ordering::Relaxed);
            }
            waited_ns = waited_ns.saturating_add(counts.waited_ns.load(Ordering::Relaxed));
        }
        (buckets, waited_ns)
    }
}

type Key = (usize, ResourceKind);

static SITES: Mutex<Option<HashMap<Key, Arc<SiteWaits>>>> = Mutex::new(None);

/// The histogram of the site `created_at` for locks of `kind`, made on
/// first need; `None` once the table is full.
pub(crate) fn site(
    kind: ResourceKind,
    name: Option<&str>,
    created_at: &'static Location<'static>,
) -> Option<Arc<SiteWaits>> {
    let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    let sites = sites.get_or_insert_with(HashMap::new);
    let key = (std::ptr::from_ref(created_at) as usize, kind);
    if let Some(site) = sites.get(&key) {
        return Some(Arc::clone(site));
    }
    if sites.len() >= MOST_SITES {
        return None;
    }
    let site = Arc::new(SiteWaits {
        kind,
        name: name.map(Into::into),
        created_at,
        shards: Box::default(),
    });
    sites.insert(key, Arc::clone(&site));
    Some(site)
}

/// Every site that has seen a wait end, for a snapshot.
pub(crate) fn all() -> Vec<LockSiteWaits> {
    let sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    let Some(sites) = sites.as_ref() else {
        return Vec::new();
    };
    let mut all: Vec<LockSiteWaits> = sites
        .values()
        .filter_map(|site| {
            let (buckets, waited_ns) = site.counts();
            (buckets.iter().any(|&n| n > 0)).then(|| LockSiteWaits {
                kind: site.kind,
                name: site.name.as_deref().map(str::to_owned),
                created_at: SourceLocation::new(
                    site.created_at.file(),
                    site.created_at.line(),
                    site.created_at.column(),
                ),
                buckets,
                waited: std::time::Duration::from_nanos(waited_ns),
            })
        })
        .collect();
    all.sort_by_key(|site| site.created_at.to_string());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_lands_in_the_smallest_bucket_that_holds_it() {
        let site = site(ResourceKind::Mutex, Some("t"), Location::caller()).unwrap();
        for ns in [0, 1_000, 1_001, 2_000, 3_000, 1_000_000_000_000] {
            site.record(ns);
        }
        let (counts, waited_ns) = site.counts();
        assert_eq!(waited_ns, 1_000_000_007_001);
        // 0 and 1 µs → ≤1 µs; 1.001 µs and 2 µs → ≤2 µs; 3 µs → ≤4 µs;
        // 1000 s → beyond the last bound.
        assert_eq!((counts[0], counts[1], counts[2]), (2, 2, 1));
        assert_eq!(counts[BUCKETS], 1);
        assert_eq!(counts.iter().sum::<u64>(), 6);
    }

    #[test]
    fn waits_counted_on_many_threads_add_up() {
        let site = site(ResourceKind::Mutex, Some("shards"), Location::caller()).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..2 * SHARDS {
                scope.spawn(|| (0..1_000).for_each(|_| site.record(1_500)));
            }
        });
        let (counts, waited_ns) = site.counts();
        // 1.5 µs → ≤2 µs, from every thread, whichever shard it counted in.
        assert_eq!(counts[1], 2 * SHARDS as u64 * 1_000);
        assert_eq!(counts.iter().sum::<u64>(), counts[1]);
        assert_eq!(waited_ns, 2 * SHARDS as u64 * 1_000 * 1_500);
    }
}
