//! Keytab preflight: before kmirror connects to any broker, check that a
//! GSSAPI side's keytab exists, is a regular file private to the running
//! user, and holds a key for the configured principal.
//!
//! librdkafka only discovers a bad keytab when its `kinit` fails at the first
//! connection, with a message that names neither the file nor the fix; these
//! checks say both up front.
//!
//! The MIT keytab format (version `0x0502`, big-endian) is parsed here:
//!
//! ```text
//! file  := 0x05 0x02 entry*
//! entry := i32 size, then `size` bytes of:        (size < 0: a hole of -size bytes; 0: end)
//!          u16 num_components, counted realm, num_components × counted component,
//!          u32 name_type, u32 timestamp, u8 kvno, u16 enctype, counted key,
//!          [u32 kvno]                              (if at least 4 bytes remain; 0 = use the u8)
//! counted := u16 length, bytes
//! ```
//!
//! Key bytes are skipped, never copied: nothing this module returns or
//! prints can contain key material.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One key in a keytab: who it is for and which key it is, without the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    /// `primary[/instance]@REALM`, as `klist -k` prints it.
    pub principal: String,
    /// Kerberos name type (1 = principal, 3 = service host).
    pub name_type: u32,
    /// When the key was written (seconds since the epoch).
    pub timestamp: u32,
    /// Key version number.
    pub kvno: u32,
    /// Encryption type number (e.g. 18 = aes256-cts-hmac-sha1-96).
    pub enctype: u16,
}

impl fmt::Display for KeytabEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (kvno {}, {})",
            self.principal,
            self.kvno,
            enctype_name(self.enctype)
        )
    }
}

/// The entries of a keytab file, in file order (holes skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keytab {
    /// The entries.
    pub entries: Vec<KeytabEntry>,
}

impl Keytab {
    /// The distinct principals the keytab holds keys for, in file order.
    pub fn principals(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !out.contains(&e.principal.as_str()) {
                out.push(&e.principal);
            }
        }
        out
    }

    /// Whether the keytab holds a key for `principal`. A principal written
    /// without `@REALM` matches that name in any realm, as librdkafka's
    /// `kinit` would resolve it against the default realm.
    pub fn has_principal(&self, principal: &str) -> bool {
        self.entries.iter().any(|e| {
            e.principal == principal
                || (!principal.contains('@')
                    && e.principal.rsplit_once('@').map(|(n, _)| n) == Some(principal))
        })
    }
}

/// Why a keytab is refused. Every message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum KeytabError {
    /// The file does not exist.
    #[error(
        "keytab {path} does not exist; create it for the mirror principal (kadmin.local -q 'ktadd -k {path} PRINCIPAL') or fix the keytab path"
    )]
    NotFound {
        /// The keytab path.
        path: PathBuf,
    },
    /// The file cannot be read or examined.
    #[error("keytab {path} cannot be read: {source}; check the path and that kmirror's user may read it")]
    Read {
        /// The keytab path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The path is a symbolic link: refused so that what is checked is what
    /// is read (nobody can swap the link's target between the two).
    #[error(
        "keytab {path} is a symbolic link; point the keytab setting at the file itself (`readlink -f {path}` names it)"
    )]
    Symlink {
        /// The keytab path.
        path: PathBuf,
    },
    /// The path is a directory, device, FIFO or socket.
    #[error(
        "keytab {path} is not a regular file; point the keytab setting at the keytab file itself"
    )]
    NotRegular {
        /// The keytab path.
        path: PathBuf,
    },
    /// Someone else owns the keytab, so they can change or replace it.
    #[error(
        "keytab {path} is owned by uid {owner}, not by kmirror's user (uid {euid}); fix with `chown {euid} {path}` (or pass --allow.insecure.keytab)"
    )]
    Owner {
        /// The keytab path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// kmirror's effective uid.
        euid: u32,
    },
    /// Group or others may read or write the keytab: anyone who reads it can
    /// authenticate as the mirror.
    #[error(
        "keytab {path} has mode {mode:04o}: group or others may read or write it, and anyone who reads a keytab can authenticate as its principal; fix with `chmod 600 {path}` (or pass --allow.insecure.keytab)"
    )]
    Permissions {
        /// The keytab path.
        path: PathBuf,
        /// The permission bits.
        mode: u32,
    },
    /// The file is not an MIT keytab, or is damaged.
    #[error(
        "keytab {path} is not a valid keytab ({problem} at byte {offset}); `klist -kt {path}` should fail the same way; re-export it with kadmin 'ktadd -k' or ktutil"
    )]
    Corrupt {
        /// The keytab path.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        problem: String,
    },
    /// The keytab has no key for the configured principal.
    #[error(
        "keytab {path} holds no key for principal {principal}; it holds {} (`klist -kt {path}` lists the same); use the principal the keytab was made for, or add its key with kadmin.local -q 'ktadd -k {path} {principal}'",
        held_list(.held)
    )]
    PrincipalMissing {
        /// The keytab path.
        path: PathBuf,
        /// The configured principal.
        principal: String,
        /// The principals it does hold.
        held: Vec<String>,
    },
}

