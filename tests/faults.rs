//! Faults on the target: retriable produce errors and brokers going down and
//! coming back on librdkafka's in-process mock cluster, and a real tansu
//! target that stops answering (SIGSTOP) while records are in flight. The
//! source is a real tansu broker; every run ends with the checker.

mod support;

use std::time::Duration;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::*;

/// Retriable produce errors (leader moved, timeouts, not enough replicas)
/// are retried by the producer; nothing is lost and kmirror does not abort.
#[test]
fn retriable_produce_errors_are_retried_without_loss() {
    let report = mirror_into_mock(&[], |target, _| {
        use RDKafkaRespErr::*;
        let errors: Vec<RDKafkaRespErr> = [
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ]
        .into_iter()
        .cycle()
        .take(40)
        .collect();
        target.mock.request_errors(RDKafkaApiKey::Produce, &errors);
    });
    eprintln!("retriable errors: {report}");
}

/// The target's brokers go down mid-stream and come back: kmirror waits,
/// then delivers everything.
#[test]
fn target_broker_down_and_back_loses_nothing() {
    let report = mirror_into_mock(&[], |target, km| {
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
    eprintln!("broker down and back: {report}");
}

/// The real target broker stops answering for `outage` while kmirror has
/// records in flight to it, then answers again: every record arrives, the
/// stop is clean, the checker passes. `producer` lines go to the producer
/// properties (a short request timeout makes the outage span many).
fn tansu_target_outage(outage: Duration, producer: &[&str]) -> checker::Report {
    let rig = Rig::start();
    let topic = rig.topic_on_both("outage", 4);
    let w = Workload {
        records: 12_000,
        keys: 200,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..4_000).unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, producer);
    let addr = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let mut km = Kmirror::spawn(
        &mirror_args(
            &c,
            &p,
            &topic,
            &[
                "--queue.size",
                "2000",
                "--progress.interval.ms",
                "200",
                "--metrics.addr",
                &addr,
            ],
        ),
        &rig.dir.path().join("km.log"),
    );
    let flowing = await_condition(Duration::from_secs(120), || {
        (km.records_mirrored() > 0).then_some(())
    });
    assert!(flowing.is_some(), "never mirrored:\n{}", km.output());

    let paused = Paused::new(rig.target.pid());
    let paused_at = std::time::Instant::now();
    let log_at_pause = km.output().len();
    cluster::produce_range(&rig.source_conn(), &topic, &w, 4_000..8_000).unwrap();
    // The outage must catch records in flight, or it proves nothing.
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
    assert!(
        in_flight.is_some(),
        "no record in flight during the outage:\n{}",
        km.output()
    );
    assert_stall_visible(&km, &addr, outage.saturating_sub(paused_at.elapsed()));
    if let Some(rest) = outage.checked_sub(paused_at.elapsed()) {
        std::thread::sleep(rest);
    }
    assert!(
        km.child.try_wait().unwrap().is_none(),
        "kmirror stopped during a {outage:?} target outage:\n{}",
        km.output()
    );
    drop(paused);

    cluster::produce_range(&rig.source_conn(), &topic, &w, 8_000..w.records).unwrap();
    km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(240),
    );
    let ready = await_condition(Duration::from_secs(10), || {
        let (code, _) = http_get(&addr, "/readyz")?;
        let stall = parse_prometheus(&http_get(&addr, "/metrics")?.1)
            .get("kmirror_target_stall_seconds")
            .copied()?;
        (code == 200 && stall == 0.0).then_some(())
    });
    assert!(ready.is_some(), "still shown as stalled after the outage");
    km.stop_ok();
    let report = check_mirror_and_commits(&rig, &group, &topic, w.records, Partitioning::ByKey);
    eprintln!(
        "target outage of {outage:?} with {} records in flight: {report}",
        in_flight.unwrap()
    );
    report
}

/// Case 2 (visibility; issue #20 item 7): while records wait on a stalled
/// target, `kmirror_target_stall_seconds` counts the stall's age, `/readyz`
/// answers 503 `target_stalled`, and a warning line says so (repeated every
/// minute); all three clear once the target acknowledges again. Asserted
/// within `within` of the outage that remains.
fn assert_stall_visible(km: &Kmirror, addr: &str, within: Duration) {
    let shown = await_condition(within, || {
        let stall = parse_prometheus(&http_get(addr, "/metrics")?.1)
            .get("kmirror_target_stall_seconds")
            .copied()?;
        let (code, body) = http_get(addr, "/readyz")?;
        (stall >= 10.0 && code == 503 && body.contains("target_stalled")).then_some((stall, body))
    });
    let (stall, body) = shown
        .unwrap_or_else(|| panic!("the stall never showed (metric, /readyz):\n{}", km.output()));
    assert!(km.output().contains("target stalled:"), "{}", km.output());
    eprintln!("stall shown: {stall} s, /readyz: {body}");
}

/// A real tansu target paused for 20 s with records in flight: several
/// times the producer's request timeout, and twice the consumer's
/// `max.poll.interval.ms` (lowered from 300 s to 10 s for the test: a
/// consumer that stops polling while it waits for the target leaves its
/// group after that long). kmirror waits it out.
/// Also case 2's visibility test (`assert_stall_visible`).
#[test]
fn case2_tansu_target_paused_with_records_in_flight_loses_nothing() {
    tansu_target_outage(
        Duration::from_secs(20),
        &[
            "p:request.timeout.ms=3000",
            "c:session.timeout.ms=6000",
            "c:max.poll.interval.ms=10000",
        ],
    );
}

/// The same for 6 minutes, past librdkafka's default 300 s
/// `message.timeout.ms`, with default producer settings.
#[test]
#[ignore = "long tier: a 6-minute target outage"]
fn tansu_target_paused_six_minutes_loses_nothing() {
    tansu_target_outage(Duration::from_secs(360), &[]);
}

/// `--delivery.timeout.ms` reaches librdkafka: with a 2 s bound, a target
/// outage longer than that fails the sends and stops kmirror (non-zero exit,
/// the timeout named), where the default (no bound) rides it out as above.
#[test]
fn delivery_timeout_flag_bounds_a_target_outage() {
    let rig = Rig::start();
    let topic = random_name("bounded");
    rig.source_conn().create_topic(&topic, 2).unwrap();
    let target = MockTarget::new(&topic, 2);
    let w = Workload {
        records: 2_000,
        keys: 50,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..1_000).unwrap();
    let group = random_name("mm");
    let (c, _) = rig.properties(&group, &[]);
    let p = target.producer_properties(&rig, &group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &["--delivery.timeout.ms", "2000"]),
        &rig.dir.path().join("km.log"),
    );
    let started = await_condition(Duration::from_secs(60), || {
        km.output().contains("partitions assigned").then_some(())
    });
    assert!(started.is_some(), "{}", km.output());
    for id in 1..=3 {
        target.mock.broker_down(id).unwrap();
    }
    cluster::produce_range(&rig.source_conn(), &topic, &w, 1_000..w.records).unwrap();
    let status = km.wait_timeout(Duration::from_secs(60));
    for id in 1..=3 {
        target.mock.broker_up(id).unwrap();
    }
    let out = km.output();
    let status = status.unwrap_or_else(|| panic!("kmirror kept running past the bound:\n{out}"));
    assert!(!status.success(), "{out}");
    assert!(out.to_lowercase().contains("timed out"), "{out}");
}
