//! Keeping mirrored topics alike while running (issue #22 §3): partitions
//! added to a source topic are added to its target topic (with
//! `--create.topics`), and the allow-listed configurations
//! ([`COPIED_CONFIGS`]) follow the source (`--sync.topic.configs`).
//!
//! The decisions are pure functions ([`partition_step`],
//! [`config_update`]) with tables of cases; the topic watcher
//! (`pipeline::watch_topics`) calls them and the admin requests here.

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigEntry, ConfigSource, NewPartitions,
    ResourceSpecifier,
};
use rdkafka::client::ClientContext;

use super::topics::{
    all_topics, copied_configs, describe_configs_with, TopicPartitions, COPIED_CONFIGS,
    METADATA_TIMEOUT,
};
use crate::config::{ClusterConfig, Config};

/// What the topic watcher does when a mirrored source topic has
/// `source` partitions and its target topic `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionStep {
    /// Nothing: the target has as many partitions or more, or the topic is
    /// not on the target (creating it is the new-topic path's business).
    Keep,
    /// Add partitions to the target topic up to `to` (`--create.topics`).
    Add {
        /// The target's partitions now.
        from: usize,
        /// The source's partitions.
        to: usize,
    },
    /// The target has fewer partitions and kmirror may not add them: with
    /// `--preserve.partitions` the records of the new source partitions
    /// have no partition of the same number to go to.
    Refuse {
        /// The source's partitions.
        source: usize,
        /// The target's partitions.
        target: usize,
    },
    /// The target has fewer partitions, which is fine: records are
    /// partitioned by key over the target's own partitions.
    Note {
        /// The source's partitions.
        source: usize,
        /// The target's partitions.
        target: usize,
    },
}

/// The step for a source topic of `source` partitions whose target topic
/// has `target` (None: no such topic). `create`: `--create.topics`;
/// `preserve`: `--preserve.partitions`.
pub fn partition_step(
    source: usize,
    target: Option<usize>,
    create: bool,
    preserve: bool,
) -> PartitionStep {
    match target {
        None => PartitionStep::Keep,
        Some(t) if t >= source => PartitionStep::Keep,
        // kmirror created the topic alike, so it keeps it alike, whatever
        // the partitioning.
        Some(t) if create => PartitionStep::Add {
            from: t,
            to: source,
        },
        Some(t) if preserve => PartitionStep::Refuse { source, target: t },
        Some(t) => PartitionStep::Note { source, target: t },
    }
}

/// Adds partitions to `topic` on the target up to `to` (CreatePartitions).
/// An answer that the topic already has that many (another kmirror of the
/// group did it first) counts as done.
pub fn add_partitions<C: ClientContext>(
    admin: &AdminClient<C>,
    topic: &str,
    to: usize,
) -> Result<(), String> {
    let rt = current_thread();
    let new = NewPartitions::new(topic, to);
    let opts = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let results = rt
        .block_on(admin.create_partitions(&[new], &opts))
        .map_err(|e| e.to_string())?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::InvalidPartitions)) => {
                // "Topic already has N partitions": done by someone else,
                // or asked twice; the next refresh compares again.
            }
            Err((_, code)) => return Err(format!("{code:?} ({code})")),
        }
    }
    Ok(())
}

/// One allow-listed key of a target topic brought to the source's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// The key (always one of [`COPIED_CONFIGS`]).
    pub key: String,
    /// The target's value before (None: not reported).
    pub from: Option<String>,
    /// The source topic's value.
    pub to: String,
}

/// The alteration of one target topic's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// The allow-listed keys that change.
    pub changes: Vec<ConfigChange>,
    /// The whole set to send: AlterConfigs (the one rust-rdkafka offers)
    /// replaces a topic's dynamic configuration, so this is every key the
    /// target topic sets itself, as it is, with the changes applied.
    pub set: BTreeMap<String, String>,
}

/// Why a target topic's configuration is left alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigUpdateError {
    /// A setting of the target topic has no readable value (sensitive):
    /// AlterConfigs would drop it.
    #[error("the target topic sets {key} without reporting its value (sensitive); AlterConfigs would reset it, so the allow-listed keys are not synced for this topic: set them by hand")]
    HiddenTargetValue {
        /// The key.
        key: String,
    },
}

