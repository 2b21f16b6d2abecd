//! Bad input: clear errors naming file, key or topic; non-zero exit;
//! nothing consumed or committed.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

fn run(args: &[String]) -> (i32, String) {
    let out = Command::new(kmirror_bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn zookeeper_alone_is_refused_and_mirrormaker1_files_otherwise_load() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("consumer.properties");
    let p = dir.path().join("producer.properties");
    // The seed documents' consumer.properties.
    std::fs::write(
        &c,
        "zookeeper.connect=zk1:2181\ngroup.id=KafkaMirror\nauto.commit.enable=false\n",
    )
    .unwrap();
    std::fs::write(
        &p,
        "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\n",
    )
    .unwrap();
    let (code, out) = run(&mirror_args(&c, &p, "test-topic", &[]));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("consumer.properties:1: zookeeper.connect")
            && out.contains("bootstrap.servers="),
        "{out}"
    );

    // With bootstrap.servers added, the seed file and a MirrorMaker 1
    // producer file load unchanged: old keys translated or noted.
    std::fs::write(
        &c,
        "zookeeper.connect=zk1:2181\nbootstrap.servers=a:9092\ngroup.id=KafkaMirror\nauto.commit.enable=false\n",
    )
    .unwrap();
    std::fs::write(
        &p,
        "metadata.broker.list=b:9092\nproducer.type=async\ncompression.codec=gzip\nrequest.required.acks=-1\n",
    )
    .unwrap();
    let args = mirror_args(&c, &p, "test-topic", &[]);
    let cli = match kmirror::config::cli::parse_invocation(
        std::iter::once("kmirror".to_string()).chain(args),
    )
    .unwrap()
    {
        kmirror::config::cli::Invocation::Mirror(cli) => cli,
        other => panic!("{other:?}"),
    };
    let config = kmirror::config::Config::from_args_and_kafka_opts(&cli.mirror, None).unwrap();
    assert_eq!(config.target.bootstrap, "b:9092");
    let cc = config.target.client_config();
    assert_eq!(cc.get("compression.type"), Some("gzip"));
    assert!(config
        .target
        .notes
        .iter()
        .any(|n| n.message.contains("producer.type ignored")));
    assert!(config.sources[0]
        .notes
        .iter()
        .any(|n| n.message.contains("zookeeper.connect ignored")));
}

#[test]
fn plaintext_is_refused_without_allow_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.properties");
    let p = dir.path().join("p.properties");
    std::fs::write(&c, "bootstrap.servers=a:9092\ngroup.id=g\n").unwrap();
    std::fs::write(
        &p,
        "bootstrap.servers=b:9092\nsecurity.protocol=PLAINTEXT\n",
    )
    .unwrap();
    let args: Vec<String> = [
        "--consumer.config",
        c.to_str().unwrap(),
        "--producer.config",
        p.to_str().unwrap(),
        "--whitelist",
        "t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, out) = run(&args);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("c.properties") && out.contains("--allow.plaintext"),
        "{out}"
    );
}

#[test]
fn missing_target_topic_is_named_and_nothing_is_committed() {
    let rig = Rig::start();
    let topic = random_name("only-on-source");
    rig.source_conn().create_topic(&topic, 2).unwrap();
    cluster::produce(
        &rig.source_conn(),
        &topic,
        &Workload {
            records: 10,
            ..Default::default()
        },
    )
    .unwrap();
    let group = random_name("mm");
    let (c, p) = rig.properties(&group, &[]);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &[]),
        &rig.dir.path().join("km.log"),
    );
    let status = km
        .wait_timeout(Duration::from_secs(60))
        .expect("kmirror must refuse to start");
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("missing on the target")
            && out.contains(&topic)
            && out.contains("--create.topics"),
        "{out}"
    );
    // Its log went to a file, not a terminal: plain text, no colour codes.
    assert!(
        !out.contains('\u{1b}'),
        "ANSI escape codes in a log that is not a terminal:\n{out:?}"
    );
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    assert!(committed.values().all(Option::is_none), "{committed:?}");
}

#[test]
fn help_is_enough_for_a_mirrormaker_user() {
    let out = Command::new(kmirror_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--consumer.config",
        "--producer.config",
        "--whitelist",
        "--blacklist",
        "--num.streams",
        "--num.producers",
        "--queue.size",
        "--offset.commit.interval.ms",
        "--abort.on.send.failure",
        "--new.consumer",
        "--delivery.timeout.ms",
        "--insecure.skip.certificate.verification",
        "acks=all",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}
