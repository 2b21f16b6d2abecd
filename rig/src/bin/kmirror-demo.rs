//! The README's demo: two local brokers, sample records with keys and
//! headers on a source topic, kmirror run with MirrorMaker-style properties
//! files, and the target verified record by record by the no-loss checker.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kmirror_rig::checker::{self, Partitioning};
use kmirror_rig::cluster::{self, ClusterConn, Workload};
use kmirror_rig::tansu::{Tansu, TansuOptions};

const RECORDS: usize = 20_000;
const PARTITIONS: i32 = 8;

fn kmirror_bin() -> PathBuf {
    std::env::var_os("KMIRROR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .expect("current exe")
                .with_file_name("kmirror")
        })
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("kmirror-demo-").tempdir()?;
    println!("== kmirror demo (files in {})", dir.path().display());
    let source = Tansu::start(TansuOptions {
        cluster_id: Some("demo-source".into()),
        ..Default::default()
    })?;
    let target = Tansu::start(TansuOptions {
        cluster_id: Some("demo-target".into()),
        ..Default::default()
    })?;
    println!(
        "source cluster: {}   target cluster: {}",
        source.addr(),
        target.addr()
    );
    let src = ClusterConn::plaintext(source.addr().to_string());
    let dst = ClusterConn::plaintext(target.addr().to_string());

    let topic = "orders";
    src.create_topic(topic, PARTITIONS)?;
    let w = Workload {
        records: RECORDS,
        keys: 500,
        value_size: 256,
        headers: 2,
        tag: "demo".into(),
    };
    let t = Instant::now();
    cluster::produce(&src, topic, &w)?;
    println!(
        "wrote {RECORDS} records (500 keys, 2 headers each, CreateTime timestamps) to {topic} on the source in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let group = "kmirror-demo";
    let c = dir.path().join("consumer.properties");
    let p = dir.path().join("producer.properties");
    std::fs::write(
        &c,
        format!(
            "# MirrorMaker-style consumer config (source cluster)\nbootstrap.servers={}\ngroup.id={group}\nauto.commit.enable=false\n\
             # the demo brokers are local and unsecured; real clusters use SASL_PLAINTEXT (Kerberos), SSL or SASL_SSL\nsecurity.protocol=PLAINTEXT\n\
             # the test broker (tansu) holds a fetch for the full wait even when data is ready\nfetch.max.wait.ms=10\n",
            source.addr()
        ),
    )?;
    std::fs::write(
        &p,
        format!(
            "# MirrorMaker-style producer config (target cluster), no-data-loss settings\nbootstrap.servers={}\nacks=-1\nretries=2147483647\nmax.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\nsecurity.protocol=PLAINTEXT\n",
            target.addr()
        ),
    )?;
    let args = [
        "--consumer.config",
        c.to_str().unwrap(),
        "--producer.config",
        p.to_str().unwrap(),
        "--whitelist",
        topic,
        "--create-topics",
        "--allow-plaintext",
        "--offset.commit.interval.ms",
        "1000",
    ];
    println!("$ kmirror {}", args.join(" "));
    let log = dir.path().join("kmirror.log");
    let mut child = Command::new(kmirror_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log)?))
        .stderr(Stdio::from(std::fs::File::create(&log)?.try_clone()?))
        .spawn()
        .with_context(|| format!("starting {}", kmirror_bin().display()))?;

    let source_records = cluster::read_all(
        &src,
        topic,
        RECORDS,
        Duration::from_millis(300),
        Duration::from_secs(60),
    )?;
    let ends = checker::end_offsets(&source_records);
    let t = Instant::now();
    let done = kmirror_rig::await_condition(Duration::from_secs(120), || {
        let committed = cluster::committed_offsets(&src, group, topic).ok()?;
        ends.iter()
            .all(|(p, e)| committed.get(p).copied().flatten() == Some(*e))
            .then_some(())
    });
    if done.is_none() {
        let _ = child.kill();
        bail!(
            "kmirror did not commit every offset within 120 s; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    println!(
        "kmirror delivered and committed every source offset in {:.1}s; stopping it with SIGTERM",
        t.elapsed().as_secs_f64()
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    let status = child.wait()?;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        bail!("kmirror exited with {status}:\n{log_text}");
    }
    if let Some(line) = log_text.lines().find(|l| l.contains("stopped cleanly")) {
        println!("{line}");
    }

    let target_records = cluster::read_all(
        &dst,
        topic,
        RECORDS,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let report = checker::check(&source_records, &target_records, Partitioning::ByKey)
        .map_err(|v| anyhow::anyhow!("{v}"))?;
    let committed = cluster::committed_offsets(&src, group, topic)?;
    checker::check_committed(&source_records, &target_records, &committed)
        .map_err(|v| anyhow::anyhow!("{v}"))?;
    println!("verified: {report}");
    println!("every record byte-equal (key, value, headers, timestamp); committed offsets = source end offsets {ends:?}");
    println!("== demo passed");
    Ok(())
}
