//! The audit trail (`--audit.log FILE`): an append-only JSON Lines file
//! with one entry per committed source range, chained and authenticated
//! with a key, its anchor, and its checker (`kmirror audit verify FILE
//! --key KEY`).
//!
//! Each entry names a source partition's range `[first_offset,
//! last_offset]`, how many records and bytes it held, a SHA-256 over the
//! records' content, where the records landed on the target, the
//! principal of each side and the time. Entries are written and fsynced
//! *before* the offsets they describe are committed, so the trail never
//! claims less than was committed; it may claim more (a crash between the
//! fsync and the commit), and then the re-mirrored copies are not audited
//! again: on open, the highest audited offset of every partition is read
//! back and records up to it are skipped.
//!
//! Content hash: `sha256` of a range is SHA-256 over the concatenated
//! per-record digests ([`record_digest`]) in offset order; a record's
//! digest is SHA-256 over its key, value, headers and timestamp in a
//! length-prefixed encoding, so anyone holding the source records can
//! recompute it ([`range_hash`]).
//!
//! Chain: every entry carries `prev` (the previous entry's `hash`, 64
//! zeros for the first) and `hash`, the HMAC-SHA-256 under the audit key
//! ([`key::AuditKey`]) of the entry's JSON line with `hash` left out
//! (plain SHA-256 with `--audit.unkeyed`, which anyone who can write the
//! file can recompute). A line must be exactly the canonical serialisation
//! of its fields, so any edit, even of white space, breaks the chain at
//! that line; without the key, a changed entry cannot be re-chained.
//!
//! Anchor: the chain alone cannot show that its tail was cut off or that
//! the file was deleted. After every append (and on open) kmirror writes
//! `TRAIL.anchor` ([`anchor`]): the entry count, the last entry's `hash`
//! and each partition's last audited offset, itself MAC'd, replaced
//! atomically. `verify` reads the anchor and names the entries missing
//! from the file. Copying the anchor off the host (or placing it with
//! `--audit.anchor` on storage the trail's writers cannot change) also
//! defeats rolling back both files together.
//!
//! One writer: the trail is created mode 0600 and held with an exclusive
//! `flock` on `TRAIL.lock` ([`lock`]), which names the holder's pid.

pub mod anchor;
mod chain;
pub mod key;
mod lock;
pub mod rotation;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::security::resolve::SidePrincipal;

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A failure reading, writing or checking the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, read, written or synced.
    #[error("audit log {path}: {context}: {source}")]
    Io {
        /// The file (trail, anchor or lock file).
        path: PathBuf,
        /// What kmirror was doing.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An existing file is not a valid trail (only a torn last line is
    /// repaired on open; anything else is refused).
    #[error("audit log {path}: line {line}: {reason}")]
    Broken {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number of the first broken entry.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// `--audit.log` without `--audit.key` (nor `--audit.unkeyed`).
    #[error("audit log {path}: no --audit.key: an unkeyed trail can be rewritten by anyone who can write it; create a key (`head -c 32 /dev/urandom > audit.key && chmod 600 audit.key`) and pass --audit.key audit.key, or pass --audit.unkeyed to accept a trail that proves nothing against its writers")]
    NoKey {
        /// The audit file.
        path: PathBuf,
    },
    /// The key file was refused.
    #[error(transparent)]
    Key(#[from] key::KeyError),
    /// Another process holds the trail.
    #[error("audit log {path} is in use by another kmirror ({holder}, lock file {lock}); use one trail per kmirror process")]
    Locked {
        /// The audit file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as its lock file says (`pid N`), or `unknown`.
        holder: String,
    },
    /// The anchor names entries the file does not have.
    #[error("audit log {path}: the last {missing} entr{} missing: the anchor {anchor} records {anchored} entries, the file holds {found} (the tail was cut off, or the file replaced by an older copy)", if *missing == 1 { "y is" } else { "ies are" })]
    Truncated {
        /// The audit file.
        path: PathBuf,
        /// The anchor.
        anchor: PathBuf,
        /// Entries the anchor records.
        anchored: u64,
        /// Entries in the file.
        found: u64,
        /// `anchored - found`.
        missing: u64,
    },
    /// The trail is gone, but its anchor says it had entries.
    #[error("audit log {path} is missing, but its anchor {anchor} records {anchored} entries (the trail was deleted or moved)")]
    Missing {
        /// The audit file.
        path: PathBuf,
        /// The anchor.
        anchor: PathBuf,
        /// Entries the anchor records.
        anchored: u64,
    },
    /// The anchor is missing, forged, or disagrees with the trail.
    #[error("audit log {path}: anchor {anchor}: {reason}")]
    Anchor {
        /// The audit file.
        path: PathBuf,
        /// The anchor.
        anchor: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `kmirror audit rotate` refused to rotate.
    #[error("audit log {path}: cannot rotate the key: {reason}")]
    Rotation {
        /// The audit file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An earlier append failed: nothing more is written (or committed)
    /// in this run, since the file may end in a torn line.
    #[error(
        "audit log {path}: an earlier write failed; stopping without writing or committing more"
    )]
    Poisoned {
        /// The audit file.
        path: PathBuf,
    },
}

/// How entries and the anchor are authenticated.
#[derive(Debug, Clone)]
pub enum Seal {
    /// HMAC-SHA-256 under the audit key.
    Keyed(Arc<key::AuditKey>),
    /// Plain SHA-256 (`--audit.unkeyed`): detects accidents, not forgery.
    Unkeyed,
}

impl Seal {
    /// The tag of `body` (hex).
    pub fn tag(&self, body: &[u8]) -> String {
        match self {
            Seal::Keyed(k) => k.mac(body),
            Seal::Unkeyed => hex(&Sha256::digest(body)),
        }
    }

    /// Whether `tag` is the tag of `body` (constant time when keyed).
    pub fn check(&self, body: &[u8], tag: &str) -> bool {
        match self {
            Seal::Keyed(k) => k.verify(body, tag),
            Seal::Unkeyed => hex(&Sha256::digest(body)) == tag,
        }
    }

    /// The key's id, or empty when unkeyed.
    pub fn key_id(&self) -> &str {
        match self {
            Seal::Keyed(k) => k.id(),
            Seal::Unkeyed => "",
        }
    }
}

/// Longest line `verify` and `open` read (bytes): far above any real
/// entry, small enough that a hostile file cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// Largest offset an entry may name: far beyond any real Kafka offset,
/// low enough that `last_offset + 1` and range lengths cannot overflow.
pub const MAX_OFFSET: i64 = 1 << 62;

/// Longest string field (topic, labels, principals), in bytes.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Where a run of a range's records landed on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRange {
    /// Target topic.
    pub topic: String,
    /// Target partition.
    pub partition: i32,
    /// First target offset of the run.
    pub first_offset: i64,
    /// Last target offset of the run (inclusive).
    pub last_offset: i64,
}

/// Source offsets a range's records skipped over (issue #18, case 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedRange {
    /// First skipped offset.
    pub first_offset: i64,
    /// Last skipped offset (inclusive); the record after it is in the entry.
    pub last_offset: i64,
    /// What explains the skip: `transactions` (markers, aborted records),
    /// `compaction` or `retention`.
    pub reason: String,
}

