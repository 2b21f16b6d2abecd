//! Consumer groups on both sides: their committed offsets on the source,
//! whether they are active on the target, the translated positions and
//! committing them on the target (never backwards).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::map::translate;
use super::store::{MapContents, StoreError};
use crate::config::ClusterConfig;

/// Timeout of one group-coordinator request.
const GROUP_TIMEOUT: Duration = Duration::from_secs(30);

/// topic → partition → offset.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// A failure reading or committing a group's offsets.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// A librdkafka call failed.
    #[error("{cluster}: group {group}: {context}: {source}")]
    Kafka {
        /// Cluster label.
        cluster: String,
        /// The group.
        group: String,
        /// What kmirror was doing.
        context: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The group has members on the target: committing would fight them.
    #[error("group {group} has {members} active member(s) on the target: its offsets are not changed while it consumes there. Stop its consumers on the target first")]
    Active {
        /// The group.
        group: String,
        /// Members on the target.
        members: usize,
    },
    /// The offset map could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No offset map topic to translate with.
    #[error("no offset map to translate with: {reason}")]
    NoMap {
        /// Why.
        reason: String,
    },
}

fn client(cluster: &ClusterConfig, group: &str) -> Result<BaseConsumer, GroupError> {
    let mut cfg = cluster.client_config();
    // The target's producer delivery bound, which a consumer would warn about.
    cfg.remove("message.timeout.ms");
    cfg.set("group.id", group);
    cfg.set("enable.auto.commit", "false");
    cfg.create().map_err(|source| GroupError::Kafka {
        cluster: cluster.label.clone(),
        group: group.to_string(),
        context: "creating a client".into(),
        source,
    })
}

/// A client of one cluster that lists and describes groups; it joins none
/// (no subscription), so one serves every group of a sync run.
pub struct GroupLister<'a> {
    cluster: &'a ClusterConfig,
    consumer: BaseConsumer,
}

impl<'a> GroupLister<'a> {
    /// A lister of `cluster`'s groups.
    pub fn new(cluster: &'a ClusterConfig) -> Result<Self, GroupError> {
        Ok(GroupLister {
            cluster,
            consumer: client(cluster, "kmirror-group-lister")?,
        })
    }

    /// The names of the consumer groups on the cluster.
    pub fn list(&self) -> Result<Vec<String>, GroupError> {
        let groups = self
            .consumer
            .fetch_group_list(None, GROUP_TIMEOUT)
            .map_err(|source| GroupError::Kafka {
                cluster: self.cluster.label.clone(),
                group: "*".into(),
                context: "listing groups (needs DESCRIBE on them)".into(),
                source,
            })?;
        Ok(groups
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .collect())
    }

    /// Members `group` has on the cluster now.
    pub fn members(&self, group: &str) -> Result<usize, GroupError> {
        let groups = self
            .consumer
            .fetch_group_list(Some(group), GROUP_TIMEOUT)
            .map_err(|source| GroupError::Kafka {
                cluster: self.cluster.label.clone(),
                group: group.to_string(),
                context: "describing the group".into(),
                source,
            })?;
        Ok(groups
            .groups()
            .iter()
            .find(|g| g.name() == group)
            .map_or(0, |g| g.members().len()))
    }
}

/// A client of one cluster bound to one group (librdkafka reads and
/// commits offsets for the client's own `group.id`): its committed offsets,
/// and commits for it from outside (a group with no members accepts them).
/// It never subscribes, so it is never a member of the group.
pub struct GroupClient<'a> {
    cluster: &'a ClusterConfig,
    group: String,
    consumer: BaseConsumer,
}

impl<'a> GroupClient<'a> {
    /// A client of `cluster` for `group`.
    pub fn new(cluster: &'a ClusterConfig, group: &str) -> Result<Self, GroupError> {
        Ok(GroupClient {
            cluster,
            group: group.to_string(),
            consumer: client(cluster, group)?,
        })
    }

    fn error(&self, context: &str, source: KafkaError) -> GroupError {
        GroupError::Kafka {
            cluster: self.cluster.label.clone(),
            group: self.group.clone(),
            context: context.into(),
            source,
        }
    }

    /// The group's committed offsets for `partitions` (topic → partition
    /// numbers); partitions without a committed offset are left out.
    pub fn committed(
        &self,
        partitions: &BTreeMap<String, Vec<i32>>,
    ) -> Result<Offsets, GroupError> {
        let mut tpl = TopicPartitionList::new();
        for (t, ps) in partitions {
            for p in ps {
                tpl.add_partition(t, *p);
            }
        }
        if tpl.count() == 0 {
            return Ok(Offsets::new());
        }
        let got = self
            .consumer
            .committed_offsets(tpl, GROUP_TIMEOUT)
            .map_err(|e| self.error("reading committed offsets", e))?;
        let mut out = Offsets::new();
        for e in got.elements() {
            if let Offset::Offset(o) = e.offset() {
                out.entry(e.topic().to_string())
                    .or_default()
                    .insert(e.partition(), o);
            }
        }
        Ok(out)
    }

