//! kmirror's benchmark: in one run on the same brokers, measures the rig's
//! ceilings (consume-only from the source, produce-only into the target with
//! kmirror's safety settings), kmirror with its default no-loss settings, and
//! a hand-written Python consume→produce loop (bench/peer_mirror.py), then
//! prints a table of figures and ratios and writes it as JSON.
//!
//! Every figure is the median of `--reps` repetitions (default 3) with min
//! and max. Performance is judged from the ratios, which compare runs made
//! minutes apart on the same machine; absolute numbers vary between machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kmirror_rig::cluster::{self, ClusterConn, Workload};
use kmirror_rig::delay_proxy::DelayedTansu;
use kmirror_rig::tansu::{Tansu, TansuOptions};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

mod latency;
use latency::LatencyRow;

/// Settings every client gets alike. tansu holds a fetch for the full
/// `fetch.wait.max.ms` even when data is ready, so the librdkafka default
/// (500 ms) would measure the broker's wait, not the clients.
const FETCH_WAIT_MS: &str = "10";
/// kmirror commits every 200 ms here (default 60 s): the measurement ends at
/// the last committed offset, and a long interval would only add idle time.
const COMMIT_INTERVAL_MS: &str = "200";

#[derive(Debug, Clone, Serialize)]
struct Scenario {
    record_size: usize,
    partitions: i32,
    records: usize,
    streams: usize,
}

impl Scenario {
    fn bytes(&self) -> f64 {
        (self.records * self.record_size) as f64
    }
    fn label(&self) -> String {
        format!(
            "{} B x {} records, {} partitions, {} stream(s)",
            self.record_size, self.records, self.partitions, self.streams
        )
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Sample {
    /// Seconds the whole scenario takes at the measured rate.
    secs: f64,
    /// CPU seconds (user + system) of a mirror process in the measured
    /// window, scaled to the whole scenario like `secs`: what mirroring
    /// costs, without start-up.
    cpu_secs: Option<f64>,
    /// CPU seconds a mirror process spent before its first commit.
    startup_cpu_secs: Option<f64>,
    peak_rss_mb: Option<f64>,
    /// A mirror process's peak RSS when a tenth of the records were
    /// committed: against `peak_rss_mb`, whether memory grows with the
    /// amount mirrored, within one run.
    tenth_rss_mb: Option<f64>,
    /// For a mirror process: seconds from its start to its first committed
    /// offset (group join, checks), outside the measured window.
    startup_secs: Option<f64>,
    /// Cores the whole machine kept busy during the measured window (of
    /// `available_parallelism`): shows when the rig, not a client, is full.
    busy_cores: Option<f64>,
    /// CPU seconds the broker(s) involved spent in the measured window,
    /// scaled to the whole scenario like `secs`.
    broker_cpu_secs: Option<f64>,
}

/// CPU counters at one instant: the machine's busy and total clock ticks
/// (/proc/stat) and the brokers' CPU seconds.
struct CpuSnap {
    busy_ticks: f64,
    total_ticks: f64,
    broker_secs: f64,
}

fn cpu_snap(brokers: &[u32]) -> CpuSnap {
    let (busy_ticks, total_ticks) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<f64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: f64 = f.iter().take(8).sum();
            // idle and iowait are the 4th and 5th fields.
            Some((total - f.get(3)? - f.get(4)?, total))
        })
        .unwrap_or((0.0, 0.0));
    CpuSnap {
        busy_ticks,
        total_ticks,
        broker_secs: brokers.iter().filter_map(|p| proc_usage(*p).0).sum(),
    }
}

impl CpuSnap {
    /// (cores busy, broker CPU seconds) from `self` to `end`.
    fn until(&self, end: &CpuSnap) -> (Option<f64>, Option<f64>) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let total = end.total_ticks - self.total_ticks;
        let busy = (total > 0.0).then(|| (end.busy_ticks - self.busy_ticks) / total * cores);
        (busy, Some(end.broker_secs - self.broker_secs))
    }
}

#[derive(Debug, Clone, Serialize)]
struct Figure {
    median: f64,
    min: f64,
    max: f64,
}

