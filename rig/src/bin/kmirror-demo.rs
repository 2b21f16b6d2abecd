//! The README's demo of the main job, Kerberos on: an MIT KDC and two
//! kerberized, ACL-enforcing clusters; sample records with keys and headers
//! on a source topic; kmirror authenticating the dedicated principal
//! `mirrormaker/localhost` from a keytab through a MirrorMaker-style JAAS
//! file (`KAFKA_OPTS=-Djava.security.auth.login.config=...`) and properties
//! files; the target verified record by record by the no-loss checker; and
//! the clusters' authentication logs showing which principal reached them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kmirror::preflight::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use kmirror_rig::checker::{self, Partitioning};
use kmirror_rig::cluster::{self, Workload};
use kmirror_rig::kdc::{Kdc, KdcOptions, MIRRORMAKER};
use kmirror_rig::listener::{AuditEvent, SecuredBroker};

const RECORDS: usize = 20_000;
const PARTITIONS: i32 = 8;
const TOPIC: &str = "orders";
const GROUP: &str = "kmirror-demo";

fn kmirror_bin() -> PathBuf {
    std::env::var_os("KMIRROR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .expect("current exe")
                .with_file_name("kmirror")
        })
}

fn allow(rt: ResourceType, name: &str, op: Operation) -> AclBinding {
    AclBinding::new(
        rt,
        name,
        PatternType::Literal,
        "User:mirrormaker",
        "*",
        op,
        Permission::Allow,
    )
}

/// Successful authentications per principal, from a listener's evidence log.
fn principals(broker: &SecuredBroker) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut seen = BTreeMap::new();
    for e in broker.listener.events()? {
        if let AuditEvent::Authentication {
            principal: Some(p),
            success: true,
            ..
        } = e
        {
            *seen.entry(p).or_insert(0) += 1;
        }
    }
    Ok(seen)
}

