//! The no-loss checker: compares what was read from a source topic with
//! what was read from its mirror and states every violation of kmirror's
//! guarantee.
//!
//! The guarantee, per source partition:
//! - every source record is on the target, byte-equal (key, value, headers,
//!   timestamp);
//! - records with the same key keep their source order on the target;
//! - duplicates appear only as a replayed suffix after a fault: within a
//!   key, the target sequence only ever continues with the next record or
//!   restarts at an earlier one (and then continues from there);
//! - a committed source offset never passes the contiguous prefix of records
//!   that are on the target.
//!
//! Records are matched by content, so the sample data must be unique per
//! record (the rig's generator writes a unique id into every value).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::cluster::{Record, RecordContent};

/// How records are expected to be partitioned on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// Keyed records are partitioned by key (murmur2): all records of one
    /// key must be on one target partition.
    ByKey,
    /// `--preserve.partitions`: a record lands on its source partition number.
    Preserve,
}

/// What the checker found when everything held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records read from the source.
    pub source_records: usize,
    /// Records read from the target.
    pub target_records: usize,
    /// Target records that repeat an earlier one (replayed suffixes).
    pub duplicates: usize,
    /// Distinct keys checked for order.
    pub keys: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} source records, {} on target ({} duplicates from replay), {} keys in order",
            self.source_records, self.target_records, self.duplicates, self.keys
        )
    }
}

/// One broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A source record is not on the target (lost or altered).
    Missing {
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
    },
    /// A target record matches no source record (altered or foreign).
    Unknown {
        /// Target partition.
        partition: i32,
        /// Target offset.
        offset: i64,
    },
    /// Within one key, the target skipped ahead instead of continuing or
    /// replaying.
    OutOfOrder {
        /// Source partition of the key.
        source_partition: i32,
        /// The key.
        key: String,
        /// Target partition/offset where the order broke.
        at: (i32, i64),
        /// Position (within the key's source sequence) expected next at most.
        expected_at_most: usize,
        /// Position found.
        found: usize,
    },
    /// `--preserve.partitions`: a target partition's records are not in
    /// their source partition's order (keys aside).
    PartitionOutOfOrder {
        /// Target partition/offset where the order broke.
        at: (i32, i64),
        /// Position (within the source partition) expected next at most.
        expected_at_most: usize,
        /// Position found.
        found: usize,
    },
    /// One key's records are spread over several target partitions.
    KeySplit {
        /// The key.
        key: String,
        /// The target partitions it was found on.
        partitions: Vec<i32>,
    },
    /// `--preserve.partitions` was expected but a record moved.
    WrongPartition {
        /// Source partition/offset.
        source: (i32, i64),
        /// Target partition.
        target_partition: i32,
    },
    /// The committed offset passes a record that is not on the target.
    CommittedPastDelivered {
        /// Source partition.
        partition: i32,
        /// Committed offset.
        committed: i64,
        /// First source offset below it that is missing on the target.
        missing_offset: i64,
    },
    /// The source data has two identical records; the checker cannot tell
    /// them apart.
    AmbiguousSource {
        /// Source partition/offset of the second copy.
        at: (i32, i64),
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Missing { partition, offset } => {
                write!(f, "source record {partition}@{offset} is missing on the target")
            }
            Violation::Unknown { partition, offset } => write!(
                f,
                "target record {partition}@{offset} matches no source record (altered?)"
            ),
            Violation::OutOfOrder {
                source_partition,
                key,
                at,
                expected_at_most,
                found,
            } => write!(
                f,
                "key {key:?} (source partition {source_partition}): target {}@{} holds its record #{found}, expected #{expected_at_most} or an earlier one (replay)",
                at.0, at.1
            ),
            Violation::PartitionOutOfOrder {
                at,
                expected_at_most,
                found,
            } => write!(
                f,
                "target {}@{} holds its source partition's record #{found}, expected #{expected_at_most} or an earlier one (replay)",
                at.0, at.1
            ),
            Violation::KeySplit { key, partitions } => {
                write!(f, "key {key:?} is spread over target partitions {partitions:?}")
            }
            Violation::WrongPartition {
                source,
                target_partition,
            } => write!(
                f,
                "source record {}@{} landed on target partition {target_partition}",
                source.0, source.1
            ),
            Violation::CommittedPastDelivered {
                partition,
                committed,
                missing_offset,
            } => write!(
                f,
                "partition {partition}: committed offset {committed} passes record {missing_offset}, which is not on the target"
            ),
            Violation::AmbiguousSource { at } => {
                write!(f, "source record {}@{} duplicates an earlier one", at.0, at.1)
            }
        }
    }
}