fn held_list(held: &[String]) -> String {
    if held.is_empty() {
        "no keys at all".into()
    } else {
        held.join(", ")
    }
}

/// Parses keytab bytes. `path` is used in errors only.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Keytab, KeytabError> {
    let mut r = Reader {
        bytes,
        pos: 0,
        path,
    };
    let version = r.u16("file version")?;
    match version {
        0x0502 => {}
        0x0501 => {
            return Err(r.corrupt(
                0,
                "version 0x0501 (obsolete, host byte order) is not supported".into(),
            ))
        }
        v => {
            return Err(r.corrupt(
                0,
                format!("version 0x{v:04x}, expected 0x0502 (MIT keytab)"),
            ))
        }
    }
    let mut entries = Vec::new();
    while r.pos < bytes.len() {
        let start = r.pos;
        let size = r.i32("entry size")?;
        if size == 0 {
            // MIT writes nothing after a zero size: it marks the end.
            break;
        }
        let len = size.unsigned_abs() as usize;
        let body = r.take(len, "entry")?;
        if size < 0 {
            // A hole left by a deleted entry.
            continue;
        }
        let mut e = Reader {
            bytes: body,
            pos: 0,
            path,
        };
        entries.push(e.entry().map_err(|err| match err {
            KeytabError::Corrupt {
                path,
                offset,
                problem,
            } => KeytabError::Corrupt {
                path,
                // Offsets inside an entry are relative to its body.
                offset: start + 4 + offset,
                problem,
            },
            other => other,
        })?);
    }
    Ok(Keytab { entries })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, offset: usize, problem: String) -> KeytabError {
        KeytabError::Corrupt {
            path: self.path.to_owned(),
            offset,
            problem,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], KeytabError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                self.corrupt(
                    self.pos,
                    format!(
                        "truncated {what}: {n} bytes needed, {} left",
                        self.bytes.len() - self.pos
                    ),
                )
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, KeytabError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, KeytabError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, KeytabError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, KeytabError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn counted(&mut self, what: &str) -> Result<String, KeytabError> {
        let at = self.pos;
        let n = self.u16(what)? as usize;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.corrupt(at, format!("{what} is not UTF-8")))
    }

    fn entry(&mut self) -> Result<KeytabEntry, KeytabError> {
        let n = self.u16("component count")?;
        let realm = self.counted("realm")?;
        let mut components = Vec::with_capacity(usize::from(n).min(16));
        for _ in 0..n {
            components.push(self.counted("principal component")?);
        }
        let name_type = self.u32("name type")?;
        let timestamp = self.u32("timestamp")?;
        let kvno8 = self.u8("key version")?;
        let enctype = self.u16("encryption type")?;
        let key_len = self.u16("key length")? as usize;
        // Skipped, not copied: key material never leaves the file buffer.
        self.take(key_len, "key")?;
        let kvno = if self.bytes.len() - self.pos >= 4 {
            match self.u32("key version")? {
                0 => u32::from(kvno8),
                v => v,
            }
        } else {
            u32::from(kvno8)
        };
        Ok(KeytabEntry {
            principal: format!("{}@{realm}", components.join("/")),
            name_type,
            timestamp,
            kvno,
            enctype,
        })
    }
}

/// Reads and parses the keytab at `path` (opened as [`open`] does).
pub fn read(path: &Path) -> Result<Keytab, KeytabError> {
    let (file, _) = open(path)?;
    read_open(file, path)
}

