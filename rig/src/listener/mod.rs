//! The rig's security listener: a process (`kmirror-listener`) in front of
//! a tansu broker that authenticates Kafka clients with SASL GSSAPI
//! (Kerberos), PLAIN or SCRAM-SHA-256/512, enforces ACLs with its own
//! authorizer ([`kafka_authorizer`], independent of kmirror's so the rig can
//! catch kmirror's ACL bugs), answers the ACL admin APIs itself, and writes
//! an evidence log.
//!
//! tansu speaks neither GSSAPI nor ACLs, so this is what makes the rig's
//! clusters behave like secured Apache Kafka clusters.
//!
//! Tests start it with [`Listener::spawn`]. The binary is found, in order:
//! `$KMIRROR_LISTENER_BIN`; `kmirror-listener` next to the running test
//! executable (`target/<profile>/`, the grandparent of
//! `target/<profile>/deps/<test>`) unless a source it is built from (the
//! rig's and kmirror's `src/`, the vendored rust-rdkafka, the manifests,
//! `Cargo.lock`) is newer; otherwise it is built on demand with
//! `cargo build -p kmirror-rig --bin kmirror-listener` into that profile
//! directory.

pub mod acl_api;
pub mod audit;
pub mod authz;
pub mod client;
pub mod kafka_authorizer;
pub mod sasl;
pub mod scram;
pub mod server;
pub mod tls;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kmirror::preflight::acl::AclBinding;

use crate::cluster::{ClusterConn, RIG_FETCH_WAIT_MS};
use crate::kdc::{Kdc, KAFKA_SERVICE};
use crate::tansu::{Tansu, TansuOptions};
pub use audit::AuditEvent;

/// How to start a listener.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// Address to listen on; `None` picks a free loopback port.
    pub listen: Option<SocketAddr>,
    /// The tansu broker behind the listener.
    pub upstream: SocketAddr,
    /// Enabled SASL mechanisms (`GSSAPI`, `PLAIN`, `SCRAM-SHA-256`,
    /// `SCRAM-SHA-512`).
    pub mechanisms: Vec<String>,
    /// Service keytab for GSSAPI.
    pub keytab: Option<PathBuf>,
    /// Restrict GSSAPI to this service principal (default: any key in the
    /// keytab, so both `kafka/localhost` and `kafka/127.0.0.1` work).
    pub service_principal: Option<String>,
    /// The rig KDC's krb5.conf.
    pub krb5_conf: Option<PathBuf>,
    /// PLAIN users and passwords; also the SCRAM users (their SCRAM
    /// credentials are derived with a random salt when the listener starts).
    pub plain_users: Vec<(String, String)>,
    /// Super users, e.g. `User:admin`.
    pub super_users: Vec<String>,
    /// Initial ACLs.
    pub acls: Vec<AclBinding>,
    /// Evidence log path; `None` puts `audit.jsonl` in the listener's
    /// temporary directory.
    pub audit_log: Option<PathBuf>,
    /// Kafka's `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl_found: bool,
    /// Answer KIP-430 requests with "not included", as a pre-2.3 broker.
    pub omit_authorized_operations: bool,
    /// TLS on the listener (SASL_SSL, or SSL when `mechanisms` is empty).
    pub tls: Option<TlsOptions>,
    /// Kafka's `connections.max.reauth.ms` (KIP-368): clients must
    /// re-authenticate on their connections within this (for GSSAPI, and
    /// before their service ticket expires). `None`: sessions never end.
    pub session_lifetime: Option<Duration>,
}

/// TLS files for a listener.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// Require client certificates signed by this CA (PEM).
    pub client_ca: Option<PathBuf>,
}

impl ListenerOptions {
    /// An SSL listener (TLS, no SASL) that requires client certificates
    /// from `pki`'s CA: principals are `User:<subject DN>`. `super_users`
    /// are full principals, e.g. `User:O=kmirror,CN=admin`.
    pub fn ssl(
        pki: &tls::TestPki,
        server: &tls::IssuedCert,
        upstream: SocketAddr,
        super_users: &[&str],
    ) -> ListenerOptions {
        ListenerOptions {
            listen: None,
            upstream,
            mechanisms: Vec::new(),
            keytab: None,
            service_principal: None,
            krb5_conf: None,
            plain_users: Vec::new(),
            super_users: super_users.iter().map(|s| s.to_string()).collect(),
            acls: Vec::new(),
            audit_log: None,
            allow_everyone_if_no_acl_found: false,
            omit_authorized_operations: false,
            tls: Some(TlsOptions {
                cert: server.cert.clone(),
                key: server.key.clone(),
                client_ca: Some(pki.ca_pem().to_path_buf()),
            }),
            session_lifetime: None,
        }
    }

