//! The trail's anchor (`TRAIL.anchor`): the head of the chain kept outside
//! the trail, so cutting entries off the end, or deleting the file, is
//! seen by `verify`.
//!
//! One JSON object: format version, entry count, the last entry's `hash`,
//! when it was written, the key id, each partition's last audited offset,
//! and `mac`, the seal of the object with `mac` left out (canonical form,
//! as entries). It is replaced atomically: written to `TRAIL.anchor.tmp`,
//! fsynced, renamed over the anchor, and the directory fsynced.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{io_err, AuditError, Seal, GENESIS};

/// Format version written today.
pub const VERSION: u32 = 1;

/// Largest anchor read (bytes): thousands of partitions fit many times over.
const MAX_ANCHOR_BYTES: u64 = 64 << 20;

/// A partition's last audited offset, as of the anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchoredOffset {
    /// Source cluster label.
    pub source: String,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Last audited source offset (inclusive).
    pub last_offset: i64,
}

/// The anchor file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Entries in the trail when the anchor was written.
    pub entries: u64,
    /// `hash` of the last of them ([`GENESIS`] when there are none).
    pub head: String,
    /// Unix time in milliseconds of the write.
    pub time_ms: u64,
    /// Id of the key the anchor and trail are sealed with (empty: unkeyed).
    pub key_id: String,
    /// Last audited offset per source partition.
    pub offsets: Vec<AnchoredOffset>,
    /// Seal of the anchor with `mac` left out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

impl Anchor {
    fn body(&self) -> Vec<u8> {
        let body = Anchor {
            mac: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&body).expect("an anchor always serialises")
    }
}

/// `TRAIL.anchor`, beside the trail.
pub fn default_path(trail: &Path) -> PathBuf {
    let mut s = trail.as_os_str().to_owned();
    s.push(".anchor");
    PathBuf::from(s)
}

/// Reads the anchor at `path`; `None` if there is none. Its seal is
/// checked by [`check`].
pub fn read(path: &Path) -> Result<Option<Anchor>, AuditError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "opening the anchor")(e)),
    };
    let mut text = Vec::new();
    f.take(MAX_ANCHOR_BYTES)
        .read_to_end(&mut text)
        .map_err(io_err(path, "reading the anchor"))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| AuditError::Anchor {
            path: path.to_owned(),
            anchor: path.to_owned(),
            reason: format!("not an anchor: {e}"),
        })
}

/// The anchor's offsets from (source label, topic, partition) → last audited offset.
pub(crate) fn offsets(heads: &BTreeMap<(String, String, i32), i64>) -> Vec<AnchoredOffset> {
    heads
        .iter()
        .map(|((source, topic, partition), last)| AnchoredOffset {
            source: source.clone(),
            topic: topic.clone(),
            partition: *partition,
            last_offset: *last,
        })
        .collect()
}

/// Writes a new anchor atomically (see the module docs).
pub(crate) fn write(
    path: &Path,
    seal: &Seal,
    entries: u64,
    head: &str,
    offsets: Vec<AnchoredOffset>,
) -> Result<(), AuditError> {
    let mut a = Anchor {
        version: VERSION,
        entries,
        head: head.to_string(),
        time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        key_id: seal.key_id().to_string(),
        offsets,
        mac: String::new(),
    };
    a.mac = seal.tag(&a.body());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp, "creating the anchor"))?;
    let text = serde_json::to_vec(&a).expect("an anchor always serialises");
    f.write_all(&text)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp, "writing the anchor"))?;
    std::fs::rename(&tmp, path).map_err(io_err(path, "replacing the anchor"))?;
    super::sync_dir(path)
}

/// Checks `heads` (the `hash` of every line of an intact chain) against the anchor: its seal and
/// key, then that the file holds every entry it records and that the
/// entry at its count is its head. Returns the entries it vouches for.
/// No anchor passes only an unkeyed trail (written before anchors existed).
pub(crate) fn check(
    trail: &Path,
    path: &Path,
    anchor: Option<&Anchor>,
    heads: &[String],
    seal: &Seal,
) -> Result<u64, AuditError> {
    let fail = |reason: String| AuditError::Anchor {
        path: trail.to_owned(),
        anchor: path.to_owned(),
        reason,
    };
    let Some(a) = anchor else {
        return match seal {
            Seal::Unkeyed => {
                tracing::warn!(anchor = %path.display(), "audit log: no anchor (a trail from before anchors): a cut-off tail cannot be detected");
                Ok(0)
            }
            Seal::Keyed(_) => Err(fail(
                "missing: kmirror writes it whenever it opens or appends to a keyed trail, so it was deleted or moved (restore it, e.g. from an off-host copy)".into(),
            )),
        };
    };
    if a.key_id != seal.key_id() {
        return Err(fail(format!(
            "written under key id `{}`, but the given key's id is `{}`",
            a.key_id,
            seal.key_id()
        )));
    }
    if !seal.check(&a.body(), &a.mac) {
        return Err(fail(
            "mac does not verify: the anchor was changed without the key".into(),
        ));
    }
    let found = heads.len() as u64;
    if a.entries > found {
        return Err(AuditError::Truncated {
            path: trail.to_owned(),
            anchor: path.to_owned(),
            anchored: a.entries,
            found,
            missing: a.entries - found,
        });
    }
    let head = match a.entries {
        0 => GENESIS,
        n => heads[n as usize - 1].as_str(),
    };
    if head != a.head {
        return Err(fail(format!(
            "entry {} (line {}) is not the anchored head: the trail was rewritten up to there",
            a.entries, a.entries
        )));
    }
    Ok(a.entries)
}