/// The reasons a [`SkippedRange`] may give.
pub const SKIP_REASONS: &[&str] = &["transactions", "compaction", "retention"];

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Unix time in milliseconds when the entry was written (just before the commit).
    pub time_ms: u64,
    /// Source cluster label (`source 1`, ...).
    pub source: String,
    /// The source cluster's id as the broker reports it (empty if unknown).
    pub source_cluster_id: String,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// First source offset of the range.
    pub first_offset: i64,
    /// Last source offset of the range (inclusive).
    pub last_offset: i64,
    /// Records in the range.
    pub records: u64,
    /// Key + value bytes in the range.
    pub bytes: u64,
    /// SHA-256 (hex) of the range's content, see [`range_hash`].
    pub sha256: String,
    /// Where the records landed, in source-offset order, consecutive target
    /// offsets merged. Records dropped with `--abort.on.send.failure=false` have none.
    pub target: Vec<TargetRange>,
    /// Offsets skipped before records of this range, with the reason; left
    /// out of the line when there are none (so entries written before this
    /// field existed keep their canonical form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRange>,
    /// Principal kmirror used on the source.
    pub source_principal: String,
    /// Principal kmirror used on the target.
    pub target_principal: String,
    /// `hash` of the previous entry ([`GENESIS`] for the first).
    pub prev: String,
    /// HMAC-SHA-256 under the audit key (SHA-256 when unkeyed), hex, of
    /// this line with `hash` left out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl AuditEntry {
    /// The entry's canonical line with `hash` left out: what `hash` seals.
    pub fn body(&self) -> Vec<u8> {
        let body = AuditEntry {
            hash: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&body).expect("an entry always serialises")
    }

    /// The entry's line (without the newline), `hash` included.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("an entry always serialises")
    }

    /// Checks every field against what a real entry can hold, so a forged
    /// value (a huge offset, a giant string) is named instead of trusted.
    pub fn validate(&self) -> Result<(), String> {
        let hex64 = |name: &str, v: &str| {
            if v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                Ok(())
            } else {
                Err(format!("{name} is not 64 lowercase hex digits"))
            }
        };
        hex64("sha256", &self.sha256)?;
        hex64("prev", &self.prev)?;
        hex64("hash", &self.hash)?;
        for (name, v) in [
            ("source", &self.source),
            ("source_cluster_id", &self.source_cluster_id),
            ("topic", &self.topic),
            ("source_principal", &self.source_principal),
            ("target_principal", &self.target_principal),
        ] {
            if v.len() > MAX_FIELD_BYTES {
                return Err(format!("{name} is longer than {MAX_FIELD_BYTES} bytes"));
            }
        }
        let span = range_len("", self.partition, self.first_offset, self.last_offset)?;
        if self.records == 0 || self.records > span {
            return Err(format!(
                "records is {}, but the range [{}, {}] holds 1 to {span}",
                self.records, self.first_offset, self.last_offset
            ));
        }
        for k in &self.skipped {
            range_len("skipped ", self.partition, k.first_offset, k.last_offset)?;
            if k.last_offset >= self.last_offset {
                return Err(format!(
                    "skipped offsets [{}, {}] do not end before the range's last offset {}",
                    k.first_offset, k.last_offset, self.last_offset
                ));
            }
            if !SKIP_REASONS.contains(&k.reason.as_str()) {
                return Err(format!(
                    "skip reason {:?} is not one of {}",
                    k.reason,
                    SKIP_REASONS.join(", ")
                ));
            }
        }
        let mut landed = 0u64;
        for t in &self.target {
            if t.topic.len() > MAX_FIELD_BYTES {
                return Err(format!(
                    "a target topic is longer than {MAX_FIELD_BYTES} bytes"
                ));
            }
            landed += range_len("target ", t.partition, t.first_offset, t.last_offset)?;
        }
        if landed > self.records {
            return Err(format!(
                "{landed} records landed on the target, more than the {} in the range",
                self.records
            ));
        }
        Ok(())
    }
}