/// Opens the keytab once, without following a symbolic link
/// (`O_NOFOLLOW`) and without blocking on a FIFO (`O_NONBLOCK`), and
/// examines the open descriptor (`fstat`): it must be a regular file. What
/// is checked afterwards (owner, mode) and what is read is this one file,
/// so nothing can be swapped in between.
pub fn open(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), KeytabError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                KeytabError::Symlink {
                    path: path.to_owned(),
                }
            } else {
                io_error(path, e)
            }
        })?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(KeytabError::NotRegular {
            path: path.to_owned(),
        });
    }
    Ok((file, meta))
}

fn read_open(mut file: std::fs::File, path: &Path) -> Result<Keytab, KeytabError> {
    use std::io::Read;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes)
        .map_err(|source| io_error(path, source))?;
    parse(&bytes, path)
}

/// Encryption types MIT and RFC 8429 deprecate (DES, 3DES, RC4): a key of
/// one of these is crackable or nearly so.
pub fn is_weak_enctype(enctype: u16) -> bool {
    // 1-3: des-cbc-*, 5/7/16: des3, 23/24: arcfour-hmac(-exp).
    matches!(enctype, 1..=3 | 5 | 7 | 16 | 23 | 24)
}

/// A warning naming the keytab's weak keys and the `kadmin` command that
/// re-keys the principal with strong enctypes only; `None` if every key is
/// strong.
pub fn weak_enctype_warning(keytab: &Keytab, path: &Path) -> Option<String> {
    let mut weak: Vec<String> = keytab
        .entries
        .iter()
        .filter(|e| is_weak_enctype(e.enctype))
        .map(|e| format!("{} ({})", e.principal, enctype_name(e.enctype)))
        .collect();
    weak.dedup();
    let first = keytab.entries.iter().find(|e| is_weak_enctype(e.enctype))?;
    Some(format!(
        "keytab {} holds keys of weak encryption types (DES, 3DES or RC4, deprecated by RFC 8429): {}; re-key with strong types only: kadmin -q 'ktadd -k {} -e aes256-cts-hmac-sha1-96:normal,aes128-cts-hmac-sha1-96:normal {}' (and remove the weak types from the KDC's supported_enctypes)",
        path.display(),
        weak.join(", "),
        path.display(),
        first.principal
    ))
}

fn io_error(path: &Path, source: io::Error) -> KeytabError {
    if source.kind() == io::ErrorKind::NotFound {
        KeytabError::NotFound {
            path: path.to_owned(),
        }
    } else {
        KeytabError::Read {
            path: path.to_owned(),
            source,
        }
    }
}

/// Checks the keytab of one GSSAPI side before any connection: a regular
/// file, owned by the running user and private to it (unless
/// `allow_insecure`, which turns those two into the returned warning), that
/// holds a key for `principal` (when one is configured).
pub fn preflight(
    path: &Path,
    principal: Option<&str>,
    allow_insecure: bool,
) -> Result<(Keytab, Option<String>), KeytabError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    preflight_as(
        path,
        principal,
        allow_insecure,
        euid,
        credentials.as_deref(),
    )
}

/// Whether `path` is a systemd credential (`LoadCredential=`): systemd
/// writes those root-owned, mode 0440 with an ACL for the service user, in a
/// directory only the service can read — as private as a 0600 file of
/// kmirror's own.
fn is_systemd_credential(
    path: &Path,
    credentials_dir: Option<&Path>,
    meta: &std::fs::Metadata,
) -> bool {
    let Some(dir) = credentials_dir else {
        return false;
    };
    let (Ok(file), Ok(dir)) = (path.canonicalize(), dir.canonicalize()) else {
        return false;
    };
    file.starts_with(&dir) && meta.uid() == 0 && meta.mode() & 0o027 == 0
}