/// What to alter on a target topic so that its allow-listed keys match
/// what the source topic sets itself (`source`, `target`: their
/// DescribeConfigs entries): None when nothing drifted. Keys outside the
/// allow-list, and allow-listed keys the source leaves at its defaults,
/// keep the target's values.
pub fn config_update(
    source: &[ConfigEntry],
    target: &[ConfigEntry],
) -> Result<Option<ConfigUpdate>, ConfigUpdateError> {
    let changes: Vec<ConfigChange> = copied_configs(source)
        .into_iter()
        .filter_map(|(key, to)| {
            let from = target
                .iter()
                .find(|e| e.name == key)
                .and_then(|e| e.value.clone());
            (from.as_deref() != Some(to.as_str())).then_some(ConfigChange { key, from, to })
        })
        .collect();
    if changes.is_empty() {
        return Ok(None);
    }
    let mut set = BTreeMap::new();
    for e in target
        .iter()
        .filter(|e| matches!(e.source, ConfigSource::DynamicTopic))
    {
        let value = e
            .value
            .clone()
            .ok_or_else(|| ConfigUpdateError::HiddenTargetValue {
                key: e.name.clone(),
            })?;
        set.insert(e.name.clone(), value);
    }
    for c in &changes {
        debug_assert!(COPIED_CONFIGS.contains(&c.key.as_str()));
        set.insert(c.key.clone(), c.to.clone());
    }
    Ok(Some(ConfigUpdate { changes, set }))
}

/// Sends `update` for `topic` to the target (AlterConfigs).
pub fn alter_topic_config<C: ClientContext>(
    admin: &AdminClient<C>,
    topic: &str,
    update: &ConfigUpdate,
) -> Result<(), String> {
    let rt = current_thread();
    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (k, v) in &update.set {
        alter = alter.set(k, v);
    }
    let opts = AdminOptions::new().request_timeout(Some(METADATA_TIMEOUT));
    let results = rt
        .block_on(admin.alter_configs(&[alter], &opts))
        .map_err(|e| e.to_string())?;
    for r in results {
        r.map_err(|(_, code)| {
            format!("{code:?} ({code}); needs ALTER_CONFIGS on the target topic")
        })?;
    }
    Ok(())
}

/// The topic watcher's part that keeps mirrored topics alike, one per
/// source cluster; remembers what it already said so each problem is
/// logged once.
pub struct TopicFollower {
    /// An admin client of the source (`--sync.topic.configs` only).
    source_admin: Option<AdminClient<rdkafka::client::DefaultClientContext>>,
    /// (topic, source partitions) already reported as not added.
    noted: BTreeSet<(String, usize)>,
    /// (topic, partitions) the target refused to add (already warned).
    add_failed: BTreeSet<(String, usize)>,
    /// Topics whose configuration cannot be synced (already warned).
    config_refused: BTreeSet<String>,
}

impl TopicFollower {
    /// A follower for `source`; the source admin client is created only
    /// with `--sync.topic.configs`.
    pub fn new(config: &Config, source: &ClusterConfig) -> Result<Self, String> {
        let source_admin = if config.sync_topic_configs {
            Some(
                source
                    .client_config()
                    .create()
                    .map_err(|e| format!("{}: creating an admin client: {e}", source.label))?,
            )
        } else {
            None
        };
        Ok(TopicFollower {
            source_admin,
            noted: BTreeSet::new(),
            add_failed: BTreeSet::new(),
            config_refused: BTreeSet::new(),
        })
    }

