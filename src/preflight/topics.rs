//! Topic checks: which source topics the whitelist selects, and whether the
//! target has (or may create) a topic for each.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::PreflightError;
use crate::config::topics::TopicFilter;
use crate::config::ClusterConfig;

/// How long a metadata request may take before the cluster is reported unreachable.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Topic name → partition count.
pub type TopicPartitions = BTreeMap<String, usize>;

/// All topics of a cluster with their partition counts.
pub fn all_topics<C: ClientContext>(
    client: &Client<C>,
    cluster: &ClusterConfig,
) -> Result<TopicPartitions, PreflightError> {
    let md = client
        .fetch_metadata(None, METADATA_TIMEOUT)
        .map_err(|source| PreflightError::Metadata {
            cluster: cluster.label.clone(),
            bootstrap: cluster.bootstrap.clone(),
            source,
        })?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect())
}

/// The source topics `filter` selects.
pub fn matching(all: &TopicPartitions, filter: &TopicFilter) -> TopicPartitions {
    all.iter()
        .filter(|(t, _)| filter.matches(t))
        .map(|(t, p)| (t.clone(), *p))
        .collect()
}

/// Makes sure every topic in `wanted` exists on the target: creates missing
/// ones with the source's partition count when `create` is set, else
/// reports all missing topics by name. With `preserve_partitions`, a target
/// topic with fewer partitions than the source is refused.
pub fn ensure_target_topics<C: ClientContext>(
    admin: &AdminClient<C>,
    source: &ClusterConfig,
    target: &ClusterConfig,
    wanted: &TopicPartitions,
    create: bool,
    preserve_partitions: bool,
) -> Result<Vec<String>, PreflightError> {
    let existing = all_topics(admin.inner(), target)?;
    let missing: Vec<&String> = wanted
        .keys()
        .filter(|t| !existing.contains_key(*t))
        .collect();
    if preserve_partitions {
        for (t, &n) in wanted {
            if let Some(&have) = existing.get(t) {
                if have < n {
                    return Err(PreflightError::TooFewPartitions {
                        topic: t.clone(),
                        source_partitions: n,
                        target_partitions: have,
                    });
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    if !create {
        return Err(PreflightError::TargetTopicsMissing {
            target: format!("{} ({})", target.label, target.path.display()),
            topics: missing.into_iter().cloned().collect(),
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds");
    let configs = source_configs(&rt, source, &missing);
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|t| {
            let mut n = NewTopic::new(t, wanted[*t] as i32, TopicReplication::Fixed(-1));
            for (k, v) in configs.get(*t).into_iter().flatten() {
                n = n.set(k, v);
            }
            n
        })
        .collect();
    let results = rt
        .block_on(admin.create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
        ))
        .map_err(|source| PreflightError::CreateTopic {
            topic: missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            reason: source.to_string(),
        })?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(t) => created.push(t),
            // Another kmirror process of the same group created it first.
            Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => created.push(t),
            Err((t, code)) => {
                return Err(PreflightError::CreateTopic {
                    reason: KafkaError::AdminOp(code).to_string(),
                    topic: t,
                })
            }
        }
    }
    Ok(created)
}

/// Topic configurations `--create.topics` copies from the source topic, when
/// set on it (not the source brokers' defaults): what the data means
/// (compaction, retention, timestamps, limits), not how a cluster stores it
/// (replication, min.insync.replicas, segment placement stay the target's).
pub const COPIED_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "compression.type",
];

/// The allow-listed configurations set on a source topic, from its
/// DescribeConfigs answer: only those the topic sets itself (dynamic topic
/// configs), so the target's own defaults apply to the rest.
pub fn copied_configs(entries: &[rdkafka::admin::ConfigEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter(|e| COPIED_CONFIGS.contains(&e.name.as_str()))
        .filter(|e| matches!(e.source, rdkafka::admin::ConfigSource::DynamicTopic))
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect()
}

/// Where a target topic's configuration differs from what the source topic
/// sets itself, for the allow-listed keys: `(key, source value, target
/// value)` (`None`: the target does not report the key).
pub fn config_drift(
    source: &[rdkafka::admin::ConfigEntry],
    target: &[rdkafka::admin::ConfigEntry],
) -> Vec<(String, String, Option<String>)> {
    copied_configs(source)
        .into_iter()
        .filter_map(|(k, v)| {
            let t = target
                .iter()
                .find(|e| e.name == k)
                .and_then(|e| e.value.clone());
            (t.as_deref() != Some(v.as_str())).then_some((k, v, t))
        })
        .collect()
}

/// Each topic's DescribeConfigs entries on `cluster` (topics it could not
/// describe are left out).
pub fn describe_topic_configs(
    cluster: &ClusterConfig,
    topics: &[&String],
    timeout: Duration,
) -> Result<BTreeMap<String, Vec<rdkafka::admin::ConfigEntry>>, String> {
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = cluster
        .client_config()
        .create()
        .map_err(|e| e.to_string())?;
    describe_configs_with(&admin, topics, timeout)
}

/// Each topic's DescribeConfigs entries, asked with `admin` (topics it
/// could not describe are left out).
pub fn describe_configs_with<C: ClientContext>(
    admin: &AdminClient<C>,
    topics: &[&String],
    timeout: Duration,
) -> Result<BTreeMap<String, Vec<rdkafka::admin::ConfigEntry>>, String> {
    use rdkafka::admin::ResourceSpecifier;
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds");
    let specs: Vec<ResourceSpecifier<'_>> = topics
        .iter()
        .map(|t| ResourceSpecifier::Topic(t.as_str()))
        .collect();
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let results = rt
        .block_on(admin.describe_configs(&specs, &opts))
        .map_err(|e| e.to_string())?;
    Ok(topics
        .iter()
        .zip(results)
        .filter_map(|(t, r)| Some(((*t).clone(), r.ok()?.entries)))
        .collect())
}

/// The configurations to create each of `topics` with, from the source.
/// A source that cannot be asked (no DESCRIBE_CONFIGS on the topic) gets a
/// warning naming what the target topic will lack, and the topic is
/// created with the target's defaults, as before this copy existed.
fn source_configs(
    rt: &tokio::runtime::Runtime,
    source: &ClusterConfig,
    topics: &[&String],
) -> BTreeMap<String, Vec<(String, String)>> {
    use rdkafka::admin::ResourceSpecifier;
    let mut out = BTreeMap::new();
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        match source.client_config().create() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(cluster = %source.label, "topic configurations not copied: {e}");
                return out;
            }
        };
    let specs: Vec<ResourceSpecifier<'_>> = topics
        .iter()
        .map(|t| ResourceSpecifier::Topic(t.as_str()))
        .collect();
    let opts = AdminOptions::new().request_timeout(Some(METADATA_TIMEOUT));
    match rt.block_on(admin.describe_configs(&specs, &opts)) {
        Ok(results) => {
            for (t, r) in topics.iter().zip(results) {
                match r {
                    Ok(res) => {
                        let copied = copied_configs(&res.entries);
                        if !copied.is_empty() {
                            tracing::info!(topic = %t, "creating with the source topic's configuration: {}", copied.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
                        }
                        out.insert((*t).clone(), copied);
                    }
                    Err(code) => {
                        tracing::warn!(cluster = %source.label, topic = %t, "topic configuration not copied (needs DESCRIBE_CONFIGS on the source topic): {code:?}; the target topic gets the target's defaults (a compacted source topic becomes a delete-policy one)")
                    }
                }
            }
        }
        Err(e) => {
            tracing::warn!(cluster = %source.label, "topic configurations not copied (needs DESCRIBE_CONFIGS on the source topics): {e}; the target topics get the target's defaults")
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::admin::{ConfigEntry, ConfigSource};

    fn entry(name: &str, value: &str, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            is_default: matches!(source, ConfigSource::Default),
            source,
            is_read_only: false,
            is_sensitive: false,
        }
    }

    /// Only allow-listed configs the source topic sets itself are copied:
    /// not the source brokers' defaults, not cluster-specific keys.
    /// Drift: an allow-listed key the source topic sets whose target value
    /// differs or is missing; keys the source leaves at defaults are not drift.
    #[test]
    fn drift_is_a_differing_copied_config() {
        use ConfigSource::*;
        let source = [
            entry("cleanup.policy", "compact", DynamicTopic),
            entry("retention.ms", "1000", DynamicTopic),
            entry("compression.type", "zstd", DynamicTopic),
            entry("max.message.bytes", "1048588", Default),
        ];
        let target = [
            entry("cleanup.policy", "delete", Default),
            entry("retention.ms", "1000", DynamicTopic),
            entry("max.message.bytes", "999", Default),
        ];
        assert_eq!(
            config_drift(&source, &target),
            [
                (
                    "cleanup.policy".to_string(),
                    "compact".to_string(),
                    Some("delete".to_string())
                ),
                ("compression.type".to_string(), "zstd".to_string(), None),
            ]
        );
    }

    #[test]
    fn copies_allow_listed_topic_configs_only() {
        use ConfigSource::*;
        let entries = [
            entry("cleanup.policy", "compact", DynamicTopic),
            entry("retention.ms", "123456789", DynamicTopic),
            entry("min.insync.replicas", "2", DynamicTopic),
            entry("max.message.bytes", "1048588", Default),
            entry("retention.bytes", "1000", StaticBroker),
            entry("compression.type", "zstd", DynamicBroker),
        ];
        assert_eq!(
            copied_configs(&entries),
            [
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("retention.ms".to_string(), "123456789".to_string()),
            ]
        );
    }
}
