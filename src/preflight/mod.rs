//! Checks performed before any record is consumed: topics now, ACLs and
//! authentication as they are added. A mirror run refuses to start when any
//! of them fails.

pub mod acl;
pub mod admin;
pub mod check;
pub mod scram;
pub mod tls;
pub mod topic_sync;
pub mod topics;

use rdkafka::error::KafkaError;

/// A start-up check failed; nothing was consumed or committed.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A cluster could not be reached or did not answer a metadata request.
    #[error("{cluster} ({bootstrap}): cannot read cluster metadata: {source}. Check bootstrap.servers, that the brokers are up, and the security settings")]
    Metadata {
        /// Which cluster.
        cluster: String,
        /// Its bootstrap servers.
        bootstrap: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Target topics do not exist and `--create.topics` was not given.
    #[error("{target}: topic(s) missing on the target cluster: {}. Create them with the source's partition count, or pass --create.topics to let kmirror create them", topics.join(", "))]
    TargetTopicsMissing {
        /// The target's label and file.
        target: String,
        /// The missing topics.
        topics: Vec<String>,
    },
    /// `--preserve.partitions` with a target topic that is too small.
    #[error("--preserve.partitions: target topic {topic} has {target_partitions} partitions, fewer than the {source_partitions} of the source topic; add partitions on the target or drop --preserve.partitions")]
    TooFewPartitions {
        /// The topic.
        topic: String,
        /// Source partition count.
        source_partitions: usize,
        /// Target partition count.
        target_partitions: usize,
    },
    /// Creating a target topic failed.
    #[error("creating target topic {topic} failed: {reason}")]
    CreateTopic {
        /// The topic(s).
        topic: String,
        /// Why.
        reason: String,
    },
    /// The authentication and ACL checks found something a mirror run would
    /// fail on (or could not verify it, without `--accept.unverified.acls`).
    #[error("start-up checks failed; nothing was consumed. Fix these (grant the listed operations to the principal on that cluster, e.g. with kafka-acls.sh), or run `kmirror check` with the same flags for the full report:\n{rows}{hint}")]
    Checks {
        /// The failing rows, rendered as a table.
        rows: String,
        /// What to do about UNVERIFIED rows, if any.
        hint: String,
    },
    /// A client could not be created from the configuration.
    #[error("{cluster}: cannot create a Kafka client: {source}")]
    Client {
        /// Which cluster.
        cluster: String,
        /// librdkafka's error.
        source: KafkaError,
    },
}
