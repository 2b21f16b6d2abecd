//! End-to-end mirror runs on the tansu rig, each checked by the no-loss
//! checker.

mod support;

use std::time::Duration;

use support::*;

/// 100,000 records, 8 partitions, 1,000 keys, headers and timestamps: every
/// record arrives byte-equal, per-key order holds, and after SIGTERM the
/// committed offsets equal the source end offsets.
#[test]
fn mirrors_100k_records_and_commits_everything() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("orders", 8);
    let w = Workload {
        records: 100_000,
        keys: 1000,
        value_size: 200,
        headers: 2,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), &topic, &w).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &["--num.streams", "2"]),
        &rig.dir.path().join("km.log"),
    );

    let source = km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    let ends = checker::end_offsets(&source);
    km.stop_ok();

    let (source, target, report) = check_mirror(&rig, &topic, w.records, Partitioning::ByKey);
    assert_eq!(report.duplicates, 0, "a clean run has no duplicates");
    assert_eq!(report.keys, 1000);
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
    for (p, e) in &ends {
        assert_eq!(committed[p], Some(*e), "partition {p}");
    }
    // Timestamps are the source's, not the target broker's.
    assert!(target
        .iter()
        .all(|r| r.timestamp.unwrap() >= cluster::BASE_TIMESTAMP_MS
            && r.timestamp.unwrap() < cluster::BASE_TIMESTAMP_MS + 100_000));
    assert!(
        km.output().contains("stopped cleanly: 100000 records"),
        "{}",
        km.output()
    );
}

/// kill -9 three times mid-stream while records keep arriving, restart each
/// time: nothing missing, duplicates only as a replayed suffix. Each process
/// is killed only after it committed something itself, so every kill hits a
/// mirror that is moving records.
///
/// The processes use static membership (`group.instance.id`), so a restart
/// takes the dead process's place at once. Without it the restart waits out
/// the dead member's session, and tansu 0.6 can then leave it with no
/// partitions for good: if the dead leader's session is found expired while
/// the new member's SyncGroup is handled, tansu takes the follower's empty
/// assignment as the group's, and a rejoin with unchanged metadata gets the
/// stored (empty) assignment back. Kafka waits for the leader's assignment.
#[test]
fn survives_kill_9_three_times() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("kill9", 4);
    let w = Workload {
        records: 60_000,
        keys: 200,
        value_size: 100,
        ..Default::default()
    };
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[&format!("c:group.instance.id={group}-a")]);
    let args = mirror_args(&c, &p, &topic, &["--queue.size", "2000"]);
    // More data arrives while each process runs; each is killed only once
    // it has committed some of it.
    let mut km = mirror_through_kill9_rounds(&rig, &args, &group, &topic, &w, 3);
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    km.stop_ok();
    let (source, target, report) = check_mirror(&rig, &topic, w.records, Partitioning::ByKey);
    eprintln!("kill -9 x3: {report}");
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
}

/// A record larger than the producer may send stops kmirror with a message
/// naming it; the committed offset of its partition does not pass it.
#[test]
fn send_failure_aborts_and_commits_only_before_the_record() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("toolarge", 1);
    let w = Workload {
        records: 300,
        keys: 10,
        value_size: 100,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..100).unwrap();
    let big = Workload {
        value_size: 20_000,
        ..w.clone()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &big, 100..101).unwrap();
    cluster::produce_range(&rig.source_conn(), &topic, &w, 101..300).unwrap();
    let group = random_name("mm");
    // The target accepts at most 10 kB per request.
    let (c, p) = rig.properties(&group, &["p:max.request.size=10000"]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &[]),
        &rig.dir.path().join("km.log"),
    );
    let status = km
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("kmirror did not abort:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("record {topic} [0] offset 100")),
        "{out}"
    );
    assert!(out.contains("send failure"), "{out}");
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    // Exactly the delivered prefix before the failed record: records 0..100
    // were acknowledged, so offset 100 is committed; neither more (loss)
    // nor "nothing committed" (which would also pass a broken abort path).
    assert_eq!(
        committed[&0],
        Some(100),
        "committed offset is not the delivered prefix before the failed record:\n{out}"
    );
    // What was committed is on the target.
    let source = cluster::read_all(
        &rig.source_conn(),
        &topic,
        300,
        Duration::from_millis(300),
        Duration::from_secs(60),
    )
    .unwrap();
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        0,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
    assert!(target
        .iter()
        .all(|r| r.value.as_ref().unwrap().len() < 20_000));
}

