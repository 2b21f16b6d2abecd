//! The replication pipeline: consume → produce → commit.
//!
//! Data path: each source cluster has `--num.streams` consumer threads in
//! its consumer group; a consumer hands each record (key, value, headers,
//! timestamp, byte for byte) to a producer of the target pool and records
//! its offset in the partition's [`tracker::OffsetTracker`]. The producer's
//! delivery report marks the offset delivered (or failed). Commits store
//! only the offset after the contiguous delivered prefix: on the interval,
//! on revoke (after draining the partition) and on the way out.
//!
//! Memory is bounded by `--queue.size` and `--queue.bytes`: a consumer
//! stops reading while that many records, or bytes of keys and values, are
//! unacknowledged.

mod consumer;
pub mod errors;
pub(crate) mod producer;
pub mod skips;
mod stall;
mod topic_id;
pub mod tracker;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{error, info, warn};

use crate::config::{ClusterConfig, Config, QueueBound};
use crate::preflight::{self, topics::TopicPartitions, PreflightError};

/// A failure that stopped the mirror. Only the delivered prefix of each
/// partition was committed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A record could not be written to the target (non-retriable error,
    /// or retries exhausted within `delivery.timeout.ms`).
    #[error("send failure: record {topic} [{partition}] offset {offset} from the {cluster} cluster could not be written to target topic {target_topic}: {error}. kmirror stopped; committed offsets stop before this record, so nothing after it is lost: fix the cause and restart")]
    SendFailed {
        /// Source cluster label.
        cluster: String,
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// Target topic.
        target_topic: String,
        /// The broker's or librdkafka's error.
        error: String,
        /// Its code.
        code: Option<RDKafkaErrorCode>,
    },
    /// Records were deleted on the source before kmirror copied them.
    #[error("{cluster}: {topic} [{partition}]: records {committed}..{} were deleted on the source before kmirror copied them (log start is now {log_start}; retention, or the topic was re-created). kmirror does not skip data silently: to accept the loss, reset the group's offsets (kafka-consumer-groups.sh --reset-offsets) and restart", log_start - 1)]
    SourceGap {
        /// Source cluster label.
        cluster: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The committed (or fetch) offset.
        committed: i64,
        /// The source's log start offset.
        log_start: i64,
    },
    /// A fetch returned a record beyond the offset kmirror expected, and
    /// nothing explains the skipped offsets (issue #18, case 0).
    #[error("{cluster}: {topic} [{partition}]: records {first}..{last} were never returned by the source: the fetch skipped them and nothing explains it ({why}). The broker lost them, or answered a fetch with a later batch than the one holding the offset asked for. kmirror does not skip data silently: everything before offset {first} is mirrored and committed; to accept the loss, reset the group's offset to {} (kafka-consumer-groups.sh --reset-offsets --to-offset) and restart", last + 1)]
    UnexplainedGap {
        /// Source cluster label.
        cluster: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// First offset never returned.
        first: i64,
        /// Last offset never returned (inclusive).
        last: i64,
        /// What was ruled out (policy, transactions, log start).
        why: String,
    },
    /// A record came again at an offset already mirrored, from a newer
    /// leader epoch than any record mirrored: the source partition's log
    /// was truncated and rewritten (an unclean leader election).
    #[error("{cluster}: {topic} [{partition}]: offset {offset} was read again from leader epoch {epoch}, newer than every record mirrored: the source's log was truncated and rewritten (an unclean leader election), so the target holds records the source no longer has. kmirror stopped before sending the new record; committed offsets stop at what the target acknowledged. Decide how to reconcile (the records at and after offset {offset} differ between the clusters), then reset the group's offset and restart")]
    LogRewritten {
        /// Source cluster label.
        cluster: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offset read again.
        offset: i64,
        /// Its leader epoch.
        epoch: i32,
    },
    /// The committed offset lies past the source partition's end: the topic
    /// was deleted and re-created (or truncated) since kmirror committed.
    #[error("{cluster}: {topic} [{partition}]: the committed offset {committed} is beyond the end of the partition ({end}): the topic was probably deleted and re-created since kmirror committed. kmirror does not jump silently: to mirror the new topic from its start, reset the group's offsets (kafka-consumer-groups.sh --reset-offsets --to-earliest) and restart")]
    BeyondEnd {
        /// Source cluster label.
        cluster: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The committed offset.
        committed: i64,
        /// The partition's end offset.
        end: i64,
    },
    /// The committed offset belongs to an earlier incarnation of the topic
    /// (deleted and re-created since it was committed: the topic id stored
    /// with the commit differs from the topic's id now). Applied to the new
    /// topic it would skip the new topic's records below it.
    #[error("{cluster}: {topic} [{partition}]: the topic was deleted and re-created since kmirror committed offset {committed} (topic id then {committed_id}, now {current_id}); resuming there would skip records {log_start}..{} of the new topic. kmirror does not skip data silently: to mirror the new topic from its start, reset the group's offsets for it (kafka-consumer-groups.sh --reset-offsets --to-earliest --topic {topic}) and restart", committed - 1)]
    RecreatedTopic {
        /// Source cluster label.
        cluster: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The committed offset (of the old incarnation).
        committed: i64,
        /// The new incarnation's log start offset.
        log_start: i64,
        /// The topic id stored with the commit.
        committed_id: String,
        /// The topic's id now.
        current_id: String,
    },
    /// A client reported an error kmirror cannot continue after.
    #[error("{cluster}: {code:?}: {message}{}", errors::kerberos_doc_hint(.message))]
    Client {
        /// Cluster label.
        cluster: String,
        /// librdkafka's code.
        code: RDKafkaErrorCode,
        /// Its explanation.
        message: String,
    },
    /// A librdkafka call failed.
    #[error("{cluster}: {context}: {source}")]
    Kafka {
        /// Cluster label.
        cluster: String,
        /// What kmirror was doing.
        context: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Offsets could not be committed (after retrying retriable errors):
    /// the listed records are on the target but would be mirrored again
    /// after a restart; a start offset not committed could be skipped.
    #[error("{cluster}: offsets not committed: {offsets}: {error}. Records after the last committed offsets are on the target but will be mirrored again on restart")]
    CommitFailed {
        /// Source cluster label.
        cluster: String,
        /// `topic [partition] at offset`, for each offset not committed.
        offsets: String,
        /// The last commit error.
        error: String,
    },
    /// A topic check at run time (new topic) failed.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// A clean stop did not finish within `--shutdown.timeout.ms`.
    #[error("the stop did not finish within --shutdown.timeout.ms: {unacknowledged} record(s) not acknowledged by the target; offsets are committed only up to what the target acknowledged, so the rest is mirrored again on restart")]
    ShutdownTimeout {
        /// Records still in flight.
        unacknowledged: usize,
    },
    /// Kerberos: no ticket at start-up, or the ticket expired unrenewed.
    #[error(transparent)]
    Kerberos(#[from] crate::security::kerberos::KerberosError),
    /// The audit trail could not be opened or written: offsets it would
    /// describe are not committed.
    #[error(transparent)]
    Audit(#[from] crate::observe::audit::AuditError),
    /// The metrics endpoint could not be started.
    #[error(transparent)]
    MetricsEndpoint(#[from] crate::observe::http::BindError),
    /// A pipeline thread panicked (a bug): the others were stopped, and only
    /// the delivered prefix of each partition was committed.
    #[error("internal error: thread {thread} panicked: {message}. kmirror stopped; committed offsets stop at what the target acknowledged")]
    Panicked {
        /// The thread's name.
        thread: String,
        /// The panic's message.
        message: String,
    },
    /// The offset map (`--offset.map`) could not be set up.
    #[error(transparent)]
    OffsetMap(#[from] crate::failover::store::StoreError),
    /// A broken internal invariant (a bug): stopped rather than risk data.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Counters of a run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records acknowledged by the target.
    pub records: AtomicU64,
    /// Key + value bytes acknowledged.
    pub bytes: AtomicU64,
    /// Delivery errors.
    pub delivery_errors: AtomicU64,
    /// Records dropped with `--abort.on.send.failure=false`.
    pub dropped: AtomicU64,
    /// Successful commits.
    pub commits: AtomicU64,
    /// Records still unacknowledged when consumers stopped.
    pub unacknowledged_at_stop: AtomicUsize,
}

/// State shared by all threads of a run.
pub(crate) struct Shared {
    stop: AtomicBool,
    /// `--shutdown.timeout.ms`: the bound on a whole stop.
    shutdown_timeout: Duration,
    /// When the stop must be over: set once, at the first stop request.
    stop_deadline: std::sync::OnceLock<Instant>,
    /// Wakes the run's wait for a stop (threads poll `stop` between polls
    /// of librdkafka; the async side waits on this instead of polling).
    stop_notify: tokio::sync::Notify,
    fatal: Mutex<Option<PipelineError>>,
    /// Records handed to a producer and not yet reported.
    pub in_flight: AtomicUsize,
    /// Their keys' and values' bytes.
    pub in_flight_bytes: AtomicUsize,
    /// `--queue.size` and `--queue.bytes`.
    pub queue: QueueBound,
    /// `--abort.on.send.failure`.
    pub abort_on_send_failure: bool,
    /// Counters.
    pub stats: Stats,
    /// Prometheus metrics and readiness (always kept; served with --metrics.addr).
    pub metrics: Arc<crate::observe::metrics::Metrics>,
    /// `--audit.log`: written before every commit.
    pub audit: Option<Arc<crate::observe::audit::AuditLog>>,
    /// (topic, note) pairs already logged: each timestamp note once per topic.
    pub timestamp_notes: Mutex<BTreeSet<(String, consumer::TimestampNote)>>,
    /// `--offset.map`: where runs are written before offsets are committed.
    pub offset_map: std::sync::OnceLock<Arc<crate::failover::store::MapWriter>>,
}

impl Shared {
    /// State for a run holding at most `queue` in flight.
    pub fn new(
        queue: QueueBound,
        abort_on_send_failure: bool,
        metrics: Arc<crate::observe::metrics::Metrics>,
        audit: Option<Arc<crate::observe::audit::AuditLog>>,
    ) -> Self {
        Shared {
            stop: AtomicBool::new(false),
            shutdown_timeout: Duration::from_secs(30),
            stop_deadline: std::sync::OnceLock::new(),
            stop_notify: tokio::sync::Notify::new(),
            fatal: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            in_flight_bytes: AtomicUsize::new(0),
            queue,
            abort_on_send_failure,
            stats: Stats::default(),
            metrics,
            audit,
            timestamp_notes: Mutex::new(BTreeSet::new()),
            offset_map: std::sync::OnceLock::new(),
        }
    }

    /// A record of `bytes` (key and value) handed to a producer.
    pub fn sending(&self, bytes: usize) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.in_flight_bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// A record handed to a producer is settled (delivered, failed, or
    /// never queued).
    pub fn settled(&self, bytes: usize) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.in_flight_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Whether consumers must stop reading: `--queue.size` records or
    /// `--queue.bytes` bytes are in flight.
    pub fn queue_full(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) >= self.queue.records
            || self.in_flight_bytes.load(Ordering::Acquire) >= self.queue.bytes
    }

    /// The same with `--shutdown.timeout.ms` bounding a stop.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Records the first fatal error and makes every thread stop.
    pub fn fail(&self, e: PipelineError) {
        let mut f = self.fatal.lock().expect("fatal lock");
        if f.is_none() {
            error!("{e}");
            self.metrics.set_failed(&e.to_string());
            *f = Some(e);
        }
        drop(f);
        self.request_stop();
    }

    /// Makes every thread stop; the first request starts the stop's clock.
    pub fn request_stop(&self) {
        self.stop_deadline
            .get_or_init(|| Instant::now() + self.shutdown_timeout);
        self.stop.store(true, Ordering::Release);
        self.stop_notify.notify_waiters();
    }

    /// When a stop under way must be over (`None` while running).
    pub fn stop_deadline(&self) -> Option<Instant> {
        self.stop_deadline.get().copied()
    }

    /// When a stop's drains must end: a fifth of the bound stays for the
    /// final commits (whose retries back off up to 3 s) and leaving the
    /// group.
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.stop_deadline()
            .map(|d| d.checked_sub(self.shutdown_timeout / 5).unwrap_or(d))
    }

    /// Whether consumers should stop reading.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// One assigned source partition.
pub(crate) struct PartitionState {
    pub cluster: String,
    pub topic: String,
    pub partition: i32,
    /// The topic's id when assigned (None when the broker reports none):
    /// stored with every commit, so a re-created topic is recognised.
    pub topic_id: Option<String>,
    pub tracker: Mutex<crate::pipeline::tracker::OffsetTracker>,
    /// Records awaiting their audit entry (filled only with `--audit.log`).
    pub trail: Mutex<crate::observe::audit::PartitionTrail>,
    /// The topic's delivered-records and -bytes counters.
    pub counters: crate::observe::metrics::TopicCounters,
    /// Timestamp notes already logged for this partition (bits of
    /// `consumer::TimestampNote`).
    pub timestamp_notes: std::sync::atomic::AtomicU8,
    /// Where delivered records landed (filled only with `--offset.map`).
    pub runs: Mutex<crate::failover::map::RunRecorder>,
    /// Source timestamp (ms) of the newest record acknowledged, 0 before
    /// any: the replication latency gauge's reference.
    pub acked_ts: std::sync::atomic::AtomicI64,
    /// Where the next record should be, and what the topic's skips need
    /// (issue #18, case 0).
    pub skips: skips::PartitionSkips,
}

/// The topics a source cluster's consumers subscribe to; the version
/// changes when new matching topics appear.
pub(crate) struct TopicSet {
    version: AtomicU64,
    topics: Mutex<BTreeSet<String>>,
}

impl TopicSet {
    fn new() -> Self {
        TopicSet {
            version: AtomicU64::new(0),
            topics: Mutex::new(BTreeSet::new()),
        }
    }
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
    pub fn list(&self) -> Vec<String> {
        self.topics
            .lock()
            .expect("topics lock")
            .iter()
            .cloned()
            .collect()
    }
    /// Removes topics (deleted or re-created on the source): consumers
    /// re-subscribe without them, which revokes their partitions.
    fn remove(&self, gone: &[String]) {
        let mut t = self.topics.lock().expect("topics lock");
        let before = t.len();
        t.retain(|x| !gone.contains(x));
        if t.len() != before {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }
    /// Makes the consumers subscribe again to the same topics: a topic got
    /// partitions, which librdkafka would assign only at its next metadata
    /// refresh (`topic.metadata.refresh.interval.ms`, 5 minutes).
    fn touch(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
    /// Adds topics; returns the ones that were new.
    fn extend(&self, more: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut t = self.topics.lock().expect("topics lock");
        let added: Vec<String> = more.into_iter().filter(|x| t.insert(x.clone())).collect();
        if !added.is_empty() {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        added
    }
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records acknowledged by the target.
    pub records: u64,
    /// Key + value bytes acknowledged.
    pub bytes: u64,
    /// Records dropped (only with `--abort.on.send.failure=false`).
    pub dropped: u64,
    /// Wall-clock duration.
    pub elapsed: Duration,
}

/// Source side of the run: matched topics and target topic checks.
struct SourcePlan {
    cluster: ClusterConfig,
    topics: Arc<TopicSet>,
}

fn admin_for(target: &ClusterConfig) -> Result<AdminClient<DefaultClientContext>, PreflightError> {
    target
        .client_config()
        .create()
        .map_err(|source| PreflightError::Client {
            cluster: target.label.clone(),
            source,
        })
}

fn metadata_client(cluster: &ClusterConfig) -> Result<BaseConsumer, PreflightError> {
    cluster
        .client_config()
        .create()
        .map_err(|source| PreflightError::Client {
            cluster: cluster.label.clone(),
            source,
        })
}

/// Start-up checks: reaches every cluster, resolves the whitelist on each
/// source, and makes sure the target has every topic (creating them with
/// `--create.topics`). Nothing is consumed before this passes.
fn plan(config: &Config) -> Result<Vec<SourcePlan>, PreflightError> {
    // Authentication and ACLs first, as `kmirror check` does: a missing
    // permission found here costs nothing; found mid-run it stops the mirror.
    let tolerated = preflight::check::startup_checks(config)?;
    for w in preflight::check::tolerated_warnings(&tolerated) {
        warn!("start-up check: {w}");
    }
    info!("start-up checks passed: authentication and ACLs on every cluster");
    let admin = admin_for(&config.target)?;
    let mut plans = Vec::new();
    for src in &config.sources {
        let client = metadata_client(src)?;
        let all = preflight::topics::all_topics(client.client(), src)?;
        let matched = preflight::topics::matching(&all, &config.filter);
        if matched.is_empty() {
            warn!(cluster = %src.label, whitelist = config.filter.include_pattern(), "no topic matches the whitelist yet; waiting for matching topics to appear");
        } else {
            info!(cluster = %src.label, count = matched.len(), "topics selected: {}", matched.keys().cloned().collect::<Vec<_>>().join(", "));
        }
        let created = preflight::topics::ensure_target_topics(
            &admin,
            src,
            &config.target,
            &matched,
            config.create_topics,
            config.preserve_partitions,
        )?;
        for t in created {
            info!(topic = %t, partitions = matched[&t], "created target topic");
        }
        let topics = Arc::new(TopicSet::new());
        topics.extend(matched.into_keys());
        plans.push(SourcePlan {
            cluster: src.clone(),
            topics,
        });
    }
    Ok(plans)
}

/// Periodically looks for new matching topics on one source cluster and
/// adds them (after making sure the target has them), and for mirrored
/// topics that were deleted or re-created (see [`vanished_topics`]).
fn watch_topics(config: &Config, plan_cluster: &ClusterConfig, topics: &TopicSet, shared: &Shared) {
    let (client, admin) = match (metadata_client(plan_cluster), admin_for(&config.target)) {
        (Ok(c), Ok(a)) => (c, a),
        (Err(e), _) | (_, Err(e)) => return shared.fail(e.into()),
    };
    let mut seen_ids = BTreeMap::new();
    // Partition increases and, with --sync.topic.configs, configurations.
    let mut follower = preflight::topic_sync::TopicFollower::new(config, plan_cluster)
        .map_err(|e| warn!("topic refresh: partition and configuration sync disabled: {e}"))
        .ok();
    let mut next = Instant::now() + config.topic_refresh_interval;
    while !shared.stopping() {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next = Instant::now() + config.topic_refresh_interval;
        let all = match preflight::topics::all_topics(client.client(), plan_cluster) {
            Ok(a) => a,
            Err(e) => {
                warn!("topic refresh: {e}");
                continue;
            }
        };
        let matched = preflight::topics::matching(&all, &config.filter);
        let gone = vanished_topics(&client, plan_cluster, topics, &matched, &mut seen_ids);
        if !gone.is_empty() {
            // Picked up again (as new topics) at the next refresh, once the
            // consumers have let the old incarnation go.
            topics.remove(&gone);
            continue;
        }
        if let Some(f) = &mut follower {
            let grown = f.refresh(config, &admin, &matched, &topics.list());
            if !grown.is_empty() {
                info!(cluster = %plan_cluster.label, "partitions added: consumers subscribe again to pick them up ({})", grown.join(", "));
                topics.touch();
            }
        }
        let known: BTreeSet<String> = topics.list().into_iter().collect();
        let new: TopicPartitions = matched
            .into_iter()
            .filter(|(t, _)| !known.contains(t))
            .collect();
        if new.is_empty() {
            continue;
        }
        match preflight::topics::ensure_target_topics(
            &admin,
            plan_cluster,
            &config.target,
            &new,
            config.create_topics,
            config.preserve_partitions,
        ) {
            Ok(_) => {
                let added = topics.extend(new.into_keys());
                info!(cluster = %plan_cluster.label, "new topics picked up: {}", added.join(", "));
            }
            Err(e) => return shared.fail(e.into()),
        }
    }
}

/// The mirrored topics that are no longer on the source (deleted), or whose
/// topic id changed since the watcher first saw it (deleted and
/// re-created). A consumer must let go of them: librdkafka does not notice
/// a deletion before its next full metadata refresh
/// (`topic.metadata.refresh.interval.ms`, 5 minutes), and keeps fetching
/// a re-created topic by its old id, which a broker answers with errors
/// librdkafka ignores: the new topic would never be mirrored.
fn vanished_topics(
    client: &BaseConsumer,
    cluster: &ClusterConfig,
    topics: &TopicSet,
    matched: &TopicPartitions,
    seen_ids: &mut BTreeMap<String, String>,
) -> Vec<String> {
    let known = topics.list();
    let ids = topic_id::topic_ids(
        client.client().native_ptr(),
        &known,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| {
        warn!(cluster = %cluster.label, "topic refresh: reading topic ids: {}", e.message);
        BTreeMap::new()
    });
    let mut gone = Vec::new();
    for t in known {
        let why = match (matched.contains_key(&t), seen_ids.get(&t), ids.get(&t)) {
            (false, _, _) => "is no longer on the source (deleted)",
            (true, Some(then), Some(now)) if then != now => "was deleted and re-created",
            (true, None, Some(now)) => {
                seen_ids.insert(t, now.clone());
                continue;
            }
            _ => continue,
        };
        warn!(cluster = %cluster.label, topic = %t, "mirrored topic {t} {why}: its partitions are let go; committed offsets stay, and a re-created topic is picked up again and checked against them");
        seen_ids.remove(&t);
        gone.push(t);
    }
    gone
}

/// Runs the mirror until `shutdown` completes (a clean stop: returns the
/// summary) or a fatal error stops it (returns the error). Either way,
/// consumption stops first, in-flight records are given
/// `--shutdown.timeout.ms` to be acknowledged, and only the delivered
/// prefix of each partition is committed.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, crate::Error> {
    run_with(config, crate::observe::ObserveOptions::default(), shutdown).await
}

/// [`run`] with observability options: the metrics endpoint and progress
/// lines. The stages, in order: start-up ([`start`]: endpoint, Kerberos,
/// audit trail, checks, shared state), the pipeline threads
/// ([`spawn_threads`]: fetch, forward and commit per consumer), the wait
/// for a stop ([`wait_for_stop`]), the bounded stop ([`stop`]: drain,
/// commit, flush) and the outcome ([`outcome`]).
pub async fn run_with(
    config: Config,
    observe: crate::observe::ObserveOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, crate::Error> {
    let started = Instant::now();
    let config = Arc::new(config);
    let run = start(&config, &observe).await?;
    let producers = Arc::new(producer::ProducerPool::new(
        &config.target,
        config.num_producers,
        &run.shared,
    )?);
    let threads = spawn_threads(&config, run.plans, &run.shared, &producers)?;
    wait_for_stop(shutdown, &run.shared).await;
    stop(&config, &run.shared, &producers, threads).await?;
    // The producers before the Kerberos ticket keeper they may rely on.
    drop(producers);
    drop(run.background);
    outcome(&config, &run.shared, started)
}

/// What [`start`] sets up for a run.
struct Started {
    shared: Arc<Shared>,
    plans: Vec<SourcePlan>,
    /// The metrics endpoint, the progress reporter and the Kerberos ticket
    /// keeper: they live as long as the run.
    background: (
        Option<AbortOnDrop>,
        AbortOnDrop,
        Option<crate::security::kerberos::TicketKeeper>,
    ),
}

/// Start-up: logs the configuration notes, serves the metrics endpoint
/// (from the start, so `/healthz` answers and `/readyz` says "not yet"
/// during the checks; a bad address stops the run at once), logs in with
/// Kerberos, opens the audit trail, runs the start-up checks and builds the
/// state every thread shares.
async fn start(
    config: &Arc<Config>,
    observe: &crate::observe::ObserveOptions,
) -> Result<Started, PipelineError> {
    for c in config.sources.iter().chain(std::iter::once(&config.target)) {
        for n in &c.notes {
            info!(at = %n.at, "{}", n.message);
        }
        for w in c.start_warnings() {
            warn!(cluster = %c.label, "{w}");
        }
    }
    let metrics = Arc::new(crate::observe::metrics::Metrics::new());
    let server = match &observe.metrics_addr {
        Some(addr) => {
            let listener = crate::observe::http::bind(addr).await?;
            Some(AbortOnDrop(tokio::spawn(crate::observe::http::serve(
                listener,
                metrics.clone(),
            ))))
        }
        None => None,
    };
    // The ticket must be in kmirror's own ccache, with KRB5CCNAME naming
    // it, before any librdkafka client exists.
    let kerberos = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            crate::security::kerberos::TicketKeeper::start_for(config.auth_sides())
        })
        .await
        .map_err(|e| PipelineError::Internal(format!("Kerberos login task: {e}")))?
        .map_err(PipelineError::Kerberos)?
    };
    let audit = observe
        .open_audit_log(&crate::observe::audit::principal_of(
            &config.target.principal,
        ))?
        .map(Arc::new);
    let plans = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || plan(&config))
            .await
            .map_err(|e| PipelineError::Internal(format!("start-up task: {e}")))??
    };
    let shared = Arc::new(
        Shared::new(config.queue, config.abort_on_send_failure, metrics, audit)
            .with_shutdown_timeout(config.shutdown_timeout),
    );
    shared
        .metrics
        .expect_streams(config.sources.len() * config.num_streams);
    // The start-up checks authenticated to every side.
    for c in config.sources.iter().chain(std::iter::once(&config.target)) {
        shared.metrics.track_side(&c.label);
        shared
            .metrics
            .set_principal(&c.label, &c.principal.record_name());
    }
    let reporter = AbortOnDrop(tokio::spawn(report_progress(
        shared.clone(),
        observe.progress_interval,
        kerberos_sides(config),
    )));
    if let Some(k) = &kerberos {
        // An expired, unrenewable ticket stops the mirror cleanly.
        let shared = shared.clone();
        k.on_expiry(move |e| shared.fail(e.into()));
    }
    if config.offset_map {
        // The offset map's writer exists before the first delivery report.
        let config = config.clone();
        let writer = tokio::task::spawn_blocking(move || crate::failover::start(&config))
            .await
            .map_err(|e| PipelineError::Internal(format!("offset map task: {e}")))?
            .map_err(PipelineError::from)?;
        let _ = shared.offset_map.set(Arc::new(writer));
    }
    Ok(Started {
        shared,
        plans,
        background: (server, reporter, kerberos),
    })
}

/// The sides that log in with Kerberos, with their ticket slots: their
/// ticket's expiry is exported.
fn kerberos_sides(config: &Config) -> Vec<(String, crate::security::TicketSlot)> {
    config
        .sides()
        .filter_map(|c| Some((c.label.clone(), c.security.kerberos()?.ticket.clone())))
        .collect()
}

/// Starts `--num.streams` consumer threads and a topic watcher per source
/// cluster, each supervised (a panic stops the run).
fn spawn_threads(
    config: &Arc<Config>,
    plans: Vec<SourcePlan>,
    shared: &Arc<Shared>,
    producers: &Arc<producer::ProducerPool>,
) -> Result<Vec<std::thread::JoinHandle<()>>, PipelineError> {
    let mut threads = Vec::new();
    for p in plans {
        for stream in 0..config.num_streams {
            let spec = consumer::StreamSpec {
                cluster: p.cluster.clone(),
                stream,
                shared: shared.clone(),
                producers: producers.clone(),
                topics: p.topics.clone(),
                commit_interval: config.commit_interval,
                drain_timeout: config.shutdown_timeout,
                preserve_partitions: config.preserve_partitions,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("kmirror-consumer-{stream}"))
                    .spawn(move || {
                        let shared = spec.shared.clone();
                        supervised(&shared, move || consumer::run_stream(spec))
                    })
                    .map_err(|e| {
                        PipelineError::Internal(format!("spawning consumer thread: {e}"))
                    })?,
            );
        }
        if let (Some(w), Some(_)) = (shared.offset_map.get(), &config.sync_groups) {
            let (config, shared, w) = (config.clone(), shared.clone(), w.clone());
            let (cluster, topics) = (p.cluster.clone(), p.topics.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("kmirror-sync".into())
                    .spawn(move || {
                        supervised(&shared, || {
                            crate::failover::sync::run(
                                &config,
                                &cluster,
                                &w,
                                &|| topics.list(),
                                &|| shared.stopping(),
                            )
                        })
                    })
                    .map_err(|e| PipelineError::Internal(format!("spawning group sync: {e}")))?,
            );
        }
        let (config, shared) = (config.clone(), shared.clone());
        threads.push(
            std::thread::Builder::new()
                .name("kmirror-topics".into())
                .spawn(move || {
                    supervised(&shared, || {
                        watch_topics(&config, &p.cluster, &p.topics, &shared)
                    })
                })
                .map_err(|e| PipelineError::Internal(format!("spawning topic watcher: {e}")))?,
        );
    }
    info!(
        sources = config.sources.len(),
        streams = config.num_streams,
        producers = config.num_producers,
        queue_size = config.queue.records,
        queue_bytes = config.queue.bytes,
        "mirroring"
    );
    Ok(threads)
}

