//! Observability end to end: `kmirror lag`, the metrics and health
//! endpoint, progress lines.
//!
//! The source is librdkafka's mock cluster: tansu 0.6.0 (memory storage)
//! answers ListOffsets(latest) with the last batch's base offset + 1, so
//! lag computed from its watermarks would be wrong; the mock's are exact.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use support::*;

/// Runs `kmirror lag --format json` and returns the parsed report.
fn lag_json(args: &[String]) -> serde_json::Value {
    let out = Command::new(kmirror_bin())
        .arg("lag")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kmirror lag failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

/// High watermarks of every partition of `topic`.
fn high_watermarks(conn: &ClusterConn, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let c: BaseConsumer = conn.client_config().create().unwrap();
    (0..partitions)
        .map(|p| {
            let (_, high) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            (p, high)
        })
        .collect()
}

/// Checks every row of a lag report against the group's committed offsets
/// and the source's watermarks; returns the total lag.
fn assert_lag_exact(
    report: &serde_json::Value,
    conn: &ClusterConn,
    group: &str,
    topic: &str,
    partitions: i32,
) -> i64 {
    let committed = cluster::committed_offsets(conn, group, topic).unwrap();
    let highs = high_watermarks(conn, topic, partitions);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), partitions as usize, "{report}");
    let mut total = 0;
    for r in rows {
        let p = r["partition"].as_i64().unwrap() as i32;
        assert_eq!(r["topic"], topic);
        assert_eq!(r["group"], group);
        let c = committed[&p].unwrap_or(0);
        assert_eq!(r["current_offset"].as_i64(), committed[&p], "partition {p}");
        assert_eq!(
            r["log_end_offset"].as_i64(),
            Some(highs[&p]),
            "partition {p}"
        );
        assert_eq!(r["lag"].as_i64(), Some(highs[&p] - c), "partition {p}");
        total += highs[&p] - c;
    }
    assert_eq!(report["total_lag"].as_i64(), Some(total));
    total
}

