//! A throw-away MIT Kerberos KDC for tests.
//!
//! The KDC runs as a `krb5kdc -n` child process on a free loopback TCP port,
//! with its own `krb5.conf`, `kdc.conf`, realm database and keytabs in a
//! temporary directory. Nothing touches the system Kerberos configuration:
//! every child process that should use this realm gets [`Kdc::env`].
//!
//! Readiness is awaited by a real `kinit -k -t` of a probe principal, not by
//! sleeping, so a started [`Kdc`] is known to issue tickets.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The broker service principal (without realm) every listener accepts.
pub const KAFKA_SERVICE: &str = "kafka/localhost";
/// The broker service principal for clients that address the broker as
/// `127.0.0.1` (tansu advertises IP addresses); its key is in the same
/// keytab as [`KAFKA_SERVICE`]'s.
pub const KAFKA_SERVICE_IP: &str = "kafka/127.0.0.1";
/// The dedicated principal kmirror uses on both sides by default.
pub const MIRRORMAKER: &str = "mirrormaker/localhost";
/// A second mirror principal, for tests that use one principal per side.
pub const MIRRORMAKER2: &str = "mirrormaker2/localhost";
/// The super user that changes ACLs.
pub const ADMIN: &str = "admin";

/// Principal used only to prove the KDC answers (readiness probe).
const PROBE: &str = "rig-probe";

/// How the KDC is set up.
#[derive(Debug, Clone)]
pub struct KdcOptions {
    /// Kerberos realm, e.g. `KMIRROR.TEST`.
    pub realm: String,
    /// Maximum ticket lifetime (krb5.conf `ticket_lifetime` and the KDC's
    /// `max_life`). Tests of ticket renewal use a few minutes.
    pub ticket_lifetime: Duration,
    /// Maximum renewable lifetime.
    pub renew_lifetime: Duration,
    /// The clock-skew allowance (krb5.conf `[libdefaults] clockskew`, read
    /// by the KDC, clients and the listener's GSS acceptor alike). MIT's
    /// default is 300 s, and the KDC and acceptors also accept a ticket
    /// presented up to that long *after* it expired (MIT clients refuse an
    /// expired TGT themselves): renewal tests set a few seconds so that an
    /// expired ticket is refused wherever it is presented. `None` keeps
    /// MIT's default.
    pub clockskew: Option<Duration>,
}

impl Default for KdcOptions {
    fn default() -> Self {
        KdcOptions {
            realm: "KMIRROR.TEST".to_string(),
            ticket_lifetime: Duration::from_secs(10 * 3600),
            renew_lifetime: Duration::from_secs(7 * 24 * 3600),
            clockskew: None,
        }
    }
}

/// A running MIT KDC with its realm in a temporary directory; killed on drop.
pub struct Kdc {
    opts: KdcOptions,
    dir: tempfile::TempDir,
    port: u16,
    krb5_conf: PathBuf,
    kdc_conf: PathBuf,
    child: Option<Child>,
}

impl std::fmt::Debug for Kdc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kdc")
            .field("realm", &self.opts.realm)
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .field("running", &self.child.is_some())
            .finish()
    }
}

