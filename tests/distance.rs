//! The distance mode (`enable.idempotence=true` in the producer
//! properties: librdkafka's idempotent producer, up to 5 requests in
//! flight, gapless guarantee) under the faults the single-in-flight mode is
//! tested with: retriable produce errors and broker restarts (mock
//! cluster), kill -9 mid-stream and a target outage made by stopping the
//! rig's delay proxy (tansu, which implements InitProducerId and checks
//! produce sequence numbers). Every run ends with the checker.

mod support;

use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::*;

/// The producer lines of the distance mode, as a user writes them.
const IDEMPOTENT: &[&str] = &[
    "enable.idempotence=true",
    "max.in.flight.requests.per.connection=5",
];

fn p_lines(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| format!("p:{l}")).collect()
}

/// Retriable produce errors with 5 requests in flight: the batches behind a
/// failed one are retried in order (sequence numbers), nothing is lost,
/// keys stay in order and, as kmirror never restarted, nothing is
/// duplicated.
#[test]
fn idempotent_retriable_produce_errors_keep_order_without_duplicates() {
    let report = mirror_into_mock(IDEMPOTENT, |target, _| {
        use RDKafkaRespErr::*;
        // Failures between successes: with several requests in flight a
        // later request succeeds while an earlier one is retried, which
        // reorders records unless sequence numbers hold the later one back.
        let errors: Vec<RDKafkaRespErr> = [
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_NO_ERROR,
            RD_KAFKA_RESP_ERR_NO_ERROR,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NO_ERROR,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NO_ERROR,
            RD_KAFKA_RESP_ERR_NO_ERROR,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RD_KAFKA_RESP_ERR_NO_ERROR,
        ]
        .into_iter()
        .cycle()
        .take(80)
        .collect();
        target.mock.request_errors(RDKafkaApiKey::Produce, &errors);
    });
    eprintln!("idempotent, retriable errors: {report}");
    assert_eq!(report.duplicates, 0, "{report}");
}

/// The mock target's brokers go down mid-stream and come back.
#[test]
fn idempotent_target_broker_down_and_back_loses_nothing() {
    let report = mirror_into_mock(IDEMPOTENT, |target, km| {
        let started = await_condition(Duration::from_secs(60), || {
            km.output().contains("partitions assigned").then_some(())
        });
        assert!(started.is_some(), "{}", km.output());
        for id in 1..=3 {
            target.mock.broker_down(id).unwrap();
        }
        std::thread::sleep(Duration::from_secs(3));
        for id in 1..=3 {
            target.mock.broker_up(id).unwrap();
        }
    });
    eprintln!("idempotent, broker down and back: {report}");
}

/// kill -9 twice mid-stream on tansu, restart each time: nothing missing,
/// duplicates only as a replayed suffix (a new process is a new producer
/// id, so idempotence cannot dedupe across a restart; the committed prefix
/// bounds the replay).
#[test]
fn idempotent_survives_kill_9_mid_stream() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("wankill", 4);
    let w = Workload {
        records: 24_000,
        keys: 200,
        value_size: 100,
        ..Default::default()
    };
    let group = random_name("mm");
    let mut extra = p_lines(IDEMPOTENT);
    extra.push(format!("c:group.instance.id={group}-a"));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (c, p) = rig.properties(&group, &extra);
    let args = mirror_args(&c, &p, &topic, &["--queue.size", "2000"]);
    // Kill only a process that has committed something itself.
    let mut km = mirror_through_kill9_rounds(&rig, &args, &group, &topic, &w, 2);
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    km.stop_ok();
    assert!(
        km.output().contains("idempotent producer"),
        "not in the distance mode:\n{}",
        km.output()
    );
    let report = check_mirror_and_commits(&rig, &group, &topic, w.records, Partitioning::ByKey);
    eprintln!("idempotent, kill -9 x2: {report}");
}

/// The target is reached through the rig's delay proxy (10 ms each way);
/// the outage starts with the broker's answers held back (requests still
/// reach it and are appended: awaited as records in flight and request
/// bytes passed to the broker after the hold), for 1 s more, then the proxy stops for 4 s (every
/// connection dropped with the answers, new ones refused) and restarts.
/// kmirror rides it out; the producer sends the unacknowledged requests
/// again with their sequence numbers, so tansu answers the ones it already
/// has as duplicates and nothing is written twice. (With one request in
/// flight and no idempotence the same outage writes them twice.)
#[test]
fn idempotent_target_outage_through_the_proxy_loses_and_duplicates_nothing() {
    let report = proxy_outage(IDEMPOTENT);
    assert_eq!(report.duplicates, 0, "{report}");
}