/// Records in `[first, last]`, if it is a valid range of a valid partition.
fn range_len(what: &str, partition: i32, first: i64, last: i64) -> Result<u64, String> {
    if partition < 0 {
        return Err(format!("{what}partition {partition} is negative"));
    }
    if !(0..=MAX_OFFSET).contains(&first) || !(first..=MAX_OFFSET).contains(&last) {
        return Err(format!(
            "{what}offsets [{first}, {last}] are not a range within 0..={MAX_OFFSET}"
        ));
    }
    // Both within 0..=2^62: no overflow.
    Ok((last - first + 1) as u64)
}

/// Unix time in milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The principal kmirror authenticates as on a side, as resolved before
/// connecting ([`SidePrincipal`]): Kerberos principal (configured, keytab
/// entry or ticket cache), SASL username, client certificate subject,
/// `ANONYMOUS` only without client authentication, `UNRESOLVED` when no
/// local file says.
pub fn principal_of(p: &SidePrincipal) -> String {
    p.record_name()
}

/// SHA-256 of one record's content: key, value, each header (name and
/// value) and timestamp, each absent/present tagged and length-prefixed
/// (big-endian u32 lengths, i64 timestamp), so no two contents collide by
/// concatenation.
pub fn record_digest<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    timestamp: Option<i64>,
) -> [u8; 32] {
    fn opt(h: &mut Sha256, b: Option<&[u8]>) {
        match b {
            None => h.update([0u8]),
            Some(b) => {
                h.update([1u8]);
                h.update((b.len() as u32).to_be_bytes());
                h.update(b);
            }
        }
    }
    let mut h = Sha256::new();
    opt(&mut h, key);
    opt(&mut h, value);
    let headers: Vec<_> = headers.into_iter().collect();
    h.update((headers.len() as u32).to_be_bytes());
    for (name, v) in headers {
        opt(&mut h, Some(name.as_bytes()));
        opt(&mut h, v);
    }
    opt(
        &mut h,
        timestamp.map(i64::to_be_bytes).as_ref().map(|t| &t[..]),
    );
    h.finalize().into()
}

/// The `sha256` of a range: SHA-256 over its records' digests in offset order (hex).
pub fn range_hash<'a>(digests: impl IntoIterator<Item = &'a [u8; 32]>) -> String {
    let mut h = Sha256::new();
    for d in digests {
        h.update(d);
    }
    hex(&h.finalize())
}

/// A record sent and not yet in a written entry.
#[derive(Debug, Clone)]
struct Pending {
    offset: i64,
    digest: [u8; 32],
    bytes: u64,
    landed: Option<(String, i32, i64)>,
}

/// The records of one source partition awaiting their entry.
#[derive(Debug, Default)]
pub struct PartitionTrail {
    pending: VecDeque<Pending>,
    /// Skips awaiting their entry (the one holding the record after each).
    skipped: VecDeque<SkippedRange>,
    /// Offsets up to this one are already in the trail (from a previous
    /// run whose commit did not happen): not audited twice.
    audited_through: Option<i64>,
}

/// An entry's worth of a partition's records, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDraft {
    /// First source offset.
    pub first_offset: i64,
    /// Last source offset (inclusive).
    pub last_offset: i64,
    /// Records.
    pub records: u64,
    /// Bytes.
    pub bytes: u64,
    /// [`range_hash`] of the records.
    pub sha256: String,
    /// Target landing runs.
    pub target: Vec<TargetRange>,
    /// Offsets skipped before the records.
    pub skipped: Vec<SkippedRange>,
}

impl PartitionTrail {
    /// A trail for a partition whose offsets up to `audited_through` are
    /// already in the file.
    pub fn new(audited_through: Option<i64>) -> Self {
        PartitionTrail {
            pending: VecDeque::new(),
            skipped: VecDeque::new(),
            audited_through,
        }
    }

    /// Offsets `first..=last` were skipped for `reason` (one of
    /// [`SKIP_REASONS`]); the record at `last + 1` is sent next.
    pub fn skipped(&mut self, first: i64, last: i64, reason: &str) {
        if self.audited_through.is_some_and(|a| last < a) {
            return;
        }
        self.skipped.push_back(SkippedRange {
            first_offset: first,
            last_offset: last,
            reason: reason.into(),
        });
    }

