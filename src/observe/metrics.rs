//! Prometheus metrics of a run (`--metrics-addr`), and the health state
//! behind `/healthz` and `/readyz`.
//!
//! The pipeline updates these from its hot paths (delivery callback,
//! commit, consumer loop); every update is an atomic or a short map
//! lookup, so metrics cost nothing noticeable even when nobody scrapes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    cluster: String,
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SideLabel {
    side: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric kmirror exports, plus readiness.
pub struct Metrics {
    registry: Registry,
    records: Family<TopicLabel, Counter>,
    bytes: Family<TopicLabel, Counter>,
    delivery_errors: Family<CodeLabel, Counter>,
    in_flight: Gauge,
    queue_size: Gauge,
    last_commit: Family<PartitionLabels, FloatGauge>,
    committed_offset: Family<PartitionLabels, Gauge>,
    consumer_lag: Family<PartitionLabels, Gauge>,
    ticket_expiry: Family<SideLabel, Gauge>,
    /// Per-topic (records, bytes) counters, cached so the per-record path
    /// looks up by `&str` without allocating a label.
    topic_counters: RwLock<HashMap<String, (Counter, Counter)>>,
    /// Unix time (ms) of the last successful commit, 0 before the first.
    last_commit_ms: AtomicU64,
    streams_expected: AtomicUsize,
    streams_joined: AtomicUsize,
    failed: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Metrics {
    /// A registry with every metric registered (all `kmirror_` prefixed).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kmirror");
        let m = Metrics {
            records: Family::default(),
            bytes: Family::default(),
            delivery_errors: Family::default(),
            in_flight: Gauge::default(),
            queue_size: Gauge::default(),
            last_commit: Family::default(),
            committed_offset: Family::default(),
            consumer_lag: Family::default(),
            ticket_expiry: Family::default(),
            topic_counters: RwLock::default(),
            last_commit_ms: AtomicU64::new(0),
            streams_expected: AtomicUsize::new(0),
            streams_joined: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register(
            "records_mirrored",
            "Records acknowledged by the target, by source topic",
            m.records.clone(),
        );
        registry.register(
            "bytes_mirrored",
            "Key plus value bytes acknowledged by the target, by source topic",
            m.bytes.clone(),
        );
        registry.register(
            "delivery_errors",
            "Failed sends to the target, by librdkafka error code",
            m.delivery_errors.clone(),
        );
        registry.register(
            "records_in_flight",
            "Records read from a source and not yet acknowledged by the target",
            m.in_flight.clone(),
        );
        registry.register(
            "queue_size",
            "--queue.size: the in-flight limit at which consumers pause",
            m.queue_size.clone(),
        );
        registry.register(
            "last_commit_timestamp_seconds",
            "Unix time of the last successful offset commit, per source partition",
            m.last_commit.clone(),
        );
        registry.register(
            "committed_offset",
            "Last offset committed on the source, per partition",
            m.committed_offset.clone(),
        );
        registry.register(
            "consumer_lag",
            "Records on the source after the consumer's position (high watermark minus position), refreshed every few seconds",
            m.consumer_lag.clone(),
        );
        registry.register(
            "kerberos_ticket_expiry_seconds",
            "Seconds until the Kerberos ticket of a side expires",
            m.ticket_expiry.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("build_info", "kmirror's version (value is always 1)", build);
        Metrics { registry, ..m }
    }

    /// The target acknowledged one record of source `topic`.
    pub fn delivered(&self, topic: &str, bytes: usize) {
        let cached = self
            .topic_counters
            .read()
            .expect("metrics lock")
            .get(topic)
            .cloned();
        let (records, bytes_counter) = cached.unwrap_or_else(|| {
            let l = TopicLabel {
                topic: topic.to_string(),
            };
            // Counters are shared handles: the cached clones count into the family.
            let pair = (
                self.records.get_or_create(&l).clone(),
                self.bytes.get_or_create(&l).clone(),
            );
            self.topic_counters
                .write()
                .expect("metrics lock")
                .insert(topic.to_string(), pair.clone());
            pair
        });
        records.inc();
        bytes_counter.inc_by(bytes as u64);
    }

    /// A send failed with `code` (librdkafka's name, e.g. `MessageTimedOut`).
    pub fn delivery_error(&self, code: &str) {
        self.delivery_errors
            .get_or_create(&CodeLabel { code: code.into() })
            .inc();
    }

    /// Records in flight now, against the `--queue.size` limit.
    pub fn set_queue(&self, in_flight: usize, queue_size: usize) {
        self.in_flight.set(in_flight as i64);
        self.queue_size.set(queue_size as i64);
    }

    /// `offset` was committed for a source partition just now.
    pub fn committed(&self, cluster: &str, topic: &str, partition: i32, offset: i64) {
        let l = PartitionLabels {
            cluster: cluster.into(),
            topic: topic.into(),
            partition,
        };
        let now = now_unix();
        self.last_commit.get_or_create(&l).set(now);
        self.committed_offset.get_or_create(&l).set(offset);
        self.last_commit_ms
            .store((now * 1000.0) as u64, Ordering::Relaxed);
    }

    /// The consumer's lag on a partition (high watermark minus position).
    pub fn set_lag(&self, cluster: &str, topic: &str, partition: i32, lag: i64) {
        let l = PartitionLabels {
            cluster: cluster.into(),
            topic: topic.into(),
            partition,
        };
        self.consumer_lag.get_or_create(&l).set(lag);
    }

    /// Hook for the Kerberos ticket keeper: seconds until the ticket of
    /// `side` (`source 1`, `target`, ...) expires (negative once expired).
    pub fn set_ticket_expiry(&self, side: &str, seconds: i64) {
        self.ticket_expiry
            .get_or_create(&SideLabel { side: side.into() })
            .set(seconds);
    }

    /// Unix time in milliseconds of the last successful commit, if any.
    pub fn last_commit_unix_ms(&self) -> Option<u64> {
        match self.last_commit_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// How many consumers must join their group before the run is ready.
    pub fn expect_streams(&self, n: usize) {
        self.streams_expected.store(n, Ordering::Relaxed);
    }

    /// A consumer received its first assignment: it authenticated and joined.
    pub fn stream_joined(&self) {
        self.streams_joined.fetch_add(1, Ordering::Relaxed);
    }

    /// The run hit a fatal error and is stopping.
    pub fn set_failed(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Ready: every consumer has joined its group and nothing failed.
    pub fn ready(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
            && self.streams_joined.load(Ordering::Relaxed)
                >= self.streams_expected.load(Ordering::Relaxed)
    }

    /// The metrics in Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_and_encodes() {
        let m = Metrics::new();
        m.delivered("orders", 10);
        m.delivered("orders", 5);
        m.delivery_error("MessageTimedOut");
        m.set_queue(3, 100);
        m.committed("source 1", "orders", 2, 42);
        m.set_lag("source 1", "orders", 2, 7);
        m.set_ticket_expiry("target", 3600);
        let t = m.encode();
        assert_eq!(
            value(&t, "kmirror_records_mirrored_total{topic=\"orders\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(&t, "kmirror_bytes_mirrored_total{topic=\"orders\"}"),
            Some(15.0)
        );
        assert_eq!(
            value(
                &t,
                "kmirror_delivery_errors_total{code=\"MessageTimedOut\"}"
            ),
            Some(1.0)
        );
        assert_eq!(value(&t, "kmirror_records_in_flight"), Some(3.0));
        assert_eq!(value(&t, "kmirror_queue_size"), Some(100.0));
        let p = "{cluster=\"source 1\",topic=\"orders\",partition=\"2\"}";
        assert_eq!(
            value(&t, &format!("kmirror_committed_offset{p}")),
            Some(42.0)
        );
        assert_eq!(value(&t, &format!("kmirror_consumer_lag{p}")), Some(7.0));
        assert!(value(&t, &format!("kmirror_last_commit_timestamp_seconds{p}")).unwrap() > 1e9);
        assert_eq!(
            value(
                &t,
                "kmirror_kerberos_ticket_expiry_seconds{side=\"target\"}"
            ),
            Some(3600.0)
        );
        assert!(t.contains("kmirror_build_info{version=\""));
        assert!(t.ends_with("# EOF\n"));
        assert!(m.last_commit_unix_ms().is_some());
    }

    #[test]
    fn ready_after_all_streams_join_until_failure() {
        let m = Metrics::new();
        m.expect_streams(2);
        assert!(!m.ready());
        m.stream_joined();
        assert!(!m.ready());
        m.stream_joined();
        assert!(m.ready());
        m.set_failed();
        assert!(!m.ready());
    }
}
