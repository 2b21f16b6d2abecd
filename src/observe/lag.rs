//! `kmirror lag`: how far kmirror's consumer group is behind on each source
//! cluster, per partition, in the layout of Kafka's
//! `kafka-consumer-groups.sh --describe` (`GROUP TOPIC PARTITION
//! CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID`), with a
//! `CLUSTER` column first when there are several source clusters.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::config::topics::TopicFilter;
use crate::config::translate::StartPolicy;
use crate::config::ClusterConfig;
use crate::preflight::{self, PreflightError};

/// How long each broker request of `kmirror lag` may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure of `kmirror lag`.
#[derive(Debug, thiserror::Error)]
pub enum LagError {
    /// Listing topics (or creating the client) failed.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// A broker request failed.
    #[error("{cluster}: {context}: {source}")]
    Kafka {
        /// Cluster label.
        cluster: String,
        /// What kmirror was asking for.
        context: String,
        /// librdkafka's error.
        source: KafkaError,
    },
}

/// One partition's row; the JSON field names are the table's columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LagRow {
    /// Source cluster label (`source`, or `source 1`, `source 2`, ...).
    pub cluster: String,
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition id.
    pub partition: i32,
    /// The group's committed offset (next record to mirror), if any.
    pub current_offset: Option<i64>,
    /// The partition's high watermark (offset after the last record).
    pub log_end_offset: i64,
    /// Records not yet mirrored: `log_end_offset - current_offset`; without
    /// a committed offset, what kmirror's start position would still read
    /// (the whole log for earliest, kmirror's default; 0 for latest).
    pub lag: i64,
    /// Member id of the group member assigned this partition (`None`: no member has it).
    pub consumer_id: Option<String>,
    /// That member's host, as the broker reports it (`/10.0.0.1`).
    pub host: Option<String>,
    /// That member's client.id.
    pub client_id: Option<String>,
    /// Replication latency, in milliseconds: the age (now minus its source
    /// timestamp) of the oldest record not yet mirrored and committed, the
    /// one at `current_offset` (the log start without one): what a failover
    /// now would lose, measured in time. `None` when nothing is behind (or
    /// that record could not be read). The table's last column, `LATENCY`,
    /// after kafka-consumer-groups.sh's own so their positions stay.
    pub latency_ms: Option<i64>,
    /// Source offsets below `current_offset` that held no record to mirror
    /// and that kmirror skipped for a known reason (transaction markers and
    /// aborted records, compaction, retention), counted since the group
    /// first mirrored the partition; from the committed offset's metadata,
    /// so 0 where the broker keeps none. The column `SKIPPED`, after
    /// `LATENCY`.
    pub skipped: u64,
}

/// Every row, plus totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LagReport {
    /// One row per partition, ordered by cluster, topic, partition.
    pub rows: Vec<LagRow>,
    /// Sum of `lag`.
    pub total_lag: i64,
}

const COLUMNS: [&str; 9] = [
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
];

/// kmirror's own column after kafka-consumer-groups.sh's: `latency_ms` as
/// seconds (`12.3s`), `-` when nothing is behind.
const LATENCY_COLUMN: &str = "LATENCY";

/// kmirror's column after `LATENCY`: [`LagRow::skipped`].
const SKIPPED_COLUMN: &str = "SKIPPED";