    /// A record was handed to a producer.
    pub fn sent(&mut self, offset: i64, digest: [u8; 32], bytes: u64) {
        if self.audited_through.is_some_and(|a| offset <= a) {
            return;
        }
        self.pending.push_back(Pending {
            offset,
            digest,
            bytes,
            landed: None,
        });
    }

    /// The target stored the record at `offset` at `topic [partition] target_offset`.
    pub fn landed(&mut self, offset: i64, topic: &str, partition: i32, target_offset: i64) {
        if let Ok(i) = self.pending.binary_search_by_key(&offset, |p| p.offset) {
            self.pending[i].landed = Some((topic.to_string(), partition, target_offset));
        }
    }

    /// Removes the records before `end` (a commit offset) and summarises
    /// them; `None` if there are none.
    pub fn take_before(&mut self, end: i64) -> Option<RangeDraft> {
        let n = self.pending.iter().take_while(|p| p.offset < end).count();
        if n == 0 {
            return None;
        }
        let recs: Vec<Pending> = self.pending.drain(..n).collect();
        let last = recs[n - 1].offset;
        let k = self
            .skipped
            .iter()
            .take_while(|k| k.last_offset < last)
            .count();
        let skipped: Vec<SkippedRange> = self.skipped.drain(..k).collect();
        let mut target: Vec<TargetRange> = Vec::new();
        for (topic, partition, off) in recs.iter().filter_map(|r| r.landed.clone()) {
            match target.last_mut() {
                Some(t)
                    if t.topic == topic && t.partition == partition && t.last_offset + 1 == off =>
                {
                    t.last_offset = off;
                }
                _ => target.push(TargetRange {
                    topic,
                    partition,
                    first_offset: off,
                    last_offset: off,
                }),
            }
        }
        Some(RangeDraft {
            first_offset: recs[0].offset,
            last_offset: recs[n - 1].offset,
            records: n as u64,
            bytes: recs.iter().map(|r| r.bytes).sum(),
            sha256: range_hash(recs.iter().map(|r| &r.digest)),
            target,
            skipped,
        })
    }
}

struct Writer {
    file: File,
    prev: String,
    /// Entries in the file.
    count: u64,
    /// (source label, topic, partition) → last audited offset, for the anchor.
    heads: BTreeMap<(String, String, i32), i64>,
    /// An append failed: the file may end in a torn line, so nothing more
    /// is written (and, the append failing, nothing more committed).
    poisoned: bool,
}

/// The open trail of a run, shared by every consumer.
pub struct AuditLog {
    path: PathBuf,
    anchor: PathBuf,
    seal: Seal,
    /// The principal kmirror uses on the target (same for every entry).
    target_principal: String,
    writer: Mutex<Writer>,
    /// (source label, topic, partition) → last audited offset, as read on open.
    audited: HashMap<(String, String, i32), i64>,
    /// Held for the life of the log: the exclusive lock on the trail.
    _lock: lock::TrailLock,
}

fn io_err(path: &Path, context: &'static str) -> impl FnOnce(std::io::Error) -> AuditError {
    let path = path.to_owned();
    move |source| AuditError::Io {
        path,
        context,
        source,
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs the directory holding `path`, so a created or renamed entry survives a crash.
pub(crate) fn sync_dir(path: &Path) -> Result<(), AuditError> {
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "fsync of the directory"))
}

/// Opens the trail for appending, created 0600 (and its directory entry
/// fsynced); an existing file readable by others is tightened to 0600.
fn open_trail_file(path: &Path) -> Result<File, AuditError> {
    let existed = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path, "opening"))?;
    if existed {
        let mode = file.metadata().map_err(io_err(path, "stat"))?.mode() & 0o7777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "audit log: mode {mode:04o} lets others read the trail; tightening to 0600");
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io_err(path, "chmod 600"))?;
        }
    } else {
        file.sync_all().map_err(io_err(path, "fsync"))?;
        sync_dir(path)?;
    }
    Ok(file)
}

