//! TLS end to end: a matrix of full mirror runs, each side secured
//! independently (SSL, SSL with a client certificate from PEM or PKCS#12
//! stores, SASL_SSL with PLAIN, GSSAPI, SCRAM-SHA-256 or SCRAM-SHA-512),
//! each checked by the no-loss checker; and broken TLS settings and wrong
//! SASL passwords, each refused before anything is consumed with one
//! message naming the broker or file. No secret (store passwords, key PEM,
//! SASL passwords) appears in the output at `RUST_LOG=debug`.
//!
//! The clusters are tansu brokers behind the rig's security listener
//! (TLS, client-certificate principals, SASL PLAIN/GSSAPI/SCRAM, ACLs);
//! tansu's own TLS and SCRAM are not used (tansu 0.6.0 cannot be started
//! with `--cert`/`--key`, clap refuses the two together, nor can users be
//! created once `--authentication` is on). The listener derives SCRAM
//! credentials from its user list with a random salt at start-up, as a
//! broker holds them after `kafka-configs --add-config SCRAM-SHA-...`.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kmirror_rig::kdc::{Kdc, KdcOptions, MIRRORMAKER};
use kmirror_rig::listener::tls::{IssuedCert, TestPki};
use kmirror_rig::listener::{ssl_conn, AuditEvent, TlsOptions};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::*;

const MIRROR_PW: &str = "Mirror-Sasl-Pw-5813";
const TRUSTSTORE_PW: &str = "Truststore-Pw-7720";
const KEYSTORE_PW: &str = "Keystore-Pw-4471";
/// A wrong SCRAM password for the negative test.
const WRONG_SCRAM_PW: &str = "Scram-Wrong-Pw-6092";
const RECORDS: usize = 3000;

/// How kmirror authenticates to one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// SSL, server authentication only (`User:ANONYMOUS`); Java-style PEM truststore.
    Ssl,
    /// SSL with a client certificate from PKCS#12 keystore and truststore.
    MtlsPkcs12,
    /// SSL with a client certificate from PEM files (librdkafka keys).
    MtlsPem,
    /// SASL_SSL with PLAIN.
    Plain,
    /// SASL_SSL with GSSAPI (Kerberos).
    Gssapi,
    /// SASL_SSL with SCRAM-SHA-256 (the listener offers only it).
    ScramSha256,
    /// SASL_SSL with SCRAM-SHA-512 (the listener offers only it).
    ScramSha512,
}

impl Auth {
    /// The SCRAM mechanism name, for the SCRAM variants.
    fn scram(self) -> Option<&'static str> {
        match self {
            Auth::ScramSha256 => Some("SCRAM-SHA-256"),
            Auth::ScramSha512 => Some("SCRAM-SHA-512"),
            _ => None,
        }
    }
}

/// A PKI, KDC (when a side needs one) and the files a user would hold.
struct Env {
    dir: tempfile::TempDir,
    pki: TestPki,
    server: IssuedCert,
    admin: IssuedCert,
    mirror: IssuedCert,
    kdc: Option<Kdc>,
}

/// One cluster: tansu behind a TLS listener.
struct Cluster {
    listener: Listener,
    _tansu: Tansu,
    auth: Auth,
    /// The super user's connection (set-up and reading back).
    admin: ClusterConn,
}

fn pem_key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

