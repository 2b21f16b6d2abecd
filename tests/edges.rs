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
            // Above librdkafka's 1 KiB, so its QueueFull comes first (by
            // default kmirror would pause below it).
            "--queue.bytes",
            "1MiB",
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

/// Case 12: deleting a mirrored source topic while kmirror runs, then
/// re-creating it and writing to it. librdkafka 2.12.1 crashed (SIGSEGV in
/// its main thread, `rd_kafka_metadata_update_op` looking up a null topic
/// name) at the first fetch answer for the deleted topic, which the rig's
/// broker sends with a zero topic id and a leader tag; kmirror's librdkafka
/// is patched (vendor/rdkafka-sys/KMIRROR-PATCHES.md). Past the crash,
/// librdkafka neither noticed the deletion (for 5 minutes) nor ever fetched
/// the new topic (measured: 300 old records mirrored, none of the new); the
/// topic watcher now lets the vanished topic go and picks the new one up.
/// The rig's broker drops a deleted topic's committed offsets, so the new
/// topic starts at its beginning: every one of its records is mirrored
/// (where committed offsets survive, case 5 stops instead).
#[test]
fn case12_source_topic_deleted_and_recreated_mid_run() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("del", 2);
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let args = mirror_args(&c, &p, &topic, &["--topic.refresh.interval.ms", "500"]);
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-0.log"));
    mirror_old_incarnation(&rig, &km, &group, &topic);
    rig.source_conn().delete_topic(&topic).unwrap();
    let let_go = await_condition(Duration::from_secs(60), || {
        if let Some(s) = km.child.try_wait().unwrap() {
            panic!(
                "kmirror died when the topic was deleted: {s}\n{}",
                km.output()
            );
        }
        km.output().contains("partitions revoked").then_some(())
    });
    assert!(
        let_go.is_some(),
        "deleted topic never let go:\n{}",
        km.output()
    );
    rig.source_conn().create_topic(&topic, 2).unwrap();
    let new = Workload {
        records: 600,
        keys: 20,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), &topic, &new).unwrap();
    let source = km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        new.records,
        Duration::from_secs(120),
    );
    km.stop_ok();
    // The target topic holds the old topic's records too: check the new
    // topic against the target records it wrote.
    let target: Vec<Record> = cluster::read_all(
        &rig.target_conn(),
        &topic,
        300 + new.records,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap()
    .into_iter()
    .filter(|r| {
        r.value
            .as_ref()
            .is_some_and(|v| v.starts_with(new.tag.as_bytes()))
    })
    .collect();
    checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
}

/// Mirrors 300 records of `topic`'s first incarnation and waits until they
/// are committed.
fn mirror_old_incarnation(rig: &Rig, km: &Kmirror, group: &str, topic: &str) {
    let old = Workload {
        records: 300,
        keys: 20,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), topic, &old).unwrap();
    km.await_all_committed(
        &rig.source_conn(),
        group,
        topic,
        old.records,
        Duration::from_secs(120),
    );
}

/// Case 7: one bound for the whole stop. SIGTERM while the target is
/// stopped (SIGSTOP) with records in flight, three streams: each stream
/// drained for the full timeout, drained again when closing its consumer
/// revoked the same partitions, and the producers were flushed for the
/// full timeout after that (measured before: 18 s for a 6 s
/// `--shutdown.timeout.ms`). kmirror now exits within the bound, non-zero,
/// naming the records not delivered; the committed offsets stop at what
/// the target holds, and a restart with the target back mirrors everything.
#[test]
fn case7_sigterm_with_a_stalled_target_exits_within_the_bound() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("bound", 6);
    let w = Workload {
        records: 3000,
        keys: 60,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..1000).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &[
            "--num.streams",
            "3",
            "--shutdown.timeout.ms",
            "6000",
            "--progress.interval.ms",
            "200",
        ],
    );
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-0.log"));
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        1000,
        Duration::from_secs(120),
    );
    let paused = Paused::new(rig.target.pid());
    let log_at_pause = km.output().len();
    cluster::produce_range(&rig.source_conn(), &topic, &w, 1000..2000).unwrap();
    let in_flight = await_condition(Duration::from_secs(60), || {
        let out = km.output();
        log_field_values(
            &out[log_at_pause.min(out.len())..],
            "progress:",
            "in_flight",
        )
        .max()
        .filter(|n| *n > 0)
    });
    assert!(in_flight.is_some(), "nothing in flight:\n{}", km.output());
    let stopping = std::time::Instant::now();
    km.signal("TERM");
    let status = km.wait_timeout(Duration::from_secs(60));
    let took = stopping.elapsed();
    drop(paused);
    let out = km.output();
    let status = status.unwrap_or_else(|| panic!("no exit within 60 s:\n{out}"));
    assert!(
        took <= Duration::from_secs(8),
        "the stop took {took:?} for a 6 s bound:\n{out}"
    );
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("not acknowledged by the target"), "{out}");
    eprintln!("stop with a stalled target: {took:?}");
    restart_and_check(&rig, &args, &group, &topic, &w, 2000);
}

