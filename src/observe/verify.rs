//! `kmirror verify`: compares each matched source topic, up to the
//! group's committed offsets, with the target topic of the same name.
//!
//! Records are compared by content (key, value, headers, timestamp: the
//! digest of [`super::audit::record_digest`]) per key: for every key, the
//! source's records in offset order must appear on the target in the same
//! order. Extra target records (duplicates a restart re-mirrored, or
//! records past the committed offsets) are counted but are not a
//! difference. Keyless records have no order kmirror preserves across
//! partitions, so for them only presence is checked.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use serde::Serialize;

use super::audit::record_digest;
use super::lag::{LagError, REQUEST_TIMEOUT};
use crate::config::{ClusterConfig, Config};

/// How long reading a topic may go without a new record before the reader
/// concludes it has everything (after reaching the reported end offsets).
const IDLE: Duration = Duration::from_secs(2);

/// What was found for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TopicVerdict {
    /// Source cluster label.
    pub cluster: String,
    /// Topic (same name on both sides).
    pub topic: String,
    /// Source records compared (up to the committed offsets).
    pub source_records: u64,
    /// Target records read.
    pub target_records: u64,
    /// Source records whose content is nowhere on the target under their
    /// key (deleted or altered on the target, or never mirrored).
    pub missing: u64,
    /// Source records present on the target, but not in the source's order for their key.
    pub out_of_order: u64,
    /// Target records beyond the matched ones: duplicates from a restart,
    /// records past the committed offsets, or records of other writers.
    pub extra: u64,
}

impl TopicVerdict {
    /// Whether the target holds every compared source record, in per-key order.
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.out_of_order == 0
    }
}

/// Per-key comparison: `source` and `target` map a key (None: keyless) to
/// record digests in read order. Returns (missing, out_of_order, matched).
pub fn compare(
    source: &HashMap<Option<Vec<u8>>, Vec<[u8; 32]>>,
    target: &HashMap<Option<Vec<u8>>, Vec<[u8; 32]>>,
) -> (u64, u64, u64) {
    let (mut missing, mut out_of_order, mut matched) = (0, 0, 0);
    let empty = Vec::new();
    for (key, s) in source {
        let t = target.get(key).unwrap_or(&empty);
        let mut positions: HashMap<&[u8; 32], Vec<usize>> = HashMap::new();
        for (i, d) in t.iter().enumerate() {
            positions.entry(d).or_default().push(i);
        }
        if key.is_none() {
            // Presence only: each source record takes one unused copy.
            for d in s {
                match positions.get_mut(d).and_then(Vec::pop) {
                    Some(_) => matched += 1,
                    None => missing += 1,
                }
            }
            continue;
        }
        // In order: each record must appear after the previous one's match.
        let mut next = 0usize;
        for d in s {
            match positions.get(d) {
                None => missing += 1,
                Some(ps) => {
                    let i = ps.partition_point(|&p| p < next);
                    if i < ps.len() {
                        next = ps[i] + 1;
                        matched += 1;
                    } else {
                        out_of_order += 1;
                    }
                }
            }
        }
    }
    (missing, out_of_order, matched)
}

type ByKey = HashMap<Option<Vec<u8>>, Vec<[u8; 32]>>;