/// The sample JAAS file from `jaas/kerberos.jaas`, pointed at the rig's keytab and realm.
fn jaas_file(dir: &Path, kdc: &Kdc) -> anyhow::Result<PathBuf> {
    let template = include_str!("../../../jaas/kerberos.jaas");
    let text = template
        .replace(
            "/tmp/mirrormaker.keytab",
            &kdc.standard_keytab(MIRRORMAKER).display().to_string(),
        )
        .replace(
            "mirrormaker/HOSTNAME@EXAMPLE.COM",
            &kdc.full_name(MIRRORMAKER),
        );
    let path = dir.join("kmirror.jaas");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("kmirror-demo-").tempdir()?;
    println!(
        "== kmirror demo: Kerberos on (files in {})",
        dir.path().display()
    );
    let kdc = Kdc::start(KdcOptions::default()).context("starting the MIT KDC")?;
    println!(
        "KDC: realm {} on 127.0.0.1:{}; mirror principal {}",
        kdc.realm(),
        kdc.port(),
        kdc.full_name(MIRRORMAKER)
    );
    // Least privilege for the mirror principal, as `kafka-acls.sh` would grant it.
    let source = SecuredBroker::start_kerberos(&kdc, |o| {
        o.acls = vec![
            allow(ResourceType::Topic, TOPIC, Operation::Read),
            allow(ResourceType::Topic, TOPIC, Operation::Describe),
            allow(ResourceType::Group, GROUP, Operation::Read),
            allow(ResourceType::Group, GROUP, Operation::Describe),
        ]
    })?;
    let target = SecuredBroker::start_kerberos(&kdc, |o| {
        o.acls = vec![
            allow(ResourceType::Topic, TOPIC, Operation::Write),
            allow(ResourceType::Topic, TOPIC, Operation::Describe),
        ]
    })?;
    println!(
        "source cluster {} and target cluster {}: SASL_PLAINTEXT/GSSAPI, ACLs enforced (User:mirrormaker: READ/DESCRIBE on the source topic and group, WRITE/DESCRIBE on the target topic)",
        source.listener.bootstrap(),
        target.listener.bootstrap()
    );

    // Set-up as the clusters' admin (a super user), not as the mirror.
    let (src_admin, dst_admin) = (source.admin_conn(), target.admin_conn());
    src_admin.create_topic(TOPIC, PARTITIONS)?;
    dst_admin.create_topic(TOPIC, PARTITIONS)?;
    let w = Workload {
        records: RECORDS,
        keys: 500,
        value_size: 256,
        headers: 2,
        tag: "demo".into(),
    };
    cluster::produce(&src_admin, TOPIC, &w)?;
    println!("wrote {RECORDS} records (500 keys, 2 headers each, CreateTime timestamps) to {TOPIC} on the source");

    let jaas = jaas_file(dir.path(), &kdc)?;
    let c = dir.path().join("consumer.properties");
    let p = dir.path().join("producer.properties");
    std::fs::write(
        &c,
        format!(
            "# MirrorMaker-style consumer config (source cluster)\nbootstrap.servers={}\ngroup.id={GROUP}\nauto.commit.enable=false\n\
             security.protocol=SASL_PLAINTEXT\nsasl.kerberos.service.name=kafka\n\
             # the test broker (tansu) holds a fetch for the full wait even when data is ready\nfetch.max.wait.ms=10\n",
            source.listener.bootstrap()
        ),
    )?;
    std::fs::write(
        &p,
        format!(
            "# MirrorMaker-style producer config (target cluster), no-data-loss settings\nbootstrap.servers={}\nacks=-1\nretries=2147483647\n\
             max.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\nsecurity.protocol=SASL_PLAINTEXT\nsasl.kerberos.service.name=kafka\n",
            target.listener.bootstrap()
        ),
    )?;
    let kafka_opts = format!("-Djava.security.auth.login.config={}", jaas.display());
    let args = [
        "--consumer.config",
        c.to_str().unwrap(),
        "--producer.config",
        p.to_str().unwrap(),
        "--whitelist",
        TOPIC,
        "--offset.commit.interval.ms",
        "1000",
    ];
    println!("$ KAFKA_OPTS=\"{kafka_opts}\" kmirror {}", args.join(" "));
    let log = dir.path().join("kmirror.log");
    let mut child = Command::new(kmirror_bin())
        .args(args)
        .env("KAFKA_OPTS", &kafka_opts)
        .envs(kdc.env())
        // A private credential cache, never the user's.
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", dir.path().join("krb5cc").display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log)?))
        .stderr(Stdio::from(std::fs::File::create(&log)?.try_clone()?))
        .spawn()
        .with_context(|| format!("starting {}", kmirror_bin().display()))?;

    let source_records = cluster::read_all(
        &src_admin,
        TOPIC,
        RECORDS,
        Duration::from_millis(300),
        Duration::from_secs(60),
    )?;
    let ends = checker::end_offsets(&source_records);
    let t = Instant::now();
    let done = kmirror_rig::await_condition(Duration::from_secs(120), || {
        if let Ok(Some(_)) = child.try_wait() {
            return Some(false);
        }
        let committed = cluster::committed_offsets(&src_admin, GROUP, TOPIC).ok()?;
        ends.iter()
            .all(|(p, e)| committed.get(p).copied().flatten() == Some(*e))
            .then_some(true)
    });
    if done != Some(true) {
        let _ = child.kill();
        bail!(
            "kmirror did not commit every offset; its log:\n{}",
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
        &dst_admin,
        TOPIC,
        RECORDS,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let report = checker::check(&source_records, &target_records, Partitioning::ByKey)
        .map_err(|v| anyhow::anyhow!("{v}"))?;
    let committed = cluster::committed_offsets(&src_admin, GROUP, TOPIC)?;
    checker::check_committed(&source_records, &target_records, &committed)
        .map_err(|v| anyhow::anyhow!("{v}"))?;
    println!("verified: {report}");
    println!("every record byte-equal (key, value, headers, timestamp); committed offsets = source end offsets");
    for (name, broker) in [("source", &source), ("target", &target)] {
        let seen = principals(broker)?;
        let mirror: Vec<String> = seen
            .iter()
            .filter(|(p, _)| p.as_str() != "admin")
            .map(|(p, n)| format!("{p} ({n} connections)"))
            .collect();
        println!(
            "{name} cluster authenticated: {} (besides the demo's own admin set-up/verification)",
            mirror.join(", ")
        );
        if mirror.len() != 1 || !mirror[0].starts_with(&kdc.full_name(MIRRORMAKER)) {
            bail!("{name} cluster saw unexpected principals: {seen:?}");
        }
    }
    println!("== demo passed");
    Ok(())
}