fn proxy_outage(producer: &[&str]) -> checker::Report {
    let rig = Rig::start_with_target_delay(Duration::from_millis(10));
    let topic = rig.topic_on_both("wanout", 4);
    let w = Workload {
        records: 16_000,
        keys: 200,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..4_000).unwrap();
    let group = random_name("mm");
    let extra = p_lines(producer);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (c, p) = rig.properties(&group, &extra);
    let trail = rig.dir.path().join("trail.jsonl");
    let mut km = Kmirror::spawn(
        &mirror_args(
            &c,
            &p,
            &topic,
            &[
                // More than the whole workload: the queue never stays full
                // for a second, so the partitions are never paused. A pause
                // and resume was what failed this test's precondition
                // before: 2,000 in flight for 1 s while the first produce
                // round trip went through the proxy, the partitions paused,
                // and after resuming (mid-batch) the rig's tansu returned
                // nothing more for 60 s (3 of 5 runs; issue #18 case 0's
                // mid-batch fetch), so nothing was ever in flight to hold.
                "--queue.size",
                "20000",
                "--progress.interval.ms",
                "100",
                // The trail and the offset map see the records the broker
                // acknowledges as duplicates (tansu gives them no offset).
                "--audit.log",
                trail.to_str().unwrap(),
                "--audit.unkeyed",
                "--offset.map",
            ],
        ),
        &rig.dir.path().join("km.log"),
    );
    let proxy = rig.target_proxy.as_ref().unwrap();
    let flowing = await_condition(Duration::from_secs(120), || {
        (km.records_mirrored() > 0).then_some(())
    });
    assert!(flowing.is_some(), "never mirrored:\n{}", km.output());
    // First the broker's answers stop arriving while its requests still
    // reach it. Records produced from now on can only be sent, never
    // acknowledged, so once kmirror reports records in flight and the
    // proxy has passed a produce request's worth of bytes to the broker
    // after the hold, the broker has appended batches whose
    // acknowledgements the outage will lose: the producer must send them
    // again. Both are awaited, so the precondition does not depend on
    // timing (it once did: with the hold after the load, kmirror had
    // sometimes caught up and nothing was in flight).
    proxy.hold_responses(true);
    let held_at = km.output().len();
    let bytes_at_hold = proxy.bytes_to_broker();
    // More records keep arriving, in chunks, during the hold and the outage.
    let source = rig.source_conn();
    let (tw, tt) = (w.clone(), topic.clone());
    let more = std::thread::spawn(move || {
        for from in (4_000..12_000).step_by(500) {
            cluster::produce_range(&source, &tt, &tw, from..from + 500).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let during = await_condition(Duration::from_secs(60), || {
        let out = km.output();
        log_field_values(&out[held_at.min(out.len())..], "progress:", "in_flight")
            .max()
            .filter(|n| *n > 0)
    });
    assert!(
        during.is_some(),
        "nothing in flight during the hold:\n{}",
        km.output()
    );
    // More than 256 bytes is a produce request with records (kmirror sends
    // no other request here, and a metadata request is some 100 bytes;
    // one request of a few records is all that passes with one in flight,
    // five with the idempotent producer): records reached the broker
    // during the hold.
    let passed = await_condition(Duration::from_secs(60), || {
        (proxy.bytes_to_broker() > bytes_at_hold + 256).then_some(())
    });
    assert!(
        passed.is_some(),
        "no produce request reached the broker during the hold ({} bytes):\n{}",
        proxy.bytes_to_broker() - bytes_at_hold,
        km.output()
    );
    let passed_bytes = proxy.bytes_to_broker() - bytes_at_hold;
    std::thread::sleep(Duration::from_secs(1));
    proxy.stop();
    proxy.hold_responses(false);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        km.child.try_wait().unwrap().is_none(),
        "kmirror stopped during the outage:\n{}",
        km.output()
    );
    proxy.restart().unwrap();
    more.join().unwrap();
    cluster::produce_range(&rig.source_conn(), &topic, &w, 12_000..w.records).unwrap();
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(120),
    );
    km.stop_ok();
    let report = check_mirror_and_commits(&rig, &group, &topic, w.records, Partitioning::ByKey);
    let seal = [kmirror::observe::audit::Seal::Unkeyed];
    let audited = kmirror::observe::audit::verify(&trail, None, &seal)
        .unwrap_or_else(|e| panic!("the trail does not verify: {e}"));
    let records: u64 = audited.entries.iter().map(|e| e.records).sum();
    assert_eq!(records, w.records as u64, "every record audited once");
    eprintln!(
        "proxy outage of 5 s, {during:?} in flight and {passed_bytes} bytes to the broker during the hold ({producer:?}): {report}"
    );
    report
}

/// A sequence desynchronisation (the broker answers the head-of-line
/// produce request OUT_OF_ORDER_SEQUENCE_NUMBER: records before it are
/// missing on the broker) is fatal to the idempotent producer: kmirror
/// stops (exit 1) and commits only the prefix the target acknowledged, so
/// the next run mirrors the rest again; a gap is never committed past.
#[test]
fn idempotent_sequence_gap_is_fatal_and_commits_only_the_delivered_prefix() {
    let rig = Rig::start();
    let topic = random_name("gap");
    rig.source_conn().create_topic(&topic, 2).unwrap();
    let target = MockTarget::new(&topic, 2);
    let w = Workload {
        records: 4_000,
        keys: 50,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..2_000).unwrap();
    let group = random_name("mm");
    let (c, _) = rig.properties(&group, &[]);
    let p = target.producer_properties(&rig, &group, IDEMPOTENT);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &[]),
        &rig.dir.path().join("km.log"),
    );
    let committed_some = await_condition(Duration::from_secs(60), || {
        let c = cluster::committed_offsets(&rig.source_conn(), &group, &topic).ok()?;
        (c.values().flatten().sum::<i64>() > 0).then_some(())
    });
    assert!(committed_some.is_some(), "{}", km.output());
    target.mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER; 20],
    );
    cluster::produce_range(&rig.source_conn(), &topic, &w, 2_000..w.records).unwrap();
    let status = km
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("kmirror did not stop on a sequence gap:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.to_lowercase().contains("sequence"), "{out}");
    let source = read_source(&rig.source_conn(), &topic, w.records);
    let copy = cluster::read_all(
        &target.conn(),
        &topic,
        0,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .unwrap();
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &copy, &committed).unwrap();
    let committed_total: i64 = committed.values().flatten().sum();
    eprintln!(
        "sequence gap: exit 1, {} records on the target, {committed_total} committed of {}",
        copy.len(),
        w.records
    );
    assert!(
        (committed_total as usize) < w.records,
        "everything committed despite the gap:\n{out}"
    );
}
