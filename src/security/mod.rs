//! Security settings: the one place they are applied to librdkafka
//! ([`apply`]), plus Kerberos, keytab, TLS and principal handling.
//!
//! A cluster's security is read from its properties file (the keys the
//! translation table hands over as [`Rule::Security`](crate::config::translate::Rule::Security)),
//! validated into a [`SecurityConfig`], and applied by a single `match` over
//! protocol × mechanism, so every combination is decided in one visible place
//! and covered by one test table.

pub mod principal;

use std::fmt;
use std::path::PathBuf;

use rdkafka::config::ClientConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::config::properties::Entry;

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SecurityProtocol {
    /// No TLS, no authentication. Refused unless `--allow-plaintext`.
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
    /// `--allow-plaintext`: permit PLAINTEXT, and PLAIN/SCRAM over SASL_PLAINTEXT.
    pub allow_plaintext: bool,
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
    #[error("{path}: {message} (pass --allow-plaintext to accept this)")]
    Plaintext {
        /// The properties file.
        path: PathBuf,
        /// What would travel in the clear.
        message: String,
    },
}

impl SecurityConfig {
    /// Validates the security entries of one properties file.
    pub fn from_entries(
        path: &std::path::Path,
        entries: &[Entry],
        opts: SecurityOptions,
    ) -> Result<SecurityConfig, SecurityError> {
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
        let mechanism = match get("sasl.mechanism").or_else(|| get("sasl.mechanisms")) {
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
        let kerberos =
            (is_sasl && mechanism == Some(SaslMechanism::Gssapi)).then(|| KerberosSettings {
                service_name: get("sasl.kerberos.service.name")
                    .map(|e| e.value.expose().trim().to_string())
                    .unwrap_or_else(|| "kafka".into()),
                principal: get("sasl.kerberos.principal")
                    .map(|e| e.value.expose().trim().to_string()),
                keytab: get("sasl.kerberos.keytab").map(|e| PathBuf::from(e.value.expose().trim())),
            });
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
                let username = get("sasl.username").map(|e| e.value.expose().to_string());
                let password =
                    get("sasl.password").map(|e| SecretString::from(e.value.expose().to_string()));
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
        let tls = is_tls.then(|| TlsSettings {
            ca_location: get("ssl.ca.location").map(|e| PathBuf::from(e.value.expose().trim())),
            certificate_location: get("ssl.certificate.location")
                .map(|e| PathBuf::from(e.value.expose().trim())),
            key_location: get("ssl.key.location").map(|e| PathBuf::from(e.value.expose().trim())),
            key_password: get("ssl.key.password")
                .map(|e| SecretString::from(e.value.expose().to_string())),
            verify_hostname: get("ssl.endpoint.identification.algorithm")
                .map(|e| !e.value.expose().trim().is_empty() && e.value.expose().trim() != "none")
                .unwrap_or(true),
        });
        Ok(SecurityConfig {
            protocol,
            mechanism: if is_sasl { mechanism } else { None },
            kerberos,
            credentials,
            tls,
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
            if let Some(k) = &sec.kerberos {
                cfg.set("sasl.kerberos.service.name", &k.service_name);
                if let Some(p) = &k.principal {
                    cfg.set("sasl.kerberos.principal", p);
                }
                if let Some(kt) = &k.keytab {
                    cfg.set("sasl.kerberos.keytab", kt.to_string_lossy());
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
    cfg.set(
        "ssl.endpoint.identification.algorithm",
        if tls.verify_hostname { "https" } else { "none" },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::PropertiesFile;
    use std::path::Path;

    fn sec(text: &str, allow_plaintext: bool) -> Result<SecurityConfig, SecurityError> {
        let f = PropertiesFile::parse(text.as_bytes(), Path::new("s.properties")).unwrap();
        SecurityConfig::from_entries(&f.path, &f.entries, SecurityOptions { allow_plaintext })
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
            Case {
                props: "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p\nssl.endpoint.identification.algorithm=",
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
            Case { props: "security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER", allow_plaintext: false, ok: false, sets: &[] },
            Case { props: "security.protocol=TLS", allow_plaintext: false, ok: false, sets: &[] },
        ];
        for c in cases {
            match sec(c.props, c.allow_plaintext) {
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
}