    /// One refresh of the mirrored topics `known` (source partition counts
    /// in `matched`): partitions added on the target where the source grew,
    /// configurations synced. Returns the topics that got partitions (the
    /// consumers re-subscribe, so the new partitions are assigned now, not
    /// at librdkafka's next metadata refresh, 5 minutes by default).
    pub fn refresh<C: ClientContext>(
        &mut self,
        config: &Config,
        target_admin: &AdminClient<C>,
        matched: &TopicPartitions,
        known: &[String],
    ) -> Vec<String> {
        let target = match all_topics(target_admin.inner(), &config.target) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("topic refresh: target partition counts: {e}");
                return Vec::new();
            }
        };
        let mut grown = Vec::new();
        for t in known {
            let Some(&n) = matched.get(t) else { continue };
            let step = partition_step(
                n,
                target.get(t).copied(),
                config.create_topics,
                config.preserve_partitions,
            );
            if self.follow_partitions(target_admin, t, step) {
                grown.push(t.clone());
            }
        }
        if let Some(source_admin) = self.source_admin.take() {
            let topics: Vec<&String> = known.iter().filter(|t| target.contains_key(*t)).collect();
            self.sync_configs(&source_admin, target_admin, &topics);
            self.source_admin = Some(source_admin);
        }
        grown
    }

    /// Acts on one topic's [`PartitionStep`]; true when partitions were added.
    fn follow_partitions<C: ClientContext>(
        &mut self,
        admin: &AdminClient<C>,
        topic: &str,
        step: PartitionStep,
    ) -> bool {
        match step {
            PartitionStep::Keep => false,
            PartitionStep::Add { from, to } => match add_partitions(admin, topic, to) {
                Ok(()) => {
                    tracing::info!(%topic, from, to, "source topic has more partitions: added to the target topic");
                    true
                }
                Err(e) => {
                    // Retried every refresh, said once per count.
                    if self.add_failed.insert((topic.to_string(), to)) {
                        tracing::warn!(%topic, from, to, "source topic has more partitions; adding them to the target failed (needs ALTER on the target topic and a broker with CreatePartitions), retried at every topic refresh: {e}");
                    }
                    false
                }
            },
            PartitionStep::Refuse { source, target } => {
                if self.noted.insert((topic.to_string(), source)) {
                    tracing::error!(%topic, source, target, "source topic now has {source} partitions, the target topic {target}: with --preserve.partitions the records of partitions {target}..{source} cannot be written (the run stops when one arrives). Add partitions on the target (kafka-topics.sh --alter --partitions {source}) or run with --create.topics");
                }
                false
            }
            PartitionStep::Note { source, target } => {
                if self.noted.insert((topic.to_string(), source)) {
                    tracing::info!(%topic, source, target, "source topic now has more partitions than the target topic; records are partitioned by key over the target's (run with --create.topics to add them)");
                }
                false
            }
        }
    }

    /// `--sync.topic.configs`: alters the target topics whose allow-listed
    /// keys drifted from the source's.
    fn sync_configs<C: ClientContext, D: ClientContext>(
        &mut self,
        source_admin: &AdminClient<D>,
        target_admin: &AdminClient<C>,
        topics: &[&String],
    ) {
        let (source, target) = match (
            describe_configs_with(source_admin, topics, METADATA_TIMEOUT),
            describe_configs_with(target_admin, topics, METADATA_TIMEOUT),
        ) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => {
                return tracing::warn!(
                "topic configuration sync: describing configurations (needs DESCRIBE_CONFIGS): {e}"
            )
            }
        };
        for t in topics {
            let (Some(s), Some(g)) = (source.get(*t), target.get(*t)) else {
                continue;
            };
            match config_update(s, g) {
                Ok(None) => {}
                Ok(Some(u)) => {
                    let what = u
                        .changes
                        .iter()
                        .map(|c| {
                            format!(
                                "{}: {} -> {}",
                                c.key,
                                c.from.as_deref().unwrap_or("(unset)"),
                                c.to
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    match alter_topic_config(target_admin, t, &u) {
                        Ok(()) => {
                            tracing::info!(topic = %t, "target topic configuration synced to the source's: {what}")
                        }
                        Err(e) => {
                            tracing::warn!(topic = %t, "target topic configuration not synced ({what}): {e}; retried at the next refresh")
                        }
                    }
                }
                Err(e) => {
                    if self.config_refused.insert((*t).clone()) {
                        tracing::warn!(topic = %t, "{e}");
                    }
                }
            }
        }
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds")
}

#[cfg(test)]
mod tests;