fn figure(mut v: Vec<f64>) -> Figure {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Figure {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    what: String,
    scenario: Scenario,
    records_per_s: Figure,
    mb_per_s: Figure,
    cpu_s_per_gb: Option<Figure>,
    peak_rss_mb: Option<Figure>,
    /// Peak RSS when a tenth of the records were committed.
    tenth_rss_mb: Option<Figure>,
    startup_s: Option<Figure>,
    /// CPU seconds spent before the first commit.
    startup_cpu_s: Option<Figure>,
    /// Cores the machine kept busy in the measured window.
    busy_cores: Option<Figure>,
    /// The brokers' CPU seconds per GB moved.
    broker_cpu_s_per_gb: Option<Figure>,
}

fn row(what: &str, s: &Scenario, samples: &[Sample]) -> Row {
    let per = |f: &dyn Fn(&Sample) -> Option<f64>| -> Option<Figure> {
        let v: Option<Vec<f64>> = samples.iter().map(f).collect();
        v.map(figure)
    };
    Row {
        what: what.to_string(),
        scenario: s.clone(),
        records_per_s: figure(samples.iter().map(|x| s.records as f64 / x.secs).collect()),
        mb_per_s: figure(samples.iter().map(|x| s.bytes() / x.secs / 1e6).collect()),
        cpu_s_per_gb: per(&|x| x.cpu_secs.map(|c| c / (s.bytes() / 1e9))),
        peak_rss_mb: per(&|x| x.peak_rss_mb),
        tenth_rss_mb: per(&|x| x.tenth_rss_mb),
        startup_s: per(&|x| x.startup_secs),
        startup_cpu_s: per(&|x| x.startup_cpu_secs),
        busy_cores: per(&|x| x.busy_cores),
        broker_cpu_s_per_gb: per(&|x| x.broker_cpu_secs.map(|c| c / (s.bytes() / 1e9))),
    }
}

struct Args {
    reps: usize,
    records: usize,
    /// `--record-size B`: the main scenario's value size in bytes (1024);
    /// smaller for record counts whose copies would not fit in the two
    /// brokers' memory (tansu's memory storage keeps every record).
    record_size: usize,
    quick: bool,
    main_only: bool,
    /// `--verify`: check every kmirror run's copy with the rig's checker.
    verify: bool,
    only: Option<Vec<String>>,
    out: PathBuf,
    /// `--rtt MS`: run the distance rows through the delay proxy instead.
    rtt_ms: Option<u64>,
    /// `--latency-loads P,P,..`: the latency runs' loads, % of kmirror's
    /// measured rate (10,50,90; empty: none).
    latency_loads: Vec<u32>,
    /// `--latency-secs S`: each latency load's length (5 s), at most
    /// `records` records.
    latency_secs: f64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        reps: 3,
        records: 1_000_000,
        record_size: 1024,
        quick: false,
        main_only: false,
        verify: false,
        only: None,
        out: PathBuf::from("target/bench/results.json"),
        rtt_ms: None,
        latency_loads: vec![10, 50, 90],
        latency_secs: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--reps" => a.reps = it.next().context("--reps N")?.parse()?,
            "--records" => a.records = it.next().context("--records N")?.parse()?,
            "--record-size" => a.record_size = it.next().context("--record-size B")?.parse()?,
            "--quick" => a.quick = true,
            "--main-only" => a.main_only = true,
            "--verify" => a.verify = true,
            "--only" => {
                a.only = Some(
                    it.next()
                        .context("--only produce,both,kmirror,python,bare (with --rtt: produce,kmirror,distance,far)")?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            }
            "--out" => a.out = PathBuf::from(it.next().context("--out FILE")?),
            "--rtt" => a.rtt_ms = Some(it.next().context("--rtt MS")?.parse()?),
            "--latency-loads" => {
                a.latency_loads = it
                    .next()
                    .context("--latency-loads P,P,.. (% of kmirror's rate; empty for none)")?
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--latency-secs" => a.latency_secs = it.next().context("--latency-secs S")?.parse()?,
            "-h" | "--help" => {
                println!("kmirror-bench [--reps N (3)] [--records N (1000000)] [--record-size B (1024: the main scenario's value size)] [--quick] [--main-only (skip the scaling runs)] [--verify (check each kmirror run's copy with the rig's checker, outside the measured window)] [--only ROWS (comma list of produce,both,kmirror,python,bare; the consume ceiling always runs; with --rtt: produce,kmirror,distance,far)] [--out FILE (target/bench/results.json)] [--rtt MS (instead: the distance rows, one cluster behind the rig's delay proxy, MS/2 each way, both placements)] [--latency-loads P,P,.. (10,50,90: latency runs at these % of kmirror's measured rate; empty for none)] [--latency-secs S (5: each load's length, at most --records records)]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if a.quick {
        a.records = a.records.min(200_000);
    }
    // A name the mode does not know would silently run no row.
    let known: &[&str] = if a.rtt_ms.is_some() {
        &["produce", "kmirror", "distance", "far"]
    } else {
        &["produce", "both", "kmirror", "python", "bare"]
    };
    if let Some(bad) = a
        .only
        .iter()
        .flatten()
        .find(|o| !known.contains(&o.as_str()))
    {
        bail!("--only {bad:?}: this mode's rows are {}", known.join(","));
    }
    Ok(a)
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn broker(dir: &Path, name: &str) -> anyhow::Result<Tansu> {
    Tansu::start(TansuOptions {
        cluster_id: Some(kmirror_rig::random_name(name)),
        log_file: Some(dir.join(format!("{name}.log"))),
        ..Default::default()
    })
}

/// Loads the source topic (not measured).
fn load(conn: &ClusterConn, topic: &str, s: &Scenario) -> anyhow::Result<()> {
    conn.create_topic(topic, s.partitions)?;
    let w = Workload {
        records: s.records,
        keys: 1000,
        value_size: s.record_size,
        headers: 1,
        tag: "bench".into(),
    };
    cluster::produce(conn, topic, &w)?;
    Ok(())
}

/// Consume-only ceiling; also returns each partition's end offset.
fn consume_ceiling(
    conn: &ClusterConn,
    broker: u32,
    topic: &str,
    s: &Scenario,
) -> anyhow::Result<(Sample, BTreeMap<i32, i64>)> {
    let consumer: BaseConsumer = conn
        .client_config()
        .set("group.id", kmirror_rig::random_name("bench-ceiling"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..s.partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    // Timed from the first record, as the mirrors are from their first
    // commit: connecting and the first fetch's round trip are start-up.
    let mut start = None;
    let mut snap = None;
    let mut ends = BTreeMap::new();
    let mut n = 0;
    while n < s.records {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                if start.is_none() {
                    snap = Some(cpu_snap(&[broker]));
                    start = Some(Instant::now());
                }
                ends.insert(m.partition(), m.offset() + 1);
                n += 1;
            }
            Some(Err(e)) => bail!("consume ceiling: {e}"),
            None => bail!("consume ceiling: stalled at {n} of {} records", s.records),
        }
    }
    let first_to_last = start.map_or(0.0, |t| t.elapsed().as_secs_f64());
    // The first record arrived at `start`: n - 1 records in the window.
    let scale = s.records as f64 / (s.records.max(2) - 1) as f64;
    let (busy_cores, broker_cpu) = snap.map_or((None, None), |a| a.until(&cpu_snap(&[broker])));
    Ok((
        Sample {
            secs: first_to_last * scale,
            busy_cores,
            broker_cpu_secs: broker_cpu.map(|c| c * scale),
            // A ceiling has no process of its own to measure.
            ..Sample::default()
        },
        ends,
    ))
}

/// The capped produce ceilings' queue, kmirror's own cap (`--queue.size`
/// 10,000 plus a margin): the rows that compare like with like.
const CAPPED_QUEUE: &[(&str, &str)] = &[("queue.buffering.max.messages", "11000")];
/// The unconstrained produce ceilings' queue (issue #24): free to queue a
/// million records, librdkafka's default `queue.buffering.max.kbytes`
/// (1 GiB) still bounding it; what the brokers can take, not what a
/// mirror with kmirror's queue cap can send.
const FREE_QUEUE: &[(&str, &str)] = &[("queue.buffering.max.messages", "1000000")];

/// Produce-only ceiling with kmirror's safety settings; `extra` sets the
/// queue ([`CAPPED_QUEUE`] or [`FREE_QUEUE`]) and any other property.
fn produce_ceiling(
    conn: &ClusterConn,
    broker: u32,
    topic: &str,
    s: &Scenario,
    extra: &[(&str, &str)],
) -> anyhow::Result<Sample> {
    conn.create_topic(topic, s.partitions)?;
    let mut cfg = conn.client_config();
    cfg.set("acks", "all")
        .set("max.in.flight.requests.per.connection", "1")
        .set("partitioner", "murmur2_random");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = cfg.create()?;
    let value = vec![b'x'; s.record_size];
    let keys: Vec<String> = (0..1000).map(|k| format!("key-{k}")).collect();
    let snap = cpu_snap(&[broker]);
    let start = Instant::now();
    for i in 0..s.records {
        let mut r = BaseRecord::to(topic)
            .payload(&value[..])
            .key(keys[i % 1000].as_bytes());
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((_, back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300))?;
    let secs = start.elapsed().as_secs_f64();
    let (busy_cores, broker_cpu_secs) = snap.until(&cpu_snap(&[broker]));
    Ok(Sample {
        secs,
        busy_cores,
        broker_cpu_secs,
        ..Sample::default()
    })
}

/// Both ceilings at once: consume-only from the source and produce-only
/// into a fresh target, started together. A mirror runs both halves at the
/// same time on the same cores as both brokers, which the separate ceilings
/// never do; this row shows what the rig allows such a pipeline. Its rate is
/// the slower half's, and once the faster half is done the slower one runs
/// alone, so the row overstates the rate while both run (a kmirror ratio
/// against it errs low). Busy cores and broker CPU (both brokers) cover the
/// whole window. `queue` is the producer's queue setting ([`CAPPED_QUEUE`]
/// or [`FREE_QUEUE`]).
fn both_ceilings(
    dir: &Path,
    src: &ClusterConn,
    source_pid: u32,
    topic: &str,
    s: &Scenario,
    queue: &[(&str, &str)],
) -> anyhow::Result<Sample> {
    let target = broker(dir, "target")?;
    let dst = ClusterConn::plaintext(target.addr().to_string());
    let ceiling_topic = kmirror_rig::random_name("ceiling");
    let pids = [source_pid, target.pid()];
    let snap = cpu_snap(&pids);
    let (consumed, produced) = std::thread::scope(|scope| {
        let c = scope.spawn(|| consume_ceiling(src, source_pid, topic, s));
        let p = produce_ceiling(&dst, target.pid(), &ceiling_topic, s, queue);
        (c.join().expect("consume ceiling thread"), p)
    });
    let (busy_cores, broker_cpu_secs) = snap.until(&cpu_snap(&pids));
    let secs = consumed?.0.secs.max(produced?.secs);
    Ok(Sample {
        secs,
        busy_cores,
        broker_cpu_secs,
        ..Sample::default()
    })
}

/// CPU seconds (user + system) and peak RSS of a running process, from /proc.
fn proc_usage(pid: u32) -> (Option<f64>, Option<f64>) {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / tick)
        });
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
        });
    (cpu, rss)
}

/// Runs a mirroring process until `group` has committed `ends`, then stops it.
/// Measures a mirror process from its first committed offset to the last
/// (the "first record to last committed offset"; both ends are
/// seen the same way, by polling the group's committed offsets every 20 ms,
/// and commits come every COMMIT_INTERVAL_MS). Start-up before the first
/// commit (group join, checks) is reported apart, as the ceilings have none.
/// A run done before its first observed commit is timed from process start.
fn measure_process(
    mut child: Child,
    source: &ClusterConn,
    group: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    brokers: &[u32],
) -> anyhow::Result<Sample> {
    let start = Instant::now();
    let total: i64 = ends.values().sum();
    let mut first: Option<(Instant, i64, CpuSnap, Option<f64>)> = None;
    let mut tenth_rss_mb = None;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("mirror process exited early: {status}");
        }
        let c = cluster::committed_offsets(source, group, topic)?;
        let committed: i64 = c.values().flatten().sum();
        if first.is_none() && committed > 0 {
            first = Some((
                Instant::now(),
                committed,
                cpu_snap(brokers),
                proc_usage(child.id()).0,
            ));
        }
        if tenth_rss_mb.is_none() && committed * 10 >= total {
            tenth_rss_mb = proc_usage(child.id()).1;
        }
        if ends
            .iter()
            .all(|(p, e)| c.get(p).copied().flatten() == Some(*e))
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            bail!("mirror did not finish within 900 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let end = Instant::now();
    let end_snap = cpu_snap(brokers);
    let (end_cpu, peak_rss_mb) = proc_usage(child.id());
    let (secs, startup_secs, busy_cores, broker_cpu_secs, cpu_secs, startup_cpu_secs) = match first
    {
        Some((t0, c0, snap, cpu0)) if c0 < total && end > t0 => {
            let scale = total as f64 / (total - c0) as f64;
            let (busy, broker) = snap.until(&end_snap);
            (
                (end - t0).as_secs_f64() * scale,
                Some((t0 - start).as_secs_f64()),
                busy,
                broker.map(|b| b * scale),
                end_cpu.zip(cpu0).map(|(e, s)| (e - s) * scale),
                cpu0,
            )
        }
        // Done before a first commit was seen: the whole process is the
        // window.
        _ => ((end - start).as_secs_f64(), None, None, None, end_cpu, None),
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    Ok(Sample {
        secs,
        cpu_secs,
        startup_cpu_secs,
        peak_rss_mb,
        tenth_rss_mb,
        startup_secs,
        busy_cores,
        broker_cpu_secs,
    })
}

/// How a kmirror run reaches the brokers: their own addresses by default,
/// or a delay proxy in front of one (`--rtt`), and extra producer lines.
#[derive(Debug, Default)]
pub(crate) struct Route {
    /// The source's bootstrap, if not its own address.
    pub(crate) source: Option<String>,
    /// The target's bootstrap, if not its own address.
    pub(crate) target: Option<String>,
    /// Lines appended to the producer properties.
    pub(crate) producer_extra: &'static str,
}

impl Route {
    /// The bootstrap kmirror reads `source` through.
    fn source_of(&self, source: &Tansu) -> String {
        self.source
            .clone()
            .unwrap_or_else(|| source.addr().to_string())
    }
    /// The bootstrap kmirror writes `target` through.
    fn target_of(&self, target: &Tansu) -> String {
        self.target
            .clone()
            .unwrap_or_else(|| target.addr().to_string())
    }
}

/// The kmirror command line of a bench run: its properties files in `dir`
/// (named after `group`), the bench's settings and the experiment
/// variables. Shared by the throughput and the latency runs.
pub(crate) fn kmirror_command(
    bin: &Path,
    dir: &Path,
    (source_bootstrap, target_bootstrap): (&str, &str),
    route: &Route,
    group: &str,
    topic: &str,
    streams: usize,
) -> anyhow::Result<Command> {
    let c = dir.join(format!("{group}-c.properties"));
    let p = dir.join(format!("{group}-p.properties"));
    // KMIRROR_BENCH_CONSUMER_EXTRA: extra consumer properties lines, for
    // experiments (printed in the settings line when set).
    let extra = std::env::var("KMIRROR_BENCH_CONSUMER_EXTRA")
        .unwrap_or_default()
        .replace(';', "\n");
    std::fs::write(&c, format!("bootstrap.servers={source_bootstrap}\ngroup.id={group}\nsecurity.protocol=PLAINTEXT\nfetch.max.wait.ms={FETCH_WAIT_MS}\n{extra}\n"))?;
    // KMIRROR_BENCH_PRODUCER_EXTRA: extra producer properties lines (`;`
    // separated), for experiments such as linger.ms or batch.size.
    let producer_extra = std::env::var("KMIRROR_BENCH_PRODUCER_EXTRA")
        .unwrap_or_default()
        .replace(';', "\n");
    std::fs::write(
        &p,
        format!(
            "bootstrap.servers={target_bootstrap}\nsecurity.protocol=PLAINTEXT\n{}\n{producer_extra}\n",
            route.producer_extra
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "--consumer.config",
        c.to_str().unwrap(),
        "--producer.config",
        p.to_str().unwrap(),
    ])
    .args([
        "--whitelist",
        topic,
        "--allow.plaintext",
        "--offset.commit.interval.ms",
        COMMIT_INTERVAL_MS,
    ])
    .args(["--num.streams", &streams.to_string()])
    // KMIRROR_BENCH_KMIRROR_ARGS: extra kmirror arguments (space
    // separated), for experiments such as --queue.size.
    .args(
        std::env::var("KMIRROR_BENCH_KMIRROR_ARGS")
            .unwrap_or_default()
            .split_whitespace(),
    )
    .env("RUST_LOG", "warn");
    Ok(cmd)
}

#[allow(clippy::too_many_arguments)]
fn kmirror_run(
    bin: &Path,
    dir: &Path,
    source: &Tansu,
    target: &Tansu,
    route: &Route,
    topic: &str,
    s: &Scenario,
    ends: &BTreeMap<i32, i64>,
) -> anyhow::Result<Sample> {
    let group = kmirror_rig::random_name("bench-km");
    let cmd = kmirror_command(
        bin,
        dir,
        (&route.source_of(source), &route.target_of(target)),
        route,
        &group,
        topic,
        s.streams,
    )?;
    run_mirror(
        cmd,
        "kmirror",
        "starting kmirror (build it with: cargo build --release)",
        dir,
        (source, target),
        &group,
        topic,
        s,
        ends,
    )
}

/// Starts a mirroring process (stderr to `dir/<group>.log`) into a fresh
/// target topic and measures it until `group` has committed `ends`; with
/// KMIRROR_BENCH_PERF set, under `perf record`.
#[allow(clippy::too_many_arguments)]
fn run_mirror(
    mut cmd: Command,
    what: &str,
    starting: &str,
    dir: &Path,
    (source, target): (&Tansu, &Tansu),
    group: &str,
    topic: &str,
    s: &Scenario,
    ends: &BTreeMap<i32, i64>,
) -> anyhow::Result<Sample> {
    ClusterConn::plaintext(target.addr().to_string()).create_topic(topic, s.partitions)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(
            dir.join(format!("{group}.log")),
        )?))
        .spawn()
        .context(starting.to_string())?;
    let perf = perf_attach(child.id(), what);
    let sample = measure_process(
        child,
        &ClusterConn::plaintext(source.addr().to_string()),
        group,
        topic,
        ends,
        &[source.pid(), target.pid()],
    );
    perf_detach(perf);
    sample
}

