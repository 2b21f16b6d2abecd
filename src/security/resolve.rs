//! The principal a side will authenticate as, resolved before any
//! connection (issue 19 part 2), so the broker-service-principal rule, the
//! `kmirror check` report, the audit trail and the metrics all see the same
//! name, whether the configuration names it or not:
//!
//! | login | principal | how it is found |
//! |---|---|---|
//! | GSSAPI, `principal=` / `sasl.kerberos.principal` | that principal | configured |
//! | GSSAPI, keytab without a principal | the keytab's first entry | what `kinit -k` and kmirror's login use |
//! | GSSAPI, ticket cache (no keytab) | the cache's default principal | `KRB5CCNAME`, else `FILE:/tmp/krb5cc_UID` |
//! | SSL with a client certificate | the certificate's subject | PEM `ssl.certificate.location` or PKCS#12 keystore |
//! | SSL without one, PLAINTEXT | `ANONYMOUS` | no client authentication |
//! | PLAIN, SCRAM | the SASL username | configured |
//!
//! Only local files are read (keytab, ticket cache, certificate): no
//! network I/O.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use super::{keytab, Auth, TlsSettings};

/// How a side's principal was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSource {
    /// Written in the configuration (JAAS `principal=`,
    /// `sasl.kerberos.principal`, or the SASL username).
    Configured,
    /// The first entry of this keytab (no principal configured).
    KeytabEntry(PathBuf),
    /// The default principal of this ticket cache (no keytab).
    TicketCache(String),
    /// The subject of this client certificate or keystore.
    Certificate(PathBuf),
    /// No client authentication.
    Anonymous,
}

impl fmt::Display for PrincipalSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalSource::Configured => f.write_str("configured"),
            PrincipalSource::KeytabEntry(kt) => write!(
                f,
                "the first entry of keytab {}, as no principal is configured",
                kt.display()
            ),
            PrincipalSource::TicketCache(cc) => {
                write!(f, "the default principal of ticket cache {cc}")
            }
            PrincipalSource::Certificate(c) => {
                write!(f, "the subject of client certificate {}", c.display())
            }
            PrincipalSource::Anonymous => f.write_str("no client authentication"),
        }
    }
}

/// The principal one side authenticates as, or why it cannot be known
/// before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidePrincipal {
    /// Known: the name and how it was found.
    Resolved {
        /// `mirrormaker/host@REALM`, `CN=mirror,O=example`, `alice`, `ANONYMOUS`.
        name: String,
        /// Where the name comes from.
        source: PrincipalSource,
    },
    /// Not knowable from local files (e.g. an empty ticket cache).
    Unresolved {
        /// Why, and what decides it instead.
        why: String,
    },
}

impl SidePrincipal {
    fn resolved(name: impl Into<String>, source: PrincipalSource) -> Self {
        SidePrincipal::Resolved {
            name: name.into(),
            source,
        }
    }

    /// The name, when resolved.
    pub fn name(&self) -> Option<&str> {
        match self {
            SidePrincipal::Resolved { name, .. } => Some(name),
            SidePrincipal::Unresolved { .. } => None,
        }
    }

    /// The name for records (audit trail, metrics): the principal, or
    /// `UNRESOLVED` (never `ANONYMOUS` for a side that does authenticate).
    pub fn record_name(&self) -> String {
        self.name().unwrap_or("UNRESOLVED").to_string()
    }
}

impl Default for SidePrincipal {
    fn default() -> Self {
        SidePrincipal::Unresolved {
            why: "not resolved yet".into(),
        }
    }
}

impl fmt::Display for SidePrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SidePrincipal::Resolved { name, source } => write!(f, "{name} ({source})"),
            SidePrincipal::Unresolved { why } => write!(f, "an unresolved principal ({why})"),
        }
    }
}

/// The ticket cache a ticket-cache login reads: `KRB5CCNAME` as given,
/// else MIT's built-in default `FILE:/tmp/krb5cc_UID`.
pub fn default_ccache_name(krb5ccname: Option<&str>) -> String {
    match krb5ccname.filter(|s| !s.is_empty()) {
        Some(name) => name.to_string(),
        // SAFETY: getuid cannot fail and has no preconditions.
        None => format!("FILE:/tmp/krb5cc_{}", unsafe { libc::getuid() }),
    }
}