impl Env {
    fn new(kerberos: bool) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new(dir.path()).unwrap();
        let server = pki.server("broker").unwrap();
        let admin = pki.client("admin", "admin", Some("kmirror")).unwrap();
        let mirror = pki.client("mirror", "mirror", Some("kmirror")).unwrap();
        let kdc = kerberos.then(|| {
            Kdc::start(KdcOptions::default())
                .expect("the MIT KDC starts (krb5-kdc, krb5-admin-server)")
        });
        Env {
            dir,
            pki,
            server,
            admin,
            mirror,
            kdc,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A PKCS#12 truststore holding the rig CA (as `keytool -importcert`
    /// would make) and a keystore holding the mirror's key and certificate.
    fn pkcs12_stores(&self) -> (PathBuf, PathBuf) {
        let ts_path = self.path("truststore.p12");
        let ks_path = self.path("keystore.p12");
        if !ts_path.exists() {
            let mut ts = KeyStore::new();
            let ca = CertificateDer::from_pem_file(self.pki.ca_pem()).unwrap();
            ts.add_entry(
                "rig-ca",
                KeyStoreEntry::Certificate(Certificate::from_der(&ca).unwrap()),
            );
            std::fs::write(&ts_path, ts.writer(TRUSTSTORE_PW).write().unwrap()).unwrap();
            let cert = CertificateDer::from_pem_file(&self.mirror.cert).unwrap();
            let key = pem_key(&self.mirror.key);
            let mut ks = KeyStore::new();
            ks.add_entry(
                "mirror",
                KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
                    b"mirror".to_vec(),
                    PrivateKey::from_der(key.secret_der()).unwrap(),
                    [Certificate::from_der(&cert).unwrap()],
                )),
            );
            std::fs::write(&ks_path, ks.writer(KEYSTORE_PW).write().unwrap()).unwrap();
        }
        (ts_path, ks_path)
    }

    fn kdc(&self) -> &Kdc {
        self.kdc
            .as_ref()
            .expect("a Kerberos side needs Env::new(true)")
    }

    /// Starts tansu and a TLS listener for `auth`, presenting `server`.
    fn cluster(&self, auth: Auth, server: &IssuedCert) -> Cluster {
        let addr = SocketAddr::from(([127, 0, 0, 1], kmirror_rig::free_port()));
        let tansu = Tansu::start(TansuOptions {
            advertised: Some(addr),
            ..Default::default()
        })
        .expect("starting tansu (scripts/install-tansu.sh)");
        let server_only = TlsOptions {
            cert: server.cert.clone(),
            key: server.key.clone(),
            client_ca: None,
        };
        let mut opts = match auth {
            Auth::Ssl => {
                let mut o =
                    ListenerOptions::ssl(&self.pki, server, tansu.addr(), &["User:ANONYMOUS"]);
                o.tls = Some(server_only);
                o
            }
            Auth::MtlsPkcs12 | Auth::MtlsPem => ListenerOptions::ssl(
                &self.pki,
                server,
                tansu.addr(),
                &["User:O=kmirror,CN=admin", "User:O=kmirror,CN=mirror"],
            ),
            Auth::Plain => {
                let mut o = ListenerOptions::plain(tansu.addr(), &[("mirror", MIRROR_PW)]);
                o.super_users.push("User:mirror".into());
                o.tls = Some(server_only);
                o
            }
            Auth::Gssapi => {
                let mut o = ListenerOptions::kerberos(self.kdc(), tansu.addr());
                o.super_users.push("User:mirrormaker".into());
                o.tls = Some(server_only);
                o
            }
            Auth::ScramSha256 | Auth::ScramSha512 => {
                let mut o = ListenerOptions::plain(tansu.addr(), &[("mirror", MIRROR_PW)]);
                o.mechanisms = vec![auth.scram().unwrap().into()];
                o.super_users.push("User:mirror".into());
                o.tls = Some(server_only);
                o
            }
        };
        opts.listen = Some(addr);
        let listener = Listener::spawn(opts).expect("starting the TLS listener");
        let ca = self.pki.ca_pem().display().to_string();
        let admin = match auth {
            Auth::Ssl => ClusterConn {
                bootstrap: listener.addr().to_string(),
                props: vec![
                    ("security.protocol".into(), "SSL".into()),
                    ("ssl.ca.location".into(), ca),
                    ("fetch.wait.max.ms".into(), "10".into()),
                ],
            },
            Auth::MtlsPkcs12 | Auth::MtlsPem => ssl_conn(&listener, &self.pki, Some(&self.admin)),
            Auth::Plain | Auth::Gssapi => ClusterConn {
                bootstrap: listener.addr().to_string(),
                props: vec![
                    ("security.protocol".into(), "SASL_SSL".into()),
                    ("sasl.mechanism".into(), "PLAIN".into()),
                    ("sasl.username".into(), "admin".into()),
                    ("sasl.password".into(), ADMIN_PASSWORD.into()),
                    ("ssl.ca.location".into(), ca),
                    ("fetch.wait.max.ms".into(), "10".into()),
                ],
            },
            // The set-up connection speaks SCRAM too (librdkafka's client).
            Auth::ScramSha256 | Auth::ScramSha512 => ClusterConn {
                bootstrap: listener.addr().to_string(),
                props: vec![
                    ("security.protocol".into(), "SASL_SSL".into()),
                    ("sasl.mechanism".into(), auth.scram().unwrap().into()),
                    ("sasl.username".into(), "admin".into()),
                    ("sasl.password".into(), ADMIN_PASSWORD.into()),
                    ("ssl.ca.location".into(), ca),
                    ("fetch.wait.max.ms".into(), "10".into()),
                ],
            },
        };
        Cluster {
            listener,
            _tansu: tansu,
            auth,
            admin,
        }
    }

    /// The security lines of a properties file for `auth`, as a
    /// MirrorMaker user writes them (Java keys where Java has them).
    fn security_lines(&self, auth: Auth) -> String {
        let ca = self.pki.ca_pem().display().to_string();
        match auth {
            Auth::Ssl => format!(
                "security.protocol=SSL\nssl.truststore.location={ca}\nssl.truststore.type=PEM\n"
            ),
            Auth::MtlsPkcs12 => {
                let (ts, ks) = self.pkcs12_stores();
                format!(
                    "security.protocol=SSL\nssl.truststore.location={}\nssl.truststore.type=PKCS12\nssl.truststore.password={TRUSTSTORE_PW}\nssl.keystore.location={}\nssl.keystore.type=PKCS12\nssl.keystore.password={KEYSTORE_PW}\nssl.key.password={KEYSTORE_PW}\nssl.endpoint.identification.algorithm=https\n",
                    ts.display(),
                    ks.display()
                )
            }
            Auth::MtlsPem => format!(
                "security.protocol=SSL\nssl.ca.location={ca}\nssl.certificate.location={}\nssl.key.location={}\n",
                self.mirror.cert.display(),
                self.mirror.key.display()
            ),
            Auth::Plain => format!(
                "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"mirror\" password=\"{MIRROR_PW}\";\nssl.ca.location={ca}\n"
            ),
            Auth::Gssapi => {
                let kdc = self.kdc();
                format!(
                    "security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\nsasl.kerberos.service.name=kafka\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab=\"{}\" principal=\"{}\";\nssl.ca.location={ca}\n",
                    kdc.standard_keytab(MIRRORMAKER).display(),
                    kdc.full_name(MIRRORMAKER)
                )
            }
            Auth::ScramSha256 | Auth::ScramSha512 => Self::scram_lines(auth, MIRROR_PW, &ca),
        }
    }

    /// SASL_SSL/SCRAM lines for user `mirror` with `password`.
    fn scram_lines(auth: Auth, password: &str, ca: &str) -> String {
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism={}\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"mirror\" password=\"{password}\";\nssl.ca.location={ca}\n",
            auth.scram().unwrap()
        )
    }

    /// Consumer and producer properties files; `target_lines` replaces the
    /// target's security lines when given.
    fn properties(
        &self,
        group: &str,
        source: &Cluster,
        target: &Cluster,
        target_lines: Option<&str>,
    ) -> (PathBuf, PathBuf) {
        // Kerberos needs the service's host name; the others connect by IP.
        let bootstrap = |c: &Cluster| match c.auth {
            Auth::Gssapi => c.listener.bootstrap(),
            _ => c.listener.addr().to_string(),
        };
        let c = self.path(&format!("{group}-consumer.properties"));
        let p = self.path(&format!("{group}-producer.properties"));
        std::fs::write(
            &c,
            format!(
                "bootstrap.servers={}\ngroup.id={group}\nauto.commit.enable=false\nfetch.max.wait.ms=10\n{}",
                bootstrap(source),
                self.security_lines(source.auth)
            ),
        )
        .unwrap();
        std::fs::write(
            &p,
            format!(
                "bootstrap.servers={}\nacks=-1\nretries=2147483647\nmax.in.flight.requests.per.connection=1\n{}",
                bootstrap(target),
                target_lines
                    .map(str::to_string)
                    .unwrap_or_else(|| self.security_lines(target.auth))
            ),
        )
        .unwrap();
        (c, p)
    }

    /// kmirror at `RUST_LOG=debug` (so the secrets check sees everything),
    /// with the realm's environment when there is a KDC.
    fn spawn(&self, args: &[String], log: &str) -> Kmirror {
        let log = self.path(log);
        let f = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(kmirror_bin());
        cmd.args(args)
            .env("RUST_LOG", "debug")
            .env_remove("KAFKA_OPTS");
        if let Some(kdc) = &self.kdc {
            cmd.envs(kdc.env()).env(
                "KRB5CCNAME",
                format!("FILE:{}", self.path("user-ccache").display()),
            );
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Kmirror { child, log }
    }

    /// Fails if any secret of the rig shows in `output`.
    fn assert_no_secrets(&self, output: &str) {
        let key_body: Vec<String> = [&self.mirror.key, &self.admin.key]
            .iter()
            .map(|k| {
                let pem = std::fs::read_to_string(k).unwrap();
                pem.lines().nth(1).unwrap().to_string()
            })
            .collect();
        for secret in [
            MIRROR_PW,
            TRUSTSTORE_PW,
            KEYSTORE_PW,
            WRONG_SCRAM_PW,
            ADMIN_PASSWORD,
            "PRIVATE KEY",
        ]
        .into_iter()
        .chain(key_body.iter().map(String::as_str))
        {
            assert!(
                !output.contains(secret),
                "a secret ({}...) is in kmirror's output",
                &secret[..4]
            );
        }
    }
}

