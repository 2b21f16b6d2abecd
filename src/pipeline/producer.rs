//! The target side: a pool of producers with kmirror's no-loss settings and
//! the delivery callback that moves offsets into the delivered prefix.

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, error, warn};

use super::errors::{on_send_failure, SendAction, SendFailure};
use super::{PartitionState, PipelineError, Shared};
use crate::config::ClusterConfig;
use crate::observe::metrics::{delivery_latency_s, now_unix_ms};

/// What travels with each record to its delivery report.
pub(crate) struct Token {
    pub part: Arc<PartitionState>,
    pub offset: i64,
    pub bytes: usize,
}

/// Producer callbacks: delivery reports and client errors.
pub(crate) struct DeliveryContext {
    pub shared: Arc<Shared>,
}

/// Errors of a client's error callback that mean it failed to authenticate
/// to its cluster (SASL, or the TLS handshake): `/readyz` turns unready for
/// that side until it works again. Whether the run stops is decided apart
/// ([`super::errors::client_error_is_fatal`]).
pub(crate) fn is_authentication_failure(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::UnsupportedSASLMechanism
            | RDKafkaErrorCode::IllegalSASLState
            | RDKafkaErrorCode::SSL
    )
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error
            .rdkafka_error_code()
            .is_some_and(is_authentication_failure)
        {
            // Before a possible abort, so /readyz names the side.
            self.shared.metrics.authentication_failed("target", reason);
        }
        match error.rdkafka_error_code() {
            Some(code) if super::errors::client_error_is_fatal(code) => {
                self.shared.fail(PipelineError::Client {
                    cluster: "target".into(),
                    code,
                    message: reason.to_string(),
                });
            }
            _ => warn!(cluster = "target", "{error}: {reason}"),
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Token>;

    fn delivery(&self, result: &DeliveryResult<'_>, token: Box<Token>) {
        let part = &token.part;
        match result {
            Ok(msg) => {
                // The target acknowledged: authentication to it works.
                self.shared.metrics.authenticated("target");
                // An idempotent producer's retry of a batch the broker had
                // already written (its first answer lost) is acknowledged
                // as a duplicate; some brokers (tansu) then report no
                // offset. The record is on the target, where is unknown:
                // the audit entry names no target range for it and the
                // offset map starts a new run after it (translation stays
                // on the safe side), instead of recording offset -1.
                let landed_at = Some(msg.offset()).filter(|&o| o >= 0);
                if landed_at.is_none() {
                    debug!(topic = msg.topic(), partition = msg.partition(), source_offset = token.offset, "delivered without a target offset (a duplicate the broker had already written)");
                }
                if let (Some(_), Some(target_offset)) = (&self.shared.audit, landed_at) {
                    // Before the tracker: once delivered, a commit may cut
                    // the range, and its entry must name where this landed.
                    part.trail.lock().expect("trail lock").landed(
                        token.offset,
                        msg.topic(),
                        msg.partition(),
                        target_offset,
                    );
                }
                if let (Some(_), Some(target_offset)) = (self.shared.offset_map.get(), landed_at) {
                    // Before the tracker, as the audit trail: a commit after
                    // it must find this record in the map.
                    part.runs.lock().expect("runs lock").delivered(
                        token.offset,
                        msg.partition(),
                        target_offset,
                    );
                }
                if let Some(ts) = msg.timestamp().to_millis() {
                    part.acked_ts.fetch_max(ts, Ordering::Relaxed);
                    if let Some(s) = delivery_latency_s(ts, now_unix_ms()) {
                        self.shared.metrics.observe_delivery_latency(s);
                    }
                }
                part.tracker
                    .lock()
                    .expect("tracker lock")
                    .delivered(token.offset);
                self.shared.stats.records.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .stats
                    .bytes
                    .fetch_add(token.bytes as u64, Ordering::Relaxed);
                part.counters.delivered(token.bytes);
            }
            Err((e, msg)) => {
                let code = e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
                let action = on_send_failure(
                    SendFailure::Delivery(code),
                    self.shared.stopping(),
                    self.shared.abort_on_send_failure,
                );
                if let Some(fatal) =
                    settle_failed_send(&self.shared, &token, action, msg.topic(), e)
                {
                    self.shared.fail(fatal);
                }
            }
        }
        self.shared.settled(token.bytes);
    }
}