fn preflight_as(
    path: &Path,
    principal: Option<&str>,
    allow_insecure: bool,
    euid: u32,
    credentials_dir: Option<&Path>,
) -> Result<(Keytab, Option<String>), KeytabError> {
    // One open descriptor: type, owner and mode are those of the file
    // that is then read (no symlink, FIFO or swap in between).
    let (file, meta) = open(path)?;
    let insecure = if is_systemd_credential(path, credentials_dir, &meta) {
        None
    } else if meta.uid() != euid {
        Some(KeytabError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            euid,
        })
    } else if meta.mode() & 0o077 != 0 {
        Some(KeytabError::Permissions {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        })
    } else {
        None
    };
    let warning = match insecure {
        Some(e) if !allow_insecure => return Err(e),
        Some(e) => Some(format!("--allow.insecure.keytab: accepting insecure {e}")),
        None => None,
    };
    let keytab = read_open(file, path)?;
    if let Some(p) = principal {
        if !keytab.has_principal(p) {
            return Err(KeytabError::PrincipalMissing {
                path: path.to_owned(),
                principal: p.to_string(),
                held: keytab.principals().into_iter().map(String::from).collect(),
            });
        }
    }
    Ok((keytab, warning))
}

/// The MIT name of an encryption type number, for messages.
pub fn enctype_name(enctype: u16) -> String {
    match enctype {
        17 => "aes128-cts-hmac-sha1-96".into(),
        18 => "aes256-cts-hmac-sha1-96".into(),
        19 => "aes128-cts-hmac-sha256-128".into(),
        20 => "aes256-cts-hmac-sha384-192".into(),
        23 => "arcfour-hmac".into(),
        25 => "camellia128-cts-cmac".into(),
        26 => "camellia256-cts-cmac".into(),
        16 => "des3-cbc-sha1".into(),
        1 => "des-cbc-crc".into(),
        3 => "des-cbc-md5".into(),
        24 => "arcfour-hmac-exp".into(),
        n => format!("enctype {n}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const KEY: &[u8] = b"KEYBYTES-do-not-print-0123456789";

    fn counted(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    }

    /// The bytes of one keytab entry (without its size), as MIT writes it.
    fn entry_body(principal: &str, kvno: u32, enctype: u16) -> Vec<u8> {
        let (name, realm) = principal.split_once('@').unwrap();
        let comps: Vec<&str> = name.split('/').collect();
        let mut b = Vec::new();
        b.extend_from_slice(&(comps.len() as u16).to_be_bytes());
        counted(&mut b, realm.as_bytes());
        for c in comps {
            counted(&mut b, c.as_bytes());
        }
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        b.push(kvno as u8);
        b.extend_from_slice(&enctype.to_be_bytes());
        counted(&mut b, KEY);
        b.extend_from_slice(&kvno.to_be_bytes());
        b
    }

    /// A keytab holding a key per `(principal, kvno, enctype)`.
    pub(crate) fn keytab_bytes(entries: &[(&str, u32, u16)]) -> Vec<u8> {
        let mut b = vec![0x05, 0x02];
        for (p, kvno, et) in entries {
            let body = entry_body(p, *kvno, *et);
            b.extend_from_slice(&(body.len() as i32).to_be_bytes());
            b.extend_from_slice(&body);
        }
        b
    }

    /// Writes a private (0600) keytab for `principal` into `dir`.
    pub(crate) fn write_keytab(dir: &Path, name: &str, principal: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, keytab_bytes(&[(principal, 2, 18)])).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    #[test]
    fn parses_entries_without_keeping_keys() {
        let bytes = keytab_bytes(&[
            ("mirrormaker/h.example.com@EXAMPLE.COM", 3, 18),
            ("mirrormaker/h.example.com@EXAMPLE.COM", 3, 17),
            ("alice@EXAMPLE.COM", 300, 20),
        ]);
        let kt = parse(&bytes, Path::new("m.keytab")).unwrap();
        assert_eq!(kt.entries.len(), 3);
        assert_eq!(
            kt.principals(),
            vec!["mirrormaker/h.example.com@EXAMPLE.COM", "alice@EXAMPLE.COM"]
        );
        // The 32-bit kvno wins over the 8-bit one (300 does not fit in a u8).
        assert_eq!(kt.entries[2].kvno, 300);
        assert_eq!(kt.entries[0].enctype, 18);
        assert!(kt.has_principal("alice@EXAMPLE.COM"));
        assert!(kt.has_principal("mirrormaker/h.example.com"));
        assert!(!kt.has_principal("alice@OTHER.COM"));
        let shown = format!("{kt:?} {}", kt.entries[0]);
        assert!(!shown.contains("KEYBYTES"), "{shown}");
        assert!(shown.contains("aes256-cts-hmac-sha1-96"), "{shown}");
    }

    #[test]
    fn skips_holes_and_stops_at_zero_size() {
        let mut b = vec![0x05, 0x02];
        b.extend_from_slice(&(-12i32).to_be_bytes());
        b.extend_from_slice(&[0u8; 12]);
        let body = entry_body("m/h@R", 1, 18);
        b.extend_from_slice(&(body.len() as i32).to_be_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(b"trailing junk after the end marker");
        let kt = parse(&b, Path::new("k")).unwrap();
        assert_eq!(kt.principals(), vec!["m/h@R"]);
        // An entry without the optional 32-bit kvno uses the 8-bit one.
        let mut body = entry_body("m/h@R", 7, 18);
        body.truncate(body.len() - 4);
        let mut b = vec![0x05, 0x02];
        b.extend_from_slice(&(body.len() as i32).to_be_bytes());
        b.extend_from_slice(&body);
        assert_eq!(parse(&b, Path::new("k")).unwrap().entries[0].kvno, 7);
        // An empty keytab is valid and holds nothing.
        assert!(parse(&[5, 2], Path::new("k")).unwrap().entries.is_empty());
    }

    #[test]
    fn truncated_or_corrupt_files_are_clean_errors() {
        let good = keytab_bytes(&[("m/h@R", 1, 18), ("n/h@R", 1, 18)]);
        // Every prefix that cuts an entry short, and every single-byte
        // corruption, must give an error or a result, never a panic.
        for n in 0..good.len() {
            match parse(&good[..n], Path::new("cut.keytab")) {
                Ok(kt) => assert!(n == 2 || kt.entries.len() == 1, "prefix {n}"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        e.starts_with("keytab cut.keytab is not a valid keytab"),
                        "{e}"
                    );
                    assert!(!e.contains("KEYBYTES"), "{e}");
                }
            }
        }
        for i in 0..good.len() {
            for v in [0x00, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                if let Err(e) = parse(&b, Path::new("x")) {
                    assert!(!e.to_string().contains("KEYBYTES"));
                }
            }
        }
        let e = parse(b"\x05\x01", Path::new("old"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("0x0501"), "{e}");
        let e = parse(b"[libdefaults]\n", Path::new("krb5.conf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 0x0502"), "{e}");
        // A size far larger than the file.
        let mut b = vec![5, 2];
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = parse(&b, Path::new("big")).unwrap_err().to_string();
        assert!(e.contains("truncated entry") && e.contains("byte 6"), "{e}");
        // A huge hole.
        let mut b = vec![5, 2];
        b.extend_from_slice(&i32::MIN.to_be_bytes());
        assert!(parse(&b, Path::new("hole")).is_err());
        // Truncation inside an entry reports the file offset.
        let mut b = vec![5, 2];
        b.extend_from_slice(&10i32.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 200, b'R', b'R', b'R', b'R', b'R', b'R']);
        let e = parse(&b, Path::new("t")).unwrap_err().to_string();
        assert!(
            e.contains("truncated realm") && e.contains("byte 10"),
            "{e}"
        );
    }

    #[test]
    fn preflight_accepts_a_private_keytab_with_the_principal() {
        let d = tempfile::tempdir().unwrap();
        let p = write_keytab(d.path(), "m.keytab", "mirrormaker/h@R");
        let (kt, warn) = preflight(&p, Some("mirrormaker/h@R"), false).unwrap();
        assert_eq!(kt.entries.len(), 1);
        assert!(warn.is_none());
        assert!(preflight(&p, None, false).is_ok());
    }

    #[test]
    fn preflight_names_held_principals_when_missing() {
        let d = tempfile::tempdir().unwrap();
        let p = write_keytab(d.path(), "m.keytab", "other/h@R");
        let e = preflight(&p, Some("mirrormaker/h@R"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds no key for principal mirrormaker/h@R")
                && e.contains("it holds other/h@R")
                && e.contains("klist -kt"),
            "{e}"
        );
    }

    #[test]
    fn preflight_refuses_bad_permissions_and_owner() {
        let d = tempfile::tempdir().unwrap();
        let p = write_keytab(d.path(), "m.keytab", "m/h@R");
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = preflight(&p, Some("m/h@R"), false).unwrap_err().to_string();
            assert!(e.contains(&format!("chmod 600 {}", p.display())), "{e}");
            let (_, w) = preflight(&p, Some("m/h@R"), true).unwrap();
            assert!(w.unwrap().contains("chmod 600"));
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let owner = std::fs::metadata(&p).unwrap().uid();
        let e = preflight_as(&p, None, false, owner + 1, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("chown {} {}", owner + 1, p.display())),
            "{e}"
        );
        assert!(preflight_as(&p, None, true, owner + 1, None)
            .unwrap()
            .1
            .is_some());
        // Permissions are checked before the contents.
        std::fs::write(&p, b"garbage").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            preflight(&p, None, false),
            Err(KeytabError::Permissions { mode: 0o644, .. })
        ));
    }

    /// systemd's `LoadCredential=` keytabs are root-owned 0440 (plus an ACL
    /// for the service user) in a private directory: accepted there, and
    /// only there.
    #[test]
    fn systemd_credentials_are_trusted_only_in_the_credentials_directory() {
        let creds = tempfile::tempdir().unwrap();
        let p = write_keytab(creds.path(), "keytab", "m/h@R");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o440)).unwrap();
        // The tests run as root, so the file is root-owned as systemd writes it;
        // pretend kmirror runs as an unprivileged service user.
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), 0, "test assumes root");
        let (_, warning) =
            preflight_as(&p, Some("m/h@R"), false, 10001, Some(creds.path())).unwrap();
        assert!(warning.is_none());
        // Outside the credentials directory the same file is refused.
        let other = tempfile::tempdir().unwrap();
        assert!(preflight_as(&p, Some("m/h@R"), false, 10001, Some(other.path())).is_err());
        assert!(preflight_as(&p, Some("m/h@R"), false, 10001, None).is_err());
        // Readable by others is refused even there.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(preflight_as(&p, Some("m/h@R"), false, 10001, Some(creds.path())).is_err());
    }

    #[test]
    fn preflight_refuses_missing_and_non_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope.keytab");
        let e = preflight(&missing, None, false).unwrap_err();
        assert!(matches!(e, KeytabError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("does not exist"));
        let e = preflight(d.path(), None, true).unwrap_err();
        assert!(matches!(e, KeytabError::NotRegular { .. }), "{e}");
        assert!(e.to_string().contains("not a regular file"));
        // A FIFO: refused at once (opening it does not block on a writer).
        let fifo = d.path().join("fifo.keytab");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = preflight(&fifo, None, true).unwrap_err();
        assert!(matches!(e, KeytabError::NotRegular { .. }), "{e}");
        // A symbolic link to a good keytab: refused, naming readlink.
        let good = write_keytab(d.path(), "good.keytab", "m/h@R");
        let link = d.path().join("link.keytab");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(preflight(&good, Some("m/h@R"), false).is_ok());
        let e = preflight(&link, Some("m/h@R"), true).unwrap_err();
        assert!(matches!(e, KeytabError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("readlink -f"), "{e}");
        let e = read(&link).unwrap_err();
        assert!(matches!(e, KeytabError::Symlink { .. }), "{e}");
    }

    #[test]
    fn weak_enctypes_are_flagged_with_the_kadmin_command() {
        let d = tempfile::tempdir().unwrap();
        let strong = write_keytab(d.path(), "s.keytab", "m/h@R");
        let kt = read(&strong).unwrap();
        assert!(weak_enctype_warning(&kt, &strong).is_none());
        for (enctype, name) in [
            (23u16, "arcfour-hmac"),
            (16, "des3-cbc-sha1"),
            (3, "des-cbc-md5"),
        ] {
            let p = d.path().join(format!("{enctype}.keytab"));
            std::fs::write(&p, keytab_bytes(&[("m/h@R", 2, enctype)])).unwrap();
            let w = weak_enctype_warning(&read(&p).unwrap(), &p).expect("flagged");
            assert!(
                w.contains(name) && w.contains("kadmin -q 'ktadd -k") && w.contains("m/h@R"),
                "{w}"
            );
        }
        assert!(!is_weak_enctype(17) && !is_weak_enctype(18) && !is_weak_enctype(20));
    }
}