fn python_run(
    dir: &Path,
    source: &Tansu,
    target: &Tansu,
    topic: &str,
    s: &Scenario,
    ends: &BTreeMap<i32, i64>,
) -> anyhow::Result<Sample> {
    let group = kmirror_rig::random_name("bench-py");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer_mirror.py");
    // scripts/bench.sh points this at its venv (confluent-kafka installed).
    let python = std::env::var("KMIRROR_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(&script).args([
        source.addr().to_string(),
        target.addr().to_string(),
        topic.to_string(),
        group.clone(),
        FETCH_WAIT_MS.to_string(),
    ]);
    run_mirror(
        cmd,
        "python",
        &format!("starting {python} bench/peer_mirror.py (scripts/bench.sh installs confluent-kafka in a venv)"),
        dir,
        (source, target),
        &group,
        topic,
        s,
        ends,
    )
}

/// The reference the issue measured before kmirror existed: a bare rdkafka
/// consume->produce loop with no offset bookkeeping at all. librdkafka
/// auto-commits the *consumed* positions every COMMIT_INTERVAL_MS, so this
/// loop can lose records on a crash; it is here to show what the rig allows a
/// client that pays nothing for safety, not as a peer. Its producer has
/// kmirror's settings (acks=all, one in flight), so the difference to
/// kmirror is the bookkeeping alone. Runs as `kmirror-bench bare-loop ...`
/// in a process of its own, measured like the mirrors.
fn bare_loop(args: &[String]) -> anyhow::Result<()> {
    let [source, target, topic, group] = args else {
        bail!("bare-loop SOURCE TARGET TOPIC GROUP");
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", source)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", COMMIT_INTERVAL_MS)
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .create()?;
    consumer.subscribe(&[topic.as_str()])?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", target)
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "1")
        .set("partitioner", "murmur2_random")
        .set("queue.buffering.max.messages", "11000")
        .create()?;
    loop {
        let m = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => bail!("bare loop: {e}"),
            None => continue,
        };
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(k) = m.key() {
            r = r.key(k);
        }
        if let Some(p) = m.payload() {
            r = r.payload(p);
        }
        if let Some(h) = m.headers() {
            r = r.headers(h.detach());
        }
        if let Some(t) = m.timestamp().to_millis() {
            r = r.timestamp(t);
        }
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((_, back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
}

fn bare_run(
    dir: &Path,
    source: &Tansu,
    target: &Tansu,
    topic: &str,
    s: &Scenario,
    ends: &BTreeMap<i32, i64>,
) -> anyhow::Result<Sample> {
    let group = kmirror_rig::random_name("bench-bare");
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "bare-loop",
        &source.addr().to_string(),
        &target.addr().to_string(),
        topic,
        &group,
    ]);
    run_mirror(
        cmd,
        "bare",
        "starting kmirror-bench bare-loop",
        dir,
        (source, target),
        &group,
        topic,
        s,
        ends,
    )
}

