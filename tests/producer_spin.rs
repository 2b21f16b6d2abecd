//! Issue #24's producer spin: librdkafka's broker thread of an idempotent
//! producer (kmirror's distance mode) spun while a partition's requests were
//! in flight and more records waited, instead of waiting for the link
//! (vendor/rdkafka-sys/KMIRROR-PATCHES.md, 0005). Measured as CPU time of
//! the `rdk:broker…` threads of this process (`/proc/self/task`), which is
//! why this file holds one fast test: nextest runs each test in its own
//! process, and the survey below is `#[ignore]`d.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use support::*;

/// Delivery reports counted: acknowledged records and failures.
#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    failed: AtomicU64,
}

#[derive(Clone, Default)]
struct Counting(Arc<Counts>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let c = if result.is_ok() {
            &self.0.delivered
        } else {
            &self.0.failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The producer settings of kmirror's distance mode as
/// src/config/producer.rs `producer_config` writes them for the default
/// `--queue.size` (10,000), with `extra` on top (later keys win).
fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> (ThreadedProducer<Counting>, Counting) {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("max.in.flight.requests.per.connection", "5")
        .set("enable.gapless.guarantee", "true")
        .set("message.send.max.retries", "2147483647")
        .set("message.timeout.ms", "0")
        .set("partitioner", "murmur2_random")
        .set("queue.buffering.max.messages", "11000");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let ctx = Counting::default();
    let p = c
        .create_with_context(ctx.clone())
        .expect("creating the producer");
    (p, ctx)
}

/// CPU time (user + system) the threads of this process whose name starts
/// with `rdk:broker` have used so far.
fn broker_threads_cpu() -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended
        };
        // "tid (comm) state ppid ... utime stime ...": comm may hold spaces,
        // so split after its closing parenthesis; utime and stime are
        // fields 14 and 15, i.e. 11 and 12 after it.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with("rdk:broker") {
            continue;
        }
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        ticks += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_s)
}

/// A 1 KiB record with a sequence number, to check order on the target.
fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i:010}:").into_bytes();
    v.resize(1024, b'x');
    v
}

/// Sends records `range` to partition 0, waiting while the queue is full.
fn send(p: &ThreadedProducer<Counting>, topic: &str, range: std::ops::Range<usize>) {
    for i in range {
        let v = value(i);
        let mut r = BaseRecord::<(), _>::to(topic).partition(0).payload(&v);
        loop {
            match p.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("producing to {topic}: {e}"),
            }
        }
    }
}

/// A tansu target behind the rig's delay proxy, `one_way` each way.
fn delayed_target(dir: &std::path::Path, one_way: Duration) -> DelayedTansu {
    DelayedTansu::start(
        one_way,
        TansuOptions {
            cluster_id: Some(random_name("target")),
            log_file: Some(dir.join("tansu-target.log")),
            ..Default::default()
        },
    )
    .expect("starting tansu behind the delay proxy")
}

/// With the target's answers held, requests in flight and more records
/// queued behind them, nothing can progress: the idempotent producer's
/// broker threads must then wait, using well under a tenth of a core over
/// 2 s (a spin uses a whole one). Then the answers are released and every
/// record arrives, once, in order.
#[test]
fn idempotent_producer_waits_for_held_answers_without_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let target = delayed_target(dir.path(), Duration::from_millis(1));
    let conn = ClusterConn::plaintext(target.bootstrap());
    let topic = random_name("spin");
    conn.create_topic(&topic, 1).unwrap();
    let (p, ctx) = producer(&target.bootstrap(), &[]);
    // Connected, producer id acquired, metadata known.
    send(&p, &topic, 0..1);
    p.flush(Duration::from_secs(30)).expect("first record");

    let proxy = &target.proxy;
    proxy.hold_responses(true);
    let at_hold = proxy.bytes_to_broker();
    send(&p, &topic, 1..101);
    // The broker has the first wave's request (~100 KiB): it is in flight.
    let sent = await_condition(Duration::from_secs(30), || {
        (proxy.bytes_to_broker() >= at_hold + 100 * 1024).then_some(())
    });
    assert!(sent.is_some(), "the first wave never reached the broker");
    // The second wave can only queue behind the first wave in flight.
    send(&p, &topic, 101..2101);
    let (cpu0, t0) = (broker_threads_cpu(), Instant::now());
    std::thread::sleep(Duration::from_secs(2)); // the measurement window
    let (cpu, wall) = (broker_threads_cpu() - cpu0, t0.elapsed());
    let delivered = ctx.0.delivered.load(Ordering::Relaxed);
    eprintln!(
        "held answers: broker threads used {cpu:?} CPU in {wall:?} ({:.3} cores), {delivered} delivered",
        cpu.as_secs_f64() / wall.as_secs_f64()
    );
    assert_eq!(
        delivered, 1,
        "answers were held, yet records were acknowledged"
    );
    assert!(
        cpu.as_secs_f64() < 0.1 * wall.as_secs_f64(),
        "the producer's broker threads spun while waiting for held answers: \
         {cpu:?} CPU in {wall:?}"
    );

    proxy.hold_responses(false);
    p.flush(Duration::from_secs(60))
        .expect("flush after the hold");
    assert_eq!(ctx.0.failed.load(Ordering::Relaxed), 0);
    assert_eq!(ctx.0.delivered.load(Ordering::Relaxed), 2101);
    let got = cluster::read_all(
        &conn,
        &topic,
        2101,
        Duration::from_millis(500),
        Duration::from_secs(60),
    )
    .unwrap();
    let values: Vec<Vec<u8>> = got.into_iter().filter_map(|r| r.value).collect();
    let expected: Vec<Vec<u8>> = (0..2101).map(value).collect();
    assert!(
        values == expected,
        "target holds {} records, not 0..2101 once in order",
        values.len()
    );
}

