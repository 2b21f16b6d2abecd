//! The exact offset map: where each mirrored source record landed on the
//! target, kept as runs, and the translation of a consumer group's source
//! positions into target positions.
//!
//! Every delivery report names the target partition and offset of one
//! source record. Consecutive source offsets landing at consecutive target
//! offsets of one target partition form a [`Run`]; without faults and with
//! `--preserve.partitions` a partition is one run per kmirror process. A
//! replay after a restart, an offset hole on the source (compaction,
//! transaction markers) or a record of another source partition landing in
//! between starts a new run.
//!
//! Translation ([`translate`]) is *safe*: a group that starts at the
//! translated target positions reads a copy of every source record at or
//! after its source position (never skips). Where the target holds several
//! copies of a record (a replayed suffix after `kill -9`), a position
//! translates to just before the *last* copy of the first record not yet
//! consumed, so nothing before it is read again when the map is exact; when
//! it cannot be exact the translation says how many records will be re-read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Source offsets `source .. source + count` of one source partition, copied
/// one for one to target offsets `target .. target + count` of
/// `target_partition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// First source offset.
    pub source: i64,
    /// Target partition the records landed in.
    pub target_partition: i32,
    /// Target offset of the first record.
    pub target: i64,
    /// Number of records.
    pub count: i64,
}

impl Run {
    /// One past the last source offset.
    pub fn source_end(&self) -> i64 {
        self.source + self.count
    }

    /// One past the last target offset.
    pub fn target_end(&self) -> i64 {
        self.target + self.count
    }

    /// Whether a record `source` → (`partition`, `target`) continues this run.
    fn continued_by(&self, source: i64, partition: i32, target: i64) -> bool {
        self.target_partition == partition
            && source == self.source_end()
            && target == self.target_end()
    }
}

/// A run being built, and how much of it is stored.
#[derive(Debug, Clone, Copy)]
struct Pending {
    run: Run,
    /// Records of the run (from its start) already stored.
    stored: i64,
}

/// Builds the runs of one source partition from its delivery reports, and
/// hands out what to store before an offset is committed.
///
/// The map holds exactly the records before the committed offset: then a
/// replay after a crash (which starts at the committed offset) starts just
/// after the last recorded record, and copies it makes before its first
/// commit are never mistaken for records the map already accounts for.
#[derive(Debug, Default)]
pub struct RunRecorder {
    /// The run each target partition's next record may continue.
    open: BTreeMap<i32, Pending>,
    /// Runs closed before being stored in full.
    closed: Vec<Pending>,
}

/// What [`RunRecorder::take_before`] handed out, to undo it if storing fails.
#[derive(Debug, Default)]
pub struct Taken {
    /// The runs to store, each from its start (a run is stored under its
    /// start, and grows).
    pub runs: Vec<Run>,
    /// (target partition, target offset) of each run and what was stored before.
    previous: Vec<((i32, i64), i64)>,
}

impl RunRecorder {
    /// The target acknowledged source offset `source` at `target` of
    /// target partition `partition`.
    pub fn delivered(&mut self, source: i64, partition: i32, target: i64) {
        if let Some(p) = self.open.get_mut(&partition) {
            if p.run.continued_by(source, partition, target) {
                p.run.count += 1;
                return;
            }
        }
        let run = Run {
            source,
            target_partition: partition,
            target,
            count: 1,
        };
        if let Some(old) = self.open.insert(partition, Pending { run, stored: 0 }) {
            self.closed.push(old);
        }
    }

    /// The runs to store before committing `committed`: every run's part
    /// before it, where more than already stored.
    pub fn take_before(&mut self, committed: i64) -> Taken {
        self.closed.retain(|p| p.stored < p.run.count);
        let mut taken = Taken::default();
        for p in self.closed.iter_mut().chain(self.open.values_mut()) {
            let n = (committed - p.run.source).clamp(0, p.run.count);
            if n > p.stored {
                taken
                    .previous
                    .push(((p.run.target_partition, p.run.target), p.stored));
                p.stored = n;
                taken.runs.push(Run { count: n, ..p.run });
            }
        }
        taken
    }

    /// Undoes a [`RunRecorder::take_before`] whose runs could not be
    /// stored: they are handed out again next time.
    pub fn put_back(&mut self, taken: Taken) {
        for (key, stored) in taken.previous {
            if let Some(p) = self
                .closed
                .iter_mut()
                .chain(self.open.values_mut())
                .find(|p| (p.run.target_partition, p.run.target) == key)
            {
                p.stored = p.stored.min(stored);
            }
        }
    }
}

/// Where a group should start on one target partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TargetPosition {
    /// Target partition.
    pub partition: i32,
    /// The offset to commit on the target.
    pub offset: i64,
    /// Records at or after `offset` that the map knows are copies of
    /// records the group had already consumed: it will read them again.
    pub rereads: u64,
    /// Whether the translation is exact: nothing is re-read. False when
    /// records the map cannot account for may be read again: the group's
    /// source position is ahead of the map (records copied but not yet
    /// recorded), or records copied by a kmirror process that was killed
    /// before recording them and never copied again lie after `offset`.
    pub exact: bool,
}