/// With --abort.on.send.failure=false the record is dropped, loudly, and
/// the rest is mirrored (MirrorMaker's old behaviour).
#[test]
fn send_failure_without_abort_drops_loudly() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("drop", 1);
    let w = Workload {
        records: 50,
        keys: 5,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..20).unwrap();
    cluster::produce_range(
        &rig.source_conn(),
        &topic,
        &Workload {
            value_size: 20_000,
            ..w.clone()
        },
        20..21,
    )
    .unwrap();
    cluster::produce_range(&rig.source_conn(), &topic, &w, 21..50).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &["p:max.request.size=10000"]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &["--abort.on.send.failure", "false"]),
        &rig.dir.path().join("km.log"),
    );
    let ends = [(0, 50i64)].into();
    km.await_committed(
        &rig.source_conn(),
        &group,
        &topic,
        &ends,
        Duration::from_secs(60),
    );
    km.stop_ok();
    let out = km.output();
    assert!(out.contains("DROPPED"), "{out}");
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        49,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(target.len(), 49);
}

/// Two processes in one group; one is stopped mid-stream (it leaves the
/// group), the other takes over its partitions and finishes: nothing missing.
#[test]
fn two_processes_share_a_group_and_one_leaves() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("shared", 6);
    let w = Workload {
        records: 40_000,
        keys: 300,
        ..Default::default()
    };
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &["--queue.size", "1000", "--progress.interval.ms", "200"],
    );
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..10_000).unwrap();
    let mut a = Kmirror::spawn(&args, &rig.dir.path().join("a.log"));
    let mut b = Kmirror::spawn(&args, &rig.dir.path().join("b.log"));
    let both = await_condition(Duration::from_secs(60), || {
        (a.output().contains("partitions assigned") && b.output().contains("partitions assigned"))
            .then_some(())
    });
    assert!(both.is_some(), "a:\n{}\nb:\n{}", a.output(), b.output());
    cluster::produce_range(&rig.source_conn(), &topic, &w, 10_000..25_000).unwrap();
    // a leaves only once both have moved records, so the hand-over is real.
    let both_moved = await_condition(Duration::from_secs(120), || {
        (a.records_mirrored() > 0 && b.records_mirrored() > 0).then_some(())
    });
    assert!(
        both_moved.is_some(),
        "a:\n{}\nb:\n{}",
        a.output(),
        b.output()
    );
    a.stop_ok();
    a.assert_took_part("a");
    cluster::produce_range(&rig.source_conn(), &topic, &w, 25_000..w.records).unwrap();
    b.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    b.stop_ok();
    b.assert_took_part("b");
    let (source, target, report) = check_mirror(&rig, &topic, w.records, Partitioning::ByKey);
    eprintln!("two processes, one leaving: {report}");
    // Every hand-over here is clean (a join, a stop): revoked partitions are
    // drained and committed first, and records of them fetched before the
    // revoke are not forwarded, so nothing is mirrored twice.
    assert_eq!(report.duplicates, 0, "{report}");
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
}