    /// GSSAPI and PLAIN with the KDC's `kafka/*` service keytab, `User:admin`
    /// as super user and PLAIN user `admin` with password `admin-secret`.
    pub fn kerberos(kdc: &Kdc, upstream: SocketAddr) -> ListenerOptions {
        ListenerOptions {
            listen: None,
            upstream,
            mechanisms: vec!["GSSAPI".into(), "PLAIN".into()],
            keytab: Some(kdc.standard_keytab(KAFKA_SERVICE)),
            service_principal: None,
            krb5_conf: Some(kdc.krb5_conf().to_path_buf()),
            plain_users: vec![("admin".into(), ADMIN_PASSWORD.into())],
            super_users: vec!["User:admin".into()],
            acls: Vec::new(),
            audit_log: None,
            allow_everyone_if_no_acl_found: false,
            omit_authorized_operations: false,
            tls: None,
            session_lifetime: None,
        }
    }

    /// PLAIN only (no Kerberos), with PLAIN user `admin` as super user.
    pub fn plain(upstream: SocketAddr, users: &[(&str, &str)]) -> ListenerOptions {
        let mut plain_users: Vec<(String, String)> = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        plain_users.push(("admin".into(), ADMIN_PASSWORD.into()));
        ListenerOptions {
            listen: None,
            upstream,
            mechanisms: vec!["PLAIN".into()],
            keytab: None,
            service_principal: None,
            krb5_conf: None,
            plain_users,
            super_users: vec!["User:admin".into()],
            acls: Vec::new(),
            audit_log: None,
            allow_everyone_if_no_acl_found: false,
            omit_authorized_operations: false,
            tls: None,
            session_lifetime: None,
        }
    }
}

/// The PLAIN password of the `admin` super user that
/// [`ListenerOptions::kerberos`] and [`ListenerOptions::plain`] create.
pub const ADMIN_PASSWORD: &str = "admin-secret";

/// A running `kmirror-listener` process; killed on drop.
pub struct Listener {
    child: Child,
    addr: SocketAddr,
    audit_log: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .field("pid", &self.child.id())
            .field("audit_log", &self.audit_log)
            .finish()
    }
}

/// Finds (or builds) the `kmirror-listener` binary; see the module docs.
/// Decided once per process: a build that cargo finds fresh leaves the
/// binary's time as it was (an edit to kmirror's `main.rs` does not relink the
/// listener), so checking again would run cargo at every spawn.
pub fn listener_binary() -> Result<PathBuf> {
    static FOUND: std::sync::OnceLock<std::result::Result<PathBuf, String>> =
        std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| find_or_build_listener().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_or_build_listener() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KMIRROR_LISTENER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("locating the current executable")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("rig crate has no parent directory")?;
    let found = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("kmirror-listener"))
        .find(|candidate| candidate.is_file());
    // `cargo test --test tls` builds only the kmirror package's targets, so
    // a listener from an earlier build can predate the rig's sources; a test
    // would then run against old listener code without a word.
    if let Some(candidate) = &found {
        if !is_stale(candidate, newest_source(workspace)) {
            return Ok(candidate.clone());
        }
    }
    // Build into the profile directory the tests run from
    // (`<target>/<profile>/deps/<test>`), so a custom CARGO_TARGET_DIR and
    // `--release` get their own listener.
    let profile_dir = found
        .as_deref()
        .and_then(Path::parent)
        .or_else(|| exe.parent().and_then(Path::parent))
        .context("the test executable is not inside a target directory")?
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .context("the profile directory has no parent")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "kmirror-rig", "--bin", "kmirror-listener"])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(workspace);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .context("running cargo build for kmirror-listener")?;
    if !status.success() {
        bail!("cargo build -p kmirror-rig --bin kmirror-listener failed: {status}");
    }
    let built = profile_dir.join("kmirror-listener");
    if !built.is_file() {
        bail!("{} not found after building", built.display());
    }
    Ok(built)
}

/// The newest modification time among the files `kmirror-listener` is built
/// from; `None` when none can be read (an installed rig without sources).
fn newest_source(workspace: &Path) -> Option<std::time::SystemTime> {
    fn walk(path: &Path, newest: &mut Option<std::time::SystemTime>) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(modified) = meta.modified() {
            *newest = (*newest).max(Some(modified));
        }
    }
    let mut newest = None;
    for part in [
        "rig/src",
        "rig/Cargo.toml",
        "src",
        // kmirror's path dependency, linked into the listener through it.
        "vendor",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        walk(&workspace.join(part), &mut newest);
    }
    newest
}

/// Whether `binary` is older than the newest source (an unreadable binary
/// time counts as stale; unknown sources as fresh).
fn is_stale(binary: &Path, newest_source: Option<std::time::SystemTime>) -> bool {
    let Some(newest) = newest_source else {
        return false;
    };
    std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .map_or(true, |built| built < newest)
}

