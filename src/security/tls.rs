//! TLS: Java-style keystore/truststore settings translated for librdkafka,
//! and a rustls preflight that checks every file and every bootstrap
//! server's certificate before librdkafka connects.
//!
//! librdkafka (OpenSSL) reports a bad CA, a hostname mismatch or an
//! expired certificate only as a generic handshake failure in its own log,
//! long after start-up; the preflight turns each into one message naming the
//! broker, the file and the fix.
//!
//! Store formats: PEM is passed through (`ssl.ca.location`,
//! `ssl.certificate.location`/`ssl.key.location`); a PKCS#12 keystore goes to
//! `ssl.keystore.location`/`ssl.keystore.password`; a PKCS#12 truststore's
//! CA certificates are extracted in memory and handed over as `ssl.ca.pem`
//! (librdkafka reads CAs only from PEM). JKS/JCEKS stores are refused with
//! the `keytool` command that converts them.

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
use secrecy::{ExposeSecret, SecretString};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{SaslMechanism, SecurityConfig, SecurityError, SecurityOptions, TlsSettings};
use crate::config::properties::Entry;

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

/// Store formats kmirror recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Pem,
    Pkcs12,
    Jks,
    Jceks,
}

impl StoreKind {
    /// Leading bytes of a store of this kind (for a declared type whose
    /// file cannot be read).
    fn magic(self) -> &'static [u8] {
        match self {
            StoreKind::Jks => &[0xFE, 0xED, 0xFE, 0xED],
            StoreKind::Jceks => &[0xCE, 0xCE, 0xCE, 0xCE],
            StoreKind::Pkcs12 => &[0x30],
            StoreKind::Pem => b"-----BEGIN",
        }
    }
}

fn sniff(data: &[u8]) -> Option<StoreKind> {
    match data {
        [0xFE, 0xED, 0xFE, 0xED, ..] => Some(StoreKind::Jks),
        [0xCE, 0xCE, 0xCE, 0xCE, ..] => Some(StoreKind::Jceks),
        [0x30, ..] => Some(StoreKind::Pkcs12),
        _ if String::from_utf8_lossy(&data[..data.len().min(4096)]).contains("-----BEGIN") => {
            Some(StoreKind::Pem)
        }
        _ => None,
    }
}

fn keytool_command(file: &str, kind: &str) -> String {
    format!(
        "keytool -importkeystore -srckeystore {file} -srcstoretype {kind} -destkeystore {file}.p12 -deststoretype PKCS12"
    )
}