/// Formats a duration the way krb5 profiles accept it (`NNNs`).
fn krb_secs(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

impl Kdc {
    /// Creates the realm database and starts `krb5kdc` on a free port, then
    /// waits (up to 30 s) until a `kinit -k -t` against it succeeds.
    ///
    /// The standard principals ([`KAFKA_SERVICE`], [`MIRRORMAKER`],
    /// [`MIRRORMAKER2`], [`ADMIN`]) are created with keytabs at
    /// [`Kdc::standard_keytab`]; [`KAFKA_SERVICE_IP`]'s key is added to the
    /// [`KAFKA_SERVICE`] keytab.
    pub fn start(opts: KdcOptions) -> Result<Kdc> {
        let dir = tempfile::Builder::new()
            .prefix("kmirror-kdc-")
            .tempdir()
            .context("creating KDC temp dir")?;
        let port = crate::free_port();
        let krb5_conf = dir.path().join("krb5.conf");
        let kdc_conf = dir.path().join("kdc.conf");
        let mut kdc = Kdc {
            opts,
            dir,
            port,
            krb5_conf,
            kdc_conf,
            child: None,
        };
        kdc.write_configs()?;
        let password: String = {
            use rand::Rng;
            let mut rng = rand::rng();
            (0..24)
                .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
                .collect()
        };
        kdc.run_tool(
            "kdb5_util",
            &[
                "create",
                "-s",
                "-P",
                &password,
                "-r",
                &kdc.opts.realm.clone(),
            ],
        )
        .context("creating the realm database (kdb5_util create)")?;
        kdc.spawn_kdc()?;
        kdc.add_principal(PROBE)?;
        kdc.keytab(PROBE, &kdc.dir.path().join("probe.keytab"))?;
        kdc.await_ready(Duration::from_secs(30))?;
        for p in [KAFKA_SERVICE, MIRRORMAKER, MIRRORMAKER2, ADMIN] {
            kdc.add_principal(p)?;
            kdc.keytab(p, &kdc.standard_keytab(p))?;
        }
        // ktadd appends, so the service keytab serves both host names.
        kdc.add_principal(KAFKA_SERVICE_IP)?;
        kdc.keytab(KAFKA_SERVICE_IP, &kdc.standard_keytab(KAFKA_SERVICE))?;
        Ok(kdc)
    }

    fn write_configs(&self) -> Result<()> {
        let realm = &self.opts.realm;
        let life = krb_secs(self.opts.ticket_lifetime);
        let renew = krb_secs(self.opts.renew_lifetime);
        let d = self.dir.path();
        // Whole seconds, no unit: the one form every krb5 release parses
        // for this relation.
        let clockskew = self
            .opts
            .clockskew
            .map(|c| format!("\tclockskew = {}\n", c.as_secs().max(1)))
            .unwrap_or_default();
        // udp_preference_limit=1 makes every request go over TCP, so only the
        // TCP port must be free and reachable. rdns/canonicalisation are off
        // so `kafka/localhost` stays exactly that name on both sides.
        let krb5 = format!(
            "[libdefaults]\n\
             \tdefault_realm = {realm}\n\
             \trdns = false\n\
             \tdns_canonicalize_hostname = false\n\
             \tdns_lookup_kdc = false\n\
             \tdns_lookup_realm = false\n\
             \tudp_preference_limit = 1\n\
             \tticket_lifetime = {life}\n\
             \trenew_lifetime = {renew}\n\
             \tforwardable = true\n\
             \tignore_acceptor_hostname = false\n\
             {clockskew}\
             [realms]\n\
             \t{realm} = {{\n\
             \t\tkdc = 127.0.0.1:{port}\n\
             \t\tadmin_server = 127.0.0.1:{port}\n\
             \t}}\n\
             [domain_realm]\n\
             \tlocalhost = {realm}\n\
             \t.localhost = {realm}\n",
            port = self.port
        );
        fs::write(&self.krb5_conf, krb5).context("writing krb5.conf")?;
        let kdcconf = format!(
            "[kdcdefaults]\n\
             \tkdc_ports = {port}\n\
             \tkdc_tcp_ports = {port}\n\
             [realms]\n\
             \t{realm} = {{\n\
             \t\tdatabase_name = {db}\n\
             \t\tacl_file = {acl}\n\
             \t\tkey_stash_file = {stash}\n\
             \t\tmax_life = {life}\n\
             \t\tmax_renewable_life = {renew}\n\
             \t\tkdc_ports = {port}\n\
             \t\tkdc_tcp_ports = {port}\n\
             \t}}\n\
             [logging]\n\
             \tkdc = FILE:{log}\n",
            port = self.port,
            db = d.join("principal").display(),
            acl = d.join("kadm5.acl").display(),
            stash = d.join("stash").display(),
            log = d.join("kdc.log").display(),
        );
        fs::write(&self.kdc_conf, kdcconf).context("writing kdc.conf")?;
        fs::write(d.join("kadm5.acl"), format!("*/admin@{realm} *\n"))
            .context("writing kadm5.acl")?;
        Ok(())
    }

    /// The realm, e.g. `KMIRROR.TEST`.
    pub fn realm(&self) -> &str {
        &self.opts.realm
    }

    /// The loopback TCP (and UDP) port the KDC listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `krb5.conf` clients must use (`KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> &Path {
        &self.krb5_conf
    }

    /// The directory holding the database, configs, logs and keytabs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The options the KDC was started with.
    pub fn options(&self) -> &KdcOptions {
        &self.opts
    }

    /// Environment for any child process that should use this realm:
    /// `KRB5_CONFIG` and `KRB5_KDC_PROFILE`. Callers add their own
    /// `KRB5CCNAME` so that processes do not share a ticket cache.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "KRB5_CONFIG".to_string(),
                self.krb5_conf.display().to_string(),
            ),
            (
                "KRB5_KDC_PROFILE".to_string(),
                self.kdc_conf.display().to_string(),
            ),
        ]
    }

    /// `name` with `@REALM` appended unless it already names a realm.
    pub fn full_name(&self, name: &str) -> String {
        if name.contains('@') {
            name.to_string()
        } else {
            format!("{name}@{}", self.opts.realm)
        }
    }

    /// Where [`Kdc::start`] put the keytab of one of the standard principals
    /// (or where a test may put one for its own principal): `<dir>/<name>.keytab`
    /// with `/` replaced by `_`.
    pub fn standard_keytab(&self, principal: &str) -> PathBuf {
        let short = principal.split('@').next().unwrap_or(principal);
        self.dir
            .path()
            .join(format!("{}.keytab", short.replace('/', "_")))
    }

    fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    fn run_tool(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self
            .tool(program)
            .args(args)
            .output()
            .with_context(|| format!("running {program}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!(
                "{program} {} failed ({}): {}{}",
                args.first().copied().unwrap_or(""),
                out.status,
                stdout.trim(),
                stderr.trim()
            );
        }
        Ok(format!("{stdout}{stderr}"))
    }

    /// Runs one `kadmin.local -q QUERY` against the realm database.
    /// kadmin.local reports many failures on stderr with exit status 0, so
    /// known error phrases there are turned into errors too.
    pub fn kadmin(&self, query: &str) -> Result<String> {
        let out = self
            .run_tool("kadmin.local", &["-r", &self.opts.realm, "-q", query])
            .with_context(|| format!("kadmin.local -q {query:?}"))?;
        for line in out.lines() {
            let l = line.to_ascii_lowercase();
            if (l.contains("error") || l.contains("while ") || l.contains("not found"))
                && !l.starts_with("authenticating as")
            {
                bail!("kadmin.local -q {query:?}: {}", out.trim());
            }
        }
        Ok(out)
    }

    /// Creates a principal with a random key. `name` without `@` gets the
    /// realm appended.
    pub fn add_principal(&self, name: &str) -> Result<()> {
        self.kadmin(&format!("addprinc -randkey {}", self.full_name(name)))?;
        Ok(())
    }

    /// Exports `principal`'s keys to `path` (mode 0600) with a fresh random
    /// key: like `ktadd`, this bumps the key version, so any keytab exported
    /// earlier for this principal stops working (useful for "stale keytab"
    /// tests).
    pub fn keytab(&self, principal: &str, path: &Path) -> Result<()> {
        self.export_keytab(principal, path, false)
    }

    /// Exports `principal`'s current keys to `path` (mode 0600) without
    /// changing them (`ktadd -norandkey`), so earlier keytabs stay valid.
    pub fn keytab_same_key(&self, principal: &str, path: &Path) -> Result<()> {
        self.export_keytab(principal, path, true)
    }

    fn export_keytab(&self, principal: &str, path: &Path, norandkey: bool) -> Result<()> {
        let path_s = path
            .to_str()
            .with_context(|| format!("keytab path {} is not UTF-8", path.display()))?;
        if path_s.contains(char::is_whitespace) {
            bail!("keytab path {path_s:?} must not contain whitespace (kadmin query syntax)");
        }
        let flag = if norandkey { "-norandkey " } else { "" };
        self.kadmin(&format!(
            "ktadd {flag}-k {path_s} {}",
            self.full_name(principal)
        ))?;
        if !path.exists() {
            bail!("kadmin ktadd reported success but {path_s} was not written");
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {path_s}"))?;
        Ok(())
    }

    /// Sets principal attributes with `modprinc`, e.g. `"-allow_tix"` to
    /// disable a principal or `"+allow_tix"` to enable it again.
    pub fn modify_principal(&self, name: &str, args: &str) -> Result<()> {
        self.kadmin(&format!("modprinc {args} {}", self.full_name(name)))?;
        Ok(())
    }

    /// Makes the principal expired, so the KDC refuses it tickets. A date in
    /// the past is used rather than `now`, which the KDC compares at second
    /// granularity and would still accept within the same second.
    pub fn expire_principal(&self, name: &str) -> Result<()> {
        self.modify_principal(name, "-expire \"2000-01-01 00:00:00\"")
    }

    /// Disables (`enabled == false`, `-allow_tix`) or re-enables a principal.
    pub fn set_principal_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        self.modify_principal(name, if enabled { "+allow_tix" } else { "-allow_tix" })
    }

    /// Deletes a principal.
    pub fn delete_principal(&self, name: &str) -> Result<()> {
        self.kadmin(&format!("delprinc -force {}", self.full_name(name)))?;
        Ok(())
    }

    /// Gets a TGT for `principal` from `keytab` into the credential cache
    /// `ccache` (e.g. `FILE:/tmp/x`) with `kinit -k -t`.
    pub fn kinit(&self, principal: &str, keytab: &Path, ccache: &str) -> Result<()> {
        let out = self
            .tool("kinit")
            .env("KRB5CCNAME", ccache)
            .arg("-k")
            .arg("-t")
            .arg(keytab)
            .arg(self.full_name(principal))
            .output()
            .context("running kinit")?;
        if !out.status.success() {
            bail!(
                "kinit -k -t {} {} failed: {}",
                keytab.display(),
                self.full_name(principal),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn spawn_kdc(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("krb5kdc.stderr"))
            .context("opening krb5kdc stderr log")?;
        let child = self
            .tool("krb5kdc")
            .arg("-n")
            .arg("-r")
            .arg(&self.opts.realm)
            .arg("-P")
            .arg(self.dir.path().join("krb5kdc.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting krb5kdc")?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls until the KDC accepts TCP connections and issues a ticket for
    /// the probe principal, or fails with the KDC's stderr on timeout or exit.
    fn await_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let probe_keytab = self.dir.path().join("probe.keytab");
        let ccache = format!("FILE:{}", self.dir.path().join("probe.ccache").display());
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut last_err = anyhow::anyhow!("not tried yet");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("polling krb5kdc")? {
                    self.child = None;
                    bail!("krb5kdc exited early ({status}): {}", self.stderr_tail());
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                match self.kinit(PROBE, &probe_keytab, &ccache) {
                    Ok(()) => return Ok(()),
                    Err(e) => last_err = e,
                }
            }
            if Instant::now() >= deadline {
                return Err(last_err.context(format!(
                    "KDC on port {} not ready after {timeout:?}; stderr: {}",
                    self.port,
                    self.stderr_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr_tail(&self) -> String {
        let s = fs::read_to_string(self.dir.path().join("krb5kdc.stderr")).unwrap_or_default();
        let log = fs::read_to_string(self.dir.path().join("kdc.log")).unwrap_or_default();
        let all = format!("{s}{log}");
        let tail: Vec<&str> = all.lines().rev().take(10).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Whether the KDC process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the KDC process (for KDC-outage tests) and reaps it, so its port
    /// refuses connections on return. The database and configs stay.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the KDC again on the same port with the same database, and
    /// waits until it issues tickets.
    pub fn start_again(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.spawn_kdc()?;
        self.await_ready(Duration::from_secs(30))
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
    }
}
