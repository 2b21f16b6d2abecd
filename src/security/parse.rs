//! [`Auth::from_entries`]: one side's security keys validated into an
//! [`Auth`], in small steps (protocol, mechanism, JAAS login, then the
//! variant's own settings), each error naming file, line and key.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::jaas::{self, Credentials, JaasError};
use super::{
    principal, tls, Auth, Entry, JaasFileSource, KerberosSettings, SaslMechanism, ScramHash,
    SecurityError, SecurityOptions, SecurityProtocol, TlsSettings, UserPassword,
};

/// Turns a JAAS error into a [`SecurityError`], saying where a JAAS file was
/// named (the parser's message already starts with `origin:line:column`).
fn jaas_error(e: JaasError, file: Option<(&JaasFileSource, &Path)>) -> SecurityError {
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

/// One side's entries and its properties file, for lookups and errors.
struct Reader<'a> {
    path: &'a Path,
    entries: &'a [Entry],
}

/// The SASL login a side's JAAS configuration gives, with where it came from.
type Login = Option<(Credentials, String)>;

impl Reader<'_> {
    /// The last occurrence of `key` (later lines win, as in Java).
    fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    fn invalid(&self, e: &Entry, message: &str) -> SecurityError {
        SecurityError::Invalid {
            path: self.path.to_owned(),
            line: e.line,
            key: e.key.clone(),
            message: message.to_string(),
        }
    }

    fn protocol(&self) -> Result<SecurityProtocol, SecurityError> {
        match self.get("security.protocol") {
            None => Ok(SecurityProtocol::Plaintext),
            Some(e) => SecurityProtocol::parse(e.value.expose()).ok_or_else(|| {
                self.invalid(e, "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
            }),
        }
    }

    /// The configured mechanism (`sasl.mechanism`, or librdkafka's
    /// `sasl.mechanisms`), parsed even for a protocol without SASL so a typo
    /// is never silent; `None` when not set.
    fn mechanism(&self) -> Result<Option<SaslMechanism>, SecurityError> {
        let Some(e) = self
            .get("sasl.mechanism")
            .or_else(|| self.get("sasl.mechanisms"))
        else {
            return Ok(None);
        };
        SaslMechanism::parse(e.value.expose())
            .map(Some)
            .ok_or_else(|| {
                self.invalid(e, "expected GSSAPI, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
            })
    }

    fn plaintext(&self, message: String) -> SecurityError {
        SecurityError::Plaintext {
            path: self.path.to_owned(),
            message,
        }
    }

    /// The SASL login from JAAS, by precedence: inline `sasl.jaas.config`,
    /// then `jaas_file`.
    fn jaas_login(&self, jaas_file: Option<&JaasFileSource>) -> Result<Login, SecurityError> {
        let path = self.path;
        if let Some(e) = self.get("sasl.jaas.config") {
            let origin = format!("{}:{}: sasl.jaas.config", path.display(), e.line);
            let creds = jaas::inline_credentials(e.value.expose(), &origin)
                .map_err(|e| jaas_error(e, None))?;
            let at = format!("sasl.jaas.config at {}:{}", path.display(), e.line);
            return Ok(Some((creds, at)));
        }
        let Some(j) = jaas_file else { return Ok(None) };
        let err = |e| jaas_error(e, Some((j, path)));
        let cfg = jaas::parse_file(&j.path).map_err(err)?;
        let section = cfg.client_section(j.section).map_err(err)?;
        let creds = jaas::section_credentials(section, &cfg.origin).map_err(err)?;
        let at = format!(
            "section {} of {} (named by {})",
            section.name,
            j.path.display(),
            j.via
        );
        Ok(Some((creds, at)))
    }

    /// The JAAS login module must serve the configured mechanism.
    fn check_agrees(
        &self,
        login: &Login,
        m: SaslMechanism,
        explicit: bool,
    ) -> Result<(), SecurityError> {
        let Some((creds, origin)) = login else {
            return Ok(());
        };
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
        if agrees {
            return Ok(());
        }
        Err(SecurityError::MechanismMismatch {
            path: self.path.to_owned(),
            mechanism: if explicit {
                m.as_str().to_string()
            } else {
                format!("{} (the default, as it is not set)", m.as_str())
            },
            origin: origin.clone(),
            module,
            jaas_mechanism,
        })
    }

    /// GSSAPI settings: the JAAS Kerberos login, else the librdkafka keys;
    /// a configured broker service principal is refused without its flag.
    fn kerberos(
        &self,
        login: Option<Credentials>,
        opts: SecurityOptions,
        warnings: &mut Vec<String>,
    ) -> Result<KerberosSettings, SecurityError> {
        let service_name = self
            .get("sasl.kerberos.service.name")
            .map(|e| e.value.expose().trim().to_string())
            .unwrap_or_else(|| "kafka".into());
        let k = match login {
            Some(Credentials::Kerberos(l)) => KerberosSettings {
                // JAAS serviceName overrides the property, as in Java.
                service_name: l.service_name.clone().unwrap_or(service_name),
                principal: l.principal.clone(),
                keytab: l.keytab.clone().filter(|_| l.use_keytab),
                ticket: Default::default(),
            },
            _ => KerberosSettings {
                service_name,
                principal: self
                    .get("sasl.kerberos.principal")
                    .map(|e| e.value.expose().trim().to_string()),
                keytab: self
                    .get("sasl.kerberos.keytab")
                    .map(|e| PathBuf::from(e.value.expose().trim())),
                ticket: Default::default(),
            },
        };
        if let Some(p) = &k.principal {
            self.check_service_principal(p, &k.service_name, opts, warnings)?;
        }
        Ok(k)
    }

    /// The broker-service-principal rule for a principal this side will
    /// authenticate as.
    fn check_service_principal(
        &self,
        p: &str,
        service_name: &str,
        opts: SecurityOptions,
        warnings: &mut Vec<String>,
    ) -> Result<(), SecurityError> {
        if !principal::is_service_principal(p, service_name) {
            return Ok(());
        }
        if !opts.allow_service_principal {
            return Err(SecurityError::ServicePrincipal {
                path: self.path.to_owned(),
                principal: p.to_string(),
            });
        }
        warnings.push(format!(
            "{}: --allow.service.principal: authenticating as {p}, the brokers' own service account (usually a super user), so ACLs do not limit the mirror; use a dedicated principal such as mirrormaker/HOST@REALM",
            self.path.display()
        ));
        Ok(())
    }

    /// PLAIN/SCRAM credentials: the JAAS login, else `sasl.username` and
    /// `sasl.password`; refused over SASL_PLAINTEXT without the flag.
    fn user_password(
        &self,
        login: Option<Credentials>,
        protocol: SecurityProtocol,
        m: SaslMechanism,
        opts: SecurityOptions,
    ) -> Result<UserPassword, SecurityError> {
        if protocol == SecurityProtocol::SaslPlaintext && !opts.allow_plaintext {
            return Err(self.plaintext(format!(
                "sasl.mechanism={} over SASL_PLAINTEXT exposes the password (PLAIN) or a replayable exchange (SCRAM) on the network; use SASL_SSL",
                m.as_str()
            )));
        }
        let (username, password) = match login {
            Some(
                Credentials::Plain { username, password }
                | Credentials::Scram { username, password },
            ) => (Some(username), Some(password)),
            _ => (
                self.get("sasl.username")
                    .map(|e| e.value.expose().to_string()),
                self.get("sasl.password")
                    .map(|e| SecretString::from(e.value.expose().to_string())),
            ),
        };
        match (username, password) {
            (Some(username), Some(password)) => Ok(UserPassword { username, password }),
            _ => Err(SecurityError::Missing {
                path: self.path.to_owned(),
                key: "sasl.username/sasl.password".into(),
                message: "PLAIN and SCRAM need a username and password (sasl.username and sasl.password, or sasl.jaas.config)".into(),
            }),
        }
    }

    /// TLS keys with a protocol without TLS: the operator probably believes
    /// the connection is encrypted; say it is not.
    fn warn_unused_tls(&self, protocol: SecurityProtocol, warnings: &mut Vec<String>) {
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.key.starts_with("ssl.") || e.key == "enable.ssl.certificate.verification")
        {
            let fix = if protocol == SecurityProtocol::SaslPlaintext {
                "SASL_SSL"
            } else {
                "SSL"
            };
            warnings.push(format!(
                "{}:{}: {} is set but security.protocol={} does not use TLS, so no TLS key applies and the connection is not encrypted; use {} to encrypt it",
                self.path.display(),
                e.line,
                e.key,
                protocol,
                fix
            ));
        }
    }

    fn tls(
        &self,
        opts: SecurityOptions,
        warnings: &mut Vec<String>,
    ) -> Result<TlsSettings, SecurityError> {
        tls::settings_from_entries(self.path, self.entries, opts, warnings)
    }

    /// A SASL side: login, mechanism agreement, the variant's settings,
    /// then TLS for SASL_SSL.
    fn sasl(
        &self,
        protocol: SecurityProtocol,
        configured: Option<SaslMechanism>,
        opts: SecurityOptions,
        jaas_file: Option<&JaasFileSource>,
        warnings: &mut Vec<String>,
    ) -> Result<Auth, SecurityError> {
        // Java's default mechanism is GSSAPI.
        let m = configured.unwrap_or(SaslMechanism::Gssapi);
        let login = self.jaas_login(jaas_file)?;
        self.check_agrees(&login, m, configured.is_some())?;
        let login = login.map(|(creds, _)| creds);
        enum Way {
            Gssapi(KerberosSettings),
            Plain(UserPassword),
            Scram(ScramHash, UserPassword),
        }
        let way = match m {
            SaslMechanism::Gssapi => Way::Gssapi(self.kerberos(login, opts, warnings)?),
            SaslMechanism::Plain => Way::Plain(self.user_password(login, protocol, m, opts)?),
            SaslMechanism::ScramSha256 => Way::Scram(
                ScramHash::Sha256,
                self.user_password(login, protocol, m, opts)?,
            ),
            SaslMechanism::ScramSha512 => Way::Scram(
                ScramHash::Sha512,
                self.user_password(login, protocol, m, opts)?,
            ),
        };
        let tls = if protocol == SecurityProtocol::SaslSsl {
            Some(self.tls(opts, warnings)?)
        } else {
            self.warn_unused_tls(protocol, warnings);
            None
        };
        Ok(match way {
            Way::Gssapi(kerberos) => Auth::Gssapi { kerberos, tls },
            Way::Plain(credentials) => Auth::Plain { credentials, tls },
            Way::Scram(hash, credentials) => Auth::Scram {
                hash,
                credentials,
                tls,
            },
        })
    }
}