impl LagReport {
    /// Renders the report as `kafka-consumer-groups.sh --describe` does:
    /// left-aligned columns, `-` for a missing value; a `CLUSTER` column
    /// first when rows come from several clusters.
    pub fn table(&self) -> String {
        let several = self.rows.iter().any(|r| r.cluster != self.rows[0].cluster);
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut cells: Vec<Vec<String>> = Vec::new();
        let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        header.push(LATENCY_COLUMN.into());
        header.push(SKIPPED_COLUMN.into());
        if several {
            header.insert(0, "CLUSTER".into());
        }
        cells.push(header);
        for r in &self.rows {
            let mut row = vec![
                r.group.clone(),
                r.topic.clone(),
                r.partition.to_string(),
                r.current_offset
                    .map_or_else(|| "-".into(), |o| o.to_string()),
                r.log_end_offset.to_string(),
                r.lag.to_string(),
                dash(&r.consumer_id),
                dash(&r.host),
                dash(&r.client_id),
                r.latency_ms.map_or_else(
                    || "-".to_string(),
                    |ms| format!("{:.1}s", ms as f64 / 1000.0),
                ),
                r.skipped.to_string(),
            ];
            if several {
                // Labels hold spaces; the column stays one word for awk.
                row.insert(0, r.cluster.replace(' ', "-"));
            }
            cells.push(row);
        }
        crate::table::aligned_columns(cells, 1)
    }

    /// Renders the report as JSON: `rows` with the table's columns as
    /// fields (lower case, `_` for `-`, null for `-`), and `total_lag`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a lag report always serialises")
    }
}

/// Collects the report for every source cluster.
pub fn collect(
    sources: &[ClusterConfig],
    filter: Option<&TopicFilter>,
) -> Result<LagReport, LagError> {
    let mut report = LagReport::default();
    for src in sources {
        report.rows.extend(collect_cluster(src, filter)?);
    }
    report.total_lag = report.rows.iter().map(|r| r.lag).sum();
    Ok(report)
}

/// A group member, for the CONSUMER-ID, HOST and CLIENT-ID columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    id: String,
    host: String,
    client_id: String,
}

/// The rows of one source cluster: every partition of the topics `filter`
/// matches, or, without one, every partition the group has a committed
/// offset or an owner in.
pub fn collect_cluster(
    src: &ClusterConfig,
    filter: Option<&TopicFilter>,
) -> Result<Vec<LagRow>, LagError> {
    let group = src.group_id.clone().unwrap_or_default();
    let kafka = |context: String| {
        let cluster = src.label.clone();
        move |source| LagError::Kafka {
            cluster,
            context,
            source,
        }
    };
    let mut cfg = src.client_config();
    cfg.set("group.id", &group);
    // Only reads the group's offsets; never joins or commits.
    cfg.set("enable.auto.commit", "false");
    let consumer: BaseConsumer = cfg.create().map_err(kafka("creating a client".into()))?;
    let all = preflight::topics::all_topics(consumer.client(), src)?;
    let candidates = match filter {
        Some(f) => preflight::topics::matching(&all, f),
        None => all,
    };
    let mut tpl = TopicPartitionList::new();
    for (topic, &n) in &candidates {
        for p in 0..n as i32 {
            tpl.add_partition(topic, p);
        }
    }
    if tpl.count() == 0 {
        return Ok(Vec::new());
    }
    let committed = consumer
        .committed_offsets(tpl, REQUEST_TIMEOUT)
        .map_err(kafka(format!(
            "reading the committed offsets of group {group}"
        )))?;
    let owners = match consumer.fetch_group_list(Some(&group), REQUEST_TIMEOUT) {
        Ok(list) => owners_of(&list, &group),
        Err(e) => {
            tracing::warn!(cluster = %src.label, "describing group {group} failed, members unknown: {e}");
            HashMap::new()
        }
    };
    let mut rows = Vec::new();
    let mut log_start = HashMap::new();
    for e in committed.elements() {
        let (topic, partition) = (e.topic(), e.partition());
        let offset = match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        let owner = owners.get(&(topic.to_string(), partition));
        if filter.is_none() && offset.is_none() && owner.is_none() {
            continue; // not the group's topic
        }
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(kafka(format!(
                "reading the watermarks of {topic} [{partition}]"
            )))?;
        log_start.insert((topic.to_string(), partition), low);
        let lag = match offset {
            Some(o) => (high - o).max(0),
            None => match src.start {
                StartPolicy::Earliest => high - low,
                StartPolicy::Latest => 0,
            },
        };
        rows.push(LagRow {
            cluster: src.label.clone(),
            group: group.clone(),
            topic: topic.to_string(),
            partition,
            current_offset: offset,
            log_end_offset: high,
            lag,
            consumer_id: owner.map(|m| m.id.clone()),
            host: owner.map(|m| m.host.clone()),
            client_id: owner.map(|m| m.client_id.clone()),
            latency_ms: None,
            skipped: crate::config::commit_metadata::skipped_in_metadata(e.metadata()),
        });
    }
    rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    set_latency(src, &mut rows, &log_start);
    Ok(rows)
}