impl Listener {
    /// Writes the users/ACL files, starts the process and waits (up to
    /// 30 s) for its "listening" line, failing with its stderr if it exits.
    pub fn spawn(opts: ListenerOptions) -> Result<Listener> {
        let dir = tempfile::Builder::new()
            .prefix("kmirror-listener-")
            .tempdir()
            .context("creating listener temp dir")?;
        let listen = opts
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], crate::free_port())));
        let audit_log = opts
            .audit_log
            .clone()
            .unwrap_or_else(|| dir.path().join("audit.jsonl"));
        let mut cmd = Command::new(listener_binary()?);
        cmd.arg("--listen")
            .arg(listen.to_string())
            .arg("--upstream")
            .arg(opts.upstream.to_string())
            .arg("--mechanisms")
            .arg(opts.mechanisms.join(","))
            .arg("--audit-log")
            .arg(&audit_log)
            .arg("--super-users")
            .arg(opts.super_users.join(";"));
        if let Some(k) = &opts.keytab {
            cmd.arg("--keytab").arg(k);
        }
        if let Some(p) = &opts.service_principal {
            cmd.arg("--service-principal").arg(p);
        }
        if let Some(c) = &opts.krb5_conf {
            cmd.arg("--krb5-conf").arg(c);
        }
        if !opts.plain_users.is_empty() {
            let path = dir.path().join("plain-users");
            let text: String = opts
                .plain_users
                .iter()
                .map(|(u, p)| format!("{u}:{p}\n"))
                .collect();
            std::fs::write(&path, text).context("writing PLAIN/SCRAM users file")?;
            cmd.arg("--plain-users").arg(path);
        }
        if !opts.acls.is_empty() {
            let path = dir.path().join("acls.json");
            let entries: Vec<_> = opts
                .acls
                .iter()
                .map(acl_api::AclFileEntry::from_binding)
                .collect();
            std::fs::write(&path, serde_json::to_string_pretty(&entries)?)
                .context("writing ACL file")?;
            cmd.arg("--acl-file").arg(path);
        }
        if opts.allow_everyone_if_no_acl_found {
            cmd.arg("--allow-everyone-if-no-acl-found");
        }
        if opts.omit_authorized_operations {
            cmd.arg("--omit-authorized-operations");
        }
        if let Some(l) = opts.session_lifetime {
            cmd.arg("--session-lifetime-ms")
                .arg(l.as_millis().max(1).to_string());
        }
        if let Some(t) = &opts.tls {
            cmd.arg("--tls-cert")
                .arg(&t.cert)
                .arg("--tls-key")
                .arg(&t.key);
            if let Some(ca) = &t.client_ca {
                cmd.arg("--tls-client-ca").arg(ca);
            }
        }
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).context("creating stderr log")?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("starting kmirror-listener")?;
        // Readiness is the process's own "listening" line, printed after
        // bind; a reader thread lets us wait for it with a deadline.
        let stdout = child.stdout.take().context("listener stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).is_ok();
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "kmirror-listener did not start: {}",
                std::fs::read_to_string(&stderr_path)
                    .unwrap_or_default()
                    .trim()
            );
        }
        Ok(Listener {
            child,
            addr: listen,
            audit_log,
            _dir: dir,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `localhost:PORT`, the bootstrap string for Kerberos clients (whose
    /// service ticket is for `kafka/localhost`).
    pub fn bootstrap(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    /// The evidence log file.
    pub fn audit_log(&self) -> &Path {
        &self.audit_log
    }

    /// Every event in the evidence log so far.
    pub fn events(&self) -> Result<Vec<AuditEvent>> {
        audit::read_events(&self.audit_log)
    }
}

/// librdkafka settings for a GSSAPI client of a listener, as `principal`
/// (without realm: it is appended) with its standard keytab from `kdc`.
///
/// The kinit command is spelled out without `-R` so the keytab is always
/// used. librdkafka's Kerberos code reads `KRB5_CONFIG` and `KRB5CCNAME`
/// from the process environment: the process using this connection must
/// have [`Kdc::env`] and its own `KRB5CCNAME` set (pass them to a child
/// process with `Command::envs`; in-process clients share one cache).
pub fn gssapi_conn(listener: &Listener, kdc: &Kdc, principal: &str) -> ClusterConn {
    ClusterConn {
        bootstrap: listener.bootstrap(),
        props: vec![
            ("security.protocol".into(), "SASL_PLAINTEXT".into()),
            ("sasl.mechanism".into(), "GSSAPI".into()),
            ("sasl.kerberos.service.name".into(), "kafka".into()),
            ("sasl.kerberos.principal".into(), kdc.full_name(principal)),
            (
                "sasl.kerberos.keytab".into(),
                kdc.standard_keytab(principal).display().to_string(),
            ),
            (
                "sasl.kerberos.kinit.cmd".into(),
                "kinit -k -t \"%{sasl.kerberos.keytab}\" %{sasl.kerberos.principal}".into(),
            ),
            ("fetch.wait.max.ms".into(), RIG_FETCH_WAIT_MS.into()),
        ],
    }
}

/// librdkafka settings for an SSL client of a listener, authenticating with
/// the client certificate `client` (or none) and trusting `pki`'s CA.
pub fn ssl_conn(
    listener: &Listener,
    pki: &tls::TestPki,
    client: Option<&tls::IssuedCert>,
) -> ClusterConn {
    let mut props = vec![
        ("security.protocol".to_string(), "SSL".to_string()),
        (
            "ssl.ca.location".to_string(),
            pki.ca_pem().display().to_string(),
        ),
        (
            "fetch.wait.max.ms".to_string(),
            RIG_FETCH_WAIT_MS.to_string(),
        ),
    ];
    if let Some(c) = client {
        props.push((
            "ssl.certificate.location".into(),
            c.cert.display().to_string(),
        ));
        props.push(("ssl.key.location".into(), c.key.display().to_string()));
    }
    ClusterConn {
        bootstrap: listener.bootstrap(),
        props,
    }
}

/// librdkafka settings for a PLAIN client of a listener.
pub fn plain_conn(listener: &Listener, user: &str, password: &str) -> ClusterConn {
    ClusterConn {
        bootstrap: listener.addr().to_string(),
        props: vec![
            ("security.protocol".into(), "SASL_PLAINTEXT".into()),
            ("sasl.mechanism".into(), "PLAIN".into()),
            ("sasl.username".into(), user.into()),
            ("sasl.password".into(), password.into()),
            ("fetch.wait.max.ms".into(), RIG_FETCH_WAIT_MS.into()),
        ],
    }
}

/// A tansu broker behind a listener, tansu advertising the listener's
/// address so every client connection goes through the listener.
pub struct SecuredBroker {
    /// The listener (declared first: dropped, i.e. killed, first).
    pub listener: Listener,
    /// The broker behind it.
    pub tansu: Tansu,
}

impl SecuredBroker {
    /// Starts tansu and a listener configured by `configure` from
    /// [`ListenerOptions::kerberos`] (GSSAPI + PLAIN, `User:admin` super
    /// user); `listen` and `upstream` are filled in here.
    pub fn start_kerberos(
        kdc: &Kdc,
        configure: impl FnOnce(&mut ListenerOptions),
    ) -> Result<SecuredBroker> {
        let addr = SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
        let tansu = Tansu::start(TansuOptions {
            advertised: Some(addr),
            ..Default::default()
        })?;
        let mut opts = ListenerOptions::kerberos(kdc, tansu.addr());
        configure(&mut opts);
        opts.listen = Some(addr);
        opts.upstream = tansu.addr();
        let listener = Listener::spawn(opts)?;
        Ok(SecuredBroker { listener, tansu })
    }

    /// The PLAIN super user's connection (for topic setup).
    pub fn admin_conn(&self) -> ClusterConn {
        plain_conn(&self.listener, "admin", ADMIN_PASSWORD)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn touch(path: &Path, at: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = std::fs::File::create(path).unwrap();
        f.set_modified(at).unwrap();
    }

    #[test]
    fn a_listener_older_than_any_source_is_rebuilt() {
        let ws = tempfile::tempdir().unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let hour = Duration::from_secs(3600);
        touch(&ws.path().join("rig/src/listener/server.rs"), t0);
        touch(&ws.path().join("src/preflight/acl.rs"), t0 + hour);
        touch(&ws.path().join("Cargo.lock"), t0);
        // Files outside the listed sources do not count.
        touch(&ws.path().join("docs/operations.md"), t0 + 3 * hour);
        let newest = newest_source(ws.path());
        assert_eq!(newest, Some(t0 + hour));

        let bin = ws.path().join("target/debug/kmirror-listener");
        touch(&bin, t0 + 2 * hour);
        assert!(!is_stale(&bin, newest), "built after every source");
        touch(&ws.path().join("src/preflight/acl.rs"), t0 + 3 * hour);
        assert!(
            is_stale(&bin, newest_source(ws.path())),
            "kmirror's ACL code changed after the build"
        );
    }

    #[test]
    fn without_sources_or_binary_time_the_answer_is_safe() {
        let ws = tempfile::tempdir().unwrap();
        assert_eq!(newest_source(ws.path()), None);
        let bin = ws.path().join("kmirror-listener");
        // An installed rig without its sources keeps the binary it has.
        assert!(!is_stale(&bin, None));
        // A binary whose time cannot be read is rebuilt.
        assert!(is_stale(&bin, Some(SystemTime::now())));
    }
}