/// Waits for `shutdown` (a signal) or a fatal error, whichever comes first,
/// and starts the stop's clock.
async fn wait_for_stop(shutdown: impl Future<Output = ()>, shared: &Shared) {
    let stopped = async {
        loop {
            // Registered before the check, so a stop requested in between
            // still wakes this wait.
            let notified = shared.stop_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.stopping() {
                return;
            }
            notified.await;
        }
    };
    tokio::select! {
        _ = shutdown => info!("shutdown requested: stopping consumption, flushing and committing"),
        _ = stopped => {}
    }
    shared.request_stop();
}

/// The bounded stop: the threads drain and commit their delivered prefix,
/// then the producers are flushed, all within `--shutdown.timeout.ms` of
/// the stop request; past it the run ends ([`stop_overran`]).
async fn stop(
    config: &Config,
    shared: &Arc<Shared>,
    producers: &producer::ProducerPool,
    threads: Vec<std::thread::JoinHandle<()>>,
) -> Result<(), PipelineError> {
    let deadline = shared
        .stop_deadline()
        .expect("wait_for_stop requested the stop");
    let joined = tokio::time::timeout_at(
        deadline.into(),
        tokio::task::spawn_blocking(move || join_all(threads)),
    )
    .await;
    match joined {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => shared.fail(e),
        Ok(Err(e)) => shared.fail(PipelineError::Internal(format!("joining threads: {e}"))),
        Err(_) => return Err(stop_overran(shared, config.shutdown_timeout)),
    }
    // Consumers have committed what was delivered; anything still queued in
    // a producer was not committed and would be replayed. Flush so a clean
    // stop leaves nothing behind, within what is left of the bound.
    for p in &producers.producers {
        if let Err(e) = p.flush(deadline.saturating_duration_since(Instant::now())) {
            warn!("flushing producer: {e}");
        }
    }
    Ok(())
}

