//! Wait times per lock site: every inspected lock (or channel end) made at
//! one line, of one kind, shares one histogram of how long tasks waited
//! for it, so a program with a million locks at one line has one series
//! (for `/metrics`). The table is found once per lock made (under the lock
//! that registers the lock anyway), and counted into with two loads and
//! stores per wait that ends, under the wait-for graph's lock, which every
//! wait takes as it ends anyway (counts split four ways by thread, each
//! counted into with locked adds, were what came before: the graph's lock
//! serialises the waits' ends regardless). It holds at most [`MOST_SITES`]
//! sites, and locks of sites beyond are counted nowhere.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_inspect_model::snapshot::{LockSiteWaits, SourceLocation};

use super::ResourceKind;
use super::graph::Locked;

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
    /// Waits ended in each bucket; the last is beyond the largest bound.
    buckets: [AtomicU64; BUCKETS + 1],
    waited_ns: AtomicU64,
}

impl SiteWaits {
    /// A wait of `ns` nanoseconds ended (under the graph's lock: `locked`).
    #[inline]
    pub(crate) fn record(&self, ns: u64, locked: &Locked<'_>) {
        let micros = ns.div_ceil(1_000);
        // The smallest i with micros <= 2^i.
        let bucket = if micros <= 1 {
            0
        } else {
            (u64::BITS - (micros - 1).leading_zeros()) as usize
        };
        locked.add(&self.buckets[bucket.min(BUCKETS)], 1);
        locked.add(&self.waited_ns, ns);
    }

    /// Waits ended in each bucket, and the time they waited in all.
    fn counts(&self) -> (Vec<u64>, u64) {
        let buckets = self
            .buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .collect();
        (buckets, self.waited_ns.load(Ordering::Relaxed))
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
        buckets: Default::default(),
        waited_ns: AtomicU64::new(0),
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
    use crate::resource::graph::with_locked;

    #[test]
    fn a_wait_lands_in_the_smallest_bucket_that_holds_it() {
        let site = site(ResourceKind::Mutex, Some("t"), Location::caller()).unwrap();
        for ns in [0, 1_000, 1_001, 2_000, 3_000, 1_000_000_000_000] {
            with_locked(|locked| site.record(ns, locked));
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
        const THREADS: u64 = 8;
        let site = site(ResourceKind::Mutex, Some("threads"), Location::caller()).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    (0..1_000).for_each(|_| with_locked(|locked| site.record(1_500, locked)));
                });
            }
        });
        let (counts, waited_ns) = site.counts();
        // 1.5 µs → ≤2 µs, from every thread.
        assert_eq!(counts[1], THREADS * 1_000);
        assert_eq!(counts.iter().sum::<u64>(), counts[1]);
        assert_eq!(waited_ns, THREADS * 1_000 * 1_500);
    }
}