/// KMIRROR_BENCH_PERF=PREFIX samples a mirror process's CPU with `perf
/// record` (software clock: works where hardware counters are not exposed)
/// into PREFIX-<what>-<pid>.data, one file per run.
fn perf_attach(pid: u32, what: &str) -> Option<Child> {
    let prefix = std::env::var("KMIRROR_BENCH_PERF").ok()?;
    Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "1999", "-g", "-o"])
        .arg(format!("{prefix}-{what}-{pid}.data"))
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn perf_detach(perf: Option<Child>) {
    if let Some(mut p) = perf {
        // perf attached with -p writes its data on SIGINT.
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(p.id().to_string())
            .status();
        let _ = p.wait();
    }
}

/// A mirroring process a scenario measures.
enum Mirror {
    /// A kmirror build: its row and binary.
    Kmirror(&'static str, PathBuf),
    /// The Python peer (`bench/peer_mirror.py`).
    Python,
    /// The bare rdkafka loop (reference).
    Bare,
}

/// Measures one scenario: ceilings, kmirror and (optionally) the peers;
/// `--only` restricts which rows run.
fn scenario(dir: &Path, s: &Scenario, args: &Args, with_peers: bool) -> anyhow::Result<Vec<Row>> {
    eprintln!("== {}", s.label());
    let n = args.reps;
    let wanted = |what: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x == what))
    };
    let mut source_records = None;
    let source = broker(dir, "source")?;
    let src = ClusterConn::plaintext(source.addr().to_string());
    let topic = kmirror_rig::random_name("bench");
    load(&src, &topic, s)?;
    // Repetitions are interleaved (each runs every row once, in turn) so
    // that drift in the machine's speed over the run hits every row alike
    // and the ratios stay comparable.
    //
    // KMIRROR_BENCH_KMIRROR_B=PATH: another kmirror build, measured
    // interleaved with this one, for A/B experiments.
    let mut mirrors: Vec<Mirror> = [
        wanted("kmirror").then(|| Mirror::Kmirror(KMIRROR_ROW, bin_dir().join("kmirror"))),
        std::env::var_os("KMIRROR_BENCH_KMIRROR_B")
            .map(|b| Mirror::Kmirror(KMIRROR_B_ROW, PathBuf::from(b))),
        (with_peers && wanted("python")).then_some(Mirror::Python),
        (with_peers && wanted("bare")).then_some(Mirror::Bare),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut samples: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    for rep in 0..n {
        eprintln!("   repetition {} of {n}", rep + 1);
        // Always run: it also finds each partition's end offset.
        let (sample, ends) = consume_ceiling(&src, source.pid(), &topic, s)?;
        samples.entry(CONSUME_ROW).or_default().push(sample);
        // Each ceiling twice: the producer's queue capped as kmirror's is,
        // and free (issue #24: what the brokers can actually take).
        let queues = [
            (CAPPED_QUEUE, PRODUCE_ROW, BOTH_ROW),
            (FREE_QUEUE, PRODUCE_FREE_ROW, BOTH_FREE_ROW),
        ];
        for (queue, produce_row, both_row) in queues {
            if with_peers && wanted("produce") {
                let target = broker(dir, "target")?;
                let sample = produce_ceiling(
                    &ClusterConn::plaintext(target.addr().to_string()),
                    target.pid(),
                    &kmirror_rig::random_name("ceiling"),
                    s,
                    queue,
                )?;
                samples.entry(produce_row).or_default().push(sample);
            }
            if with_peers && wanted("both") {
                let sample = both_ceilings(dir, &src, source.pid(), &topic, s, queue)?;
                samples.entry(both_row).or_default().push(sample);
            }
        }
        // The mirrors take turns going first: A/B pairs run in both orders
        // showed the first slot after the ceilings costing the build in it
        // about 2-6% of CPU-s/GB, which a fixed order puts on one row.
        if rep > 0 && !mirrors.is_empty() {
            mirrors.rotate_left(1);
        }
        for m in &mirrors {
            let target = broker(dir, "target")?;
            let (row, sample) = match m {
                Mirror::Kmirror(row, bin) => (
                    *row,
                    kmirror_run(
                        bin,
                        dir,
                        &source,
                        &target,
                        &Route::default(),
                        &topic,
                        s,
                        &ends,
                    )?,
                ),
                Mirror::Python => (
                    PYTHON_ROW,
                    python_run(dir, &source, &target, &topic, s, &ends)?,
                ),
                Mirror::Bare => (BARE_ROW, bare_run(dir, &source, &target, &topic, s, &ends)?),
            };
            samples.entry(row).or_default().push(sample);
            if args.verify && matches!(m, Mirror::Kmirror(..)) {
                verify_copy(&src, &target, &topic, s, &mut source_records)?;
            }
        }
    }
    let order = [
        CONSUME_ROW,
        PRODUCE_ROW,
        PRODUCE_FREE_ROW,
        BOTH_ROW,
        BOTH_FREE_ROW,
        KMIRROR_ROW,
        KMIRROR_B_ROW,
        PYTHON_ROW,
        BARE_ROW,
    ];
    let rows: Vec<Row> = order
        .iter()
        .filter(|w| with_peers || **w == KMIRROR_ROW || **w == KMIRROR_B_ROW)
        .filter_map(|w| samples.get(w).map(|v| row(w, s, v)))
        .collect();
    for r in &rows {
        eprintln!(
            "   {:<46} {:>10.0} rec/s {:>8.1} MB/s",
            r.what, r.records_per_s.median, r.mb_per_s.median
        );
    }
    Ok(rows)
}

