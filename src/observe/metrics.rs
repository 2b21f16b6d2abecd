//! Prometheus metrics of a run (`--metrics.addr`), and the health state
//! behind `/healthz` and `/readyz`.
//!
//! The pipeline updates these from its hot paths (delivery callback,
//! commit, consumer loop); every update is an atomic or a short map
//! lookup, so metrics cost nothing noticeable even when nobody scrapes.
//!
//! Readiness also follows authentication: a side (a source cluster or the
//! target) whose client reported an authentication failure makes the run
//! unready, with the side, the time and librdkafka's reason, until that
//! side proves it works again (a delivery acknowledged by the target; a
//! commit or an assignment on a source).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::QueueBound;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
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
struct SkipLabels {
    cluster: String,
    topic: String,
    partition: i32,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SideLabel {
    side: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrincipalLabels {
    side: String,
    principal: String,
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
    bytes_in_flight: Gauge,
    queue_bytes: Gauge,
    last_commit: Family<PartitionLabels, FloatGauge>,
    committed_offset: Family<PartitionLabels, Gauge>,
    consumer_lag: Family<PartitionLabels, Gauge>,
    replication_latency: Family<PartitionLabels, FloatGauge>,
    skipped_offsets: Family<SkipLabels, Counter>,
    /// `kmirror_delivery_latency_seconds`: per record, source timestamp to
    /// the target's acknowledgement ([`DELIVERY_LATENCY_BUCKETS`]).
    delivery_latency: Histogram,
    ticket_expiry: Family<SideLabel, Gauge>,
    authenticated: Family<SideLabel, Gauge>,
    principal: Family<PrincipalLabels, Gauge>,
    /// Sides whose last authentication failed: side → (since, reason).
    auth_failures: Mutex<BTreeMap<String, AuthFailure>>,
    /// `auth_failures.len()`, so the per-record "authenticated" path is one
    /// atomic load while every side is fine.
    auth_failing: AtomicUsize,
    /// Unix time (ms) of the last successful commit, 0 before the first.
    last_commit_ms: AtomicU64,
    streams_expected: AtomicUsize,
    streams_joined: AtomicUsize,
    /// `kmirror_target_stall_seconds`: 0, or how long records have waited
    /// without any acknowledgement from the target.
    target_stall: Gauge,
    /// The same in ms for `/readyz` (0: not stalled).
    target_stall_ms: AtomicU64,
    /// The first fatal error (sanitized, one line) once the run is stopping,
    /// so `/readyz` says why instead of only that it is.
    failed: Mutex<Option<String>>,
}

/// The delivered-records and -bytes counters of one source topic
/// (`kmirror_records_mirrored_total{topic}`, `kmirror_mirrored_bytes_total{topic}`).
#[derive(Clone, Default)]
pub struct TopicCounters {
    records: Counter,
    bytes: Counter,
}

impl TopicCounters {
    /// The target acknowledged one record of `bytes` bytes (key + value).
    pub fn delivered(&self, bytes: usize) {
        self.records.inc();
        self.bytes.inc_by(bytes as u64);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A partition's replication latency, in seconds: 0 when nothing is behind
/// (no lag, nothing in flight); else the age of the last record the target
/// acknowledged (`acked_ms`, its source timestamp), which bounds the age of
/// the oldest record not acknowledged from above; `None` before any record
/// was acknowledged.
pub fn replication_latency_s(behind: bool, acked_ms: Option<i64>, now_ms: i64) -> Option<f64> {
    if !behind {
        return Some(0.0);
    }
    acked_ms.map(|a| (now_ms - a).max(0) as f64 / 1000.0)
}

/// Upper bounds (seconds) of `kmirror_delivery_latency_seconds`' buckets:
/// steps of about 1.5-2x from 1 ms (a loopback acknowledgement) through the
/// round trips of long links (10-300 ms) to an hour (a backlog replayed
/// after an outage, whose records are as old as the outage).
pub const DELIVERY_LATENCY_BUCKETS: [f64; 22] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0,
    5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

/// A record's delivery latency in seconds: from its source timestamp
/// (`source_ms`, Unix ms) to `now_ms`; `None` for a record without a usable
/// timestamp (0 or negative: none, or sent as none); never negative (a
/// source clock ahead of ours counts 0).
pub fn delivery_latency_s(source_ms: i64, now_ms: i64) -> Option<f64> {
    (source_ms > 0).then(|| (now_ms - source_ms).max(0) as f64 / 1000.0)
}

/// Unix time now, in milliseconds.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
            bytes_in_flight: Gauge::default(),
            queue_bytes: Gauge::default(),
            last_commit: Family::default(),
            committed_offset: Family::default(),
            consumer_lag: Family::default(),
            replication_latency: Family::default(),
            skipped_offsets: Family::default(),
            delivery_latency: Histogram::new(DELIVERY_LATENCY_BUCKETS),
            ticket_expiry: Family::default(),
            authenticated: Family::default(),
            principal: Family::default(),
            auth_failures: Mutex::default(),
            auth_failing: AtomicUsize::new(0),
            last_commit_ms: AtomicU64::new(0),
            streams_expected: AtomicUsize::new(0),
            streams_joined: AtomicUsize::new(0),
            failed: Mutex::new(None),
            target_stall: Gauge::default(),
            target_stall_ms: AtomicU64::new(0),
            registry: Registry::default(),
        };
        registry.register(
            "records_mirrored",
            "Records acknowledged by the target, by source topic",
            m.records.clone(),
        );
        registry.register(
            "mirrored_bytes",
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
            "in_flight_bytes",
            "Key plus value bytes read from a source and not yet acknowledged by the target",
            m.bytes_in_flight.clone(),
        );
        registry.register(
            "queue_bytes",
            "--queue.bytes: the in-flight bytes at which consumers pause",
            m.queue_bytes.clone(),
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
            "replication_latency_seconds",
            "Age of the oldest source record the target has not acknowledged, per partition (at most: now minus the timestamp of the last record acknowledged while any is behind; 0 when caught up), refreshed every few seconds",
            m.replication_latency.clone(),
        );
        registry.register(
            "skipped_offsets",
            "Source offsets a fetch skipped for a known reason (transactions: markers and aborted records; compaction; retention), per partition",
            m.skipped_offsets.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Per record: from its source timestamp (the time its producer created it, or the source's LogAppendTime) to the target's acknowledgement",
            m.delivery_latency.clone(),
        );
        registry.register(
            "kerberos_ticket_expiry_seconds",
            "Seconds until the Kerberos ticket of a side expires",
            m.ticket_expiry.clone(),
        );
        registry.register(
            "authenticated",
            "1 while kmirror is authenticated to a side (source cluster or target), 0 after an authentication failure until the side works again",
            m.authenticated.clone(),
        );
        registry.register(
            "principal",
            "1 for the principal kmirror authenticates as on each side, resolved before connecting (Kerberos principal, keytab entry or ticket cache default, SASL username, certificate subject; UNRESOLVED when no local file says)",
            m.principal.clone(),
        );
        registry.register(
            "target_stall_seconds",
            "How long records have waited without any acknowledgement from the target (0 unless stalled for 10 s or more)",
            m.target_stall.clone(),
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

    /// The delivered-records and -bytes counters of source `topic`. The
    /// pipeline keeps them with each partition, so a delivery only bumps two
    /// atomics (no lock, no map lookup on the per-record path).
    pub fn topic_counters(&self, topic: &str) -> TopicCounters {
        let l = TopicLabel {
            topic: topic.to_string(),
        };
        // Counters are shared handles: the clones count into the family.
        TopicCounters {
            records: self.records.get_or_create(&l).clone(),
            bytes: self.bytes.get_or_create(&l).clone(),
        }
    }

    /// A send failed with `code` (librdkafka's name, e.g. `MessageTimedOut`).
    pub fn delivery_error(&self, code: &str) {
        self.delivery_errors
            .get_or_create(&CodeLabel { code: code.into() })
            .inc();
    }

    /// Records and bytes in flight now, against the `--queue.size` and
    /// `--queue.bytes` limits.
    pub fn set_queue(&self, in_flight: usize, bytes_in_flight: usize, queue: QueueBound) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.in_flight.set(gauge(in_flight));
        self.queue_size.set(gauge(queue.records));
        self.bytes_in_flight.set(gauge(bytes_in_flight));
        self.queue_bytes.set(gauge(queue.bytes));
    }

    /// The target has acknowledged nothing for `age` while records wait
    /// (`None`: not stalled).
    pub fn set_target_stall(&self, age: Option<std::time::Duration>) {
        let age = age.unwrap_or_default();
        self.target_stall.set(age.as_secs() as i64);
        self.target_stall_ms
            .store(age.as_millis() as u64, Ordering::Relaxed);
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

    /// The replication latency of a partition, in seconds
    /// ([`replication_latency_s`]).
    pub fn set_replication_latency(&self, cluster: &str, topic: &str, partition: i32, s: f64) {
        let l = PartitionLabels {
            cluster: cluster.into(),
            topic: topic.into(),
            partition,
        };
        self.replication_latency.get_or_create(&l).set(s);
    }

    /// `offsets` source offsets of a partition were skipped for `reason`
    /// (`transactions`, `compaction`, `retention`).
    pub fn skipped(&self, cluster: &str, topic: &str, partition: i32, reason: &str, offsets: u64) {
        self.skipped_offsets
            .get_or_create(&SkipLabels {
                cluster: cluster.into(),
                topic: topic.into(),
                partition,
                reason: reason.into(),
            })
            .inc_by(offsets);
    }

    /// The target acknowledged a record `seconds` after its source
    /// timestamp ([`delivery_latency_s`]). One uncontended lock: called per
    /// record from the delivery callback.
    pub fn observe_delivery_latency(&self, seconds: f64) {
        self.delivery_latency.observe(seconds);
    }

    /// Hook for the Kerberos ticket keeper: seconds until the ticket of
    /// `side` (`source 1`, `target`, ...) expires (negative once expired).
    pub fn set_ticket_expiry(&self, side: &str, seconds: i64) {
        self.ticket_expiry
            .get_or_create(&SideLabel { side: side.into() })
            .set(seconds);
    }

    /// The principal kmirror authenticates as on `side` (an info metric:
    /// the value is always 1, the principal is the label).
    pub fn set_principal(&self, side: &str, principal: &str) {
        self.principal
            .get_or_create(&PrincipalLabels {
                side: side.into(),
                principal: principal.into(),
            })
            .set(1);
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

    /// The run hit a fatal error and is stopping; `error` (the first one
    /// counts) is what `/readyz` names, shortened and without credentials.
    pub fn set_failed(&self, error: &str) {
        let mut f = self.failed.lock().expect("failed lock");
        if f.is_none() {
            *f = Some(sanitize_reason(error));
        }
    }

    /// A side kmirror authenticated to (the start-up checks passed): its
    /// `kmirror_authenticated` gauge exists from the start, at 1.
    pub fn track_side(&self, side: &str) {
        let failing = self
            .auth_failures
            .lock()
            .expect("auth lock")
            .contains_key(side);
        self.authenticated
            .get_or_create(&SideLabel { side: side.into() })
            .set(i64::from(!failing));
    }

    /// A client of `side` failed to authenticate (librdkafka's error
    /// callback). The first failure's time is kept until the side works
    /// again; the reason is the latest one, shortened and with anything
    /// that looks like a credential removed.
    pub fn authentication_failed(&self, side: &str, reason: &str) {
        let reason = sanitize_reason(reason);
        let mut failures = self.auth_failures.lock().expect("auth lock");
        match failures.get_mut(side) {
            Some(f) => f.reason = reason,
            None => {
                failures.insert(
                    side.to_string(),
                    AuthFailure {
                        side: side.to_string(),
                        since_unix_ms: (now_unix() * 1000.0) as u64,
                        reason,
                    },
                );
            }
        }
        self.auth_failing.store(failures.len(), Ordering::Release);
        self.authenticated
            .get_or_create(&SideLabel { side: side.into() })
            .set(0);
    }

    /// `side` proved it works (a delivery, a commit or an assignment): clears an authentication failure. Returns whether one was
    /// cleared. Cheap while no side is failing (called per record).
    pub fn authenticated(&self, side: &str) -> bool {
        if self.auth_failing.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut failures = self.auth_failures.lock().expect("auth lock");
        let cleared = failures.remove(side).is_some();
        self.auth_failing.store(failures.len(), Ordering::Release);
        drop(failures);
        if cleared {
            tracing::info!(side, "authentication works again on this side");
            self.authenticated
                .get_or_create(&SideLabel { side: side.into() })
                .set(1);
        }
        cleared
    }

    /// Whether `side` has no authentication failure outstanding.
    pub fn is_authenticated(&self, side: &str) -> bool {
        self.auth_failing.load(Ordering::Acquire) == 0
            || !self
                .auth_failures
                .lock()
                .expect("auth lock")
                .contains_key(side)
    }

    /// The sides that failed to authenticate and have not worked since.
    pub fn authentication_failures(&self) -> Vec<AuthFailure> {
        self.auth_failures
            .lock()
            .expect("auth lock")
            .values()
            .cloned()
            .collect()
    }

    /// Ready: authenticated to every side, every consumer has joined its
    /// group, and nothing failed.
    pub fn ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// [`Metrics::ready`], with the reasons when not ready (one per line),
    /// as `/readyz` answers: a reason code first (`auth_failed`,
    /// `target_stalled`, `fatal_error`, `starting`), then only kmirror's own labels and
    /// times. Never the underlying error text: Kerberos and TLS errors name
    /// principals, hosts and paths, and the endpoint is unauthenticated;
    /// the full error is in the log.
    pub fn readiness(&self) -> Result<(), String> {
        let mut why = Vec::new();
        for f in self.authentication_failures() {
            why.push(format!(
                "auth_failed {} since {}",
                f.side,
                rfc3339_utc(f.since_unix_ms)
            ));
        }
        let stall_ms = self.target_stall_ms.load(Ordering::Relaxed);
        if stall_ms > 0 {
            why.push(format!(
                "target_stalled: no acknowledgement from the target for {}s",
                stall_ms / 1000
            ));
        }
        if self.failed.lock().expect("failed lock").is_some() {
            why.push("fatal_error (see the log)".to_string());
        }
        let (joined, expected) = (
            self.streams_joined.load(Ordering::Relaxed),
            self.streams_expected.load(Ordering::Relaxed),
        );
        if joined < expected {
            why.push(format!(
                "starting: {joined} of {expected} consumer(s) joined their group"
            ));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("\n"))
        }
    }

    /// The metrics in Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// A side that failed to authenticate: since when, and librdkafka's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// `source`, `source 2`, `target`, ...
    pub side: String,
    /// Unix time (ms) of the first failure since the side last worked.
    pub since_unix_ms: u64,
    /// The latest failure's reason (no credentials).
    pub reason: String,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = ((now_unix() * 1000.0) as u64).saturating_sub(self.since_unix_ms) / 1000;
        write!(
            f,
            "{} failed to authenticate since {} ({ago} s ago): {}",
            self.side,
            rfc3339_utc(self.since_unix_ms),
            self.reason
        )
    }
}

/// librdkafka's reason, on one line, at most 300 characters, cut before
/// anything that looks like a credential (its reasons carry none today).
fn sanitize_reason(reason: &str) -> String {
    let mut r: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let lower = r.to_ascii_lowercase();
    if let Some(i) = ["password", "secret", "jaas", "token"]
        .iter()
        .filter_map(|w| lower.find(&format!("{w}=")))
        .min()
    {
        r.truncate(i);
        r.push_str("[redacted]");
    }
    if r.chars().count() > 300 {
        r = r.chars().take(300).collect::<String>() + "...";
    }
    r
}

/// `2026-01-02T03:04:05Z` for a Unix time in milliseconds (humantime).
fn rfc3339_utc(unix_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(t).to_string()
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
        m.topic_counters("orders").delivered(10);
        m.topic_counters("orders").delivered(5);
        m.delivery_error("MessageTimedOut");
        m.set_queue(
            3,
            3072,
            QueueBound {
                records: 100,
                bytes: 1 << 20,
            },
        );
        m.committed("source 1", "orders", 2, 42);
        m.set_lag("source 1", "orders", 2, 7);
        m.set_replication_latency("source 1", "orders", 2, 12.5);
        m.set_ticket_expiry("target", 3600);
        m.skipped("source 1", "orders", 2, "transactions", 1);
        m.skipped("source 1", "orders", 2, "transactions", 2);
        let t = m.encode();
        assert_eq!(
            value(
                &t,
                "kmirror_skipped_offsets_total{cluster=\"source 1\",topic=\"orders\",partition=\"2\",reason=\"transactions\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            value(&t, "kmirror_records_mirrored_total{topic=\"orders\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(&t, "kmirror_mirrored_bytes_total{topic=\"orders\"}"),
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
        assert_eq!(value(&t, "kmirror_in_flight_bytes"), Some(3072.0));
        assert_eq!(value(&t, "kmirror_queue_bytes"), Some(1048576.0));
        let p = "{cluster=\"source 1\",topic=\"orders\",partition=\"2\"}";
        assert_eq!(
            value(&t, &format!("kmirror_committed_offset{p}")),
            Some(42.0)
        );
        assert_eq!(value(&t, &format!("kmirror_consumer_lag{p}")), Some(7.0));
        assert_eq!(
            value(&t, &format!("kmirror_replication_latency_seconds{p}")),
            Some(12.5)
        );
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
        m.set_failed("the Kerberos ticket of kmirror@EXAMPLE.COM expired\nrenew it");
        m.set_failed("a later error is not the reason");
        // A code, not the error's text (which names the principal).
        assert_eq!(m.readiness().unwrap_err(), "fatal_error (see the log)");
    }

    #[test]
    fn authentication_failure_makes_unready_until_the_side_works() {
        let m = Metrics::new();
        m.expect_streams(1);
        m.stream_joined();
        m.track_side("source");
        m.track_side("target");
        assert!(m.ready());
        assert!(!m.authenticated("target"), "nothing to clear");
        let t = m.encode();
        assert_eq!(
            value(&t, "kmirror_authenticated{side=\"target\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&t, "kmirror_authenticated{side=\"source\"}"),
            Some(1.0)
        );

        m.authentication_failed(
            "target",
            "sasl_plaintext://127.0.0.1:9092/bootstrap: SASL authentication error: Authentication failed: Invalid username or password",
        );
        assert!(!m.ready());
        assert!(!m.is_authenticated("target"));
        assert!(m.is_authenticated("source"));
        let why = m.readiness().unwrap_err();
        assert!(why.starts_with("auth_failed target since 20"), "{why}");
        for raw in ["Invalid username", "SASL", "127.0.0.1", "bootstrap"] {
            assert!(!why.contains(raw), "{why}");
        }
        assert!(!why.contains("source"), "{why}");
        let first = m.authentication_failures()[0].since_unix_ms;
        // A repeated failure keeps the first time and the latest reason.
        m.authentication_failed("target", "again");
        let f = m.authentication_failures();
        assert_eq!((f.len(), f[0].since_unix_ms), (1, first));
        assert_eq!(f[0].reason, "again");
        let t = m.encode();
        assert_eq!(
            value(&t, "kmirror_authenticated{side=\"target\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&t, "kmirror_authenticated{side=\"source\"}"),
            Some(1.0)
        );

        // Both sides failing: both named; the source clearing leaves the target.
        m.authentication_failed("source", "SASL handshake failed");
        let why = m.readiness().unwrap_err();
        assert!(
            why.contains("auth_failed source") && why.contains("auth_failed target"),
            "{why}"
        );
        assert!(m.authenticated("source"));
        assert!(!m.authenticated("source"), "already cleared");
        assert!(!m.ready());
        assert!(m.authenticated("target"));
        assert!(m.ready(), "{:?}", m.readiness());
        let t = m.encode();
        assert_eq!(
            value(&t, "kmirror_authenticated{side=\"target\"}"),
            Some(1.0)
        );

        // A side failing before it is tracked stays at 0.
        m.authentication_failed("source 2", "x");
        m.track_side("source 2");
        assert_eq!(
            value(&m.encode(), "kmirror_authenticated{side=\"source 2\"}"),
            Some(0.0)
        );
        // A fatal error keeps it unready whatever authentication does.
        assert!(m.authenticated("source 2"));
        m.set_failed("send failed: sasl.password=hunter2");
        let why = m.readiness().unwrap_err();
        assert!(why.contains("fatal_error"), "{why}");
        assert!(
            !why.contains("hunter2") && !why.contains("send failed"),
            "{why}"
        );
    }

    #[test]
    fn reasons_are_short_single_line_and_without_credentials() {
        assert_eq!(sanitize_reason("a\nb"), "a b");
        assert_eq!(
            sanitize_reason("login failed: sasl.password=hunter2 rest"),
            "login failed: sasl.[redacted]"
        );
        assert_eq!(sanitize_reason(&"x".repeat(400)).len(), 303);
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_704_067_200_000), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_825_784_000), "2000-02-29T12:03:04Z");
    }

    /// Each delivery is one observation of the histogram, in the bucket of
    /// its latency; records without a timestamp are not observed.
    #[test]
    fn delivery_latency_histogram_counts_deliveries_in_their_buckets() {
        let m = Metrics::new();
        let t = m.encode();
        assert_eq!(
            value(&t, "kmirror_delivery_latency_seconds_count"),
            Some(0.0)
        );
        for (source_ms, now_ms) in [(1_000, 1_004), (1_000, 1_040), (1_000, 61_000), (0, 5)] {
            if let Some(s) = delivery_latency_s(source_ms, now_ms) {
                m.observe_delivery_latency(s);
            }
        }
        let t = m.encode();
        assert_eq!(
            value(&t, "kmirror_delivery_latency_seconds_count"),
            Some(3.0)
        );
        let sum = value(&t, "kmirror_delivery_latency_seconds_sum").unwrap();
        assert!((sum - 60.044).abs() < 1e-9, "{sum}");
        let bucket = |le: &str| {
            value(
                &t,
                &format!("kmirror_delivery_latency_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.002"), Some(0.0));
        assert_eq!(bucket("0.005"), Some(1.0));
        assert_eq!(bucket("0.05"), Some(2.0));
        assert_eq!(bucket("30.0"), Some(2.0));
        assert_eq!(bucket("60.0"), Some(3.0));
        assert_eq!(bucket("+Inf"), Some(3.0));
        assert!(
            t.contains("# TYPE kmirror_delivery_latency_seconds histogram"),
            "{t}"
        );
        // A source clock ahead of ours counts 0; no timestamp is no latency.
        assert_eq!(delivery_latency_s(2_000, 1_000), Some(0.0));
        assert_eq!(delivery_latency_s(-1, 1_000), None);
    }

    /// The latency: 0 when caught up; while behind, the age of the last
    /// acknowledged record; unknown before any acknowledgement.
    #[test]
    fn replication_latency_is_zero_caught_up_and_the_acked_age_behind() {
        assert_eq!(replication_latency_s(false, Some(1_000), 61_000), Some(0.0));
        assert_eq!(replication_latency_s(true, Some(1_000), 61_000), Some(60.0));
        assert_eq!(replication_latency_s(true, None, 61_000), None);
        // A source clock ahead of ours: never negative.
        assert_eq!(replication_latency_s(true, Some(70_000), 61_000), Some(0.0));
    }
}
