//! Replication latency under a steady load (issue 24, item 5): a source
//! producer held to a fraction of kmirror's measured capacity (10, 50 and
//! 90 % by default) while kmirror mirrors, and per record the time from
//! its source timestamp (CreateTime, set by this producer when it hands the
//! record to librdkafka) to
//! - **readable**: a consumer of this process reading the target broker
//!   directly (not through the delay proxy) receives it. Exact per record;
//!   includes up to one fetch wait (`fetch.wait.max.ms` 10 ms, which tansu
//!   always holds). In the near-source placement the target's answer still
//!   has half a round trip to travel to kmirror, so this is about the
//!   acknowledgement minus RTT/2 plus the fetch wait.
//! - **acknowledged**: kmirror's own `kmirror_delivery_latency_seconds`
//!   histogram, scraped before and after the load; p50 and p99 interpolated
//!   within its buckets (as Prometheus' `histogram_quantile` does), so
//!   coarse: a bucket spans 1.5-2x.
//!
//! Each load runs once (no repetitions) on a fresh topic and target.
//!
//! The rig's broker (tansu 0.6.0, memory storage) hands a consumer that
//! tails a partition while it is appended some records a second time (the
//! same offset and record; a few per 50,000 at `fetch.wait.max.ms` 10, a
//! rewind of 156 records once; reproduced with a plain rdkafka consumer).
//! kmirror skips such re-reads; the reader here counts each record once.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use kmirror_rig::cluster::ClusterConn;
use kmirror_rig::tansu::Tansu;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use crate::{kmirror_command, Route, FETCH_WAIT_MS};

/// Records sent before the measured load, so that kmirror has joined its
/// group and connected to the target when the load starts; not measured.
const WARM_UP: usize = 8;
const PARTITIONS: i32 = 8;
const RECORD_SIZE: usize = 1024;
const KEY_PREFIX: &[u8] = b"lat-";

/// What every load of one kmirror configuration shares.
pub(crate) struct Setup<'a> {
    pub bin: &'a Path,
    pub dir: &'a Path,
    /// The row's label (which kmirror, where).
    pub what: String,
    /// kmirror's rate in this configuration, measured in the same run
    /// (records/s): the loads are fractions of it.
    pub capacity_rps: f64,
    /// At most this many records per load (tansu keeps them in memory).
    pub max_records: usize,
    /// A load's length in seconds, unless `max_records` ends it first.
    pub secs: f64,
}

/// Quantiles of one load, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LatencyRow {
    pub what: String,
    /// The load, % of `capacity_records_per_s`.
    pub load_pct: u32,
    pub capacity_records_per_s: f64,
    /// The rate the source producer reached (records/s).
    pub offered_records_per_s: f64,
    pub records: usize,
    /// Source timestamp to readable on the target (exact, per record).
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The rig's floor: source timestamp to readable on the source (a
    /// consumer reading the source broker directly, as kmirror does).
    pub source_p50_ms: Option<f64>,
    pub source_p99_ms: Option<f64>,
    /// Source timestamp to kmirror's acknowledgement, from its histogram
    /// (interpolated within buckets).
    pub ack_p50_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One load: `pct` % of the setup's capacity, through a kmirror that
/// reaches `source` and `target` as `route` says (a fresh target each
/// load, so that no earlier copy shares its memory).
pub(crate) fn measure(
    setup: &Setup,
    (source, target): (&Tansu, &Tansu),
    route: &Route,
    pct: u32,
) -> anyhow::Result<LatencyRow> {
    let topic = kmirror_rig::random_name("lat");
    let src = ClusterConn::plaintext(source.addr().to_string());
    src.create_topic(&topic, PARTITIONS)?;
    let dst = ClusterConn::plaintext(target.addr().to_string());
    dst.create_topic(&topic, PARTITIONS)?;
    let group = kmirror_rig::random_name("bench-lat");
    let metrics = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let bootstraps = (route.source_of(source), route.target_of(target));
    let mut cmd = kmirror_command(
        setup.bin,
        setup.dir,
        (&bootstraps.0, &bootstraps.1),
        route,
        &group,
        &topic,
        1,
    )?;
    let log = setup.dir.join(format!("{group}.log"));
    cmd.args(["--metrics.addr", &metrics])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log)?));
    let mut child = cmd.spawn().context("starting kmirror")?;
    let result = load(setup, (&src, &dst), &topic, &metrics, pct, &mut child);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    result.with_context(|| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "latency at {pct} %; the end of kmirror's log:\n{}",
            tail.join("\n")
        )
    })
}

