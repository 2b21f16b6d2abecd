//! `kmirror check` and the start-up checks of a mirror run against
//! clusters that authenticate (SASL/PLAIN) and enforce ACLs: the rig's
//! listener in front of tansu, which answers KIP-430 authorized operations
//! and the ACL admin APIs like a secured Apache Kafka cluster.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kmirror::preflight::check::{Report, Verdict};
use support::*;

const MIRROR: &str = "User:mirror";
const MIRROR_PW: &str = "mirror-pw";
const USERS: &[(&str, &str)] = &[("mirror", MIRROR_PW)];

/// The least-privilege ACLs of a mirror of `topic` with group `group`.
struct Grants {
    source: Vec<AclBinding>,
    target: Vec<AclBinding>,
}

fn least_privilege(topic: &str, group: &str) -> Grants {
    use Operation::*;
    use PatternType::Literal;
    use ResourceType::*;
    Grants {
        source: vec![
            allow_acl(Topic, topic, Literal, MIRROR, Read),
            allow_acl(Topic, topic, Literal, MIRROR, Describe),
            allow_acl(Group, group, Literal, MIRROR, Read),
            allow_acl(Group, group, Literal, MIRROR, Describe),
        ],
        target: vec![
            allow_acl(Topic, topic, Literal, MIRROR, Write),
            allow_acl(Topic, topic, Literal, MIRROR, Describe),
        ],
    }
}

/// A secured rig with one topic on both sides, `records` records on the
/// source, and the mirror principal's least-privilege ACLs granted.
struct Setup {
    rig: SecuredRig,
    topic: String,
    group: String,
    grants: Grants,
    workload: Workload,
}

fn setup(records: usize, on_target: bool) -> Setup {
    let rig = SecuredRig::start(USERS);
    let topic = rig.topic("orders", 2, on_target);
    let group = random_name("mm");
    let grants = least_privilege(&topic, &group);
    rig.source.grant(&grants.source);
    rig.target.grant(&grants.target);
    let workload = Workload {
        records,
        keys: 50,
        value_size: 64,
        ..Default::default()
    };
    if records > 0 {
        cluster::produce(&rig.source.admin(), &topic, &workload).unwrap();
    }
    Setup {
        rig,
        topic,
        group,
        grants,
        workload,
    }
}

impl Setup {
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let (c, p) = self.rig.plain_properties(&self.group, "mirror", MIRROR_PW);
        mirror_args(&c, &p, &self.topic, extra)
    }

    /// `kmirror check --format json`, parsed.
    fn check_json(&self, extra: &[&str]) -> (CheckRun, Report) {
        let mut args = self.args(extra);
        args.extend(["--format".to_string(), "json".to_string()]);
        let run = kmirror_check(&args, self.rig.dir.path());
        let report = Report::from_json(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "check output is not a JSON report ({e}):\n{}\n{}",
                run.stdout, run.stderr
            )
        });
        assert_eq!(
            run.status.success(),
            report.passed(),
            "exit status follows the report:\n{}",
            run.stderr
        );
        (run, report)
    }

    /// Starts a mirror run and expects it to refuse to start: exit 1, the
    /// failing rows in its output, and nothing committed for the group.
    fn assert_run_refused(&self, extra: &[&str], expected: &[&str]) -> String {
        let log = self
            .rig
            .dir
            .path()
            .join(format!("{}.log", random_name("refused")));
        let mut km = Kmirror::spawn(&self.args(extra), &log);
        let status = km
            .wait_timeout(Duration::from_secs(120))
            .unwrap_or_else(|| panic!("kmirror did not refuse to start:\n{}", km.output()));
        let out = km.output();
        assert_eq!(status.code(), Some(1), "{out}");
        assert!(out.contains("start-up checks failed"), "{out}");
        for e in expected {
            assert!(out.contains(e), "expected {e:?} in:\n{out}");
        }
        assert!(
            !out.contains("mirroring"),
            "no consumer may be started:\n{out}"
        );
        self.assert_nothing_committed();
        out
    }

    fn assert_nothing_committed(&self) {
        let committed =
            cluster::committed_offsets(&self.rig.source.admin(), &self.group, &self.topic).unwrap();
        assert!(
            committed.values().all(Option::is_none),
            "the group committed {committed:?}"
        );
    }

    /// The source topic, which holds `records` records.
    fn source_records(&self, records: usize) -> Vec<Record> {
        cluster::read_all(
            &self.rig.source.admin(),
            &self.topic,
            records,
            Duration::from_millis(500),
            Duration::from_secs(120),
        )
        .unwrap()
    }

    /// The target topic, once it holds at least `at_least` records and no
    /// more arrive for a second.
    fn target_records(&self, at_least: usize) -> Vec<Record> {
        cluster::read_all(
            &self.rig.target.admin(),
            &self.topic,
            at_least,
            Duration::from_secs(1),
            Duration::from_secs(120),
        )
        .unwrap()
    }

    /// Waits for the group to commit `ends`, stops kmirror cleanly and runs
    /// the no-loss checker.
    fn finish_and_verify(
        &self,
        km: &mut Kmirror,
        records: usize,
        ends: &BTreeMap<i32, i64>,
    ) -> checker::Report {
        km.await_committed(
            &self.rig.source.admin(),
            &self.group,
            &self.topic,
            ends,
            Duration::from_secs(120),
        );
        km.stop_ok();
        let source = self.source_records(records);
        let target = self.target_records(source.len());
        checker::check(&source, &target, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"))
    }
}