/// Half-open source offset intervals, merged.
#[derive(Debug, Default)]
struct Intervals(BTreeMap<i64, i64>);

impl Intervals {
    fn insert(&mut self, mut start: i64, mut end: i64) {
        if start >= end {
            return;
        }
        let overlapping: Vec<(i64, i64)> = self
            .0
            .range(..=end)
            .rev()
            .take_while(|(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.0.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    /// The first point of `[start, end)` not covered, if any.
    fn first_uncovered(&self, start: i64, end: i64) -> Option<i64> {
        let mut at = start;
        if let Some((_, &e)) = self.0.range(..=at).next_back() {
            at = at.max(e);
        }
        (at < end).then_some(at)
    }

    /// How many points at or after `from` are covered.
    fn covered_from(&self, from: i64) -> i64 {
        self.0.iter().map(|(&s, &e)| (e - s.max(from)).max(0)).sum()
    }
}

/// The runs of one source topic: source partition → runs.
pub type TopicRuns = BTreeMap<i32, Vec<Run>>;

/// Translates a group's source positions (source partition → the next
/// offset it would read) of one topic into target positions, one per
/// target partition holding a run of a source partition with a position.
///
/// For each target partition `q`, the position is the smallest of:
/// - for every source record at or after its partition's position, the
///   offset of its *last* copy on `q` (so every such record is read, and
///   earlier copies of replayed records are not);
/// - for every run followed on `q` by target offsets no run accounts for
///   (copies delivered but not recorded before a `kill -9`), the first of
///   those offsets whose record was not copied again later;
///
/// or, when nothing constrains it, one past the last recorded copy on `q`.
///
/// `preserved`: whether records kept their partition number
/// (`--preserve.partitions`), so that a source partition with no run yet
/// can only have copies on its own number.
pub fn translate(
    runs: &TopicRuns,
    positions: &BTreeMap<i32, i64>,
    preserved: bool,
) -> Vec<TargetPosition> {
    let mut by_target: BTreeMap<i32, Vec<(i32, Run)>> = BTreeMap::new();
    for (&p, rs) in runs {
        for r in rs {
            by_target
                .entry(r.target_partition)
                .or_default()
                .push((p, *r));
        }
    }
    let mut out = Vec::new();
    for (q, mut on_q) in by_target {
        on_q.sort_by_key(|(_, r)| r.target);
        if !on_q.iter().any(|(p, _)| positions.contains_key(p)) {
            continue;
        }
        let (offset, pulled_back) = target_position(q, &on_q, positions, preserved);
        let gap_uncertain = pulled_back || gap_may_reread(&on_q, positions, preserved, q, offset);
        let rereads = rereads_after(&on_q, positions, offset);
        // A group position past every recorded copy of its partition: the
        // records in between were copied but not recorded yet, and may be
        // read again. A partition with no run at all may have copies on any
        // target partition, unless every run kept its partition number.
        let ahead = positions.iter().any(|(p, &c)| {
            match runs
                .get(p)
                .and_then(|rs| rs.iter().map(Run::source_end).max())
            {
                Some(end) => c > end && on_q.iter().any(|(p2, _)| p2 == p),
                None => !preserved || *p == q,
            }
        });
        out.push(TargetPosition {
            partition: q,
            offset,
            rereads,
            exact: rereads == 0 && !gap_uncertain && !ahead,
        });
    }
    out
}

/// The safe position on one target partition (runs sorted by target
/// offset), and whether a gap of unrecorded copies pulled it back.
fn target_position(
    q: i32,
    on_q: &[(i32, Run)],
    positions: &BTreeMap<i32, i64>,
    preserved: bool,
) -> (i64, bool) {
    let end = on_q.iter().map(|(_, r)| r.target_end()).max().unwrap_or(0);
    let mut best: Option<i64> = None;
    // Last copies: walk runs from the latest target offset back; a record's
    // first sighting is its last copy.
    let mut seen: BTreeMap<i32, Intervals> = BTreeMap::new();
    for (p, r) in on_q.iter().rev() {
        let Some(&c) = positions.get(p) else { continue };
        let later = seen.entry(*p).or_default();
        if let Some(s) = later.first_uncovered(r.source.max(c), r.source_end()) {
            let t = r.target + (s - r.source);
            best = Some(best.map_or(t, |b| b.min(t)));
        }
        later.insert(r.source, r.source_end());
    }
    // The source partitions whose records can be on this target partition.
    let sources: Vec<i32> = positions
        .keys()
        .copied()
        .filter(|p| !preserved || *p == q)
        .collect();
    gap_floor(on_q, &sources, positions, best.unwrap_or(end))
}

/// Pulls `offset` back to the first record of a gap of unrecorded copies
/// below it that may hold records of `sources` copied nowhere later;
/// returns the offset and whether a gap did so.
fn gap_floor(
    on_q: &[(i32, Run)],
    sources: &[i32],
    positions: &BTreeMap<i32, i64>,
    mut offset: i64,
) -> (i64, bool) {
    let mut gap_uncertain = false;
    for (gap_start, next) in gaps(on_q) {
        if gap_start >= offset {
            break;
        }
        // The gap holds copies delivered but never recorded (a kmirror
        // process killed between delivery and recording): for each source
        // partition, its records from the end of its last run before the
        // gap, in order. Those copied again after the gap have later copies
        // (every replay starts at or before the end of what was recorded,
        // so later copies cover them in record order); the rest may exist
        // only here.
        let len = next - gap_start;
        let mut uncovered = false;
        let mut covered_one = 0;
        for p in sources {
            // Where the gap's records of `p` start: after its last run
            // before the gap; before any run (a process killed before its
            // first record), where its first replay started.
            let before = on_q
                .iter()
                .filter(|(p2, r)| p2 == p && r.target_end() <= gap_start)
                .map(|(_, r)| r.source_end())
                .max();
            let first_after = || {
                on_q.iter()
                    .filter(|(p2, r)| p2 == p && r.target >= next)
                    .map(|(_, r)| r.source)
                    .min()
            };
            // Before any run, the gap may also hold records before the
            // first recorded one (acknowledged without an offset): from the
            // group's position when it is earlier.
            let first = || first_after().map(|f| positions.get(p).map_or(f, |&c| f.min(c)));
            let Some(from) = before.or_else(first) else {
                // Nothing recorded of `p` here: the gap may hold any of it.
                uncovered = true;
                covered_one = 0;
                continue;
            };
            let mut again = Intervals::default();
            for (_, r) in on_q.iter().filter(|(p2, r)| p2 == p && r.target >= next) {
                again.insert(r.source.max(from), r.source_end());
            }
            // A gap whose first record was not copied again holds records
            // copied only there: copies acknowledged without an offset (an
            // idempotent retry of a batch already written) leave such a
            // gap, and the records after it are this process's next ones,
            // so counting them would hide it.
            let covered = if again.first_uncovered(from, from + 1).is_some() {
                0
            } else {
                again.covered_from(from)
            };
            uncovered |= covered < len;
            covered_one = covered;
        }
        if uncovered {
            // With one source partition the gap's first `covered` records
            // are the ones copied again; with several, their mix is unknown.
            let t = if sources.len() == 1 {
                gap_start + covered_one
            } else {
                gap_start
            };
            if t < offset {
                offset = t;
                gap_uncertain = true;
            }
        }
    }
    (offset, gap_uncertain)
}

/// Whether a gap of unrecorded copies at or after `offset` may hold copies
/// of records before their partition's position (the group would read them
/// again, uncounted): a gap with no run of a partition before it (its
/// records' offsets are unknown), or after a run ending before the position.
fn gap_may_reread(
    on_q: &[(i32, Run)],
    positions: &BTreeMap<i32, i64>,
    preserved: bool,
    q: i32,
    offset: i64,
) -> bool {
    let sources = positions.iter().filter(|(p, _)| !preserved || **p == q);
    let gaps: Vec<(i64, i64)> = gaps(on_q)
        .into_iter()
        .filter(|(_, next)| *next > offset)
        .collect();
    sources.clone().count() > 0
        && gaps.iter().any(|(gap_start, _)| {
            sources.clone().any(|(p, &c)| {
                on_q.iter()
                    .filter(|(p2, r)| p2 == p && r.target_end() <= *gap_start)
                    .map(|(_, r)| r.source_end())
                    .max()
                    .is_none_or(|from| from < c)
            })
        })
}

/// The stretches of target offsets between runs (sorted by target offset)
/// that no run accounts for: `(first, next recorded)`.
fn gaps(on_q: &[(i32, Run)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    // Offsets before the first run: copies of a process killed before it
    // recorded anything (or records kmirror did not write).
    let mut reached: Option<i64> = Some(0);
    for (_, r) in on_q {
        if let Some(e) = reached {
            if r.target > e {
                out.push((e, r.target));
            }
        }
        reached = Some(reached.map_or(r.target_end(), |e| e.max(r.target_end())));
    }
    out
}

/// Records at or after `offset` on one target partition that are copies of
/// records before their source partition's position.
fn rereads_after(on_q: &[(i32, Run)], positions: &BTreeMap<i32, i64>, offset: i64) -> u64 {
    on_q.iter()
        .filter_map(|(p, r)| {
            let c = *positions.get(p)?;
            // Target offsets t in [offset, target_end) with source < c.
            let from = offset.max(r.target);
            let to = r.target_end().min(r.target + (c - r.source));
            Some((to - from).max(0) as u64)
        })
        .sum()
}

#[cfg(test)]
mod tests;
