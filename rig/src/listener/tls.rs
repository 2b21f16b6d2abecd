//! TLS for the listener: a rustls server configuration from PEM files,
//! client-certificate principals as Kafka's `DEFAULT`
//! `ssl.principal.mapping.rules` gives them (`User:` + the subject DN in
//! RFC 2253 form, e.g. `User:CN=mirror,O=kmirror`), and a throw-away PKI
//! for tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use x509_parser::prelude::{FromDer, X509Certificate};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration from a PEM certificate chain and key.
/// With `client_ca`, clients must present a certificate signed by it
/// (Kafka's `ssl.client.auth=required`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificates from {}", cert.display()))?
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("parsing certificates in {}", cert.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading client CA {}", ca.display()))?
            {
                roots
                    .add(c.with_context(|| format!("parsing client CA {}", ca.display()))?)
                    .context("adding the client CA")?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .context("building the client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .context("the server certificate does not match its key")?;
    Ok(Arc::new(config))
}

/// The short name Java's `X500Principal.getName()` (RFC 2253) uses for an
/// attribute type OID, if it has one.
fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.11" => "OU",
        "2.5.4.10" => "O",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// Escapes an attribute value as RFC 2253 requires.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The subject DN of a DER certificate in RFC 2253 form, as Kafka's
/// `DEFAULT` SSL principal rule yields it: RDNs most-specific first,
/// separated by `,`, multi-valued RDNs joined by `+`. Attribute types
/// without a short name are written `OID=#hex` of the value's content.
pub fn subject_dn(der: &[u8]) -> Result<String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| anyhow::anyhow!("parsing the client certificate: {e}"))?;
    let mut rdns = Vec::new();
    let subject: Vec<_> = cert.subject().iter().collect();
    for rdn in subject.into_iter().rev() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let part = match (attribute_name(&oid), attr.as_str()) {
                (Some(name), Ok(v)) => format!("{name}={}", escape_value(v)),
                _ => {
                    let hex: String = attr
                        .attr_value()
                        .data
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    format!("{oid}=#{hex}")
                }
            };
            parts.push(part);
        }
        rdns.push(parts.join("+"));
    }
    Ok(rdns.join(","))
}

/// A throw-away certificate authority that writes PEM files for the
/// listener (server certificate for `localhost` and `127.0.0.1`) and for
/// clients (certificates with chosen subjects).
pub struct TestPki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
    ca_pem: PathBuf,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").field("dir", &self.dir).finish()
    }
}

/// The PEM files of one issued certificate.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

impl TestPki {
    /// Creates a CA and writes `ca.pem` into `dir` (which must exist).
    pub fn new(dir: &Path) -> Result<TestPki> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "kmirror rig CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)
            .context("creating the test CA")?;
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).context("writing ca.pem")?;
        Ok(TestPki {
            dir: dir.to_path_buf(),
            ca,
            ca_pem,
        })
    }

    /// The CA certificate (PEM), for `ssl.ca.location` and `--tls-client-ca`.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    fn issue(&self, file: &str, mut params: CertificateParams) -> Result<IssuedCert> {
        params.is_ca = IsCa::NoCa;
        let key = KeyPair::generate()?;
        let cert = params
            .signed_by(&key, &self.ca)
            .with_context(|| format!("issuing {file}"))?;
        let out = IssuedCert {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&out.cert, cert.pem()).context("writing certificate")?;
        std::fs::write(&out.key, key.serialize_pem()).context("writing key")?;
        std::fs::set_permissions(
            &out.key,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .context("chmod 0600 on the key")?;
        Ok(out)
    }

    /// A server certificate valid for `localhost` and `127.0.0.1`.
    pub fn server(&self, file: &str) -> Result<IssuedCert> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        self.issue(file, params)
    }

    /// A client certificate with subject CN `cn` and O `org` if given; its
    /// Kafka principal is `User:` + [`subject_dn`] of it (with rcgen's
    /// encoding order: `User:O=<org>,CN=<cn>`).
    pub fn client(&self, file: &str, cn: &str, org: Option<&str>) -> Result<IssuedCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        if let Some(o) = org {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        self.issue(file, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_principal_is_the_rfc2253_subject() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new(dir.path()).unwrap();
        let c = pki
            .client("c", "mirror, the first", Some("kmirror"))
            .unwrap();
        let der = CertificateDer::from_pem_file(&c.cert).unwrap();
        let dn = subject_dn(&der).unwrap();
        assert_eq!(dn, "O=kmirror,CN=mirror\\, the first");
        // The same string OpenSSL prints in RFC 2253 form.
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(&c.cert)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(printed.trim().strip_prefix("subject="), Some(dn.as_str()));
        let s = pki.server("s").unwrap();
        assert!(server_config(&s.cert, &s.key, Some(pki.ca_pem())).is_ok());
        // A key that does not belong to the certificate is refused.
        assert!(server_config(&s.cert, &c.key, None).is_err());
    }

    #[test]
    fn escaping_follows_rfc2253() {
        assert_eq!(escape_value("a+b;c"), "a\\+b\\;c");
        assert_eq!(escape_value("#x "), "\\#x\\ ");
        assert_eq!(escape_value("plain"), "plain");
    }
}
