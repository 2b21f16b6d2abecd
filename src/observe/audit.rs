//! The audit trail (`--audit-log FILE`): an append-only JSON Lines file
//! with one entry per committed source range, chained by hash, and its
//! checker (`kmirror audit verify FILE`).
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
//! zeros for the first) and `hash`, the SHA-256 of the entry's JSON line
//! with `hash` left out. A line must be exactly the canonical serialisation
//! of its fields, so any edit, even of white space, breaks the chain at
//! that line.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::security::SecurityConfig;

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A failure reading or writing the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, read, written or synced.
    #[error("audit log {path}: {context}: {source}")]
    Io {
        /// The audit file.
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
}

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
    /// Principal kmirror used on the source.
    pub source_principal: String,
    /// Principal kmirror used on the target.
    pub target_principal: String,
    /// `hash` of the previous entry ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this line with `hash` left out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl AuditEntry {
    /// The entry's hash: SHA-256 of its canonical line without `hash`.
    pub fn compute_hash(&self) -> String {
        let body = AuditEntry {
            hash: String::new(),
            ..self.clone()
        };
        hex(&Sha256::digest(
            serde_json::to_vec(&body).expect("an entry always serialises"),
        ))
    }

    /// The entry's line (without the newline), `hash` included.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("an entry always serialises")
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The principal kmirror authenticates as with `sec`: the Kerberos
/// principal, else the SASL username, else `ANONYMOUS` (TLS without SASL,
/// or a Kerberos ticket cache without a named principal).
pub fn principal_of(sec: &SecurityConfig) -> String {
    sec.kerberos
        .as_ref()
        .and_then(|k| k.principal.clone())
        .or_else(|| sec.credentials.as_ref().map(|c| c.username.clone()))
        .unwrap_or_else(|| "ANONYMOUS".into())
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
}

impl PartitionTrail {
    /// A trail for a partition whose offsets up to `audited_through` are
    /// already in the file.
    pub fn new(audited_through: Option<i64>) -> Self {
        PartitionTrail {
            pending: VecDeque::new(),
            audited_through,
        }
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
        })
    }
}

struct Writer {
    file: File,
    prev: String,
}

/// The open trail of a run, shared by every consumer.
pub struct AuditLog {
    path: PathBuf,
    /// The principal kmirror uses on the target (same for every entry).
    target_principal: String,
    writer: Mutex<Writer>,
    /// (source label, topic, partition) → last audited offset, as read on open.
    audited: HashMap<(String, String, i32), i64>,
}

impl AuditLog {
    /// Opens (or creates) the trail at `path`, checks its chain, and
    /// continues it. A torn last line (a crash mid-write, before the
    /// fsync, so before any commit relied on it) is cut off.
    pub fn open(path: &Path, target_principal: &str) -> Result<AuditLog, AuditError> {
        let io = |context| {
            let path = path.to_owned();
            move |source| AuditError::Io {
                path,
                context,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io("opening"))?;
        let text = std::fs::read(path).map_err(io("reading"))?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(path = %path.display(), bytes = text.len() - complete, "audit log: cutting off a torn last line");
            file.set_len(complete as u64)
                .map_err(io("truncating a torn line"))?;
            file.seek(SeekFrom::End(0)).map_err(io("seeking"))?;
        }
        let entries = verify_lines(path, BufReader::new(&text[..complete]))?;
        let mut audited = HashMap::new();
        for e in &entries {
            let k = (e.source.clone(), e.topic.clone(), e.partition);
            let v = audited.entry(k).or_insert(e.last_offset);
            *v = (*v).max(e.last_offset);
        }
        let prev = entries
            .last()
            .map_or_else(|| GENESIS.to_string(), |e| e.hash.clone());
        Ok(AuditLog {
            path: path.to_owned(),
            target_principal: target_principal.to_string(),
            writer: Mutex::new(Writer { file, prev }),
            audited,
        })
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
            source_principal: source_principal.into(),
            target_principal: self.target_principal.clone(),
            prev: String::new(),
            hash: String::new(),
        }
    }

    /// Appends one entry per draft (filling in `prev`, `hash`, `time_ms`)
    /// and fsyncs. Only after this returns may the offsets be committed.
    pub fn append(&self, mut entries: Vec<AuditEntry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut w = self.writer.lock().expect("audit lock");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut out = String::new();
        let mut prev = w.prev.clone();
        for e in &mut entries {
            e.time_ms = now;
            e.prev = prev;
            e.hash = String::new();
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            out.push_str(&e.line());
            out.push('\n');
        }
        let io = |context| {
            let path = self.path.clone();
            move |source| AuditError::Io {
                path,
                context,
                source,
            }
        };
        w.file.write_all(out.as_bytes()).map_err(io("appending"))?;
        w.file.sync_data().map_err(io("fsync"))?;
        w.prev = prev;
        Ok(())
    }
}

/// Reads and checks every line; returns the entries, or the first broken one.
fn verify_lines(path: &Path, r: impl BufRead) -> Result<Vec<AuditEntry>, AuditError> {
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let broken = |reason: String| AuditError::Broken {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        let line = line.map_err(|source| AuditError::Io {
            path: path.to_owned(),
            context: "reading",
            source,
        })?;
        let e: AuditEntry =
            serde_json::from_str(&line).map_err(|e| broken(format!("not an audit entry: {e}")))?;
        if e.line() != line {
            return Err(broken("not in canonical form (the line was edited)".into()));
        }
        if e.prev != prev {
            return Err(broken(format!(
                "prev is {}, but the previous entry's hash is {prev}",
                e.prev
            )));
        }
        let want = e.compute_hash();
        if e.hash != want {
            return Err(broken(format!(
                "hash is {}, but the entry hashes to {want} (the entry was changed)",
                e.hash
            )));
        }
        prev = e.hash.clone();
        out.push(e);
    }
    Ok(out)
}

/// `kmirror audit verify FILE`: checks the whole chain; returns the
/// entries when intact, else the first broken entry.
pub fn verify(path: &Path) -> Result<Vec<AuditEntry>, AuditError> {
    let f = File::open(path).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        context: "opening",
        source,
    })?;
    verify_lines(path, BufReader::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(topic: &str, first: i64, last: i64) -> AuditEntry {
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
        let log = AuditLog::open(&p, "ANONYMOUS").unwrap();
        log.append(vec![entry("t", 0, 9), entry("t", 10, 19)])
            .unwrap();
        drop(log);
        // Reopened: the chain continues and audited offsets are known.
        let log = AuditLog::open(&p, "ANONYMOUS").unwrap();
        assert_eq!(log.audited_through("source 1", "t", 0), Some(19));
        log.append(vec![entry("t", 20, 29)]).unwrap();
        let entries = verify(&p).unwrap();
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
            match verify(&q) {
                Err(AuditError::Broken { line, .. }) => assert_eq!(line, n, "{edit:?}"),
                other => panic!("{edit:?}: {other:?}"),
            }
        }
        // Dropping a line breaks the chain at the line after it.
        let lines: Vec<&str> = text.lines().collect();
        let q = dir.path().join("dropped.jsonl");
        std::fs::write(&q, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(
            verify(&q),
            Err(AuditError::Broken { line: 2, .. })
        ));
    }

    #[test]
    fn torn_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        AuditLog::open(&p, "ANONYMOUS")
            .unwrap()
            .append(vec![entry("t", 0, 4)])
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"time_ms\":12").unwrap();
        drop(f);
        let log = AuditLog::open(&p, "ANONYMOUS").unwrap();
        log.append(vec![entry("t", 5, 6)]).unwrap();
        assert_eq!(verify(&p).unwrap().len(), 2);
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
