//! The TLS preflight: a rustls check of every file and every bootstrap
//! server's certificate before librdkafka connects (and, for SASL_SSL with
//! PLAIN or SCRAM, a login: see [`super::scram`]).
//!
//! librdkafka (OpenSSL) reports a bad CA, a hostname mismatch or an
//! expired certificate only as a generic handshake failure in its own log,
//! long after start-up; the preflight turns each into one message naming the
//! broker, the file and the fix. This is network I/O, so it is not part of
//! reading the configuration: callers run it after `Config::from_args`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, RootCertStore};
use secrecy::ExposeSecret;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::scram as sasl;
use crate::config::{ClusterConfig, Config};
use crate::security::tls::{keytool_command, sniff, StoreKind};
use crate::security::{Auth, SaslMechanism, TlsSettings};

/// How long one preflight connection may take to connect or answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// After a TLS 1.3 handshake the server judges the client certificate and
/// answers with an alert at once; wait this long for one.
const ALERT_WAIT: Duration = Duration::from_millis(500);
/// Certificates expiring sooner than this produce a start-up warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// A TLS file or broker that fails the preflight. Each message names the
/// side, its properties file, the file or broker, the reason and the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    /// A CA, certificate, key or store file is unusable.
    #[error("{side} ({props}): {file}: {reason}")]
    File {
        /// `source`, `source 2`, `target`.
        side: String,
        /// The side's properties file.
        props: PathBuf,
        /// The TLS file.
        file: PathBuf,
        /// What is wrong and how to fix it (never a secret).
        reason: String,
    },
    /// A bootstrap server failed the TLS handshake.
    #[error("{side} ({props}): {broker} {reason}")]
    Broker {
        /// `source`, `source 2`, `target`.
        side: String,
        /// The side's properties file.
        props: PathBuf,
        /// `host:port` as written in `bootstrap.servers`.
        broker: String,
        /// What the broker did and how to fix it.
        reason: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn date(t: &x509_parser::time::ASN1Time) -> String {
    t.to_datetime().date().to_string()
}

/// The DNS names and IP addresses a certificate is valid for (the CN when it
/// has no subject alternative names).
fn names_of(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).expect("4 bytes"))
                            .to_string(),
                    ),
                    16 => names.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).expect("16 bytes"))
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    names
}

fn issuer_of(der: &[u8]) -> String {
    X509Certificate::from_der(der)
        .map(|(_, c)| c.issuer().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Refuses an expired or not yet valid certificate; warns when it expires
/// within [`EXPIRY_WARNING_DAYS`].
fn check_validity(
    der: &[u8],
    what: &str,
    file: &Path,
    err: &dyn Fn(&Path, String) -> TlsError,
    warnings: &mut Vec<String>,
) -> Result<(), TlsError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| err(file, format!("{what} cannot be parsed: {e}")))?;
    let now = x509_parser::time::ASN1Time::now();
    let v = cert.validity();
    if v.not_after < now {
        return Err(err(
            file,
            format!(
                "{what} '{}' expired on {}; renew it",
                cert.subject(),
                date(&v.not_after)
            ),
        ));
    }
    if v.not_before > now {
        return Err(err(
            file,
            format!(
                "{what} '{}' is not valid before {}; check the clock or the certificate",
                cert.subject(),
                date(&v.not_before)
            ),
        ));
    }
    let left = v.not_after.timestamp() - now.timestamp();
    if left < EXPIRY_WARNING_DAYS * 86_400 {
        warnings.push(format!(
            "{}: {what} '{}' expires on {} (in {} days); renew it",
            file.display(),
            cert.subject(),
            date(&v.not_after),
            left / 86_400
        ));
    }
    Ok(())
}