fn rows_with(report: &Report, verdict: Verdict) -> Vec<String> {
    report
        .rows
        .iter()
        .filter(|r| r.verdict == verdict)
        .map(|r| format!("{} {} {} {}", r.side, r.principal, r.check, r.resource))
        .collect()
}

/// Least privilege on both sides passes `kmirror check` (table and JSON
/// agree), and a mirror run with the same flags copies everything.
#[test]
fn least_privilege_passes_and_mirrors() {
    let s = setup(2000, true);
    let (run, report) = s.check_json(&[]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(rows_with(&report, Verdict::Fail).is_empty());
    assert!(rows_with(&report, Verdict::Unverified).is_empty());
    let checks: Vec<String> = report
        .rows
        .iter()
        .map(|r| format!("{} {} {}", r.side, r.check, r.resource))
        .collect();
    let t = &s.topic;
    let g = &s.group;
    for want in [
        format!("source AUTHENTICATE {}", s.rig.source.listener.addr()),
        format!("source READ TOPIC:{t}"),
        format!("source DESCRIBE TOPIC:{t}"),
        format!("source READ GROUP:{g}"),
        format!("source DESCRIBE GROUP:{g}"),
        format!("target AUTHENTICATE {}", s.rig.target.listener.addr()),
        format!("target WRITE TOPIC:{t}"),
        format!("target DESCRIBE TOPIC:{t}"),
    ] {
        assert!(checks.contains(&want), "{want} missing from {checks:#?}");
    }
    assert!(report.rows.iter().all(|r| r.principal == MIRROR));

    // The table carries the same rows as the JSON document.
    let table = kmirror_check(&s.args(&[]), s.rig.dir.path());
    assert!(table.status.success(), "{}", table.stderr);
    assert_eq!(table.stdout.trim_end(), report.to_table().trim_end());
    let lines: Vec<&str> = table.stdout.trim_end().lines().collect();
    assert_eq!(lines.len(), report.rows.len() + 2, "header, rows, result");
    for (line, row) in lines[1..].iter().zip(&report.rows) {
        for cell in [&row.cluster, &row.principal, &row.check, &row.resource] {
            assert!(line.contains(cell.as_str()), "{cell} not in {line}");
        }
        assert!(line.contains(&row.verdict.to_string()), "{line}");
    }
    assert_eq!(*lines.last().unwrap(), "result: PASS");

    let mut km = Kmirror::spawn(&s.args(&[]), &s.rig.dir.path().join("km.log"));
    let n = s.workload.records;
    let ends = checker::end_offsets(&s.source_records(n));
    let report = s.finish_and_verify(&mut km, n, &ends);
    assert_eq!(report.duplicates, 0, "a clean run has no duplicates");
    assert!(
        km.output().contains("start-up checks passed"),
        "{}",
        km.output()
    );
}

/// Each required ACL removed in turn: `check` names exactly that side,
/// principal, resource and operation; the run refuses to start and commits
/// nothing. DESCRIBE is the exception Kafka makes: READ and WRITE imply it,
/// so removing only the DESCRIBE ACL loses nothing and both pass.
#[test]
fn each_missing_acl_is_named_and_refuses_the_run() {
    let s = setup(200, true);
    let cases: Vec<(&str, &PlainBroker, AclBinding)> = s
        .grants
        .source
        .iter()
        .map(|a| ("source", &s.rig.source, a.clone()))
        .chain(
            s.grants
                .target
                .iter()
                .map(|a| ("target", &s.rig.target, a.clone())),
        )
        .collect();
    for (side, broker, acl) in cases {
        broker.revoke(&acl);
        let (run, report) = s.check_json(&[]);
        let resource = format!("{}:{}", acl.resource_type, acl.resource_name);
        if acl.operation == Operation::Describe {
            assert!(
                run.status.success(),
                "without {acl} DESCRIBE is still implied by READ/WRITE:\n{}",
                report.to_table()
            );
            let row = report
                .rows
                .iter()
                .find(|r| r.check == "DESCRIBE" && r.resource == resource)
                .unwrap();
            assert_eq!(row.verdict, Verdict::Pass, "{row:?}");
        } else {
            let want = format!("{side} {MIRROR} {} {resource}", acl.operation);
            assert_eq!(
                rows_with(&report, Verdict::Fail),
                vec![want.clone()],
                "revoked {acl}:\n{}",
                report.to_table()
            );
            let fail = report
                .rows
                .iter()
                .find(|r| r.verdict == Verdict::Fail)
                .unwrap();
            assert!(fail.detail.contains("KIP-430"), "{}", fail.detail);
            let out = s.assert_run_refused(&[], &[&resource, &acl.operation.to_string()]);
            let failing_line = out
                .lines()
                .find(|l| l.contains(&resource) && l.contains("FAIL"))
                .unwrap_or_else(|| panic!("no FAIL line for {resource}:\n{out}"));
            assert!(
                failing_line.contains(MIRROR)
                    && failing_line.contains(&format!(" {} ", acl.operation)),
                "{failing_line}"
            );
        }
        broker.grant(std::slice::from_ref(&acl));
    }
    let (run, _) = s.check_json(&[]);
    assert!(run.status.success(), "all granted again:\n{}", run.stderr);
}

/// DENY overrides ALLOW; PREFIXED and wildcard grants count; holding
/// every cluster operation is a warning, not a failure.
#[test]
fn deny_prefixed_and_wildcard_grants() {
    use Operation::*;
    use ResourceType::*;
    let s = setup(0, true);
    let t = &s.topic;

    // Replace the literal source topic grants by a PREFIXED one, and the
    // target WRITE by a wildcard grant to every principal on every topic.
    for a in &s.grants.source[..2] {
        s.rig.source.revoke(a);
    }
    let prefix = &t[..t.len() - 3];
    s.rig.source.grant(&[
        allow_acl(Topic, prefix, PatternType::Prefixed, MIRROR, Read),
        allow_acl(Topic, prefix, PatternType::Prefixed, MIRROR, Describe),
    ]);
    s.rig.target.revoke(&s.grants.target[0]);
    s.rig
        .target
        .grant(&[allow_acl(Topic, "*", PatternType::Literal, "User:*", Write)]);
    let (run, report) = s.check_json(&[]);
    assert!(run.status.success(), "{}", report.to_table());
    assert!(rows_with(&report, Verdict::Fail).is_empty());

    // A DENY for the principal beats the wildcard ALLOW, for WRITE only.
    s.rig.target.grant(&[AclBinding::new(
        Topic,
        t,
        PatternType::Literal,
        MIRROR,
        "*",
        Write,
        Permission::Deny,
    )]);
    let (_, report) = s.check_json(&[]);
    assert_eq!(
        rows_with(&report, Verdict::Fail),
        vec![format!("target {MIRROR} WRITE TOPIC:{t}")],
        "{}",
        report.to_table()
    );
    // A prefixed DENY of READ beats the prefixed ALLOW.
    s.rig.source.grant(&[AclBinding::new(
        Topic,
        prefix,
        PatternType::Prefixed,
        MIRROR,
        "*",
        Read,
        Permission::Deny,
    )]);
    let (_, report) = s.check_json(&[]);
    assert_eq!(
        rows_with(&report, Verdict::Fail),
        vec![
            format!("source {MIRROR} READ TOPIC:{t}"),
            format!("target {MIRROR} WRITE TOPIC:{t}"),
        ],
        "{}",
        report.to_table()
    );
    s.assert_run_refused(&[], &["READ", "WRITE", &format!("TOPIC:{t}")]);

    // Far more power than needed on the target: passes with a warning.
    let s = setup(0, true);
    s.rig.target.grant(&[allow_acl(
        Cluster,
        CLUSTER_RESOURCE_NAME,
        PatternType::Literal,
        MIRROR,
        All,
    )]);
    let (run, report) = s.check_json(&[]);
    assert!(run.status.success(), "{}", report.to_table());
    assert_eq!(
        rows_with(&report, Verdict::Warn),
        vec![format!(
            "target {MIRROR} PRIVILEGE CLUSTER:{CLUSTER_RESOURCE_NAME}"
        )],
        "{}",
        report.to_table()
    );
}

/// The target topic does not exist yet (`--create.topics`), so the broker
/// has no authorized operations for it, and the principal may not describe
/// ACLs: the target rows are UNVERIFIED. The run refuses without
/// `--accept.unverified.acls` and mirrors with it. Once the principal may
/// describe the cluster, kmirror reads its ACLs and verifies the rows.
#[test]
fn unverifiable_acls_refuse_the_run_unless_accepted() {
    use Operation::*;
    use ResourceType::*;
    let s = setup(300, false);
    let t = &s.topic;
    s.rig
        .target
        .grant(&[allow_acl(Topic, t, PatternType::Literal, MIRROR, Create)]);
    let (run, report) = s.check_json(&["--create.topics"]);
    assert!(!run.status.success());
    assert!(
        rows_with(&report, Verdict::Fail).is_empty(),
        "{}",
        report.to_table()
    );
    let unverified = rows_with(&report, Verdict::Unverified);
    assert_eq!(
        unverified,
        vec![
            format!("target {MIRROR} WRITE TOPIC:{t}"),
            format!("target {MIRROR} DESCRIBE TOPIC:{t}"),
            format!("target {MIRROR} CREATE TOPIC:{t}"),
        ],
        "{}",
        report.to_table()
    );
    let row = report
        .rows
        .iter()
        .find(|r| r.verdict == Verdict::Unverified)
        .unwrap();
    assert!(row.detail.contains("does not exist yet"), "{}", row.detail);
    assert!(
        row.detail.contains("DESCRIBE on the cluster"),
        "{}",
        row.detail
    );
    s.assert_run_refused(
        &["--create.topics"],
        &["UNVERIFIED", "--accept.unverified.acls"],
    );

    // Accepted: check passes and so does the run.
    let (run, report) = s.check_json(&["--create.topics", "--accept.unverified.acls"]);
    assert!(run.status.success(), "{}", report.to_table());
    assert!(report.accept_unverified);

    // With DESCRIBE on the cluster kmirror reads the ACLs: verified.
    s.rig.target.grant(&[allow_acl(
        Cluster,
        CLUSTER_RESOURCE_NAME,
        PatternType::Literal,
        MIRROR,
        Describe,
    )]);
    let (run, report) = s.check_json(&["--create.topics"]);
    assert!(run.status.success(), "{}", report.to_table());
    let create = report.rows.iter().find(|r| r.check == "CREATE").unwrap();
    assert_eq!(create.verdict, Verdict::Pass, "{create:?}");
    assert!(
        create.detail.contains("allowed by ACL"),
        "{}",
        create.detail
    );

    let mut km = Kmirror::spawn(
        &s.args(&["--create.topics", "--accept.unverified.acls"]),
        &s.rig.dir.path().join("km.log"),
    );
    let n = s.workload.records;
    let ends = checker::end_offsets(&s.source_records(n));
    s.finish_and_verify(&mut km, n, &ends);
}

/// Brokers that do not return KIP-430 authorized operations (as before
/// Kafka 2.3) and a principal that may not describe ACLs: every ACL row is
/// UNVERIFIED with the reason, and a run refuses to start (nothing consumed,
/// nothing committed) unless `--accept.unverified.acls`.
#[test]
fn no_authorized_operations_and_no_describe_acls_is_unverified() {
    let rig = SecuredRig::start_with(USERS, |o| o.omit_authorized_operations = true);
    let topic = rig.topic("orders", 2, true);
    let group = random_name("mm");
    let grants = least_privilege(&topic, &group);
    rig.source.grant(&grants.source);
    rig.target.grant(&grants.target);
    let workload = Workload {
        records: 200,
        keys: 20,
        value_size: 64,
        ..Default::default()
    };
    cluster::produce(&rig.source.admin(), &topic, &workload).unwrap();
    let s = Setup {
        rig,
        topic,
        group,
        grants,
        workload,
    };
    let (run, report) = s.check_json(&[]);
    assert!(!run.status.success(), "{}", report.to_table());
    assert!(
        rows_with(&report, Verdict::Fail).is_empty(),
        "{}",
        report.to_table()
    );
    let unverified = rows_with(&report, Verdict::Unverified);
    for side_op in [
        format!("source {MIRROR} READ TOPIC:{}", s.topic),
        format!("source {MIRROR} DESCRIBE TOPIC:{}", s.topic),
        format!("target {MIRROR} WRITE TOPIC:{}", s.topic),
        format!("target {MIRROR} DESCRIBE TOPIC:{}", s.topic),
    ] {
        assert!(
            unverified.contains(&side_op),
            "{side_op} not UNVERIFIED:\n{}",
            report.to_table()
        );
    }
    s.assert_run_refused(&[], &["UNVERIFIED", "--accept.unverified.acls"]);
    // Accepted explicitly, the same run mirrors everything.
    let mut km = Kmirror::spawn(
        &s.args(&["--accept.unverified.acls"]),
        &s.rig.dir.path().join("km.log"),
    );
    let n = s.workload.records;
    let ends = checker::end_offsets(&s.source_records(n));
    s.finish_and_verify(&mut km, n, &ends);
}

/// WRITE revoked on the target mid-run: kmirror stops with an error naming
/// the missing permission, committed offsets stop before the first record
/// that was not delivered, and after granting WRITE again a restart
/// mirrors everything.
#[test]
fn write_revoked_mid_run_stops_without_loss() {
    let s = setup(0, true);
    let w = Workload {
        records: 6000,
        keys: 50,
        value_size: 64,
        ..Default::default()
    };
    let half = w.records / 2;
    cluster::produce_range(&s.rig.source.admin(), &s.topic, &w, 0..half).unwrap();
    let args = s.args(&["--queue.size", "500"]);
    let mut km = Kmirror::spawn(&args, &s.rig.dir.path().join("km-1.log"));
    let seen = await_condition(Duration::from_secs(60), || {
        let c = cluster::committed_offsets(&s.rig.source.admin(), &s.group, &s.topic).ok()?;
        let total: i64 = c.values().map(|o| o.unwrap_or(0)).sum();
        (total > 0).then_some(total)
    });
    assert!(seen.is_some(), "nothing committed:\n{}", km.output());

    let write = &s.grants.target[0];
    assert_eq!(write.operation, Operation::Write);
    s.rig.target.revoke(write);
    cluster::produce_range(&s.rig.source.admin(), &s.topic, &w, half..w.records).unwrap();
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("kmirror kept running without WRITE:\n{}", km.output()));
    let out = km.output();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "principal {MIRROR} is missing WRITE on TOPIC:{}",
            s.topic
        )),
        "{out}"
    );

    let source = s.source_records(w.records);
    assert_eq!(source.len(), w.records);
    let committed = cluster::committed_offsets(&s.rig.source.admin(), &s.group, &s.topic).unwrap();
    // Everything below a committed offset was delivered, so the target
    // holds at least that many records.
    let delivered: i64 = committed.values().map(|o| o.unwrap_or(0)).sum();
    let target = s.target_records(delivered as usize);
    assert!(target.len() < w.records, "the revocation stopped something");
    checker::check_committed(&source, &target, &committed).unwrap_or_else(|v| panic!("{v}"));

    s.rig.target.grant(std::slice::from_ref(write));
    let mut km = Kmirror::spawn(&args, &s.rig.dir.path().join("km-2.log"));
    let ends = checker::end_offsets(&source);
    let report = s.finish_and_verify(&mut km, w.records, &ends);
    eprintln!("after re-granting WRITE: {report}");
}