/// The run's outcome after its stop: the summary, or the first fatal error
/// (with a missing-permission hint where one applies), or the records the
/// target had not acknowledged when the consumers stopped.
fn outcome(config: &Config, shared: &Shared, started: Instant) -> Result<Summary, crate::Error> {
    let s = &shared.stats;
    let summary = Summary {
        records: s.records.load(Ordering::Relaxed),
        bytes: s.bytes.load(Ordering::Relaxed),
        dropped: s.dropped.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    };
    info!(
        records = summary.records,
        bytes = summary.bytes,
        dropped = summary.dropped,
        elapsed_s = summary.elapsed.as_secs_f64(),
        "stopped"
    );
    if let Some(e) = shared.fatal.lock().expect("fatal lock").take() {
        if let PipelineError::SendFailed {
            code: Some(code),
            target_topic,
            ..
        } = &e
        {
            if let Some(h) =
                preflight::check::missing_permission_hint(&config.target, *code, target_topic)
            {
                error!("{h}");
            }
        }
        return Err(e.into());
    }
    let unacked = s.unacknowledged_at_stop.load(Ordering::Relaxed);
    if unacked > 0 {
        return Err(PipelineError::ShutdownTimeout {
            unacknowledged: unacked,
        }
        .into());
    }
    Ok(summary)
}

