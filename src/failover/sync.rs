//! `--sync.group.offsets`: while mirroring, periodically translate the
//! committed offsets of matching source groups and commit them on the
//! target, for groups with no active members there, never backwards. The
//! source positions synced are written to the map topic too, so
//! `kmirror offsets translate --from.target` works when the source is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::groups::{self, GroupError, Offsets};
use super::store::{Entry, MapReader, MapWriter};
use crate::config::{ClusterConfig, Config};

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
}

impl Round<'_> {
    fn sync(&self, reader: &mut MapReader, topics: &[String]) -> Result<(), GroupError> {
        let contents = reader
            .catch_up(Duration::from_millis(200), Duration::from_secs(10))?
            .clone();
        // Partitions the map knows of, per mirrored topic.
        let partitions: BTreeMap<String, Vec<i32>> = topics
            .iter()
            .filter_map(|t| Some((t.clone(), contents.runs.get(t)?.keys().copied().collect())))
            .collect();
        let own = self.source.group_id.as_deref().unwrap_or_default();
        for group in groups::list(self.source)? {
            if group == own || !self.re.is_match(&group) {
                continue;
            }
            let positions = groups::committed(self.source, &group, &partitions)?;
            if positions.is_empty() {
                continue;
            }
            self.remember(&contents, &group, &positions)?;
            let members = groups::members(&self.config.target, &group)?;
            if members > 0 {
                debug!(%group, members, "group offset sync: active on the target, left alone");
                continue;
            }
            let rows = groups::plan(&contents, &positions, &Offsets::new());
            let current =
                groups::committed(&self.config.target, &group, &groups::partitions_of(&rows))?;
            let rows = groups::plan(&contents, &positions, &current);
            let commit = groups::to_commit(&rows);
            if commit.is_empty() {
                continue;
            }
            groups::commit(&self.config.target, &group, &commit)?;
            let partitions: usize = commit.values().map(BTreeMap::len).sum();
            let rereads: u64 = rows.iter().filter(|r| r.commit).map(|r| r.rereads).sum();
            let exact = rows.iter().filter(|r| r.commit).all(|r| r.exact);
            info!(%group, partitions, rereads, exact, "group offsets synced to the target");
        }
        Ok(())
    }

    /// Writes the group's source positions to the map where they changed.
    fn remember(
        &self,
        contents: &super::store::MapContents,
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