impl Auth {
    /// Validates the security entries of one properties file.
    ///
    /// For SASL, the login comes from (first found wins) the inline
    /// `sasl.jaas.config`, then `jaas_file` (`--jaas` or `KAFKA_OPTS`), then
    /// the librdkafka keys `sasl.kerberos.keytab`/`sasl.kerberos.principal`
    /// or `sasl.username`/`sasl.password`. Returns the configuration and
    /// warnings to log at start (checks relaxed by a flag). No network I/O.
    pub fn from_entries(
        path: &Path,
        entries: &[Entry],
        opts: SecurityOptions,
        jaas_file: Option<&JaasFileSource>,
    ) -> Result<(Auth, Vec<String>), SecurityError> {
        let r = Reader { path, entries };
        let mut warnings = Vec::new();
        let protocol = r.protocol()?;
        let mechanism = r.mechanism()?;
        let auth = match protocol {
            SecurityProtocol::Plaintext if !opts.allow_plaintext => {
                return Err(r.plaintext("security.protocol is PLAINTEXT (or not set): records would cross the network unauthenticated and unencrypted; set security.protocol=SASL_PLAINTEXT (Kerberos), SSL or SASL_SSL".into()));
            }
            SecurityProtocol::Plaintext => {
                r.warn_unused_tls(protocol, &mut warnings);
                Auth::Plaintext
            }
            SecurityProtocol::Ssl => Auth::Ssl(r.tls(opts, &mut warnings)?),
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                r.sasl(protocol, mechanism, opts, jaas_file, &mut warnings)?
            }
        };
        Ok((auth, warnings))
    }
}