/// Case 7, the source side: SIGTERM while the source broker is stopped
/// (SIGSTOP) and delivered records wait for their commit (60 s commit
/// interval). The final commit waits for a coordinator that does not
/// answer; librdkafka's synchronous commit and close have no deadline of
/// their own, so kmirror did not exit (no exit within 60 s). Now the stop
/// ends at the bound, non-zero; nothing is lost.
#[test]
fn case7_sigterm_with_a_paused_source_exits_within_the_bound() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("srcstop", 2);
    let w = Workload {
        records: 2000,
        keys: 40,
        ..Default::default()
    };
    let group = random_name("mm");
    // A stop cut at the bound leaves the group without a LeaveGroup; the
    // restarted process takes the member's place by its static id (the
    // rig's broker never rebalanced the old member's partitions).
    let (c, p) = rig.properties(&group, &[&format!("c:group.instance.id={group}-a")]);
    let mut args = mirror_args(
        &c,
        &p,
        &topic,
        &[
            "--shutdown.timeout.ms",
            "5000",
            "--progress.interval.ms",
            "200",
        ],
    );
    let interval = args
        .iter()
        .position(|a| a == "--offset.commit.interval.ms")
        .unwrap();
    args[interval + 1] = "60000".into();
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-0.log"));
    let assigned = await_condition(Duration::from_secs(60), || {
        km.output().contains("partitions assigned").then_some(())
    });
    assert!(assigned.is_some(), "{}", km.output());
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..1000).unwrap();
    let delivered = await_condition(Duration::from_secs(60), || {
        (km.records_mirrored() >= 1000).then_some(())
    });
    assert!(delivered.is_some(), "{}", km.output());
    let paused = Paused::new(rig.source.pid());
    let stopping = std::time::Instant::now();
    km.signal("TERM");
    let status = km.wait_timeout(Duration::from_secs(60));
    let took = stopping.elapsed();
    drop(paused);
    let out = km.output();
    let status = status.unwrap_or_else(|| panic!("no exit within 60 s:\n{out}"));
    assert!(
        took <= Duration::from_secs(7),
        "the stop took {took:?} for a 5 s bound:\n{out}"
    );
    assert!(!status.success(), "{out}");
    assert!(out.contains("did not finish within"), "{out}");
    eprintln!("stop with a paused source: {took:?}, {status}");
    let restart = mirror_args(&c, &p, &topic, &[]);
    restart_and_check(&rig, &restart, &group, &topic, &w, 1000);
}

/// After a bounded stop: the committed offsets stop at what the target
/// holds; then the rest of `w` (from `produced`) is written, kmirror runs
/// again and the checker is clean.
fn restart_and_check(
    rig: &Rig,
    args: &[String],
    group: &str,
    topic: &str,
    w: &Workload,
    produced: usize,
) {
    let source = read_source(&rig.source_conn(), topic, produced);
    let target = cluster::read_all(
        &rig.target_conn(),
        topic,
        0,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .unwrap();
    let committed = cluster::committed_offsets(&rig.source_conn(), group, topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
    cluster::produce_range(&rig.source_conn(), topic, w, produced..w.records).unwrap();
    let mut km = Kmirror::spawn(args, &rig.dir.path().join("km-1.log"));
    km.await_all_committed(
        &rig.source_conn(),
        group,
        topic,
        w.records,
        Duration::from_secs(120),
    );
    km.stop_ok();
    check_mirror_and_commits(rig, group, topic, w.records, Partitioning::ByKey);
}
