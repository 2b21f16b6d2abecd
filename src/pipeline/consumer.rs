//! The source side: one thread per consumer (`--num.streams` per source
//! cluster), each forwarding records to the producers and committing the
//! delivered prefix of its partitions.

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::BaseRecord;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use tracing::{debug, info, warn};

use super::errors::{self, Disposition, SendAction, SendFailure};
use super::producer::{is_authentication_failure, settle_failed_send, ProducerPool, Token};
use super::topic_id;
use super::tracker::OffsetTracker;
use super::{PartitionState, PipelineError, Shared, TopicSet};
use crate::config::translate::StartPolicy;
use crate::config::ClusterConfig;

/// Timeout for group-coordinator calls made from the rebalance callback.
const COORDINATOR_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts of one commit while its error is retriable.
const COMMIT_ATTEMPTS: u32 = 5;

/// The wait before the first commit retry; doubled after each (0.2 + 0.4 +
/// 0.8 + 1.6 s at most between attempts).
const COMMIT_BACKOFF: Duration = Duration::from_millis(200);

/// Per-consumer state reachable from librdkafka's callbacks.
pub(crate) struct MirrorConsumerContext {
    cluster: String,
    start: StartPolicy,
    shared: Arc<Shared>,
    /// Assigned partitions: topic → partition → state.
    parts: Mutex<FxHashMap<String, FxHashMap<i32, Arc<PartitionState>>>>,
    /// Bumped whenever `parts` changes, so a [`LastPartition`] taken before
    /// a rebalance is never used after it.
    parts_version: AtomicU64,
    drain_timeout: Duration,
    /// Whether this consumer has had an assignment yet (for `/readyz`).
    joined: std::sync::atomic::AtomicBool,
    /// The source cluster's id, for audit entries (fetched with `--audit.log`).
    cluster_id: std::sync::OnceLock<String>,
    /// The principal kmirror uses on this source, for audit entries.
    principal: String,
}

impl ClientContext for MirrorConsumerContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error
            .rdkafka_error_code()
            .is_some_and(is_authentication_failure)
        {
            // Before a possible abort, so /readyz names the side.
            self.shared
                .metrics
                .authentication_failed(&self.cluster, reason);
        }
        match error.rdkafka_error_code() {
            Some(code) if errors::client_error_is_fatal(code) => {
                self.shared.fail(PipelineError::Client {
                    cluster: self.cluster.clone(),
                    code,
                    message: reason.to_string(),
                })
            }
            _ => warn!(cluster = %self.cluster, "{error}: {reason}"),
        }
    }
}

impl ConsumerContext for MirrorConsumerContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // The first assignment (even an empty one) proves this
                // consumer authenticated and joined its group: ready.
                if !self.joined.swap(true, Ordering::Relaxed) {
                    self.shared.metrics.stream_joined();
                }
                self.shared.metrics.authenticated(&self.cluster);
                if let Err(e) = self.on_assign(consumer, tpl) {
                    self.shared.fail(e);
                }
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = r {
                    self.shared.fail(PipelineError::Kafka {
                        cluster: self.cluster.clone(),
                        context: "assigning partitions".into(),
                        source: e,
                    });
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // Drain and commit before giving the partitions up, so the
                // next owner starts exactly after what this one delivered.
                let revoked = self.take_states(Some(tpl));
                info!(cluster = %self.cluster, partitions = revoked.len(), "partitions revoked: draining in-flight records and committing");
                self.drain(&revoked);
                if !consumer.assignment_lost() {
                    if let Err(e) = self.commit(consumer, &revoked, MapWait::Full) {
                        // The next owner starts at the last committed offsets
                        // and mirrors these records again: nothing is lost.
                        warn!("revoke: {e}");
                    }
                }
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = r {
                    warn!(cluster = %self.cluster, "unassigning partitions: {e}");
                }
            }
            other => {
                // librdkafka 2.12 calls this only to assign or revoke; any
                // other code leaves the assignment unknown. The partition
                // states go without a commit: another member may own the
                // partitions by now, and a later commit of this one's
                // delivered prefix would move the group's committed offset
                // backwards (issue #18, case 10). Records in flight are
                // mirrored again by the next owner.
                let dropped = self.take_states(None);
                warn!(cluster = %self.cluster, partitions = dropped.len(), "rebalance error: {:?}: partitions given up without committing", RDKafkaErrorCode::from(other));
                if let Err(e) = consumer.unassign() {
                    warn!(cluster = %self.cluster, "unassigning partitions: {e}");
                }
            }
        }
    }
}

