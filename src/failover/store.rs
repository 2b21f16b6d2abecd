//! The offset map on the target cluster: a compacted topic per source
//! cluster, `kmirror.offsets.<source cluster id>`, one partition, written
//! with kmirror's no-loss producer settings (acks=all, unbounded retries).
//!
//! Entries are JSON, keyed so compaction keeps what translation needs:
//! - a run: key `["run", topic, partition, target_partition, target]`; a
//!   growing run is written again under the same key with its new length;
//! - the partitioning: key `["meta"]`, whether `--preserve.partitions` was on;
//! - a group's source position last synced: key `["group", group, topic,
//!   partition]`, so `kmirror offsets translate` works when the source is gone;
//! - a sync round's mark: key `["mark"]`, a nonce the round reads the map
//!   up to ([`MapReader::read_through`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::map::{Run, RunRecorder, TopicRuns};
use crate::config::ClusterConfig;

/// Prefix of the offset map topics; the source cluster's id follows.
pub const TOPIC_PREFIX: &str = crate::config::topics::OFFSET_MAP_TOPIC_PREFIX;

/// How long writing a batch of entries may take before it counts as failed
/// (when the caller can wait: a final commit, a revoke, a sync run).
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// A failure reading or writing the offset map.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A librdkafka call failed.
    #[error("offset map topic {topic} on the {cluster} cluster: {context}: {source}")]
    Kafka {
        /// Cluster label.
        cluster: String,
        /// The map topic.
        topic: String,
        /// What kmirror was doing.
        context: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The target did not acknowledge every entry.
    #[error("offset map topic {topic} on the target: {failed} entr(y/ies) not acknowledged: {error}. Offsets are not committed until the map holds where their records landed (needs WRITE on the topic)")]
    NotAcknowledged {
        /// The map topic.
        topic: String,
        /// Entries that failed.
        failed: u64,
        /// The last error.
        error: String,
    },
    /// The map topic could not be created.
    #[error("offset map topic {topic} could not be created on the target: {reason}. Create it (1 partition, cleanup.policy=compact) or grant CREATE on it")]
    Create {
        /// The map topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// A sync round's mark was not read back in time.
    #[error("offset map topic {topic} on the target: the mark written before this sync round was not read back within {waited:?}; the round is skipped (nothing committed) and retried")]
    MarkNotRead {
        /// The map topic.
        topic: String,
        /// How long the reader waited.
        waited: Duration,
    },
    /// No source cluster id, so no map topic name.
    #[error("the {cluster} cluster did not report its cluster id, which names its offset map topic ({TOPIC_PREFIX}<id>)")]
    NoClusterId {
        /// Cluster label.
        cluster: String,
    },
}

/// One entry of the map topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A run of source partition `partition` of `topic`.
    Run {
        /// Source topic (the target topic has the same name).
        topic: String,
        /// Source partition.
        partition: i32,
        /// The run.
        #[serde(flatten)]
        run: Run,
    },
    /// How records were partitioned on the target.
    Meta {
        /// `--preserve.partitions`.
        preserve_partitions: bool,
    },
    /// The source position of a group's partition when it was last synced.
    Group {
        /// The consumer group.
        group: String,
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// The group's committed offset on the source.
        offset: i64,
    },
    /// Written by a sync round before it reads the map: once the reader
    /// reaches it, it has read every entry acknowledged before it (the map
    /// topic has one partition), whatever the broker's fetch timing.
    Mark {
        /// Unique per round: process id, round number and time.
        nonce: String,
    },
}

impl Entry {
    /// The compaction key.
    pub fn key(&self) -> String {
        let v = match self {
            Entry::Run {
                topic,
                partition,
                run,
            } => serde_json::json!(["run", topic, partition, run.target_partition, run.target]),
            Entry::Meta { .. } => serde_json::json!(["meta"]),
            Entry::Group {
                group,
                topic,
                partition,
                ..
            } => serde_json::json!(["group", group, topic, partition]),
            Entry::Mark { .. } => serde_json::json!(["mark"]),
        };
        v.to_string()
    }
}

/// The map topic of the source cluster with id `cluster_id` (named in
/// `config`, where `preflight` finds it without importing `failover`).
pub fn topic_name(cluster_id: &str) -> String {
    crate::config::topics::offset_map_topic(cluster_id)
}