/// A topic on both clusters with `RECORDS` keyed records on the source.
fn topic_with_records(source: &Cluster, target: &Cluster) -> String {
    let topic = random_name("tls");
    source.admin.create_topic(&topic, 3).unwrap();
    target.admin.create_topic(&topic, 3).unwrap();
    let w = Workload {
        records: RECORDS,
        keys: 100,
        value_size: 100,
        headers: 1,
        ..Default::default()
    };
    cluster::produce(&source.admin, &topic, &w).unwrap();
    topic
}

/// One matrix cell: a full mirror run from a `source`-secured cluster to a
/// `target`-secured one, checked by the no-loss checker.
fn mirror_cell(source: Auth, target: Auth) {
    let env = Env::new(source == Auth::Gssapi || target == Auth::Gssapi);
    let src = env.cluster(source, &env.server);
    let tgt = env.cluster(target, &env.server);
    run_mirror(&env, &src, &tgt, None, &[]);
    // The evidence log shows kmirror (`mirror`) logged in with SCRAM.
    for c in [&src, &tgt] {
        if let Some(mech) = c.auth.scram() {
            let events = c.listener.events().unwrap();
            assert!(
                events.iter().any(|e| matches!(e,
                    AuditEvent::Authentication { mechanism, kafka_principal: Some(p), success: true, .. }
                        if mechanism == mech && p == "User:mirror")),
                "{:?}: no successful {mech} login as User:mirror in {events:?}",
                c.auth
            );
        }
    }
}

