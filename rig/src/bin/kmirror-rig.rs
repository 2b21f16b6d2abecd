//! `kmirror-rig up` brings the whole secured rig up for a person to try by
//! hand: an MIT KDC and two kerberized, ACL-enforcing Kafka clusters (tansu
//! behind the rig's security listener), with the mirror principal granted
//! least-privilege ACLs. It prints the `krb5.conf`, the keytab paths and the
//! client properties of each side, and runs until `kmirror-rig down` (or
//! Ctrl-C) takes it down.
//!
//! `kmirror-rig delay-proxy --listen ADDR --upstream ADDR --delay-ms N` runs
//! the rig's WAN link ([`kmirror_rig::delay_proxy`]) in front of one broker:
//! SIGUSR1 drops every connection and stops listening (an outage), SIGUSR2
//! listens again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kmirror::preflight::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use kmirror_rig::kdc::{Kdc, KdcOptions, MIRRORMAKER};
use kmirror_rig::listener::SecuredBroker;

fn state_dir() -> PathBuf {
    std::env::var_os("KMIRROR_RIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("kmirror-rig"))
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

fn properties(side: &str, broker: &SecuredBroker, kdc: &Kdc, group: Option<&str>) -> String {
    let mut s = format!(
        "# {side} cluster: SASL_PLAINTEXT/GSSAPI as the dedicated mirror principal\n\
         bootstrap.servers={}\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.kerberos.service.name=kafka\n\
         sasl.kerberos.principal={}\nsasl.kerberos.keytab={}\n",
        broker.listener.bootstrap(),
        kdc.full_name(MIRRORMAKER),
        kdc.standard_keytab(MIRRORMAKER).display()
    );
    if let Some(g) = group {
        s.push_str(&format!("group.id={g}\n# the test broker (tansu) holds a fetch for the full wait\nfetch.max.wait.ms=10\n"));
    }
    s
}

fn up(dir: &Path) -> anyhow::Result<()> {
    if dir.join("rig.pid").exists() {
        bail!(
            "{} exists: a rig may be running; take it down first with `kmirror-rig down`",
            dir.join("rig.pid").display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let kdc = Kdc::start(KdcOptions::default()).context("starting the KDC")?;
    let source_acls = vec![
        allow(ResourceType::Topic, "*", Operation::Read),
        allow(ResourceType::Topic, "*", Operation::Describe),
        allow(ResourceType::Group, "*", Operation::Read),
        allow(ResourceType::Group, "*", Operation::Describe),
    ];
    let target_acls = vec![
        allow(ResourceType::Topic, "*", Operation::Write),
        allow(ResourceType::Topic, "*", Operation::Describe),
        allow(ResourceType::Cluster, "kafka-cluster", Operation::Create),
    ];
    let source = SecuredBroker::start_kerberos(&kdc, |o| {
        o.acls = source_acls;
        o.audit_log = Some(dir.join("source-auth.jsonl"));
    })?;
    let target = SecuredBroker::start_kerberos(&kdc, |o| {
        o.acls = target_acls;
        o.audit_log = Some(dir.join("target-auth.jsonl"));
    })?;
    let sp = dir.join("source.properties");
    let tp = dir.join("target.properties");
    std::fs::write(&sp, properties("source", &source, &kdc, Some("kmirror")))?;
    std::fs::write(&tp, properties("target", &target, &kdc, None))?;
    let env = dir.join("env.sh");
    std::fs::write(
        &env,
        format!("export KRB5_CONFIG={}\n", kdc.krb5_conf().display()),
    )?;
    std::fs::write(dir.join("rig.pid"), std::process::id().to_string())?;

    println!(
        "kmirror secured rig is up (realm {}, KDC on 127.0.0.1:{})",
        kdc.realm(),
        kdc.port()
    );
    println!("  krb5.conf:         {}", kdc.krb5_conf().display());
    println!(
        "  mirror keytab:     {} ({})",
        kdc.standard_keytab(MIRRORMAKER).display(),
        kdc.full_name(MIRRORMAKER)
    );
    println!(
        "  admin keytab:      {} (super user on both clusters)",
        kdc.standard_keytab("admin").display()
    );
    println!("  source cluster:    {}   ACLs: topic * READ/DESCRIBE, group * READ/DESCRIBE for User:mirrormaker", source.listener.bootstrap());
    println!("  target cluster:    {}   ACLs: topic * WRITE/DESCRIBE, cluster CREATE for User:mirrormaker", target.listener.bootstrap());
    println!(
        "  authentication log: {}/source-auth.jsonl, {}/target-auth.jsonl",
        dir.display(),
        dir.display()
    );
    println!("--- {}", sp.display());
    print!("{}", std::fs::read_to_string(&sp)?);
    println!("--- {}", tp.display());
    print!("{}", std::fs::read_to_string(&tp)?);
    println!("---");
    println!("try:  . {}  &&  kmirror --consumer.config {} --producer.config {} --whitelist '.*' --create.topics", env.display(), sp.display(), tp.display());
    println!("take it down with: kmirror-rig down   (or Ctrl-C here)");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    drop((source, target, kdc));
    let _ = std::fs::remove_file(dir.join("rig.pid"));
    println!("kmirror secured rig is down");
    Ok(())
}

fn down(dir: &Path) -> anyhow::Result<()> {
    let pid_file = dir.join("rig.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("no rig is up ({} missing)", pid_file.display()))?;
    let pid = pid.trim();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()?
        .success();
    if !ok {
        let _ = std::fs::remove_file(&pid_file);
        bail!(
            "process {pid} is gone; removed the stale {}",
            pid_file.display()
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pid_file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    println!("kmirror secured rig (pid {pid}) is down");
    Ok(())
}

/// `kmirror-rig group-member BOOTSTRAP GROUP TOPIC SESSION_MS`: a plain
/// librdkafka consumer in GROUP that prints `assigned N` at every
/// assignment and runs until killed. The rig's own tests kill it with -9 to
/// pin how the broker's group coordinator treats a dead member
/// (rig/tests/broker.rs); not for users.
fn group_member(args: &[String]) -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
    use rdkafka::ClientContext;
    use std::io::Write;
    struct Print;
    impl ClientContext for Print {}
    impl ConsumerContext for Print {
        fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
            if let Rebalance::Assign(tpl) = rebalance {
                println!("assigned {}", tpl.count());
                let _ = std::io::stdout().flush();
            }
        }
    }
    let [bootstrap, group, topic, session_ms] = args else {
        bail!("usage: kmirror-rig group-member BOOTSTRAP GROUP TOPIC SESSION_MS");
    };
    let consumer: BaseConsumer<Print> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", session_ms)
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", kmirror_rig::cluster::RIG_FETCH_WAIT_MS)
        .create_with_context(Print)?;
    consumer.subscribe(&[topic])?;
    loop {
        if let Some(Err(e)) = consumer.poll(std::time::Duration::from_millis(100)) {
            eprintln!("consumer: {e}");
        }
    }
}

/// `kmirror-rig delay-proxy`: a delaying TCP proxy in front of one broker.
#[derive(clap::Parser, Debug)]
#[command(name = "kmirror-rig delay-proxy")]
struct DelayProxyArgs {
    /// Address to listen on (`host:port`; port 0 picks a free one, printed).
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// The broker to forward to (`host:port`). Start the broker advertising
    /// the listen address, or its Metadata sends clients around the proxy.
    #[arg(long)]
    upstream: std::net::SocketAddr,
    /// One-way delay in milliseconds, in each direction (RTT = 2 × this).
    #[arg(long)]
    delay_ms: u64,
}

fn delay_proxy(args: &[String]) -> anyhow::Result<()> {
    use clap::Parser;
    use tokio::signal::unix::{signal, SignalKind};
    let a = DelayProxyArgs::parse_from(
        std::iter::once("kmirror-rig delay-proxy".to_string()).chain(args.iter().cloned()),
    );
    let proxy = kmirror_rig::delay_proxy::DelayProxy::start(
        a.listen,
        Some(a.upstream),
        std::time::Duration::from_millis(a.delay_ms),
    )
    .with_context(|| format!("listening on {}", a.listen))?;
    println!(
        "delay proxy: {} -> {}, {} ms each way (SIGUSR1: outage, SIGUSR2: back)",
        proxy.addr(),
        a.upstream,
        a.delay_ms
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut usr2 = signal(SignalKind::user_defined2())?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = usr1.recv() => {
                    proxy.stop();
                    println!("delay proxy: stopped (connections dropped, new ones refused)");
                }
                _ = usr2.recv() => {
                    proxy.restart()?;
                    println!("delay proxy: listening again on {}", proxy.addr());
                }
            }
        }
        anyhow::Ok(())
    })?;
    drop(proxy);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let dir = state_dir();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("up") => up(&dir),
        Some("down") => down(&dir),
        Some("group-member") => group_member(&args[2..]),
        Some("delay-proxy") => delay_proxy(&args[2..]),
        _ => {
            eprintln!(
                "usage: kmirror-rig up|down|delay-proxy   (state in $KMIRROR_RIG_DIR, default {})",
                dir.display()
            );
            std::process::exit(2);
        }
    }
}
