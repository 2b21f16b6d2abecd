//! Key rotation (`kmirror audit rotate TRAIL --key OLD --new.key NEW`):
//! one line in the trail that hands the chain from one key to the next.
//!
//! The rotation line names both key ids and is sealed under *both* keys
//! (`hash_from` under the retiring key, `hash` under the new one, each
//! over the line with both left out); its `prev` is the last line sealed
//! under the old key, and every later line is sealed under the new key.
//! So whoever holds only the old key cannot extend the trail past the
//! rotation, and whoever holds only the new key cannot rewrite what came
//! before it. The anchor is re-written under the new key. `verify` takes
//! every key of the trail (`--key` once per key); the mirror needs only
//! the current one. Rotating from an unkeyed trail (`--unkeyed`) adopts a
//! key for a trail written with `--audit.unkeyed`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chain::{self, Retired};
use super::{anchor, io_err, lock, AuditError, Seal, GENESIS};

/// A key rotation line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// Unix time in milliseconds of the rotation.
    pub time_ms: u64,
    /// Id of the retiring key (empty: the trail was unkeyed).
    pub rotate_from_key_id: String,
    /// Id of the key every later line is sealed with.
    pub rotate_to_key_id: String,
    /// `hash` of the previous line.
    pub prev: String,
    /// Seal under the retiring key of the line without `hash_from` and `hash`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash_from: String,
    /// Seal under the new key of the line without `hash_from` and `hash`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl KeyRotation {
    /// The canonical line with both seals left out: what they seal.
    pub fn body(&self) -> Vec<u8> {
        let body = KeyRotation {
            hash_from: String::new(),
            hash: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&body).expect("a rotation always serialises")
    }

    /// The line (without the newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("a rotation always serialises")
    }

    /// Checks the fields' shape (key ids: 16 hex digits, or empty for unkeyed).
    pub fn validate(&self) -> Result<(), String> {
        let id = |name: &str, v: &str| {
            if v.is_empty() || (v.len() == 16 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
                Ok(())
            } else {
                Err(format!("{name} is not a key id"))
            }
        };
        id("rotate_from_key_id", &self.rotate_from_key_id)?;
        id("rotate_to_key_id", &self.rotate_to_key_id)?;
        if self.rotate_from_key_id == self.rotate_to_key_id {
            return Err("rotates to the key it rotates from".into());
        }
        Ok(())
    }
}

