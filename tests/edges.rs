//! Records lost at the edges (issue #18): start positions, timestamps,
//! commit failures and stops under backpressure. Each test runs the no-loss
//! checker over what it mirrored.

mod support;

use std::time::Duration;

use support::*;

/// Case 1: with `auto.offset.reset=latest`, a partition the group never
/// committed must get its start position committed as soon as it is
/// assigned. Otherwise a process killed before its first delivery leaves
/// no committed offset, the restart starts at the (new) end again, and
/// everything produced in between is skipped.
///
/// The topic is created empty, so "latest" is offset 0 on tansu too (tansu
/// with `memory://` answers ListOffsets(latest) with the last batch's base
/// offset + 1, which on a non-empty topic is below the true end).
#[test]
fn latest_start_is_committed_at_assignment() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("latest", 2);
    let group = random_name("mm");
    let (c, p) = rig.properties(
        &group,
        &[
            "c:auto.offset.reset=latest",
            &format!("c:group.instance.id={group}-a"),
        ],
    );
    let args = mirror_args(&c, &p, &topic, &[]);
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-0.log"));
    let assigned = await_condition(Duration::from_secs(120), || {
        km.output().contains("partitions assigned").then_some(())
    });
    assert!(assigned.is_some(), "never assigned:\n{}", km.output());
    km.kill9();

    let w = Workload {
        records: 1000,
        keys: 50,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), &topic, &w).unwrap();
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-1.log"));
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(120),
    );
    km.stop_ok();
    check_mirror_and_commits(&rig, &group, &topic, w.records, Partitioning::ByKey);
}

/// Case 8: a source record without a timestamp reaches the target without
/// one. librdkafka sends a timestamp of 0 (what "none" used to be passed
/// as) as the current time, so the target got a time the source never had.
#[test]
fn record_without_timestamp_stays_without_timestamp() {
    use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    let rig = Rig::start();
    let topic = rig.topic_on_both("nots", 1);
    let tag = random_name("nots");
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = rig
        .source_conn()
        .client_config()
        .set("acks", "all")
        .create()
        .unwrap();
    let n = 100;
    for i in 0..n {
        let value = format!("{tag}:{i:06}");
        // -1 is Kafka's "no timestamp" (a consumer sees NotAvailable).
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(&topic)
                    .payload(value.as_bytes())
                    .timestamp(-1),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let source = read_source(&rig.source_conn(), &topic, n);
    assert!(
        source.iter().all(|r| r.timestamp.is_none()),
        "the rig broker kept -1 as no timestamp: {:?}",
        source[0].timestamp
    );
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &[]),
        &rig.dir.path().join("km.log"),
    );
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        n,
        Duration::from_secs(120),
    );
    km.stop_ok();
    // The checker compares timestamps too: a target record stamped with
    // the current time does not match its source record.
    let (source, target, _) = check_mirror(&rig, &topic, n, Partitioning::ByKey);
    assert!(target.iter().all(|r| r.timestamp.is_none()));
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
}

/// Case 4: a stop while a record waits for room in the producer queue
/// (QueueFull; here the target broker is stopped and the queue holds 1 KiB)
/// ends the wait: kmirror exits within the shutdown timeout instead of
/// waiting forever, the record is not counted as delivered, and a restart
/// mirrors everything.
#[test]
fn stop_during_queue_full_ends_the_wait() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("qfull", 1);
    let w = Workload {
        records: 2100,
        keys: 30,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..100).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &["p:queue.buffering.max.kbytes=1"]);
    let addr = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &[
            "--abort.on.send.failure",
            "false",
            "--shutdown.timeout.ms",
            "2000",
            "--metrics.addr",
            &addr,
            "--progress.interval.ms",
            "200",
        ],
    );
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-0.log"));
    let ends = [(0, 100i64)].into();
    km.await_committed(
        &rig.source_conn(),
        &group,
        &topic,
        &ends,
        Duration::from_secs(120),
    );
    signal_pid(rig.target.pid(), "STOP");
    cluster::produce_range(&rig.source_conn(), &topic, &w, 100..w.records).unwrap();
    // The target holds nothing now: records pile up to the 1 KiB queue and
    // the consumer waits on QueueFull.
    let piled = await_condition(Duration::from_secs(120), || {
        let (_, body) = http_get(&addr, "/metrics")?;
        let v = parse_prometheus(&body)
            .get("kmirror_records_in_flight")
            .copied()?;
        (v >= 5.0).then_some(v)
    });
    assert!(piled.is_some(), "records never piled up:\n{}", km.output());
    km.signal("TERM");
    let status = km.wait_timeout(Duration::from_secs(120));
    signal_pid(rig.target.pid(), "CONT");
    let status = status.unwrap_or_else(|| {
        panic!(
            "kmirror did not stop while waiting on QueueFull:\n{}",
            km.output()
        )
    });
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("not acknowledged"), "{out}");
    assert!(
        !out.contains("DROPPED"),
        "nothing failed, nothing dropped:\n{out}"
    );

    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-1.log"));
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    km.stop_ok();
    check_mirror_and_commits(&rig, &group, &topic, w.records, Partitioning::ByKey);
}