    /// Commits `offsets` for the group.
    pub fn commit(&self, offsets: &Offsets) -> Result<(), GroupError> {
        let mut tpl = TopicPartitionList::new();
        for (t, ps) in offsets {
            for (p, o) in ps {
                let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*o));
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        self.consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
            self.error(
                "committing translated offsets (needs READ on the group and the topics)",
                e,
            )
        })
    }
}

/// The names of the consumer groups on `cluster`.
pub fn list(cluster: &ClusterConfig) -> Result<Vec<String>, GroupError> {
    GroupLister::new(cluster)?.list()
}

/// Members `group` has on `cluster` now.
pub fn members(cluster: &ClusterConfig, group: &str) -> Result<usize, GroupError> {
    GroupLister::new(cluster)?.members(group)
}

/// `group`'s committed offsets on `cluster` for `partitions` (topic →
/// partition numbers); partitions without a committed offset are left out.
pub fn committed(
    cluster: &ClusterConfig,
    group: &str,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Result<Offsets, GroupError> {
    if partitions.values().all(Vec::is_empty) {
        return Ok(Offsets::new());
    }
    GroupClient::new(cluster, group)?.committed(partitions)
}

/// Commits `offsets` for `group` on `cluster` (a group with no members
/// accepts commits from outside it).
pub fn commit(cluster: &ClusterConfig, group: &str, offsets: &Offsets) -> Result<(), GroupError> {
    if offsets.values().all(BTreeMap::is_empty) {
        return Ok(());
    }
    GroupClient::new(cluster, group)?.commit(offsets)
}

/// What happens to one target partition of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Topic.
    pub topic: String,
    /// Target partition.
    pub partition: i32,
    /// The group's source offset of the same partition number, if any.
    pub source_offset: Option<i64>,
    /// The translated target offset.
    pub target_offset: i64,
    /// The group's committed offset on the target now.
    pub current: Option<i64>,
    /// Records the group will read again from `target_offset` (known copies
    /// of records it had consumed).
    pub rereads: u64,
    /// Whether the translation is exact (nothing re-read).
    pub exact: bool,
    /// Whether `target_offset` is committed: not when the target group is
    /// already at or past it (offsets never move backwards).
    pub commit: bool,
}

/// Translates `positions` (the group's source offsets) with the map, and
/// decides per target partition whether to commit given `current`.
pub fn plan(contents: &MapContents, positions: &Offsets, current: &Offsets) -> Vec<Row> {
    let preserved = contents.preserve_partitions.unwrap_or(false);
    let mut rows = Vec::new();
    for (topic, pos) in positions {
        let Some(runs) = contents.runs.get(topic) else {
            continue;
        };
        for t in translate(runs, pos, preserved) {
            let cur = current
                .get(topic)
                .and_then(|m| m.get(&t.partition))
                .copied();
            rows.push(Row {
                topic: topic.clone(),
                partition: t.partition,
                source_offset: pos.get(&t.partition).copied(),
                target_offset: t.offset,
                current: cur,
                rereads: t.rereads,
                exact: t.exact,
                commit: cur.is_none_or(|c| c < t.offset),
            });
        }
    }
    rows
}

/// The offsets to commit of `rows`.
pub fn to_commit(rows: &[Row]) -> Offsets {
    let mut out = Offsets::new();
    for r in rows.iter().filter(|r| r.commit) {
        out.entry(r.topic.clone())
            .or_default()
            .insert(r.partition, r.target_offset);
    }
    out
}

/// Target partitions of `rows` by topic, for reading current offsets.
pub fn partitions_of(rows: &[Row]) -> BTreeMap<String, Vec<i32>> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for r in rows {
        out.entry(r.topic.clone()).or_default().push(r.partition);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::map::Run;
    use crate::failover::store::Entry;

    /// A target group already past the translated offset keeps its offset.
    #[test]
    fn never_moves_a_target_group_backwards() {
        let mut m = MapContents::default();
        for e in [
            Entry::Meta {
                preserve_partitions: true,
            },
            Entry::Run {
                topic: "t".into(),
                partition: 0,
                run: Run {
                    source: 0,
                    target_partition: 0,
                    target: 0,
                    count: 100,
                },
            },
            Entry::Run {
                topic: "t".into(),
                partition: 1,
                run: Run {
                    source: 0,
                    target_partition: 1,
                    target: 0,
                    count: 100,
                },
            },
        ] {
            m.apply(e);
        }
        let m = m.rebuilt();
        let positions = Offsets::from([("t".into(), BTreeMap::from([(0, 40), (1, 40)]))]);
        let current = Offsets::from([("t".into(), BTreeMap::from([(0, 50), (1, 30)]))]);
        let rows = plan(&m, &positions, &current);
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].commit, "target at 50 is past 40: kept");
        assert!(rows[1].commit, "target at 30 moves to 40");
        assert_eq!(
            to_commit(&rows),
            Offsets::from([("t".into(), BTreeMap::from([(1, 40)]))])
        );
    }
}
