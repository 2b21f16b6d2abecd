//! `--sync.group.offsets`: while mirroring, periodically translate the
//! committed offsets of matching source groups and commit them on the
//! target, for groups with no active members there, never backwards. The
//! source positions synced are written to the map topic too, so
//! `kmirror offsets translate --from.target` works when the source is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::groups::{self, GroupClient, GroupError, GroupLister, Offsets};
use super::store::{Entry, MapContents, MapReader, MapWriter};
use crate::config::{ClusterConfig, Config};

/// How long a round waits to read its own mark back from the map topic.
const MARK_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs until `stopping()`: one sync round every `--sync.group.offsets.interval.ms`.
pub(crate) fn run(
    config: &Config,
    source: &ClusterConfig,
    writer: &MapWriter,
    topics: &dyn Fn() -> Vec<String>,
    stopping: &dyn Fn() -> bool,
) {
    let (Some(re), Some(topic)) = (&config.sync_groups, writer.topic(&source.label)) else {
        return;
    };
    let mut reader = match MapReader::new(&config.target, topic) {
        Ok(r) => r,
        Err(e) => return warn!("group offset sync disabled: {e}"),
    };
    // One lister per side for the whole run (groups listed on the source,
    // members described on the target); per group and round, one client per
    // side bound to it (librdkafka reads and commits a client's own group).
    let listers = GroupLister::new(source).and_then(|s| Ok((s, GroupLister::new(&config.target)?)));
    let (source_groups, target_groups) = match listers {
        Ok(l) => l,
        Err(e) => return warn!("group offset sync disabled: {e}"),
    };
    let mut next = Instant::now() + config.sync_interval;
    while !stopping() {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next = Instant::now() + config.sync_interval;
        let round = Round {
            config,
            source,
            writer,
            re,
            source_groups: &source_groups,
            target_groups: &target_groups,
        };
        if let Err(e) = round.sync(&mut reader, &topics()) {
            warn!(cluster = %source.label, "group offset sync: {e}; retried in {:?}", config.sync_interval);
        }
    }
}

struct Round<'a> {
    config: &'a Config,
    source: &'a ClusterConfig,
    writer: &'a MapWriter,
    re: &'a regex::Regex,
    source_groups: &'a GroupLister<'a>,
    target_groups: &'a GroupLister<'a>,
}

impl Round<'_> {
    fn sync(&self, reader: &mut MapReader, topics: &[String]) -> Result<(), GroupError> {
        // Every run recorded before this round, not just what arrived
        // within an idle wait: a run of a replay recorded moments ago holds
        // the last copies the positions must translate to (a stale map gave
        // an earlier copy, and the group re-read the records in between).
        let contents = reader
            .read_through(self.writer, &self.source.label, MARK_TIMEOUT)?
            .clone();
        // Partitions the map knows of, per mirrored topic.
        let partitions: BTreeMap<String, Vec<i32>> = topics
            .iter()
            .filter_map(|t| Some((t.clone(), contents.runs.get(t)?.keys().copied().collect())))
            .collect();
        let own = self.source.group_id.as_deref().unwrap_or_default();
        for group in self.source_groups.list()? {
            if group == own || !self.re.is_match(&group) {
                continue;
            }
            self.sync_group(&contents, &group, &partitions)?;
        }
        Ok(())
    }

    /// Syncs one group: remembers its source positions on the map and,
    /// when it has no members on the target, commits their translation
    /// where it moves the target group forward.
    fn sync_group(
        &self,
        contents: &MapContents,
        group: &str,
        partitions: &BTreeMap<String, Vec<i32>>,
    ) -> Result<(), GroupError> {
        let positions = GroupClient::new(self.source, group)?.committed(partitions)?;
        if positions.is_empty() {
            return Ok(());
        }
        self.remember(contents, group, &positions)?;
        let members = self.target_groups.members(group)?;
        if members > 0 {
            debug!(%group, members, "group offset sync: active on the target, left alone");
            return Ok(());
        }
        let target = GroupClient::new(&self.config.target, group)?;
        let rows = groups::plan(contents, &positions, &Offsets::new());
        let current = target.committed(&groups::partitions_of(&rows))?;
        let rows = groups::plan(contents, &positions, &current);
        let commit = groups::to_commit(&rows);
        if commit.is_empty() {
            return Ok(());
        }
        target.commit(&commit)?;
        let partitions: usize = commit.values().map(BTreeMap::len).sum();
        let rereads: u64 = rows.iter().filter(|r| r.commit).map(|r| r.rereads).sum();
        let exact = rows.iter().filter(|r| r.commit).all(|r| r.exact);
        info!(%group, partitions, rereads, exact, "group offsets synced to the target");
        Ok(())
    }

    /// Writes the group's source positions to the map where they changed.
    fn remember(
        &self,
        contents: &MapContents,
        group: &str,
        positions: &Offsets,
    ) -> Result<(), GroupError> {
        let known = contents.groups.get(group);
        let entries: Vec<Entry> = positions
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, o)| (t, *p, *o)))
            .filter(|(t, p, o)| known.and_then(|k| k.get(*t)).and_then(|m| m.get(p)) != Some(o))
            .map(|(t, p, o)| Entry::Group {
                group: group.to_string(),
                topic: t.clone(),
                partition: p,
                offset: o,
            })
            .collect();
        Ok(self.writer.write(&self.source.label, &entries)?)
    }
}