/// The stop did not finish within `--shutdown.timeout.ms` (case 7): a
/// consumer still waits, for a target that acknowledges nothing or a
/// source coordinator that does not answer (librdkafka's commit and close
/// have no deadline of their own). The run ends here anyway; the caller
/// exits, which ends the waiting threads. Nothing is lost: offsets are only
/// ever committed up to what the target acknowledged.
fn stop_overran(shared: &Shared, timeout: Duration) -> PipelineError {
    let unacknowledged = shared.in_flight.load(Ordering::Acquire);
    error!(unacknowledged, "the stop did not finish within --shutdown.timeout.ms ({timeout:?}): ending with {unacknowledged} record(s) not acknowledged by the target and commits possibly unfinished");
    shared
        .fatal
        .lock()
        .expect("fatal lock")
        .take()
        .unwrap_or(PipelineError::ShutdownTimeout { unacknowledged })
}

/// Runs `body` (a pipeline thread's work): a panic in it becomes a fatal
/// error of the run, so every other thread stops, drains and commits its
/// delivered prefix and the process exits non-zero. Unwinding drops the
/// thread's consumer, whose revoke handler commits only what was delivered.
pub(crate) fn supervised(shared: &Shared, body: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        shared.fail(PipelineError::Panicked {
            thread: thread_name(std::thread::current().name()),
            message: panic_message(payload.as_ref()),
        });
    }
}