/// `--verify`, after a kmirror run and outside its measured window: the
/// rig's checker compares the target topic with the source (every record,
/// per-key order, byte-equal key, value, headers and timestamp). The source
/// is read once per scenario.
fn verify_copy(
    src: &ClusterConn,
    target: &Tansu,
    topic: &str,
    s: &Scenario,
    source_records: &mut Option<Vec<cluster::Record>>,
) -> anyhow::Result<()> {
    let (idle, timeout) = (Duration::from_millis(500), Duration::from_secs(300));
    if source_records.is_none() {
        *source_records = Some(cluster::read_all(src, topic, s.records, idle, timeout)?);
    }
    let source = source_records.as_deref().unwrap_or_default();
    let dst = ClusterConn::plaintext(target.addr().to_string());
    let copy = cluster::read_all(&dst, topic, s.records, idle, timeout)?;
    let report =
        kmirror_rig::checker::check(source, &copy, kmirror_rig::checker::Partitioning::ByKey)
            .map_err(|v| anyhow::anyhow!("kmirror's copy of {topic} failed the check: {v}"))?;
    // A clean run replays nothing, so a duplicate is a defect here too.
    if report.source_records != s.records || report.duplicates != 0 {
        bail!(
            "kmirror's copy of {topic}: expected {} records and no duplicates, found {report}",
            s.records
        );
    }
    eprintln!("   verified: {report}");
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1048576.0
            })
        })
        .unwrap_or(0.0);
    format!("{cores} cores ({cpu}), {mem:.0} GiB")
}

const CONSUME_ROW: &str = "consume-only (rdkafka)";
const PRODUCE_ROW: &str = "produce-only (rdkafka, acks=all, 1 in flight)";
const BOTH_ROW: &str = "consume + produce at once (slower of the two)";
/// The unconstrained rows: the producer free to queue ([`FREE_QUEUE`]).
const PRODUCE_FREE_ROW: &str =
    "produce-only, queue free (rdkafka, acks=all, 1 in flight, up to 1M queued)";
const BOTH_FREE_ROW: &str = "consume + produce at once, queue free (slower of the two)";
const KMIRROR_ROW: &str = "kmirror";
const KMIRROR_B_ROW: &str = "kmirror B (KMIRROR_BENCH_KMIRROR_B)";
const PYTHON_ROW: &str = "python confluent-kafka loop";
const BARE_ROW: &str = "bare rdkafka loop, no bookkeeping (reference)";

/// Distance rows (`--rtt MS`): one cluster behind the rig's delay proxy
/// (`kmirror_rig::delay_proxy`, MS/2 each way; the proxy runs in this
/// process). Mirror near the source: the target is behind the link and the
/// mirror produces across it. Mirror near the target: the source is behind
/// it and the mirror consumes across it.
const WAN_PRODUCE_1: &str = "near source: produce-only, acks=all, 1 in flight";
const WAN_PRODUCE_IDEMPOTENT: &str = "near source: produce-only, idempotent, 5 in flight";
const WAN_KM_NEAR_SOURCE: &str = "near source: kmirror defaults";
const WAN_KM_IDEMPOTENT_NEAR_SOURCE: &str = "near source: kmirror distance mode (idempotent)";
const WAN_CONSUME: &str = "near target: consume-only";
const WAN_KM_NEAR_TARGET: &str = "near target: kmirror defaults";
const WAN_KM_IDEMPOTENT_NEAR_TARGET: &str = "near target: kmirror distance mode (idempotent)";

/// The producer properties line of kmirror's distance mode.
const DISTANCE_MODE: &str = "enable.idempotence=true\n";

fn delayed_broker(dir: &Path, name: &str, one_way: Duration) -> anyhow::Result<DelayedTansu> {
    DelayedTansu::start(
        one_way,
        TansuOptions {
            cluster_id: Some(kmirror_rig::random_name(name)),
            log_file: Some(dir.join(format!("{name}.log"))),
            ..Default::default()
        },
    )
}