/// A client certificate chain and its (matching) key.
type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client identity: certificate chain, key (when it can be read: an
/// encrypted PEM key cannot) and the file(s) it came from.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

fn load_identity(
    tls: &TlsSettings,
    err: &dyn Fn(&Path, String) -> TlsError,
    warnings: &mut Vec<String>,
) -> Result<Option<Identity>, TlsError> {
    if let Some(ks) = &tls.keystore_location {
        let data =
            std::fs::read(ks).map_err(|e| err(ks, format!("cannot read the keystore: {e}")))?;
        let store = p12_keystore::KeyStore::from_pkcs12(
            &data,
            tls.keystore_password
                .as_ref()
                .map_or("", |p| p.expose_secret()),
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            err(ks, format!("cannot open the PKCS#12 keystore: wrong ssl.keystore.password, or a damaged file ({e})"))
        })?;
        let Some((_, chain)) = store.private_key_chain() else {
            return Err(err(
                ks,
                "the PKCS#12 keystore holds no private key with a certificate".into(),
            ));
        };
        if chain.certs().is_empty() {
            return Err(err(
                ks,
                "the PKCS#12 keystore's key has no certificate".into(),
            ));
        }
        return Ok(Some(Identity {
            chain: chain
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect(),
            key: Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                chain.key().as_der().to_vec(),
            ))),
            cert_file: ks.clone(),
            key_file: ks.clone(),
        }));
    }
    let (Some(cert_file), Some(key_file)) = (&tls.certificate_location, &tls.key_location) else {
        return Ok(None);
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| err(cert_file, format!("cannot read the certificate: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(cert_file, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(err(
            cert_file,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key_text = std::fs::read(key_file)
        .map_err(|e| err(key_file, format!("cannot read the private key: {e}")))?;
    let key = if String::from_utf8_lossy(&key_text).contains("ENCRYPTED") {
        // librdkafka decrypts it with ssl.key.password; rustls cannot, so
        // the key is not matched here and the handshake goes without it.
        if tls.key_password.is_none() {
            return Err(err(
                key_file,
                "the private key is encrypted but ssl.key.password is not set".into(),
            ));
        }
        warnings.push(format!(
            "{}: the private key is encrypted; the start-up TLS check cannot match it to the certificate (librdkafka decrypts it with ssl.key.password)",
            key_file.display()
        ));
        None
    } else {
        Some(PrivateKeyDer::from_pem_slice(&key_text).map_err(|_| {
            err(
                key_file,
                "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into(),
            )
        })?)
    };
    Ok(Some(Identity {
        chain,
        key,
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
    }))
}

/// Trusted CAs: `ssl.ca.location` (file or directory of PEM files), the
/// certificates of a PKCS#12 truststore, or the system store; and how to
/// name them in messages.
fn load_roots(
    tls: &TlsSettings,
    err: &dyn Fn(&Path, String) -> TlsError,
    warnings: &mut Vec<String>,
) -> Result<(RootCertStore, String), TlsError> {
    let mut roots = RootCertStore::empty();
    // CAs outside their validity are set aside, not refused at once: a
    // bundle (the system's, or a dedicated file during a CA rotation) may
    // hold an expired root that no broker chain uses, as OpenSSL and Java
    // accept. Only a location with no valid CA at all is refused.
    let mut set_aside: Vec<TlsError> = Vec::new();
    let mut add_pem =
        |file: &Path, pem: &[u8], warnings: &mut Vec<String>| -> Result<usize, TlsError> {
            let mut n = 0;
            for c in CertificateDer::pem_slice_iter(pem) {
                let c = c.map_err(|e| err(file, format!("not a PEM CA certificate: {e}")))?;
                X509Certificate::from_der(&c)
                    .map_err(|e| err(file, format!("CA certificate cannot be parsed: {e}")))?;
                // Parsed above, so an error here is about validity only.
                if let Err(e) = check_validity(&c, "CA certificate", file, err, warnings) {
                    set_aside.push(e);
                    continue;
                }
                roots
                    .add(c)
                    .map_err(|e| err(file, format!("unusable CA certificate: {e}")))?;
                n += 1;
            }
            Ok(n)
        };
    let (n, origin, location) = if let Some(pem) = &tls.ca_pem {
        let file = tls.truststore.clone().unwrap_or_default();
        let n = add_pem(&file, pem.as_bytes(), warnings)?;
        (n, file.display().to_string(), file)
    } else if let Some(ca) = &tls.ca_location {
        let files: Vec<PathBuf> = if ca.is_dir() {
            std::fs::read_dir(ca)
                .map_err(|e| err(ca, format!("cannot read the CA directory: {e}")))?
                .filter_map(|d| d.ok().map(|d| d.path()))
                .filter(|p| p.is_file())
                .collect()
        } else {
            vec![ca.clone()]
        };
        let mut n = 0;
        for f in &files {
            let data =
                std::fs::read(f).map_err(|e| err(f, format!("cannot read the CA file: {e}")))?;
            if let Some(k @ (StoreKind::Jks | StoreKind::Jceks)) = sniff(&data) {
                let kind = if k == StoreKind::Jks { "JKS" } else { "JCEKS" };
                return Err(err(f, format!("is a {kind} keystore; librdkafka reads CA certificates from PEM: {}, then use ssl.truststore.location with ssl.truststore.type=PKCS12", keytool_command(&f.display().to_string(), kind))));
            }
            n += add_pem(f, &data, warnings)?;
        }
        (n, ca.display().to_string(), ca.clone())
    } else {
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            // Odd certificates in a system store are not the mirror's problem.
            let _ = roots.add(c);
        }
        return Ok((
            roots,
            "the system CA store; set ssl.ca.location or ssl.truststore.location".into(),
        ));
    };
    if n == 0 {
        // Nothing usable: the first CA set aside says why, else there was none.
        return Err(set_aside.into_iter().next().unwrap_or_else(|| {
            err(
                &location,
                "holds no PEM CA certificate (-----BEGIN CERTIFICATE-----)".into(),
            )
        }));
    }
    if !set_aside.is_empty() {
        warnings.push(set_aside_warning(&origin, &set_aside));
    }
    Ok((roots, origin))
}

/// One warning for the CAs of a trust location that were set aside: how many,
/// the first few reasons, and what to do.
fn set_aside_warning(origin: &str, set_aside: &[TlsError]) -> String {
    const SHOWN: usize = 3;
    let reasons: Vec<String> = set_aside
        .iter()
        .take(SHOWN)
        .map(|e| match e {
            // "renew it" is advice for a dedicated CA, not a bundle's root.
            TlsError::File { reason, .. } => reason.trim_end_matches("; renew it").to_string(),
            other => other.to_string(),
        })
        .collect();
    let more = set_aside.len().saturating_sub(SHOWN);
    format!(
        "{origin}: {} CA certificate(s) outside their validity are not trusted ({}{}); a broker chain through them would fail; remove them from the file to silence this",
        set_aside.len(),
        reasons.join("; "),
        if more > 0 { format!("; and {more} more") } else { String::new() },
    )
}

/// A server-certificate verifier that remembers the certificate the broker
/// presented (to describe a failure) and, when hostname verification is
/// off, accepts a certificate valid for another name; when certificate
/// verification is off (`--insecure.skip.certificate.verification`, as
/// librdkafka is then told), accepts any certificate.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    verify_certificate: bool,
    verify_hostname: bool,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().expect("verifier lock") = Some(end_entity.clone().into_owned());
        if !self.verify_certificate {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // webpki checks the name last: the chain is already good here.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_hostname => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Checks one side's TLS before any librdkafka client exists: loads the CA,
/// certificate and key; verifies the client chain against the CA, that the
/// key matches the certificate and expiry (refused when expired, a warning
/// under 30 days); then completes a TLS handshake with every bootstrap
/// server, verifying its certificate and (unless turned off) hostname.
/// A server that cannot be reached at all is left to librdkafka (a warning):
/// this check is about certificates. Returns warnings to log at start.
pub fn preflight(
    side: &str,
    props: &Path,
    bootstrap: &str,
    tls: &TlsSettings,
) -> Result<Vec<String>, TlsError> {
    preflight_with_login(side, props, bootstrap, tls, None)
}

/// [`preflight`] for a whole side: for SASL_SSL with PLAIN or SCRAM, each
/// handshake is followed by a SASL login with the configured credentials,
/// so a wrong password is reported as such (librdkafka reports it only as a
/// broker transport failure). `Ok` with no TLS configured.
pub fn preflight_security(
    side: &str,
    props: &Path,
    bootstrap: &str,
    sec: &Auth,
) -> Result<Vec<String>, TlsError> {
    let Some(tls) = sec.tls() else {
        return Ok(Vec::new());
    };
    let login = match (sec.mechanism(), sec.credentials()) {
        (
            Some(
                m
                @ (SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512),
            ),
            Some(c),
        ) => Some(sasl::Login {
            mechanism: m,
            username: c.username.clone(),
            password: c.password.clone(),
        }),
        _ => None,
    };
    preflight_with_login(side, props, bootstrap, tls, login.as_ref())
}

/// [`preflight_security`] for every side of `config`, before any
/// librdkafka client exists: OpenSSL would report a wrong CA, name or
/// expired certificate only as a handshake failure in librdkafka's log.
/// Warnings are added to the side's start-up warnings.
pub fn preflight_config(config: &mut Config) -> Result<(), TlsError> {
    preflight_sides(
        config
            .sources
            .iter_mut()
            .chain(std::iter::once(&mut config.target)),
    )
}

/// [`preflight_config`] for some sides only (`kmirror lag` reads the sources).
pub fn preflight_sides<'a>(
    sides: impl IntoIterator<Item = &'a mut ClusterConfig>,
) -> Result<(), TlsError> {
    for c in sides {
        let w = preflight_security(&c.label, &c.path, &c.bootstrap, &c.security)?;
        c.warnings.extend(w);
    }
    Ok(())
}

fn preflight_with_login(
    side: &str,
    props: &Path,
    bootstrap: &str,
    tls: &TlsSettings,
    login: Option<&sasl::Login>,
) -> Result<Vec<String>, TlsError> {
    let mut warnings = Vec::new();
    let file_err = |file: &Path, reason: String| TlsError::File {
        side: side.to_string(),
        props: props.to_owned(),
        file: file.to_owned(),
        reason,
    };
    let (roots, ca_origin) = load_roots(tls, &file_err, &mut warnings)?;
    let roots = Arc::new(roots);
    let identity = load_identity(tls, &file_err, &mut warnings)?;
    let mut certified = None;
    if let Some(id) = &identity {
        check_validity(
            &id.chain[0],
            "client certificate",
            &id.cert_file,
            &file_err,
            &mut warnings,
        )?;
        if let Some(key) = &id.key {
            let ck = CertifiedKey::from_der(id.chain.clone(), key.clone_key(), &provider())
                .map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => file_err(
                        &id.key_file,
                        format!(
                            "the private key does not match the certificate in {} (they are from different pairs); use the key issued with that certificate",
                            id.cert_file.display()
                        ),
                    ),
                    other => file_err(&id.key_file, format!("unusable private key: {other}")),
                })?;
            drop(ck);
            certified = Some((id.chain.clone(), key.clone_key()));
        }
        if !roots.is_empty() {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .map_err(|e| file_err(&id.cert_file, format!("cannot build a verifier: {e}")))?;
            if let Err(e) =
                verifier.verify_client_cert(&id.chain[0], &id.chain[1..], UnixTime::now())
            {
                let reason = match e {
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
                        "the client certificate is signed by an unknown CA (not in {ca_origin}): its issuer is '{}'; add the CA that issued it (and any intermediate to the certificate file)",
                        issuer_of(&id.chain[0])
                    ),
                    other => format!("the client certificate does not verify against {ca_origin}: {other}"),
                };
                return Err(file_err(&id.cert_file, reason));
            }
        }
    }
    for broker in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        let broker = broker.rsplit_once("://").map_or(broker, |(_, rest)| rest);
        let config = client_config(&roots, tls, certified.as_ref())
            .map_err(|e| file_err(Path::new(&ca_origin), e))?;
        if let Some(w) = handshake(
            broker,
            config,
            &ca_origin,
            // Only a certificate actually presented can be blamed.
            identity.as_ref().filter(|_| certified.is_some()),
            login,
        )
        .map_err(|reason| TlsError::Broker {
            side: side.to_string(),
            props: props.to_owned(),
            broker: broker.to_string(),
            reason,
        })? {
            warnings.push(w);
        }
    }
    Ok(warnings)
}

