//! Security: how kmirror authenticates to one cluster, as one [`Auth`]
//! value per side, plus JAAS, Kerberos, keytab, TLS and principal handling.
//!
//! This is a leaf layer: it depends on nothing else in the crate. The
//! configuration layer hands over a side's security keys as plain
//! [`Entry`] values; [`Auth::from_entries`] validates them (no network I/O:
//! the broker probes are in `preflight`), and [`Auth::apply`] is the one
//! `match` that sets librdkafka keys, so every combination is decided in one
//! visible place and covered by one test table.

pub mod jaas;
pub mod kerberos;
pub mod keytab;
mod parse;
pub mod principal;
pub mod resolve;
pub mod sasl_plugin;
pub mod tls;

use std::fmt;
use std::path::PathBuf;

use rdkafka::config::ClientConfig;
use secrecy::{ExposeSecret, SecretString};

pub use kerberos::TicketSlot;

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SecurityProtocol {
    /// No TLS, no authentication. Refused unless `--allow.plaintext`.
    Plaintext,
    /// TLS (server authentication, optionally a client certificate).
    Ssl,
    /// SASL without TLS (GSSAPI's own protection; passwords would be exposed).
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The librdkafka/Java spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SaslMechanism {
    /// Kerberos.
    Gssapi,
    /// Username/password in the clear (only over TLS unless allowed).
    Plain,
    /// SCRAM with SHA-256.
    ScramSha256,
    /// SCRAM with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// The librdkafka/Java spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Gssapi => "GSSAPI",
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "GSSAPI" => SaslMechanism::Gssapi,
            "PLAIN" => SaslMechanism::Plain,
            "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
            "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
            _ => return None,
        })
    }
}

/// Kerberos client settings for one side.
#[derive(Debug, Clone, Default)]
pub struct KerberosSettings {
    /// The brokers' service name (`sasl.kerberos.service.name`, default `kafka`).
    pub service_name: String,
    /// The mirror principal, e.g. `mirrormaker/host@REALM`.
    pub principal: Option<String>,
    /// The client keytab.
    pub keytab: Option<PathBuf>,
    /// The ticket kmirror keeps for this side once a
    /// [`kerberos::TicketKeeper`] logged in (empty before, and for a
    /// ticket-cache login).
    pub ticket: TicketSlot,
}

/// TLS settings for one side (PEM paths as librdkafka takes them).
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// CA bundle (`ssl.ca.location`).
    pub ca_location: Option<PathBuf>,
    /// Client certificate (`ssl.certificate.location`).
    pub certificate_location: Option<PathBuf>,
    /// Client key (`ssl.key.location`).
    pub key_location: Option<PathBuf>,
    /// Password of the client key.
    pub key_password: Option<SecretString>,
    /// Hostname verification (`ssl.endpoint.identification.algorithm=https`, the default).
    pub verify_hostname: bool,
    /// PKCS#12 client keystore (`ssl.keystore.location`).
    pub keystore_location: Option<PathBuf>,
    /// Password of the PKCS#12 keystore (`ssl.keystore.password`).
    pub keystore_password: Option<SecretString>,
    /// CA certificates (PEM) extracted from a PKCS#12 truststore
    /// (`ssl.ca.pem`): librdkafka reads CAs only from PEM.
    pub ca_pem: Option<String>,
    /// The PKCS#12 truststore `ca_pem` came from, for messages.
    pub truststore: Option<PathBuf>,
    /// `enable.ssl.certificate.verification=false` with
    /// `--insecure.skip.certificate.verification`: broker certificates are
    /// not verified at all, by librdkafka nor by the start-up check.
    /// (Inverted so that `Default` verifies.)
    pub skip_certificate_verification: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_location", &self.ca_location)
            .field("certificate_location", &self.certificate_location)
            .field("key_location", &self.key_location)
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "[REDACTED]"),
            )
            .field("verify_hostname", &self.verify_hostname)
            .field("keystore_location", &self.keystore_location)
            .field(
                "keystore_password",
                &self.keystore_password.as_ref().map(|_| "[REDACTED]"),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "[PEM]"))
            .field("truststore", &self.truststore)
            .field(
                "skip_certificate_verification",
                &self.skip_certificate_verification,
            )
            .finish()
    }
}

/// Credentials for PLAIN and SCRAM.
#[derive(Clone)]
pub struct UserPassword {
    /// The user.
    pub username: String,
    /// The password (never printed).
    pub password: SecretString,
}

impl fmt::Debug for UserPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UserPassword {{ username: {:?}, password: [REDACTED] }}",
            self.username
        )
    }
}

/// One security key of a side's properties file, as the configuration
/// layer hands it over: plain data (key, value, line), so this layer needs
/// nothing from `config`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// The value (held as a secret: it may be a password or a JAAS line).
    pub value: EntryValue,
    /// 1-based line in the properties file.
    pub line: usize,
}

/// The value of an [`Entry`]; `Debug` never prints it.
#[derive(Clone)]
pub struct EntryValue(SecretString);

impl EntryValue {
    /// The value. Call only to parse it or hand it to librdkafka.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for EntryValue {
    fn from(s: &str) -> Self {
        EntryValue(SecretString::from(s.to_string()))
    }
}

