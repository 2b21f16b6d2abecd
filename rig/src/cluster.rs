//! Rig-side Kafka clients: how to reach a cluster, create topics, write
//! sample records and read every record back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, Timestamp, TopicPartitionList};

/// `fetch.wait.max.ms` for every rig client: tansu holds a fetch for the full
/// wait even when data is ready, so the librdkafka default (500 ms) would make
/// every read look slow.
pub const RIG_FETCH_WAIT_MS: &str = "10";

/// How the rig reaches one cluster: bootstrap servers plus librdkafka
/// properties (security settings for the secured rig).
#[derive(Debug, Clone)]
pub struct ClusterConn {
    /// `host:port` list.
    pub bootstrap: String,
    /// Extra librdkafka properties (e.g. `security.protocol`, SASL settings).
    pub props: Vec<(String, String)>,
}

impl ClusterConn {
    /// A plaintext connection to `bootstrap`.
    pub fn plaintext(bootstrap: impl Into<String>) -> Self {
        ClusterConn {
            bootstrap: bootstrap.into(),
            props: Vec::new(),
        }
    }

    /// A librdkafka config with bootstrap servers and the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in &self.props {
            cfg.set(k, v);
        }
        cfg
    }

    /// Creates `topic` with `partitions` partitions and waits until the
    /// broker's metadata shows all of them.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let res = rt.block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        ))?;
        for r in res {
            r.map_err(|(t, e)| anyhow!("creating topic {t}: {e}"))?;
        }
        let consumer: BaseConsumer = self.client_config().create()?;
        crate::await_condition(Duration::from_secs(20), || {
            let md = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .ok()?;
            let t = md.topics().iter().find(|t| t.name() == topic)?;
            (t.error().is_none() && t.partitions().len() as i32 == partitions).then_some(())
        })
        .ok_or_else(|| anyhow!("topic {topic} did not show {partitions} partitions within 20 s"))
    }

    /// Deletes `topic` and waits until the broker's metadata no longer
    /// shows it.
    pub fn delete_topic(&self, topic: &str) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let res = rt.block_on(admin.delete_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        ))?;
        for r in res {
            r.map_err(|(t, e)| anyhow!("deleting topic {t}: {e}"))?;
        }
        crate::await_condition(Duration::from_secs(20), || {
            self.partition_count(topic).ok()?.is_none().then_some(())
        })
        .ok_or_else(|| anyhow!("topic {topic} still in the metadata 20 s after deletion"))
    }

    /// Partition count of `topic` per the broker, or `None` if it does not exist.
    pub fn partition_count(&self, topic: &str) -> anyhow::Result<Option<usize>> {
        let consumer: BaseConsumer = self.client_config().create()?;
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len()))
    }
}

/// One record as read from a topic, with everything kmirror must copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Partition it was read from.
    pub partition: i32,
    /// Offset it was read at.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers in order, with their values.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// CreateTime timestamp in ms, if any.
    pub timestamp: Option<i64>,
}

impl Record {
    /// The part of a record that must survive mirroring byte for byte.
    pub fn content(&self) -> RecordContent<'_> {
        RecordContent {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers,
            timestamp: self.timestamp,
        }
    }

    /// Payload size in bytes (key + value + headers).
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, |k| k.len())
            + self.value.as_ref().map_or(0, |v| v.len())
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>()
    }
}

/// Borrowed view of a record's mirrored content, used as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordContent<'a> {
    /// Key bytes.
    pub key: Option<&'a [u8]>,
    /// Value bytes.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: &'a [(String, Option<Vec<u8>>)],
    /// Timestamp (ms).
    pub timestamp: Option<i64>,
}

/// What sample data to write.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Number of records.
    pub records: usize,
    /// Number of distinct keys (records are keyed `key-<n>`); 0 = no keys.
    pub keys: usize,
    /// Value size in bytes (at least large enough for the unique id).
    pub value_size: usize,
    /// Headers per record.
    pub headers: usize,
    /// Prefix written into every value, so data from separate runs differs.
    pub tag: String,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            records: 1000,
            keys: 100,
            value_size: 100,
            headers: 2,
            tag: crate::random_name("w"),
        }
    }
}