/// Two processes in one group; one is killed with kill -9 mid-stream. The
/// source is librdkafka's mock cluster, whose group coordinator expires a
/// dead member after the session timeout as Kafka does (tansu 0.6.0 keeps a
/// dead member in the group). The survivor finishes the job: nothing missing.
#[test]
fn two_processes_share_a_group_and_survive_one_killed() {
    let rig = Rig::start();
    let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
    let topic = random_name("shared9");
    mock.create_topic(&topic, 6, 1).unwrap();
    rig.target_conn().create_topic(&topic, 6).unwrap();
    let source_conn = ClusterConn::plaintext(mock.bootstrap_servers());
    let w = Workload {
        records: 30_000,
        keys: 300,
        ..Default::default()
    };
    let group = random_name("mm");
    let c = rig.dir.path().join("mock-consumer.properties");
    std::fs::write(
        &c,
        format!("bootstrap.servers={}\ngroup.id={group}\nsession.timeout.ms=6000\nheartbeat.interval.ms=500\nsecurity.protocol=PLAINTEXT\n", mock.bootstrap_servers()),
    )
    .unwrap();
    let (_, p) = rig.properties(&group, &[]);
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &["--queue.size", "1000", "--progress.interval.ms", "200"],
    );
    cluster::produce_range(&source_conn, &topic, &w, 0..10_000).unwrap();
    let mut a = Kmirror::spawn(&args, &rig.dir.path().join("a.log"));
    let mut b = Kmirror::spawn(&args, &rig.dir.path().join("b.log"));
    let both = await_condition(Duration::from_secs(60), || {
        (a.output().contains("partitions assigned") && b.output().contains("partitions assigned"))
            .then_some(())
    });
    assert!(both.is_some(), "a:\n{}\nb:\n{}", a.output(), b.output());
    cluster::produce_range(&source_conn, &topic, &w, 10_000..20_000).unwrap();
    // Killed only once both have moved records, so b really takes over.
    let both_moved = await_condition(Duration::from_secs(120), || {
        (a.records_mirrored() > 0 && b.records_mirrored() > 0).then_some(())
    });
    assert!(
        both_moved.is_some(),
        "a:\n{}\nb:\n{}",
        a.output(),
        b.output()
    );
    a.kill9();
    a.assert_took_part("a");
    cluster::produce_range(&source_conn, &topic, &w, 20_000..w.records).unwrap();
    let source = b.await_all_committed(
        &source_conn,
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    b.stop_ok();
    b.assert_took_part("b");
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        w.records,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap();
    let report =
        checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    eprintln!("two processes, one killed: {report}");
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
}

/// A topic created on the source after start is picked up, and with
/// --create.topics a missing target topic is created with the source's
/// partition count.
#[test]
fn picks_up_new_topics_and_creates_target_topics() {
    let rig = Rig::start();
    let prefix = random_name("dyn");
    let first = format!("{prefix}-a");
    rig.source_conn().create_topic(&first, 3).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(
            &c,
            &p,
            &format!("{prefix}-.*"),
            &["--create.topics", "--topic.refresh.interval.ms", "300"],
        ),
        &rig.dir.path().join("km.log"),
    );
    let w = Workload {
        records: 500,
        keys: 50,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), &first, &w).unwrap();
    let second = format!("{prefix}-b");
    rig.source_conn().create_topic(&second, 5).unwrap();
    let w2 = Workload {
        records: 700,
        keys: 50,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), &second, &w2).unwrap();
    for (t, n) in [(&first, 500), (&second, 700)] {
        let source = cluster::read_all(
            &rig.source_conn(),
            t,
            n,
            Duration::from_millis(300),
            Duration::from_secs(60),
        )
        .unwrap();
        km.await_committed(
            &rig.source_conn(),
            &group,
            t,
            &checker::end_offsets(&source),
            Duration::from_secs(60),
        );
    }
    km.stop_ok();
    assert_eq!(rig.target_conn().partition_count(&second).unwrap(), Some(5));
    check_mirror(&rig, &first, 500, Partitioning::ByKey);
    check_mirror(&rig, &second, 700, Partitioning::ByKey);
}

/// --preserve.partitions keeps partition numbers.
#[test]
fn preserve_partitions_keeps_partition_numbers() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("keep", 4);
    let w = Workload {
        records: 2000,
        keys: 0,
        ..Default::default()
    };
    cluster::produce(&rig.source_conn(), &topic, &w).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &["--preserve.partitions"]),
        &rig.dir.path().join("km.log"),
    );
    let source = cluster::read_all(
        &rig.source_conn(),
        &topic,
        2000,
        Duration::from_millis(300),
        Duration::from_secs(60),
    )
    .unwrap();
    km.await_committed(
        &rig.source_conn(),
        &group,
        &topic,
        &checker::end_offsets(&source),
        Duration::from_secs(60),
    );
    km.stop_ok();
    check_mirror(&rig, &topic, 2000, Partitioning::Preserve);
}