/// A mirror stopped midway leaves exact per-partition lag; a second run
/// exposes metrics that parse and match what it mirrored, logs progress,
/// and leaves lag 0.
#[test]
fn lag_is_exact_midway_and_zero_after_completion_metrics_match() {
    let rig = Rig::start();
    let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
    let topic = random_name("lag");
    let partitions = 4;
    mock.create_topic(&topic, partitions, 1).unwrap();
    rig.target_conn().create_topic(&topic, partitions).unwrap();
    let source = ClusterConn::plaintext(mock.bootstrap_servers());
    let w = Workload {
        records: 6000,
        keys: 200,
        ..Default::default()
    };
    cluster::produce_range(&source, &topic, &w, 0..4000).unwrap();
    let group = random_name("mm");
    let c = mock_consumer_properties(rig.dir.path(), &mock.bootstrap_servers(), &group);
    let (_, p) = rig.properties(&group, &[]);
    let args = mirror_args(&c, &p, &topic, &["--queue.size", "50"]);
    // lag needs only the consumer side, like kafka-consumer-groups.sh.
    let lag_args: Vec<String> = vec![
        "--consumer.config".into(),
        c.display().to_string(),
        "--whitelist".into(),
        topic.clone(),
        "--allow.plaintext".into(),
    ];

    // Before anything ran: nothing committed, lag is the whole log.
    let before = lag_json(&lag_args);
    assert_eq!(before["total_lag"].as_i64(), Some(4000), "{before}");
    assert!(before["rows"][0]["current_offset"].is_null());

    // First run: stopped with SIGTERM once something was committed.
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("first.log"));
    // Generous deadlines: start-up checks against the mock cluster wait
    // out request timeouts (it answers no admin requests).
    let some = await_condition(Duration::from_secs(240), || {
        let c = cluster::committed_offsets(&source, &group, &topic).ok()?;
        (c.values().flatten().sum::<i64>() > 0).then_some(())
    });
    assert!(some.is_some(), "{}", km.output());
    km.stop_ok();
    // More records after the stop: lag is certainly not zero.
    cluster::produce_range(&source, &topic, &w, 4000..w.records).unwrap();
    let midway = lag_json(&lag_args);
    let lag = assert_lag_exact(&midway, &source, &group, &topic, partitions);
    assert!(
        lag >= 2000,
        "at least the records produced after the stop: {midway}"
    );
    let committed_before: i64 = cluster::committed_offsets(&source, &group, &topic)
        .unwrap()
        .values()
        .flatten()
        .sum();

    // Second run, with the metrics endpoint and frequent progress lines.
    let addr = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let mut run2 = args.clone();
    run2.extend(
        ["--metrics.addr", &addr, "--progress.interval.ms", "300"]
            .iter()
            .map(|s| s.to_string()),
    );
    let mut km = Kmirror::spawn(&run2, &rig.dir.path().join("second.log"));
    let early = await_condition(Duration::from_secs(60), || http_get(&addr, "/healthz"));
    assert_eq!(early.map(|r| r.0), Some(200), "{}", km.output());
    let ready = await_condition(Duration::from_secs(240), || {
        http_get(&addr, "/readyz").filter(|r| r.0 == 200)
    });
    assert!(ready.is_some(), "{}", km.output());
    // While it runs, every partition has its member: CONSUMER-ID, HOST, CLIENT-ID.
    let ends = high_watermarks(&source, &topic, partitions);
    km.await_committed(&source, &group, &topic, &ends, Duration::from_secs(120));
    // Counters after completion: this run mirrored exactly what the first left.
    let mirrored = (w.records as i64 - committed_before) as f64;
    let series = await_condition(Duration::from_secs(30), || {
        let (status, body) = http_get(&addr, "/metrics")?;
        assert_eq!(status, 200);
        let m = parse_prometheus(&body);
        (m.get(&format!(
            "kmirror_records_mirrored_total{{topic=\"{topic}\"}}"
        )) == Some(&mirrored))
        .then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "records counter never reached {mirrored}:\n{:?}",
            http_get(&addr, "/metrics")
        )
    });
    // The series of one partition, whatever the source cluster's label.
    let of = |name: &str, p: i32| {
        let tail = format!(",topic=\"{topic}\",partition=\"{p}\"}}");
        series
            .iter()
            .find(|(k, _)| k.starts_with(&format!("{name}{{cluster=")) && k.ends_with(&tail))
            .map(|(_, v)| *v)
    };
    for (p, end) in &ends {
        assert_eq!(
            of("kmirror_committed_offset", *p),
            Some(*end as f64),
            "{series:?}"
        );
        assert!(of("kmirror_last_commit_timestamp_seconds", *p).unwrap() > 1e9);
    }
    assert!(series[&format!("kmirror_mirrored_bytes_total{{topic=\"{topic}\"}}")] > mirrored);
    // Every delivery of this run is one observation of the latency
    // histogram (the source records carry their producer's CreateTime).
    assert_eq!(
        series.get("kmirror_delivery_latency_seconds_count"),
        Some(&mirrored),
        "{series:?}"
    );
    assert_eq!(
        series.get("kmirror_delivery_latency_seconds_bucket{le=\"+Inf\"}"),
        Some(&mirrored)
    );
    assert_eq!(series.get("kmirror_queue_size"), Some(&50.0));
    assert!(series.contains_key("kmirror_records_in_flight"));
    assert!(series
        .keys()
        .any(|k| k.starts_with("kmirror_build_info{version=")));
    assert!(km.output().contains("progress:"), "{}", km.output());
    // The consumer's own lag (refreshed every few seconds) reaches 0 on
    // every partition once everything is mirrored.
    let caught_up = await_condition(Duration::from_secs(30), || {
        let m = parse_prometheus(&http_get(&addr, "/metrics")?.1);
        let lags: Vec<f64> = (0..partitions)
            .filter_map(|p| {
                let tail = format!(",topic=\"{topic}\",partition=\"{p}\"}}");
                m.iter()
                    .find(|(k, _)| k.starts_with("kmirror_consumer_lag{") && k.ends_with(&tail))
                    .map(|(_, v)| *v)
            })
            .collect();
        (lags.len() == partitions as usize && lags.iter().all(|l| *l == 0.0)).then_some(())
    });
    assert!(caught_up.is_some(), "{:?}", http_get(&addr, "/metrics"));
    km.stop_ok();

    let done = lag_json(&lag_args);
    assert_eq!(
        assert_lag_exact(&done, &source, &group, &topic, partitions),
        0
    );

    // The table form, as kafka-consumer-groups.sh --describe prints it,
    // without a topic filter (the group's topics), and with the run's own
    // command line (its --producer.config and run-only flags are accepted
    // and not read).
    for extra in [
        &[][..],
        &[
            "--producer.config".to_string(),
            p.display().to_string(),
            "--offset.commit.interval.ms".into(),
            "500".into(),
        ][..],
    ] {
        let out = Command::new(kmirror_bin())
            .arg("lag")
            .args([
                "--consumer.config",
                c.to_str().unwrap(),
                "--allow.plaintext",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines.len(), partitions as usize + 1, "{table}");
        assert_eq!(
            lines[0],
            [
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
                "LATENCY",
                "SKIPPED"
            ],
            "{table}"
        );
        for l in &lines[1..] {
            // Caught up (no latency), and no member after the stop.
            assert_eq!(
                (l[0], l[1], l[5], l[6], l[9], l[10]),
                (group.as_str(), topic.as_str(), "0", "-", "-", "0"),
                "{table}"
            );
        }
    }
}