impl AuditLog {
    /// Opens (or creates) the trail at `path`, locks it, checks its chain
    /// under `seal` and against its anchor (`anchor`, default
    /// `TRAIL.anchor`), and continues it. A torn last line (a crash
    /// mid-write, before the fsync, so before any commit relied on it) is
    /// cut off.
    pub fn open(
        path: &Path,
        anchor: Option<&Path>,
        seal: Seal,
        target_principal: &str,
    ) -> Result<AuditLog, AuditError> {
        let lock = lock::TrailLock::acquire(path)?;
        let anchor = anchor.map_or_else(|| anchor::default_path(path), Path::to_owned);
        let saved = anchor::read(&anchor)?;
        let mut file = open_trail_file(path)?;
        let text = std::fs::read(path).map_err(io_err(path, "reading"))?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(path = %path.display(), bytes = text.len() - complete, "audit log: cutting off a torn last line");
            file.set_len(complete as u64)
                .map_err(io_err(path, "truncating a torn line"))?;
            file.seek(SeekFrom::End(0))
                .map_err(io_err(path, "seeking"))?;
        }
        // Lines sealed under a retired key (before a rotation to this
        // one) are taken unverified: `verify` with every key checks them.
        let seals = [seal.clone()];
        let lines = chain::read_lines(
            path,
            &seals,
            chain::Retired::Trust,
            BufReader::new(&text[..complete]),
        )?;
        // An empty trail without an anchor is a new one (or a crash
        // between creating it and anchoring it): nothing to check.
        if saved.is_some() || !lines.heads.is_empty() {
            anchor::check(path, &anchor, saved.as_ref(), &lines.heads, &seal)?;
        }
        let entries = lines.entries;
        let mut audited = HashMap::new();
        for e in &entries {
            let k = (e.source.clone(), e.topic.clone(), e.partition);
            let v = audited.entry(k).or_insert(e.last_offset);
            *v = (*v).max(e.last_offset);
        }
        let prev = lines
            .heads
            .last()
            .map_or_else(|| GENESIS.to_string(), Clone::clone);
        let log = AuditLog {
            path: path.to_owned(),
            anchor,
            seal,
            target_principal: target_principal.to_string(),
            writer: Mutex::new(Writer {
                file,
                prev,
                count: lines.heads.len() as u64,
                heads: audited.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                poisoned: false,
            }),
            audited,
            _lock: lock,
        };
        // Anchored from the start: an emptied trail with its anchor
        // deleted must not pass as a trail that never had entries.
        log.write_anchor(&log.writer.lock().expect("audit lock"))?;
        Ok(log)
    }

    /// The anchor file.
    pub fn anchor_path(&self) -> &Path {
        &self.anchor
    }

    fn write_anchor(&self, w: &Writer) -> Result<(), AuditError> {
        let offsets = anchor::offsets(&w.heads);
        anchor::write(&self.anchor, &self.seal, w.count, &w.prev, offsets)
    }

    /// The last offset of a partition already in the trail when it was opened.
    pub fn audited_through(&self, source: &str, topic: &str, partition: i32) -> Option<i64> {
        self.audited
            .get(&(source.to_string(), topic.to_string(), partition))
            .copied()
    }

    /// An entry for `draft` of a source partition, ready for [`Self::append`].
    pub fn entry(
        &self,
        source: &str,
        source_cluster_id: &str,
        source_principal: &str,
        topic: &str,
        partition: i32,
        draft: RangeDraft,
    ) -> AuditEntry {
        AuditEntry {
            time_ms: 0,
            source: source.into(),
            source_cluster_id: source_cluster_id.into(),
            topic: topic.into(),
            partition,
            first_offset: draft.first_offset,
            last_offset: draft.last_offset,
            records: draft.records,
            bytes: draft.bytes,
            sha256: draft.sha256,
            target: draft.target,
            skipped: draft.skipped,
            source_principal: source_principal.into(),
            target_principal: self.target_principal.clone(),
            prev: String::new(),
            hash: String::new(),
        }
    }

    /// Appends the entries (filling in `prev`, `hash`, `time_ms`), fsyncs,
    /// and re-anchors. Only after this returns may the offsets be
    /// committed. After a failure every later call fails too
    /// ([`AuditError::Poisoned`]): the drafts of the failed call are gone,
    /// so no later commit may pass over their offsets.
    pub fn append(&self, mut entries: Vec<AuditEntry>) -> Result<(), AuditError> {
        let mut w = self.writer.lock().expect("audit lock");
        if w.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut out = String::new();
        let mut prev = w.prev.clone();
        for e in &mut entries {
            e.time_ms = now;
            e.prev = prev;
            e.hash = String::new();
            e.hash = self.seal.tag(&e.body());
            prev = e.hash.clone();
            out.push_str(&e.line());
            out.push('\n');
        }
        // Poisoned until every step below succeeded.
        w.poisoned = true;
        w.file
            .write_all(out.as_bytes())
            .map_err(io_err(&self.path, "appending"))?;
        w.file.sync_data().map_err(io_err(&self.path, "fsync"))?;
        w.prev = prev;
        w.count += entries.len() as u64;
        for e in &entries {
            let k = (e.source.clone(), e.topic.clone(), e.partition);
            let v = w.heads.entry(k).or_insert(e.last_offset);
            *v = (*v).max(e.last_offset);
        }
        self.write_anchor(&w)?;
        w.poisoned = false;
        Ok(())
    }
}

/// What [`verify`] found in an intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The entries, in file order.
    pub entries: Vec<AuditEntry>,
    /// Entries the anchor vouches for (the rest were written after the
    /// last anchor: a crash between the two writes).
    pub anchored: u64,
    /// The file ended in an unterminated line, ignored (a write in progress or a crash).
    pub incomplete_last_line: bool,
    /// The key rotations, in file order.
    pub rotations: Vec<rotation::KeyRotation>,
    /// The trail is sealed under a key at its end (not `--audit.unkeyed`).
    pub keyed: bool,
}