/// Applies the [`SendAction`] decided for a record whose send failed to
/// its partition's tracker and the counters. `Abort` returns the error that
/// stops the run. The caller accounts for `in_flight`.
pub(crate) fn settle_failed_send(
    shared: &Shared,
    token: &Token,
    action: SendAction,
    target_topic: &str,
    e: &KafkaError,
) -> Option<PipelineError> {
    let part = &token.part;
    let code = e.rdkafka_error_code();
    if matches!(action, SendAction::Drop | SendAction::Abort) {
        shared.stats.delivery_errors.fetch_add(1, Ordering::Relaxed);
        shared
            .metrics
            .delivery_error(&code.map_or_else(|| e.to_string(), |c| format!("{c:?}")));
    }
    let mut tracker = part.tracker.lock().expect("tracker lock");
    match action {
        // Never sent (the run is stopping): the record holds the prefix, so
        // the next run mirrors it. `Retry` is the caller's to do; should it
        // get here, holding the prefix is the safe outcome too.
        SendAction::Abandon | SendAction::Retry => {
            tracker.failed(token.offset);
            debug!(topic = %part.topic, partition = part.partition, offset = token.offset, "record not sent before the stop; it will be mirrored again");
            None
        }
        SendAction::Drop => {
            // It is lost, so say so for every record.
            error!(
                topic = %part.topic,
                partition = part.partition,
                offset = token.offset,
                "record DROPPED after a failed send (--abort.on.send.failure=false): {e}"
            );
            shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracker.delivered(token.offset);
            None
        }
        SendAction::Abort => {
            tracker.failed(token.offset);
            Some(PipelineError::SendFailed {
                cluster: part.cluster.clone(),
                topic: part.topic.clone(),
                partition: part.partition,
                offset: token.offset,
                target_topic: target_topic.to_string(),
                error: e.to_string(),
                code,
            })
        }
    }
}

/// The producers of a run.
pub(crate) struct ProducerPool {
    pub producers: Vec<ThreadedProducer<DeliveryContext>>,
}

// The no-loss producer settings live in `config` (the offset map's writer
// in `failover` uses them too, and `failover` must not import `pipeline`).
pub(crate) use crate::config::producer::producer_config;