/// A committed offset outside the source partition (here past its end, as
/// after the topic was deleted and re-created) stops kmirror with a message
/// naming topic, partition and offset; nothing is mirrored and the committed
/// offset is left as it was. librdkafka's mock cluster is the source, since
/// its watermarks are exact.
#[test]
fn out_of_range_committed_offset_stops_instead_of_skipping() {
    let rig = Rig::start();
    let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
    let topic = random_name("recreated");
    mock.create_topic(&topic, 1, 1).unwrap();
    rig.target_conn().create_topic(&topic, 1).unwrap();
    let source_conn = ClusterConn::plaintext(mock.bootstrap_servers());
    cluster::produce(
        &source_conn,
        &topic,
        &Workload {
            records: 10,
            ..Default::default()
        },
    )
    .unwrap();
    let group = random_name("mm");
    // The group committed offset 500 before the topic was re-created with 10 records.
    drop(commit_offset(&source_conn, &group, &topic, 500));
    let out = mirror_from_mock_expecting_exit_1(&rig, &mock, &group, &topic);
    assert!(
        out.contains(&format!("{topic} [0]"))
            && out.contains("500")
            && out.contains("reset the group's offsets"),
        "{out}"
    );
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    assert_eq!(
        committed[&0],
        Some(500),
        "the committed offset is left for the operator to decide"
    );
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        0,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(target.is_empty(), "nothing mirrored");
}

/// SIGTERM and restart six times, a few seconds apart, while about 2,000
/// records/s keep arriving: every stop is clean (exit 0), nothing is
/// missing, duplicates only as a replayed suffix. Each restart resumes at a
/// committed offset that can fall inside a record batch, which the rig's
/// patched broker answers with that batch (rig/tests/broker.rs).
#[test]
fn sigterm_restarts_under_a_live_stream_lose_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let rig = Rig::start();
    let topic = rig.topic_on_both("restarts", 8);
    let w = Workload {
        records: usize::MAX / 2,
        keys: 500,
        ..Default::default()
    };
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let args = mirror_args(&c, &p, &topic, &["--progress.interval.ms", "200"]);
    let done = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(0));
    // About 2,000 records/s: 200 every 100 ms.
    let writer = {
        let (conn, topic, w) = (rig.source_conn(), topic.clone(), w.clone());
        let (done, produced) = (done.clone(), produced.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                let from = produced.load(Ordering::Acquire);
                cluster::produce_range(&conn, &topic, &w, from..from + 200).unwrap();
                produced.store(from + 200, Ordering::Release);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    for round in 0..6 {
        let mut km = Kmirror::spawn(&args, &rig.dir.path().join(format!("km-{round}.log")));
        // Stopped only once this process has mirrored records itself.
        let moved = await_condition(Duration::from_secs(120), || {
            (km.records_mirrored() > 0).then_some(())
        });
        assert!(moved.is_some(), "round {round}:\n{}", km.output());
        km.stop_ok();
    }
    done.store(true, Ordering::Release);
    writer.join().unwrap();
    let total = produced.load(Ordering::Acquire);
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("km-last.log"));
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        total,
        Duration::from_secs(180),
    );
    km.stop_ok();
    let report = check_mirror_and_commits(&rig, &group, &topic, total, Partitioning::ByKey);
    eprintln!("six SIGTERM restarts under a live stream: {report}");
}