/// Reads partitions of `topic` from their start up to `ends` (exclusive;
/// `None`: until the partition's end offset is reached and nothing new
/// arrives for [`IDLE`]). Returns digests by key and the record count.
fn read_topic(
    cluster: &ClusterConfig,
    topic: &str,
    ends: &BTreeMap<i32, Option<i64>>,
    bar: &ProgressBar,
) -> Result<(ByKey, u64), LagError> {
    let kafka = |context: String| {
        let cluster = cluster.label.clone();
        move |source| LagError::Kafka {
            cluster,
            context,
            source,
        }
    };
    let mut cfg = cluster.client_config();
    // Partitions are assigned, not subscribed: the group is never joined
    // and nothing is committed.
    cfg.set("group.id", format!("kmirror-verify-{}", std::process::id()));
    cfg.set("enable.auto.commit", "false");
    cfg.set("enable.partition.eof", "false");
    let consumer: BaseConsumer = cfg.create().map_err(kafka("creating a client".into()))?;
    let mut tpl = TopicPartitionList::new();
    // Where each partition must be read to: the stop offset, or the high
    // watermark (some brokers under-report it, so idling decides the rest).
    let mut goal: HashMap<i32, (i64, bool)> = HashMap::new();
    for (&p, end) in ends {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
            .map_err(kafka(format!("reading the watermarks of {topic} [{p}]")))?;
        let (stop, exact) = match end {
            Some(e) => (*e, true),
            None => (high, false),
        };
        if stop > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(kafka("assigning".into()))?;
            goal.insert(p, (stop, exact));
        }
    }
    let mut out: ByKey = HashMap::new();
    let mut n = 0u64;
    if goal.is_empty() {
        return Ok((out, n));
    }
    consumer
        .assign(&tpl)
        .map_err(kafka(format!("assigning {topic}")))?;
    let mut reached: HashMap<i32, bool> = goal.keys().map(|&p| (p, false)).collect();
    let mut last_new = Instant::now();
    loop {
        let all_reached = reached.values().all(|&r| r);
        let all_exact = goal.values().all(|&(_, exact)| exact);
        if all_reached && (all_exact || last_new.elapsed() >= IDLE) {
            break;
        }
        if !all_reached && last_new.elapsed() >= REQUEST_TIMEOUT {
            tracing::warn!(cluster = %cluster.label, %topic, "no new record for {REQUEST_TIMEOUT:?} before reaching the end offsets; comparing what was read");
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                // A stop offset just past a control record (transactions)
                // is reached by the position, not by a record.
                if let Ok(pos) = consumer.position() {
                    for e in pos.elements() {
                        if let (Offset::Offset(o), Some(&(stop, _))) =
                            (e.offset(), goal.get(&e.partition()))
                        {
                            if o >= stop {
                                reached.insert(e.partition(), true);
                            }
                        }
                    }
                }
            }
            Some(Err(e)) => return Err(kafka(format!("reading {topic}"))(e)),
            Some(Ok(m)) => {
                let p = m.partition();
                let Some(&(stop, exact)) = goal.get(&p) else {
                    continue;
                };
                if exact && m.offset() >= stop {
                    reached.insert(p, true);
                    continue;
                }
                if m.offset() + 1 >= stop {
                    reached.insert(p, true);
                }
                let ts = match m.timestamp() {
                    Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
                    Timestamp::NotAvailable => None,
                };
                let headers = m.headers();
                let d = record_digest(
                    m.key(),
                    m.payload(),
                    headers
                        .iter()
                        .flat_map(|h| h.iter())
                        .map(|h| (h.key, h.value)),
                    ts,
                );
                out.entry(m.key().map(<[u8]>::to_vec)).or_default().push(d);
                n += 1;
                bar.inc(1);
                last_new = Instant::now();
            }
        }
    }
    Ok((out, n))
}

fn partition_ids(
    cluster: &ClusterConfig,
    topic: &str,
    consumer: &BaseConsumer,
) -> Result<Vec<i32>, LagError> {
    let md = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|source| LagError::Kafka {
            cluster: cluster.label.clone(),
            context: format!("reading the metadata of {topic}"),
            source,
        })?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Compares every matched topic of every source cluster with the target.