impl MirrorConsumerContext {
    /// Decides where each newly assigned partition starts: its committed
    /// offset, or (for a partition the group never committed) the start
    /// policy. A committed offset below the log start means records were
    /// deleted before kmirror copied them: that stops the mirror.
    fn on_assign(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> Result<(), PipelineError> {
        let committed = consumer
            .committed_offsets(tpl.clone(), COORDINATOR_TIMEOUT)
            .map_err(|source| PipelineError::Kafka {
                cluster: self.cluster.clone(),
                context: "reading committed offsets of newly assigned partitions".into(),
                source,
            })?;
        let ids = self.topic_ids(consumer, &committed);
        let mut parts = self.parts.lock().expect("parts lock");
        self.parts_version.fetch_add(1, Ordering::AcqRel);
        let mut new_starts = Vec::new();
        for e in committed.elements() {
            let (topic, partition) = (e.topic().to_string(), e.partition());
            if let Err(source) = e.error() {
                // Not knowing a partition's committed offset is not "never
                // committed": starting by the start policy could skip.
                return Err(PipelineError::Kafka {
                    cluster: self.cluster.clone(),
                    context: format!("reading the committed offset of {topic} [{partition}]"),
                    source,
                });
            }
            // Without the topic's id now, the committed one is carried on.
            let topic_id = ids
                .get(&topic)
                .cloned()
                .or_else(|| topic_id::id_in_metadata(e.metadata()).map(str::to_string));
            let (start, committed_offset) = match e.offset() {
                Offset::Offset(o) => {
                    self.check_committed(consumer, &topic, partition, o, e.metadata(), &topic_id)?;
                    (Offset::Offset(o), Some(o))
                }
                _ => {
                    let o = self.resolve_start(consumer, &topic, partition)?;
                    new_starts.push((topic.clone(), partition, o));
                    (Offset::Offset(o), None)
                }
            };
            tpl.set_partition_offset(&topic, partition, start)
                .map_err(|source| PipelineError::Kafka {
                    cluster: self.cluster.clone(),
                    context: "setting start offsets".into(),
                    source,
                })?;
            debug!(cluster = %self.cluster, %topic, partition, ?start, "partition assigned");
            let start_offset = match start {
                Offset::Offset(o) => o,
                _ => -1,
            };
            let audited = self
                .shared
                .audit
                .as_ref()
                .and_then(|a| a.audited_through(&self.cluster, &topic, partition));
            parts.entry(topic.clone()).or_default().insert(
                partition,
                Arc::new(PartitionState {
                    cluster: self.cluster.clone(),
                    counters: self.shared.metrics.topic_counters(&topic),
                    topic,
                    partition,
                    topic_id,
                    tracker: Mutex::new(match (committed_offset, start) {
                        (Some(c), _) => OffsetTracker::new(Some(c)),
                        // A new start: committable until committed, so an
                        // interval commit records it if the one below fails.
                        (None, Offset::Offset(o)) => OffsetTracker::starting_at(o),
                        (None, _) => OffsetTracker::new(None),
                    }),
                    trail: Mutex::new(crate::observe::audit::PartitionTrail::new(audited)),
                    timestamp_notes: std::sync::atomic::AtomicU8::new(0),
                    runs: Mutex::default(),
                    acked_ts: std::sync::atomic::AtomicI64::new(0),
                    skips: super::skips::PartitionSkips::starting_at(start_offset)
                        .counted_before(topic_id::skipped_in_metadata(e.metadata())),
                }),
            );
        }
        drop(parts);
        self.commit_starts(consumer, &new_starts);
        info!(cluster = %self.cluster, partitions = committed.count(), "partitions assigned");
        Ok(())
    }

    /// The current ids of the topics in `tpl` (see [`topic_id::topic_ids`]).
    /// When they cannot be read, none: a re-created topic is then not told
    /// apart by id (committed offsets beyond the new end still stop the
    /// mirror, as out of range).
    fn topic_ids(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> std::collections::BTreeMap<String, String> {
        let mut topics: Vec<String> = tpl
            .elements()
            .iter()
            .map(|e| e.topic().to_string())
            .collect();
        topics.dedup();
        topic_id::topic_ids(consumer.client().native_ptr(), &topics, COORDINATOR_TIMEOUT)
            .unwrap_or_else(|e| {
                warn!(cluster = %self.cluster, "topic ids of newly assigned partitions not read ({:?}: {}): a deleted and re-created topic cannot be told apart by its id", e.code, e.message);
                Default::default()
            })
    }

    /// Checks a committed offset before resuming at it: it must belong to
    /// this incarnation of the topic (the id stored with the commit, when
    /// there is one, is the topic's id now), and no record below it may
    /// have been deleted unmirrored (it is not below the log start).
    fn check_committed(
        &self,
        consumer: &BaseConsumer<Self>,
        topic: &str,
        partition: i32,
        committed: i64,
        metadata: &str,
        current_id: &Option<String>,
    ) -> Result<(), PipelineError> {
        // Only the low watermark is trusted here: some brokers (the tansu
        // test rig) under-report the high one.
        let (low, _high) = consumer
            .fetch_watermarks(topic, partition, COORDINATOR_TIMEOUT)
            .map_err(|source| PipelineError::Kafka {
                cluster: self.cluster.clone(),
                context: format!("reading the log start offset of {topic} [{partition}]"),
                source,
            })?;
        if let Some((then, now)) = recreated_since_commit(committed, low, metadata, current_id) {
            return Err(PipelineError::RecreatedTopic {
                cluster: self.cluster.clone(),
                topic: topic.to_string(),
                partition,
                committed,
                log_start: low,
                committed_id: then.to_string(),
                current_id: now.to_string(),
            });
        }
        if committed < low {
            return Err(PipelineError::SourceGap {
                cluster: self.cluster.clone(),
                topic: topic.to_string(),
                partition,
                committed,
                log_start: low,
            });
        }
        Ok(())
    }

    /// The concrete start offset of a partition the group never committed:
    /// its log start (earliest) or its end (latest), as the broker reports
    /// them now. A concrete offset, rather than librdkafka's logical
    /// `Beginning`/`End`, is what makes the start committable.
    ///
    /// A broker that under-reports the end (tansu with `memory://` answers
    /// the last batch's base offset + 1) makes a latest start earlier than
    /// the true end: a few more records are mirrored, never fewer.
    fn resolve_start(
        &self,
        consumer: &BaseConsumer<Self>,
        topic: &str,
        partition: i32,
    ) -> Result<i64, PipelineError> {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, COORDINATOR_TIMEOUT)
            .map_err(|source| PipelineError::Kafka {
                cluster: self.cluster.clone(),
                context: format!("reading the start and end offsets of {topic} [{partition}]"),
                source,
            })?;
        Ok(match self.start {
            StartPolicy::Earliest => low,
            StartPolicy::Latest => high,
        })
    }

    /// Commits the start offsets of newly assigned partitions that had none,
    /// before anything is fetched. Without it, a process that stops before
    /// its first delivery leaves no committed offset; with
    /// `auto.offset.reset=latest` its successor would then start at the new
    /// end and skip every record produced in between.
    ///
    /// One attempt, no retries: this runs inside the rebalance callback,
    /// where the usual failure (`RebalanceInProgress`: another member is
    /// joining) cannot clear until the callback returns. On failure the
    /// starts stay committable, and the next interval commit records them.
    fn commit_starts(&self, consumer: &BaseConsumer<Self>, starts: &[(String, i32, i64)]) {
        if starts.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, o) in starts {
            let id = self
                .state(topic, *partition)
                .and_then(|s| s.topic_id.clone());
            // Never committed before: nothing skipped yet.
            if !add_commit(&mut tpl, topic, *partition, *o, (id.as_deref(), 0)) {
                return;
            }
        }
        let described = describe_offsets(starts);
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            warn!(cluster = %self.cluster, "start offsets not committed yet ({described}): {e}; the next interval commit records them");
            return;
        }
        for (topic, partition, o) in starts {
            if let Some(s) = self.state(topic, *partition) {
                s.tracker.lock().expect("tracker lock").mark_committed(*o);
            }
            self.shared
                .metrics
                .committed(&self.cluster, topic, *partition, *o);
        }
        info!(cluster = %self.cluster, "start offsets committed for partitions the group never committed: {described}");
    }

    /// Removes and returns the states of `tpl`'s partitions (all when `None`).
    fn take_states(&self, tpl: Option<&TopicPartitionList>) -> Vec<Arc<PartitionState>> {
        let mut parts = self.parts.lock().expect("parts lock");
        self.parts_version.fetch_add(1, Ordering::AcqRel);
        match tpl {
            None => parts.drain().flat_map(|(_, m)| m.into_values()).collect(),
            Some(tpl) => tpl
                .elements()
                .iter()
                .filter_map(|e| {
                    parts
                        .get_mut(e.topic())
                        .and_then(|m| m.remove(&e.partition()))
                })
                .collect(),
        }
    }

    fn all_states(&self) -> Vec<Arc<PartitionState>> {
        let parts = self.parts.lock().expect("parts lock");
        parts.values().flat_map(|m| m.values().cloned()).collect()
    }

    fn state(&self, topic: &str, partition: i32) -> Option<Arc<PartitionState>> {
        let parts = self.parts.lock().expect("parts lock");
        parts.get(topic).and_then(|m| m.get(&partition)).cloned()
    }

    /// Waits (bounded) until no record of `states` is in flight. The
    /// producers' own threads deliver the reports, so waiting here cannot
    /// block them.
    fn drain(&self, states: &[Arc<PartitionState>]) {
        // During a stop, the stop's own bound (case 7): one bound for the
        // whole stop, not one per drain.
        let own = Instant::now() + self.drain_timeout;
        let deadline = self.shared.drain_deadline().map_or(own, |d| d.min(own));
        loop {
            let in_flight: usize = states
                .iter()
                .map(|s| s.tracker.lock().expect("tracker lock").in_flight())
                .sum();
            if in_flight == 0 {
                return;
            }
            if Instant::now() >= deadline {
                warn!(cluster = %self.cluster, in_flight, "records still unacknowledged after {:?}; they will be mirrored again by the next owner", self.drain_timeout);
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Commits the delivered prefix of `states` (synchronously, retrying
    /// retriable errors). An error names every offset not committed. With
    /// `--offset.map`, the map is written to the target first, waiting for
    /// it as `map_wait` says.
    fn commit(
        &self,
        consumer: &BaseConsumer<Self>,
        states: &[Arc<PartitionState>],
        map_wait: MapWait,
    ) -> Result<(), PipelineError> {
        let mut tpl = TopicPartitionList::new();
        let mut pending = Vec::new();
        for s in states {
            if let Some(o) = s.tracker.lock().expect("tracker lock").needs_commit() {
                let meta = (s.topic_id.as_deref(), s.skips.skipped_below(o));
                if add_commit(&mut tpl, &s.topic, s.partition, o, meta) {
                    pending.push((s.clone(), o));
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if let Some(audit) = &self.shared.audit {
            // The trail must hold every range before its offsets are committed.
            let cluster_id = self.cluster_id.get().map_or("", String::as_str);
            let entries = pending
                .iter()
                .filter_map(|(s, o)| {
                    let draft = s.trail.lock().expect("trail lock").take_before(*o)?;
                    Some(audit.entry(
                        &self.cluster,
                        cluster_id,
                        &self.principal,
                        &s.topic,
                        s.partition,
                        draft,
                    ))
                })
                .collect();
            if let Err(e) = audit.append(entries) {
                let error = format!("the audit trail could not be written: {e}");
                self.shared.fail(e.into());
                return Err(self.commit_failed(&pending, error));
            }
        }
        if let Some(map) = self.shared.offset_map.get() {
            // The map must say where these records landed before their
            // offsets are committed: a replay after a crash starts a new run.
            let parts = pending
                .iter()
                .map(|(s, o)| (s.topic.as_str(), s.partition, &s.runs, *o));
            let timeout = match map_wait {
                MapWait::Full => crate::failover::store::WRITE_TIMEOUT,
                MapWait::Interval => INTERVAL_MAP_WAIT,
            };
            if let Err(e) = map.write_runs(&self.cluster, parts, timeout) {
                return Err(self.commit_failed(&pending, e.to_string()));
            }
        }
        match self.commit_retrying(consumer, &tpl) {
            Ok(()) => {
                // The coordinator took the commit: authentication works.
                self.shared.metrics.authenticated(&self.cluster);
                for (s, o) in &pending {
                    s.tracker.lock().expect("tracker lock").mark_committed(*o);
                    self.shared
                        .metrics
                        .committed(&self.cluster, &s.topic, s.partition, *o);
                }
                self.shared.stats.commits.fetch_add(1, Ordering::Relaxed);
                debug!(cluster = %self.cluster, partitions = pending.len(), "offsets committed");
                Ok(())
            }
            Err(e) => Err(self.commit_failed(&pending, e.to_string())),
        }
    }

    /// The error naming the offsets of `pending` as not committed.
    fn commit_failed(
        &self,
        pending: &[(Arc<PartitionState>, i64)],
        error: String,
    ) -> PipelineError {
        let offsets: Vec<_> = pending
            .iter()
            .map(|(s, o)| (s.topic.clone(), s.partition, *o))
            .collect();
        PipelineError::CommitFailed {
            cluster: self.cluster.clone(),
            offsets: describe_offsets(&offsets),
            error,
        }
    }

    /// `consumer.commit`, retried while the error is retriable
    /// ([`commit_with_retries`]).
    fn commit_retrying(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> Result<(), KafkaError> {
        commit_with_retries(
            &self.cluster,
            || consumer.commit(tpl, CommitMode::Sync),
            std::thread::sleep,
        )
    }
}

/// The topic ids (then, now) when `committed` was committed for another
/// incarnation of the topic (the id in the commit's metadata is not the
/// topic's id now) and resuming there would skip records of this one (it
/// lies above the log start `low`). None when either id is unknown.
fn recreated_since_commit<'a>(
    committed: i64,
    low: i64,
    metadata: &'a str,
    current_id: &'a Option<String>,
) -> Option<(&'a str, &'a str)> {
    let then = topic_id::id_in_metadata(metadata)?;
    let now = current_id.as_deref()?;
    (then != now && committed > low).then_some((then, now))
}

/// Runs `commit` until it succeeds, retrying with backoff while its error is
/// retriable (coordinator moving or unreachable, rebalance), at most
/// [`COMMIT_ATTEMPTS`] times. The caller decides what a failure means.
fn commit_with_retries(
    cluster: &str,
    mut commit: impl FnMut() -> Result<(), KafkaError>,
    mut sleep: impl FnMut(Duration),
) -> Result<(), KafkaError> {
    let mut backoff = COMMIT_BACKOFF;
    let mut attempt = 1;
    loop {
        match commit() {
            Ok(()) => return Ok(()),
            // librdkafka found nothing to commit: nothing is missing.
            Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => return Ok(()),
            Err(e)
                if attempt < COMMIT_ATTEMPTS
                    && e.rdkafka_error_code().is_some_and(errors::commit_retriable) =>
            {
                warn!(
                    cluster,
                    attempt, "offset commit failed, retrying in {backoff:?}: {e}"
                );
                sleep(backoff);
                backoff *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Adds `offset` for `topic [partition]` to a commit, with the topic's id
/// and the partition's skipped offsets below `offset` as the commit's
/// metadata (see [`topic_id`]). False if it could not be
/// added (an offset librdkafka cannot represent).
fn add_commit(
    tpl: &mut TopicPartitionList,
    topic: &str,
    partition: i32,
    offset: i64,
    (topic_id, skipped): (Option<&str>, u64),
) -> bool {
    let mut e = tpl.add_partition(topic, partition);
    e.set_metadata(topic_id::commit_metadata(topic_id, skipped));
    e.set_offset(Offset::Offset(offset)).is_ok()
}

/// `topic [partition] at offset, ...`, for messages naming offsets.
pub(crate) fn describe_offsets(offsets: &[(String, i32, i64)]) -> String {
    offsets
        .iter()
        .map(|(t, p, o)| format!("{t} [{p}] at {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything one consumer thread needs.
pub(crate) struct StreamSpec {
    pub cluster: ClusterConfig,
    pub stream: usize,
    pub shared: Arc<Shared>,
    pub producers: Arc<ProducerPool>,
    pub topics: Arc<TopicSet>,
    pub commit_interval: std::time::Duration,
    pub drain_timeout: std::time::Duration,
    pub preserve_partitions: bool,
}

/// The source cluster's config with kmirror's consumer settings on top.
pub(crate) fn consumer_config(cluster: &ClusterConfig) -> ClientConfig {
    let mut c = cluster.client_config();
    // kmirror commits only offsets the target acknowledged; librdkafka must
    // never commit or store on its own.
    c.set("enable.auto.commit", "false");
    c.set("enable.auto.offset.store", "false");
    // Never jump silently: a position out of range raises an error that
    // stops the mirror (start positions of new partitions are set explicitly).
    c.set("auto.offset.reset", "error");
    c.set("enable.partition.eof", "false");
    // librdkafka's prefetch per consumer, which with --queue.size bounds
    // kmirror's memory. When the prefetch is full, librdkafka waits
    // fetch.queue.backoff.ms (1000 ms by default) before fetching again,
    // which starved a small prefetch: 16 MiB ran at 84 MB/s on the rig.
    // With a 10 ms backoff, 16 MiB runs as fast as 64 MiB did (1 KiB
    // records, 8 partitions, 1M records: 180 vs 184 MB/s, within noise)
    // and peak RSS drops from 97 to 76 MB.
    if c.get("queued.max.messages.kbytes").is_none() {
        c.set("queued.max.messages.kbytes", "16384");
    }
    if c.get("fetch.queue.backoff.ms").is_none() {
        c.set("fetch.queue.backoff.ms", "10");
    }
    c
}

/// Gives stream `stream`'s consumer its own identity in the group: the
/// `client.id` and, with static membership, the `group.instance.id`, each
/// suffixed `-<stream>`. Consumers sharing one instance id would fence each
/// other out of the group, so `--num.streams` > 1 with a configured
/// `group.instance.id` needs one per stream; stream 0 also gets its suffix so
/// changing `--num.streams` keeps its identity.
pub(crate) fn set_stream_identity(cfg: &mut ClientConfig, stream: usize) {
    let client_id = format!("{}-{stream}", cfg.get("client.id").unwrap_or("kmirror"));
    cfg.set("client.id", client_id);
    if let Some(instance) = cfg.get("group.instance.id").filter(|i| !i.is_empty()) {
        let instance = format!("{instance}-{stream}");
        cfg.set("group.instance.id", instance);
    }
}

/// Runs one consumer until the pipeline stops, then drains and commits.
pub(crate) fn run_stream(spec: StreamSpec) {
    let StreamSpec {
        cluster,
        stream,
        shared,
        producers,
        topics,
        commit_interval,
        drain_timeout,
        preserve_partitions,
    } = spec;
    let label = cluster.label.clone();
    let ctx = MirrorConsumerContext {
        cluster: label.clone(),
        start: cluster.start,
        shared: shared.clone(),
        parts: Mutex::new(FxHashMap::default()),
        parts_version: AtomicU64::new(0),
        drain_timeout,
        joined: std::sync::atomic::AtomicBool::new(false),
        cluster_id: std::sync::OnceLock::new(),
        principal: crate::observe::audit::principal_of(&cluster.principal),
    };
    let mut cfg = consumer_config(&cluster);
    set_stream_identity(&mut cfg, stream);
    let consumer: BaseConsumer<MirrorConsumerContext> = match cfg.create_with_context(ctx) {
        Ok(c) => c,
        Err(source) => {
            shared.fail(PipelineError::Kafka {
                cluster: label,
                context: "creating consumer".into(),
                source,
            });
            return;
        }
    };
    if shared.audit.is_some() {
        match consumer.client().fetch_cluster_id(Duration::from_secs(30)) {
            Some(id) => {
                let _ = consumer.context().cluster_id.set(id);
            }
            None => {
                warn!(cluster = %label, "the source did not report its cluster id; audit entries leave it empty")
            }
        }
    }
    let mut subscribed = 0u64;
    let mut last_commit = Instant::now();
    let mut last_lag = Instant::now();
    // Records handled since the timers were last checked. Reading the clock
    // for every record cost about 3% of this thread at 200k records/s, so
    // the timers are checked every HOUSEKEEPING_EVERY records, and whenever
    // a poll comes back empty.
    let mut since_housekeeping = HOUSEKEEPING_EVERY;
    let mut last = None;
    // When the queue last filled up, and whether the partitions are paused
    // for it (see PAUSE_AFTER).
    let mut backpressure_since: Option<Instant> = None;
    let mut paused = false;
    while !shared.stopping() {
        if since_housekeeping >= HOUSEKEEPING_EVERY {
            since_housekeeping = 0;
            let version = topics.version();
            if version != subscribed {
                let list = topics.list();
                let names: Vec<&str> = list.iter().map(String::as_str).collect();
                let r = if names.is_empty() {
                    consumer.unsubscribe();
                    Ok(())
                } else {
                    consumer.subscribe(&names)
                };
                if let Err(source) = r {
                    shared.fail(PipelineError::Kafka {
                        cluster: label.clone(),
                        context: "subscribing".into(),
                        source,
                    });
                    break;
                }
                info!(cluster = %label, stream, topics = names.len(), "subscribed to {}", names.join(", "));
                subscribed = version;
            }
            let now = Instant::now();
            if now.duration_since(last_commit) >= commit_interval {
                let ctx = consumer.context();
                if let Err(e) = ctx.commit(&consumer, &ctx.all_states(), MapWait::Interval) {
                    // Retried at the next interval; until then a restart
                    // only mirrors these records again.
                    warn!("{e}");
                }
                // From the commit's end: a commit that waited (a silent
                // target, up to INTERVAL_MAP_WAIT) is followed by a whole
                // interval of reading, not by the next commit at once.
                last_commit = Instant::now();
            }
            if now.duration_since(last_lag) >= LAG_REFRESH {
                refresh_lag(&consumer, &shared);
                last_lag = now;
            }
        }
        if shared.queue_full() {
            // Backpressure: the target has --queue.size records (or
            // --queue.bytes bytes) to acknowledge; wait for it instead of
            // reading more.
            since_housekeeping = HOUSEKEEPING_EVERY;
            let since = *backpressure_since.get_or_insert_with(Instant::now);
            if since.elapsed() < PAUSE_AFTER {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // A long stall (a target outage): pause the partitions and keep
            // polling, which returns nothing for paused partitions, so the
            // consumer neither exceeds max.poll.interval.ms (and leaves its
            // group) nor misses a rebalance, however long the target is
            // away. Pausing only after PAUSE_AFTER keeps the prefetched
            // records of short stalls: librdkafka drops them on pause and
            // fetches them again on resume (at the record after the last
            // one handed out, so nothing is skipped).
            set_paused(&consumer, true, &label);
            paused = true;
            // A record here belongs to a partition assigned during the
            // pause; it is forwarded, and the next round pauses it too.
            if let Some(polled) = consumer.poll(Duration::from_millis(10)) {
                handle_polled(
                    &consumer,
                    polled,
                    &mut last,
                    &producers,
                    &shared,
                    &label,
                    preserve_partitions,
                );
            }
            continue;
        }
        backpressure_since = None;
        if paused {
            set_paused(&consumer, false, &label);
            paused = false;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => since_housekeeping = HOUSEKEEPING_EVERY,
            Some(polled) => {
                since_housekeeping = if polled.is_ok() {
                    since_housekeeping + 1
                } else {
                    HOUSEKEEPING_EVERY
                };
                handle_polled(
                    &consumer,
                    polled,
                    &mut last,
                    &producers,
                    &shared,
                    &label,
                    preserve_partitions,
                );
            }
        }
    }
    // Stopping (shutdown or abort): let in-flight records finish, commit the
    // delivered prefix, then leave the group.
    let ctx = consumer.context();
    // Taken, not copied: the revoke that closing the consumer triggers then
    // has nothing left to drain or commit a second time.
    let states = ctx.take_states(None);
    ctx.drain(&states);
    if let Err(e) = ctx.commit(&consumer, &states, MapWait::Full) {
        // The last chance to commit: the run must not end as a success.
        tracing::error!("final commit: {e}");
        shared.fail(e);
    }
    let unacked: usize = states
        .iter()
        .map(|s| s.tracker.lock().expect("tracker lock").in_flight())
        .sum();
    shared
        .stats
        .unacknowledged_at_stop
        .fetch_add(unacked, Ordering::Relaxed);
    consumer.unsubscribe();
    drop(consumer);
    debug!(cluster = %label, stream, "consumer closed");
}

/// How long a commit waits for the target to acknowledge its offset-map
/// entries ([`MirrorConsumerContext::commit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapWait {
    /// A final or revoke commit: the last chance, waits up to the map's own
    /// bound (60 s).
    Full,
    /// An interval commit, made on the consumer thread: waits at most
    /// [`INTERVAL_MAP_WAIT`], then the commit fails and is retried at the
    /// next interval, so a silent target never stops the consumer from
    /// polling (issue #18: it used to block it for up to 60 s, reading
    /// nothing and serving no rebalance).
    Interval,
}

/// The longest an interval commit waits for the target to acknowledge the
/// offset map before the commit is given up until the next interval. Far
/// above one produce round trip on a slow link (0.1-0.2 s at 50 ms RTT with
/// the producer's linger), far below max.poll.interval.ms.
const INTERVAL_MAP_WAIT: Duration = Duration::from_secs(2);

/// Records a consumer forwards between checks of its commit and lag timers
/// and of its subscription (at 200k records/s: about every 0.3 ms).
const HOUSEKEEPING_EVERY: u32 = 64;

/// How often a consumer refreshes its per-partition lag gauges.
const LAG_REFRESH: Duration = Duration::from_secs(5);

/// Sets the lag gauge of each assigned partition: high watermark minus the
/// consumer's position. Both come from librdkafka's local state (the
/// watermark as of the last fetch response), so this never waits on a broker.
fn refresh_lag(consumer: &BaseConsumer<MirrorConsumerContext>, shared: &Shared) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let ctx = consumer.context();
    for e in positions.elements() {
        let Offset::Offset(pos) = e.offset() else {
            continue;
        };
        let Ok(topic) = std::ffi::CString::new(e.topic()) else {
            continue;
        };
        let (mut low, mut high) = (-1i64, -1i64);
        // SAFETY: the client pointer lives as long as `consumer`; the topic
        // is a valid C string and the out-pointers are valid for writes.
        let err = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                consumer.client().native_ptr(),
                topic.as_ptr(),
                e.partition(),
                &mut low,
                &mut high,
            )
        };
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 {
            shared
                .metrics
                .set_lag(&ctx.cluster, e.topic(), e.partition(), (high - pos).max(0));
            if let Some(s) = ctx.state(e.topic(), e.partition()) {
                let behind = high > pos || s.tracker.lock().expect("tracker lock").in_flight() > 0;
                let acked = Some(s.acked_ts.load(Ordering::Relaxed)).filter(|&t| t > 0);
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                if let Some(l) =
                    crate::observe::metrics::replication_latency_s(behind, acked, now_ms)
                {
                    shared.metrics.set_replication_latency(
                        &ctx.cluster,
                        e.topic(),
                        e.partition(),
                        l,
                    );
                }
            }
        }
    }
}

/// How long the queue stays full before a consumer pauses its partitions
/// (and keeps polling) instead of only waiting: a stall that long is a slow
/// or absent target, not a burst.
const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// Pauses (or resumes) every partition assigned to `consumer`.
fn set_paused(consumer: &BaseConsumer<MirrorConsumerContext>, pause: bool, label: &str) {
    let r = consumer.assignment().and_then(|tpl| {
        if pause {
            consumer.pause(&tpl)
        } else {
            consumer.resume(&tpl)
        }
    });
    if let Err(e) = r {
        warn!(cluster = %label, pause, "pausing/resuming partitions for backpressure: {e}");
    }
}

/// Forwards a polled record, or handles a consumer error.
fn handle_polled(
    consumer: &BaseConsumer<MirrorConsumerContext>,
    polled: Result<BorrowedMessage<'_>, KafkaError>,
    last: &mut Option<LastPartition>,
    producers: &ProducerPool,
    shared: &Arc<Shared>,
    label: &str,
    preserve_partitions: bool,
) {
    match polled {
        Ok(mut msg) => {
            if let Err(e) = forward(
                consumer,
                &mut msg,
                last,
                producers,
                shared,
                preserve_partitions,
            ) {
                shared.fail(e);
            }
        }
        Err(e) => handle_consume_error(consumer, label, shared, e),
    }
}

/// The state of the partition a consumer last forwarded a record of. A fetch
/// hands out runs of records of one partition, so most records reuse it
/// instead of reading the topic name (a UTF-8 check) and looking it up
/// under the `parts` lock.
pub(crate) struct LastPartition {
    /// The record's topic handle (its address, never dereferenced) and
    /// partition.
    key: (usize, i32),
    /// `parts_version` when `state` was looked up.
    version: u64,
    state: Arc<PartitionState>,
}

fn forward(
    consumer: &BaseConsumer<MirrorConsumerContext>,
    msg: &mut BorrowedMessage<'_>,
    last: &mut Option<LastPartition>,
    producers: &ProducerPool,
    shared: &Arc<Shared>,
    preserve_partitions: bool,
) -> Result<(), PipelineError> {
    // Moved out of the consumed message rather than copied: the producer
    // takes ownership of them, and the message is dropped after this call.
    let headers = msg.take_headers();
    let msg = &*msg;
    let ctx = consumer.context();
    let key = (msg.topic_ptr() as usize, msg.partition());
    let version = ctx.parts_version.load(Ordering::Acquire);
    let part = match last {
        Some(l) if l.key == key && l.version == version => l.state.clone(),
        _ => {
            let Some(state) = ctx.state(msg.topic(), msg.partition()) else {
                // A record of a partition this consumer no longer owns
                // (fetched before a revoke): its new owner reads it again
                // from the committed offset, so skipping it here loses
                // nothing.
                return Ok(());
            };
            *last = Some(LastPartition {
                key,
                version,
                state: state.clone(),
            });
            state
        }
    };
    if let Some(skip) = part.skips.detector.record(msg.offset()) {
        super::skips::on_skip(consumer.client(), &part, shared, skip)?;
    }
    let topic = part.topic.as_str();
    let sent = part
        .tracker
        .lock()
        .expect("tracker lock")
        .sent(msg.offset());
    let epoch = super::skips::leader_epoch(msg);
    if let Err(e) = sent {
        // A re-read: this offset was handed over already (in flight,
        // delivered, or before the start). Brokers may hand a record over
        // twice (tansu does to a consumer tailing a partition while it is
        // appended: issue #24's latency runs); a log rewritten by a newer
        // leader holds another record there, and that one must not be lost.
        return match part.skips.reread(epoch) {
            super::skips::Reread::Duplicate => {
                debug!(topic, partition = msg.partition(), "re-read skipped: {e}");
                Ok(())
            }
            super::skips::Reread::Rewritten => Err(PipelineError::LogRewritten {
                cluster: part.cluster.clone(),
                topic: topic.to_string(),
                partition: msg.partition(),
                offset: msg.offset(),
                epoch,
            }),
        };
    }
    part.skips.sent_in_epoch(epoch);
    let key = msg.key();
    let payload = msg.payload();
    let bytes = key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len);
    shared.sending(bytes);
    if shared.audit.is_some() {
        let digest = crate::observe::audit::record_digest(
            key,
            payload,
            headers
                .iter()
                .flat_map(rdkafka::message::Headers::iter)
                .map(|h| (h.key, h.value)),
            msg.timestamp().to_millis(),
        );
        part.trail
            .lock()
            .expect("trail lock")
            .sent(msg.offset(), digest, bytes as u64);
    }
    let mut record: BaseRecord<'_, [u8], [u8], Box<Token>> = BaseRecord::with_opaque_to(
        topic,
        Box::new(Token {
            part: part.clone(),
            offset: msg.offset(),
            bytes,
        }),
    );
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(p) = payload {
        record = record.payload(p);
    }
    if let Some(h) = headers {
        record = record.headers(h);
    }
    let (timestamp, note) = target_timestamp(msg.timestamp());
    record = record.timestamp(timestamp);
    if let Some(note) = note {
        note_timestamp(shared, &part, note);
    }
    if preserve_partitions {
        record = record.partition(msg.partition());
    }
    let producer = producers.pick(topic, key, msg.partition(), preserve_partitions);
    loop {
        let (e, r) = match producer.send(record) {
            Ok(()) => return Ok(()),
            Err(x) => x,
        };
        let code = e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        let action = errors::on_send_failure(
            SendFailure::Enqueue(code),
            shared.stopping(),
            shared.abort_on_send_failure,
        );
        if action == SendAction::Retry {
            // Backpressure: wait for deliveries to free the queue.
            record = r;
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let token = r.delivery_opaque;
        shared.settled(token.bytes);
        return match settle_failed_send(shared, &token, action, &token.part.topic, &e) {
            Some(fatal) => Err(fatal),
            None => Ok(()),
        };
    }
}

/// A source timestamp the target record cannot carry as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimestampNote {
    /// `LogAppendTime` on the source: re-sent as `CreateTime` (whether the
    /// target keeps it depends on the target topic's timestamp type).
    LogAppendTime,
    /// Timestamp 0: librdkafka replaces 0 with the current time, so it
    /// cannot be produced; sent without a timestamp (-1) instead.
    Zero,
}

impl TimestampNote {
    fn bit(self) -> u8 {
        match self {
            TimestampNote::LogAppendTime => 1,
            TimestampNote::Zero => 2,
        }
    }
}

/// The timestamp to produce a source record with, and a note when it
/// differs from the source's. librdkafka treats 0 as "now": a record
/// without a timestamp is sent with -1 explicitly (Kafka's "no timestamp"),
/// and a source timestamp of 0, which librdkafka cannot send, as -1 too.
pub(crate) fn target_timestamp(ts: Timestamp) -> (i64, Option<TimestampNote>) {
    match ts {
        Timestamp::NotAvailable => (-1, None),
        Timestamp::CreateTime(0) | Timestamp::LogAppendTime(0) => (-1, Some(TimestampNote::Zero)),
        Timestamp::CreateTime(t) => (t, None),
        Timestamp::LogAppendTime(t) => (t, Some(TimestampNote::LogAppendTime)),
    }
}

/// Logs a [`TimestampNote`] once per topic. A flag on the partition keeps
/// the shared set's lock off the per-record path of a `LogAppendTime` topic.
fn note_timestamp(shared: &Shared, part: &PartitionState, note: TimestampNote) {
    if part.timestamp_notes.fetch_or(note.bit(), Ordering::Relaxed) & note.bit() != 0 {
        return;
    }
    let first = shared
        .timestamp_notes
        .lock()
        .expect("timestamp notes lock")
        .insert((part.topic.clone(), note));
    if !first {
        return;
    }
    match note {
        TimestampNote::LogAppendTime => {
            warn!(cluster = %part.cluster, topic = %part.topic, "the source topic uses LogAppendTime: its records are re-sent with that time as their CreateTime (the target topic's message.timestamp.type decides what the target keeps)")
        }
        TimestampNote::Zero => {
            warn!(cluster = %part.cluster, topic = %part.topic, "a record with timestamp 0 is sent without a timestamp (-1): librdkafka replaces a timestamp of 0 with the current time")
        }
    }
}

fn handle_consume_error(
    consumer: &BaseConsumer<MirrorConsumerContext>,
    label: &str,
    shared: &Arc<Shared>,
    e: KafkaError,
) {
    let Some(code) = e.rdkafka_error_code() else {
        warn!(cluster = %label, "consumer: {e}");
        return;
    };
    if is_authentication_failure(code) {
        shared.metrics.authentication_failed(label, &e.to_string());
    }
    match errors::consumer_error(code) {
        Disposition::Retriable | Disposition::Backpressure => {
            debug!(cluster = %label, "consumer (retriable): {e}")
        }
        Disposition::Fatal if matches!(code, RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange) => {
            shared.fail(find_gap(consumer, label).unwrap_or_else(|| PipelineError::Client {
                cluster: label.to_string(),
                code,
                message: "a fetch position is out of range on the source (records deleted before they were mirrored, or the topic was re-created); kmirror stops instead of skipping".into(),
            }))
        }
        Disposition::Fatal => shared.fail(PipelineError::Client {
            cluster: label.to_string(),
            code,
            message: e.to_string(),
        }),
    }
}

/// After an out-of-range error: names the partition whose start offset (its
/// committed offset, else the consumer's position) lies outside the source's
/// offsets, if one can be found.
fn find_gap(consumer: &BaseConsumer<MirrorConsumerContext>, label: &str) -> Option<PipelineError> {
    let positions = consumer.position().ok();
    for s in consumer.context().all_states() {
        let committed = s.tracker.lock().expect("tracker lock").committed();
        let position = positions.as_ref().and_then(|p| {
            match p.find_partition(&s.topic, s.partition)?.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }
        });
        let Some(start) = committed.or(position) else {
            continue;
        };
        let Ok((low, high)) =
            consumer.fetch_watermarks(&s.topic, s.partition, Duration::from_secs(10))
        else {
            continue;
        };
        if start < low {
            return Some(PipelineError::SourceGap {
                cluster: label.to_string(),
                topic: s.topic.clone(),
                partition: s.partition,
                committed: start,
                log_start: low,
            });
        }
        if start > high {
            return Some(PipelineError::BeyondEnd {
                cluster: label.to_string(),
                topic: s.topic.clone(),
                partition: s.partition,
                committed: start,
                end: high,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QueueBound;

    /// Case 8: what each source timestamp is produced with. librdkafka
    /// sends 0 as "now", so no timestamp must never be passed as 0.
    #[test]
    fn timestamps_are_never_replaced_by_the_current_time() {
        use TimestampNote::*;
        #[rustfmt::skip]
        let table = [
            (Timestamp::CreateTime(1_704_067_200_000), 1_704_067_200_000, None),
            (Timestamp::NotAvailable,                  -1,                None),
            (Timestamp::CreateTime(0),                 -1,                Some(Zero)),
            (Timestamp::LogAppendTime(0),              -1,                Some(Zero)),
            (Timestamp::LogAppendTime(1_704_067_200_001), 1_704_067_200_001, Some(LogAppendTime)),
        ];
        for (source, sent, note) in table {
            assert_eq!(target_timestamp(source), (sent, note), "{source:?}");
            assert_ne!(target_timestamp(source).0, 0, "{source:?}: 0 means now");
        }
    }

    /// Case 6: retriable commit errors are retried with backoff, a bounded
    /// number of times; other errors are returned at once.
    #[test]
    fn commit_retries_retriable_errors_only() {
        let err = |c| KafkaError::ConsumerCommit(c);
        let run = |mut results: Vec<Result<(), KafkaError>>| {
            results.reverse();
            let (mut calls, mut slept) = (0, Vec::new());
            let r = commit_with_retries(
                "source",
                || {
                    calls += 1;
                    results.pop().unwrap_or(Ok(()))
                },
                |d| slept.push(d),
            );
            (r.map_err(|e| e.rdkafka_error_code()), calls, slept)
        };
        let ms = Duration::from_millis;
        // The coordinator moves, then the commit goes through.
        let (r, calls, slept) = run(vec![
            Err(err(RDKafkaErrorCode::NotCoordinator)),
            Err(err(RDKafkaErrorCode::RequestTimedOut)),
            Ok(()),
        ]);
        assert_eq!((r, calls), (Ok(()), 3));
        assert_eq!(slept, [ms(200), ms(400)]);
        // Not retriable: returned at once.
        let (r, calls, _) = run(vec![Err(err(RDKafkaErrorCode::GroupAuthorizationFailed))]);
        assert_eq!(
            (r, calls),
            (Err(Some(RDKafkaErrorCode::GroupAuthorizationFailed)), 1)
        );
        // Retriable for ever: bounded.
        let always = (0..10)
            .map(|_| Err(err(RDKafkaErrorCode::CoordinatorNotAvailable)))
            .collect();
        let (r, calls, _) = run(always);
        assert_eq!(
            (r, calls),
            (
                Err(Some(RDKafkaErrorCode::CoordinatorNotAvailable)),
                COMMIT_ATTEMPTS as usize
            )
        );
    }

    /// Case 10: after a rebalance error the consumer keeps no partition
    /// state, so no later commit (interval or final) can write this
    /// member's older delivered prefix over the next owner's commits.
    #[test]
    fn case10_rebalance_error_leaves_nothing_to_commit() {
        let shared = Arc::new(Shared::new(
            QueueBound {
                records: 10,
                bytes: usize::MAX,
            },
            true,
            Arc::new(crate::observe::metrics::Metrics::new()),
            None,
        ));
        let ctx = MirrorConsumerContext {
            cluster: "source".into(),
            start: StartPolicy::Earliest,
            shared: shared.clone(),
            parts: Mutex::new(FxHashMap::default()),
            parts_version: AtomicU64::new(0),
            drain_timeout: Duration::from_millis(10),
            joined: std::sync::atomic::AtomicBool::new(false),
            cluster_id: std::sync::OnceLock::new(),
            principal: String::new(),
        };
        let consumer: BaseConsumer<MirrorConsumerContext> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("group.id", "case10")
            .create_with_context(ctx)
            .unwrap();
        let ctx = consumer.context();
        // Assigned at committed offset 100; records 100..110 delivered.
        let mut tracker = OffsetTracker::new(Some(100));
        for o in 100..110 {
            tracker.sent(o).unwrap();
            tracker.delivered(o);
        }
        assert_eq!(tracker.needs_commit(), Some(110));
        ctx.parts
            .lock()
            .unwrap()
            .entry("t".into())
            .or_default()
            .insert(
                0,
                Arc::new(PartitionState {
                    cluster: "source".into(),
                    topic: "t".into(),
                    partition: 0,
                    topic_id: None,
                    tracker: Mutex::new(tracker),
                    trail: Mutex::new(crate::observe::audit::PartitionTrail::new(None)),
                    counters: shared.metrics.topic_counters("t"),
                    timestamp_notes: std::sync::atomic::AtomicU8::new(0),
                    runs: Mutex::default(),
                    acked_ts: std::sync::atomic::AtomicI64::new(0),
                    skips: crate::pipeline::skips::PartitionSkips::starting_at(100),
                }),
            );
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        ctx.rebalance(&consumer, RDKafkaRespErr::RD_KAFKA_RESP_ERR__FAIL, &mut tpl);
        let left: Vec<_> = ctx
            .all_states()
            .iter()
            .filter_map(|s| s.tracker.lock().unwrap().needs_commit())
            .collect();
        assert!(
            left.is_empty(),
            "offsets a later commit would write: {left:?}"
        );
    }

    /// Case 5: when a committed offset is taken for another incarnation
    /// of its topic.
    #[test]
    fn committed_offset_of_another_incarnation_is_recognised() {
        let (old, new) = (Some("OLD".to_string()), Some("NEW".to_string()));
        let m = |id: &str| topic_id::commit_metadata(Some(id), 0);
        #[rustfmt::skip]
        let table = [
            // committed, low, metadata,  id now, recreated?
            (150, 0,   m("OLD"),     &old,  false), // same topic
            (150, 0,   m("OLD"),     &new,  true),  // re-created: 0..149 skipped
            (150, 150, m("OLD"),     &new,  false), // nothing below to skip
            (150, 0,   String::new(), &new, false), // no identity stored
            (150, 0,   m("OLD"),     &None, false), // no id now
        ];
        for (committed, low, metadata, now, expected) in table {
            assert_eq!(
                recreated_since_commit(committed, low, &metadata, now).is_some(),
                expected,
                "{committed} {low} {metadata} {now:?}"
            );
        }
    }

    #[test]
    fn each_stream_gets_its_own_client_and_instance_id() {
        let mut static_member = ClientConfig::new();
        static_member.set("group.instance.id", "mirror-a");
        static_member.set("client.id", "mm");
        set_stream_identity(&mut static_member, 1);
        assert_eq!(static_member.get("client.id"), Some("mm-1"));
        assert_eq!(static_member.get("group.instance.id"), Some("mirror-a-1"));

        // Dynamic membership stays dynamic.
        let mut dynamic = ClientConfig::new();
        set_stream_identity(&mut dynamic, 0);
        assert_eq!(dynamic.get("client.id"), Some("kmirror-0"));
        assert_eq!(dynamic.get("group.instance.id"), None);
    }
}