/// A metrics address that cannot be bound stops the run before it starts.
#[test]
fn unusable_metrics_address_is_an_error() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("badaddr", 1);
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &["--metrics.addr", &addr]),
        &rig.dir.path().join("km.log"),
    );
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .expect("kmirror exits");
    assert_eq!(status.code(), Some(1), "{}", km.output());
    assert!(km.output().contains("--metrics.addr"), "{}", km.output());
}

/// Runs `kmirror audit verify FILE --key KEY`.
fn audit_verify(file: &Path, key: &Path) -> std::process::Output {
    audit_verify_keys(file, &[key])
}

/// `kmirror audit verify FILE --key K1 --key K2 ...` (a trail with key rotations).
fn audit_verify_keys(file: &Path, keys: &[&Path]) -> std::process::Output {
    let mut cmd = Command::new(kmirror_bin());
    cmd.args(["audit", "verify"]).arg(file);
    for k in keys {
        cmd.arg("--key").arg(k);
    }
    cmd.output().unwrap()
}

/// A fresh 32-byte audit key in `dir`, mode 0600.
fn audit_key(dir: &Path) -> std::path::PathBuf {
    audit_key_named(dir, "audit.key")
}

/// A fresh 32-byte audit key `dir/name`, mode 0600.
fn audit_key_named(dir: &Path, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join(name);
    let bytes: [u8; 32] = rand::random();
    std::fs::write(&key, bytes).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

/// The seal `kmirror audit verify --key KEY` uses.
fn seal_of(key: &Path) -> kmirror::observe::audit::Seal {
    use kmirror::observe::audit::{key::AuditKey, Seal};
    Seal::Keyed(std::sync::Arc::new(AuditKey::load(key).unwrap()))
}

/// The trail verifies (`kmirror audit verify` and the library), and its
/// ranges cover each partition's committed offsets exactly: from 0 up to
/// the commit, no gap, no overlap, nothing past it; each range's hash
/// matches the records re-read from the source, and they landed on `topic`.
fn assert_trail_covers_committed(
    trail: &Path,
    key: &Path,
    source: &[Record],
    topic: &str,
    partitions: i32,
    committed: &BTreeMap<i32, Option<i64>>,
) {
    use kmirror::observe::audit;
    let ok = audit_verify(trail, key);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let entries = audit::verify(trail, None, &[seal_of(key)]).unwrap().entries;
    for p in 0..partitions {
        let of_p: Vec<&audit::AuditEntry> = entries
            .iter()
            .filter(|e| e.topic == topic && e.partition == p)
            .collect();
        let mut next = 0;
        for e in &of_p {
            assert_eq!(
                e.first_offset, next,
                "gap or overlap in partition {p}: {e:?}"
            );
            assert_eq!(e.records as i64, e.last_offset - e.first_offset + 1);
            let recs: Vec<&Record> = source
                .iter()
                .filter(|r| {
                    r.partition == p && (e.first_offset..=e.last_offset).contains(&r.offset)
                })
                .collect();
            assert_eq!(recs.len() as u64, e.records);
            let digests: Vec<[u8; 32]> = recs
                .iter()
                .map(|r| {
                    audit::record_digest(
                        r.key.as_deref(),
                        r.value.as_deref(),
                        r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
                        r.timestamp,
                    )
                })
                .collect();
            assert_eq!(e.sha256, audit::range_hash(&digests), "{e:?}");
            let landed: i64 = e
                .target
                .iter()
                .map(|t| t.last_offset - t.first_offset + 1)
                .sum();
            assert_eq!(landed, e.records as i64, "{e:?}");
            assert!(e.target.iter().all(|t| t.topic == topic));
            assert_eq!(e.source_principal, "ANONYMOUS");
            next = e.last_offset + 1;
        }
        assert_eq!(
            next,
            committed[&p].unwrap_or(0),
            "partition {p} audited exactly up to the commit"
        );
    }
}

/// With `--audit.log`, across a kill -9, a restart, a run that aborts on a
/// send failure, and a last run: the trail's ranges cover each partition's
/// committed offsets exactly (no gap, no overlap, nothing past the commit,
/// also right after the abort), their hashes match the source records, the
/// chain verifies, and editing one line makes `kmirror audit verify` fail
/// at that line.
#[test]
fn audit_trail_covers_committed_offsets_across_kill9_and_abort() {
    use kmirror::observe::audit;
    let rig = Rig::start();
    let partitions = 3;
    let topic = rig.topic_on_both("audit", partitions);
    let w = Workload {
        records: 4000,
        keys: 100,
        headers: 2,
        ..Default::default()
    };
    // One record (1500) too large for the abort run's producer.
    let big = Workload {
        value_size: 20_000,
        ..w.clone()
    };
    let source_conn = rig.source_conn();
    cluster::produce_range(&source_conn, &topic, &w, 0..1500).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let trail = rig.dir.path().join("audit.jsonl");
    let key = audit_key(rig.dir.path());
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &[
            "--queue.size",
            "100",
            "--audit.log",
            trail.to_str().unwrap(),
            "--audit.key",
            key.to_str().unwrap(),
        ],
    );
    let read_source = |n: usize| {
        cluster::read_all(
            &source_conn,
            &topic,
            n,
            Duration::from_millis(500),
            Duration::from_secs(120),
        )
        .unwrap()
    };

    // Run 1: the target accepts at most 10 kB per request, so the large
    // record stops the mirror (exit 1, naming it).
    cluster::produce_range(&source_conn, &topic, &big, 1500..1501).unwrap();
    cluster::produce_range(&source_conn, &topic, &w, 1501..2500).unwrap();
    let source = read_source(2500);
    let large = source
        .iter()
        .find(|r| r.value.as_ref().is_some_and(|v| v.len() >= 20_000))
        .expect("the large record is on the source");
    let _ = rig.properties(&group, &["p:max.request.size=10000"]);
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("aborted.log"));
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("kmirror did not abort:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("send failure"), "{out}");
    assert!(
        out.contains(&format!(
            "record {topic} [{}] offset {}",
            large.partition, large.offset
        )),
        "{out}"
    );
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    let at = committed[&large.partition];
    assert!(
        at.is_none_or(|o| o <= large.offset),
        "committed {at:?} passes the failed record"
    );
    // Right after the abort: the trail covers exactly what was committed.
    assert_trail_covers_committed(&trail, &key, &source, &topic, partitions, &committed);

    // Run 2 (the large record fits again): killed with SIGKILL once it
    // committed past the abort.
    let _ = rig.properties(&group, &[]);
    let before: i64 = committed.values().flatten().sum();
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("killed.log"));
    let more = await_condition(Duration::from_secs(120), || {
        let c = cluster::committed_offsets(&source_conn, &group, &topic).ok()?;
        (c.values().flatten().sum::<i64>() > before).then_some(())
    });
    assert!(more.is_some(), "{}", km.output());
    km.kill9();

    // Run 3: mirrors everything.
    cluster::produce_range(&source_conn, &topic, &w, 2500..w.records).unwrap();
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("last.log"));
    let source = read_source(w.records);
    assert_eq!(source.len(), w.records);
    let ends = checker::end_offsets(&source);
    km.await_committed(
        &source_conn,
        &group,
        &topic,
        &ends,
        Duration::from_secs(120),
    );
    km.stop_ok();
    // The target holds everything committed, duplicates from the kill aside.
    let v = Command::new(kmirror_bin())
        .arg("verify")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    assert_trail_covers_committed(&trail, &key, &source, &topic, partitions, &committed);

    // Editing one line (here the middle one's record count) breaks it there.
    let text = std::fs::read_to_string(&trail).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    assert!(lines.len() >= 3, "{text}");
    let k = lines.len() / 2;
    let e: audit::AuditEntry = serde_json::from_str(&lines[k]).unwrap();
    lines[k] = lines[k].replacen(
        &format!("\"records\":{}", e.records),
        &format!("\"records\":{}", e.records + 1),
        1,
    );
    let edited = rig.dir.path().join("edited.jsonl");
    std::fs::write(&edited, lines.join("\n") + "\n").unwrap();
    let bad = audit_verify(&edited, &key);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains(&format!("line {}:", k + 1)), "{err}");
}