fn thread_name(name: Option<&str>) -> String {
    name.unwrap_or("(unnamed)").to_string()
}

/// The text of a panic's payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Joins every pipeline thread. A panic that escaped [`supervised`] is
/// returned as the run's error rather than ignored.
pub(crate) fn join_all(threads: Vec<std::thread::JoinHandle<()>>) -> Result<(), PipelineError> {
    let mut first = None;
    for t in threads {
        let thread = thread_name(t.thread().name());
        if let Err(payload) = t.join() {
            first.get_or_insert(PipelineError::Panicked {
                thread,
                message: panic_message(payload.as_ref()),
            });
        }
    }
    first.map_or(Ok(()), Err)
}

/// Aborts a background task when dropped, so every early return of a run
/// also stops its metrics endpoint.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every second: refreshes the queue and Kerberos ticket gauges; every
/// `interval`: logs a progress line (rate, totals, in flight, last commit).
async fn report_progress(
    shared: Arc<Shared>,
    interval: Duration,
    kerberos_sides: Vec<(String, crate::security::TicketSlot)>,
) {
    use crate::observe::{rate, seconds_since, ProgressSample};
    let sample = |s: &Shared| ProgressSample {
        records: s.stats.records.load(Ordering::Relaxed),
        bytes: s.stats.bytes.load(Ordering::Relaxed),
        in_flight: s.in_flight.load(Ordering::Relaxed),
    };
    let mut prev = sample(&shared);
    let mut prev_at = Instant::now();
    let mut stall = stall::StallWatch::new(prev.records, prev_at);
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(interval));
    loop {
        tick.tick().await;
        let now = sample(&shared);
        shared.metrics.set_queue(
            now.in_flight,
            shared.in_flight_bytes.load(Ordering::Relaxed),
            shared.queue,
        );
        report_stall(
            &shared,
            stall.sample(now.records, now.in_flight, Instant::now()),
            now.in_flight,
        );
        for (side, slot) in &kerberos_sides {
            if let Some(ticket) = slot.status() {
                shared
                    .metrics
                    .set_ticket_expiry(side, ticket.seconds_to_expiry());
            }
        }
        if prev_at.elapsed() < interval {
            continue;
        }
        let per_s = rate(&prev, &now, prev_at.elapsed());
        let last_commit_s_ago = seconds_since(shared.metrics.last_commit_unix_ms());
        info!(
            rate_per_s = format!("{per_s:.1}"),
            records = now.records,
            bytes = now.bytes,
            in_flight = now.in_flight,
            bytes_in_flight = shared.in_flight_bytes.load(Ordering::Relaxed),
            queue_size = shared.queue.records,
            last_commit_s_ago,
            "progress: {per_s:.1} records/s, {} mirrored, {} in flight, last commit {}",
            now.records,
            now.in_flight,
            last_commit_s_ago.map_or_else(|| "never".to_string(), |s| format!("{s}s ago"))
        );
        prev = now;
        prev_at = Instant::now();
    }
}