/// Everything read back from a map topic.
#[derive(Debug, Default, Clone)]
pub struct MapContents {
    /// Runs per source topic.
    pub runs: BTreeMap<String, TopicRuns>,
    /// Whether records kept their partition numbers (true if never written:
    /// the conservative reading only matters for re-partitioned mirrors).
    pub preserve_partitions: Option<bool>,
    /// group → topic → partition → source offset last synced.
    pub groups: BTreeMap<String, BTreeMap<String, BTreeMap<i32, i64>>>,
    /// Latest value per key, so a growing run replaces its earlier length.
    latest: BTreeMap<String, Entry>,
    /// Entries applied since the views were last rebuilt.
    rebuild_dirty: bool,
}

impl MapContents {
    /// Applies one entry read from the topic (later entries win per key;
    /// marks hold nothing to translate with).
    pub fn apply(&mut self, e: Entry) {
        if matches!(e, Entry::Mark { .. }) {
            return;
        }
        self.latest.insert(e.key(), e);
        self.rebuild_dirty = true;
    }

    /// These contents with their views rebuilt.
    pub fn rebuilt(mut self) -> Self {
        self.rebuild();
        self
    }

    /// Rebuilds the views from the latest entries.
    fn rebuild(&mut self) {
        self.runs.clear();
        self.groups.clear();
        for e in self.latest.values() {
            match e {
                Entry::Run {
                    topic,
                    partition,
                    run,
                } => self
                    .runs
                    .entry(topic.clone())
                    .or_default()
                    .entry(*partition)
                    .or_default()
                    .push(*run),
                Entry::Meta {
                    preserve_partitions,
                } => self.preserve_partitions = Some(*preserve_partitions),
                Entry::Mark { .. } => {}
                Entry::Group {
                    group,
                    topic,
                    partition,
                    offset,
                } => {
                    self.groups
                        .entry(group.clone())
                        .or_default()
                        .entry(topic.clone())
                        .or_default()
                        .insert(*partition, *offset);
                }
            }
        }
        self.rebuild_dirty = false;
    }
}

/// Delivery reports of map entries: failures are counted for the batch.
#[derive(Default)]
pub(crate) struct MapDelivery {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for MapDelivery {}

impl ProducerContext for MapDelivery {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::AcqRel);
            *self.last_error.lock().expect("map error lock") = Some(e.to_string());
        }
    }
}

/// Writes map entries to the target, one map topic per source cluster.
pub struct MapWriter {
    producer: ThreadedProducer<MapDelivery>,
    /// Source cluster label → its map topic.
    topics: BTreeMap<String, String>,
    /// One batch at a time, so a batch's failures are its own.
    batch: Mutex<()>,
}

impl MapWriter {
    /// A writer to the target with kmirror's no-loss producer settings;
    /// `topics`: source cluster label → its map topic.
    pub fn new(
        target: &ClusterConfig,
        topics: BTreeMap<String, String>,
    ) -> Result<MapWriter, StoreError> {
        let producer = crate::config::producer::producer_config(
            target,
            crate::config::QueueBound {
                records: 10_000,
                bytes: 64 << 20,
            },
        )
        .create_with_context(MapDelivery::default())
        .map_err(|source| StoreError::Kafka {
            cluster: target.label.clone(),
            topic: topics.values().cloned().collect::<Vec<_>>().join(", "),
            context: "creating the map producer".into(),
            source,
        })?;
        Ok(MapWriter {
            producer,
            topics,
            batch: Mutex::new(()),
        })
    }

    /// The map topic of source cluster `label`.
    pub fn topic(&self, label: &str) -> Option<&str> {
        self.topics.get(label).map(String::as_str)
    }

    /// Writes `entries` to the map topic of source cluster `label` and waits
    /// until the target acknowledged all of them (at most [`WRITE_TIMEOUT`]).
    pub fn write(&self, label: &str, entries: &[Entry]) -> Result<(), StoreError> {
        self.write_within(label, entries, WRITE_TIMEOUT)
    }