/// The TLS settings of one side from its properties file: librdkafka keys
/// (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`,
/// `ssl.key.password`) and Java keys (`ssl.truststore.*`, `ssl.keystore.*`),
/// plus `ssl.endpoint.identification.algorithm`. Reads a truststore/keystore
/// file when its format must be known now. Pushes start-up warnings.
pub(crate) fn settings_from_entries(
    path: &Path,
    entries: &[Entry],
    opts: SecurityOptions,
    warnings: &mut Vec<String>,
) -> Result<TlsSettings, SecurityError> {
    let get = |k: &str| entries.iter().rev().find(|e| e.key == k);
    let text = |e: &Entry| e.value.expose().trim().to_string();
    let invalid = |e: &Entry, message: String| SecurityError::Invalid {
        path: path.to_owned(),
        line: e.line,
        key: e.key.clone(),
        message,
    };
    let secret = |k: &str| get(k).map(|e| SecretString::from(e.value.expose().to_string()));
    let mut tls = TlsSettings {
        ca_location: get("ssl.ca.location").map(|e| PathBuf::from(text(e))),
        certificate_location: get("ssl.certificate.location").map(|e| PathBuf::from(text(e))),
        key_location: get("ssl.key.location").map(|e| PathBuf::from(text(e))),
        key_password: secret("ssl.key.password"),
        verify_hostname: true,
        ..TlsSettings::default()
    };
    if let Some(e) = get("ssl.endpoint.identification.algorithm") {
        let v = text(e);
        if v.eq_ignore_ascii_case("https") {
            tls.verify_hostname = true;
        } else if v.is_empty() || v.eq_ignore_ascii_case("none") {
            if !opts.insecure_skip_hostname_verification {
                return Err(invalid(e, "an empty value turns off hostname verification, so any certificate from the trusted CA would be accepted for any broker (a man in the middle with one is not detected); remove the line (default https), or pass --insecure.skip.hostname.verification to accept the risk".into()));
            }
            tls.verify_hostname = false;
            warnings.push(format!(
                "{}:{}: --insecure.skip.hostname.verification: broker certificates are not checked against the broker's name (ssl.endpoint.identification.algorithm is empty); any certificate signed by the trusted CA is accepted",
                path.display(),
                e.line
            ));
        } else {
            return Err(invalid(
                e,
                format!("'{v}' is not supported; use https (the default) or leave it empty"),
            ));
        }
    }
    if let Some(e) = get("enable.ssl.certificate.verification") {
        tls.skip_certificate_verification = !certificate_verification(path, e, opts, warnings)
            .map_err(|message| invalid(e, message))?;
    }
    for key in ["ssl.protocol", "ssl.enabled.protocols"] {
        if let Some(e) = get(key) {
            check_protocols(e).map_err(|message| invalid(e, message))?;
        }
    }
    if let Some(e) = get("ssl.truststore.location") {
        let file = PathBuf::from(text(e));
        if tls.ca_location.is_some() {
            return Err(invalid(
                e,
                "both ssl.truststore.location and ssl.ca.location are set; keep one".into(),
            ));
        }
        let declared = get("ssl.truststore.type").map(text);
        let kind = store_kind(&file, declared.as_deref(), e, &invalid, "truststore")?;
        match kind {
            StoreKind::Pem => tls.ca_location = Some(file),
            StoreKind::Pkcs12 => {
                let password = secret("ssl.truststore.password");
                let pem = truststore_pem(&file, password.as_ref())
                    .map_err(|reason| invalid(e, reason))?;
                tls.ca_pem = Some(pem);
                tls.truststore = Some(file);
            }
            StoreKind::Jks | StoreKind::Jceks => unreachable!("refused by store_kind"),
        }
    }
    if let Some(e) = get("ssl.keystore.location") {
        let file = PathBuf::from(text(e));
        if tls.certificate_location.is_some() || tls.key_location.is_some() {
            return Err(invalid(e, "both ssl.keystore.location and ssl.certificate.location/ssl.key.location are set; keep one".into()));
        }
        let declared = get("ssl.keystore.type").map(text);
        match store_kind(&file, declared.as_deref(), e, &invalid, "keystore")? {
            // A PEM keystore holds the key and the certificate chain.
            StoreKind::Pem => {
                tls.certificate_location = Some(file.clone());
                tls.key_location = Some(file);
            }
            StoreKind::Pkcs12 => {
                tls.keystore_location = Some(file);
                tls.keystore_password = secret("ssl.keystore.password");
            }
            StoreKind::Jks | StoreKind::Jceks => unreachable!("refused by store_kind"),
        }
    }
    if tls.certificate_location.is_some() != tls.key_location.is_some() {
        return Err(SecurityError::Missing {
            path: path.to_owned(),
            key: if tls.key_location.is_none() { "ssl.key.location" } else { "ssl.certificate.location" }.into(),
            message: "a client certificate needs both ssl.certificate.location and ssl.key.location (or one ssl.keystore.location)".into(),
        });
    }
    Ok(tls)
}

