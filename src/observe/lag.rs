//! `kmirror lag`: how far kmirror's consumer group is behind on each source
//! cluster, per partition of the matched topics, in the layout of Kafka's
//! old `ConsumerOffsetChecker` (`Group Topic Pid Offset logSize Lag Owner`).

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::config::translate::StartPolicy;
use crate::config::{ClusterConfig, Config};
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

/// One partition's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LagRow {
    /// Source cluster label (`source 1`, ...).
    pub cluster: String,
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition id.
    pub partition: i32,
    /// The group's committed offset (next record to mirror), if any.
    pub offset: Option<i64>,
    /// The partition's high watermark (offset after the last record).
    pub log_size: i64,
    /// The partition's low watermark (first record still held).
    pub log_start: i64,
    /// Records not yet mirrored: `log_size - offset`; without a committed
    /// offset, what the start policy would still read (`log_size -
    /// log_start` for earliest, 0 for latest).
    pub lag: i64,
    /// `client-id/host` of the group member assigned this partition;
    /// `none` if no member has it, `unknown` if the broker does not describe groups.
    pub owner: String,
    /// Replication latency, in milliseconds: the age (now minus its source
    /// timestamp) of the oldest record not yet mirrored and committed, the
    /// one at `offset`: what a failover now would lose, measured in time.
    /// `None` when nothing is behind (or that record could not be read).
    pub latency_ms: Option<i64>,
}

/// Every row, plus totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LagReport {
    /// One row per partition, ordered by cluster, topic, partition.
    pub rows: Vec<LagRow>,
    /// Sum of `lag`.
    pub total_lag: i64,
    /// Sum of `log_size`.
    pub total_log_size: i64,
}

