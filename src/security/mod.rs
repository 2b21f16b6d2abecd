//! Security settings: the one place they are applied to librdkafka
//! ([`apply`]), plus Kerberos, keytab, TLS and principal handling.
//!
//! A cluster's security is read from its properties file (the keys the
//! translation table hands over as [`Rule::Security`](crate::config::translate::Rule::Security)),
//! validated into a [`SecurityConfig`], and applied by a single `match` over
//! protocol × mechanism, so every combination is decided in one visible place
//! and covered by one test table.

pub mod kerberos;
pub mod keytab;
pub mod principal;
pub mod sasl_plugin;
pub mod tls;

use std::fmt;
use std::path::PathBuf;

use rdkafka::config::ClientConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::config::jaas::{self, Credentials, JaasError};
use crate::config::properties::Entry;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KerberosSettings {
    /// The brokers' service name (`sasl.kerberos.service.name`, default `kafka`).
    pub service_name: String,
    /// The mirror principal, e.g. `mirrormaker/host@REALM`.
    pub principal: Option<String>,
    /// The client keytab.
    pub keytab: Option<PathBuf>,
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

/// How kmirror authenticates to one cluster, validated.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Transport.
    pub protocol: SecurityProtocol,
    /// SASL mechanism, for the SASL protocols.
    pub mechanism: Option<SaslMechanism>,
    /// Kerberos settings, for GSSAPI.
    pub kerberos: Option<KerberosSettings>,
    /// Username/password, for PLAIN and SCRAM.
    pub credentials: Option<UserPassword>,
    /// TLS, for SSL and SASL_SSL.
    pub tls: Option<TlsSettings>,
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
    /// A TLS file or broker certificate fails the start-up TLS check.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Turns a JAAS error into a [`SecurityError`], saying where a JAAS file was
/// named (the parser's message already starts with `origin:line:column`).
fn jaas_error(e: JaasError, file: Option<(&JaasFileSource, &std::path::Path)>) -> SecurityError {
    SecurityError::Jaas {
        message: match file {
            Some((j, props)) => format!(
                "{e} (JAAS file named by {}, read for {})",
                j.via,
                props.display()
            ),
            None => e.to_string(),
        },
    }
}

/// The SASL login a side's JAAS configuration gives, by precedence: inline
/// `sasl.jaas.config`, then `jaas_file`. Returns the credentials and a
/// description of where they came from.
fn jaas_login(
    path: &std::path::Path,
    inline: Option<&Entry>,
    jaas_file: Option<&JaasFileSource>,
) -> Result<Option<(Credentials, String)>, SecurityError> {
    if let Some(e) = inline {
        let origin = format!("{}:{}: sasl.jaas.config", path.display(), e.line);
        let creds =
            jaas::inline_credentials(e.value.expose(), &origin).map_err(|e| jaas_error(e, None))?;
        return Ok(Some((
            creds,
            format!("sasl.jaas.config at {}:{}", path.display(), e.line),
        )));
    }
    let Some(j) = jaas_file else { return Ok(None) };
    let err = |e| jaas_error(e, Some((j, path)));
    let cfg = jaas::parse_file(&j.path).map_err(err)?;
    let section = cfg.client_section(j.section).map_err(err)?;
    let creds = jaas::section_credentials(section, &cfg.origin).map_err(err)?;
    Ok(Some((
        creds,
        format!(
            "section {} of {} (named by {})",
            section.name,
            j.path.display(),
            j.via
        ),
    )))
}

impl SecurityConfig {
    /// Validates the security entries of one properties file.
    ///
    /// For SASL, the login comes from (first found wins) the inline
    /// `sasl.jaas.config`, then `jaas_file` (`--jaas` or `KAFKA_OPTS`), then
    /// the librdkafka keys `sasl.kerberos.keytab`/`sasl.kerberos.principal`
    /// or `sasl.username`/`sasl.password`. Returns the configuration and
    /// warnings to log at start (checks relaxed by a flag).
    pub fn from_entries(
        path: &std::path::Path,
        entries: &[Entry],
        opts: SecurityOptions,
        jaas_file: Option<&JaasFileSource>,
    ) -> Result<(SecurityConfig, Vec<String>), SecurityError> {
        let mut warnings = Vec::new();
        let get = |k: &str| entries.iter().rev().find(|e| e.key == k);
        let invalid = |e: &Entry, message: String| SecurityError::Invalid {
            path: path.to_owned(),
            line: e.line,
            key: e.key.clone(),
            message,
        };
        let protocol = match get("security.protocol") {
            None => SecurityProtocol::Plaintext,
            Some(e) => SecurityProtocol::parse(e.value.expose()).ok_or_else(|| {
                invalid(
                    e,
                    "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL".into(),
                )
            })?,
        };
        let mechanism_entry = get("sasl.mechanism").or_else(|| get("sasl.mechanisms"));
        let mechanism = match mechanism_entry {
            None if matches!(
                protocol,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            ) =>
            {
                // Java's default mechanism is GSSAPI.
                Some(SaslMechanism::Gssapi)
            }
            None => None,
            Some(e) => Some(SaslMechanism::parse(e.value.expose()).ok_or_else(|| {
                invalid(
                    e,
                    "expected GSSAPI, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into(),
                )
            })?),
        };
        let is_sasl = matches!(
            protocol,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        );
        let is_tls = matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl);
        if protocol == SecurityProtocol::Plaintext && !opts.allow_plaintext {
            return Err(SecurityError::Plaintext {
                path: path.to_owned(),
                message: "security.protocol is PLAINTEXT (or not set): records would cross the network unauthenticated and unencrypted; set security.protocol=SASL_PLAINTEXT (Kerberos), SSL or SASL_SSL".into(),
            });
        }
        let login = if is_sasl {
            jaas_login(path, get("sasl.jaas.config"), jaas_file)?
        } else {
            None
        };
        if let (Some((creds, origin)), Some(m)) = (&login, mechanism) {
            let (module, jaas_mechanism, agrees) = match creds {
                Credentials::Kerberos(_) => (
                    jaas::KRB5_LOGIN_MODULE,
                    "GSSAPI",
                    m == SaslMechanism::Gssapi,
                ),
                Credentials::Plain { .. } => {
                    (jaas::PLAIN_LOGIN_MODULE, "PLAIN", m == SaslMechanism::Plain)
                }
                Credentials::Scram { .. } => (
                    jaas::SCRAM_LOGIN_MODULE,
                    "SCRAM-SHA-512",
                    matches!(m, SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512),
                ),
            };
            if !agrees {
                return Err(SecurityError::MechanismMismatch {
                    path: path.to_owned(),
                    mechanism: if mechanism_entry.is_some() {
                        m.as_str().to_string()
                    } else {
                        format!("{} (the default, as it is not set)", m.as_str())
                    },
                    origin: origin.clone(),
                    module,
                    jaas_mechanism,
                });
            }
        }
        let login = login.map(|(creds, _)| creds);
        let kerberos = if is_sasl && mechanism == Some(SaslMechanism::Gssapi) {
            let service_name = get("sasl.kerberos.service.name")
                .map(|e| e.value.expose().trim().to_string())
                .unwrap_or_else(|| "kafka".into());
            let k = match &login {
                Some(Credentials::Kerberos(l)) => KerberosSettings {
                    // JAAS serviceName overrides the property, as in Java.
                    service_name: l.service_name.clone().unwrap_or(service_name),
                    principal: l.principal.clone(),
                    keytab: l.keytab.clone().filter(|_| l.use_keytab),
                },
                _ => KerberosSettings {
                    service_name,
                    principal: get("sasl.kerberos.principal")
                        .map(|e| e.value.expose().trim().to_string()),
                    keytab: get("sasl.kerberos.keytab")
                        .map(|e| PathBuf::from(e.value.expose().trim())),
                },
            };
            if let Some(p) = &k.principal {
                if principal::is_service_principal(p, &k.service_name) {
                    if !opts.allow_service_principal {
                        return Err(SecurityError::ServicePrincipal {
                            path: path.to_owned(),
                            principal: p.clone(),
                        });
                    }
                    warnings.push(format!(
                        "{}: --allow.service.principal: authenticating as {p}, the brokers' own service account (usually a super user), so ACLs do not limit the mirror; use a dedicated principal such as mirrormaker/HOST@REALM",
                        path.display()
                    ));
                }
            }
            Some(k)
        } else {
            None
        };
        let credentials = match mechanism {
            Some(
                SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512,
            ) if is_sasl => {
                if protocol == SecurityProtocol::SaslPlaintext && !opts.allow_plaintext {
                    return Err(SecurityError::Plaintext {
                        path: path.to_owned(),
                        message: format!(
                            "sasl.mechanism={} over SASL_PLAINTEXT exposes the password (PLAIN) or a replayable exchange (SCRAM) on the network; use SASL_SSL",
                            mechanism.map_or("", |m| m.as_str())
                        ),
                    });
                }
                let (username, password) = match login {
                    Some(
                        Credentials::Plain { username, password }
                        | Credentials::Scram { username, password },
                    ) => (Some(username), Some(password)),
                    _ => (
                        get("sasl.username").map(|e| e.value.expose().to_string()),
                        get("sasl.password")
                            .map(|e| SecretString::from(e.value.expose().to_string())),
                    ),
                };
                match (username, password) {
                    (Some(username), Some(password)) => Some(UserPassword { username, password }),
                    _ => {
                        return Err(SecurityError::Missing {
                            path: path.to_owned(),
                            key: "sasl.username/sasl.password".into(),
                            message: "PLAIN and SCRAM need a username and password (sasl.username and sasl.password, or sasl.jaas.config)".into(),
                        })
                    }
                }
            }
            _ => None,
        };
        let tls = if is_tls {
            Some(tls::settings_from_entries(
                path,
                entries,
                opts,
                &mut warnings,
            )?)
        } else {
            // TLS keys with a protocol without TLS: the operator probably
            // believes the connection is encrypted; say it is not.
            if let Some(e) = entries.iter().find(|e| {
                e.key.starts_with("ssl.") || e.key == "enable.ssl.certificate.verification"
            }) {
                warnings.push(format!(
                    "{}:{}: {} is set but security.protocol={} does not use TLS, so no TLS key applies and the connection is not encrypted; use {} to encrypt it",
                    path.display(),
                    e.line,
                    e.key,
                    protocol,
                    if is_sasl { "SASL_SSL" } else { "SSL" }
                ));
            }
            None
        };
        Ok((
            SecurityConfig {
                protocol,
                mechanism: if is_sasl { mechanism } else { None },
                kerberos,
                credentials,
                tls,
            },
            warnings,
        ))
    }
}