/// `enable.ssl.certificate.verification`: whether certificates are
/// verified. `false` needs `--insecure.skip.certificate.verification` and
/// pushes a warning for every start.
fn certificate_verification(
    path: &Path,
    e: &Entry,
    opts: SecurityOptions,
    warnings: &mut Vec<String>,
) -> Result<bool, String> {
    match e.value.expose().trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" if opts.insecure_skip_certificate_verification => {
            warnings.push(format!(
                "{}:{}: --insecure.skip.certificate.verification: broker certificates are not verified at all (enable.ssl.certificate.verification=false): anyone on the network path can impersonate the brokers and read or alter records",
                path.display(),
                e.line
            ));
            Ok(false)
        }
        "false" => Err("false turns off verification of broker certificates, so anyone on the network path could impersonate the brokers and read or alter records; remove the line (default true) and trust the brokers' CA with ssl.ca.location or ssl.truststore.location, or pass --insecure.skip.certificate.verification to accept the risk".into()),
        _ => Err("expected true or false".into()),
    }
}

/// `ssl.protocol` (Java's SSLContext protocol) and `ssl.enabled.protocols`:
/// kmirror speaks TLS 1.2 and 1.3 (the rustls start-up check cannot speak
/// anything older), so older versions are refused, and so is a list
/// without TLS 1.2, which kmirror could not keep librdkafka to.
fn check_protocols(e: &Entry) -> Result<(), String> {
    let v = e.value.expose().trim();
    let list: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(old) = list
        .iter()
        .find(|p| !matches!(**p, "TLS" | "TLSv1.2" | "TLSv1.3"))
    {
        return Err(format!(
            "{old} is refused: versions below TLS 1.2 have known weaknesses and kmirror speaks only TLS 1.2 and 1.3; remove the line, or enable TLS 1.2 or 1.3 on the brokers"
        ));
    }
    if e.key == "ssl.enabled.protocols" && !list.contains(&"TLSv1.2") {
        return Err(format!(
            "{v} cannot be honoured: kmirror (librdkafka) negotiates TLS 1.2 or 1.3 and cannot be kept to TLS 1.3 alone; remove the line or list TLSv1.2,TLSv1.3"
        ));
    }
    Ok(())
}