/// The violations found, printable as one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} violation(s) of the no-loss guarantee:", self.0.len())?;
        for v in self.0.iter().take(20) {
            writeln!(f, "  - {v}")?;
        }
        if self.0.len() > 20 {
            writeln!(f, "  ... and {} more", self.0.len() - 20)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Checks `target` against `source` (both as read by
/// [`crate::cluster::read_all`]).
pub fn check(
    source: &[Record],
    target: &[Record],
    partitioning: Partitioning,
) -> Result<Report, Violations> {
    let mut violations = Vec::new();

    // Position of each source record within its (partition, key) sequence.
    let mut index: HashMap<RecordContent<'_>, (usize, usize)> =
        HashMap::with_capacity(source.len());
    let mut groups: BTreeMap<(i32, Option<&[u8]>), Vec<usize>> = BTreeMap::new();
    let mut sorted: Vec<usize> = (0..source.len()).collect();
    sorted.sort_by_key(|&i| (source[i].partition, source[i].offset));
    let mut group_ids: HashMap<(i32, Option<&[u8]>), usize> = HashMap::new();
    let mut group_keys: Vec<(i32, Option<&[u8]>)> = Vec::new();
    // Position of each source record within its partition.
    let mut rank = vec![0; source.len()];
    let mut partition_len: HashMap<i32, usize> = HashMap::new();
    for &i in &sorted {
        let r = &source[i];
        let n = partition_len.entry(r.partition).or_default();
        rank[i] = *n;
        *n += 1;
        let gk = (r.partition, r.key.as_deref());
        let gid = *group_ids.entry(gk).or_insert_with(|| {
            group_keys.push(gk);
            group_keys.len() - 1
        });
        let seq = groups.entry(gk).or_default();
        if index.insert(r.content(), (gid, seq.len())).is_some() {
            violations.push(Violation::AmbiguousSource {
                at: (r.partition, r.offset),
            });
        }
        seq.push(i);
    }

    // Walk the target in (partition, offset) order, per key.
    let mut tsorted: Vec<&Record> = target.iter().collect();
    tsorted.sort_by_key(|r| (r.partition, r.offset));
    let mut seen: HashSet<(usize, usize)> = HashSet::with_capacity(source.len());
    let mut prev: HashMap<usize, usize> = HashMap::new();
    let mut prev_in_partition: HashMap<i32, usize> = HashMap::new();
    let mut key_partitions: HashMap<usize, Vec<i32>> = HashMap::new();
    let mut duplicates = 0;
    for t in &tsorted {
        let Some(&(gid, pos)) = index.get(&t.content()) else {
            violations.push(Violation::Unknown {
                partition: t.partition,
                offset: t.offset,
            });
            continue;
        };
        if !seen.insert((gid, pos)) {
            duplicates += 1;
        }
        let (sp, key) = group_keys[gid];
        let src_index = groups[&(sp, key)][pos];
        let src = &source[src_index];
        if partitioning == Partitioning::Preserve {
            if t.partition != src.partition {
                violations.push(Violation::WrongPartition {
                    source: (src.partition, src.offset),
                    target_partition: t.partition,
                });
            } else {
                // One source partition, one target partition: the whole
                // partition keeps its order, not only each key.
                let r = rank[src_index];
                let last = prev_in_partition.insert(sp, r);
                if !last.map_or(r == 0, |p| r == p + 1 || r <= p) {
                    violations.push(Violation::PartitionOutOfOrder {
                        at: (t.partition, t.offset),
                        expected_at_most: last.map_or(0, |p| p + 1),
                        found: r,
                    });
                }
            }
        }
        // Records without a key carry no order guarantee once partitioned.
        let Some(key) = key else { continue };
        let parts = key_partitions.entry(gid).or_default();
        if !parts.contains(&t.partition) {
            parts.push(t.partition);
        }
        let next_ok = match prev.get(&gid) {
            None => pos == 0,
            Some(&p) => pos == p + 1 || pos <= p,
        };
        if !next_ok {
            violations.push(Violation::OutOfOrder {
                source_partition: sp,
                key: String::from_utf8_lossy(key).into_owned(),
                at: (t.partition, t.offset),
                expected_at_most: prev.get(&gid).map_or(0, |p| p + 1),
                found: pos,
            });
        }
        prev.insert(gid, pos);
    }

    if partitioning == Partitioning::ByKey {
        for (gid, parts) in &key_partitions {
            if parts.len() > 1 {
                let key = group_keys[*gid].1.unwrap_or_default();
                violations.push(Violation::KeySplit {
                    key: String::from_utf8_lossy(key).into_owned(),
                    partitions: parts.clone(),
                });
            }
        }
    }

    for r in source {
        let (gid, pos) = index[&r.content()];
        if !seen.contains(&(gid, pos)) {
            violations.push(Violation::Missing {
                partition: r.partition,
                offset: r.offset,
            });
        }
    }

    if violations.is_empty() {
        Ok(Report {
            source_records: source.len(),
            target_records: target.len(),
            duplicates,
            keys: group_keys.iter().filter(|g| g.1.is_some()).count(),
        })
    } else {
        Err(Violations(violations))
    }
}

/// Checks that no committed offset passes a record missing on the target:
/// for each partition with committed offset `C`, every source record with
/// offset `< C` must be on the target.
pub fn check_committed(
    source: &[Record],
    target: &[Record],
    committed: &BTreeMap<i32, Option<i64>>,
) -> Result<(), Violations> {
    let on_target: HashSet<RecordContent<'_>> = target.iter().map(|r| r.content()).collect();
    let mut violations = Vec::new();
    for (&partition, committed) in committed {
        let Some(c) = *committed else { continue };
        if let Some(missing) = source
            .iter()
            .filter(|r| r.partition == partition && r.offset < c)
            .filter(|r| !on_target.contains(&r.content()))
            .map(|r| r.offset)
            .min()
        {
            violations.push(Violation::CommittedPastDelivered {
                partition,
                committed: c,
                missing_offset: missing,
            });
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Violations(violations))
    }
}

/// The offset after the last source record of each partition: what a
/// finished mirror's committed offsets must equal.
pub fn end_offsets(source: &[Record]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for r in source {
        let e = ends.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(partition: i32, offset: i64, key: &str, v: &str) -> Record {
        Record {
            partition,
            offset,
            key: Some(key.as_bytes().to_vec()),
            value: Some(v.as_bytes().to_vec()),
            headers: vec![("h".into(), Some(b"x".to_vec()))],
            timestamp: Some(offset),
        }
    }

    fn source() -> Vec<Record> {
        vec![
            rec(0, 0, "a", "a0"),
            rec(0, 1, "b", "b0"),
            rec(0, 2, "a", "a1"),
            rec(0, 3, "a", "a2"),
            rec(1, 0, "c", "c0"),
        ]
    }

    fn at(src: &[Record], i: usize, tp: i32, to: i64) -> Record {
        Record {
            partition: tp,
            offset: to,
            ..src[i].clone()
        }
    }

    #[test]
    fn exact_copy_passes() {
        let s = source();
        let t: Vec<_> = [0, 2, 3]
            .iter()
            .enumerate()
            .map(|(o, &i)| at(&s, i, 0, o as i64))
            .chain([at(&s, 1, 1, 0), at(&s, 4, 2, 0)])
            .collect();
        let r = check(&s, &t, Partitioning::ByKey).unwrap();
        assert_eq!(r.duplicates, 0);
        assert_eq!(r.keys, 3);
    }

    #[test]
    fn replayed_suffix_passes_but_gap_and_reorder_fail() {
        let s = source();
        let seq = |idx: &[usize]| -> Vec<Record> {
            idx.iter()
                .enumerate()
                .map(|(o, &i)| at(&s, i, 0, o as i64))
                .chain([at(&s, 1, 1, 0), at(&s, 4, 2, 0)])
                .collect()
        };
        // a0 a1 a2 a1 a2: replay of a suffix.
        let r = check(&s, &seq(&[0, 2, 3, 2, 3]), Partitioning::ByKey).unwrap();
        assert_eq!(r.duplicates, 2);
        // a0 a2 a1: a1 skipped then reordered.
        let e = check(&s, &seq(&[0, 3, 2]), Partitioning::ByKey).unwrap_err();
        assert!(
            matches!(e.0[0], Violation::OutOfOrder { found: 2, .. }),
            "{e}"
        );
        // a0 a2: a1 lost.
        let e = check(&s, &seq(&[0, 3]), Partitioning::ByKey).unwrap_err();
        assert!(e
            .0
            .iter()
            .any(|v| matches!(v, Violation::Missing { offset: 2, .. })));
    }

    #[test]
    fn altered_record_and_split_key_fail() {
        let s = source();
        let mut altered = at(&s, 4, 2, 0);
        altered.headers[0].1 = Some(b"y".to_vec());
        let t = vec![
            at(&s, 0, 0, 0),
            at(&s, 2, 0, 1),
            at(&s, 3, 3, 0),
            at(&s, 1, 1, 0),
            altered,
        ];
        let e = check(&s, &t, Partitioning::ByKey).unwrap_err();
        assert!(e
            .0
            .iter()
            .any(|v| matches!(v, Violation::Unknown { partition: 2, .. })));
        assert!(e.0.iter().any(|v| matches!(
            v,
            Violation::Missing {
                partition: 1,
                offset: 0
            }
        )));
        assert!(e.0.iter().any(|v| matches!(v, Violation::KeySplit { .. })));
    }

    /// With --preserve.partitions a partition keeps its whole order: keys
    /// in order but interleaved differently is a violation; a replayed
    /// suffix is not.
    #[test]
    fn preserve_checks_partition_order() {
        let s = source();
        let copy = |order: &[usize]| -> Vec<Record> {
            let mut t: Vec<_> = order
                .iter()
                .enumerate()
                .map(|(o, &i)| at(&s, i, 0, o as i64))
                .collect();
            t.push(at(&s, 4, 1, 0));
            t
        };
        let swapped = copy(&[0, 2, 1, 3]);
        assert!(check(&s, &swapped, Partitioning::ByKey).is_ok());
        let e = check(&s, &swapped, Partitioning::Preserve).unwrap_err();
        assert_eq!(
            e.0,
            vec![
                Violation::PartitionOutOfOrder {
                    at: (0, 1),
                    expected_at_most: 1,
                    found: 2
                },
                // After 1 (taken as a replay of 2), 3 skips 2 again.
                Violation::PartitionOutOfOrder {
                    at: (0, 3),
                    expected_at_most: 2,
                    found: 3
                }
            ]
        );
        let replayed = copy(&[0, 1, 0, 1, 2, 3]);
        assert!(check(&s, &replayed, Partitioning::Preserve).is_ok());
    }

    #[test]
    fn preserve_partitions_and_committed() {
        let s = source();
        let t = vec![at(&s, 0, 0, 0), at(&s, 1, 0, 1), at(&s, 4, 0, 2)];
        let e = check(&s, &t, Partitioning::Preserve).unwrap_err();
        assert!(e
            .0
            .iter()
            .any(|v| matches!(v, Violation::WrongPartition { source: (1, 0), .. })));
        let committed: BTreeMap<i32, Option<i64>> = [(0, Some(2)), (1, None)].into();
        assert!(check_committed(&s, &t, &committed).is_ok());
        let committed: BTreeMap<i32, Option<i64>> = [(0, Some(3))].into();
        let e = check_committed(&s, &t, &committed).unwrap_err();
        assert_eq!(
            e.0,
            vec![Violation::CommittedPastDelivered {
                partition: 0,
                committed: 3,
                missing_offset: 2
            }]
        );
        assert_eq!(end_offsets(&s), [(0, 4), (1, 1)].into());
    }
}