    /// [`MapWriter::write`], waiting at most `timeout` for the target's
    /// acknowledgements. Entries not acknowledged in time stay queued in the
    /// producer and may still arrive; writing them again is harmless (the
    /// map keeps the latest entry per key, and a run only grows).
    pub(crate) fn write_within(
        &self,
        label: &str,
        entries: &[Entry],
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let Some(topic) = self.topic(label) else {
            return Ok(());
        };
        if entries.is_empty() {
            return Ok(());
        }
        let _one = self.batch.lock().expect("map batch lock");
        let ctx = self.producer.context();
        ctx.failed.store(0, Ordering::Release);
        for e in entries {
            let key = e.key();
            let value = serde_json::to_string(e).expect("entries serialize");
            let mut record = BaseRecord::to(topic).key(&key).payload(&value);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => {
                        return Err(StoreError::NotAcknowledged {
                            topic: topic.to_string(),
                            failed: 1,
                            error: e.to_string(),
                        })
                    }
                }
            }
        }
        if let Err(e) = self.producer.flush(timeout) {
            return Err(StoreError::NotAcknowledged {
                topic: topic.to_string(),
                failed: self.producer.in_flight_count().max(1) as u64,
                error: e.to_string(),
            });
        }
        let failed = ctx.failed.load(Ordering::Acquire);
        if failed > 0 {
            let error = ctx
                .last_error
                .lock()
                .expect("map error lock")
                .clone()
                .unwrap_or_default();
            return Err(StoreError::NotAcknowledged {
                topic: topic.to_string(),
                failed,
                error,
            });
        }
        Ok(())
    }

    /// Takes from each partition's recorder its runs before the offset
    /// about to be committed and writes them; on failure they are put back,
    /// to be written with the next batch.
    pub(crate) fn write_runs<'a>(
        &self,
        label: &str,
        parts: impl IntoIterator<Item = (&'a str, i32, &'a Mutex<RunRecorder>, i64)>,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let mut taken = Vec::new();
        let mut entries = Vec::new();
        for (topic, partition, rec, committed) in parts {
            let t = rec.lock().expect("runs lock").take_before(committed);
            entries.extend(t.runs.iter().map(|run| Entry::Run {
                topic: topic.to_string(),
                partition,
                run: *run,
            }));
            taken.push((rec, t));
        }
        let r = self.write_within(label, &entries, timeout);
        if r.is_err() {
            for (rec, t) in taken {
                rec.lock().expect("runs lock").put_back(t);
            }
        }
        r
    }
}

