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
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|t| NewTopic::new(t, wanted[*t] as i32, TopicReplication::Fixed(-1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds");
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