/// How long reading the oldest unmirrored record of every lagging
/// partition may take in all.
const LATENCY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Fills `latency_ms` of the lagging rows: reads the record at each one's
/// committed offset (its first record, `log_start`, without one) and
/// takes its age.
fn set_latency(src: &ClusterConfig, rows: &mut [LagRow], log_start: &HashMap<(String, i32), i64>) {
    let mut tpl = TopicPartitionList::new();
    for r in rows.iter().filter(|r| r.lag > 0) {
        let start = log_start.get(&(r.topic.clone(), r.partition)).copied();
        let Some(at) = r.current_offset.or(start) else {
            continue;
        };
        let _ = tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(at));
    }
    if tpl.count() == 0 {
        return;
    }
    let mut cfg = src.client_config();
    // Assigned, not subscribed: reads without joining or committing.
    cfg.set("enable.auto.commit", "false");
    cfg.set("fetch.wait.max.ms", "100");
    let Ok(consumer) = cfg.create::<BaseConsumer>() else {
        return;
    };
    if consumer.assign(&tpl).is_err() {
        return;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut missing = tpl.count();
    let deadline = std::time::Instant::now() + LATENCY_READ_TIMEOUT;
    while missing > 0 && std::time::Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        use rdkafka::message::Message;
        let Some(row) = rows
            .iter_mut()
            .find(|r| r.topic == m.topic() && r.partition == m.partition())
        else {
            continue;
        };
        if row.latency_ms.is_none() {
            if let Some(ts) = m.timestamp().to_millis() {
                row.latency_ms = Some((now_ms - ts).max(0));
            }
            missing -= 1;
        }
    }
}

/// (topic, partition) → the member of `group` assigned it.
fn owners_of(list: &rdkafka::groups::GroupList, group: &str) -> HashMap<(String, i32), Member> {
    let mut out = HashMap::new();
    for g in list.groups().iter().filter(|g| g.name() == group) {
        for m in g.members() {
            let Some(bytes) = m.assignment() else {
                // Some brokers (tansu 0.6) describe members without it.
                tracing::debug!(member = m.id(), "group member without an assignment");
                continue;
            };
            let who = Member {
                id: m.id().to_string(),
                host: m.client_host().to_string(),
                client_id: m.client_id().to_string(),
            };
            for (topic, parts) in decode_assignment(bytes).unwrap_or_default() {
                for p in parts {
                    out.insert((topic.clone(), p), who.clone());
                }
            }
        }
    }
    out
}