impl fmt::Debug for EntryValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// SCRAM's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

/// How kmirror authenticates to one cluster, validated: one variant per
/// way, each holding exactly what it needs (no combination of `Option`s
/// can be half-configured). `tls` is `Some` exactly for SASL_SSL.
#[derive(Debug, Clone)]
pub enum Auth {
    /// PLAINTEXT: no TLS, no authentication (only with `--allow.plaintext`).
    Plaintext,
    /// SSL: TLS, optionally with a client certificate.
    Ssl(TlsSettings),
    /// SASL/GSSAPI (Kerberos) over SASL_PLAINTEXT or SASL_SSL.
    Gssapi {
        /// Principal, keytab, service name and the kept ticket.
        kerberos: KerberosSettings,
        /// TLS for SASL_SSL.
        tls: Option<TlsSettings>,
    },
    /// SASL/PLAIN (over SASL_SSL, or SASL_PLAINTEXT with `--allow.plaintext`).
    Plain {
        /// Username and password.
        credentials: UserPassword,
        /// TLS for SASL_SSL.
        tls: Option<TlsSettings>,
    },
    /// SASL/SCRAM-SHA-256 or -512.
    Scram {
        /// Which hash.
        hash: ScramHash,
        /// Username and password.
        credentials: UserPassword,
        /// TLS for SASL_SSL.
        tls: Option<TlsSettings>,
    },
}

impl Auth {
    /// `security.protocol`.
    pub fn protocol(&self) -> SecurityProtocol {
        let sasl = |tls: &Option<TlsSettings>| {
            if tls.is_some() {
                SecurityProtocol::SaslSsl
            } else {
                SecurityProtocol::SaslPlaintext
            }
        };
        match self {
            Auth::Plaintext => SecurityProtocol::Plaintext,
            Auth::Ssl(_) => SecurityProtocol::Ssl,
            Auth::Gssapi { tls, .. } | Auth::Plain { tls, .. } | Auth::Scram { tls, .. } => {
                sasl(tls)
            }
        }
    }

    /// The SASL mechanism, for the SASL protocols.
    pub fn mechanism(&self) -> Option<SaslMechanism> {
        match self {
            Auth::Plaintext | Auth::Ssl(_) => None,
            Auth::Gssapi { .. } => Some(SaslMechanism::Gssapi),
            Auth::Plain { .. } => Some(SaslMechanism::Plain),
            Auth::Scram {
                hash: ScramHash::Sha256,
                ..
            } => Some(SaslMechanism::ScramSha256),
            Auth::Scram {
                hash: ScramHash::Sha512,
                ..
            } => Some(SaslMechanism::ScramSha512),
        }
    }

    /// Kerberos settings, for GSSAPI.
    pub fn kerberos(&self) -> Option<&KerberosSettings> {
        match self {
            Auth::Gssapi { kerberos, .. } => Some(kerberos),
            _ => None,
        }
    }

    /// Username and password, for PLAIN and SCRAM.
    pub fn credentials(&self) -> Option<&UserPassword> {
        match self {
            Auth::Plain { credentials, .. } | Auth::Scram { credentials, .. } => Some(credentials),
            _ => None,
        }
    }

    /// TLS, for SSL and SASL_SSL.
    pub fn tls(&self) -> Option<&TlsSettings> {
        match self {
            Auth::Ssl(tls) => Some(tls),
            Auth::Gssapi { tls, .. } | Auth::Plain { tls, .. } | Auth::Scram { tls, .. } => {
                tls.as_ref()
            }
            Auth::Plaintext => None,
        }
    }

    /// The line to log once at every start when the transport authenticates
    /// but does not encrypt (SASL_PLAINTEXT): allowed, but said.
    pub fn unencrypted_warning(&self) -> Option<String> {
        (self.protocol() == SecurityProtocol::SaslPlaintext).then(|| {
            "security.protocol=SASL_PLAINTEXT authenticates (SASL) but does not encrypt: records cross the network readable by anyone on the path; use security.protocol=SASL_SSL to encrypt them".to_string()
        })
    }

    /// Applies this side's security to a librdkafka config: the one place
    /// security settings reach librdkafka.
    pub fn apply(&self, cfg: &mut ClientConfig) {
        cfg.set("security.protocol", self.protocol().as_str());
        match self {
            Auth::Plaintext => {}
            Auth::Ssl(tls) => apply_tls(cfg, tls),
            Auth::Gssapi { kerberos: k, tls } => {
                cfg.set("sasl.mechanisms", "GSSAPI");
                // No `kinit` shell command: kmirror's TicketKeeper keeps the
                // ticket in its own ccache (see `kerberos`).
                cfg.set(kerberos::RELOGIN_KEY, "0");
                cfg.set("sasl.kerberos.service.name", &k.service_name);
                if let Some(p) = &k.principal {
                    cfg.set("sasl.kerberos.principal", p);
                }
                if let Some(kt) = &k.keytab {
                    cfg.set("sasl.kerberos.keytab", kt.to_string_lossy());
                }
                // This side's own ticket cache on every librdkafka thread
                // of the client, so sides may differ in principal.
                k.ticket.install(cfg);
                tls.iter().for_each(|t| apply_tls(cfg, t));
            }
            Auth::Plain { credentials, tls }
            | Auth::Scram {
                credentials, tls, ..
            } => {
                cfg.set(
                    "sasl.mechanisms",
                    self.mechanism().map_or("", |m| m.as_str()),
                );
                cfg.set("sasl.username", &credentials.username);
                cfg.set("sasl.password", credentials.password.expose_secret());
                tls.iter().for_each(|t| apply_tls(cfg, t));
            }
        }
    }
}