/// The group committed offset 10, then the source deleted records past it
/// (librdkafka's mock cluster keeps 5 MiB per partition and trims the log
/// start beyond that; tansu has no DeleteRecords): kmirror stops with the
/// missing range instead of skipping to the log start, exit 1, nothing
/// mirrored, the committed offset left for the operator.
#[test]
fn committed_offset_below_log_start_stops_with_the_missing_range() {
    use rdkafka::consumer::Consumer;
    let rig = Rig::start();
    let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
    let topic = random_name("trimmed");
    mock.create_topic(&topic, 1, 1).unwrap();
    rig.target_conn().create_topic(&topic, 1).unwrap();
    let source_conn = ClusterConn::plaintext(mock.bootstrap_servers());
    let group = random_name("mm");
    let w = Workload {
        records: 800,
        value_size: 10_000,
        ..Default::default()
    };
    cluster::produce_range(&source_conn, &topic, &w, 0..20).unwrap();
    let committer = commit_offset(&source_conn, &group, &topic, 10);
    // 8 MB more: the mock trims the log start past offset 10.
    cluster::produce_range(&source_conn, &topic, &w, 20..w.records).unwrap();
    let (low, _) = committer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .unwrap();
    drop(committer);
    assert!(low > 10, "the mock did not trim the log (start {low})");
    let out = mirror_from_mock_expecting_exit_1(&rig, &mock, &group, &topic);
    let range = format!("{topic} [0]: records 10..{} were deleted", low - 1);
    assert!(out.contains(&range), "no {range:?} in:\n{out}");
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    assert_eq!(committed[&0], Some(10), "the committed offset moved");
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        0,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        target.is_empty(),
        "{} records mirrored past the gap",
        target.len()
    );
}

/// Two processes share a group without static membership while records
/// keep arriving; one is killed with kill -9. The survivor is given the
/// dead process's partitions once its session times out, and finishes the
/// job: nothing missing. (tansu 0.6.0's coordinator never rebalanced a
/// dead member's partitions to a live one: rig/tansu-patches/.)
#[test]
fn kill_9_takeover_with_a_live_stream() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("takeover", 8);
    let w = Workload {
        records: 24_000,
        keys: 300,
        ..Default::default()
    };
    let group = random_name("mm");
    let (c, p) = rig.properties(
        &group,
        &["c:session.timeout.ms=6000", "c:heartbeat.interval.ms=500"],
    );
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &["--queue.size", "1000", "--progress.interval.ms", "200"],
    );
    let mut a = Kmirror::spawn(&args, &rig.dir.path().join("a.log"));
    let b = Kmirror::spawn(&args, &rig.dir.path().join("b.log"));
    // Records arrive while both run, until the group has settled on 4 + 4
    // and both have moved records (tansu has no join barrier: the first
    // rebalances can briefly give one process everything).
    let mut produced = 0;
    let settled = await_condition(Duration::from_secs(120), || {
        if produced < 12_000 {
            cluster::produce_range(&rig.source_conn(), &topic, &w, produced..produced + 500)
                .unwrap();
            produced += 500;
        }
        (a.partitions_owned() == Some(4)
            && b.partitions_owned() == Some(4)
            && a.records_mirrored() > 0
            && b.records_mirrored() > 0)
            .then_some(())
    });
    assert!(settled.is_some(), "a:\n{}\nb:\n{}", a.output(), b.output());
    cluster::produce_range(&rig.source_conn(), &topic, &w, produced..12_000).unwrap();
    a.kill9();
    a.assert_took_part("a");
    cluster::produce_range(&rig.source_conn(), &topic, &w, 12_000..w.records).unwrap();
    // After a's session (6 s) the group rebalances and b owns all 8.
    let took_over = await_condition(Duration::from_secs(60), || {
        (b.partitions_owned() == Some(8)).then_some(())
    });
    assert!(
        took_over.is_some(),
        "b never took over a's partitions:\n{}",
        b.output()
    );
    let mut b = b;
    b.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    b.stop_ok();
    let report = check_mirror_and_commits(&rig, &group, &topic, w.records, Partitioning::ByKey);
    eprintln!("kill -9 takeover with a live stream: {report}");
}