/// Decodes a consumer-protocol `MemberAssignment` (version i16, then the
/// version's `ConsumerProtocolAssignment`) with the kafka-protocol crate.
/// `None` when the bytes are not that layout.
pub fn decode_assignment(b: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    use kafka_protocol::messages::ConsumerProtocolAssignment;
    use kafka_protocol::protocol::Decodable;
    if b.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = bytes::Bytes::copy_from_slice(b);
    let version = bytes::Buf::try_get_i16(&mut buf).ok()?;
    // Versions above the crate's read as its newest: fields are only added.
    let version = version.clamp(0, 3);
    let a = ConsumerProtocolAssignment::decode(&mut buf, version).ok()?;
    Some(
        a.assigned_partitions
            .into_iter()
            .map(|tp| (tp.topic.to_string(), tp.partitions))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = 0i16.to_be_bytes().to_vec();
        b.extend((topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes()); // null user data
        b
    }

    #[test]
    fn decodes_member_assignment() {
        let b = encode(&[("orders", &[0, 2]), ("pay", &[1])]);
        assert_eq!(
            decode_assignment(&b).unwrap(),
            vec![
                ("orders".to_string(), vec![0, 2]),
                ("pay".to_string(), vec![1])
            ]
        );
        assert_eq!(decode_assignment(&[]).unwrap(), vec![]);
        assert_eq!(decode_assignment(&b[..9]), None, "truncated");
    }

    fn row(cluster: &str, p: i32, offset: Option<i64>, end: i64, lag: i64) -> LagRow {
        LagRow {
            cluster: cluster.into(),
            group: "mm".into(),
            topic: "orders".into(),
            partition: p,
            current_offset: offset,
            log_end_offset: end,
            lag,
            consumer_id: (p == 0).then(|| "rdkafka-1b2c".into()),
            host: (p == 0).then(|| "/10.0.0.7".into()),
            client_id: (p == 0).then(|| "kmirror".into()),
            latency_ms: (lag > 0).then_some(12_345),
            skipped: if p == 0 { 7 } else { 0 },
        }
    }

    #[test]
    fn table_is_kafka_consumer_groups_describe() {
        let r = LagReport {
            rows: vec![
                row("source", 0, Some(5), 10, 5),
                row("source", 1, None, 7, 7),
            ],
            total_lag: 12,
        };
        let t = r.table();
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines.len(), 3, "{t}");
        let mut header = COLUMNS.to_vec();
        header.push(LATENCY_COLUMN);
        header.push(SKIPPED_COLUMN);
        assert_eq!(lines[0], header);
        assert_eq!(
            lines[1],
            [
                "mm",
                "orders",
                "0",
                "5",
                "10",
                "5",
                "rdkafka-1b2c",
                "/10.0.0.7",
                "kmirror",
                "12.3s",
                "7"
            ]
        );
        assert_eq!(
            lines[2],
            ["mm", "orders", "1", "-", "7", "7", "-", "-", "-", "12.3s", "0"]
        );
        // JSON: the same fields.
        let j: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(j["total_lag"], 12);
        let fields: Vec<String> = j["rows"][0].as_object().unwrap().keys().cloned().collect();
        for c in COLUMNS {
            let f = c.to_lowercase().replace('-', "_");
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert_eq!(j["rows"][0]["current_offset"], 5);
        assert!(j["rows"][1]["current_offset"].is_null());
        assert!(j["rows"][1]["consumer_id"].is_null());
        assert_eq!(j["rows"][0]["latency_ms"], 12_345);
        assert_eq!(j["rows"][0]["skipped"], 7);
        // Nothing behind: no latency.
        let caught_up = LagReport {
            rows: vec![row("source", 0, Some(10), 10, 0)],
            total_lag: 0,
        };
        let t = caught_up.table();
        assert_eq!(
            t.lines().nth(1).unwrap().split_whitespace().nth(9),
            Some("-"),
            "{t}"
        );
        let j: serde_json::Value = serde_json::from_str(&caught_up.json()).unwrap();
        assert!(j["rows"][0]["latency_ms"].is_null());
    }

    #[test]
    fn table_has_a_cluster_column_with_several_sources() {
        let one = LagReport {
            rows: vec![row("source", 0, Some(1), 1, 0)],
            total_lag: 0,
        };
        assert!(one.table().starts_with("GROUP"));
        let two = LagReport {
            rows: vec![
                row("source 1", 0, Some(1), 1, 0),
                row("source 2", 0, Some(1), 1, 0),
            ],
            total_lag: 0,
        };
        let t = two.table();
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0][0], "CLUSTER");
        assert_eq!(lines[0].len(), 12);
        assert_eq!(lines[2][0], "source-2");
        assert_eq!(lines[2].len(), 12);
    }
}