/// Measures the distance rows, `args.reps` interleaved repetitions.
fn wan_rows(dir: &Path, s: &Scenario, args: &Args, rtt_ms: u64) -> anyhow::Result<Vec<Row>> {
    eprintln!("== {} at {rtt_ms} ms RTT", s.label());
    // --only with --rtt: produce (the produce-only rows), kmirror (its
    // defaults), distance (its distance mode), far (the placement near the
    // target: its consume-only row and the kmirror rows wanted).
    let wanted = |what: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x == what))
    };
    let kmirror_rows: Vec<(&str, &str, &str)> = [
        ("kmirror", WAN_KM_NEAR_SOURCE, WAN_KM_NEAR_TARGET, ""),
        (
            "distance",
            WAN_KM_IDEMPOTENT_NEAR_SOURCE,
            WAN_KM_IDEMPOTENT_NEAR_TARGET,
            DISTANCE_MODE,
        ),
    ]
    .into_iter()
    .filter(|r| wanted(r.0))
    .map(|(_, near_source, near_target, extra)| (near_source, near_target, extra))
    .collect();
    let one_way = Duration::from_micros(rtt_ms * 500);
    let bin = bin_dir().join("kmirror");
    let mut samples: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    // Near the source: the source on loopback.
    let source = broker(dir, "source")?;
    let src = ClusterConn::plaintext(source.addr().to_string());
    let topic = kmirror_rig::random_name("wan");
    load(&src, &topic, s)?;
    let (_, ends) = consume_ceiling(&src, source.pid(), &topic, s)?;
    // Near the target: the source behind the link (loaded through it).
    let far = delayed_broker(dir, "far-source", one_way)?;
    let far_src = ClusterConn::plaintext(far.bootstrap());
    let far_topic = kmirror_rig::random_name("wan-far");
    if wanted("far") {
        load(&far_src, &far_topic, s)?;
    }
    let (mut near_records, mut far_records) = (None, None);
    // Both capped as kmirror's queue is, as before the unconstrained rows.
    let idempotent: &[(&str, &str)] = &[
        CAPPED_QUEUE[0],
        ("enable.idempotence", "true"),
        ("max.in.flight.requests.per.connection", "5"),
    ];
    for rep in 0..args.reps {
        eprintln!("   repetition {} of {}", rep + 1, args.reps);
        let produce_rows = [
            (WAN_PRODUCE_1, CAPPED_QUEUE),
            (WAN_PRODUCE_IDEMPOTENT, idempotent),
        ];
        for (row, extra) in produce_rows.into_iter().filter(|_| wanted("produce")) {
            let t = delayed_broker(dir, "target", one_way)?;
            let conn = ClusterConn::plaintext(t.bootstrap());
            let ceiling_topic = kmirror_rig::random_name("ceiling");
            let sample = produce_ceiling(&conn, t.tansu.pid(), &ceiling_topic, s, extra)?;
            samples.entry(row).or_default().push(sample);
        }
        for &(row, _, producer_extra) in &kmirror_rows {
            let t = delayed_broker(dir, "target", one_way)?;
            let route = Route {
                target: Some(t.bootstrap()),
                producer_extra,
                ..Route::default()
            };
            let sample = kmirror_run(&bin, dir, &source, &t.tansu, &route, &topic, s, &ends)?;
            samples.entry(row).or_default().push(sample);
            if args.verify {
                verify_copy(&src, &t.tansu, &topic, s, &mut near_records)?;
            }
        }
        if !wanted("far") {
            continue;
        }
        let (sample, far_ends) = consume_ceiling(&far_src, far.tansu.pid(), &far_topic, s)?;
        samples.entry(WAN_CONSUME).or_default().push(sample);
        for &(_, row, producer_extra) in &kmirror_rows {
            let target = broker(dir, "target")?;
            let route = Route {
                source: Some(far.bootstrap()),
                producer_extra,
                ..Route::default()
            };
            let sample = kmirror_run(
                &bin, dir, &far.tansu, &target, &route, &far_topic, s, &far_ends,
            )?;
            samples.entry(row).or_default().push(sample);
            if args.verify {
                verify_copy(&far_src, &target, &far_topic, s, &mut far_records)?;
            }
        }
    }
    let rows: Vec<Row> = [
        WAN_PRODUCE_1,
        WAN_PRODUCE_IDEMPOTENT,
        WAN_KM_NEAR_SOURCE,
        WAN_KM_IDEMPOTENT_NEAR_SOURCE,
        WAN_CONSUME,
        WAN_KM_NEAR_TARGET,
        WAN_KM_IDEMPOTENT_NEAR_TARGET,
    ]
    .iter()
    .filter_map(|w| {
        samples
            .get(w)
            .map(|v| row(&format!("{rtt_ms} ms RTT, {w}"), s, v))
    })
    .collect();
    for r in &rows {
        eprintln!(
            "   {:<70} {:>10.0} rec/s {:>8.1} MB/s",
            r.what, r.records_per_s.median, r.mb_per_s.median
        );
    }
    Ok(rows)
}

/// `--rtt MS`: the distance rows, their table and ratios, and the JSON.
fn wan_main(dir: &Path, args: &Args, rtt_ms: u64, settings: &str) -> anyhow::Result<()> {
    let s = Scenario {
        record_size: 1024,
        partitions: 8,
        records: args.records,
        streams: 1,
    };
    let rows = wan_rows(dir, &s, args, rtt_ms)?;
    print_table(&rows);
    let median = |what: &str| {
        let what = format!("{rtt_ms} ms RTT, {what}");
        rows.iter()
            .find(|r| r.what == what)
            .map(|r| r.mb_per_s.median)
    };
    let rps = |what: &str| {
        let what = format!("{rtt_ms} ms RTT, {what}");
        rows.iter()
            .find(|r| r.what == what)
            .map(|r| r.records_per_s.median)
    };
    let one_way = Some(Duration::from_micros(rtt_ms * 500));
    let latency = latency_rows(
        dir,
        args,
        &[
            LatencyConfig {
                what: format!("{rtt_ms} ms RTT, {WAN_KM_NEAR_SOURCE}"),
                capacity_rps: rps(WAN_KM_NEAR_SOURCE),
                producer_extra: "",
                one_way,
            },
            LatencyConfig {
                what: format!("{rtt_ms} ms RTT, {WAN_KM_IDEMPOTENT_NEAR_SOURCE}"),
                capacity_rps: rps(WAN_KM_IDEMPOTENT_NEAR_SOURCE),
                producer_extra: DISTANCE_MODE,
                one_way,
            },
        ],
    )?;
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let show = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
    let ratios = serde_json::json!({
        "rtt_ms": rtt_ms,
        "near_source_distance_vs_defaults": ratio(median(WAN_KM_IDEMPOTENT_NEAR_SOURCE), median(WAN_KM_NEAR_SOURCE)),
        "near_source_distance_vs_idempotent_ceiling": ratio(median(WAN_KM_IDEMPOTENT_NEAR_SOURCE), median(WAN_PRODUCE_IDEMPOTENT)),
        "near_target_distance_vs_defaults": ratio(median(WAN_KM_IDEMPOTENT_NEAR_TARGET), median(WAN_KM_NEAR_TARGET)),
        "near_target_distance_vs_consume_ceiling": ratio(median(WAN_KM_IDEMPOTENT_NEAR_TARGET), median(WAN_CONSUME)),
    });
    println!();
    println!("one cluster behind the rig's delay proxy ({} ms each way, in this process; it buffers up to 64 MiB per direction and connection, so TCP windows do not limit the link); the other on loopback", rtt_ms as f64 / 2.0);
    println!(
        "near source: kmirror distance mode / defaults: {}, / idempotent produce-only: {}",
        show(ratios["near_source_distance_vs_defaults"].as_f64()),
        show(ratios["near_source_distance_vs_idempotent_ceiling"].as_f64())
    );
    println!(
        "near target: kmirror distance mode / defaults: {}, / consume-only: {}",
        show(ratios["near_target_distance_vs_defaults"].as_f64()),
        show(ratios["near_target_distance_vs_consume_ceiling"].as_f64())
    );
    println!("(goal, issue 24: the distance mode at 50 ms RTT >= 0.8 x kmirror's own loopback rate; compare with a loopback run of scripts/bench.sh)");
    write_results(&args.out, settings, &rows, &ratios, &latency)
}

