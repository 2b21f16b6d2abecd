//! The rig shared by every integration test: two tansu brokers, properties
//! files as a MirrorMaker user writes them, and kmirror as a process.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use kmirror_rig::checker::{self, Partitioning};
pub use kmirror_rig::cluster::{self, ClusterConn, Record, Workload};
pub use kmirror_rig::delay_proxy::{DelayProxy, DelayedTansu};
pub use kmirror_rig::tansu::{Tansu, TansuOptions};
pub use kmirror_rig::{await_condition, random_name};
pub use rdkafka::mocking::MockCluster;

/// Two plaintext tansu brokers: a source and a target cluster.
pub struct Rig {
    pub source: Tansu,
    pub target: Tansu,
    pub dir: tempfile::TempDir,
    /// The delay proxy the target is reached through, if any
    /// ([`Rig::start_with_target_delay`]).
    pub target_proxy: Option<DelayProxy>,
}

impl Rig {
    /// As [`Rig::start`], with the target behind the rig's delay proxy (the
    /// mirror near the source, producing across a link of `one_way` each
    /// way): the target advertises the proxy, so every client of the target
    /// goes through it, and stopping the proxy is a target outage.
    pub fn start_with_target_delay(one_way: Duration) -> Rig {
        let mut rig = Rig::start();
        let delayed = DelayedTansu::start(
            one_way,
            TansuOptions {
                cluster_id: Some(random_name("target")),
                log_file: Some(rig.dir.path().join("tansu-target-delayed.log")),
                ..Default::default()
            },
        )
        .expect("starting the target tansu broker behind the delay proxy");
        rig.target = delayed.tansu;
        rig.target_proxy = Some(delayed.proxy);
        rig
    }

    /// Where clients reach the target: the proxy if there is one.
    pub fn target_bootstrap(&self) -> String {
        match &self.target_proxy {
            Some(p) => p.addr().to_string(),
            None => self.target.addr().to_string(),
        }
    }

    pub fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let source = Tansu::start(TansuOptions {
            cluster_id: Some(random_name("source")),
            log_file: Some(dir.path().join("tansu-source.log")),
            ..Default::default()
        })
        .expect("starting the source tansu broker");
        let target = Tansu::start(TansuOptions {
            cluster_id: Some(random_name("target")),
            log_file: Some(dir.path().join("tansu-target.log")),
            ..Default::default()
        })
        .expect("starting the target tansu broker");
        Rig {
            source,
            target,
            dir,
            target_proxy: None,
        }
    }

    pub fn source_conn(&self) -> ClusterConn {
        ClusterConn::plaintext(self.source.addr().to_string())
    }

    pub fn target_conn(&self) -> ClusterConn {
        ClusterConn::plaintext(self.target_bootstrap())
    }

    /// A topic created on both clusters with `partitions` partitions.
    pub fn topic_on_both(&self, prefix: &str, partitions: i32) -> String {
        let t = random_name(prefix);
        self.source_conn().create_topic(&t, partitions).unwrap();
        self.target_conn().create_topic(&t, partitions).unwrap();
        t
    }

    /// MirrorMaker-style consumer and producer properties files. `extra`
    /// lines are appended to the consumer (`c:`) or producer (`p:`) file.
    pub fn properties(&self, group: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
        let c = self.dir.path().join(format!("{group}-consumer.properties"));
        let p = self.dir.path().join(format!("{group}-producer.properties"));
        let mut ctext = format!(
            "# as in the MirrorMaker no-data-loss guide\nbootstrap.servers={}\ngroup.id={group}\nauto.commit.enable=false\nsecurity.protocol=PLAINTEXT\n\
             # tansu holds a fetch for the full wait even when data is ready\nfetch.max.wait.ms=10\n",
            self.source.addr()
        );
        let mut ptext = format!(
            "bootstrap.servers={}\nacks=-1\nretries=2147483647\nmax.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\nsecurity.protocol=PLAINTEXT\n",
            self.target_bootstrap()
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
}

/// kmirror running as a process, its output captured to a file.
pub struct Kmirror {
    pub child: Child,
    pub log: PathBuf,
}

pub fn kmirror_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kmirror")
}

