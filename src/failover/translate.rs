//! `kmirror offsets translate`: one group's target positions, printed and,
//! with `--apply`, committed on the target.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tracing::warn;

use super::groups::{self, GroupError, Offsets, Row};
use super::store::{self, MapContents, MapReader, MapWriter};
use crate::config::Config;

/// What `kmirror offsets translate` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The consumer group.
    pub group: String,
    /// Only these topics (empty: all the map holds that the whitelist matches).
    pub topics: Vec<String>,
    /// Commit on the target.
    pub apply: bool,
    /// Use the positions last synced to the target instead of the source's.
    pub from_target: bool,
    /// The lost source's cluster id (names the map topic).
    pub source_cluster_id: Option<String>,
}

/// The translation of one group.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The group.
    pub group: String,
    /// The map topic read.
    pub map_topic: String,
    /// Where the source positions came from: `source` (committed offsets
    /// now) or `target` (last synced by --sync.group.offsets).
    pub positions_from: String,
    /// Whether the mirror preserved partition numbers.
    pub preserve_partitions: bool,
    /// One row per target partition.
    pub partitions: Vec<Row>,
    /// Whether the offsets marked `commit` were committed on the target.
    pub applied: bool,
}

impl Report {
    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "group {} (positions from the {}, map {}{})\n",
            self.group,
            self.positions_from,
            self.map_topic,
            if self.preserve_partitions {
                ""
            } else {
                ", partitions NOT preserved: translations may re-read"
            }
        );
        out.push_str(&format!(
            "{:<30} {:>9} {:>13} {:>13} {:>13} {:>8} {:>5} {:>7}\n",
            "TOPIC",
            "PARTITION",
            "SOURCE-OFFSET",
            "TARGET-OFFSET",
            "CURRENT",
            "RE-READS",
            "EXACT",
            "ACTION"
        ));
        let opt = |o: Option<i64>| o.map_or_else(|| "-".to_string(), |o| o.to_string());
        for r in &self.partitions {
            let action = match (r.commit, self.applied) {
                (false, _) => "keep",
                (true, true) => "commit",
                (true, false) => "would",
            };
            out.push_str(&format!(
                "{:<30} {:>9} {:>13} {:>13} {:>13} {:>8} {:>5} {:>7}\n",
                r.topic,
                r.partition,
                opt(r.source_offset),
                r.target_offset,
                opt(r.current),
                r.rereads,
                if r.exact { "yes" } else { "no" },
                action
            ));
        }
        let rereads: u64 = self.partitions.iter().map(|r| r.rereads).sum();
        out.push_str(&format!(
            "{} partition(s), {rereads} record(s) re-read{}\n",
            self.partitions.len(),
            if self.applied {
                ", committed on the target"
            } else {
                " (add --apply to commit)"
            }
        ));
        out
    }
}

/// Translates `req.group`'s offsets (first source cluster) and, with
/// `apply`, commits them on the target.
pub fn run(config: &Config, req: &Request) -> Result<Report, GroupError> {
    let topic = map_topic(config, req)?;
    let contents = read_map(config, &topic)?;
    let topics: Vec<String> = contents
        .runs
        .keys()
        .filter(|t| {
            if req.topics.is_empty() {
                config.filter.matches(t)
            } else {
                req.topics.contains(t)
            }
        })
        .cloned()
        .collect();
    let (positions, from) = positions(config, req, &contents, &topics)?;
    let current = groups::committed(
        &config.target,
        &req.group,
        &groups::partitions_of(&groups::plan(&contents, &positions, &Offsets::new())),
    )?;
    let rows = groups::plan(&contents, &positions, &current);
    if req.apply {
        let members = groups::members(&config.target, &req.group)?;
        if members > 0 {
            return Err(GroupError::Active {
                group: req.group.clone(),
                members,
            });
        }
        groups::commit(&config.target, &req.group, &groups::to_commit(&rows))?;
    }
    Ok(Report {
        group: req.group.clone(),
        map_topic: topic,
        positions_from: from.into(),
        preserve_partitions: contents.preserve_partitions.unwrap_or(false),
        partitions: rows,
        applied: req.apply,
    })
}

/// The map, read through a mark written now (every entry acknowledged
/// before it, even while a mirror writes); without WRITE on the map topic,
/// read until it is idle for a second.
fn read_map(config: &Config, topic: &str) -> Result<MapContents, GroupError> {
    let mut reader = MapReader::new(&config.target, topic)?;
    if !reader.topic_exists()? {
        return Err(GroupError::NoMap {
            reason: format!(
                "the target has no topic {topic}: was the mirror run with --offset.map or --sync.group.offsets?"
            ),
        });
    }
    let label = config.sources[0].label.clone();
    let through = MapWriter::new(
        &config.target,
        BTreeMap::from([(label.clone(), topic.to_string())]),
    )
    .and_then(|w| Ok(reader.read_through(&w, &label, READ_TIMEOUT)?.clone()));
    match through {
        Ok(contents) => Ok(contents),
        Err(e) => {
            warn!("{e}: reading the map until nothing new arrives for 1 s instead");
            Ok(reader
                .catch_up(Duration::from_secs(1), READ_TIMEOUT)?
                .clone())
        }
    }
}

/// How long reading the map may take.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The group's source positions: committed on the source, or last synced
/// to the target (asked for, or the source cannot be read).
fn positions(
    config: &Config,
    req: &Request,
    contents: &MapContents,
    topics: &[String],
) -> Result<(Offsets, &'static str), GroupError> {
    let synced = || {
        let g = contents.groups.get(&req.group);
        topics
            .iter()
            .filter_map(|t| Some((t.clone(), g?.get(t)?.clone())))
            .collect::<Offsets>()
    };
    if req.from_target {
        return Ok((synced(), "target"));
    }
    let partitions: BTreeMap<String, Vec<i32>> = topics
        .iter()
        .map(|t| (t.clone(), contents.runs[t].keys().copied().collect()))
        .collect();
    match groups::committed(&config.sources[0], &req.group, &partitions) {
        Ok(p) => Ok((p, "source")),
        Err(e) => {
            warn!("the source cannot be read ({e}): using the positions last synced to the target");
            Ok((synced(), "target"))
        }
    }
}

/// The map topic: named after the source's cluster id (asked of the
/// source, or given), else the one map topic on the target.
fn map_topic(config: &Config, req: &Request) -> Result<String, GroupError> {
    if let Some(id) = &req.source_cluster_id {
        return Ok(store::topic_name(id));
    }
    if !req.from_target {
        match super::cluster_id(&config.sources[0]) {
            Ok(id) => return Ok(store::topic_name(&id)),
            Err(e) => warn!("{e}: looking for the map topic on the target"),
        }
    }
    let admin = store::target_admin(&config.target)?;
    let all = crate::preflight::topics::all_topics(admin.inner(), &config.target).map_err(|e| {
        GroupError::NoMap {
            reason: e.to_string(),
        }
    })?;
    let maps: Vec<&String> = all
        .keys()
        .filter(|t| t.starts_with(store::TOPIC_PREFIX))
        .collect();
    match maps.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(GroupError::NoMap {
            reason: format!(
                "the target has no {}<source cluster id> topic: was the mirror run with --offset.map or --sync.group.offsets?",
                store::TOPIC_PREFIX
            ),
        }),
        many => Err(GroupError::NoMap {
            reason: format!(
                "the target has several map topics ({}): name the source with --source.cluster.id",
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}