/// Resolves the principal `auth` authenticates as. `ccache` is the ticket
/// cache a ticket-cache login would read ([`default_ccache_name`]).
pub fn resolve(auth: &Auth, ccache: &str) -> SidePrincipal {
    let anonymous = || SidePrincipal::resolved("ANONYMOUS", PrincipalSource::Anonymous);
    match auth {
        Auth::Plaintext => anonymous(),
        Auth::Ssl(tls) => certificate_subject(tls).unwrap_or_else(anonymous),
        Auth::Plain { credentials, .. } | Auth::Scram { credentials, .. } => {
            SidePrincipal::resolved(credentials.username.clone(), PrincipalSource::Configured)
        }
        Auth::Gssapi { kerberos: k, .. } => match (&k.principal, &k.keytab) {
            (Some(p), _) => SidePrincipal::resolved(p.clone(), PrincipalSource::Configured),
            (None, Some(kt)) => match keytab::read(kt) {
                Ok(t) => match t.principals().first() {
                    Some(p) => {
                        SidePrincipal::resolved(*p, PrincipalSource::KeytabEntry(kt.clone()))
                    }
                    None => SidePrincipal::Unresolved {
                        why: format!("keytab {} holds no keys", kt.display()),
                    },
                },
                Err(e) => SidePrincipal::Unresolved { why: e.to_string() },
            },
            (None, None) => match ccache_default_principal(ccache) {
                Ok(p) => {
                    SidePrincipal::resolved(p, PrincipalSource::TicketCache(ccache.to_string()))
                }
                Err(why) => SidePrincipal::Unresolved { why },
            },
        },
    }
}

/// The subject of the client certificate (PEM, or the PKCS#12 keystore's
/// key entry); `None` without one. An unreadable file is left to the TLS
/// checks, which name it.
fn certificate_subject(tls: &TlsSettings) -> Option<SidePrincipal> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let (der, file): (Vec<u8>, &Path) = if let Some(ks) = &tls.keystore_location {
        let data = std::fs::read(ks).ok()?;
        let password = tls
            .keystore_password
            .as_ref()
            .map_or("", |p| p.expose_secret());
        let store = p12_keystore::KeyStore::from_pkcs12(
            &data,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .ok()?;
        let (_, chain) = store.private_key_chain()?;
        (chain.certs().first()?.as_der().to_vec(), ks)
    } else {
        let file = tls.certificate_location.as_ref()?;
        let der = CertificateDer::from_pem_file(file).ok()?;
        (der.to_vec(), file)
    };
    let subject = match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => cert.subject().to_string(),
        Err(_) => return None,
    };
    Some(SidePrincipal::resolved(
        subject,
        PrincipalSource::Certificate(file.to_owned()),
    ))
}

/// The default principal of a ticket cache, read from the file (MIT `FILE:`
/// format, versions 1 to 4): no KDC is asked. Other cache types are not
/// read; the error says so.
pub fn ccache_default_principal(ccache: &str) -> Result<String, String> {
    let path = match ccache.split_once(':') {
        Some(("FILE", p)) => p,
        Some((kind, _)) if !kind.contains('/') => {
            return Err(format!(
                "ticket cache {ccache} is of type {kind}, which kmirror does not read; use a FILE: cache or configure principal="
            ))
        }
        _ => ccache,
    };
    let data = std::fs::read(path).map_err(|e| {
        format!("no ticket cache at {ccache} ({e}); run kinit, or configure a keytab and principal")
    })?;
    parse_ccache_principal(&data)
        .ok_or_else(|| format!("ticket cache {ccache} is not a readable MIT credential cache"))
}