/// A fixed base timestamp (2024-01-01T00:00:00Z) so copied timestamps are
/// recognisably the source's, not the target broker's append time.
pub const BASE_TIMESTAMP_MS: i64 = 1_704_067_200_000;

/// Writes `w.records` records to `topic` (librdkafka's murmur2 partitioner,
/// as the Java client), each with a unique value, `w.headers` headers (one
/// with a null value) and a CreateTime timestamp, then flushes. Returns the
/// number of records acknowledged (all of them, or an error).
pub fn produce(conn: &ClusterConn, topic: &str, w: &Workload) -> anyhow::Result<usize> {
    produce_range(conn, topic, w, 0..w.records)
}

/// As [`produce`], for the records with sequence numbers in `range`, so a
/// test can keep writing while a mirror runs.
pub fn produce_range(
    conn: &ClusterConn,
    topic: &str,
    w: &Workload,
    range: std::ops::Range<usize>,
) -> anyhow::Result<usize> {
    let producer: ThreadedProducer<DefaultProducerContext> = conn
        .client_config()
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    let mut n = 0;
    for i in range {
        let key = (w.keys > 0).then(|| format!("key-{}", i % w.keys));
        let mut value = format!("{}:{i:010}:", w.tag).into_bytes();
        while value.len() < w.value_size {
            value.push(b'a' + (value.len() % 26) as u8);
        }
        let mut headers = OwnedHeaders::new();
        for h in 0..w.headers {
            let hv = format!("h{h}-{i}");
            headers = headers.insert(Header {
                key: &format!("hdr-{h}"),
                value: if h == 1 { None } else { Some(hv.as_bytes()) },
            });
        }
        let ts = BASE_TIMESTAMP_MS + i as i64;
        let mut record = BaseRecord::to(topic)
            .payload(&value)
            .headers(headers)
            .timestamp(ts);
        if let Some(k) = &key {
            record = record.key(k.as_bytes());
        }
        let mut record = record;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("producing to {topic}: {e}"),
            }
        }
        n += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing sample records")?;
    Ok(n)
}

/// Reads every record of `topic` from the beginning until at least
/// `at_least` records were read and then nothing new arrived for `idle`, or
/// until `timeout`. Watermarks are not trusted (tansu under-reports them), so
/// "done" is decided by counting.
pub fn read_all(
    conn: &ClusterConn,
    topic: &str,
    at_least: usize,
    idle: Duration,
    timeout: Duration,
) -> anyhow::Result<Vec<Record>> {
    let consumer: BaseConsumer = conn
        .client_config()
        .set("group.id", crate::random_name("rig-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", RIG_FETCH_WAIT_MS)
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow!("topic {topic} not in metadata"))?;
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let start = Instant::now();
    let mut last_new = Instant::now();
    let mut out = Vec::with_capacity(at_least);
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                            .collect()
                    })
                    .unwrap_or_default();
                let timestamp = match m.timestamp() {
                    Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
                    Timestamp::NotAvailable => None,
                };
                out.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| k.to_vec()),
                    value: m.payload().map(|v| v.to_vec()),
                    headers,
                    timestamp,
                });
                last_new = Instant::now();
            }
            Some(Err(e)) => bail!("reading {topic}: {e}"),
            None => {}
        }
        if out.len() >= at_least && last_new.elapsed() >= idle {
            break;
        }
        if start.elapsed() >= timeout {
            if out.len() >= at_least {
                break;
            }
            bail!(
                "reading {topic}: only {} of {at_least} records within {timeout:?}",
                out.len()
            );
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}

/// Committed offsets of `group` for every partition of `topic` (`None` where
/// nothing is committed).
pub fn committed_offsets(
    conn: &ClusterConn,
    group: &str,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, Option<i64>>> {
    let consumer: BaseConsumer = conn
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow!("topic {topic} not in metadata"))?;
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| {
            let off = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            (e.partition(), off)
        })
        .collect())
}
