//! Issue #18, case 0: offsets a fetch skips. A skip that transactions,
//! compaction or retention explain is counted and logged; one that nothing
//! explains (a broker that lost a batch, or answers a fetch with a later
//! batch than the one holding the offset asked for) stops the mirror with
//! the range, after committing only the delivered prefix.

mod support;

use std::time::Duration;

use kmirror_rig::checker::{self, Partitioning};
use kmirror_rig::cluster::{self, ClusterConn, Workload};
use support::*;

/// librdkafka's mock cluster is the source: the batch holding offsets
/// 10.. is removed from its log (kmirror's mock patch), so the fetch at 10
/// is answered with the next batch, as unpatched tansu 0.6.0 answers a
/// fetch inside a batch. kmirror mirrors 0..9, stops with exit 1 naming
/// the missing range, commits 10, and nothing past the gap reaches the
/// target.
#[test]
fn unexplained_gap_stops_the_mirror_with_the_range() {
    let rig = Rig::start();
    let mock = MockCluster::new(1).unwrap();
    let topic = random_name("gap");
    mock.create_topic(&topic, 1, 1).unwrap();
    rig.target_conn().create_topic(&topic, 1).unwrap();
    let source_conn = ClusterConn::plaintext(mock.bootstrap_servers());
    let w = Workload {
        records: 30,
        ..Default::default()
    };
    // Three producers, so three batches at least: 0.., 10.., 20...
    for chunk in [0..10, 10..20, 20..30] {
        cluster::produce_range(&source_conn, &topic, &w, chunk).unwrap();
    }
    mock.lose_message_set(&topic, 0, 10).unwrap();

    let group = random_name("mm");
    let c = mock_consumer_properties(rig.dir.path(), &mock.bootstrap_servers(), &group);
    let (_, p) = rig.properties(&group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &[]),
        &rig.dir.path().join("km.log"),
    );
    let status = km
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("kmirror did not stop:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    let marker = format!("{topic} [0]: records 10..");
    let at = out
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{out}"));
    let rest = &out[at + marker.len()..];
    let last: i64 = rest[..rest.find(' ').unwrap()].parse().unwrap();
    assert!(
        (10..20).contains(&last),
        "the gap must end inside the second chunk: {last}\n{out}"
    );
    assert!(
        rest.starts_with(&format!("{last} were never returned by the source")),
        "{out}"
    );

    // The committed offset is the gap's start, the target holds exactly
    // the delivered prefix.
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    assert_eq!(committed[&0], Some(10), "{out}");
    let source: Vec<_> = cluster::read_all(
        &source_conn,
        &topic,
        10,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap()
    .into_iter()
    .filter(|r| r.offset < 10)
    .collect();
    assert_eq!(source.len(), 10);
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        10,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(target.len(), 10, "records past the gap were mirrored");
    checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    checker::check_committed(&source, &target, &committed).unwrap();
}

/// Produces `n` records `tag:i` (keyed `key-i`) in one transaction of
/// `producer` on the mock, then ends it in the log as a coordinator would
/// (the mock's EndTxn writes no markers): its first offset is `first`.
/// Returns the offset after its marker.
fn transaction(
    producer: &rdkafka::producer::BaseProducer,
    mock: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    topic: &str,
    (tag, n, first): (&str, usize, i64),
    commit: bool,
) -> i64 {
    use rdkafka::producer::{BaseRecord, Producer};
    producer.begin_transaction().unwrap();
    for i in 0..n {
        let (k, v) = (format!("key-{i}"), format!("{tag}:{i}"));
        producer
            .send(BaseRecord::to(topic).key(&k).payload(&v))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    if commit {
        producer
            .commit_transaction(Duration::from_secs(30))
            .unwrap();
    } else {
        producer.abort_transaction(Duration::from_secs(30)).unwrap();
    }
    mock.append_transaction_marker(topic, 0, first, commit)
        .unwrap();
    first + n as i64 + 1
}

/// A committed, an aborted and a committed transaction on the source
/// (librdkafka's mock cluster, with the markers and the aborted list a
/// coordinator writes): offsets 0..9 committed, 10 its marker, 11..15
/// aborted, 16 their marker, 17..26 committed, 27 its marker. kmirror
/// mirrors the 20 committed records (checker), passes over 10..16 as one
/// skip explained by transactions (log line, and
/// `kmirror_skipped_offsets_total{reason="transactions"}` = 7), commits
/// 27 (with the count in the commit's metadata: `kmirror lag` shows
/// SKIPPED 7), and does not stop.
#[test]
fn transaction_skips_are_counted_not_stopped() {
    use rdkafka::producer::Producer;
    let rig = Rig::start();
    let mock: MockCluster<'static, _> = MockCluster::new(1).unwrap();
    let topic = random_name("txn");
    mock.create_topic(&topic, 1, 1).unwrap();
    rig.target_conn().create_topic(&topic, 1).unwrap();
    let source_conn = ClusterConn::plaintext(mock.bootstrap_servers());
    let producer: rdkafka::producer::BaseProducer = source_conn
        .client_config()
        .set("transactional.id", random_name("tx"))
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    let next = transaction(&producer, &mock, &topic, ("one", 10, 0), true);
    let next = transaction(&producer, &mock, &topic, ("two", 5, next), false);
    let end = transaction(&producer, &mock, &topic, ("three", 10, next), true);
    assert_eq!(end, 28);

    let group = random_name("mm");
    let c = mock_consumer_properties(rig.dir.path(), &mock.bootstrap_servers(), &group);
    let (_, p) = rig.properties(&group, &[]);
    let addr = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let trail = rig.dir.path().join("audit.jsonl");
    let mut km = Kmirror::spawn(
        &mirror_args(
            &c,
            &p,
            &topic,
            &[
                "--metrics.addr",
                &addr,
                "--audit.log",
                trail.to_str().unwrap(),
                "--audit.unkeyed",
            ],
        ),
        &rig.dir.path().join("km.log"),
    );
    let source = km.await_all_committed(&source_conn, &group, &topic, 20, Duration::from_secs(60));
    assert_eq!(source.len(), 20, "the aborted records are not read");
    assert!(source
        .iter()
        .all(|r| !r.value.as_deref().unwrap_or_default().starts_with(b"two:")));
    let series = format!("kmirror_skipped_offsets_total{{cluster=\"source\",topic=\"{topic}\",partition=\"0\",reason=\"transactions\"}}");
    let (status, body) = http_get(&addr, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    assert_eq!(
        parse_prometheus(&body).get(&series),
        Some(&7.0),
        "{body}\n{}",
        km.output()
    );
    let out = km.output();
    assert!(
        out.contains("offsets 10..16 skipped by the fetch: transactions"),
        "{out}"
    );
    km.stop_ok();
    let target = cluster::read_all(
        &rig.target_conn(),
        &topic,
        20,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .unwrap();
    checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    assert_eq!(committed[&0], Some(27));
    checker::check_committed(&source, &target, &committed).unwrap();
    // The audit trail verifies and names the skip in the entry holding
    // offset 17, the record after it.
    let seal = [kmirror::observe::audit::Seal::Unkeyed];
    let audited = kmirror::observe::audit::verify(&trail, None, &seal)
        .unwrap_or_else(|e| panic!("the trail does not verify: {e}"));
    let skipped: Vec<_> = audited
        .entries
        .iter()
        .flat_map(|e| {
            e.skipped
                .iter()
                .map(move |k| (e.first_offset, e.last_offset, k))
        })
        .map(|(first, last, k)| {
            assert!((first..=last).contains(&(k.last_offset + 1)));
            (k.first_offset, k.last_offset, k.reason.as_str())
        })
        .collect();
    assert_eq!(skipped, [(10, 16, "transactions")]);
    let records: u64 = audited.entries.iter().map(|e| e.records).sum();
    assert_eq!(records, 20);
    // The count travels with the committed offset: `kmirror lag` shows it.
    let out = std::process::Command::new(kmirror_bin())
        .arg("lag")
        .args(mirror_args(&c, &p, &topic, &["--json"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            &report["rows"][0]["current_offset"],
            &report["rows"][0]["skipped"]
        ),
        (&serde_json::json!(27), &serde_json::json!(7)),
        "{report}"
    );
}

/// The DescribeConfigs kmirror sends on its consumer's own handle, at the
/// first skip of offsets no batch covered, reads the topic's
/// `cleanup.policy`: `compact` for a topic created with it; `delete` for one
/// created without (tansu 0.6.0 lists only the configs a topic was created
/// with; kmirror takes a missing key as Kafka's default, `delete`).
#[test]
fn cleanup_policy_is_read_on_the_consumer_handle() {
    use kmirror::pipeline::skips::{cleanup_policy, policy_compacts};
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let rig = Rig::start();
    let plain = random_name("policy");
    rig.source_conn().create_topic(&plain, 1).unwrap();
    let compacted = random_name("compacted");
    let admin: AdminClient<_> = rig.source_conn().client_config().create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let created = rt
        .block_on(
            admin.create_topics(
                &[NewTopic::new(&compacted, 1, TopicReplication::Fixed(1))
                    .set("cleanup.policy", "compact")],
                &AdminOptions::new(),
            ),
        )
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let consumer: BaseConsumer = rig
        .source_conn()
        .client_config()
        .set("group.id", random_name("g"))
        .create()
        .unwrap();
    let rk = consumer.client();
    let policy = cleanup_policy(rk, &compacted, Duration::from_secs(10));
    assert_eq!(policy.as_deref(), Ok("compact"));
    assert!(policy_compacts(&policy.unwrap()));
    let policy = cleanup_policy(rk, &plain, Duration::from_secs(10));
    assert_eq!(policy.as_deref(), Ok("delete"));
    assert!(!policy_compacts(&policy.unwrap()));
}