fn client_config(
    roots: &Arc<RootCertStore>,
    tls: &TlsSettings,
    certified: Option<&ClientAuth>,
) -> Result<(rustls::ClientConfig, Arc<Recording>), String> {
    let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(|e| format!("no usable CA certificate: {e}"))?;
    let recording = Arc::new(Recording {
        inner,
        verify_certificate: !tls.skip_certificate_verification,
        verify_hostname: tls.verify_hostname,
        seen: Mutex::new(None),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recording.clone());
    let config = match certified {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| e.to_string())?,
        None => builder.with_no_client_auth(),
    };
    Ok((config, recording))
}

/// The rustls error inside an I/O error from `complete_io`, if any.
fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

/// Describes a failed handshake with `host`, using the certificate the
/// broker presented when there was one.
fn describe(
    e: &rustls::Error,
    host: &str,
    seen: Option<&CertificateDer<'_>>,
    ca_origin: &str,
    identity: Option<&Identity>,
) -> String {
    let not_after = || {
        seen.and_then(|c| {
            X509Certificate::from_der(c)
                .ok()
                .map(|(_, x)| date(&x.validity().not_after))
        })
        .unwrap_or_else(|| "?".into())
    };
    let not_before = || {
        seen.and_then(|c| {
            X509Certificate::from_der(c)
                .ok()
                .map(|(_, x)| date(&x.validity().not_before))
        })
        .unwrap_or_else(|| "?".into())
    };
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                // rustls's `presented` holds Debug forms (`DnsName("x")`):
                // read the names from the certificate itself.
                let names = match (seen.map(|c| names_of(c)), ce) {
                    (Some(n), _) if !n.is_empty() => n,
                    (_, CertificateError::NotValidForNameContext { presented, .. }) => presented.clone(),
                    _ => Vec::new(),
                };
                let names = names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
                format!("presented a certificate for {names}, not '{host}'; connect with a name the certificate holds (bootstrap.servers), have the broker certificate reissued with '{host}' as a subject alternative name, or (unsafe) set ssl.endpoint.identification.algorithm= and pass --insecure.skip.hostname.verification")
            }
            CertificateError::UnknownIssuer => format!(
                "presented a certificate signed by an unknown CA (not in {ca_origin}): its issuer is '{}'; point ssl.ca.location (or ssl.truststore.location) at the CA that signed the brokers' certificates",
                seen.map(|c| issuer_of(c)).unwrap_or_else(|| "?".into())
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "presented a certificate that expired on {}; the broker's certificate must be renewed",
                not_after()
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!(
                "presented a certificate not valid before {}; check this host's clock or the broker certificate",
                not_before()
            ),
            other => format!("presented a certificate that does not verify against {ca_origin}: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            let cert_alert = matches!(
                alert,
                AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::CertificateRequired
                    | AlertDescription::CertificateExpired
                    | AlertDescription::DecryptError
                    | AlertDescription::HandshakeFailure
                    | AlertDescription::AccessDenied
            );
            match identity {
                Some(id) if cert_alert => format!(
                    "rejected the client certificate {} (TLS alert {alert:?}); the broker must trust the CA that issued it",
                    id.cert_file.display()
                ),
                None if cert_alert => format!(
                    "refused the TLS handshake (alert {alert:?}): it probably requires a client certificate; set ssl.keystore.location, or ssl.certificate.location and ssl.key.location"
                ),
                _ => format!("refused the TLS handshake with alert {alert:?}"),
            }
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "did not answer with TLS: it looks like a PLAINTEXT or SASL_PLAINTEXT listener; check security.protocol and the port in bootstrap.servers".into()
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// One TLS handshake with `broker` (`host:port`). `Ok(Some(warning))` when
/// the broker cannot be reached (librdkafka will report that itself).
fn handshake(
    broker: &str,
    (config, recording): (rustls::ClientConfig, Arc<Recording>),
    ca_origin: &str,
    identity: Option<&Identity>,
    login: Option<&sasl::Login>,
) -> Result<Option<String>, String> {
    let Some((host, _port)) = broker.rsplit_once(':') else {
        return Ok(Some(format!(
            "{broker}: no port; the start-up TLS check skipped it"
        )));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is not a valid host name for TLS"))?;
    let addrs: Vec<_> = match broker.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            return Ok(Some(format!(
                "{broker}: cannot resolve ({e}); the start-up TLS check skipped it"
            )))
        }
    };
    let mut sock = None;
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, IO_TIMEOUT) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut sock) = sock else {
        return Ok(Some(format!(
            "{broker}: cannot connect ({}); the start-up TLS check skipped it",
            last.map_or_else(|| "no address".to_string(), |e| e.to_string())
        )));
    };
    let io = |e: std::io::Error| format!("TLS handshake failed: {e}");
    sock.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    sock.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let fail = |e: std::io::Error| -> String {
        let seen = recording.seen.lock().expect("verifier lock").clone();
        match rustls_error(&e) {
            Some(re) => describe(re, host, seen.as_ref(), ca_origin, identity),
            None if e.kind() == std::io::ErrorKind::UnexpectedEof
                || e.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                match identity {
                    Some(id) => format!("closed the connection during the TLS handshake: it may not trust the client certificate {}, or not be a TLS listener", id.cert_file.display()),
                    None => "closed the connection during the TLS handshake: it may require a client certificate, or not be a TLS listener".into(),
                }
            }
            None => format!("TLS handshake failed: {e}"),
        }
    };
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(fail(e));
        }
    }
    // TLS 1.3: the server judges the client certificate after the client's
    // Finished and answers a rejection with an alert right away.
    sock.set_read_timeout(Some(ALERT_WAIT)).map_err(io)?;
    let mut buf = [0u8; 1];
    match conn.reader().read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => match conn.complete_io(&mut sock) {
            Err(e) if rustls_error(&e).is_some() => return Err(fail(e)),
            _ => {}
        },
        Err(e) if rustls_error(&e).is_some() => return Err(fail(e)),
        _ => {}
    }
    if let Some(login) = login {
        sock.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        sasl::login(&mut stream, login)?;
    }
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    let _ = sock.flush();
    // A broker certificate about to expire stops the mirror soon after.
    let seen = recording.seen.lock().expect("verifier lock").clone();
    let mut soon = Vec::new();
    if let Some(der) = seen {
        let quiet = |_: &Path, reason: String| TlsError::File {
            side: String::new(),
            props: PathBuf::new(),
            file: PathBuf::new(),
            reason,
        };
        let _ = check_validity(
            &der,
            "its certificate",
            Path::new(broker),
            &quiet,
            &mut soon,
        );
    }
    Ok(soon.pop())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::tests::parse_entries;
    use crate::security::tls::settings_from_entries;
    use crate::security::{SecurityError, SecurityOptions};

    fn settings(text: &str, skip: bool) -> Result<(TlsSettings, Vec<String>), SecurityError> {
        let entries = parse_entries(text);
        let opts = SecurityOptions {
            insecure_skip_hostname_verification: skip,
            ..Default::default()
        };
        let mut w = Vec::new();
        settings_from_entries(Path::new("s.properties"), &entries, opts, &mut w).map(|t| (t, w))
    }

    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        SanType,
    };
    use std::net::{SocketAddr, TcpListener};

    /// A throw-away CA issuing certificates with chosen names and validity.
    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
        dir: PathBuf,
        name: String,
    }

    /// PEM files of an issued certificate and its key.
    struct Pair {
        cert: PathBuf,
        key: PathBuf,
        der: CertificateDer<'static>,
        key_der: PrivateKeyDer<'static>,
    }

    /// A date as (year, month, day).
    type Ymd = (i32, u8, u8);

    impl Ca {
        fn new(dir: &Path, name: &str) -> Ca {
            Ca::valid(dir, name, None)
        }

        /// A CA whose own certificate expired on 2025-06-30.
        fn expired(dir: &Path, name: &str) -> Ca {
            Ca::valid(dir, name, Some(((2020, 1, 1), (2025, 6, 30))))
        }

        /// A CA valid from..to (rcgen's default without).
        fn valid(dir: &Path, name: &str, validity: Option<(Ymd, Ymd)>) -> Ca {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, name);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            if let Some(((y0, m0, d0), (y1, m1, d1))) = validity {
                p.not_before = date_time_ymd(y0, m0, d0);
                p.not_after = date_time_ymd(y1, m1, d1);
            }
            let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), issuer.pem()).unwrap();
            Ca {
                issuer,
                dir: dir.to_owned(),
                name: name.to_string(),
            }
        }

        fn pem(&self) -> PathBuf {
            self.dir.join(format!("{}.pem", self.name))
        }

        fn issue(&self, file: &str, names: &[&str], not_after: Option<(i32, u8, u8)>) -> Pair {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, file);
            for n in names {
                p.subject_alt_names
                    .push(match n.parse::<std::net::IpAddr>() {
                        Ok(ip) => SanType::IpAddress(ip),
                        Err(_) => SanType::DnsName((*n).try_into().unwrap()),
                    });
            }
            if let Some((y, m, d)) = not_after {
                p.not_before = date_time_ymd(y - 1, m, d);
                p.not_after = date_time_ymd(y, m, d);
            }
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, &self.issuer).unwrap();
            let out = Pair {
                cert: self.dir.join(format!("{file}.pem")),
                key: self.dir.join(format!("{file}.key")),
                der: cert.der().clone(),
                key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            };
            std::fs::write(&out.cert, cert.pem()).unwrap();
            std::fs::write(&out.key, key.serialize_pem()).unwrap();
            out
        }
    }

    /// A TLS server on loopback presenting `server`, requiring a client
    /// certificate from `client_ca` if given. Serves until the test ends.
    fn tls_server(server: &Pair, client_ca: Option<&Path>) -> String {
        let b = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let b = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_file(ca).unwrap())
                    .unwrap();
                b.with_client_cert_verifier(
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .unwrap(),
                )
            }
            None => b.with_no_client_auth(),
        };
        let cfg = Arc::new(
            b.with_single_cert(vec![server.der.clone()], server.key_der.clone_key())
                .unwrap(),
        );
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                while conn.is_handshaking() {
                    if conn.complete_io(&mut s).is_err() {
                        break;
                    }
                }
                // Until the client closes (or an alert was sent).
                let _ = conn.complete_io(&mut s);
            }
        });
        addr.to_string()
    }

    fn tls_of(ca: Option<&Path>, client: Option<(&Path, &Path)>) -> TlsSettings {
        TlsSettings {
            ca_location: ca.map(Path::to_owned),
            certificate_location: client.map(|c| c.0.to_owned()),
            key_location: client.map(|c| c.1.to_owned()),
            verify_hostname: true,
            ..Default::default()
        }
    }

    fn run(bootstrap: &str, tls: &TlsSettings) -> Result<Vec<String>, String> {
        preflight("target", Path::new("p.properties"), bootstrap, tls).map_err(|e| e.to_string())
    }

    #[test]
    fn handshake_failures_name_broker_file_and_reason() {
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::new(d.path(), "ca");
        let other = Ca::new(d.path(), "other-ca");
        let good = ca.issue("good", &["localhost", "127.0.0.1"], None);
        let wrong_name = ca.issue("wrong-name", &["other.example"], None);
        let expired = ca.issue("expired", &["127.0.0.1"], Some((2026, 1, 1)));
        let b_good = tls_server(&good, None);
        let ok = tls_of(Some(&ca.pem()), None);
        assert_eq!(run(&b_good, &ok), Ok(vec![]));
        // Several servers, a scheme prefix, and `localhost` by name.
        let port = b_good.rsplit_once(':').unwrap().1;
        assert_eq!(
            run(&format!("SSL://{b_good}, localhost:{port}"), &ok),
            Ok(vec![])
        );

        let b = tls_server(&wrong_name, None);
        let e = run(&b, &ok).unwrap_err();
        assert!(
            e.starts_with(&format!("target (p.properties): {b} presented a certificate for 'other.example', not '127.0.0.1'")),
            "{e}"
        );
        let mut off = ok.clone();
        off.verify_hostname = false;
        assert_eq!(run(&b, &off), Ok(vec![]));

        let e = run(&b_good, &tls_of(Some(&other.pem()), None)).unwrap_err();
        assert!(
            e.contains(&format!(
                "{b_good} presented a certificate signed by an unknown CA (not in {})",
                other.pem().display()
            )),
            "{e}"
        );
        let b = tls_server(&expired, None);
        let e = run(&b, &ok).unwrap_err();
        assert!(
            e.contains(&format!(
                "{b} presented a certificate that expired on 2026-01-01"
            )),
            "{e}"
        );
        // --insecure.skip.certificate.verification: the preflight accepts
        // what librdkafka is told to accept (any certificate), no more.
        let mut unverified = tls_of(Some(&other.pem()), None);
        unverified.skip_certificate_verification = true;
        assert_eq!(run(&b, &unverified), Ok(vec![]));
        assert_eq!(run(&b_good, &unverified), Ok(vec![]));

        // A plaintext listener.
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let pb = plain.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for s in plain.incoming().flatten() {
                let mut s = s;
                let _ = s.write_all(&[0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 0]);
            }
        });
        let e = run(&pb, &ok).unwrap_err();
        assert!(e.contains("did not answer with TLS"), "{e}");

        // Nobody listening: left to librdkafka, with a warning.
        let gone = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let w = run(&gone.to_string(), &ok).unwrap();
        assert!(w.len() == 1 && w[0].contains("cannot connect"), "{w:?}");
        // A broker certificate expiring within 30 days: a warning.
        let near = ca.issue("near", &["127.0.0.1"], Some(time_in_days(5)));
        let b = tls_server(&near, None);
        let w = run(&b, &ok).unwrap();
        assert!(
            w.len() == 1 && w[0].starts_with(&format!("{b}: its certificate 'CN=near' expires on")),
            "{w:?}"
        );
        let _: SocketAddr = gone;
    }

    #[test]
    fn client_certificates_checked_before_connecting() {
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::new(d.path(), "ca");
        let other = Ca::new(d.path(), "other-ca");
        let server = ca.issue("server", &["127.0.0.1"], None);
        let client = ca.issue("client", &[], None);
        let stranger = other.issue("stranger", &[], None);
        let b = tls_server(&server, Some(&ca.pem()));
        let ca_pem = ca.pem();
        assert_eq!(
            run(
                &b,
                &tls_of(Some(&ca_pem), Some((&client.cert, &client.key)))
            ),
            Ok(vec![])
        );
        // No client certificate: the server's alert, explained.
        let e = run(&b, &tls_of(Some(&ca_pem), None)).unwrap_err();
        assert!(
            e.contains(&format!("{b} refused the TLS handshake"))
                && e.contains("client certificate"),
            "{e}"
        );
        // Key from another pair.
        let e = run(
            &b,
            &tls_of(Some(&ca_pem), Some((&client.cert, &stranger.key))),
        )
        .unwrap_err();
        assert!(
            e.starts_with(&format!(
                "target (p.properties): {}: the private key does not match the certificate in {}",
                stranger.key.display(),
                client.cert.display()
            )),
            "{e}"
        );
        // Issued by a CA the configured one does not know.
        let e = run(
            &b,
            &tls_of(Some(&ca_pem), Some((&stranger.cert, &stranger.key))),
        )
        .unwrap_err();
        assert!(
            e.contains(&format!(
                "{}: the client certificate is signed by an unknown CA (not in {})",
                stranger.cert.display(),
                ca_pem.display()
            )),
            "{e}"
        );
        // Expired, and expiring soon.
        let old = ca.issue("old", &[], Some((2026, 1, 1)));
        let e = run(&b, &tls_of(Some(&ca_pem), Some((&old.cert, &old.key)))).unwrap_err();
        assert!(
            e.contains("client certificate 'CN=old' expired on 2026-01-01"),
            "{e}"
        );
        let soon = time_in_days(10);
        let near = ca.issue("near", &[], Some(soon));
        let w = run(&b, &tls_of(Some(&ca_pem), Some((&near.cert, &near.key)))).unwrap();
        assert!(
            w.len() == 1 && w[0].contains("client certificate 'CN=near' expires on"),
            "{w:?}"
        );
    }

    /// (year, month, day) `days` from now.
    fn time_in_days(days: i64) -> (i32, u8, u8) {
        let t = x509_parser::time::ASN1Time::from_timestamp(
            x509_parser::time::ASN1Time::now().timestamp() + days * 86_400,
        )
        .unwrap()
        .to_datetime();
        (t.year(), u8::from(t.month()), t.day())
    }

    /// A JKS file named as librdkafka's CA file: refused at the preflight
    /// with the keytool command (moved from security::tls's JKS test).
    /// An expired root in a bundle (as in the system's, or during a CA
    /// rotation) is set aside with a warning; a location with no valid CA is
    /// refused naming the CA and its date.
    #[test]
    fn expired_cas_in_a_bundle_are_set_aside_and_an_all_expired_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::new(d.path(), "ca");
        let old = Ca::expired(d.path(), "old-root");
        let b = tls_server(&ca.issue("good", &["127.0.0.1"], None), None);
        let bundle = d.path().join("bundle.pem");
        let pems: Vec<u8> = [old.pem(), ca.pem()]
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        std::fs::write(&bundle, pems).unwrap();
        let w = run(&b, &tls_of(Some(&bundle), None)).unwrap();
        assert!(
            w.len() == 1
                && w[0].contains("1 CA certificate(s) outside their validity are not trusted")
                && w[0].contains("'CN=old-root' expired on 2025-06-30"),
            "{w:?}"
        );
        let e = run(&b, &tls_of(Some(&old.pem()), None)).unwrap_err();
        assert!(
            e.contains("CA certificate 'CN=old-root' expired on 2025-06-30; renew it"),
            "{e}"
        );
        // A directory of PEM files is a bundle too.
        let dir = d.path().join("certs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(old.pem(), dir.join("old.pem")).unwrap();
        std::fs::copy(ca.pem(), dir.join("ca.pem")).unwrap();
        let w = run(&b, &tls_of(Some(&dir), None)).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn jks_named_as_ca_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let jks = d.path().join("ts.jks");
        std::fs::write(&jks, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 0]).unwrap();
        let e = preflight(
            "source",
            Path::new("c.properties"),
            "127.0.0.1:1",
            &TlsSettings {
                ca_location: Some(jks.clone()),
                verify_hostname: true,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!(
                "source (c.properties): {}: is a JKS keystore",
                jks.display()
            )) && e.contains("-srcstoretype JKS"),
            "{e}"
        );
    }

    #[test]
    fn pkcs12_stores_are_read() {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::new(d.path(), "ca");
        let server = ca.issue("server", &["127.0.0.1"], None);
        let client = ca.issue("client", &[], None);
        let b = tls_server(&server, Some(&ca.pem()));
        let mut ts = KeyStore::new();
        let ca_der = CertificateDer::from_pem_file(ca.pem()).unwrap();
        ts.add_entry(
            "ca",
            KeyStoreEntry::Certificate(Certificate::from_der(&ca_der).unwrap()),
        );
        let ts_path = d.path().join("truststore.p12");
        std::fs::write(&ts_path, ts.writer("ts-secret-pw").write().unwrap()).unwrap();
        let mut ks = KeyStore::new();
        let chain = PrivateKeyChain::new(
            b"k".to_vec(),
            PrivateKey::from_der(client.key_der.secret_der()).unwrap(),
            [Certificate::from_der(&client.der).unwrap()],
        );
        ks.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
        let ks_path = d.path().join("keystore.p12");
        std::fs::write(&ks_path, ks.writer("ks-secret-pw").write().unwrap()).unwrap();
        let props = format!(
            "ssl.truststore.location={}\nssl.truststore.password=ts-secret-pw\nssl.keystore.location={}\nssl.keystore.password=ks-secret-pw",
            ts_path.display(),
            ks_path.display()
        );
        let (t, _) = settings(&props, false).unwrap();
        assert!(t
            .ca_pem
            .as_deref()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(t.keystore_location.as_deref(), Some(ks_path.as_path()));
        assert_eq!(run(&b, &t), Ok(vec![]));
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret-pw"), "{shown}");
        // Wrong passwords: clear errors, never the password.
        let e = settings(&props.replace("=ts-secret-pw", "=nope-pw-1"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wrong ssl.truststore.password")
                && e.contains("openssl pkcs12 -in")
                && !e.contains("nope-pw-1"),
            "{e}"
        );
        let (t, _) = settings(&props.replace("=ks-secret-pw", "=nope-pw-2"), false).unwrap();
        let e = run(&b, &t).unwrap_err();
        assert!(
            e.contains("wrong ssl.keystore.password") && !e.contains("nope-pw-2"),
            "{e}"
        );
    }
}