/// `progress` shows a bar of records read (drawn only on a terminal).
pub fn run(config: &Config, progress: bool) -> Result<Vec<TopicVerdict>, LagError> {
    let bar = if progress {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg}: {human_pos} records read ({per_sec})")
                .expect("a valid template"),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    } else {
        ProgressBar::hidden()
    };
    let target = &config.target;
    let target_client: BaseConsumer =
        target
            .client_config()
            .create()
            .map_err(|source| LagError::Kafka {
                cluster: target.label.clone(),
                context: "creating a client".into(),
                source,
            })?;
    let mut verdicts = Vec::new();
    for src in &config.sources {
        let report = super::lag::collect_cluster(src, Some(&config.filter))?;
        let mut by_topic: BTreeMap<String, BTreeMap<i32, Option<i64>>> = BTreeMap::new();
        for r in &report {
            by_topic
                .entry(r.topic.clone())
                .or_default()
                .insert(r.partition, r.current_offset);
        }
        for (topic, ends) in by_topic {
            bar.set_message(format!("{} {topic}: source", src.label));
            let (s, source_records) = read_topic(src, &topic, &ends, &bar)?;
            bar.set_message(format!("{} {topic}: target", src.label));
            let tparts: BTreeMap<i32, Option<i64>> = partition_ids(target, &topic, &target_client)?
                .into_iter()
                .map(|p| (p, None))
                .collect();
            let (t, target_records) = read_topic(target, &topic, &tparts, &bar)?;
            let (missing, out_of_order, matched) = compare(&s, &t);
            verdicts.push(TopicVerdict {
                cluster: src.label.clone(),
                topic,
                source_records,
                target_records,
                missing,
                out_of_order,
                extra: target_records - matched,
            });
        }
    }
    bar.finish_and_clear();
    Ok(verdicts)
}

/// One summary line per topic, then the overall verdict.
pub fn summary(verdicts: &[TopicVerdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        out.push_str(&format!(
            "{} {}: {} {} source records up to the committed offsets, {} target records: {} missing, {} out of order, {} extra\n",
            if v.ok() { "OK  " } else { "DIFF" },
            v.topic,
            v.cluster,
            v.source_records,
            v.target_records,
            v.missing,
            v.out_of_order,
            v.extra
        ));
    }
    let bad = verdicts.iter().filter(|v| !v.ok()).count();
    if bad == 0 {
        out.push_str(&format!(
            "verified: {} topic(s), target matches source\n",
            verdicts.len()
        ));
    } else {
        out.push_str(&format!(
            "DIFFERENCES in {bad} of {} topic(s)\n",
            verdicts.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: u8) -> [u8; 32] {
        [x; 32]
    }

    fn map(entries: &[(Option<&str>, &[u8])]) -> ByKey {
        let mut m: ByKey = HashMap::new();
        for (k, ds) in entries {
            m.entry(k.map(|k| k.as_bytes().to_vec()))
                .or_default()
                .extend(ds.iter().map(|&x| d(x)));
        }
        m
    }

    #[test]
    fn per_key_order_presence_and_duplicates() {
        let s = map(&[(Some("a"), &[1, 2, 3]), (Some("b"), &[4]), (None, &[7, 8])]);
        // Identical, with a replayed duplicate run: fine.
        let t = map(&[
            (Some("a"), &[1, 2, 1, 2, 3]),
            (Some("b"), &[4]),
            (None, &[8, 7]),
        ]);
        assert_eq!(compare(&s, &t), (0, 0, 6));
        // Deleted / altered.
        let t = map(&[(Some("a"), &[1, 3]), (Some("b"), &[9]), (None, &[7, 8])]);
        assert_eq!(compare(&s, &t), (2, 0, 4));
        // Reordered.
        let t = map(&[(Some("a"), &[1, 3, 2]), (Some("b"), &[4]), (None, &[7])]);
        assert_eq!(compare(&s, &t), (1, 1, 4));
        let v = TopicVerdict {
            missing: 1,
            ..Default::default()
        };
        assert!(!v.ok());
        assert!(summary(&[v]).contains("DIFFERENCES in 1 of 1"));
        assert!(summary(&[TopicVerdict::default()]).contains("verified: 1 topic(s)"));
    }
}