/// The same checks over Kerberos: kmirror authenticates as
/// `mirrormaker/localhost` with a keytab (GSSAPI) on both clusters, the
/// report names the principal brokers see (`User:mirrormaker`), and a
/// revoked WRITE on the target is named.
#[test]
fn kerberos_principal_is_checked() {
    use kmirror_rig::kdc::{Kdc, KdcOptions, MIRRORMAKER};
    use kmirror_rig::listener::SecuredBroker;
    use Operation::*;
    use PatternType::Literal;
    use ResourceType::*;
    const MM: &str = "User:mirrormaker";
    let kdc = Kdc::start(KdcOptions::default()).expect("the MIT KDC starts");
    let topic = random_name("krb");
    let group = random_name("mm");
    let source_acls = vec![
        allow_acl(Topic, &topic, Literal, MM, Read),
        allow_acl(Topic, &topic, Literal, MM, Describe),
        allow_acl(Group, &group, Literal, MM, Read),
        allow_acl(Group, &group, Literal, MM, Describe),
    ];
    let write = allow_acl(Topic, &topic, Literal, MM, Write);
    let target_acls = vec![
        write.clone(),
        allow_acl(Topic, &topic, Literal, MM, Describe),
    ];
    let source = SecuredBroker::start_kerberos(&kdc, |o| o.acls = source_acls)
        .expect("source tansu + GSSAPI listener");
    let target = SecuredBroker::start_kerberos(&kdc, |o| o.acls = target_acls)
        .expect("target tansu + GSSAPI listener");
    source.admin_conn().create_topic(&topic, 1).unwrap();
    target.admin_conn().create_topic(&topic, 1).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let jaas = format!(
        "sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab=\"{}\" principal=\"{}\";\n",
        kdc.standard_keytab(MIRRORMAKER).display(),
        kdc.full_name(MIRRORMAKER)
    );
    let c = dir.path().join("consumer.properties");
    let p = dir.path().join("producer.properties");
    let sasl = "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.kerberos.service.name=kafka\n";
    std::fs::write(
        &c,
        format!(
            "bootstrap.servers={}\ngroup.id={group}\n{sasl}{jaas}",
            source.listener.bootstrap()
        ),
    )
    .unwrap();
    std::fs::write(
        &p,
        format!(
            "bootstrap.servers={}\n{sasl}{jaas}",
            target.listener.bootstrap()
        ),
    )
    .unwrap();
    let mut args = mirror_args(&c, &p, &topic, &["--format", "json"]);
    args.push("--allow.service.principal".into());
    let mut env = kdc.env();
    env.push((
        "KRB5CCNAME".into(),
        format!("FILE:{}", dir.path().join("ccache").display()),
    ));
    let check = |args: &[String]| {
        let run = kmirror_check_env(args, dir.path(), &env);
        let report = Report::from_json(&run.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr));
        (run, report)
    };

    let (run, report) = check(&args);
    assert!(
        run.status.success(),
        "{}\n{}",
        report.to_table(),
        run.stderr
    );
    assert!(
        report.rows.iter().all(|r| r.principal == MM),
        "{}",
        report.to_table()
    );
    // `kmirror check` prints the principal each side authenticates as.
    let full = kdc.full_name(MIRRORMAKER);
    assert!(
        report.rows.iter().any(|r| r.check == "AUTHENTICATE"
            && r.detail
                .contains(&format!("authenticated as {full} (configured)"))),
        "{}",
        report.to_table()
    );
    assert!(
        report
            .rows
            .iter()
            .any(|r| r.check == "READ" && r.resource == format!("GROUP:{group}")),
        "{}",
        report.to_table()
    );

    let mut admin = KafkaClient::connect(target.listener.addr()).unwrap();
    admin.sasl_plain("admin", ADMIN_PASSWORD).unwrap();
    admin
        .delete_acls(&[AclBindingFilter::exact(&write)])
        .unwrap();
    let (run, report) = check(&args);
    assert!(!run.status.success());
    assert_eq!(
        rows_with(&report, Verdict::Fail),
        vec![format!("target {MM} WRITE TOPIC:{topic}")],
        "{}",
        report.to_table()
    );
}