impl Kmirror {
    pub fn spawn(args: &[String], log: &Path) -> Kmirror {
        let f = std::fs::File::create(log).unwrap();
        let child = Command::new(kmirror_bin())
            .args(args)
            .env("RUST_LOG", "info,librdkafka=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Kmirror {
            child,
            log: log.to_owned(),
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    pub fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_timeout(Duration::from_secs(60))
            .unwrap_or_else(|| {
                panic!(
                    "kmirror did not stop within 60 s after SIGTERM:\n{}",
                    self.output()
                )
            })
    }

    /// [`Kmirror::stop`], asserting a clean (zero) exit.
    pub fn stop_ok(&mut self) {
        let status = self.stop();
        assert!(status.success(), "exit {status}:\n{}", self.output());
    }

    /// Waits until `group` on `conn` committed `ends` of `topic` (the
    /// mirror delivered and committed everything); panics with kmirror's
    /// output if that takes longer than `timeout`.
    pub fn await_committed(
        &self,
        conn: &ClusterConn,
        group: &str,
        topic: &str,
        ends: &BTreeMap<i32, i64>,
        timeout: Duration,
    ) {
        assert!(
            await_committed(conn, group, topic, ends, timeout),
            "{topic}: committed offsets never reached {ends:?}:\n{}",
            self.output()
        );
    }

    /// Reads all `records` records of `topic` from `conn` (asserting that
    /// many are there), then waits as [`Kmirror::await_committed`] until
    /// `group` committed their end offsets; returns the source records.
    pub fn await_all_committed(
        &self,
        conn: &ClusterConn,
        group: &str,
        topic: &str,
        records: usize,
        timeout: Duration,
    ) -> Vec<Record> {
        let source = read_source(conn, topic, records);
        let ends = checker::end_offsets(&source);
        self.await_committed(conn, group, topic, &ends, timeout);
        source
    }
}

impl Kmirror {
    /// The most partitions one "partitions assigned" line of this process
    /// named (0 when it was never assigned any).
    pub fn max_partitions_assigned(&self) -> u64 {
        log_field_values(&self.output(), "partitions assigned", "partitions")
            .max()
            .unwrap_or(0)
    }

    /// The partitions this process owns now, from its last assignment log
    /// line: `Some(n)` after "partitions assigned", `None` after a revoke
    /// (a rebalance under way) or before any assignment.
    pub fn partitions_owned(&self) -> Option<u64> {
        let out = self.output();
        let last = out
            .lines()
            .rfind(|l| l.contains("partitions assigned") || l.contains("partitions revoked"))?;
        if last.contains("partitions revoked") {
            return None;
        }
        let owned = log_field_values(last, "partitions assigned", "partitions").next();
        owned
    }

    /// Records this process mirrored, from its last progress line or its
    /// "stopped" line (run it with `--progress.interval.ms` to see records
    /// of a process that is killed).
    pub fn records_mirrored(&self) -> u64 {
        let out = self.output();
        let progress = log_field_values(&out, "progress:", "records").max();
        let stopped = log_field_values(&out, " stopped", "records").max();
        progress.max(stopped).unwrap_or(0)
    }

    /// Asserts that this process owned partitions and moved records (a
    /// shared-group test must not pass with one process idle).
    pub fn assert_took_part(&self, name: &str) {
        let (partitions, records) = (self.max_partitions_assigned(), self.records_mirrored());
        assert!(
            partitions > 0 && records > 0,
            "process {name} owned {partitions} partitions and mirrored {records} records:\n{}",
            self.output()
        );
    }
}

/// The values of `field=N` on the log lines that contain `marker`.
pub fn log_field_values<'a>(
    out: &'a str,
    marker: &'a str,
    field: &'a str,
) -> impl Iterator<Item = u64> + 'a {
    let key = format!("{field}=");
    out.lines()
        .filter(move |l| l.contains(marker))
        .filter_map(move |l| {
            let at = l.find(&key)? + key.len();
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
}

impl Drop for Rig {
    /// A failed test keeps the rig's directory (broker logs, every kmirror
    /// log, properties files) so the failure can be read after the fact.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("rig directory kept: {}", self.dir.path().display());
        }
    }
}

impl Drop for Kmirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The standard MirrorMaker-style arguments.
/// A consumer properties file in `dir` for `group` on a plaintext cluster
/// at `bootstrap` (librdkafka's mock cluster, mostly).
pub fn mock_consumer_properties(dir: &Path, bootstrap: &str, group: &str) -> PathBuf {
    let c = dir.join(format!("{group}-mock-consumer.properties"));
    std::fs::write(
        &c,
        format!("bootstrap.servers={bootstrap}\ngroup.id={group}\nsecurity.protocol=PLAINTEXT\n"),
    )
    .unwrap();
    c
}

