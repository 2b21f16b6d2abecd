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
    let c = rig.dir.path().join("mock-consumer.properties");
    std::fs::write(
        &c,
        format!(
            "bootstrap.servers={}\ngroup.id={group}\nsecurity.protocol=PLAINTEXT\n",
            mock.bootstrap_servers()
        ),
    )
    .unwrap();
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