/// Case 5: a deleted and re-created topic that grew past the old committed
/// offset was resumed there, silently skipping the new topic's first
/// records. kmirror stores the topic id with every commit (as the commit's
/// metadata) and stops when the committed offset belongs to another
/// incarnation, naming topic, partition and the records it would skip.
///
/// librdkafka's mock cluster is the source: it returns commit metadata and
/// topic ids. The rig's tansu returns no commit metadata, and drops a
/// deleted topic's committed offsets (so on tansu a re-created topic starts
/// at its beginning: see tests/edges.rs case12). The group's commit here
/// is the old incarnation's: offset 150, recorded with another topic id.
#[test]
fn case5_recreated_topic_is_not_resumed_at_the_old_offset() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let rig = Rig::start();
    let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
    let topic = random_name("recreated");
    mock.create_topic(&topic, 1, 1).unwrap();
    rig.target_conn().create_topic(&topic, 1).unwrap();
    let source_conn = ClusterConn::plaintext(mock.bootstrap_servers());
    let w = Workload {
        records: 300,
        ..Default::default()
    };
    cluster::produce(&source_conn, &topic, &w).unwrap();
    let group = random_name("mm");
    let committer: BaseConsumer = source_conn
        .client_config()
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut e = tpl.add_partition(&topic, 0);
    e.set_offset(rdkafka::Offset::Offset(150)).unwrap();
    e.set_metadata("kmirror:topic-id=AAAAAAAAAAAAAAAAAAAAAQ");
    committer.commit(&tpl, CommitMode::Sync).unwrap();
    let out = mirror_from_mock_expecting_exit_1(&rig, &mock, &group, &topic);
    assert!(
        out.contains(&format!(
            "{topic} [0]: the topic was deleted and re-created"
        )) && out.contains("would skip records 0..149"),
        "{out}"
    );
    let committed = committer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let e = committed.find_partition(&topic, 0).unwrap();
    assert_eq!(e.offset(), rdkafka::Offset::Offset(150), "left as it was");
}

/// Commits `offset` for partition 0 of `topic` as `group`; returns the
/// consumer that did it.
fn commit_offset(
    conn: &ClusterConn,
    group: &str,
    topic: &str,
    offset: i64,
) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let committer: BaseConsumer = conn
        .client_config()
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(offset))
        .unwrap();
    committer.commit(&tpl, CommitMode::Sync).unwrap();
    committer
}

/// Runs kmirror from the mock `source` (as `group`) into the rig's target,
/// asserting it stops by itself with exit 1; returns its output.
fn mirror_from_mock_expecting_exit_1(
    rig: &Rig,
    source: &rdkafka::mocking::MockCluster<'_, rdkafka::producer::DefaultProducerContext>,
    group: &str,
    topic: &str,
) -> String {
    let c = mock_consumer_properties(rig.dir.path(), &source.bootstrap_servers(), group);
    let (_, p) = rig.properties(group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, topic, &[]),
        &rig.dir.path().join("km.log"),
    );
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("kmirror did not stop:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    out
}

/// `--num.producers 3`: each target partition is written by one producer,
/// so with `--preserve.partitions` every partition keeps its order whatever
/// the records' keys (routed by key, two producers would write one target
/// partition and interleave it), and without it every key keeps its order.
#[test]
fn several_producers_keep_partitions_and_keys_in_order() {
    let rig = Rig::start();
    for (mode, partitioning) in [
        (Some("--preserve.partitions"), Partitioning::Preserve),
        (None, Partitioning::ByKey),
    ] {
        let topic = rig.topic_on_both("producers", 4);
        let w = Workload {
            records: 20_000,
            keys: 500,
            value_size: 100,
            ..Default::default()
        };
        cluster::produce_range(&rig.source_conn(), &topic, &w, 0..w.records).unwrap();
        let group = random_name("mm");
        let (c, p) = rig.properties(&group, &[]);
        let mut flags = vec!["--num.producers", "3"];
        flags.extend(mode);
        let mut km = Kmirror::spawn(
            &mirror_args(&c, &p, &topic, &flags),
            &rig.dir.path().join(format!("km-{}.log", topic)),
        );
        km.await_all_committed(
            &rig.source_conn(),
            &group,
            &topic,
            w.records,
            Duration::from_secs(120),
        );
        km.stop_ok();
        let report = check_mirror_and_commits(&rig, &group, &topic, w.records, partitioning);
        eprintln!("3 producers, {mode:?}: {report}");
    }
}
