//! Failover to the target cluster: the exact offset map (where each source
//! record landed), its storage on the target, and the translation and sync
//! of consumer groups' positions (docs/failover.md).

pub mod groups;
pub mod map;
pub mod store;
pub mod sync;
pub mod translate;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use tracing::info;

use crate::config::{ClusterConfig, Config};
use store::{MapWriter, StoreError};

/// The id of a cluster, which names its offset map topic.
pub(crate) fn cluster_id(cluster: &ClusterConfig) -> Result<String, StoreError> {
    let client: BaseConsumer =
        cluster
            .client_config()
            .create()
            .map_err(|source| StoreError::Kafka {
                cluster: cluster.label.clone(),
                topic: String::new(),
                context: "creating a metadata client".into(),
                source,
            })?;
    client
        .client()
        .fetch_cluster_id(Duration::from_secs(30))
        .ok_or_else(|| StoreError::NoClusterId {
            cluster: cluster.label.clone(),
        })
}

/// `--offset.map`: names each source's map topic after its cluster id,
/// creates the topics on the target if needed and records the partitioning.
pub(crate) fn start(config: &Config) -> Result<MapWriter, StoreError> {
    let admin = store::target_admin(&config.target)?;
    let mut topics = BTreeMap::new();
    for src in &config.sources {
        let topic = store::topic_name(&cluster_id(src)?);
        store::ensure_topic(&admin, &topic)?;
        info!(cluster = %src.label, %topic, "offset map: recording where each record lands");
        topics.insert(src.label.clone(), topic);
    }
    let writer = MapWriter::new(&config.target, topics)?;
    for src in &config.sources {
        writer.write(
            &src.label,
            &[store::Entry::Meta {
                preserve_partitions: config.preserve_partitions,
            }],
        )?;
    }
    Ok(writer)
}