pub fn mirror_args(c: &Path, p: &Path, whitelist: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--consumer.config".to_string(),
        c.display().to_string(),
        "--producer.config".into(),
        p.display().to_string(),
        "--whitelist".into(),
        whitelist.into(),
        "--allow.plaintext".into(),
        "--offset.commit.interval.ms".into(),
        "500".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Waits until `group`'s committed offsets on `conn` equal `ends` for every
/// partition: the mirror has delivered and committed everything.
pub fn await_committed(
    conn: &ClusterConn,
    group: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> bool {
    await_condition(timeout, || {
        let c = cluster::committed_offsets(conn, group, topic).ok()?;
        ends.iter()
            .all(|(p, e)| c.get(p).copied().flatten() == Some(*e))
            .then_some(())
    })
    .is_some()
}

/// Reads every record of `topic` on a source and asserts there are exactly
/// `expected`: what was produced is what the mirror must copy.
pub fn read_source(conn: &ClusterConn, topic: &str, expected: usize) -> Vec<Record> {
    let source = cluster::read_all(
        conn,
        topic,
        expected,
        Duration::from_millis(500),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(source.len(), expected, "{topic}: records on the source");
    source
}

/// Mirrors all of `w` with `args` through `rounds` kill -9s: each round
/// produces a chunk (`w.records / (2 * rounds)`), waits until the running
/// process has committed past what was committed before (so every killed
/// process did work), produces another chunk while it runs and kills it
/// (-9), and starts the next (log `km-ROUND.log`). The rest of `w` is
/// produced at the end; returns the last process, still running.
pub fn mirror_through_kill9_rounds(
    rig: &Rig,
    args: &[String],
    group: &str,
    topic: &str,
    w: &Workload,
    rounds: usize,
) -> Kmirror {
    let chunk = w.records / (2 * rounds);
    let mut produced = 0;
    let mut committed_before = 0;
    let mut km = Kmirror::spawn(args, &rig.dir.path().join("km-0.log"));
    for round in 1..=rounds {
        produced +=
            cluster::produce_range(&rig.source_conn(), topic, w, produced..produced + chunk)
                .unwrap();
        let seen = await_condition(Duration::from_secs(120), || {
            let c = cluster::committed_offsets(&rig.source_conn(), group, topic).ok()?;
            let total: i64 = c.values().map(|o| o.unwrap_or(0)).sum();
            (total > committed_before).then_some(total)
        });
        committed_before = seen.unwrap_or_else(|| {
            panic!(
                "round {round}: nothing committed past {committed_before}:\n{}",
                km.output()
            )
        });
        produced +=
            cluster::produce_range(&rig.source_conn(), topic, w, produced..produced + chunk)
                .unwrap();
        km.kill9();
        km = Kmirror::spawn(args, &rig.dir.path().join(format!("km-{round}.log")));
    }
    if produced < w.records {
        produced +=
            cluster::produce_range(&rig.source_conn(), topic, w, produced..w.records).unwrap();
    }
    assert_eq!(produced, w.records);
    km
}

/// [`check_mirror`], then checks `group`'s committed offsets of `topic`
/// against the target: never past the contiguous delivered prefix.
pub fn check_mirror_and_commits(
    rig: &Rig,
    group: &str,
    topic: &str,
    expected: usize,
    partitioning: Partitioning,
) -> checker::Report {
    let (source, target, report) = check_mirror(rig, topic, expected, partitioning);
    let committed = cluster::committed_offsets(&rig.source_conn(), group, topic).unwrap();
    checker::check_committed(&source, &target, &committed).unwrap();
    report
}

/// Reads both topics and runs the checker.
pub fn check_mirror(
    rig: &Rig,
    topic: &str,
    expected: usize,
    partitioning: Partitioning,
) -> (Vec<Record>, Vec<Record>, checker::Report) {
    let source = read_source(&rig.source_conn(), topic, expected);
    let target = cluster::read_all(
        &rig.target_conn(),
        topic,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap();
    let report = checker::check(&source, &target, partitioning).unwrap_or_else(|v| panic!("{v}"));
    (source, target, report)
}

// ---------------------------------------------------------------------------
// Secured clusters: tansu behind the rig's PLAIN, ACL-enforcing listener.

// Not every test binary uses all of these.
#[allow(unused_imports)]
pub use kmirror::preflight::acl::{
    AclBinding, AclBindingFilter, Operation, PatternType, Permission, ResourceType,
    CLUSTER_RESOURCE_NAME,
};
#[allow(unused_imports)]
pub use kmirror_rig::listener::client::KafkaClient;
#[allow(unused_imports)]
pub use kmirror_rig::listener::{plain_conn, Listener, ListenerOptions, ADMIN_PASSWORD};

/// A tansu broker behind a PLAIN listener that enforces ACLs (`User:admin`
/// is the super user); tansu advertises the listener, so every client
/// connection goes through it.
pub struct PlainBroker {
    /// Declared first: dropped (killed) before the broker behind it.
    pub listener: Listener,
    pub tansu: Tansu,
}

impl PlainBroker {
    /// Starts tansu and the listener with PLAIN `users` (plus `admin`).
    pub fn start(users: &[(&str, &str)]) -> PlainBroker {
        Self::start_with(users, |_| {})
    }

    /// As [`PlainBroker::start`], with the listener's options adjusted by `configure`.
    pub fn start_with(
        users: &[(&str, &str)],
        configure: impl FnOnce(&mut ListenerOptions),
    ) -> PlainBroker {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], kmirror_rig::free_port()));
        let tansu = Tansu::start(TansuOptions {
            advertised: Some(addr),
            ..Default::default()
        })
        .expect("starting tansu behind a listener");
        let mut opts = ListenerOptions::plain(tansu.addr(), users);
        configure(&mut opts);
        opts.listen = Some(addr);
        let listener = Listener::spawn(opts).expect("starting the PLAIN listener");
        PlainBroker { listener, tansu }
    }

    /// Stops the listener: the broker's address refuses connections until
    /// [`PlainBroker::restart_listener`]. (A `Listener` stops only when
    /// dropped, so a placeholder on another port takes its place.)
    pub fn stop_listener(&mut self) {
        if self.listener.addr() != self.tansu.advertised() {
            return;
        }
        let placeholder = Listener::spawn(ListenerOptions::plain(self.tansu.addr(), &[]))
            .expect("starting a placeholder listener");
        drop(std::mem::replace(&mut self.listener, placeholder));
    }

    /// A new listener on the broker's address, as [`PlainBroker::start_with`]
    /// starts one. ACLs granted through the old one are gone: set them in
    /// `configure`.
    pub fn restart_listener(
        &mut self,
        users: &[(&str, &str)],
        configure: impl FnOnce(&mut ListenerOptions),
    ) {
        self.stop_listener();
        let mut opts = ListenerOptions::plain(self.tansu.addr(), users);
        configure(&mut opts);
        opts.listen = Some(self.tansu.advertised());
        self.listener = Listener::spawn(opts).expect("restarting the PLAIN listener");
    }

    /// The super user's connection, for setup and reading back.
    pub fn admin(&self) -> ClusterConn {
        plain_conn(&self.listener, "admin", ADMIN_PASSWORD)
    }

    /// An ACL admin client authenticated as the super user.
    pub fn acl_client(&self) -> KafkaClient {
        let mut c = KafkaClient::connect(self.listener.addr()).expect("connecting for ACL admin");
        c.sasl_plain("admin", ADMIN_PASSWORD)
            .expect("admin PLAIN authentication");
        c
    }

    /// Creates ACLs (as the super user).
    pub fn grant(&self, acls: &[AclBinding]) {
        self.acl_client()
            .create_acls(acls)
            .unwrap_or_else(|e| panic!("CreateAcls {acls:?}: {e}"));
    }

    /// Deletes exactly `acl` (as the super user); panics if it was not there.
    pub fn revoke(&self, acl: &AclBinding) {
        let deleted = self
            .acl_client()
            .delete_acls(&[AclBindingFilter::exact(acl)])
            .unwrap_or_else(|e| panic!("DeleteAcls {acl}: {e}"));
        assert_eq!(deleted.len(), 1, "revoking {acl} deleted {deleted:?}");
    }
}

/// An ALLOW ACL from any host.
pub fn allow_acl(
    rt: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    op: Operation,
) -> AclBinding {
    AclBinding::new(rt, name, pattern, principal, "*", op, Permission::Allow)
}

/// Source and target clusters behind PLAIN listeners.
pub struct SecuredRig {
    pub source: PlainBroker,
    pub target: PlainBroker,
    pub dir: tempfile::TempDir,
}

impl SecuredRig {
    /// Both clusters, each knowing the PLAIN `users` (plus `admin`).
    pub fn start(users: &[(&str, &str)]) -> SecuredRig {
        Self::start_with(users, |_| {})
    }

    /// As [`SecuredRig::start`], with both listeners' options adjusted by `configure`.
    pub fn start_with(
        users: &[(&str, &str)],
        configure: impl Fn(&mut ListenerOptions),
    ) -> SecuredRig {
        SecuredRig {
            source: PlainBroker::start_with(users, &configure),
            target: PlainBroker::start_with(users, &configure),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A topic created (by the super user) on the source, and on the
    /// target too if `on_target`.
    pub fn topic(&self, prefix: &str, partitions: i32, on_target: bool) -> String {
        let t = random_name(prefix);
        self.source.admin().create_topic(&t, partitions).unwrap();
        if on_target {
            self.target.admin().create_topic(&t, partitions).unwrap();
        }
        t
    }

    /// MirrorMaker-style properties files authenticating with SASL/PLAIN
    /// (inline `sasl.jaas.config`) as `user` on both clusters.
    pub fn plain_properties(&self, group: &str, user: &str, password: &str) -> (PathBuf, PathBuf) {
        let jaas = format!(
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"{password}\";\n"
        );
        let c = self.dir.path().join(format!("{group}-consumer.properties"));
        let p = self.dir.path().join(format!("{group}-producer.properties"));
        std::fs::write(
            &c,
            format!(
                "bootstrap.servers={}\ngroup.id={group}\nauto.commit.enable=false\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n{jaas}fetch.max.wait.ms=10\n",
                self.source.listener.addr()
            ),
        )
        .unwrap();
        std::fs::write(
            &p,
            format!(
                "bootstrap.servers={}\nacks=-1\nretries=2147483647\nmax.in.flight.requests.per.connection=1\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n{jaas}",
                self.target.listener.addr()
            ),
        )
        .unwrap();
        (c, p)
    }
}

/// What `kmirror check` printed and how it exited.
pub struct CheckRun {
    pub status: ExitStatus,
    /// The report.
    pub stdout: String,
    /// Logs and errors.
    pub stderr: String,
}

/// Runs `kmirror check ARGS` to completion (within 120 s).
pub fn kmirror_check(args: &[String], dir: &Path) -> CheckRun {
    kmirror_check_env(args, dir, &[])
}

/// [`kmirror_check`] with extra environment variables (e.g. the KDC's
/// `KRB5_CONFIG` and a private `KRB5CCNAME`).
pub fn kmirror_check_env(args: &[String], dir: &Path, env: &[(String, String)]) -> CheckRun {
    let name = random_name("check");
    let out = dir.join(format!("{name}.out"));
    let err = dir.join(format!("{name}.err"));
    let mut child = Command::new(kmirror_bin())
        .arg("check")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = await_condition(Duration::from_secs(120), || child.try_wait().unwrap());
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "kmirror check did not finish within 120 s:\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    });
    CheckRun {
        status,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

/// `listener` (the `side` cluster's) authenticated the mirror over GSSAPI
/// at least once and only as `principal`; every other authentication is
/// the test's own PLAIN `admin`.
pub fn assert_gssapi_only_as(side: &str, listener: &Listener, principal: &str) {
    let events = listener.events().unwrap();
    let mut gssapi = 0;
    for e in &events {
        if let kmirror_rig::listener::AuditEvent::Authentication {
            mechanism,
            principal: p,
            success,
            ..
        } = e
        {
            if mechanism == "GSSAPI" {
                assert!(
                    *success && p.as_deref() == Some(principal),
                    "{side}: unexpected GSSAPI authentication {e:?}"
                );
                gssapi += 1;
            } else {
                assert!(
                    mechanism == "PLAIN" && p.as_deref() == Some("admin"),
                    "{side}: unexpected authentication {e:?}"
                );
            }
        }
    }
    assert!(
        gssapi > 0,
        "{side}: no GSSAPI authentication in {events:#?}"
    );
}

/// `GET path` on `addr`; returns (status code, body).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: kmirror\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Parses Prometheus/OpenMetrics text: every line is a comment (`# HELP`,
/// `# TYPE`, `# UNIT`, `# EOF`) or `name{labels} value`; panics otherwise.
/// Returns series (name with labels) → value.
pub fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) (\S+)$"#,
    )
    .unwrap();
    let mut out = BTreeMap::new();
    assert!(text.ends_with("# EOF\n"), "no EOF marker:\n{text}");
    for line in text.lines() {
        if line.starts_with("# HELP ")
            || line.starts_with("# TYPE ")
            || line.starts_with("# UNIT ")
            || line == "# EOF"
        {
            continue;
        }
        let c = sample
            .captures(line)
            .unwrap_or_else(|| panic!("not a Prometheus sample line: {line:?}"));
        let v: f64 = c[5]
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        out.insert(c[1].to_string(), v);
    }
    out
}

/// Sends `sig` (STOP, CONT, ...) to a process the test started.
pub fn signal_pid(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

/// Stops a process (SIGSTOP) and continues it (SIGCONT) when dropped, so a
/// failing test never leaves a broker paused.
pub struct Paused(u32);

impl Paused {
    pub fn new(pid: u32) -> Paused {
        signal_pid(pid, "STOP");
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal_pid(self.0, "CONT");
    }
}

// ---------------------------------------------------------------------------
// The target as librdkafka's mock cluster (fault injection).

/// librdkafka's in-process mock cluster (3 brokers) as the target, for
/// fault injection only: the source is a real tansu broker.
pub struct MockTarget {
    pub mock: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
}

impl MockTarget {
    pub fn new(topic: &str, partitions: i32) -> MockTarget {
        let mock = MockCluster::new(3).unwrap();
        mock.create_topic(topic, partitions, 3).unwrap();
        MockTarget { mock }
    }
    pub fn conn(&self) -> ClusterConn {
        ClusterConn::plaintext(self.mock.bootstrap_servers())
    }
    /// Producer properties for the mock, plus `extra` lines.
    pub fn producer_properties(&self, rig: &Rig, name: &str, extra: &[&str]) -> PathBuf {
        let p = rig
            .dir
            .path()
            .join(format!("{name}-mock-producer.properties"));
        std::fs::write(
            &p,
            format!(
                "bootstrap.servers={}\nsecurity.protocol=PLAINTEXT\nretry.backoff.ms=20\n{}",
                self.mock.bootstrap_servers(),
                extra.iter().map(|l| format!("{l}\n")).collect::<String>()
            ),
        )
        .unwrap();
        p
    }
}

/// Mirrors 20,000 keyed records from tansu into the mock target with
/// `producer_extra` lines in the producer properties; `inject` makes the
/// faults once kmirror runs. Ends with the checker and the committed offsets.
pub fn mirror_into_mock(
    producer_extra: &[&str],
    inject: impl FnOnce(&MockTarget, &Kmirror),
) -> checker::Report {
    let rig = Rig::start();
    let topic = random_name("faults");
    rig.source_conn().create_topic(&topic, 4).unwrap();
    let target = MockTarget::new(&topic, 4);
    let w = Workload {
        records: 20_000,
        keys: 200,
        ..Default::default()
    };
    cluster::produce_range(&rig.source_conn(), &topic, &w, 0..5_000).unwrap();
    let group = random_name("mm");
    let (c, _) = rig.properties(&group, &[]);
    let p = target.producer_properties(&rig, &group, producer_extra);
    let mut km = Kmirror::spawn(
        &mirror_args(&c, &p, &topic, &["--queue.size", "2000"]),
        &rig.dir.path().join("km.log"),
    );
    inject(&target, &km);
    cluster::produce_range(&rig.source_conn(), &topic, &w, 5_000..w.records).unwrap();
    let source = km.await_all_committed(
        &rig.source_conn(),
        &group,
        &topic,
        w.records,
        Duration::from_secs(180),
    );
    km.stop_ok();
    let dst = cluster::read_all(
        &target.conn(),
        &topic,
        w.records,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap();
    let report =
        checker::check(&source, &dst, Partitioning::ByKey).unwrap_or_else(|v| panic!("{v}"));
    let committed = cluster::committed_offsets(&rig.source_conn(), &group, &topic).unwrap();
    checker::check_committed(&source, &dst, &committed).unwrap();
    report
}