/// Applies `sec` to a librdkafka config ([`Auth::apply`]).
pub fn apply(cfg: &mut ClientConfig, sec: &Auth) {
    sec.apply(cfg)
}

fn apply_tls(cfg: &mut ClientConfig, tls: &TlsSettings) {
    if let Some(p) = &tls.ca_location {
        cfg.set("ssl.ca.location", p.to_string_lossy());
    }
    if let Some(p) = &tls.certificate_location {
        cfg.set("ssl.certificate.location", p.to_string_lossy());
    }
    if let Some(p) = &tls.key_location {
        cfg.set("ssl.key.location", p.to_string_lossy());
    }
    if let Some(p) = &tls.key_password {
        cfg.set("ssl.key.password", p.expose_secret());
    }
    if let Some(p) = &tls.keystore_location {
        cfg.set("ssl.keystore.location", p.to_string_lossy());
    }
    if let Some(p) = &tls.keystore_password {
        cfg.set("ssl.keystore.password", p.expose_secret());
    }
    if let Some(pem) = &tls.ca_pem {
        cfg.set("ssl.ca.pem", pem);
    }
    cfg.set(
        "ssl.endpoint.identification.algorithm",
        if tls.verify_hostname { "https" } else { "none" },
    );
    if tls.skip_certificate_verification {
        cfg.set("enable.ssl.certificate.verification", "false");
    }
}

/// Options from the command line that relax security checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityOptions {
    /// `--allow.plaintext`: permit PLAINTEXT, and PLAIN/SCRAM over SASL_PLAINTEXT.
    pub allow_plaintext: bool,
    /// `--allow.service.principal`: permit a Kerberos principal whose first
    /// component is the brokers' service name (with a warning).
    pub allow_service_principal: bool,
    /// `--allow.insecure.keytab`: a keytab readable by others or owned by
    /// another user is a warning instead of an error.
    pub allow_insecure_keytab: bool,
    /// `--insecure.skip.hostname.verification`: permit an empty
    /// `ssl.endpoint.identification.algorithm` (with a warning at every start).
    pub insecure_skip_hostname_verification: bool,
    /// `--insecure.skip.certificate.verification`: permit
    /// `enable.ssl.certificate.verification=false` (with a warning at every start).
    pub insecure_skip_certificate_verification: bool,
}

/// A JAAS login configuration file that a side reads its SASL login from
/// when its properties file has no inline `sasl.jaas.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasFileSource {
    /// The JAAS file.
    pub path: PathBuf,
    /// The section to read; [`jaas::KAFKA_CLIENT_SECTION`] is read when the
    /// file lacks it (see [`jaas::JaasConfig::client_section`]).
    pub section: &'static str,
    /// Where the file was named, for messages: `--jaas` or `KAFKA_OPTS`.
    pub via: &'static str,
}