/// What each producer setting costs at 50 ms RTT (25 ms each way through
/// the delay proxy), 1 KiB records to 8 partitions, the queue kept full for
/// 8 s: MB/s acknowledged and the broker threads' CPU per wall second and
/// per GB, printed as a table. Asserts that every setting delivered without
/// a failure and that no setting's broker threads used a quarter of a core
/// (the distance mode's spin used 0.47 at this distance).
#[test]
#[ignore = "long tier: four settings for 8 s each at 50 ms RTT (about 40 s)"]
fn producer_settings_survey_at_50ms_rtt() {
    let dir = tempfile::tempdir().unwrap();
    let target = delayed_target(dir.path(), Duration::from_millis(25));
    let conn = ClusterConn::plaintext(target.bootstrap());
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("idempotent, 5 in flight (distance mode)", &[]),
        (
            "idempotent, 1 in flight",
            &[("max.in.flight.requests.per.connection", "1")],
        ),
        (
            "not idempotent, 5 in flight",
            &[
                ("enable.idempotence", "false"),
                ("enable.gapless.guarantee", "false"),
            ],
        ),
        (
            "not idempotent, 1 in flight (kmirror default)",
            &[
                ("enable.idempotence", "false"),
                ("enable.gapless.guarantee", "false"),
                ("max.in.flight.requests.per.connection", "1"),
            ],
        ),
    ];
    for (name, extra) in cases {
        let topic = random_name("survey");
        conn.create_topic(&topic, 8).unwrap();
        let (p, ctx) = producer(&target.bootstrap(), extra);
        let v = vec![b'x'; 1024];
        let (cpu0, t0) = (broker_threads_cpu(), Instant::now());
        while t0.elapsed() < Duration::from_secs(8) {
            match p.send(BaseRecord::<(), _>::to(&topic).payload(&v)) {
                Ok(()) => {}
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err((e, _)) => panic!("{e}"),
            }
        }
        let (cpu, wall) = (broker_threads_cpu() - cpu0, t0.elapsed());
        let bytes = ctx.0.delivered.load(Ordering::Relaxed) as f64 * 1024.0;
        eprintln!(
            "{name:48} {:7.1} MB/s  broker threads {:.2} cores  {:6.1} CPU-s/GB",
            bytes / 1e6 / wall.as_secs_f64(),
            cpu.as_secs_f64() / wall.as_secs_f64(),
            cpu.as_secs_f64() / (bytes / 1e9).max(1e-9)
        );
        p.flush(Duration::from_secs(120)).unwrap();
        assert!(bytes > 0.0, "{name}: nothing acknowledged in 8 s");
        assert_eq!(
            ctx.0.failed.load(Ordering::Relaxed),
            0,
            "{name}: failed deliveries"
        );
        let cores = cpu.as_secs_f64() / wall.as_secs_f64();
        assert!(
            cores < 0.25,
            "{name}: broker threads busy {cores:.2} cores while waiting on the link"
        );
    }
}