/// One kmirror configuration's latency runs: its row label, its rate
/// measured in this run (records/s), its producer lines, and the one-way
/// delay in front of the target (`None`: loopback).
struct LatencyConfig {
    what: String,
    capacity_rps: Option<f64>,
    producer_extra: &'static str,
    one_way: Option<Duration>,
}

/// Writes a run's JSON (machine, settings, rows, ratios, latency) to `out`,
/// making its directory.
fn write_results(
    out: &Path,
    settings: &str,
    rows: &[Row],
    ratios: &serde_json::Value,
    latency: &[LatencyRow],
) -> anyhow::Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&serde_json::json!({
            "machine": machine(), "settings": settings, "rows": rows, "ratios": ratios, "latency": latency,
        }))?,
    )?;
    println!("written to {}", out.display());
    Ok(())
}

/// The latency runs ([`latency`]) of each configuration at each of
/// `args.latency_loads`, on a source of their own and a fresh target per
/// load; printed as a table.
fn latency_rows(
    dir: &Path,
    args: &Args,
    configs: &[LatencyConfig],
) -> anyhow::Result<Vec<LatencyRow>> {
    if args.latency_loads.is_empty() {
        return Ok(Vec::new());
    }
    let source = broker(dir, "latency-source")?;
    let bin = bin_dir().join("kmirror");
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for c in configs {
        let Some(capacity_rps) = c.capacity_rps else {
            continue;
        };
        let setup = latency::Setup {
            bin: &bin,
            dir,
            what: c.what.clone(),
            capacity_rps,
            max_records: args.records,
            secs: args.latency_secs,
        };
        for &pct in &args.latency_loads {
            eprintln!(
                "== latency: {} at {pct} % of {capacity_rps:.0} records/s",
                c.what
            );
            let row = match c.one_way {
                None => {
                    let target = broker(dir, "target")?;
                    latency::measure(&setup, (&source, &target), &Route::default(), pct)
                }
                Some(one_way) => {
                    let t = delayed_broker(dir, "target", one_way)?;
                    let route = Route {
                        target: Some(t.bootstrap()),
                        producer_extra: c.producer_extra,
                        ..Route::default()
                    };
                    latency::measure(&setup, (&source, &t.tansu), &route, pct)
                }
            };
            // A failed load (the rig's tansu has lost a live-tail record
            // or stalled a resumed fetch here) is reported, and the other
            // loads and the throughput figures are kept.
            match row {
                Ok(row) => rows.push(row),
                Err(e) => {
                    eprintln!("   latency at {pct} % FAILED: {e:#}");
                    failed.push(format!("{} at {pct} %: {e:#}", c.what));
                }
            }
        }
    }
    print_latency(&rows);
    for f in &failed {
        println!("latency FAILED: {}", f.lines().next().unwrap_or_default());
    }
    Ok(rows)
}

fn print_latency(rows: &[LatencyRow]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!("latency, ms: source CreateTime to readable on the target (exact, a consumer reading the target broker directly, fetch.wait.max.ms={FETCH_WAIT_MS}) and to kmirror's acknowledgement (its kmirror_delivery_latency_seconds histogram, interpolated within buckets); src: the same records read from the source broker directly (the rig's floor); one run per load");
    println!(
        "{:<62} {:>6} {:>20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "what",
        "load",
        "records/s asked/sent",
        "records",
        "p50",
        "p99",
        "max",
        "ack p50",
        "ack p99",
        "src p50",
        "src p99"
    );
    let ms = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
    for r in rows {
        println!(
            "{:<62} {:>5}% {:>20} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>9} {:>9} {:>9}",
            r.what,
            r.load_pct,
            format!(
                "{:.0}/{:.0}",
                r.capacity_records_per_s * f64::from(r.load_pct) / 100.0,
                r.offered_records_per_s
            ),
            r.records,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            ms(r.ack_p50_ms),
            ms(r.ack_p99_ms),
            ms(r.source_p50_ms),
            ms(r.source_p99_ms),
        );
    }
}