impl SecurityConfig {
    /// The line to log once at every start when the transport authenticates
    /// but does not encrypt (SASL_PLAINTEXT): allowed, but said.
    pub(crate) fn unencrypted_warning(&self) -> Option<String> {
        (self.protocol == SecurityProtocol::SaslPlaintext).then(|| {
            "security.protocol=SASL_PLAINTEXT authenticates (SASL) but does not encrypt: records cross the network readable by anyone on the path; use security.protocol=SASL_SSL to encrypt them".to_string()
        })
    }
}

/// Applies `sec` to a librdkafka config: the one place security settings
/// reach librdkafka.
pub fn apply(cfg: &mut ClientConfig, sec: &SecurityConfig) {
    use SaslMechanism as M;
    use SecurityProtocol as P;
    cfg.set("security.protocol", sec.protocol.as_str());
    match (sec.protocol, sec.mechanism) {
        (P::Plaintext, _) => {}
        (P::Ssl, _) => apply_tls(cfg, sec.tls.as_ref()),
        (P::SaslPlaintext | P::SaslSsl, Some(M::Gssapi)) => {
            cfg.set("sasl.mechanisms", "GSSAPI");
            // No `kinit` shell command: kmirror's TicketKeeper keeps the
            // ticket in its own ccache (see `kerberos`).
            cfg.set(kerberos::RELOGIN_KEY, "0");
            if let Some(k) = &sec.kerberos {
                cfg.set("sasl.kerberos.service.name", &k.service_name);
                if let Some(p) = &k.principal {
                    cfg.set("sasl.kerberos.principal", p);
                }
                if let Some(kt) = &k.keytab {
                    cfg.set("sasl.kerberos.keytab", kt.to_string_lossy());
                }
                // This side's own ticket cache on every librdkafka thread
                // of the client, so sides may differ in principal.
                if let Some((hook, opaque)) = kerberos::thread_ccache_hook(k) {
                    cfg.set_native_hook(hook, opaque);
                }
            }
            if sec.protocol == P::SaslSsl {
                apply_tls(cfg, sec.tls.as_ref());
            }
        }
        (P::SaslPlaintext | P::SaslSsl, Some(m @ (M::Plain | M::ScramSha256 | M::ScramSha512))) => {
            cfg.set("sasl.mechanisms", m.as_str());
            if let Some(c) = &sec.credentials {
                cfg.set("sasl.username", &c.username);
                cfg.set("sasl.password", c.password.expose_secret());
            }
            if sec.protocol == P::SaslSsl {
                apply_tls(cfg, sec.tls.as_ref());
            }
        }
        (P::SaslPlaintext | P::SaslSsl, None) => {
            unreachable!("SASL protocols always get a mechanism (GSSAPI by default)")
        }
    }
}

fn apply_tls(cfg: &mut ClientConfig, tls: Option<&TlsSettings>) {
    let Some(tls) = tls else { return };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::PropertiesFile;
    use std::path::Path;

    fn sec_jaas(
        text: &str,
        opts: SecurityOptions,
        jaas: Option<&JaasFileSource>,
    ) -> Result<(SecurityConfig, Vec<String>), SecurityError> {
        let f = PropertiesFile::parse(text.as_bytes(), Path::new("s.properties")).unwrap();
        SecurityConfig::from_entries(&f.path, &f.entries, opts, jaas)
    }

    fn sec(text: &str, allow_plaintext: bool) -> Result<SecurityConfig, SecurityError> {
        let opts = SecurityOptions {
            allow_plaintext,
            ..Default::default()
        };
        sec_jaas(text, opts, None).map(|(s, _)| s)
    }

    fn applied(s: &SecurityConfig) -> Vec<(String, String)> {
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