impl LagReport {
    /// Renders the report as an aligned table with a totals line.
    pub fn table(&self) -> String {
        let header = [
            "Group", "Topic", "Pid", "Offset", "logSize", "Lag", "Owner", "Latency",
        ];
        let mut cells: Vec<[String; 8]> = vec![header.map(String::from)];
        for r in &self.rows {
            cells.push([
                r.group.clone(),
                r.topic.clone(),
                r.partition.to_string(),
                r.offset.map_or_else(|| "-".to_string(), |o| o.to_string()),
                r.log_size.to_string(),
                r.lag.to_string(),
                r.owner.clone(),
                r.latency_ms.map_or_else(
                    || "-".to_string(),
                    |ms| format!("{:.1}s", ms as f64 / 1000.0),
                ),
            ]);
        }
        cells.push([
            "TOTAL".into(),
            String::new(),
            String::new(),
            String::new(),
            self.total_log_size.to_string(),
            self.total_lag.to_string(),
            String::new(),
            String::new(),
        ]);
        let mut widths = [0usize; 8];
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        let mut out = String::new();
        for row in &cells {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// Renders the report as JSON (`rows`, `total_lag`, `total_log_size`).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a lag report always serialises")
    }
}

/// Collects the report for every source cluster of `config`.
pub fn collect(config: &Config) -> Result<LagReport, LagError> {
    let mut report = LagReport::default();
    for src in &config.sources {
        report.rows.extend(collect_cluster(config, src)?);
    }
    report.total_lag = report.rows.iter().map(|r| r.lag).sum();
    report.total_log_size = report.rows.iter().map(|r| r.log_size).sum();
    Ok(report)
}

/// The rows of one source cluster: every partition of its matched topics.
pub fn collect_cluster(config: &Config, src: &ClusterConfig) -> Result<Vec<LagRow>, LagError> {
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
    let matched = preflight::topics::matching(&all, &config.filter);
    let mut tpl = TopicPartitionList::new();
    for (topic, &n) in &matched {
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
        Ok(list) => Some(owners_of(&list, &group)),
        Err(e) => {
            tracing::warn!(cluster = %src.label, "describing group {group} failed, owners unknown: {e}");
            None
        }
    };
    let mut rows = Vec::new();
    for e in committed.elements() {
        let (topic, partition) = (e.topic(), e.partition());
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(kafka(format!(
                "reading the watermarks of {topic} [{partition}]"
            )))?;
        let offset = match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        let lag = match offset {
            Some(o) => (high - o).max(0),
            None => match src.start {
                StartPolicy::Earliest => high - low,
                StartPolicy::Latest => 0,
            },
        };
        let owner = match &owners {
            None => "unknown".to_string(),
            Some(m) => m
                .get(&(topic.to_string(), partition))
                .cloned()
                .unwrap_or_else(|| "none".into()),
        };
        rows.push(LagRow {
            cluster: src.label.clone(),
            group: group.clone(),
            topic: topic.to_string(),
            partition,
            offset,
            log_size: high,
            log_start: low,
            lag,
            owner,
            latency_ms: None,
        });
    }
    rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    set_latency(src, &mut rows);
    Ok(rows)
}

/// How long reading the oldest unmirrored record of every lagging
/// partition may take in all.
const LATENCY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Fills `latency_ms` of the lagging rows: reads the record at each one's
/// committed offset (its first record without one) and takes its age.
fn set_latency(src: &ClusterConfig, rows: &mut [LagRow]) {
    let mut tpl = TopicPartitionList::new();
    for r in rows.iter().filter(|r| r.lag > 0) {
        let at = r.offset.unwrap_or(r.log_start);
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

/// (topic, partition) → `client-id/host` for every member of `group`.
fn owners_of(list: &rdkafka::groups::GroupList, group: &str) -> HashMap<(String, i32), String> {
    let mut out = HashMap::new();
    for g in list.groups().iter().filter(|g| g.name() == group) {
        for m in g.members() {
            let Some(bytes) = m.assignment() else {
                continue;
            };
            let who = format!(
                "{}/{}",
                m.client_id(),
                m.client_host().trim_start_matches('/')
            );
            for (topic, parts) in decode_assignment(bytes).unwrap_or_default() {
                for p in parts {
                    out.insert((topic.clone(), p), who.clone());
                }
            }
        }
    }
    out
}

/// Decodes a consumer-protocol `MemberAssignment` (version i16, then an
/// array of topic name and partition ids; user data after is ignored).
/// `None` when the bytes are not that layout.
pub fn decode_assignment(b: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    struct R<'a>(&'a [u8]);
    impl R<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (h, t) = self.0.split_at(n);
            self.0 = t;
            Some(h)
        }
        fn i16(&mut self) -> Option<i16> {
            Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
        }
        fn i32(&mut self) -> Option<i32> {
            Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
        }
    }
    if b.is_empty() {
        return Some(Vec::new());
    }
    let mut r = R(b);
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(r.i16()?).ok()?;
        let name = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let n = r.i32()?;
        let parts = (0..n.max(0)).map(|_| r.i32()).collect::<Option<Vec<_>>>()?;
        out.push((name, parts));
    }
    Some(out)
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

    #[test]
    fn table_has_header_rows_and_totals() {
        let row = |p, offset, log_size, lag| LagRow {
            cluster: "source 1".into(),
            group: "mm".into(),
            topic: "orders".into(),
            partition: p,
            offset,
            log_size,
            log_start: 0,
            lag,
            owner: "none".into(),
            latency_ms: (lag > 0).then_some(12_345),
        };
        let r = LagReport {
            rows: vec![row(0, Some(5), 10, 5), row(1, None, 7, 7)],
            total_lag: 12,
            total_log_size: 17,
        };
        let t = r.table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("Group"));
        let cols: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(cols, ["mm", "orders", "1", "-", "7", "7", "none", "12.3s"]);
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["TOTAL", "17", "12"]
        );
        let j: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(j["total_lag"], 12);
        assert_eq!(j["rows"][0]["offset"], 5);
        assert!(j["rows"][1]["offset"].is_null());
    }
}