/// Prints the rows as a table.
fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<62} {:<44} {:>22} {:>20} {:>12} {:>10} {:>10} {:>13} {:>16} {:>10}",
        "what",
        "scenario",
        "records/s",
        "MB/s",
        "CPU-s/GB",
        "RSS MB",
        "start-up s",
        "start-up CPU-s",
        "broker CPU-s/GB",
        "busy cores"
    );
    let f = |x: &Figure, p: usize| format!("{:.*} [{:.*}..{:.*}]", p, x.median, p, x.min, p, x.max);
    // Rows without a figure (the ceilings have no process of their own) show "-".
    let cell = |x: &Option<Figure>, p: usize| {
        x.as_ref()
            .map_or("-".into(), |m| format!("{:.*}", p, m.median))
    };
    for r in rows {
        println!(
            "{:<62} {:<44} {:>22} {:>20} {:>12} {:>10} {:>10} {:>13} {:>16} {:>10}",
            r.what,
            r.scenario.label(),
            f(&r.records_per_s, 0),
            f(&r.mb_per_s, 1),
            cell(&r.cpu_s_per_gb, 2),
            cell(&r.peak_rss_mb, 0),
            cell(&r.startup_s, 2),
            cell(&r.startup_cpu_s, 2),
            cell(&r.broker_cpu_s_per_gb, 2),
            cell(&r.busy_cores, 2),
        );
    }
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("bare-loop") {
        return bare_loop(&argv[1..]);
    }
    let args = parse_args()?;
    let dir = tempfile::Builder::new()
        .prefix("kmirror-bench-")
        .tempdir()?;
    let settings = format!(
        "all clients: fetch.wait.max.ms={FETCH_WAIT_MS} (tansu holds fetches for the full wait); producers: acks=all, max.in.flight=1, murmur2 partitioner, queue.buffering.max.messages 11000 (the \"queue free\" rows: 1000000); kmirror: defaults (--queue.size 10000, 100000 in the distance mode; --queue.bytes 64MiB) with --offset.commit.interval.ms {COMMIT_INTERVAL_MS}; brokers: tansu 0.6.0, memory storage, loopback; {} repetition(s), median [min..max]",
        args.reps
    );
    let mut settings = settings;
    for var in [
        "KMIRROR_BENCH_KMIRROR_ARGS",
        "KMIRROR_BENCH_CONSUMER_EXTRA",
        "KMIRROR_BENCH_PRODUCER_EXTRA",
        "KMIRROR_BENCH_KMIRROR_B",
    ] {
        if let Ok(v) = std::env::var(var) {
            settings.push_str(&format!("; EXPERIMENT {var}={v}"));
        }
    }
    println!("machine: {}\nsettings: {settings}", machine());
    if let Some(rtt_ms) = args.rtt_ms {
        return wan_main(dir.path(), &args, rtt_ms, &settings);
    }
    let main_s = Scenario {
        record_size: args.record_size,
        partitions: 8,
        records: args.records,
        streams: 1,
    };
    let mut rows = scenario(dir.path(), &main_s, &args, true)?;
    let median = |what: &str| {
        rows.iter()
            .find(|r| r.what == what)
            .map(|r| r.mb_per_s.median)
    };
    let ceiling = match (median(CONSUME_ROW), median(PRODUCE_ROW)) {
        (Some(c), Some(p)) => Some(c.min(p)),
        (c, p) => c.or(p),
    };
    let (km, py, bare) = (median(KMIRROR_ROW), median(PYTHON_ROW), median(BARE_ROW));
    let both = median(BOTH_ROW);
    let both_free = median(BOTH_FREE_ROW);
    let produce_free = median(PRODUCE_FREE_ROW);
    let km_cpu = rows
        .iter()
        .find(|r| r.what == KMIRROR_ROW)
        .and_then(|r| r.cpu_s_per_gb.clone());

    let small = if args.quick { 20_000 } else { 100_000 };
    let mut scaling = vec![
        Scenario {
            record_size: 100,
            partitions: 8,
            records: small,
            streams: 1,
        },
        Scenario {
            record_size: 1024,
            partitions: 8,
            records: small,
            streams: 1,
        },
        Scenario {
            record_size: 65536,
            partitions: 8,
            records: small / 20,
            streams: 1,
        },
        Scenario {
            record_size: 1024,
            partitions: 1,
            records: small,
            streams: 1,
        },
        Scenario {
            record_size: 1024,
            partitions: 64,
            records: small,
            streams: 1,
        },
        Scenario {
            record_size: 1024,
            partitions: 8,
            records: small,
            streams: 2,
        },
        Scenario {
            record_size: 1024,
            partitions: 8,
            records: small,
            streams: 4,
        },
    ];
    if args.quick {
        scaling.truncate(3);
    }
    if args.main_only {
        scaling.clear();
    }
    for s in &scaling {
        rows.extend(scenario(dir.path(), s, &args, false)?);
    }

    print_table(&rows);
    let km_rps = rows
        .iter()
        .find(|r| r.what == KMIRROR_ROW && r.scenario.records == main_s.records)
        .map(|r| r.records_per_s.median);
    let latency = latency_rows(
        dir.path(),
        &args,
        &[LatencyConfig {
            what: format!("loopback, {KMIRROR_ROW}"),
            capacity_rps: km_rps,
            producer_extra: "",
            one_way: None,
        }],
    )?;
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let ratios = serde_json::json!({
        "kmirror_vs_ceiling": ratio(km, ceiling),
        "kmirror_vs_python": ratio(km, py),
        "kmirror_vs_bare_loop": ratio(km, bare),
        "bare_loop_vs_ceiling": ratio(bare, ceiling),
        "ceiling_mb_per_s": ceiling,
        "kmirror_vs_both_at_once": ratio(km, both),
        "bare_loop_vs_both_at_once": ratio(bare, both),
        "both_at_once_mb_per_s": both,
        "kmirror_vs_unconstrained_both_at_once": ratio(km, both_free),
        "bare_loop_vs_unconstrained_both_at_once": ratio(bare, both_free),
        "unconstrained_both_at_once_mb_per_s": both_free,
        "unconstrained_produce_mb_per_s": produce_free,
    });
    let show = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
    println!();
    println!("rates of mirror processes: first to last committed offset (polled every 20 ms, commits every {COMMIT_INTERVAL_MS} ms); start-up before the first commit has its own columns; CPU-s/GB is the mirror's CPU in the measured window, RSS the whole process's peak; broker CPU and busy cores (of {}) cover the measured window", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!("--num.streams rows include the test broker's rebalances: tansu has no join barrier, so each stream joining rebalances the group again, and it holds each follower's JoinGroup for 3 s");
    println!(
        "ceiling (lower of consume-only and produce-only): {} MB/s",
        show(ceiling)
    );
    println!(
        "kmirror / ceiling: {}   (target >= 0.9)",
        show(ratio(km, ceiling))
    );
    println!(
        "kmirror / python peer: {}   (target >= 3.5)",
        show(ratio(km, py))
    );
    println!(
        "bare loop (no bookkeeping) / ceiling: {}; kmirror / bare loop: {}   (what the rig allows a client that pays nothing for safety)",
        show(ratio(bare, ceiling)),
        show(ratio(km, bare))
    );
    println!(
        "consume and produce at once: {} MB/s; kmirror / that: {}, bare loop / that: {}   (what the rig allows a pipeline whose two halves and both brokers share its cores)",
        show(both),
        show(ratio(km, both)),
        show(ratio(bare, both))
    );
    println!(
        "consume and produce at once, producer queue free: {} MB/s; kmirror / that: {}   (target >= 0.9), bare loop / that: {}   (the unconstrained bound: what the brokers can take)",
        show(both_free),
        show(ratio(km, both_free)),
        show(ratio(bare, both_free))
    );
    if let Some(c) = &km_cpu {
        println!("kmirror CPU: {:.2} CPU-s/GB   (target <= 4)", c.median);
    }
    let rss: Vec<String> = rows
        .iter()
        .filter(|r| r.what == KMIRROR_ROW)
        .map(|r| {
            format!(
                "{} records: {:.0} MB",
                r.scenario.records,
                r.peak_rss_mb.as_ref().map_or(0.0, |m| m.median)
            )
        })
        .collect();
    println!("kmirror peak RSS by run: {}", rss.join(", "));
    // Flatness within one run: the same process, a tenth of the way and at
    // the end (the process is past start-up by then).
    if let Some(r) = rows.iter().find(|r| r.what == KMIRROR_ROW) {
        if let (Some(t), Some(p)) = (&r.tenth_rss_mb, &r.peak_rss_mb) {
            println!(
                "kmirror peak RSS in the {}-record run: {:.0} MB when {} records were committed, {:.0} MB at the end   (target: flat, under 120)",
                r.scenario.records,
                t.median,
                r.scenario.records / 10,
                p.median
            );
        }
    }
    write_results(&args.out, &settings, &rows, &ratios, &latency)
}