/// Commits `ends` for `group` on `topic`, as a mirror that finished would have.
fn commit_offsets(conn: &ClusterConn, group: &str, topic: &str, ends: &BTreeMap<i32, i64>) {
    let c: BaseConsumer = conn
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (p, o) in ends {
        tpl.add_partition_offset(topic, *p, rdkafka::Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
}

/// `kmirror verify` passes on a faithful copy and fails, naming the
/// difference, on a target with a deleted, an altered or a reordered record.
#[test]
fn verify_detects_deleted_altered_and_reordered_records() {
    let rig = Rig::start();
    let w = Workload {
        records: 400,
        keys: 40,
        headers: 1,
        ..Default::default()
    };
    let n = w.records;
    let k = 123; // the doctored record; k + keys has the same key
    let doctored = Workload {
        tag: "doctored".into(),
        ..w.clone()
    };
    type Batches<'a> = Vec<(&'a Workload, std::ops::Range<usize>)>;
    let cases: Vec<(&str, Batches, Option<&str>)> = vec![
        ("faithful", vec![(&w, 0..n)], None),
        (
            "deleted",
            vec![(&w, 0..k), (&w, k + 1..n)],
            Some("1 missing"),
        ),
        (
            "altered",
            vec![(&w, 0..k), (&doctored, k..k + 1), (&w, k + 1..n)],
            Some("1 missing"),
        ),
        (
            "reordered",
            vec![
                (&w, 0..k),
                (&w, k + w.keys..k + w.keys + 1),
                (&w, k + 1..k + w.keys),
                (&w, k..k + 1),
                (&w, k + w.keys + 1..n),
            ],
            Some("1 out of order"),
        ),
    ];
    for (name, batches, want) in cases {
        let topic = rig.topic_on_both(name, 2);
        cluster::produce(&rig.source_conn(), &topic, &w).unwrap();
        for (wl, range) in batches {
            cluster::produce_range(&rig.target_conn(), &topic, wl, range).unwrap();
        }
        let group = random_name("mm");
        let source = cluster::read_all(
            &rig.source_conn(),
            &topic,
            n,
            Duration::from_millis(300),
            Duration::from_secs(60),
        )
        .unwrap();
        commit_offsets(
            &rig.source_conn(),
            &group,
            &topic,
            &checker::end_offsets(&source),
        );
        let (c, p) = rig.properties(&group, &[]);
        let out = Command::new(kmirror_bin())
            .arg("verify")
            .args(mirror_args(&c, &p, &topic, &[]))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report = format!("{name}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("{n} source records")), "{report}");
        match want {
            None => {
                assert_eq!(out.status.code(), Some(0), "{report}");
                assert!(stdout.contains("target matches source"), "{report}");
            }
            Some(diff) => {
                assert_eq!(out.status.code(), Some(1), "{report}");
                assert!(stdout.contains(diff), "{report}");
                assert!(stdout.starts_with("DIFF"), "{report}");
            }
        }
    }
}

/// `/readyz` follows authentication. The target's listener is stopped
/// while records flow, then comes back with the mirror user's password
/// changed: `/readyz` answers 503 naming the target (and
/// `kmirror_authenticated{side="target"}` is 0) before kmirror stops: an
/// authentication failure is fatal (src/pipeline/errors.rs), with a message
/// naming the target. Nothing committed is missing; with the password back,
/// a restart is ready again and mirrors everything, nothing lost.
#[test]
fn readyz_turns_unready_when_the_target_rejects_the_credentials() {
    use Operation::*;
    use PatternType::Literal;
    use ResourceType::*;
    const MIRROR: &str = "User:mirror";
    const PW: &str = "mirror-pw";
    let mut rig = SecuredRig::start(&[("mirror", PW)]);
    let partitions = 2;
    let topic = rig.topic("auth", partitions, true);
    let group = random_name("mm");
    rig.source.grant(&[
        allow_acl(Topic, &topic, Literal, MIRROR, Read),
        allow_acl(Topic, &topic, Literal, MIRROR, Describe),
        allow_acl(Group, &group, Literal, MIRROR, Read),
        allow_acl(Group, &group, Literal, MIRROR, Describe),
    ]);
    // Given again to each restarted target listener.
    let target_acls = vec![
        allow_acl(Topic, &topic, Literal, MIRROR, Write),
        allow_acl(Topic, &topic, Literal, MIRROR, Describe),
    ];
    rig.target.grant(&target_acls);
    let w = Workload {
        records: 3000,
        keys: 50,
        value_size: 64,
        ..Default::default()
    };
    let source_conn = rig.source.admin();
    let read = |conn: &ClusterConn, n: usize, idle_ms: u64| {
        cluster::read_all(
            conn,
            &topic,
            n,
            Duration::from_millis(idle_ms),
            Duration::from_secs(120),
        )
        .unwrap()
    };
    cluster::produce_range(&source_conn, &topic, &w, 0..1000).unwrap();
    let (c, p) = rig.plain_properties(&group, "mirror", PW);
    let addr = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &["--metrics.addr", &addr, "--shutdown.timeout.ms", "10000"],
    );
    let gauge = |side: &str| {
        let m = parse_prometheus(&http_get(&addr, "/metrics")?.1);
        m.get(&format!("kmirror_authenticated{{side=\"{side}\"}}"))
            .copied()
    };
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("first.log"));
    let ready = await_condition(Duration::from_secs(240), || {
        http_get(&addr, "/readyz").filter(|r| r.0 == 200)
    });
    assert!(ready.is_some(), "{}", km.output());
    let ends = checker::end_offsets(&read(&source_conn, 1000, 300));
    km.await_committed(
        &source_conn,
        &group,
        &topic,
        &ends,
        Duration::from_secs(120),
    );
    assert_eq!(gauge("target"), Some(1.0));
    assert_eq!(gauge("source"), Some(1.0));

    // The target goes away while records arrive: they wait in flight.
    rig.target.stop_listener();
    cluster::produce_range(&source_conn, &topic, &w, 1000..2000).unwrap();
    let waiting = await_condition(Duration::from_secs(60), || {
        let m = parse_prometheus(&http_get(&addr, "/metrics")?.1);
        (m.get("kmirror_records_in_flight").copied()? > 0.0).then_some(())
    });
    assert!(waiting.is_some(), "{}", km.output());
    // It comes back no longer accepting the mirror's password.
    rig.target
        .restart_listener(&[("mirror", "changed-pw")], |o| {
            o.acls = target_acls.clone()
        });
    let unready = await_condition(Duration::from_secs(90), || {
        http_get(&addr, "/readyz")
            .filter(|r| r.0 == 503 && r.1.contains("not ready: auth_failed target"))
    });
    let (_, body) =
        unready.unwrap_or_else(|| panic!("/readyz never named the target:\n{}", km.output()));
    assert!(body.contains(" since 20"), "{body}");
    assert!(!body.contains(PW) && !body.contains("changed-pw"), "{body}");
    assert!(!body.contains("auth_failed source"), "{body}");
    // A reason code, not librdkafka's text (which names brokers and the
    // mechanism): that stays in the log.
    for raw in [
        "SASL",
        "Authentication failed",
        "127.0.0.1",
        "sasl_plaintext",
    ] {
        assert!(!body.contains(raw), "{raw} in {body}");
    }
    // The endpoint serves until the stop completes (in-flight records are
    // given --shutdown.timeout.ms), so the gauge can be read now.
    assert_eq!(gauge("target"), Some(0.0), "{}", km.output());
    assert_eq!(gauge("source"), Some(1.0));
    // Once the failure stops the run, /readyz also says so, by code only.
    let stopping = await_condition(Duration::from_secs(60), || {
        http_get(&addr, "/readyz").filter(|r| r.1.contains("not ready: fatal_error"))
    });
    let (_, body) =
        stopping.unwrap_or_else(|| panic!("/readyz never named the fatal error:\n{}", km.output()));
    assert!(body.contains("auth_failed target"), "{body}");
    assert!(!body.contains(PW) && !body.contains("changed-pw"), "{body}");
    assert!(!body.contains("Authentication"), "{body}");
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("kmirror did not stop:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("target: Authentication") || out.contains("target: SaslAuthenticationFailed"),
        "{out}"
    );
    assert!(!out.contains(PW) && !out.contains("changed-pw"), "{out}");
    // Nothing committed is missing on the target.
    let source = read(&source_conn, 2000, 300);
    let target = read(&rig.target.admin(), 0, 1000);
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap_or_else(|v| panic!("{v}"));

    // The password accepted again: a restart is ready and finishes the job.
    rig.target
        .restart_listener(&[("mirror", PW)], |o| o.acls = target_acls.clone());
    cluster::produce_range(&source_conn, &topic, &w, 2000..w.records).unwrap();
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("second.log"));
    let ready = await_condition(Duration::from_secs(240), || {
        http_get(&addr, "/readyz").filter(|r| r.0 == 200)
    });
    assert!(ready.is_some(), "{}", km.output());
    let source = read(&source_conn, w.records, 300);
    assert_eq!(source.len(), w.records);
    let ends = checker::end_offsets(&source);
    km.await_committed(
        &source_conn,
        &group,
        &topic,
        &ends,
        Duration::from_secs(120),
    );
    assert_eq!(gauge("target"), Some(1.0));
    assert_eq!(http_get(&addr, "/readyz").map(|r| r.0), Some(200));
    km.stop_ok();
    let target = read(&rig.target.admin(), w.records, 1000);
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap_or_else(|v| panic!("{v}"));
    let report =
        checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(report.source_records, w.records, "{report}");
}