/// Appends a rotation from `old` (the trail's current key) to `new`, then
/// re-anchors under `new`. The trail must be intact under `old` (its
/// current segment and its anchor) and not in use (the mirror stopped).
pub fn rotate(
    path: &Path,
    anchor: Option<&Path>,
    old: &Seal,
    new: &Seal,
) -> Result<KeyRotation, AuditError> {
    let refuse = |reason: String| AuditError::Rotation {
        path: path.to_owned(),
        reason,
    };
    if old.key_id() == new.key_id() {
        return Err(refuse("the new key is the current key".into()));
    }
    let _lock = lock::TrailLock::acquire(path)?;
    let anchor = anchor.map_or_else(|| anchor::default_path(path), Path::to_owned);
    let saved = anchor::read(&anchor)?;
    let text = std::fs::read(path).map_err(io_err(path, "reading"))?;
    if text.last().is_some_and(|&b| b != b'\n') {
        return Err(refuse("it ends in an incomplete line (a crash mid-write): start and stop the mirror once, which cuts it off, then rotate".into()));
    }
    let seals = [old.clone()];
    let lines = chain::read_lines(path, &seals, Retired::Trust, BufReader::new(&text[..]))?;
    if saved.is_some() || !lines.heads.is_empty() {
        anchor::check(path, &anchor, saved.as_ref(), &lines.heads, old)?;
    }
    let mut r = KeyRotation {
        time_ms: super::now_ms(),
        rotate_from_key_id: old.key_id().into(),
        rotate_to_key_id: new.key_id().into(),
        prev: lines.heads.last().map_or(GENESIS, String::as_str).into(),
        hash_from: String::new(),
        hash: String::new(),
    };
    let body = r.body();
    r.hash_from = old.tag(&body);
    r.hash = new.tag(&body);
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err(path, "opening"))?;
    f.write_all(format!("{}\n", r.line()).as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(io_err(path, "appending the rotation"))?;
    let mut heads = BTreeMap::new();
    for e in &lines.entries {
        let v = heads
            .entry((e.source.clone(), e.topic.clone(), e.partition))
            .or_insert(e.last_offset);
        *v = (*v).max(e.last_offset);
    }
    anchor::write(
        &anchor,
        new,
        lines.heads.len() as u64 + 1,
        &r.hash,
        anchor::offsets(&heads),
    )?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::super::tests::entry;
    use super::super::{key::AuditKey, verify, AuditLog};
    use super::*;

    fn keyed(b: u8) -> Seal {
        Seal::Keyed(Arc::new(AuditKey::from_bytes(vec![b; 32])))
    }

    /// A trail of two entries under `seal`, closed.
    fn trail(dir: &Path, seal: &Seal) -> PathBuf {
        let p = dir.join("trail.jsonl");
        let log = AuditLog::open(&p, None, seal.clone(), "ANONYMOUS").unwrap();
        log.append(vec![entry("t", 0, 9), entry("t", 10, 19)])
            .unwrap();
        p
    }

    fn broken_line(r: Result<impl std::fmt::Debug, AuditError>) -> (usize, String) {
        match r {
            Err(AuditError::Broken { line, reason, .. }) => (line, reason),
            other => panic!("expected a broken line, got {other:?}"),
        }
    }

    #[test]
    fn rotated_trail_continues_under_the_new_key_and_verifies_with_both() {
        let d = tempfile::tempdir().unwrap();
        let (old, new) = (keyed(1), keyed(2));
        let p = trail(d.path(), &old);
        let r = rotate(&p, None, &old, &new).unwrap();
        assert_eq!(
            (r.rotate_from_key_id.as_str(), r.rotate_to_key_id.as_str()),
            (old.key_id(), new.key_id())
        );
        // The mirror holds only the new key: it opens, reads back what was
        // audited, and appends under the new key.
        let log = AuditLog::open(&p, None, new.clone(), "ANONYMOUS").unwrap();
        assert_eq!(log.audited_through("source 1", "t", 0), Some(19));
        log.append(vec![entry("t", 20, 29)]).unwrap();
        drop(log);
        let v = verify(&p, None, &[new.clone(), old.clone()]).unwrap();
        assert_eq!((v.entries.len(), v.rotations.len(), v.anchored), (3, 1, 4));
        // The old key alone is told which key the rest needs.
        let (line, reason) = broken_line(verify(&p, None, std::slice::from_ref(&old)));
        assert_eq!(line, 3, "{reason}");
        assert!(
            reason.contains(new.key_id()) && reason.contains("--key"),
            "{reason}"
        );
        // The new key alone cannot vouch for what came before the rotation.
        let (line, _) = broken_line(verify(&p, None, std::slice::from_ref(&new)));
        assert_eq!(line, 1);
        // The mirror with the retired key is refused.
        assert!(AuditLog::open(&p, None, old, "ANONYMOUS").is_err());
    }

    #[test]
    fn forged_rotations_and_rewrites_across_a_rotation_are_named() {
        let d = tempfile::tempdir().unwrap();
        let (old, new, thief) = (keyed(1), keyed(2), keyed(3));
        let p = trail(d.path(), &old);
        rotate(&p, None, &old, &new).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let rot: KeyRotation = serde_json::from_str(lines[2]).unwrap();
        let put = |rot: &KeyRotation| {
            let mut l = lines.clone();
            let s = rot.line();
            l[2] = &s;
            std::fs::write(&p, l.join("\n") + "\n").unwrap();
        };
        // Someone with the new key but not the old one forges hash_from.
        let mut f = rot.clone();
        f.hash_from = new.tag(&f.body());
        put(&f);
        let (line, reason) = broken_line(verify(&p, None, &[old.clone(), new.clone()]));
        assert_eq!(line, 3);
        assert!(reason.contains("hash_from does not verify"), "{reason}");
        // Someone with the old key but not the new one forges hash.
        let mut f = rot.clone();
        f.hash = thief.tag(&f.body());
        put(&f);
        let (line, reason) = broken_line(verify(&p, None, &[old.clone(), new.clone()]));
        assert_eq!(line, 3);
        assert!(
            reason.contains("does not verify under the new key"),
            "{reason}"
        );
        // Someone with the old key hands the trail to a key of their own.
        let mut f = rot.clone();
        f.rotate_to_key_id = thief.key_id().into();
        f.hash_from = old.tag(&f.body());
        f.hash = thief.tag(&f.body());
        put(&f);
        let (line, reason) = broken_line(verify(&p, None, &[old.clone(), new.clone()]));
        assert_eq!(line, 3);
        assert!(reason.contains(thief.key_id()), "{reason}");
        // The new key's holder rewrites an entry from before the rotation.
        put(&rot);
        let edited = text.replacen("\"records\":10", "\"records\":9", 1);
        std::fs::write(&p, edited).unwrap();
        let (line, _) = broken_line(verify(&p, None, &[old.clone(), new.clone()]));
        assert_eq!(line, 1);
        // Cutting the rotation (and what follows) off is seen by the anchor.
        std::fs::write(&p, lines[..2].join("\n") + "\n").unwrap();
        assert!(verify(&p, None, &[old, new]).is_err());
    }

    #[test]
    fn unkeyed_trail_adopts_a_key_and_bad_rotations_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let new = keyed(2);
        let p = trail(d.path(), &Seal::Unkeyed);
        // Not while the trail is in use.
        let log = AuditLog::open(&p, None, Seal::Unkeyed, "ANONYMOUS").unwrap();
        assert!(matches!(
            rotate(&p, None, &Seal::Unkeyed, &new),
            Err(AuditError::Locked { .. })
        ));
        drop(log);
        assert!(matches!(
            rotate(&p, None, &new, &new),
            Err(AuditError::Rotation { .. })
        ));
        // Not from a key that is not the trail's.
        assert!(rotate(&p, None, &keyed(7), &new).is_err());
        rotate(&p, None, &Seal::Unkeyed, &new).unwrap();
        let v = verify(&p, None, &[Seal::Unkeyed, new.clone()]).unwrap();
        assert!(v.keyed);
        assert_eq!((v.entries.len(), v.rotations.len()), (2, 1));
        broken_line(verify(&p, None, &[new]));
    }
}