/// A full mirror run checked by the no-loss checker; returns kmirror's output.
fn run_mirror(
    env: &Env,
    src: &Cluster,
    tgt: &Cluster,
    target_lines: Option<&str>,
    extra: &[&str],
) -> String {
    let (source, target) = (src.auth, tgt.auth);
    let topic = topic_with_records(src, tgt);
    let group = random_name("mm");
    let (c, p) = env.properties(&group, src, tgt, target_lines);
    // A certificate principal is not known to `kmirror`'s ACL checks.
    let mut args = vec!["--accept.unverified.acls"];
    args.extend(extra);
    let mut km = env.spawn(&mirror_args(&c, &p, &topic, &args), &format!("{group}.log"));
    let source_records = cluster::read_all(
        &src.admin,
        &topic,
        RECORDS,
        Duration::from_millis(500),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(source_records.len(), RECORDS);
    let ends = checker::end_offsets(&source_records);
    assert!(
        await_committed(&src.admin, &group, &topic, &ends, Duration::from_secs(180)),
        "{source:?} -> {target:?}: committed offsets never reached {ends:?}:\n{}",
        km.output()
    );
    let status = km.stop();
    assert!(
        status.success(),
        "{source:?} -> {target:?}: exit {status}:\n{}",
        km.output()
    );
    let target_records = cluster::read_all(
        &tgt.admin,
        &topic,
        RECORDS,
        Duration::from_secs(1),
        Duration::from_secs(120),
    )
    .unwrap();
    let report = checker::check(&source_records, &target_records, Partitioning::ByKey)
        .unwrap_or_else(|v| panic!("{source:?} -> {target:?}: {v}"));
    assert_eq!(report.duplicates, 0);
    let committed = cluster::committed_offsets(&src.admin, &group, &topic).unwrap();
    checker::check_committed(&source_records, &target_records, &committed).unwrap();
    env.assert_no_secrets(&km.output());
    km.output()
}

/// An empty `ssl.endpoint.identification.algorithm` is refused without
/// `--insecure.skip.hostname.verification`; with it, a broker whose
/// certificate names another host is mirrored, with a warning at start.
#[test]
fn hostname_verification_off_needs_the_flag_and_warns() {
    let env = Env::new(false);
    let own = OwnCa::new(env.dir.path());
    let source = env.cluster(Auth::Ssl, &env.server);
    let other_name = own.server(env.dir.path(), "other", &["other.example"], false);
    let mut target = env.cluster(Auth::Ssl, &other_name);
    target.admin.props.push((
        "ssl.endpoint.identification.algorithm".into(),
        "none".into(),
    ));
    target.admin.props[1].1 = own.pem.display().to_string();
    let lines = format!(
        "security.protocol=SSL\nssl.ca.location={}\nssl.endpoint.identification.algorithm=\n",
        own.pem.display()
    );
    refused(
        &env,
        "no-flag",
        &source,
        &target,
        &lines,
        &[
            "ssl.endpoint.identification.algorithm: an empty value turns off hostname verification",
            "--insecure.skip.hostname.verification",
        ],
    );
    let out = run_mirror(
        &env,
        &source,
        &target,
        Some(&lines),
        &["--insecure.skip.hostname.verification"],
    );
    assert!(
        out.contains("--insecure.skip.hostname.verification: broker certificates are not checked against the broker's name"),
        "{out}"
    );
}

/// `enable.ssl.certificate.verification=false` is refused without
/// `--insecure.skip.certificate.verification`; with it, a broker whose
/// certificate the configured CA did not sign is mirrored (librdkafka and
/// the start-up check both skip verification), with a warning at start.
#[test]
fn certificate_verification_off_needs_the_flag_and_warns() {
    let env = Env::new(false);
    let own = OwnCa::new(env.dir.path());
    let source = env.cluster(Auth::Ssl, &env.server);
    let untrusted = own.server(
        env.dir.path(),
        "untrusted",
        &["localhost", "127.0.0.1"],
        false,
    );
    let mut target = env.cluster(Auth::Ssl, &untrusted);
    target.admin.props[1].1 = own.pem.display().to_string();
    // The rig's CA, which did not sign the target's certificate.
    let lines = format!(
        "security.protocol=SSL\nssl.ca.location={}\nenable.ssl.certificate.verification=false\n",
        env.pki.ca_pem().display()
    );
    refused(
        &env,
        "verify-no-flag",
        &source,
        &target,
        &lines,
        &[
            "enable.ssl.certificate.verification: false turns off verification of broker certificates",
            "--insecure.skip.certificate.verification",
        ],
    );
    let out = run_mirror(
        &env,
        &source,
        &target,
        Some(&lines),
        &["--insecure.skip.certificate.verification"],
    );
    assert!(
        out.contains(
            "--insecure.skip.certificate.verification: broker certificates are not verified at all"
        ),
        "{out}"
    );
}

#[test]
fn ssl_source_to_mtls_pkcs12_target() {
    mirror_cell(Auth::Ssl, Auth::MtlsPkcs12);
}

#[test]
fn mtls_pem_source_to_ssl_target() {
    mirror_cell(Auth::MtlsPem, Auth::Ssl);
}

#[test]
fn sasl_ssl_plain_source_to_mtls_pem_target() {
    mirror_cell(Auth::Plain, Auth::MtlsPem);
}

#[test]
fn sasl_ssl_gssapi_source_to_plain_target() {
    mirror_cell(Auth::Gssapi, Auth::Plain);
}

#[test]
fn mtls_pkcs12_source_to_sasl_ssl_gssapi_target() {
    mirror_cell(Auth::MtlsPkcs12, Auth::Gssapi);
}

#[test]
fn scram_sha256_source_to_scram_sha512_target() {
    mirror_cell(Auth::ScramSha256, Auth::ScramSha512);
}

/// The pair a user moving off Kerberos runs: GSSAPI source, SCRAM target.
#[test]
fn sasl_ssl_gssapi_source_to_scram_sha256_target() {
    mirror_cell(Auth::Gssapi, Auth::ScramSha256);
}

#[test]
fn scram_sha512_source_to_ssl_target() {
    mirror_cell(Auth::ScramSha512, Auth::Ssl);
}

/// A wrong SCRAM password on the target stops kmirror before anything is
/// consumed, naming the broker, the mechanism and the user; the listener's
/// evidence log holds the failed login.
#[test]
fn wrong_scram_password_is_refused() {
    let env = Env::new(false);
    let source = env.cluster(Auth::Ssl, &env.server);
    let target = env.cluster(Auth::ScramSha256, &env.server);
    let ca = env.pki.ca_pem().display().to_string();
    refused(
        &env,
        "scram-password",
        &source,
        &target,
        &Env::scram_lines(Auth::ScramSha256, WRONG_SCRAM_PW, &ca),
        &[
            "kmirror: error: target (",
            &format!(
                "-producer.properties): {} rejected SASL/SCRAM-SHA-256 authentication as 'mirror': ",
                target.listener.addr()
            ),
            "Invalid client credentials (error 58); check the username and password",
        ],
    );
    let events = target.listener.events().unwrap();
    assert!(
        events.iter().any(|e| matches!(e,
            AuditEvent::Authentication { mechanism, principal: Some(p), success: false, .. }
                if mechanism == "SCRAM-SHA-256" && p == "mirror")),
        "no failed SCRAM-SHA-256 login by mirror in {events:?}"
    );
}

/// A certificate authority of the test's own, for broker certificates the
/// rig's PKI does not issue (another name, expired).
struct OwnCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    pem: PathBuf,
}

