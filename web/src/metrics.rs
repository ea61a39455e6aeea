//! `/metrics`: the snapshot shown, for Prometheus (its text exposition
//! format, written by `prometheus-client`), so that "deadlocks > 0" or
//! "tasks blocked for a minute" can page someone.
//!
//! Locks are aggregated by where they are created (and their name): a
//! program that makes a million locks at one line exports one series.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use async_inspect_model::{Lint, LockSiteWaits, Snapshot, TaskState};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(String, String)>;

/// What one lock site adds up to.
#[derive(Default)]
struct Site {
    acquisitions: u64,
    contended: u64,
    wait_seconds: f64,
    max_wait_seconds: f64,
    waiters: u64,
    held: u64,
}

/// The text exposition of `snapshot`'s metrics.
pub(crate) fn exposition(snapshot: &Snapshot) -> String {
    let mut registry = Registry::with_prefix("async_inspect");

    let tasks = Family::<Labels, Gauge>::default();
    for state in [TaskState::Running, TaskState::Idle, TaskState::Blocked] {
        let n = snapshot.tasks().iter().filter(|t| t.state == state).count();
        tasks
            .get_or_create(&vec![("state".into(), state.label().to_lowercase())])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register("tasks", "Live tasks by state", tasks);

    let counters = snapshot.counters();
    let counter = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let metric = Counter::<u64>::default();
        metric.inc_by(value);
        registry.register(name, help, metric);
    };
    counter(
        &mut registry,
        "tasks_spawned",
        "Tasks ever inspected",
        counters.tasks_spawned,
    );
    counter(
        &mut registry,
        "tasks_finished",
        "Tasks that finished",
        counters.tasks_finished,
    );
    counter(
        &mut registry,
        "events_dropped",
        "Recorded events lost (a full buffer, a slow recorder)",
        counters.events_dropped,
    );
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: usize| {
        let metric = Gauge::<i64>::default();
        metric.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, metric);
    };
    gauge(
        &mut registry,
        "deadlocks",
        "Deadlocks standing now",
        snapshot.deadlocks().len(),
    );
    gauge(
        &mut registry,
        "lints",
        "Lints standing now",
        snapshot.lints().len(),
    );

    let by_kind = Family::<Labels, Gauge>::default();
    for lint in snapshot.lints() {
        by_kind
            .get_or_create(&vec![("kind".to_owned(), Lint::kind(lint).to_owned())])
            .inc();
    }
    registry.register("lints_by_kind", "Lints standing now, by kind", by_kind);

    let mut sites: BTreeMap<(String, String, String), Site> = BTreeMap::new();
    for info in snapshot.resources() {
        let key = (
            info.resource.kind.to_string(),
            info.resource.name.clone(),
            info.created_at.to_string(),
        );
        let site = sites.entry(key).or_default();
        site.acquisitions += info.acquisitions;
        site.contended += info.contended;
        site.wait_seconds += info.total_wait.as_secs_f64();
        site.max_wait_seconds = site.max_wait_seconds.max(info.max_wait.as_secs_f64());
        site.waiters += u64::from(info.waiters);
        site.held += info.holders.len() as u64;
    }
    let acquisitions = Family::<Labels, Counter>::default();
    let contended = Family::<Labels, Counter>::default();
    let wait = Family::<Labels, Counter<f64, AtomicU64>>::default();
    let max_wait = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let waiters = Family::<Labels, Gauge>::default();
    let held = Family::<Labels, Gauge>::default();
    for ((kind, name, created_at), site) in &sites {
        let labels = vec![
            ("kind".to_owned(), kind.clone()),
            ("name".to_owned(), name.clone()),
            ("created_at".to_owned(), created_at.clone()),
        ];
        acquisitions
            .get_or_create(&labels)
            .inc_by(site.acquisitions);
        contended.get_or_create(&labels).inc_by(site.contended);
        wait.get_or_create(&labels).inc_by(site.wait_seconds);
        max_wait.get_or_create(&labels).set(site.max_wait_seconds);
        waiters
            .get_or_create(&labels)
            .set(i64::try_from(site.waiters).unwrap_or(i64::MAX));
        held.get_or_create(&labels)
            .set(i64::try_from(site.held).unwrap_or(i64::MAX));
    }
    registry.register(
        "lock_acquisitions",
        "Acquisitions of the inspected locks and channel ends made at a site",
        acquisitions,
    );
    registry.register("lock_contended", "Acquisitions that had to wait", contended);
    registry.register(
        "lock_wait_seconds",
        "Time tasks spent waiting for them",
        wait,
    );
    registry.register(
        "lock_max_wait_seconds",
        "The longest single wait for one of them",
        max_wait,
    );
    registry.register("lock_waiters", "Tasks waiting for them now", waiters);
    registry.register("lock_holders", "Holdings of them now", held);

    registry.register_with_unit(
        "lock_wait_duration",
        "How long tasks waited for the inspected locks made at a site",
        Unit::Seconds,
        site_histograms(snapshot),
    );

    let delays = snapshot.scheduling_delays();
    registry.register_with_unit(
        "scheduling_delay",
        "How long woken tasks waited for a worker thread, from the wake to the poll",
        Unit::Seconds,
        Histograms(vec![(
            Vec::new(),
            delays.total.as_secs_f64(),
            delays.count(),
            buckets_in_seconds(&delays.buckets),
        )]),
    );

    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Histograms of one family, one series per label set: its labels, the
/// sum in seconds, the count, and the counts per bucket (upper bound in
/// seconds, count).
#[derive(Debug)]
struct Histograms(Vec<Histogram>);

type Histogram = (Labels, f64, u64, Vec<(f64, u64)>);

/// The wait-time histogram of every lock site, as one family
/// (`async_inspect_lock_wait_duration_seconds_bucket{le=…}`).
fn site_histograms(snapshot: &Snapshot) -> Histograms {
    let sites = snapshot.lock_sites().iter().map(|site| {
        let labels = vec![
            ("kind".to_owned(), site.kind.to_string()),
            (
                "name".to_owned(),
                site.name
                    .clone()
                    .unwrap_or_else(|| site.created_at.to_string()),
            ),
            ("created_at".to_owned(), site.created_at.to_string()),
        ];
        let buckets = buckets_in_seconds(&site.buckets);
        let count = site.buckets.iter().sum();
        (labels, site.waited.as_secs_f64(), count, buckets)
    });
    Histograms(sites.collect())
}

/// Buckets of [`LockSiteWaits::bound`]s as (upper bound in seconds,
/// count), the last one unbounded.
fn buckets_in_seconds(buckets: &[u64]) -> Vec<(f64, u64)> {
    buckets
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let bound = if i < LockSiteWaits::BOUNDS {
                LockSiteWaits::bound(i).as_secs_f64()
            } else {
                f64::INFINITY
            };
            (bound, n)
        })
        .collect()
}

impl TypedMetric for Histograms {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histograms {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        for (labels, sum, count, buckets) in &self.0 {
            encoder
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