fn parse_ccache_principal(data: &[u8]) -> Option<String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = data.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let version = u16::from_be_bytes(take(2)?.try_into().ok()?);
    if !(0x0501..=0x0504).contains(&version) {
        return None;
    }
    if version == 0x0504 {
        let header = u16::from_be_bytes(take(2)?.try_into().ok()?);
        take(usize::from(header))?;
    }
    let mut u32_ = || -> Option<u32> { Some(u32::from_be_bytes(take(4)?.try_into().ok()?)) };
    if version != 0x0501 {
        u32_()?; // name type
    }
    let mut count = u32_()? as usize;
    if version == 0x0501 {
        // Version 1 counts the realm among the components.
        count = count.checked_sub(1)?;
    }
    if count > 64 {
        return None;
    }
    let mut string = || -> Option<String> {
        let n = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
        Some(String::from_utf8_lossy(take(n)?).into_owned())
    };
    let realm = string()?;
    let parts: Vec<String> = (0..count).map(|_| string()).collect::<Option<_>>()?;
    Some(format!("{}@{realm}", parts.join("/")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::security::{KerberosSettings, ScramHash, UserPassword};

    /// A version-4 MIT ticket cache holding no tickets, only `principal`
    /// as its default principal (what `kinit` writes first).
    pub(crate) fn write_ccache(path: &Path, principal: &str) {
        let (name, realm) = principal.split_once('@').unwrap();
        let parts: Vec<&str> = name.split('/').collect();
        let mut b = vec![0x05, 0x04, 0, 0];
        b.extend(1u32.to_be_bytes());
        b.extend((parts.len() as u32).to_be_bytes());
        for s in std::iter::once(realm).chain(parts) {
            b.extend((s.len() as u32).to_be_bytes());
            b.extend(s.as_bytes());
        }
        std::fs::write(path, b).unwrap();
    }

    fn gssapi(principal: Option<&str>, keytab: Option<&Path>) -> Auth {
        Auth::Gssapi {
            kerberos: KerberosSettings {
                service_name: "kafka".into(),
                principal: principal.map(String::from),
                keytab: keytab.map(Path::to_owned),
                ..Default::default()
            },
            tls: None,
        }
    }

    /// Every way a side's principal is found: the name and the source.
    #[test]
    fn resolved_principal_table() {
        let d = tempfile::tempdir().unwrap();
        let kt =
            crate::security::keytab::tests::write_keytab(d.path(), "k.keytab", "kafka/localhost@R");
        let cc = d.path().join("cc");
        write_ccache(&cc, "alice/admin@EXAMPLE.COM");
        let cc_name = format!("FILE:{}", cc.display());
        let cert = d.path().join("c.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "mirror-client");
        std::fs::write(&cert, p.self_signed(&key).unwrap().pem()).unwrap();
        let up = UserPassword {
            username: "bob".into(),
            password: "pw".to_string().into(),
        };
        let empty = d.path().join("empty");
        // (case, login, ticket cache, Ok(principal) or Err(why), how found)
        type Case<'a> = (&'a str, Auth, &'a str, Result<&'a str, &'a str>, &'a str);
        let cases: Vec<Case> = vec![
            (
                "plaintext",
                Auth::Plaintext,
                &cc_name,
                Ok("ANONYMOUS"),
                "no client authentication",
            ),
            (
                "tls, no cert",
                Auth::Ssl(TlsSettings::default()),
                &cc_name,
                Ok("ANONYMOUS"),
                "no client",
            ),
            (
                "mTLS",
                Auth::Ssl(TlsSettings {
                    certificate_location: Some(cert.clone()),
                    ..Default::default()
                }),
                &cc_name,
                Ok("CN=mirror-client"),
                "the subject of client certificate",
            ),
            (
                "plain",
                Auth::Plain {
                    credentials: up.clone(),
                    tls: None,
                },
                &cc_name,
                Ok("bob"),
                "configured",
            ),
            (
                "scram",
                Auth::Scram {
                    hash: ScramHash::Sha512,
                    credentials: up,
                    tls: None,
                },
                &cc_name,
                Ok("bob"),
                "configured",
            ),
            (
                "gssapi principal",
                gssapi(Some("mm/h@R"), Some(&kt)),
                &cc_name,
                Ok("mm/h@R"),
                "configured",
            ),
            (
                "keytab only",
                gssapi(None, Some(&kt)),
                &cc_name,
                Ok("kafka/localhost@R"),
                "the first entry of keytab",
            ),
            (
                "ticket cache",
                gssapi(None, None),
                &cc_name,
                Ok("alice/admin@EXAMPLE.COM"),
                "the default principal of ticket cache FILE:",
            ),
            (
                "bare cache path",
                gssapi(None, None),
                cc.to_str().unwrap(),
                Ok("alice/admin@EXAMPLE.COM"),
                "ticket cache /",
            ),
            (
                "no cache",
                gssapi(None, None),
                "FILE:/nonexistent/cc",
                Err("no ticket cache at FILE:/nonexistent/cc"),
                "run kinit",
            ),
            (
                "keyring",
                gssapi(None, None),
                "KEYRING:persistent:1",
                Err("of type KEYRING"),
                "configure principal=",
            ),
            (
                "missing keytab",
                gssapi(None, Some(&empty)),
                &cc_name,
                Err("empty"),
                "",
            ),
        ];
        for (what, auth, ccache, want, how) in cases {
            let got = resolve(&auth, ccache);
            match (&got, want) {
                (SidePrincipal::Resolved { name, source }, Ok(w)) => {
                    assert_eq!(name, w, "{what}");
                    assert!(source.to_string().contains(how), "{what}: {source}");
                }
                (SidePrincipal::Unresolved { why }, Err(w)) => {
                    assert!(why.contains(w) && why.contains(how), "{what}: {why}");
                    assert_eq!(got.record_name(), "UNRESOLVED");
                }
                _ => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn ccache_versions_and_garbage() {
        let mut v3 = vec![0x05, 0x03];
        v3.extend(1u32.to_be_bytes());
        v3.extend(1u32.to_be_bytes());
        for s in ["R", "mm"] {
            v3.extend((s.len() as u32).to_be_bytes());
            v3.extend(s.as_bytes());
        }
        assert_eq!(parse_ccache_principal(&v3).as_deref(), Some("mm@R"));
        assert_eq!(parse_ccache_principal(&v3[..v3.len() - 1]), None);
        assert_eq!(parse_ccache_principal(b"\x05\x09"), None);
        assert_eq!(parse_ccache_principal(b""), None);
    }
}