impl ProducerPool {
    /// Creates `n` producers.
    pub fn new(
        target: &ClusterConfig,
        n: usize,
        shared: &Arc<Shared>,
    ) -> Result<Self, PipelineError> {
        let cfg = producer_config(target, shared.queue);
        let producers = (0..n)
            .map(|_| {
                cfg.create_with_context(DeliveryContext {
                    shared: shared.clone(),
                })
                .map_err(|source| PipelineError::Kafka {
                    cluster: "target".into(),
                    context: "creating producer".into(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProducerPool { producers })
    }

    /// The producer for a record: all records that must stay in order go
    /// through the same producer. With `--preserve.partitions` that is a
    /// whole partition (its records all land in one target partition, so two
    /// producers writing it could interleave them out of order); otherwise
    /// the same key (the key picks the target partition); records without
    /// a key by source partition. Partitions are told apart by topic too, so
    /// the partitions of many small topics spread over the producers.
    pub fn pick(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        source_partition: i32,
        preserve_partitions: bool,
    ) -> &ThreadedProducer<DeliveryContext> {
        &self.producers[route(
            self.producers.len(),
            topic,
            key,
            source_partition,
            preserve_partitions,
        )]
    }
}

/// The index of the producer among `n` for a record ([`ProducerPool::pick`]).
fn route(
    n: usize,
    topic: &str,
    key: Option<&[u8]>,
    source_partition: i32,
    preserve_partitions: bool,
) -> usize {
    if n == 1 {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match key {
        Some(k) if !preserve_partitions => k.hash(&mut h),
        _ => (topic, source_partition).hash(&mut h),
    }
    (h.finish() % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::producer::is_idempotent;
    use crate::config::QueueBound;
    use clap::Parser;

    const Q: QueueBound = QueueBound {
        records: 10,
        bytes: 1 << 20,
    };

    fn target(p_text: &str, flags: &[&str]) -> ClusterConfig {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("c.properties");
        let p = d.path().join("p.properties");
        std::fs::write(
            &c,
            "bootstrap.servers=a:9092\ngroup.id=g\nsecurity.protocol=SASL_PLAINTEXT\n",
        )
        .unwrap();
        std::fs::write(&p, p_text).unwrap();
        let mut argv = vec![
            "kmirror".to_string(),
            format!("--consumer.config={}", c.display()),
            format!("--producer.config={}", p.display()),
            "--whitelist=.*".into(),
        ];
        argv.extend(flags.iter().map(|f| f.to_string()));
        let args = crate::config::cli::Cli::try_parse_from(argv)
            .unwrap()
            .mirror;
        crate::config::Config::from_args_and_kafka_opts(&args, None)
            .unwrap()
            .target
    }

    /// The config librdkafka's producer is created with: no delivery time
    /// limit by default (a target outage of any length is ridden out), the
    /// flag's bound with --delivery.timeout.ms, and unbounded retries.
    #[test]
    fn producer_delivery_timeout_default_and_flag() {
        let text =
            "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\nretries=2147483647\n";
        let c = producer_config(&target(text, &[]), Q);
        assert_eq!(c.get("message.timeout.ms"), Some("0"));
        assert_eq!(c.get("message.send.max.retries"), Some("2147483647"));
        assert_eq!(c.get("acks"), Some("all"));
        let c = producer_config(&target(text, &["--delivery.timeout.ms=900000"]), Q);
        assert_eq!(c.get("message.timeout.ms"), Some("900000"));
        // librdkafka accepts the whole configuration as built.
        c.create_native_config().unwrap();
    }

    /// In flight: 1 and no gapless flag by default; the distance mode
    /// (enable.idempotence=true) gets 5 by default or the file's 1..=5,
    /// always with enable.gapless.guarantee=true.
    #[test]
    fn producer_in_flight_default_and_idempotent() {
        let base = "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\n";
        let c = producer_config(&target(base, &[]), Q);
        assert_eq!(c.get("max.in.flight.requests.per.connection"), Some("1"));
        assert_eq!(c.get("enable.gapless.guarantee"), None);
        assert!(!is_idempotent(&c));
        let text = format!("{base}enable.idempotence=true\n");
        let c = producer_config(&target(&text, &[]), Q);
        assert_eq!(c.get("max.in.flight.requests.per.connection"), Some("5"));
        assert_eq!(c.get("enable.gapless.guarantee"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        c.create_native_config().unwrap();
        let text = format!(
            "{base}max.in.flight=2\nenable.idempotence=True\nenable.gapless.guarantee=false\n"
        );
        let c = producer_config(&target(&text, &[]), Q);
        assert_eq!(c.get("max.in.flight.requests.per.connection"), Some("2"));
        assert_eq!(c.get("enable.gapless.guarantee"), Some("true"));
        c.create_native_config().unwrap();
    }

    /// With several producers, a preserved partition's records all go
    /// through one producer whatever their keys (else two producers write
    /// one target partition and can reorder it); without
    /// --preserve.partitions the same key always takes the same producer.
    #[test]
    fn routing_keeps_what_must_stay_in_order_on_one_producer() {
        let keys: Vec<Vec<u8>> = (0..64u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for partition in 0..8 {
            let preserved: std::collections::BTreeSet<usize> = keys
                .iter()
                .map(|k| route(4, "t", Some(k), partition, true))
                .collect();
            assert_eq!(preserved.len(), 1, "partition {partition}: {preserved:?}");
            assert_eq!(
                route(4, "t", None, partition, false),
                route(4, "t", None, partition, true)
            );
        }
        let by_key: std::collections::BTreeSet<usize> = keys
            .iter()
            .map(|k| route(4, "t", Some(k), 0, false))
            .collect();
        assert!(by_key.len() > 1, "keys spread over producers: {by_key:?}");
        for k in &keys {
            let first = route(4, "t", Some(k), 0, false);
            assert!((1..8).all(|p| route(4, "u", Some(k), p, false) == first));
        }
        assert_eq!(route(1, "t", Some(b"k"), 3, true), 0);
        // One-partition topics spread over the producers.
        let topics: std::collections::BTreeSet<usize> = (0..32)
            .map(|i| route(4, &format!("topic-{i}"), None, 0, true))
            .collect();
        assert!(topics.len() > 1, "{topics:?}");
    }
}