/// The audit trail against its own operators: a trail without a key, or
/// with a key others may read, does not start; a second kmirror on a
/// running mirror's trail is refused naming the holder while the first
/// keeps mirroring and auditing; cutting entries off the end or deleting
/// the file makes `kmirror audit verify` fail naming what is missing.
#[test]
fn audit_trail_is_single_writer_keyed_and_anchored() {
    use std::os::unix::fs::PermissionsExt;
    let rig = Rig::start();
    let topic = rig.topic_on_both("audit-guard", 2);
    let w = Workload {
        records: 3000,
        keys: 50,
        ..Default::default()
    };
    let source_conn = rig.source_conn();
    cluster::produce_range(&source_conn, &topic, &w, 0..1000).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let trail = rig.dir.path().join("guard.jsonl");
    let key = audit_key(rig.dir.path());
    let with = |extra: &[&str]| {
        let mut a = vec!["--audit.log", trail.to_str().unwrap()];
        a.extend_from_slice(extra);
        mirror_args(&c, &p, &topic, &a)
    };
    let exit_of = |args: &[String], log: &str| {
        let mut km = Kmirror::spawn(args, &rig.dir.path().join(log));
        let status = km
            .wait_timeout(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("kmirror did not exit:\n{}", km.output()));
        (status.code(), km.output())
    };

    // No key: refused as a configuration error, naming the fix.
    let (code, out) = exit_of(&with(&[]), "nokey.log");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--audit.key") && out.contains("--audit.unkeyed"),
        "{out}"
    );
    // A key others may read: refused, naming the file and `chmod 600`.
    let shared = rig.dir.path().join("shared.key");
    std::fs::write(&shared, [5u8; 32]).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = exit_of(
        &with(&["--audit.key", shared.to_str().unwrap()]),
        "shared.log",
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("chmod 600") && out.contains("shared.key"),
        "{out}"
    );
    assert!(!trail.exists(), "nothing written before the checks");

    let args = with(&["--audit.key", key.to_str().unwrap()]);
    let mut first = Kmirror::spawn(&args, &rig.dir.path().join("first.log"));
    let source = read_source(&source_conn, &topic, 1000);
    first.await_committed(
        &source_conn,
        &group,
        &topic,
        &checker::end_offsets(&source),
        Duration::from_secs(120),
    );
    // A second kmirror on the same trail (another group, so it would run).
    let (c2, p2) = rig.properties(&random_name("mm"), &[]);
    let mut second_args = mirror_args(&c2, &p2, &topic, &[]);
    second_args.extend(
        [
            "--audit.log",
            trail.to_str().unwrap(),
            "--audit.key",
            key.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let (code, out) = exit_of(&second_args, "second.log");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("in use by another kmirror (pid "), "{out}");
    // The first goes on mirroring and auditing.
    cluster::produce_range(&source_conn, &topic, &w, 1000..2000).unwrap();
    let source = read_source(&source_conn, &topic, 2000);
    first.await_committed(
        &source_conn,
        &group,
        &topic,
        &checker::end_offsets(&source),
        Duration::from_secs(120),
    );
    first.stop_ok();
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    assert_trail_covers_committed(&trail, &key, &source, &topic, 2, &committed);

    // Key rotation: the trail is handed to a new key, the mirror goes on
    // under it, and verify needs both keys.
    let new_key = audit_key_named(rig.dir.path(), "audit-2.key");
    let rotated = Command::new(kmirror_bin())
        .args(["audit", "rotate"])
        .arg(&trail)
        .arg("--key")
        .arg(&key)
        .arg("--new.key")
        .arg(&new_key)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(said.contains("rotated from key id"), "{said}");
    let (code, out) = exit_of(
        &with(&["--audit.key", key.to_str().unwrap()]),
        "retired.log",
    );
    assert_eq!(code, Some(1), "the retired key is refused:\n{out}");
    assert!(out.contains("not the given key"), "{out}");
    cluster::produce_range(&source_conn, &topic, &w, 2000..w.records).unwrap();
    let source = read_source(&source_conn, &topic, w.records);
    let mut after = Kmirror::spawn(
        &with(&["--audit.key", new_key.to_str().unwrap()]),
        &rig.dir.path().join("after.log"),
    );
    after.await_committed(
        &source_conn,
        &group,
        &topic,
        &checker::end_offsets(&source),
        Duration::from_secs(120),
    );
    after.stop_ok();
    let both = audit_verify_keys(&trail, &[&new_key, &key]);
    let said = String::from_utf8_lossy(&both.stdout);
    assert!(
        both.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&both.stderr)
    );
    assert!(said.contains("1 key rotation(s)"), "{said}");
    let records: u64 = said
        .split(", ")
        .find_map(|p| p.strip_suffix(" records")?.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert_eq!(records, w.records as u64, "{said}");
    let old_only = audit_verify(&trail, &key);
    let err = String::from_utf8_lossy(&old_only.stderr);
    assert_eq!(old_only.status.code(), Some(1), "{err}");
    assert!(err.contains("pass that key too"), "{err}");

    // The last 2 entries cut off: named.
    let text = std::fs::read_to_string(&trail).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    let cut: String = lines[..lines.len() - 2]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&trail, cut).unwrap();
    let bad = audit_verify_keys(&trail, &[&key, &new_key]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(err.contains("the last 2 entries are missing"), "{err}");
    // The file deleted: named.
    std::fs::remove_file(&trail).unwrap();
    let bad = audit_verify_keys(&trail, &[&key, &new_key]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(err.contains("is missing, but its anchor"), "{err}");
}

/// A failed audit append stops the mirror: the anchor's directory
/// disappears mid-run, so the next append fails; kmirror exits 1 naming
/// the audit log, and every committed offset is covered by the trail
/// (nothing was committed past what was audited).
#[test]
fn failed_audit_append_stops_the_mirror_committing_only_what_was_audited() {
    use kmirror::observe::audit;
    let rig = Rig::start();
    let topic = rig.topic_on_both("audit-fail", 2);
    let w = Workload {
        records: 4000,
        keys: 50,
        ..Default::default()
    };
    let source_conn = rig.source_conn();
    cluster::produce_range(&source_conn, &topic, &w, 0..1000).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let trail = rig.dir.path().join("fail.jsonl");
    let anchor_dir = rig.dir.path().join("anchors");
    std::fs::create_dir(&anchor_dir).unwrap();
    let anchor = anchor_dir.join("fail.anchor");
    let key = audit_key(rig.dir.path());
    let args = mirror_args(
        &c,
        &p,
        &topic,
        &[
            "--audit.log",
            trail.to_str().unwrap(),
            "--audit.key",
            key.to_str().unwrap(),
            "--audit.anchor",
            anchor.to_str().unwrap(),
        ],
    );
    let mut km = Kmirror::spawn(&args, &rig.dir.path().join("fail.log"));
    let source = read_source(&source_conn, &topic, 1000);
    km.await_committed(
        &source_conn,
        &group,
        &topic,
        &checker::end_offsets(&source),
        Duration::from_secs(120),
    );
    std::fs::remove_dir_all(&anchor_dir).unwrap();
    cluster::produce_range(&source_conn, &topic, &w, 1000..w.records).unwrap();
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("kmirror did not stop:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("audit log") && out.contains("anchor"), "{out}");
    // Entries read without the anchor (it is gone): the chain is intact
    // and covers every committed offset.
    let text = std::fs::read_to_string(&trail).unwrap();
    let seal = seal_of(&key);
    let mut audited: BTreeMap<i32, i64> = BTreeMap::new();
    let mut prev = audit::GENESIS.to_string();
    for line in text.lines() {
        let e: audit::AuditEntry = serde_json::from_str(line).unwrap();
        assert_eq!(e.prev, prev);
        assert!(seal.check(&e.body(), &e.hash), "{line}");
        prev = e.hash.clone();
        audited.insert(e.partition, e.last_offset + 1);
    }
    let committed = cluster::committed_offsets(&source_conn, &group, &topic).unwrap();
    let total: i64 = committed.values().flatten().sum();
    assert!(
        total < w.records as i64,
        "stopped before mirroring everything: {committed:?}"
    );
    for (p, c) in &committed {
        assert!(
            c.is_none_or(|c| c <= audited.get(p).copied().unwrap_or(0)),
            "partition {p}: committed {c:?} past the trail {audited:?}"
        );
    }
}

/// `kmirror lag` with two `--consumer.config` files: a CLUSTER column comes
/// first and each cluster's rows carry its own group. (Which member owns a
/// partition is not checked on a broker here: tansu 0.6 describes members
/// without their assignment and librdkafka's mock cluster does not describe
/// groups; `decodes_member_assignment` covers the decoding.)
#[test]
fn lag_has_a_cluster_column_with_two_sources() {
    let rig = Rig::start();
    let topic = rig.topic_on_both("lagm", 2);
    let group = random_name("mm");
    let (c, _) = rig.properties(&group, &[]);
    let lag_args = |extra: &[&str]| -> Vec<String> {
        [
            "--consumer.config",
            c.to_str().unwrap(),
            "--allow.plaintext",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    // A second source cluster (here the target, read by another group).
    let other = rig.dir.path().join("other.properties");
    std::fs::write(
        &other,
        format!(
            "bootstrap.servers={}\ngroup.id={group}-2\nsecurity.protocol=PLAINTEXT\n",
            rig.target.addr()
        ),
    )
    .unwrap();
    let out = Command::new(kmirror_bin())
        .arg("lag")
        .args(lag_args(&[
            "--consumer.config",
            other.to_str().unwrap(),
            "--whitelist",
            &topic,
        ]))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0][..3], ["CLUSTER", "GROUP", "TOPIC"], "{table}");
    assert_eq!(lines.len(), 5, "{table}");
    let second = format!("{group}-2");
    for l in &lines[1..] {
        let want = if l[0] == "source-1" {
            group.as_str()
        } else {
            second.as_str()
        };
        assert!(l[0] == "source-1" || l[0] == "source-2", "{table}");
        assert_eq!(l[1], want, "{table}");
    }
}
