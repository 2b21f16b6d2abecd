//! The audit key (`--audit.key FILE`, `kmirror audit verify --key FILE`):
//! the secret every entry and the anchor are authenticated with
//! (HMAC-SHA-256), so whoever can write the trail but not read the key
//! cannot rewrite it without `verify` noticing.
//!
//! The key is the file's bytes, as they are (at least [`MIN_KEY_BYTES`]),
//! e.g. `head -c 32 /dev/urandom > audit.key`. The file must be private
//! to kmirror's user (no group or other permission bits), or be a systemd
//! credential (`LoadCredential=`, root-owned 0440 in
//! `$CREDENTIALS_DIRECTORY`), exactly as keytabs are checked
//! (`src/security/keytab.rs`). The bytes live in a zeroized
//! [`secrecy::SecretSlice`]; `Debug` shows only the key id.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ring::hmac;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

/// Fewest key bytes accepted: HMAC-SHA-256's own strength.
pub const MIN_KEY_BYTES: usize = 32;

/// Why an audit key file is refused. Every message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("audit key {path} cannot be read: {source}; create one with `head -c 32 /dev/urandom > {path} && chmod 600 {path}`")]
    Read {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Group or others have permissions on the key: anyone who reads it can
    /// forge the trail.
    #[error("audit key {path} has mode {mode:04o}: group or others may access it, and anyone who reads it can forge the audit trail; fix with `chmod 600 {path}`")]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// The permission bits.
        mode: u32,
    },
    /// Another user owns the key and could change it.
    #[error("audit key {path} is owned by uid {owner}, not by kmirror's user (uid {euid}); fix with `chown {euid} {path}`")]
    Owner {
        /// The key file.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// kmirror's effective uid.
        euid: u32,
    },
    /// Too short to be a key.
    #[error("audit key {path} holds {len} bytes, fewer than {MIN_KEY_BYTES}; create one with `head -c 32 /dev/urandom > {path}`")]
    TooShort {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
}

/// An audit key, loaded and checked.
pub struct AuditKey {
    bytes: SecretSlice<u8>,
    id: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(id {})", self.id)
    }
}

impl AuditKey {
    /// Reads and checks the key file at `path` (see the module docs).
    pub fn load(path: &Path) -> Result<AuditKey, KeyError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        load_as(path, euid, credentials.as_deref())
    }

    /// A key from bytes already in memory (tests, tools).
    pub fn from_bytes(bytes: Vec<u8>) -> AuditKey {
        let id = key_id(&bytes);
        AuditKey {
            bytes: SecretSlice::from(bytes),
            id,
        }
    }

    /// A public name for the key: the first 8 bytes (hex) of SHA-256 over
    /// a fixed label and the key. It tells keys apart in messages without
    /// revealing anything usable.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// HMAC-SHA-256 of `data` under the key, hex.
    pub fn mac(&self, data: &[u8]) -> String {
        // ring's key schedule is transient: built, used and dropped here,
        // so only the zeroized SecretSlice outlives a call.
        let k = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.expose_secret());
        super::hex(hmac::sign(&k, data).as_ref())
    }

    /// Whether `mac_hex` is the MAC of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], mac_hex: &str) -> bool {
        let Some(tag) = unhex(mac_hex) else {
            return false;
        };
        let k = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.expose_secret());
        hmac::verify(&k, data, &tag).is_ok()
    }
}

fn key_id(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"kmirror audit key id\0");
    h.update(bytes);
    super::hex(&h.finalize()[..8])
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Whether `path` is a systemd credential: root-owned, no permission for
/// others and no group write, inside `$CREDENTIALS_DIRECTORY` (systemd
/// grants the service user access with an ACL). The same rule as
/// keytabs (`security::keytab`), kept here so the two modules stay apart.
fn is_systemd_credential(path: &Path, dir: Option<&Path>, meta: &std::fs::Metadata) -> bool {
    let Some(dir) = dir else {
        return false;
    };
    let (Ok(file), Ok(dir)) = (path.canonicalize(), dir.canonicalize()) else {
        return false;
    };
    file.starts_with(&dir) && meta.uid() == 0 && meta.mode() & 0o027 == 0
}

fn load_as(path: &Path, euid: u32, credentials_dir: Option<&Path>) -> Result<AuditKey, KeyError> {
    let read = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !is_systemd_credential(path, credentials_dir, &meta) {
        if meta.uid() != euid {
            return Err(KeyError::Owner {
                path: path.to_owned(),
                owner: meta.uid(),
                euid,
            });
        }
        if meta.mode() & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_owned(),
                mode: meta.mode() & 0o7777,
            });
        }
    }
    // Read straight into the buffer that becomes the secret: no copy of
    // the key is left behind unzeroized.
    let bytes = std::fs::read(path).map_err(read)?;
    if bytes.len() < MIN_KEY_BYTES {
        let len = bytes.len();
        drop(SecretSlice::from(bytes));
        return Err(KeyError::TooShort {
            path: path.to_owned(),
            len,
        });
    }
    Ok(AuditKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn refuses_short_shared_and_foreign_keys_naming_file_and_fix() {
        let d = tempfile::tempdir().unwrap();
        let euid = unsafe { libc::geteuid() };
        let ok = write(d.path(), "ok", &[7u8; 32], 0o600);
        let k = load_as(&ok, euid, None).unwrap();
        assert_eq!(k.id().len(), 16);
        assert!(!format!("{k:?}").contains("0707"), "{k:?}");

        let short = write(d.path(), "short", &[7u8; 31], 0o600);
        let e = load_as(&short, euid, None).unwrap_err().to_string();
        assert!(e.contains("31 bytes") && e.contains("short"), "{e}");

        let shared = write(d.path(), "shared", &[7u8; 32], 0o640);
        let e = load_as(&shared, euid, None).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("shared"), "{e}");

        let e = load_as(&ok, euid + 1, None).unwrap_err();
        assert!(matches!(e, KeyError::Owner { .. }), "{e}");

        let e = load_as(&d.path().join("nope"), euid, None).unwrap_err();
        assert!(e.to_string().contains("head -c 32 /dev/urandom"), "{e}");
    }

    #[test]
    fn systemd_credential_is_accepted_only_in_the_credentials_directory() {
        let creds = tempfile::tempdir().unwrap();
        let p = write(creds.path(), "audit.key", &[1u8; 32], 0o440);
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), 0, "test assumes root");
        // kmirror as an unprivileged service user, root-owned credential.
        assert!(load_as(&p, 10001, Some(creds.path())).is_ok());
        assert!(load_as(&p, 10001, None).is_err());
        let other = tempfile::tempdir().unwrap();
        assert!(load_as(&p, 10001, Some(other.path())).is_err());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(load_as(&p, 10001, Some(creds.path())).is_err());
    }

    #[test]
    fn mac_verifies_only_under_the_same_key() {
        let a = AuditKey::from_bytes(vec![1; 32]);
        let b = AuditKey::from_bytes(vec![2; 32]);
        let m = a.mac(b"line");
        assert_eq!(m.len(), 64);
        assert!(a.verify(b"line", &m));
        assert!(!a.verify(b"line2", &m));
        assert!(!b.verify(b"line", &m));
        assert!(!a.verify(b"line", "zz"));
        assert_ne!(a.id(), b.id());
    }
}
