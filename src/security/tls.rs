//! TLS settings: Java-style keystore/truststore keys translated for
//! librdkafka. Reading the store files (to know their format, and to hand a
//! PKCS#12 truststore's CAs over as PEM) is the only I/O here; the checks
//! that connect to brokers are in `preflight::tls`.
//!
//! Store formats: PEM is passed through (`ssl.ca.location`,
//! `ssl.certificate.location`/`ssl.key.location`); a PKCS#12 keystore goes to
//! `ssl.keystore.location`/`ssl.keystore.password`; a PKCS#12 truststore's
//! CA certificates are extracted in memory and handed over as `ssl.ca.pem`
//! (librdkafka reads CAs only from PEM). JKS/JCEKS stores are refused with
//! the `keytool` command that converts them.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::{Entry, SecurityError, SecurityOptions, TlsSettings};

/// Store formats kmirror recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
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

pub(crate) fn sniff(data: &[u8]) -> Option<StoreKind> {
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

pub(crate) fn keytool_command(file: &str, kind: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::tests::parse_entries;

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
        let entries = parse_entries(text);
        let opts = SecurityOptions {
            insecure_skip_hostname_verification: skip,
            ..Default::default()
        };
        let mut w = Vec::new();
        settings_from_entries(Path::new("s.properties"), &entries, opts, &mut w).map(|t| (t, w))
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
        // A JKS file named as librdkafka's CA file: refused at the preflight
        // (preflight::tls::tests::jks_named_as_ca_file_is_refused).
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
}