/// `kmirror audit verify FILE`: checks the whole chain, each line under
/// the key in effect there (`seals`: every key of the trail, see
/// [`rotation`]), then the trail against its anchor (`anchor`, default
/// `FILE.anchor`) under the key in effect at the end: returns the lines
/// when intact, else the first broken one, the number of lines cut off,
/// or a missing file or anchor. The anchor is read before the trail, so
/// a running mirror's newer lines are never mistaken for a missing tail.
pub fn verify(path: &Path, anchor: Option<&Path>, seals: &[Seal]) -> Result<Verified, AuditError> {
    assert!(!seals.is_empty(), "verify needs a key (or Seal::Unkeyed)");
    let anchor = anchor.map_or_else(|| anchor::default_path(path), Path::to_owned);
    let saved = anchor::read(&anchor)?;
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && saved.is_some() => {
            return Err(AuditError::Missing {
                path: path.to_owned(),
                anchor,
                anchored: saved.map_or(0, |a| a.entries),
            });
        }
        Err(e) => return Err(io_err(path, "opening")(e)),
    };
    let lines = chain::read_lines(path, seals, chain::Retired::Refuse, BufReader::new(f))?;
    let seal = lines.seal.clone().unwrap_or_else(|| seals[0].clone());
    let anchored = anchor::check(path, &anchor, saved.as_ref(), &lines.heads, &seal)?;
    Ok(Verified {
        entries: lines.entries,
        anchored,
        incomplete_last_line: lines.incomplete_last_line,
        rotations: lines.rotations,
        keyed: matches!(seal, Seal::Keyed(_)),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn seal() -> Seal {
        Seal::Keyed(Arc::new(key::AuditKey::from_bytes(vec![42; 32])))
    }

    fn open(p: &Path) -> AuditLog {
        AuditLog::open(p, None, seal(), "ANONYMOUS").unwrap()
    }

    fn check(p: &Path) -> Result<Verified, AuditError> {
        verify(p, None, &[seal()])
    }

    pub(super) fn entry(topic: &str, first: i64, last: i64) -> AuditEntry {
        AuditEntry {
            time_ms: 0,
            source: "source 1".into(),
            source_cluster_id: "abc".into(),
            topic: topic.into(),
            partition: 0,
            first_offset: first,
            last_offset: last,
            records: (last - first + 1) as u64,
            bytes: 10,
            sha256: range_hash([&[1u8; 32]]),
            target: vec![],
            skipped: Vec::new(),
            source_principal: "mirror@R".into(),
            target_principal: "ANONYMOUS".into(),
            prev: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn chain_verifies_and_any_edit_breaks_it_at_that_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = open(&p);
        log.append(vec![entry("t", 0, 9), entry("t", 10, 19)])
            .unwrap();
        drop(log);
        // Reopened: the chain continues and audited offsets are known.
        let log = open(&p);
        assert_eq!(log.audited_through("source 1", "t", 0), Some(19));
        log.append(vec![entry("t", 20, 29)]).unwrap();
        let entries = check(&p).unwrap().entries;
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].prev, GENESIS);
        assert_eq!(entries[2].prev, entries[1].hash);

        let text = std::fs::read_to_string(&p).unwrap();
        for (n, edit) in [
            (1, ("\"records\":10", "\"records\":11")),
            (2, ("\"first_offset\":10", "\"first_offset\":9")),
            (3, ("\"time_ms\":", "\"time_ms\": ")),
        ] {
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            lines[n - 1] = lines[n - 1].replacen(edit.0, edit.1, 1);
            let q = dir.path().join(format!("edited{n}.jsonl"));
            std::fs::write(&q, lines.join("\n") + "\n").unwrap();
            match check(&q) {
                Err(AuditError::Broken { line, .. }) => assert_eq!(line, n, "{edit:?}"),
                other => panic!("{edit:?}: {other:?}"),
            }
        }
        // Dropping a line breaks the chain at the line after it.
        let lines: Vec<&str> = text.lines().collect();
        let q = dir.path().join("dropped.jsonl");
        std::fs::write(&q, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(check(&q), Err(AuditError::Broken { line: 2, .. })));
    }

    /// A trail of three entries at `dir/audit.jsonl`, closed, with its lines.
    fn three(dir: &Path) -> (PathBuf, Vec<String>) {
        let p = dir.join("audit.jsonl");
        open(&p)
            .append(vec![
                entry("t", 0, 9),
                entry("t", 10, 19),
                entry("t", 20, 29),
            ])
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        (p, text.lines().map(String::from).collect())
    }

    fn write_lines(p: &Path, lines: &[String]) {
        std::fs::write(
            p,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    #[test]
    fn entry_rewritten_and_rechained_without_the_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (p, mut lines) = three(dir.path());
        // The attacker edits entry 2 and recomputes every later link, with
        // SHA-256 (the old unkeyed chain) or with a key of their own.
        for forger in [
            Seal::Unkeyed,
            Seal::Keyed(Arc::new(key::AuditKey::from_bytes(vec![1; 32]))),
        ] {
            let mut prev: String = serde_json::from_str::<AuditEntry>(&lines[0]).unwrap().hash;
            for (i, l) in lines.iter_mut().enumerate().skip(1) {
                let mut e: AuditEntry = serde_json::from_str(l).unwrap();
                if i == 1 {
                    e.records = 9;
                }
                e.prev = prev;
                e.hash = forger.tag(&e.body());
                prev = e.hash.clone();
                *l = e.line();
            }
            write_lines(&p, &lines);
            match check(&p) {
                Err(AuditError::Broken {
                    line: 2, reason, ..
                }) => {
                    assert!(reason.contains("without the key"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
            // Nor does the mirror continue it.
            assert!(matches!(
                AuditLog::open(&p, None, seal(), "A"),
                Err(AuditError::Broken { line: 2, .. })
            ));
        }
    }

    #[test]
    fn cut_tail_deleted_trail_and_forged_anchor_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (p, lines) = three(dir.path());
        assert_eq!(check(&p).unwrap().anchored, 3);
        let anchor = anchor::default_path(&p);
        let saved = std::fs::read(&anchor).unwrap();
        write_lines(&p, &lines[..1]);
        match check(&p) {
            Err(e @ AuditError::Truncated { missing: 2, .. }) => {
                assert!(e.to_string().contains("last 2 entries are missing"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        // The mirror refuses to continue (and so to re-anchor) a cut trail.
        assert!(matches!(
            AuditLog::open(&p, None, seal(), "A"),
            Err(AuditError::Truncated { missing: 2, .. })
        ));
        // Lowering the anchor's count to match needs the key.
        let mut a: anchor::Anchor = serde_json::from_slice(&saved).unwrap();
        a.entries = 1;
        a.head = serde_json::from_str::<AuditEntry>(&lines[0]).unwrap().hash;
        std::fs::write(&anchor, serde_json::to_vec(&a).unwrap()).unwrap();
        let e = check(&p).unwrap_err();
        assert!(e.to_string().contains("mac does not verify"), "{e}");
        // Deleting the anchor as well: refused for a keyed trail.
        std::fs::remove_file(&anchor).unwrap();
        let e = check(&p).unwrap_err();
        assert!(
            matches!(e, AuditError::Anchor { .. }) && e.to_string().contains("missing"),
            "{e}"
        );
        // Deleting the trail, the anchor kept.
        std::fs::write(&anchor, &saved).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(
            check(&p),
            Err(AuditError::Missing { anchored: 3, .. })
        ));
        // A different key is named as such.
        write_lines(&p, &lines);
        let other = Seal::Keyed(Arc::new(key::AuditKey::from_bytes(vec![9; 32])));
        assert!(matches!(
            verify(&p, None, std::slice::from_ref(&other)),
            Err(AuditError::Broken { line: 1, .. })
        ));
    }

    #[test]
    fn second_open_of_a_trail_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let first = open(&p);
        let mode = |f: &Path| std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        // Created private, whatever the umask.
        assert_eq!(mode(&p), 0o600);
        let e = AuditLog::open(&p, None, seal(), "A")
            .err()
            .expect("second open refused");
        assert!(
            e.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        // A trail others may read is tightened when reopened.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _again = open(&p);
        for f in [p.clone(), anchor::default_path(&p), lock::lock_path(&p)] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn forged_huge_values_are_rejected_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let (p, lines) = three(dir.path());
        // Sealed with the right key (an insider, or a bug), so only the
        // field checks can catch it; a huge offset would otherwise make
        // the next run skip auditing everything below it.
        let reseal = |f: &dyn Fn(&mut AuditEntry)| {
            let mut out = lines.clone();
            let mut e: AuditEntry = serde_json::from_str(&out[2]).unwrap();
            f(&mut e);
            e.hash = seal().tag(&e.body());
            out[2] = e.line();
            write_lines(&p, &out);
        };
        reseal(&|e| e.last_offset = i64::MAX);
        match check(&p) {
            Err(AuditError::Broken {
                line: 3, reason, ..
            }) => assert!(reason.contains("offsets"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            AuditLog::open(&p, None, seal(), "A"),
            Err(AuditError::Broken { line: 3, .. })
        ));
        reseal(&|e| e.records = u64::MAX);
        assert!(matches!(check(&p), Err(AuditError::Broken { line: 3, .. })));
        reseal(&|e| e.topic = "x".repeat(MAX_FIELD_BYTES + 1));
        assert!(matches!(check(&p), Err(AuditError::Broken { line: 3, .. })));
        // Beyond i64: not even parsed.
        let mut out = lines.clone();
        out[1] = out[1].replacen(
            "\"last_offset\":19",
            "\"last_offset\":100000000000000000000000000000",
            1,
        );
        write_lines(&p, &out);
        assert!(matches!(check(&p), Err(AuditError::Broken { line: 2, .. })));
        // A line too long to be an entry is refused without reading it all.
        let mut out = lines.clone();
        out[0] = "x".repeat(MAX_LINE_BYTES + 10);
        write_lines(&p, &out);
        assert!(matches!(check(&p), Err(AuditError::Broken { line: 1, .. })));
    }

    #[test]
    fn a_failed_append_fails_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = open(&p);
        log.append(vec![entry("t", 0, 4)]).unwrap();
        // The file descriptor turns read-only: the next write fails.
        log.writer.lock().unwrap().file = File::open(&p).unwrap();
        assert!(matches!(
            log.append(vec![entry("t", 5, 6)]),
            Err(AuditError::Io { .. })
        ));
        log.writer.lock().unwrap().file = OpenOptions::new().append(true).open(&p).unwrap();
        // Those drafts are gone: no later append (and so no commit) may pass them.
        assert!(matches!(
            log.append(vec![entry("t", 7, 8)]),
            Err(AuditError::Poisoned { .. })
        ));
        assert!(matches!(
            log.append(vec![]),
            Err(AuditError::Poisoned { .. })
        ));
    }

    #[test]
    fn unkeyed_trail_without_anchor_still_verifies_with_unkeyed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        AuditLog::open(&p, None, Seal::Unkeyed, "A")
            .unwrap()
            .append(vec![entry("t", 0, 4)])
            .unwrap();
        // A trail from before anchors.
        std::fs::remove_file(anchor::default_path(&p)).unwrap();
        let v = verify(&p, None, &[Seal::Unkeyed]).unwrap();
        assert_eq!((v.entries.len(), v.anchored), (1, 0));
        // Under a key it is refused at its first line.
        assert!(matches!(check(&p), Err(AuditError::Broken { line: 1, .. })));
    }

    #[test]
    fn torn_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        AuditLog::open(&p, None, seal(), "ANONYMOUS")
            .unwrap()
            .append(vec![entry("t", 0, 4)])
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"time_ms\":12").unwrap();
        drop(f);
        let log = open(&p);
        log.append(vec![entry("t", 5, 6)]).unwrap();
        assert_eq!(check(&p).unwrap().entries.len(), 2);
    }

    #[test]
    fn partition_trail_cuts_ranges_at_commits() {
        let d = |x: u8| [x; 32];
        let mut t = PartitionTrail::new(Some(1));
        for o in 0..6 {
            t.sent(o, d(o as u8), 3);
        }
        // 0 and 1 were audited by an earlier run.
        for o in 2..6 {
            t.landed(o, "tt", if o == 4 { 1 } else { 0 }, 100 + o);
        }
        assert_eq!(t.take_before(2), None);
        let r = t.take_before(5).unwrap();
        assert_eq!(
            (r.first_offset, r.last_offset, r.records, r.bytes),
            (2, 4, 3, 9)
        );
        assert_eq!(r.sha256, range_hash([&d(2), &d(3), &d(4)]));
        let runs: Vec<_> = r
            .target
            .iter()
            .map(|x| (x.partition, x.first_offset, x.last_offset))
            .collect();
        assert_eq!(runs, [(0, 102, 103), (1, 104, 104)]);
        assert_eq!(t.take_before(6).unwrap().first_offset, 5);
    }

    /// A skip goes into the entry holding the record after it, verifies,
    /// and is refused when it does not end before the entry's last offset
    /// or names an unknown reason. An entry without skips has no
    /// `skipped` field, as before it existed.
    #[test]
    fn skipped_ranges_go_with_the_record_after_them() {
        let mut t = PartitionTrail::new(None);
        t.sent(0, [0; 32], 1);
        t.skipped(1, 1, "transactions");
        t.sent(2, [2; 32], 1);
        t.skipped(3, 6, "compaction");
        t.sent(7, [7; 32], 1);
        let r = t.take_before(3).unwrap();
        assert_eq!((r.first_offset, r.last_offset, r.records), (0, 2, 2));
        let k = |f, l, why: &str| SkippedRange {
            first_offset: f,
            last_offset: l,
            reason: why.into(),
        };
        assert_eq!(r.skipped, [k(1, 1, "transactions")]);
        let r = t.take_before(8).unwrap();
        assert_eq!(r.skipped, [k(3, 6, "compaction")]);

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = open(&p);
        let mut e = entry("t", 0, 2);
        e.records = 2;
        e.skipped = vec![k(1, 1, "transactions")];
        log.append(vec![e.clone(), entry("t", 3, 4)]).unwrap();
        let v = check(&p).unwrap();
        assert_eq!(v.entries[0].skipped, e.skipped);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text
            .lines()
            .next()
            .unwrap()
            .contains("\"skipped\":[{\"first_offset\":1"));
        assert!(!text.lines().nth(1).unwrap().contains("skipped"));

        let mut e = v.entries[0].clone();
        assert_eq!(e.validate(), Ok(()));
        e.skipped = vec![k(1, 2, "transactions")];
        assert!(e.validate().unwrap_err().contains("do not end before"));
        e.skipped = vec![k(1, 1, "lost")];
        assert!(e.validate().unwrap_err().contains("not one of"));
    }

    #[test]
    fn record_digest_separates_fields() {
        let a = record_digest(Some(b"ab"), Some(b"c"), [], Some(1));
        let b = record_digest(Some(b"a"), Some(b"bc"), [], Some(1));
        let c = record_digest(Some(b"ab"), Some(b"c"), [("h", None)], Some(1));
        let e = record_digest(Some(b"ab"), Some(b"c"), [], None);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, e);
        assert_eq!(a, record_digest(Some(b"ab"), Some(b"c"), [], Some(1)));
    }
}