impl OwnCa {
    fn new(dir: &Path) -> OwnCa {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "own test CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer =
            rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join("own-ca.pem");
        std::fs::write(&pem, issuer.pem()).unwrap();
        OwnCa { issuer, pem }
    }

    fn server(&self, dir: &Path, file: &str, names: &[&str], expired: bool) -> IssuedCert {
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        if expired {
            p.not_before = rcgen::date_time_ymd(2025, 1, 1);
            p.not_after = rcgen::date_time_ymd(2026, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        let out = IssuedCert {
            cert: dir.join(format!("{file}.pem")),
            key: dir.join(format!("{file}.key")),
        };
        std::fs::write(&out.cert, cert.pem()).unwrap();
        std::fs::write(&out.key, key.serialize_pem()).unwrap();
        out
    }
}

/// Runs kmirror with a broken target and expects it to stop with an
/// error containing each of `want`, having mirrored and committed nothing.
fn refused(
    env: &Env,
    name: &str,
    source: &Cluster,
    target: &Cluster,
    target_lines: &str,
    want: &[&str],
) {
    let topic = topic_with_records(source, target);
    let group = random_name("mm");
    let (c, p) = env.properties(&group, source, target, Some(target_lines));
    let mut km = env.spawn(
        &mirror_args(&c, &p, &topic, &["--accept.unverified.acls"]),
        &format!("{name}.log"),
    );
    let status = km
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("{name}: kmirror kept running:\n{}", km.output()));
    let out = km.output();
    assert!(!status.success(), "{name}: exit {status}:\n{out}");
    for w in want {
        assert!(out.contains(w), "{name}: no {w:?} in:\n{out}");
    }
    env.assert_no_secrets(&out);
    let mirrored = cluster::read_all(
        &target.admin,
        &topic,
        0,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        mirrored.is_empty(),
        "{name}: {} records mirrored",
        mirrored.len()
    );
    let committed = cluster::committed_offsets(&source.admin, &group, &topic).unwrap();
    assert!(
        committed.values().all(Option::is_none),
        "{name}: committed {committed:?}"
    );
}

/// Each broken TLS setting stops kmirror before anything is consumed, with
/// its own message naming the broker or file and the reason.
#[test]
fn broken_tls_is_refused_before_anything_moves() {
    let env = Env::new(false);
    let own = OwnCa::new(env.dir.path());
    let source = env.cluster(Auth::Ssl, &env.server);
    let mtls = env.cluster(Auth::MtlsPem, &env.server);
    let ssl_target = env.cluster(Auth::Ssl, &env.server);
    let other_name = own.server(env.dir.path(), "other", &["other.example"], false);
    let mut wrong_name = env.cluster(Auth::Ssl, &other_name);
    let old = own.server(env.dir.path(), "old", &["localhost", "127.0.0.1"], true);
    let mut expired = env.cluster(Auth::Ssl, &old);
    // The rig's own set-up connections must get through these brokers.
    for c in [&mut wrong_name, &mut expired] {
        c.admin
            .props
            .push(("enable.ssl.certificate.verification".into(), "false".into()));
    }
    let plain = env.cluster(Auth::Plain, &env.server);
    let ca = env.pki.ca_pem().display().to_string();
    let own_ca = own.pem.display().to_string();

    // The broker's certificate is from a CA kmirror does not trust.
    refused(
        &env,
        "unknown-ca",
        &source,
        &ssl_target,
        &format!("security.protocol=SSL\nssl.ca.location={own_ca}\n"),
        &[&format!(
            "{} presented a certificate signed by an unknown CA (not in {own_ca})",
            ssl_target.listener.addr()
        )],
    );
    refused(
        &env,
        "hostname",
        &source,
        &wrong_name,
        &format!("security.protocol=SSL\nssl.ca.location={own_ca}\n"),
        &[&format!(
            "{} presented a certificate for 'other.example', not '127.0.0.1'",
            wrong_name.listener.addr()
        )],
    );
    refused(
        &env,
        "expired",
        &source,
        &expired,
        &format!("security.protocol=SSL\nssl.ca.location={own_ca}\n"),
        &[&format!(
            "{} presented a certificate that expired on 2026-01-01",
            expired.listener.addr()
        )],
    );
    // The mirror's certificate with the admin's key.
    refused(
        &env,
        "key-mismatch",
        &source,
        &mtls,
        &format!(
            "security.protocol=SSL\nssl.ca.location={ca}\nssl.certificate.location={}\nssl.key.location={}\n",
            env.mirror.cert.display(),
            env.admin.key.display()
        ),
        &[&format!(
            "{}: the private key does not match the certificate in {}",
            env.admin.key.display(),
            env.mirror.cert.display()
        )],
    );
    // A JKS truststore, made by keytool as a Java user would have it.
    let jks = env.path("truststore.jks");
    let made = Command::new("keytool")
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-storetype",
            "JKS",
        ])
        .arg("-file")
        .arg(env.pki.ca_pem())
        .arg("-keystore")
        .arg(&jks)
        .args(["-storepass", TRUSTSTORE_PW])
        .output()
        .expect("keytool (a JDK) makes the JKS store");
    assert!(made.status.success(), "{made:?}");
    let jks_shown = jks.display().to_string();
    refused(
        &env,
        "jks",
        &source,
        &mtls,
        &format!(
            "security.protocol=SSL\nssl.truststore.location={jks_shown}\nssl.truststore.password={TRUSTSTORE_PW}\n"
        ),
        &[&format!(
            "keytool -importkeystore -srckeystore {jks_shown} -srcstoretype JKS -destkeystore {jks_shown}.p12 -deststoretype PKCS12"
        )],
    );
    // A wrong SASL password over TLS (SCRAM: wrong_scram_password_is_refused).
    refused(
        &env,
        "sasl-password",
        &source,
        &plain,
        &format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"mirror\" password=\"{KEYSTORE_PW}\";\nssl.ca.location={ca}\n"
        ),
        &[
            "kmirror: error: target (",
            "Invalid username or password (error 58); check the username and password",
            &format!(
                "-producer.properties): {} rejected SASL/PLAIN authentication as 'mirror': ",
                plain.listener.addr()
            ),
        ],
    );
}