/// A security setting that cannot be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecurityError {
    /// A key has a value kmirror does not support.
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        /// The properties file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A required key is missing.
    #[error("{path}: {key} is missing: {message}")]
    Missing {
        /// The properties file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Why it is needed and what to write.
        message: String,
    },
    /// The protocol sends credentials or data unprotected.
    #[error("{path}: {message} (pass --allow.plaintext to accept this)")]
    Plaintext {
        /// The properties file.
        path: PathBuf,
        /// What would travel in the clear.
        message: String,
    },
    /// The JAAS login configuration is unreadable or unusable. The message
    /// starts with the JAAS origin and `line:column` from the JAAS parser.
    /// (Kept as text because [`JaasError`] holds an I/O error, which is not
    /// `Clone`; it never contains option values.)
    #[error("{message}")]
    Jaas {
        /// The JAAS error, with where the file was named.
        message: String,
    },
    /// The JAAS login module is for a different SASL mechanism.
    #[error(
        "{path}: sasl.mechanism is {mechanism} but the JAAS login in {origin} uses {module}, which is for {jaas_mechanism}; make them agree: set sasl.mechanism={jaas_mechanism} or use a login module for {mechanism}"
    )]
    MechanismMismatch {
        /// The properties file.
        path: PathBuf,
        /// The configured (or default) mechanism.
        mechanism: String,
        /// Where the login came from.
        origin: String,
        /// The login module class.
        module: &'static str,
        /// The mechanism the module serves.
        jaas_mechanism: &'static str,
    },
    /// The principal a side would authenticate as, resolved from a keytab
    /// or ticket cache (not written in the configuration), is the brokers'
    /// service account.
    #[error(
        "{path}: kmirror would authenticate as {principal} ({how}), the brokers' own service account (usually a super user); mirroring with it defeats ACLs. Name a dedicated principal with principal=\"mirrormaker/HOST@REALM\" (kadmin.local -q 'addprinc -randkey mirrormaker/HOST@REALM', then export its key), or pass --allow.service.principal"
    )]
    ResolvedServicePrincipal {
        /// The properties file.
        path: PathBuf,
        /// The resolved principal, e.g. `kafka/host@REALM`.
        principal: String,
        /// Where it was resolved from (keytab entry, ticket cache).
        how: String,
    },
    /// The mirror would authenticate as the brokers' service account.
    #[error(
        "{path}: principal {principal} is the brokers' own service account (usually a super user); mirroring with it defeats ACLs. Create a dedicated principal, e.g. mirrormaker/HOST@REALM (kadmin.local -q 'addprinc -randkey mirrormaker/HOST@REALM'), or pass --allow.service.principal"
    )]
    ServicePrincipal {
        /// The properties file.
        path: PathBuf,
        /// The principal, e.g. `kafka/host@REALM`.
        principal: String,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// `key=value` lines as the configuration layer hands them over
    /// (`#` and `!` comments and blank lines skipped, 1-based lines).
    pub(crate) fn parse_entries(text: &str) -> Vec<Entry> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| {
                let l = l.trim_start();
                !l.is_empty() && !l.starts_with('#') && !l.starts_with('!')
            })
            .map(|(i, l)| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                Entry {
                    key: k.trim().to_string(),
                    value: EntryValue::from(v.trim_start()),
                    line: i + 1,
                }
            })
            .collect()
    }

    fn sec_jaas(
        text: &str,
        opts: SecurityOptions,
        jaas: Option<&JaasFileSource>,
    ) -> Result<(Auth, Vec<String>), SecurityError> {
        Auth::from_entries(Path::new("s.properties"), &parse_entries(text), opts, jaas)
    }

    fn sec(text: &str, allow_plaintext: bool) -> Result<Auth, SecurityError> {
        let opts = SecurityOptions {
            allow_plaintext,
            ..Default::default()
        };
        sec_jaas(text, opts, None).map(|(s, _)| s)
    }

    fn applied(s: &Auth) -> Vec<(String, String)> {
        let mut cfg = ClientConfig::new();
        apply(&mut cfg, s);
        let mut v: Vec<(String, String)> = cfg
            .config_map()
            .keys()
            .map(|k| (k.to_string(), cfg.get(k).unwrap_or_default().to_string()))
            .collect();
        v.sort();
        v
    }

    /// Every protocol × mechanism combination: accepted or refused, and
    /// exactly which librdkafka keys it sets.
    #[test]
    fn protocol_mechanism_table() {
        struct Case {
            props: &'static str,
            allow_plaintext: bool,
            ok: bool,
            sets: &'static [(&'static str, &'static str)],
        }
        let cases = [
            Case { props: "", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=PLAINTEXT", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=PLAINTEXT", allow_plaintext: true, ok: true, sets: &[("security.protocol", "PLAINTEXT")] },
            Case {
                props: "security.protocol=SSL\nssl.ca.location=/ca.pem",
                allow_plaintext: false,
                ok: true,
                sets: &[("security.protocol", "SSL"), ("ssl.ca.location", "/ca.pem"), ("ssl.endpoint.identification.algorithm", "https")],
            },
            Case {
                props: "security.protocol=SSL\nssl.certificate.location=/c.pem\nssl.key.location=/k.pem\nssl.key.password=pw",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("security.protocol", "SSL"),
                    ("ssl.certificate.location", "/c.pem"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                    ("ssl.key.location", "/k.pem"),
                    ("ssl.key.password", "pw"),
                ],
            },
            Case {
                props: "security.protocol=SASL_PLAINTEXT\nsasl.kerberos.keytab=/k.keytab\nsasl.kerberos.principal=mirrormaker/h@R",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("sasl.kerberos.keytab", "/k.keytab"),
                    ("sasl.kerberos.min.time.before.relogin", "0"),
                    ("sasl.kerberos.principal", "mirrormaker/h@R"),
                    ("sasl.kerberos.service.name", "kafka"),
                    ("sasl.mechanisms", "GSSAPI"),
                    ("security.protocol", "SASL_PLAINTEXT"),
                ],
            },
            Case {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\nsasl.kerberos.service.name=kfk",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("sasl.kerberos.min.time.before.relogin", "0"),
                    ("sasl.kerberos.service.name", "kfk"),
                    ("sasl.mechanisms", "GSSAPI"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ],
            },
            Case {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=p",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("sasl.mechanisms", "PLAIN"),
                    ("sasl.password", "p"),
                    ("sasl.username", "u"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ],
            },
            Case { props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p\nssl.endpoint.identification.algorithm=", allow_plaintext: false, ok: false, sets: &[] },
            Case {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p\nssl.endpoint.identification.algorithm=\n# --insecure.skip.hostname.verification",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("sasl.mechanisms", "SCRAM-SHA-256"),
                    ("sasl.password", "p"),
                    ("sasl.username", "u"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "none"),
                ],
            },
            Case {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=u\nsasl.password=p",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("sasl.mechanisms", "SCRAM-SHA-512"),
                    ("sasl.password", "p"),
                    ("sasl.username", "u"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ],
            },
            Case { props: "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=p", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p", allow_plaintext: false, ok: false, sets: &[] },
            Case {
                props: "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p",
                allow_plaintext: true,
                ok: true,
                sets: &[("sasl.mechanisms", "SCRAM-SHA-256"), ("sasl.password", "p"), ("sasl.username", "u"), ("security.protocol", "SASL_PLAINTEXT")],
            },
            Case { props: "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN", allow_plaintext: false, ok: false, sets: &[] },
            // Java-style stores: a PEM truststore is librdkafka's CA file; a
            // PKCS#12 keystore goes over as is; JKS is refused.
            Case {
                props: "security.protocol=SSL\nssl.truststore.location=/t.pem\nssl.truststore.type=PEM\nssl.keystore.location=/k.p12\nssl.keystore.type=PKCS12\nssl.keystore.password=kpw",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("security.protocol", "SSL"),
                    ("ssl.ca.location", "/t.pem"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                    ("ssl.keystore.location", "/k.p12"),
                    ("ssl.keystore.password", "kpw"),
                ],
            },
            Case {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=u\nsasl.password=p\nssl.keystore.location=/k.pem\nssl.keystore.type=PEM\nssl.key.password=kp",
                allow_plaintext: false,
                ok: true,
                sets: &[
                    ("sasl.mechanisms", "SCRAM-SHA-512"),
                    ("sasl.password", "p"),
                    ("sasl.username", "u"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.certificate.location", "/k.pem"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                    ("ssl.key.location", "/k.pem"),
                    ("ssl.key.password", "kp"),
                ],
            },
            Case { props: "security.protocol=SSL\nssl.truststore.location=/t.jks\nssl.truststore.type=JKS", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\nssl.keystore.location=/k.jks\nssl.keystore.type=JKS", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=SSL\nssl.ca.location=/ca.pem\nssl.truststore.location=/t.pem\nssl.truststore.type=PEM", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=SSL\nssl.certificate.location=/c.pem", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=SSL\nssl.endpoint.identification.algorithm=none", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=TLS", allow_plaintext: false, ok: false, sets: &[] },
        ];
        for c in cases {
            // TLS rows mark the flag they need with a comment line.
            let opts = SecurityOptions {
                allow_plaintext: c.allow_plaintext,
                insecure_skip_hostname_verification: c
                    .props
                    .contains("# --insecure.skip.hostname.verification"),
                ..Default::default()
            };
            match sec_jaas(c.props, opts, None).map(|(s, _)| s) {
                Ok(s) => {
                    assert!(c.ok, "{:?} should be refused", c.props);
                    let want: Vec<(String, String)> = c
                        .sets
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(applied(&s), want, "{:?}", c.props);
                }
                Err(e) => {
                    assert!(!c.ok, "{:?} refused: {e}", c.props);
                    assert!(e.to_string().starts_with("s.properties"), "{e}");
                }
            }
        }
        jaas_rows();
    }

    const KRB5_INLINE: &str = "sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab=\"/in.keytab\" principal=\"mirror-in/h@R\";";

    /// The JAAS-sourced rows of [`protocol_mechanism_table`]: inline
    /// `sasl.jaas.config`, then a JAAS file (`--jaas`/`KAFKA_OPTS`), then the
    /// librdkafka keys; a JAAS module for another mechanism is refused.
    fn jaas_rows() {
        struct JaasCase {
            props: String,
            /// JAAS file text, or none.
            file: Option<&'static str>,
            section: &'static str,
            /// The keys set, or a piece of the error.
            want: Result<&'static [(&'static str, &'static str)], &'static str>,
        }
        let file_krb5 = "KafkaClient { com.sun.security.auth.module.Krb5LoginModule required\n useKeyTab=true keyTab=\"/file.keytab\" principal=\"mirror-file/h@R\" serviceName=\"kfk\"; };\nKafkaClientSource { com.sun.security.auth.module.Krb5LoginModule required\n useKeyTab=true keyTab=\"/src.keytab\" principal=\"mirror-src/h@R\"; };";
        let gssapi = "security.protocol=SASL_PLAINTEXT\n";
        let cases = [
            JaasCase {
                props: format!("{gssapi}sasl.kerberos.keytab=/keys.keytab\nsasl.kerberos.principal=keys/h@R\n{KRB5_INLINE}"),
                file: Some(file_krb5),
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Ok(&[
                    ("sasl.kerberos.keytab", "/in.keytab"),
                    ("sasl.kerberos.min.time.before.relogin", "0"),
                    ("sasl.kerberos.principal", "mirror-in/h@R"),
                    ("sasl.kerberos.service.name", "kafka"),
                    ("sasl.mechanisms", "GSSAPI"),
                    ("security.protocol", "SASL_PLAINTEXT"),
                ]),
            },
            JaasCase {
                // The file beats the librdkafka keys; serviceName beats the property.
                props: format!("{gssapi}sasl.kerberos.keytab=/keys.keytab\nsasl.kerberos.principal=keys/h@R\nsasl.kerberos.service.name=other"),
                file: Some(file_krb5),
                section: jaas::TARGET_SECTION,
                want: Ok(&[
                    ("sasl.kerberos.keytab", "/file.keytab"),
                    ("sasl.kerberos.min.time.before.relogin", "0"),
                    ("sasl.kerberos.principal", "mirror-file/h@R"),
                    ("sasl.kerberos.service.name", "kfk"),
                    ("sasl.mechanisms", "GSSAPI"),
                    ("security.protocol", "SASL_PLAINTEXT"),
                ]),
            },
            JaasCase {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\nsasl.kerberos.service.name=kfk2".into(),
                file: Some(file_krb5),
                section: jaas::SOURCE_SECTION,
                want: Ok(&[
                    ("sasl.kerberos.keytab", "/src.keytab"),
                    ("sasl.kerberos.min.time.before.relogin", "0"),
                    ("sasl.kerberos.principal", "mirror-src/h@R"),
                    ("sasl.kerberos.service.name", "kfk2"),
                    ("sasl.mechanisms", "GSSAPI"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ]),
            },
            JaasCase {
                // Ticket cache only: no keytab reaches librdkafka.
                props: format!("{gssapi}sasl.kerberos.keytab=/keys.keytab\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;"),
                file: None,
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Ok(&[
                    ("sasl.kerberos.min.time.before.relogin", "0"),
                    ("sasl.kerberos.service.name", "kafka"),
                    ("sasl.mechanisms", "GSSAPI"),
                    ("security.protocol", "SASL_PLAINTEXT"),
                ]),
            },
            JaasCase {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=k\nsasl.password=kp\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";".into(),
                file: None,
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Ok(&[
                    ("sasl.mechanisms", "PLAIN"),
                    ("sasl.password", "p"),
                    ("sasl.username", "u"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ]),
            },
            JaasCase {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256".into(),
                file: Some("KafkaClient { org.apache.kafka.common.security.scram.ScramLoginModule required username=\"su\" password=\"sp\"; };"),
                section: jaas::TARGET_SECTION,
                want: Ok(&[
                    ("sasl.mechanisms", "SCRAM-SHA-256"),
                    ("sasl.password", "sp"),
                    ("sasl.username", "su"),
                    ("security.protocol", "SASL_SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ]),
            },
            JaasCase {
                // Not SASL: the (broken) JAAS file is not read.
                props: "security.protocol=SSL".into(),
                file: Some("KafkaClient {"),
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Ok(&[
                    ("security.protocol", "SSL"),
                    ("ssl.endpoint.identification.algorithm", "https"),
                ]),
            },
            JaasCase {
                props: "security.protocol=SASL_SSL\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";".into(),
                file: None,
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Err("sasl.mechanism is GSSAPI (the default, as it is not set) but the JAAS login in sasl.jaas.config at s.properties:2 uses org.apache.kafka.common.security.plain.PlainLoginModule, which is for PLAIN"),
            },
            JaasCase {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN".into(),
                file: Some(file_krb5),
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Err("sasl.mechanism is PLAIN but the JAAS login in section KafkaClient of"),
            },
            JaasCase {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;".into(),
                file: None,
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Err("sasl.mechanism is SCRAM-SHA-512 but"),
            },
            JaasCase {
                props: format!("{gssapi}sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\" principal=\"kafka/h@R\";"),
                file: None,
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Err("principal kafka/h@R is the brokers' own service account"),
            },
            JaasCase {
                props: gssapi.into(),
                file: Some("KafkaServer { com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true; };"),
                section: jaas::SOURCE_SECTION,
                want: Err("no section 'KafkaClientSource'"),
            },
            JaasCase {
                props: format!("{gssapi}\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\""),
                file: None,
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Err("s.properties:3: sasl.jaas.config:1:"),
            },
            JaasCase {
                props: gssapi.into(),
                file: Some("KafkaClient {\n  com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;\n};"),
                section: jaas::KAFKA_CLIENT_SECTION,
                want: Err(":2:3: login module com.sun.security.auth.module.Krb5LoginModule in section 'KafkaClient' is missing required option 'keyTab'"),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, c) in cases.iter().enumerate() {
            let source = c.file.map(|text| {
                let path = dir.path().join(format!("{i}.jaas"));
                std::fs::write(&path, text).unwrap();
                JaasFileSource {
                    path,
                    section: c.section,
                    via: "--jaas",
                }
            });
            match (
                sec_jaas(&c.props, SecurityOptions::default(), source.as_ref()),
                c.want,
            ) {
                (Ok((s, _)), Ok(want)) => {
                    let want: Vec<(String, String)> = want
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(applied(&s), want, "{:?}", c.props);
                }
                (Err(e), Err(want)) => {
                    assert!(e.to_string().contains(want), "{:?}: {e}", c.props)
                }
                (got, want) => panic!("{:?}: got {got:?}, want {want:?}", c.props),
            }
        }
    }

    /// Every SASL protocol × mechanism × credential source (inline
    /// `sasl.jaas.config`, a JAAS file, the librdkafka keys): the variant
    /// built and exactly the keys applied, so a source is never silently
    /// ignored for one combination.
    #[test]
    fn protocol_mechanism_credential_source_table() {
        let dir = tempfile::tempdir().unwrap();
        let krb5 = "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k.keytab\" principal=\"mm/h@R\";";
        let plain = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";";
        let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"p\";";
        let gssapi_keys = [
            ("sasl.kerberos.keytab", "/k.keytab"),
            ("sasl.kerberos.min.time.before.relogin", "0"),
            ("sasl.kerberos.principal", "mm/h@R"),
            ("sasl.kerberos.service.name", "kafka"),
            ("sasl.mechanisms", "GSSAPI"),
        ];
        let user_keys = |m: &'static str| {
            [
                ("sasl.mechanisms", m),
                ("sasl.password", "p"),
                ("sasl.username", "u"),
            ]
        };
        let mut rows = 0;
        for protocol in ["SASL_PLAINTEXT", "SASL_SSL"] {
            for (mechanism, module, keys_form) in [
                (
                    "GSSAPI",
                    krb5,
                    "sasl.kerberos.keytab=/k.keytab\nsasl.kerberos.principal=mm/h@R",
                ),
                ("PLAIN", plain, "sasl.username=u\nsasl.password=p"),
                ("SCRAM-SHA-256", scram, "sasl.username=u\nsasl.password=p"),
                ("SCRAM-SHA-512", scram, "sasl.username=u\nsasl.password=p"),
            ] {
                for source in ["inline", "file", "keys"] {
                    let head =
                        format!("security.protocol={protocol}\nsasl.mechanism={mechanism}\n");
                    let (props, file) = match source {
                        "inline" => (format!("{head}sasl.jaas.config={module}"), None),
                        "file" => {
                            let path = dir.path().join(format!("{rows}.jaas"));
                            std::fs::write(&path, format!("KafkaClient {{ {module} }};")).unwrap();
                            (
                                head,
                                Some(JaasFileSource {
                                    path,
                                    section: jaas::KAFKA_CLIENT_SECTION,
                                    via: "--jaas",
                                }),
                            )
                        }
                        _ => (format!("{head}{keys_form}"), None),
                    };
                    let opts = SecurityOptions {
                        allow_plaintext: true,
                        ..Default::default()
                    };
                    let (auth, _) = sec_jaas(&props, opts, file.as_ref())
                        .unwrap_or_else(|e| panic!("{props}: {e}"));
                    let mut want: Vec<(String, String)> = match mechanism {
                        "GSSAPI" => gssapi_keys
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        m => user_keys(m)
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    };
                    want.push(("security.protocol".into(), protocol.into()));
                    if protocol == "SASL_SSL" {
                        want.push((
                            "ssl.endpoint.identification.algorithm".into(),
                            "https".into(),
                        ));
                    }
                    want.sort();
                    assert_eq!(applied(&auth), want, "{protocol} {mechanism} {source}");
                    assert_eq!(auth.mechanism().map(|m| m.as_str()), Some(mechanism));
                    assert_eq!(auth.protocol().as_str(), protocol);
                    rows += 1;
                }
            }
        }
        assert_eq!(rows, 2 * 4 * 3);
    }

    #[test]
    fn service_principal_needs_flag_and_warns() {
        let props = "security.protocol=SASL_PLAINTEXT\nsasl.kerberos.keytab=/k\nsasl.kerberos.principal=kafka/b1.example.com@EXAMPLE.COM";
        let e = sec(props, false).unwrap_err().to_string();
        assert!(
            e.starts_with("s.properties: principal kafka/b1.example.com@EXAMPLE.COM is the brokers' own service account")
                && e.contains("kadmin.local -q 'addprinc -randkey mirrormaker/HOST@REALM'")
                && e.contains("--allow.service.principal"),
            "{e}"
        );
        let opts = SecurityOptions {
            allow_service_principal: true,
            ..Default::default()
        };
        let (_, w) = sec_jaas(props, opts, None).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("kafka/b1.example.com@EXAMPLE.COM"), "{w:?}");
        // With another service name, a `kafka/...` principal is an ordinary one.
        let (_, w) = sec_jaas(
            &format!("{props}\nsasl.kerberos.service.name=kfk"),
            SecurityOptions::default(),
            None,
        )
        .unwrap();
        assert!(w.is_empty());
    }

    #[test]
    fn jaas_plain_password_never_printed() {
        let secret = "Zq9-jaas-secret-pw";
        let jaas = format!("sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"mirror\" password=\"{secret}\"");
        let (s, _) = sec_jaas(
            &format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n{jaas};"),
            SecurityOptions::default(),
            None,
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains(secret) && d.contains("mirror"), "{d}");
        let broken = [
            // Over SASL_PLAINTEXT.
            format!("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n{jaas};"),
            // Mechanism mismatch (GSSAPI default, and SCRAM).
            format!("security.protocol=SASL_SSL\n{jaas};"),
            format!("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n{jaas};"),
            // Syntax errors after the password.
            format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n{jaas}"),
            format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n{jaas} x"),
            format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n{jaas} = ;"),
            format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}\";"),
            format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}"),
            format!("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required password={secret} {secret};"),
        ];
        for props in &broken {
            let e = sec_jaas(props, SecurityOptions::default(), None).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn secrets_not_in_debug_or_errors() {
        let s = sec(
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=hunter2-secret\nssl.key.password=keypw-secret",
            false,
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2") && !d.contains("keypw"), "{d}");
        let e = sec("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=hunter2-secret", false)
            .unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }

    /// Keys that weaken TLS: refused without their flag (the message names
    /// it), accepted with it (a warning for every start, and librdkafka
    /// told); older protocol versions refused; TLS keys under a protocol
    /// without TLS are said to be unused.
    #[test]
    fn tls_weakening_keys_and_flags() {
        let skip_cert = SecurityOptions {
            insecure_skip_certificate_verification: true,
            ..Default::default()
        };
        let skip_host = SecurityOptions {
            insecure_skip_hostname_verification: true,
            ..Default::default()
        };
        let both = SecurityOptions {
            insecure_skip_certificate_verification: true,
            insecure_skip_hostname_verification: true,
            ..Default::default()
        };
        let ssl = "security.protocol=SSL\nssl.ca.location=/ca.pem\n";
        let no_verify = format!("{ssl}enable.ssl.certificate.verification=false");
        let no_host = format!("{ssl}ssl.endpoint.identification.algorithm=");
        let neither = format!("{no_verify}\nssl.endpoint.identification.algorithm=");
        // Ok(warning count) or Err(parts of the message).
        type Want = Result<usize, &'static [&'static str]>;
        let cases: Vec<(String, SecurityOptions, Want)> = vec![
            (
                no_verify.clone(),
                SecurityOptions::default(),
                Err(&[
                    "s.properties:3: enable.ssl.certificate.verification: ",
                    "--insecure.skip.certificate.verification",
                ]),
            ),
            (
                no_verify.clone(),
                skip_host,
                Err(&["--insecure.skip.certificate.verification"]),
            ),
            (no_verify.clone(), skip_cert, Ok(1)),
            (
                no_host.clone(),
                skip_cert,
                Err(&["--insecure.skip.hostname.verification"]),
            ),
            (no_host.clone(), skip_host, Ok(1)),
            (
                neither.clone(),
                skip_cert,
                Err(&["--insecure.skip.hostname.verification"]),
            ),
            (neither.clone(), both, Ok(2)),
            (
                format!("{ssl}enable.ssl.certificate.verification=true"),
                SecurityOptions::default(),
                Ok(0),
            ),
            (
                format!("{ssl}enable.ssl.certificate.verification=off"),
                both,
                Err(&["true or false"]),
            ),
            (
                format!("{ssl}ssl.protocol=TLSv1.2"),
                SecurityOptions::default(),
                Ok(0),
            ),
            (
                format!("{ssl}ssl.protocol=TLSv1.3"),
                SecurityOptions::default(),
                Ok(0),
            ),
            (
                format!("{ssl}ssl.protocol=TLSv1.1"),
                both,
                Err(&[
                    "s.properties:3: ssl.protocol: TLSv1.1 is refused",
                    "below TLS 1.2",
                ]),
            ),
            (
                format!("{ssl}ssl.protocol=SSLv3"),
                both,
                Err(&["SSLv3 is refused"]),
            ),
            (
                format!("{ssl}ssl.enabled.protocols=TLSv1.2,TLSv1.3"),
                SecurityOptions::default(),
                Ok(0),
            ),
            (
                format!("{ssl}ssl.enabled.protocols=TLSv1.2,TLSv1.1"),
                both,
                Err(&["ssl.enabled.protocols: TLSv1.1 is refused"]),
            ),
            (
                format!("{ssl}ssl.enabled.protocols=TLSv1.3"),
                both,
                Err(&["cannot be kept to TLS 1.3 alone"]),
            ),
            (
                "security.protocol=SASL_PLAINTEXT\nssl.truststore.location=/t.pem".into(),
                SecurityOptions::default(),
                Ok(1),
            ),
        ];
        for (props, opts, want) in cases {
            match (sec_jaas(&props, opts, None), want) {
                (Ok((s, w)), Ok(n)) => {
                    assert_eq!(w.len(), n, "{props}: {w:?}");
                    let verify = applied(&s)
                        .into_iter()
                        .find(|(k, _)| k == "enable.ssl.certificate.verification");
                    let off = props.contains("verification=false");
                    assert_eq!(verify.is_some(), off, "{props}");
                    if off {
                        assert!(w.iter().any(|w| w.contains("not verified at all")), "{w:?}");
                    }
                }
                (Err(e), Err(parts)) => {
                    let msg = e.to_string();
                    for p in parts {
                        assert!(msg.contains(p), "{props}: {msg} lacks {p:?}");
                    }
                }
                (got, want) => panic!("{props}: got {got:?}, want {want:?}"),
            }
        }
        let (_, w) = sec_jaas(
            "security.protocol=SASL_PLAINTEXT\nssl.truststore.location=/t.pem",
            SecurityOptions::default(),
            None,
        )
        .unwrap();
        assert!(w[0].contains("s.properties:2: ssl.truststore.location is set but security.protocol=SASL_PLAINTEXT does not use TLS") && w[0].contains("SASL_SSL"), "{w:?}");
    }

    #[test]
    fn sasl_plaintext_is_said_to_be_unencrypted() {
        let s = sec("security.protocol=SASL_PLAINTEXT\nsasl.kerberos.keytab=/k\nsasl.kerberos.principal=m/h@R", false).unwrap();
        assert!(s
            .unencrypted_warning()
            .is_some_and(|w| w.contains("SASL_SSL")));
        let s = sec(
            "security.protocol=SASL_SSL\nsasl.kerberos.keytab=/k\nsasl.kerberos.principal=m/h@R",
            false,
        )
        .unwrap();
        assert!(s.unencrypted_warning().is_none());
    }
}