/// Warm-up, the paced load, and the quantiles.
fn load(
    setup: &Setup,
    (src, dst): (&ClusterConn, &ClusterConn),
    topic: &str,
    metrics: &str,
    pct: u32,
    child: &mut Child,
) -> anyhow::Result<LatencyRow> {
    let rate = setup.capacity_rps * f64::from(pct) / 100.0;
    let n = ((rate * setup.secs) as usize).clamp(1, setup.max_records);
    let seen = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dst, topic, seen, stop) = (dst.clone(), topic.to_string(), seen.clone(), stop.clone());
        std::thread::spawn(move || read_target(&dst, &topic, &seen, &stop))
    };
    // The rig's own floor: the same records read from the source.
    let source_reader = {
        let (src, topic, stop) = (src.clone(), topic.to_string(), stop.clone());
        std::thread::spawn(move || read_target(&src, &topic, &AtomicUsize::new(0), &stop))
    };
    let producer: ThreadedProducer<Counted> = src
        .client_config()
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Counted::default())?;
    let value = vec![b'x'; RECORD_SIZE];
    for i in 0..WARM_UP {
        send(&producer, topic, format!("warm-{i}").as_bytes(), &value);
    }
    producer.flush(Duration::from_secs(30))?;
    let waited = |want: usize, secs: u64, child: &mut Child| -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while seen.load(Ordering::Acquire) < want {
            if let Some(status) = child.try_wait()? {
                bail!("kmirror exited: {status}");
            }
            if Instant::now() > deadline {
                bail!(
                    "{} of {want} records on the target after {secs} s",
                    seen.load(Ordering::Acquire)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    };
    let outcome: anyhow::Result<(f64, Buckets, Buckets)> = (|| {
        waited(WARM_UP, 120, child)?;
        let before = ack_buckets(metrics)?;
        let offered = paced(&producer, topic, &value, n, rate);
        producer.flush(Duration::from_secs(120))?;
        let failed = producer.context().failed.load(Ordering::Acquire);
        if failed > 0 {
            bail!("{failed} source records were not produced (the source broker refused them)");
        }
        waited(WARM_UP + n, 120, child)?;
        // The reader has every record; kmirror's histogram counts a record
        // when its acknowledgement is handled, which may come just after.
        let after = kmirror_rig::await_condition(Duration::from_secs(30), || {
            let a = ack_buckets(metrics).ok()?;
            (count(&a) - count(&before) >= n as f64).then_some(a)
        })
        .context("kmirror's delivery histogram never counted the load")?;
        Ok((offered, before, after))
    })();
    stop.store(true, Ordering::Release);
    let mut lat = reader.join().expect("target reader thread")?;
    let mut floor = source_reader.join().expect("source reader thread")?;
    floor.sort_by(f64::total_cmp);
    let floor_at = |q: f64| {
        (!floor.is_empty()).then(|| floor[((floor.len() as f64 * q) as usize).min(floor.len() - 1)])
    };
    let (offered, before, after) = outcome?;
    if lat.len() != n {
        bail!(
            "read {} measured records from the target, expected {n}",
            lat.len()
        );
    }
    lat.sort_by(f64::total_cmp);
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let diff: Buckets = after
        .iter()
        .zip(&before)
        .map(|((le, a), (_, b))| (*le, a - b))
        .collect();
    Ok(LatencyRow {
        what: setup.what.clone(),
        load_pct: pct,
        capacity_records_per_s: setup.capacity_rps,
        offered_records_per_s: offered,
        records: n,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: lat[lat.len() - 1],
        source_p50_ms: floor_at(0.5),
        source_p99_ms: floor_at(0.99),
        ack_p50_ms: bucket_quantile(&diff, 0.5).map(|s| s * 1000.0),
        ack_p99_ms: bucket_quantile(&diff, 0.99).map(|s| s * 1000.0),
    })
}

/// The source producer's context: counts records the source did not take,
/// so that a load short of records says so instead of waiting for them.
#[derive(Default)]
struct Counted {
    failed: AtomicUsize,
}

impl ClientContext for Counted {}

impl ProducerContext for Counted {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Sends `n` measured records at `rate` records/s; returns the rate
/// reached. Record i is due at i / rate; sleeping only when more than
/// 0.2 ms ahead keeps the pace without a syscall per record.
fn paced(p: &ThreadedProducer<Counted>, topic: &str, value: &[u8], n: usize, rate: f64) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if due > now + Duration::from_micros(200) {
            std::thread::sleep(due - now);
        }
        let key = format!("lat-{}", i % 1000);
        send(p, topic, key.as_bytes(), value);
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn send(p: &ThreadedProducer<Counted>, topic: &str, key: &[u8], value: &[u8]) {
    let mut r = BaseRecord::to(topic).payload(value).key(key);
    loop {
        match p.send(r) {
            Ok(()) => return,
            Err((_, back)) => {
                r = back;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// Reads the target topic from the start until `stop`, counting every
/// record in `seen`; returns the latency (ms, source timestamp to now) of
/// each measured record (key `lat-...`).
fn read_target(
    dst: &ClusterConn,
    topic: &str,
    seen: &AtomicUsize,
    stop: &AtomicBool,
) -> anyhow::Result<Vec<f64>> {
    let consumer: BaseConsumer = dst
        .client_config()
        .set("group.id", kmirror_rig::random_name("bench-lat-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut lat = Vec::new();
    // tansu hands a tailing consumer some records twice: count each once.
    let mut next = [0i64; PARTITIONS as usize];
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                let slot = &mut next[m.partition() as usize];
                if m.offset() < *slot {
                    continue;
                }
                *slot = m.offset() + 1;
                if m.key().is_some_and(|k| k.starts_with(KEY_PREFIX)) {
                    let ts = m
                        .timestamp()
                        .to_millis()
                        .context("a record without a timestamp")?;
                    lat.push((now_ms() - ts) as f64);
                }
                seen.fetch_add(1, Ordering::Release);
            }
            Some(Err(e)) => bail!("reading the target: {e}"),
            None => {}
        }
    }
    Ok(lat)
}

/// Histogram buckets: (upper bound in seconds, cumulative count), `+Inf`
/// last.
type Buckets = Vec<(f64, f64)>;

/// kmirror's `kmirror_delivery_latency_seconds` buckets.
fn ack_buckets(addr: &str) -> anyhow::Result<Buckets> {
    let mut s = std::net::TcpStream::connect(addr).context("kmirror's metrics endpoint")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: kmirror\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let buckets: Buckets = body
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("kmirror_delivery_latency_seconds_bucket{le=\"")?;
            let (le, rest) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    if buckets.is_empty() {
        bail!("no kmirror_delivery_latency_seconds in kmirror's metrics");
    }
    Ok(buckets)
}

fn count(buckets: &[(f64, f64)]) -> f64 {
    buckets.last().map_or(0.0, |b| b.1)
}

/// The `q` quantile of cumulative `buckets`, linear within the bucket it
/// falls in (Prometheus' `histogram_quantile`); in the `+Inf` bucket, the
/// highest finite bound. `None` when empty.
fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = count(buckets);
    if total <= 0.0 {
        return None;
    }
    let want = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &(le, cum) in buckets {
        if cum >= want {
            if le.is_infinite() {
                return Some(lo);
            }
            let inside = cum - below;
            let frac = if inside > 0.0 {
                (want - below) / inside
            } else {
                1.0
            };
            return Some(lo + (le - lo) * frac);
        }
        (lo, below) = (le, cum);
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantile_interpolates_within_the_bucket() {
        let b = [
            (0.01, 0.0),
            (0.02, 50.0),
            (0.05, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(bucket_quantile(&b, 0.5), Some(0.02));
        assert!((bucket_quantile(&b, 0.25).unwrap() - 0.015).abs() < 1e-12);
        assert!((bucket_quantile(&b, 0.99).unwrap() - 0.0494).abs() < 1e-12);
        let inf = [(0.01, 0.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(&inf, 0.5), Some(0.01));
        assert_eq!(bucket_quantile(&[(f64::INFINITY, 0.0)], 0.5), None);
    }
}