/// Creates the map topic on the target if it does not exist (one
/// partition, compacted).
pub(crate) fn ensure_topic<C: ClientContext>(
    admin: &AdminClient<C>,
    topic: &str,
) -> Result<(), StoreError> {
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds");
    let results = rt
        .block_on(admin.create_topics(
            &[new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .map_err(|e| StoreError::Create {
            topic: topic.to_string(),
            reason: e.to_string(),
        })?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(StoreError::Create {
                    topic: topic.to_string(),
                    reason: KafkaError::AdminOp(code).to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Reads a map topic incrementally: [`MapReader::catch_up`] applies every
/// entry written since the last call.
pub struct MapReader {
    consumer: BaseConsumer,
    topic: String,
    contents: MapContents,
    /// The nonce of the last mark read.
    last_mark: Option<String>,
}

impl MapReader {
    /// A reader of `topic` on `target`, from its beginning. Joins no group
    /// and commits nothing (needs READ on the topic only).
    pub fn new(target: &ClusterConfig, topic: &str) -> Result<MapReader, StoreError> {
        let err = |context: &str, source| StoreError::Kafka {
            cluster: target.label.clone(),
            topic: topic.to_string(),
            context: context.to_string(),
            source,
        };
        let mut cfg = target.client_config();
        // The producer's delivery bound, which a consumer would warn about.
        cfg.remove("message.timeout.ms");
        cfg.set("group.id", "kmirror-offset-map-reader");
        cfg.set("enable.auto.commit", "false");
        cfg.set("enable.partition.eof", "false");
        let consumer: BaseConsumer = cfg.create().map_err(|e| err("creating a reader", e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(|e| err("assigning", e))?;
        consumer.assign(&tpl).map_err(|e| err("assigning", e))?;
        Ok(MapReader {
            consumer,
            topic: topic.to_string(),
            contents: MapContents::default(),
            last_mark: None,
        })
    }

    /// Whether the map topic exists on the target (a mark written to a
    /// missing topic would wait for it until the write times out).
    pub fn topic_exists(&self) -> Result<bool, StoreError> {
        let md = self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(30))
            .map_err(|source| StoreError::Kafka {
                cluster: "target".into(),
                topic: self.topic.clone(),
                context: "reading metadata".into(),
                source,
            })?;
        Ok(md
            .topics()
            .iter()
            .any(|t| t.name() == self.topic && t.error().is_none() && !t.partitions().is_empty()))
    }

    /// Reads until nothing new arrives for `idle` (watermarks are not
    /// trusted: some brokers under-report them), at most `timeout`; returns
    /// what the map holds now. Entries written within about one fetch wait
    /// (`fetch.wait.max.ms`, 500 ms by default; tansu holds every fetch
    /// that long) may not be read yet: a reader that needs every entry
    /// written so far uses [`MapReader::read_through`].
    pub fn catch_up(
        &mut self,
        idle: Duration,
        timeout: Duration,
    ) -> Result<&MapContents, StoreError> {
        let start = Instant::now();
        let mut last_new = Instant::now();
        while last_new.elapsed() < idle && start.elapsed() < timeout {
            if self.poll_one()? {
                last_new = Instant::now();
            }
        }
        Ok(self.contents())
    }

    /// Writes a mark to the map topic of `label` with `writer` and reads
    /// until it: the contents then hold every entry the target acknowledged
    /// before the mark was written (by this process or any other), at most
    /// `timeout`. A sync round translating with less could commit a copy
    /// of a record that a later, not yet read run copies again (the group
    /// would read the records in between twice).
    pub fn read_through(
        &mut self,
        writer: &MapWriter,
        label: &str,
        timeout: Duration,
    ) -> Result<&MapContents, StoreError> {
        let nonce = mark_nonce();
        writer.write(
            label,
            &[Entry::Mark {
                nonce: nonce.clone(),
            }],
        )?;
        let start = Instant::now();
        loop {
            self.poll_one()?;
            if self.last_mark.as_deref() == Some(nonce.as_str()) {
                return Ok(self.contents());
            }
            if start.elapsed() >= timeout {
                return Err(StoreError::MarkNotRead {
                    topic: self.topic.clone(),
                    waited: timeout,
                });
            }
        }
    }

    /// Polls once (50 ms at most) and applies the entry read, if any;
    /// returns whether a record other than a mark was read (one this
    /// version cannot parse counts too): the marks of a running sync do
    /// not keep [`MapReader::catch_up`] from seeing the map idle.
    fn poll_one(&mut self) -> Result<bool, StoreError> {
        match self.consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                match m
                    .payload()
                    .and_then(|v| serde_json::from_slice::<Entry>(v).ok())
                {
                    Some(Entry::Mark { nonce }) => {
                        self.last_mark = Some(nonce);
                        return Ok(false);
                    }
                    Some(e) => self.contents.apply(e),
                    None => {}
                }
                Ok(true)
            }
            Some(Err(e)) => Err(StoreError::Kafka {
                cluster: "target".into(),
                topic: self.topic.clone(),
                context: "reading".into(),
                source: e,
            }),
            None => Ok(false),
        }
    }

    /// The contents read so far, views rebuilt.
    fn contents(&mut self) -> &MapContents {
        if self.contents.rebuild_dirty {
            self.contents.rebuild();
        }
        &self.contents
    }
}

/// A mark's nonce: process id, a counter and the time, unique across the
/// processes writing one map topic.
fn mark_nonce() -> String {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        ROUND.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates an admin client for the target.
pub(crate) fn target_admin(
    target: &ClusterConfig,
) -> Result<AdminClient<DefaultClientContext>, StoreError> {
    target
        .client_config()
        .create()
        .map_err(|source| StoreError::Kafka {
            cluster: target.label.clone(),
            topic: String::new(),
            context: "creating an admin client".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_runs_replace_their_earlier_length() {
        let run = |count| Entry::Run {
            topic: "t".into(),
            partition: 0,
            run: Run {
                source: 0,
                target_partition: 0,
                target: 0,
                count,
            },
        };
        let mut m = MapContents::default();
        m.apply(run(10));
        m.apply(run(20));
        m.apply(Entry::Meta {
            preserve_partitions: true,
        });
        m.apply(Entry::Group {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            offset: 7,
        });
        m.rebuild();
        assert_eq!(m.runs["t"][&0].len(), 1);
        assert_eq!(m.runs["t"][&0][0].count, 20);
        assert_eq!(m.preserve_partitions, Some(true));
        assert_eq!(m.groups["g"]["t"][&0], 7);
        // Entries round-trip through their JSON.
        let e = run(3);
        let back: Entry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn topic_names_hold_only_legal_characters() {
        assert_eq!(topic_name("AbC-1_x.y"), "kmirror.offsets.AbC-1_x.y");
        assert_eq!(topic_name("a/b+c="), "kmirror.offsets.a_b_c_");
    }
}