/// The format of a store: the declared `ssl.*store.type` when it is PEM or
/// PKCS12 and the content agrees, JKS/JCEKS refused with the conversion.
fn store_kind(
    file: &Path,
    declared: Option<&str>,
    e: &Entry,
    invalid: &dyn Fn(&Entry, String) -> SecurityError,
    what: &str,
) -> Result<StoreKind, SecurityError> {
    let shown = file.display().to_string();
    let declared_kind = match declared.map(|d| d.to_ascii_uppercase()) {
        None => None,
        Some(d) if d == "PEM" => Some(StoreKind::Pem),
        Some(d) if d == "PKCS12" => Some(StoreKind::Pkcs12),
        Some(d) if d == "JKS" => Some(StoreKind::Jks),
        Some(d) if d == "JCEKS" => Some(StoreKind::Jceks),
        Some(d) => {
            return Err(invalid(
                e,
                format!("ssl.{what}.type={d} is not supported; use PEM or PKCS12"),
            ))
        }
    };
    let data = match (std::fs::read(file), declared_kind) {
        (Ok(data), _) => data,
        // Declared PEM/PKCS12 need not be read now: the TLS preflight
        // reports an unreadable file naming its side.
        (Err(_), Some(k @ (StoreKind::Pem | StoreKind::Pkcs12))) => return Ok(k),
        (Err(_), Some(k)) => k.magic().to_vec(),
        (Err(err), None) => {
            return Err(invalid(e, format!("cannot read the {what} {shown}: {err}")))
        }
    };
    // The content decides (Java's default type is JKS, so a declared type
    // is often stale after a conversion); the declaration only when the
    // content is not recognised.
    let kind = match (sniff(&data), declared_kind) {
        (Some(found), _) | (None, Some(found)) => found,
        (None, None) => {
            return Err(invalid(
                e,
                format!("{shown} is neither PEM nor PKCS#12; set ssl.{what}.type"),
            ))
        }
    };
    match kind {
        StoreKind::Jks | StoreKind::Jceks => Err(invalid(
            e,
            format!(
                "{shown} is a {} keystore, which librdkafka cannot read; convert it to PKCS#12 and point ssl.{what}.location at the result (ssl.{what}.type=PKCS12): {}",
                if kind == StoreKind::Jks { "JKS" } else { "JCEKS" },
                keytool_command(&shown, if kind == StoreKind::Jks { "JKS" } else { "JCEKS" })
            ),
        )),
        k => Ok(k),
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The certificates of a PKCS#12 truststore as one PEM bundle (CA
/// certificates are public: holding them in memory leaks nothing).
fn truststore_pem(file: &Path, password: Option<&SecretString>) -> Result<String, String> {
    let data = std::fs::read(file)
        .map_err(|e| format!("cannot read the truststore {}: {e}", file.display()))?;
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(
        &data,
        password.map_or("", |p| p.expose_secret()),
    )
    .map_err(|e| {
        format!(
            "cannot open the PKCS#12 truststore {}: wrong ssl.truststore.password, or a damaged file ({e}); or convert it to PEM yourself: openssl pkcs12 -in {} -nokeys -out ca.pem, and set ssl.truststore.location=ca.pem with ssl.truststore.type=PEM",
            file.display(),
            file.display()
        )
    })?;
    if archive.certs.is_empty() {
        return Err(format!(
            "the PKCS#12 truststore {} holds no certificate",
            file.display()
        ));
    }
    Ok(archive
        .certs
        .iter()
        .map(|c| pem_block("CERTIFICATE", c.cert.as_der()))
        .collect())
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
    let mut add_pem =
        |file: &Path, pem: &[u8], warnings: &mut Vec<String>| -> Result<usize, TlsError> {
            let mut n = 0;
            for c in CertificateDer::pem_slice_iter(pem) {
                let c = c.map_err(|e| err(file, format!("not a PEM CA certificate: {e}")))?;
                check_validity(&c, "CA certificate", file, err, warnings)?;
                roots
                    .add(c)
                    .map_err(|e| err(file, format!("unusable CA certificate: {e}")))?;
                n += 1;
            }
            Ok(n)
        };
    if let Some(pem) = &tls.ca_pem {
        let file = tls.truststore.clone().unwrap_or_default();
        add_pem(&file, pem.as_bytes(), warnings)?;
        return Ok((roots, file.display().to_string()));
    }
    if let Some(ca) = &tls.ca_location {
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
        if n == 0 {
            return Err(err(
                ca,
                "holds no PEM CA certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        return Ok((roots, ca.display().to_string()));
    }
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        // Odd certificates in a system store are not the mirror's problem.
        let _ = roots.add(c);
    }
    Ok((
        roots,
        "the system CA store; set ssl.ca.location or ssl.truststore.location".into(),
    ))
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
    sec: &SecurityConfig,
) -> Result<Vec<String>, TlsError> {
    let Some(tls) = &sec.tls else {
        return Ok(Vec::new());
    };
    let login = match (sec.mechanism, &sec.credentials) {
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

/// A SASL PLAIN/SCRAM login over the preflight's TLS connection, speaking
/// just enough Kafka (SaslHandshake v1, SaslAuthenticate v1).
mod sasl {
    use std::io::{Read, Write};

    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use ring::{digest, hmac, pbkdf2};
    use secrecy::{ExposeSecret, SecretString};

    use super::SaslMechanism;

    /// Credentials to log in with.
    pub(super) struct Login {
        pub(super) mechanism: SaslMechanism,
        pub(super) username: String,
        pub(super) password: SecretString,
    }

    const SASL_HANDSHAKE: i16 = 17;
    const SASL_AUTHENTICATE: i16 = 36;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as i16).to_be_bytes());
        out.extend(s.as_bytes());
    }

    /// A response body, read past its correlation id.
    struct Body {
        data: Vec<u8>,
        at: usize,
    }

    impl Body {
        fn take(&mut self, n: usize) -> Result<&[u8], String> {
            let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
            let end = end.ok_or("sent a truncated SASL response")?;
            let s = &self.data[self.at..end];
            self.at = end;
            Ok(s)
        }
        fn i16(&mut self) -> Result<i16, String> {
            Ok(i16::from_be_bytes(
                self.take(2)?.try_into().expect("2 bytes"),
            ))
        }
        fn i32(&mut self) -> Result<i32, String> {
            Ok(i32::from_be_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            ))
        }
        fn string(&mut self) -> Result<Option<String>, String> {
            let n = self.i16()?;
            if n < 0 {
                return Ok(None);
            }
            Ok(Some(
                String::from_utf8_lossy(self.take(n as usize)?).into_owned(),
            ))
        }
        fn bytes(&mut self) -> Result<Vec<u8>, String> {
            let n = self.i32()?;
            if n < 0 {
                return Ok(Vec::new());
            }
            Ok(self.take(n as usize)?.to_vec())
        }
    }

    fn call(
        stream: &mut (impl Read + Write),
        api_key: i16,
        correlation: i32,
        body: &[u8],
    ) -> Result<Body, String> {
        let io =
            |e: std::io::Error| format!("closed the connection during SASL authentication ({e})");
        let mut msg = Vec::with_capacity(body.len() + 32);
        msg.extend(api_key.to_be_bytes());
        msg.extend(1i16.to_be_bytes());
        msg.extend(correlation.to_be_bytes());
        string(&mut msg, "kmirror-preflight");
        msg.extend(body);
        stream
            .write_all(&(msg.len() as i32).to_be_bytes())
            .map_err(io)?;
        stream.write_all(&msg).map_err(io)?;
        stream.flush().map_err(io)?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(io)?;
        let len = i32::from_be_bytes(len);
        if !(4..=1 << 20).contains(&len) {
            return Err(format!(
                "sent a SASL response of {len} bytes; is this a Kafka broker?"
            ));
        }
        let mut data = vec![0u8; len as usize];
        stream.read_exact(&mut data).map_err(io)?;
        let mut b = Body { data, at: 0 };
        if b.i32()? != correlation {
            return Err("answered another request during SASL authentication".into());
        }
        Ok(b)
    }

    fn authenticate(
        stream: &mut (impl Read + Write),
        correlation: i32,
        bytes: &[u8],
        login: &Login,
    ) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        body.extend((bytes.len() as i32).to_be_bytes());
        body.extend(bytes);
        let mut r = call(stream, SASL_AUTHENTICATE, correlation, &body)?;
        let code = r.i16()?;
        let message = r.string()?;
        if code != 0 {
            return Err(format!(
                "rejected SASL/{} authentication as '{}': {} (error {code}); check the username and password (sasl.jaas.config, or sasl.username and sasl.password)",
                login.mechanism.as_str(),
                login.username,
                message.as_deref().unwrap_or("no reason given")
            ));
        }
        r.bytes()
    }

    /// Logs in; an error says what the broker answered.
    pub(super) fn login(stream: &mut (impl Read + Write), login: &Login) -> Result<(), String> {
        let mech = login.mechanism.as_str();
        let mut body = Vec::new();
        string(&mut body, mech);
        let mut r = call(stream, SASL_HANDSHAKE, 1, &body)?;
        let code = r.i16()?;
        if code != 0 {
            let n = r.i32()?.max(0);
            let offered: Vec<String> = (0..n).filter_map(|_| r.string().ok().flatten()).collect();
            return Err(format!(
                "does not offer SASL mechanism {mech} (it offers {}); set sasl.mechanism to one of them",
                offered.join(", ")
            ));
        }
        let password = login.password.expose_secret();
        match login.mechanism {
            SaslMechanism::Plain => {
                let msg = format!("\0{}\0{password}", login.username);
                authenticate(stream, 2, msg.as_bytes(), login)?;
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let mut raw = [0u8; 18];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
                    .map_err(|_| "no random numbers for the SCRAM nonce".to_string())?;
                let scram = Scram::new(login.mechanism, &login.username, &B64.encode(raw));
                let first = authenticate(stream, 2, scram.client_first().as_bytes(), login)?;
                let server_first = String::from_utf8_lossy(&first).into_owned();
                let (client_final, server_signature) =
                    scram.client_final(password, &server_first)?;
                let last = authenticate(stream, 3, client_final.as_bytes(), login)?;
                let last = String::from_utf8_lossy(&last);
                if last.strip_prefix("v=") != Some(B64.encode(server_signature).as_str()) {
                    return Err(format!("answered SCRAM with a wrong server signature ({last}): it does not hold this user's credentials"));
                }
            }
            SaslMechanism::Gssapi => {}
        }
        Ok(())
    }

    /// The client side of SCRAM (RFC 5802) without channel binding.
    pub(super) struct Scram {
        sha512: bool,
        client_first_bare: String,
        nonce: String,
    }

    impl Scram {
        pub(super) fn new(mechanism: SaslMechanism, username: &str, nonce: &str) -> Scram {
            let user = username.replace('=', "=3D").replace(',', "=2C");
            Scram {
                sha512: mechanism == SaslMechanism::ScramSha512,
                client_first_bare: format!("n={user},r={nonce}"),
                nonce: nonce.to_string(),
            }
        }

        pub(super) fn client_first(&self) -> String {
            format!("n,,{}", self.client_first_bare)
        }

        /// The client-final message and the server signature to expect.
        pub(super) fn client_final(
            &self,
            password: &str,
            server_first: &str,
        ) -> Result<(String, Vec<u8>), String> {
            let field = |k: &str| {
                server_first
                    .split(',')
                    .find_map(|f| f.strip_prefix(k))
                    .ok_or_else(|| format!("sent a SCRAM challenge without {k}"))
            };
            let nonce = field("r=")?;
            if !nonce.starts_with(&self.nonce) {
                return Err("sent a SCRAM nonce that does not extend kmirror's".into());
            }
            let salt = B64
                .decode(field("s=")?)
                .map_err(|_| "sent a SCRAM salt that is not base64".to_string())?;
            let iterations = field("i=")?
                .parse::<u32>()
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .ok_or("sent a bad SCRAM iteration count")?;
            let (algo, mac, hash, len) = if self.sha512 {
                (
                    pbkdf2::PBKDF2_HMAC_SHA512,
                    hmac::HMAC_SHA512,
                    &digest::SHA512,
                    64,
                )
            } else {
                (
                    pbkdf2::PBKDF2_HMAC_SHA256,
                    hmac::HMAC_SHA256,
                    &digest::SHA256,
                    32,
                )
            };
            let mut salted = vec![0u8; len];
            pbkdf2::derive(algo, iterations, &salt, password.as_bytes(), &mut salted);
            let salted = hmac::Key::new(mac, &salted);
            let client_key = hmac::sign(&salted, b"Client Key");
            let stored_key = digest::digest(hash, client_key.as_ref());
            let without_proof = format!("c=biws,r={nonce}");
            let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
            let signature = hmac::sign(
                &hmac::Key::new(mac, stored_key.as_ref()),
                auth_message.as_bytes(),
            );
            let proof: Vec<u8> = client_key
                .as_ref()
                .iter()
                .zip(signature.as_ref())
                .map(|(a, b)| a ^ b)
                .collect();
            let server_key = hmac::sign(&salted, b"Server Key");
            let server_signature = hmac::sign(
                &hmac::Key::new(mac, server_key.as_ref()),
                auth_message.as_bytes(),
            );
            Ok((
                format!("{without_proof},p={}", B64.encode(proof)),
                server_signature.as_ref().to_vec(),
            ))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// RFC 7677's SCRAM-SHA-256 example.
        #[test]
        fn scram_sha256_matches_rfc7677() {
            let s = Scram::new(SaslMechanism::ScramSha256, "user", "rOprNGfwEbeRWgbNEkqO");
            assert_eq!(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
            let (fin, sig) = s
                .client_final(
                    "pencil",
                    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                )
                .unwrap();
            assert_eq!(fin, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
            assert_eq!(
                B64.encode(sig),
                "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
            );
            let e = s
                .client_final("pencil", "r=someone-else,s=AA==,i=1")
                .unwrap_err();
            assert!(e.contains("nonce"), "{e}");
            assert_eq!(
                Scram::new(SaslMechanism::ScramSha512, "a=b,c", "n").client_first(),
                "n,,n=a=3Db=2Cc,r=n"
            );
        }

        /// A broker side of SaslHandshake/SaslAuthenticate for PLAIN that
        /// accepts `user`/`right`.
        fn fake_broker(stream: &mut std::os::unix::net::UnixStream) {
            let read = |s: &mut std::os::unix::net::UnixStream| {
                let mut len = [0u8; 4];
                s.read_exact(&mut len).ok()?;
                let mut d = vec![0u8; i32::from_be_bytes(len) as usize];
                s.read_exact(&mut d).ok()?;
                Some(d)
            };
            let reply = |s: &mut std::os::unix::net::UnixStream, corr: &[u8], body: &[u8]| {
                let n = (corr.len() + body.len()) as i32;
                s.write_all(&n.to_be_bytes()).unwrap();
                s.write_all(corr).unwrap();
                s.write_all(body).unwrap();
            };
            let Some(hs) = read(stream) else { return };
            let corr = hs[4..8].to_vec();
            let mech_ok = hs.ends_with(b"PLAIN");
            let mut b = Vec::new();
            b.extend(if mech_ok { 0i16 } else { 33i16 }.to_be_bytes());
            b.extend(1i32.to_be_bytes());
            string(&mut b, "PLAIN");
            reply(stream, &corr, &b);
            if !mech_ok {
                return;
            }
            let Some(auth) = read(stream) else { return };
            let corr = auth[4..8].to_vec();
            let ok = auth.ends_with(b"\0user\0right");
            let mut b = Vec::new();
            b.extend(if ok { 0i16 } else { 58i16 }.to_be_bytes());
            if ok {
                b.extend((-1i16).to_be_bytes());
            } else {
                string(
                    &mut b,
                    "Authentication failed: Invalid username or password",
                );
            }
            b.extend(0i32.to_be_bytes());
            b.extend(0i64.to_be_bytes());
            reply(stream, &corr, &b);
        }

        fn try_login(mechanism: SaslMechanism, password: &str) -> Result<(), String> {
            let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            let broker = std::thread::spawn(move || fake_broker(&mut b));
            let r = login(
                &mut a,
                &Login {
                    mechanism,
                    username: "user".into(),
                    password: SecretString::from(password.to_string()),
                },
            );
            broker.join().unwrap();
            r
        }

        #[test]
        fn plain_login_reports_the_brokers_answer() {
            assert_eq!(try_login(SaslMechanism::Plain, "right"), Ok(()));
            let e = try_login(SaslMechanism::Plain, "wrong-pw-9").unwrap_err();
            assert!(
                e.starts_with("rejected SASL/PLAIN authentication as 'user': Authentication failed: Invalid username or password (error 58)"),
                "{e}"
            );
            assert!(!e.contains("wrong-pw-9"));
            let e = try_login(SaslMechanism::ScramSha512, "right").unwrap_err();
            assert!(
                e.contains("does not offer SASL mechanism SCRAM-SHA-512 (it offers PLAIN)"),
                "{e}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::PropertiesFile;

    #[test]
    fn sniffs_store_formats() {
        assert_eq!(
            sniff(&[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]),
            Some(StoreKind::Jks)
        );
        assert_eq!(sniff(&[0xCE, 0xCE, 0xCE, 0xCE]), Some(StoreKind::Jceks));
        assert_eq!(sniff(&[0x30, 0x82, 0x01]), Some(StoreKind::Pkcs12));
        assert_eq!(
            sniff(b"\n-----BEGIN CERTIFICATE-----\n"),
            Some(StoreKind::Pem)
        );
        assert_eq!(sniff(b"hello"), None);
    }

    #[test]
    fn pem_block_is_standard_base64() {
        let pem = pem_block("X", b"Man is distinguished");
        assert_eq!(
            pem,
            "-----BEGIN X-----\nTWFuIGlzIGRpc3Rpbmd1aXNoZWQ=\n-----END X-----\n"
        );
        let pem = pem_block("X", b"Ma");
        assert!(pem.contains("\nTWE=\n"), "{pem}");
    }

    fn settings(text: &str, skip: bool) -> Result<(TlsSettings, Vec<String>), SecurityError> {
        let f = PropertiesFile::parse(text.as_bytes(), Path::new("s.properties")).unwrap();
        let opts = SecurityOptions {
            insecure_skip_hostname_verification: skip,
            ..Default::default()
        };
        let mut w = Vec::new();
        settings_from_entries(&f.path, &f.entries, opts, &mut w).map(|t| (t, w))
    }

    #[test]
    fn jks_refused_with_keytool_command() {
        let d = tempfile::tempdir().unwrap();
        let jks = d.path().join("ts.jks");
        std::fs::write(&jks, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 0]).unwrap();
        for key in ["truststore", "keystore"] {
            let e = settings(
                &format!(
                    "ssl.{key}.location={}\nssl.{key}.password=pw-secret-1",
                    jks.display()
                ),
                false,
            )
            .unwrap_err()
            .to_string();
            let want = format!(
                "keytool -importkeystore -srckeystore {0} -srcstoretype JKS -destkeystore {0}.p12 -deststoretype PKCS12",
                jks.display()
            );
            assert!(
                e.starts_with("s.properties:1: ") && e.contains(&want),
                "{e}"
            );
            assert!(!e.contains("pw-secret-1"), "{e}");
        }
        // Declared JKS, PEM content: the content decides.
        let pem = d.path().join("ca.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let (t, _) = settings(
            &format!(
                "ssl.truststore.location={}\nssl.truststore.type=JKS",
                pem.display()
            ),
            false,
        )
        .unwrap();
        assert_eq!(t.ca_location.as_deref(), Some(pem.as_path()));
        // A JKS file named as librdkafka's CA file: refused at the preflight.
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
        let e = settings("ssl.truststore.location=/nonexistent/ts.p12", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read the truststore /nonexistent/ts.p12"),
            "{e}"
        );
    }

    #[test]
    fn hostname_verification_off_needs_flag_and_warns() {
        for v in ["", "none", "NONE"] {
            let props = format!("ssl.endpoint.identification.algorithm={v}");
            let e = settings(&props, false).unwrap_err().to_string();
            assert!(e.contains("--insecure.skip.hostname.verification"), "{e}");
            let (t, w) = settings(&props, true).unwrap();
            assert!(!t.verify_hostname);
            assert_eq!(w.len(), 1, "{w:?}");
        }
        let (t, w) = settings("ssl.endpoint.identification.algorithm=HTTPS", false).unwrap();
        assert!(t.verify_hostname && w.is_empty());
        assert!(settings("ssl.endpoint.identification.algorithm=ldap", true).is_err());
        assert!(settings("ssl.certificate.location=/c.pem", false).is_err());
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

    impl Ca {
        fn new(dir: &Path, name: &str) -> Ca {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, name);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
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