/// Exports a stall sample (gauge and `/readyz`) and logs it when due.
fn report_stall(shared: &Shared, sample: stall::Stall, in_flight: usize) {
    match sample {
        stall::Stall::None => shared.metrics.set_target_stall(None),
        stall::Stall::Stalled { age, warn: due } => {
            shared.metrics.set_target_stall(Some(age));
            if due {
                warn!(
                    stalled_s = age.as_secs(),
                    in_flight,
                    "target stalled: {in_flight} record(s) waiting {}s for the target's acknowledgement; deliveries wait without a time limit (--delivery.timeout.ms bounds it), nothing is committed past them",
                    age.as_secs()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared::new(
            QueueBound {
                records: 10,
                bytes: usize::MAX,
            },
            true,
            Arc::new(crate::observe::metrics::Metrics::new()),
            None,
        ))
    }

    /// Case 9: a panicking pipeline thread stops the run with an error
    /// naming the thread and the panic, instead of vanishing silently.
    #[test]
    fn panic_in_a_pipeline_thread_stops_the_run() {
        let shared = shared();
        let s = shared.clone();
        let t = std::thread::Builder::new()
            .name("kmirror-consumer-7".into())
            .spawn(move || supervised(&s, || panic!("boom at offset 42")))
            .unwrap();
        // The panic was turned into the run's error: the thread ended normally.
        join_all(vec![t]).unwrap();
        assert!(shared.stopping(), "the other threads are told to stop");
        let e = shared.fatal.lock().unwrap().take().expect("a fatal error");
        let text = e.to_string();
        assert!(
            text.contains("kmirror-consumer-7") && text.contains("boom at offset 42"),
            "{text}"
        );
    }

    /// A panic that escapes supervision is still the run's error when joined.
    #[test]
    fn join_all_reports_a_panicked_thread() {
        let ok = std::thread::spawn(|| {});
        let bad = std::thread::Builder::new()
            .name("kmirror-topics".into())
            .spawn(|| panic!("unsupervised"))
            .unwrap();
        match join_all(vec![ok, bad]) {
            Err(PipelineError::Panicked { thread, message }) => {
                assert_eq!(thread, "kmirror-topics");
                assert_eq!(message, "unsupervised");
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
}
