//! Offset skips (issue #18, case 0): a record beyond the offset a partition
//! was expected to continue at. Some skips are legitimate for a
//! `read_committed` consumer (transaction markers and aborted records,
//! records removed by compaction, records below the log start); a skip
//! nothing explains is a gap (records the broker lost, or a broker that
//! answers a fetch inside a batch with the next batch, as unpatched tansu
//! 0.6.0 does), and stops the mirror.
//!
//! What explains a skip comes from librdkafka (kmirror patch 0003,
//! `rd_kafka_uncovered_offsets`): offsets that a fetched record batch
//! covered but that no record came out of were dropped by librdkafka
//! (control batches, aborted transactions); offsets that no batch covered
//! were never sent by the broker (compaction, retention, or loss).

use std::ffi::CString;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use rdkafka::bindings as rd;
use tracing::{debug, info, warn};

use super::{PartitionState, PipelineError, Shared};

/// A range of skipped source offsets, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skip {
    /// First offset skipped.
    pub first: i64,
    /// Last offset skipped (the record that revealed the skip is at `last + 1`).
    pub last: i64,
}

impl Skip {
    /// Offsets in the range.
    pub fn len(&self) -> u64 {
        (self.last - self.first + 1) as u64
    }
}

/// The offset each record of a partition should have: the start position
/// of its assignment, then the last record's offset + 1. kmirror never
/// seeks; a new assignment gets a new detector; a pause drops prefetched
/// records and librdkafka resumes after the last one handed out, which is
/// where the detector expects the next one.
#[derive(Debug)]
pub(crate) struct SkipDetector {
    expected: AtomicI64,
}

impl SkipDetector {
    /// A partition whose first record should be at `start` (negative:
    /// unknown, the first record sets it).
    pub fn starting_at(start: i64) -> Self {
        SkipDetector {
            expected: AtomicI64::new(start),
        }
    }

    /// The offset the next record should have.
    #[cfg(test)]
    pub fn expected(&self) -> i64 {
        self.expected.load(Ordering::Relaxed)
    }

    /// A record at `offset` arrived: the range skipped before it, if any.
    /// Only the partition's consumer thread calls this (a relaxed atomic
    /// is enough; it is atomic only so the state can be shared).
    pub fn record(&self, offset: i64) -> Option<Skip> {
        let expected = self.expected.load(Ordering::Relaxed);
        if offset >= expected {
            self.expected.store(offset + 1, Ordering::Relaxed);
        }
        (expected >= 0 && offset > expected).then_some(Skip {
            first: expected,
            last: offset - 1,
        })
    }
}

/// A partition's skip state: where its next record should be, its topic's
/// compaction (read at the first skip that needs it) and which reasons
/// were logged at `info` already.
#[derive(Debug)]
pub(crate) struct PartitionSkips {
    /// The expected next offset.
    pub detector: SkipDetector,
    compacted: OnceLock<bool>,
    logged: AtomicU8,
    /// The highest leader epoch of a record sent so far (-1: none known).
    sent_epoch: std::sync::atomic::AtomicI32,
    /// Explained skips of the partition since kmirror first mirrored it:
    /// `committed` those below the last committed offset (carried in the
    /// commit's metadata, so `kmirror lag` shows them and a restart goes on
    /// counting), `pending` those above it, as (last offset skipped, count).
    /// A skip above the committed offset is seen again after a restart, so
    /// it is only counted once the commit has passed it.
    count: std::sync::Mutex<SkipCount>,
}

/// See [`PartitionSkips::count`].
#[derive(Debug, Default)]
struct SkipCount {
    committed: u64,
    pending: std::collections::VecDeque<(i64, u64)>,
}

impl PartitionSkips {
    /// A partition assigned (or moved) to start at `start`.
    pub fn starting_at(start: i64) -> Self {
        PartitionSkips {
            detector: SkipDetector::starting_at(start),
            compacted: OnceLock::new(),
            logged: AtomicU8::new(0),
            sent_epoch: std::sync::atomic::AtomicI32::new(-1),
            count: std::sync::Mutex::new(SkipCount::default()),
        }
    }
}

impl PartitionSkips {
    /// The same, going on from `committed` skipped offsets counted by an
    /// earlier run (from the committed offset's metadata).
    pub fn counted_before(self, committed: u64) -> Self {
        self.count.lock().expect("skip count lock").committed = committed;
        self
    }

    /// An explained skip of `skip.len()` offsets.
    fn counted(&self, skip: Skip) {
        let mut c = self.count.lock().expect("skip count lock");
        c.pending.push_back((skip.last, skip.len()));
    }

    /// Skipped offsets below `offset`, which is about to be committed: the
    /// figure the commit's metadata records.
    pub fn skipped_below(&self, offset: i64) -> u64 {
        let mut c = self.count.lock().expect("skip count lock");
        while let Some(&(last, n)) = c.pending.front() {
            if last >= offset {
                break;
            }
            c.committed += n;
            c.pending.pop_front();
        }
        c.committed
    }

    /// A record with leader epoch `epoch` (-1: unknown) was sent.
    pub fn sent_in_epoch(&self, epoch: i32) {
        self.sent_epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// A record at an offset already handed over (`last_sent` or before)
    /// arrived again with leader epoch `epoch`: the same record again, to
    /// skip, or the log rewritten under a new leader, to stop for.
    pub fn reread(&self, epoch: i32) -> Reread {
        reread_verdict(self.sent_epoch.load(Ordering::Relaxed), epoch)
    }
}

/// What a re-read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reread {
    /// The record was handed over before (brokers may do this: the rig's
    /// tansu does to a consumer tailing a partition while it is appended):
    /// its outcome is tracked, so sending it again would only duplicate it.
    Duplicate,
    /// The record comes from a leader epoch newer than any record sent: the
    /// partition's log was truncated and rewritten (an unclean leader
    /// election), so the offset now holds another record. Skipping it would
    /// lose it; sending it would break the target's order.
    Rewritten,
}

/// [`Reread`] from the highest leader epoch sent and the re-read record's.
/// Epochs only grow, so a record written before the ones already sent has
/// an epoch no higher than theirs; a higher one was written after them.
/// Unknown epochs (-1: brokers before KIP-320) cannot tell: a duplicate.
fn reread_verdict(sent_epoch: i32, epoch: i32) -> Reread {
    if sent_epoch >= 0 && epoch > sent_epoch {
        Reread::Rewritten
    } else {
        Reread::Duplicate
    }
}

/// The leader epoch librdkafka read for a consumed record (-1: unknown).
pub(crate) fn leader_epoch(msg: &rdkafka::message::BorrowedMessage<'_>) -> i32 {
    // SAFETY: the pointer is the live message `msg` borrows.
    unsafe { rd::rd_kafka_message_leader_epoch(msg.ptr()) }
}

/// How long reading a topic's `cleanup.policy` may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A record of `part` arrived after `skip`: classifies the skipped offsets
/// and counts, logs and audits an explained skip, or returns the gap that
/// stops the mirror. `client` is the consumer that fetched the record.
pub(crate) fn on_skip<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    part: &PartitionState,
    shared: &Shared,
    skip: Skip,
) -> Result<(), PipelineError> {
    let (topic, partition) = (part.topic.as_str(), part.partition);
    let rk = client.native_ptr();
    let uncovered = uncovered(rk, topic, partition, skip);
    let compacted = match uncovered {
        Uncovered::None => None,
        _ => compacted(client, part),
    };
    let facts = SkipFacts {
        compacted,
        log_start: log_start(rk, topic, partition),
        uncovered,
    };
    match classify(skip, facts) {
        Verdict::Explained(reason) => {
            let why = reason.as_str();
            shared
                .metrics
                .skipped(&part.cluster, topic, partition, why, skip.len());
            part.skips.counted(skip);
            if shared.audit.is_some() {
                part.trail
                    .lock()
                    .expect("trail lock")
                    .skipped(skip.first, skip.last, why);
            }
            let bit = 1u8 << (reason as u8);
            // The first skip of each reason per assignment at info, the rest
            // at debug: a transactional topic skips a marker per transaction.
            if part.skips.logged.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
                info!(cluster = %part.cluster, %topic, partition, "offsets {}..{} skipped by the fetch: {} explains it (counted in kmirror_skipped_offsets_total; later skips of this partition for this reason are logged at debug)", skip.first, skip.last, explanation(reason));
            } else {
                debug!(cluster = %part.cluster, %topic, partition, reason = why, "offsets {}..{} skipped", skip.first, skip.last);
            }
            Ok(())
        }
        Verdict::Gap { first, last, why } => Err(PipelineError::UnexplainedGap {
            cluster: part.cluster.clone(),
            topic: topic.to_string(),
            partition,
            first,
            last,
            why,
        }),
    }
}

/// The log's words for a reason.
fn explanation(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Transactions => {
            "transactions (transaction markers or aborted records, which a read_committed consumer never returns)"
        }
        SkipReason::Compaction => "compaction (the topic's cleanup.policy compacts)",
        SkipReason::Retention => "retention (the offsets are below the log start)",
    }
}

/// Whether `part`'s topic is compacted, read once per assignment
/// (`None`: it could not be read; asked again at the next skip).
fn compacted<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    part: &PartitionState,
) -> Option<bool> {
    if let Some(&c) = part.skips.compacted.get() {
        return Some(c);
    }
    match cleanup_policy(client, &part.topic, DESCRIBE_TIMEOUT) {
        Ok(policy) => Some(
            *part
                .skips
                .compacted
                .get_or_init(|| policy_compacts(&policy)),
        ),
        Err(e) => {
            warn!(cluster = %part.cluster, topic = %part.topic, "the topic's cleanup.policy could not be read ({e}): a skip of offsets no batch covered cannot be explained by compaction");
            None
        }
    }
}

/// The partition's log start as of librdkafka's last fetch (no request).
fn log_start(rk: *mut rd::rd_kafka_t, topic: &str, partition: i32) -> Option<i64> {
    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: `rk` is a live client, the topic a valid C string and the
    // out-pointers valid for writes.
    let err = unsafe {
        rd::rd_kafka_get_watermark_offsets(rk, topic.as_ptr(), partition, &mut low, &mut high)
    };
    (err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && low >= 0).then_some(low)
}

/// Which offsets of a skip no fetched record batch covered, as librdkafka
/// recorded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uncovered {
    /// Every skipped offset was in a batch librdkafka dropped.
    None,
    /// Offsets `first..=last` (within the skip) were in no batch.
    Range { first: i64, last: i64 },
    /// Not known (more uncovered ranges were fetched ahead than librdkafka
    /// keeps): treated as if the whole skip were uncovered.
    Unknown,
}

/// What is known about the skipped partition when a skip is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SkipFacts {
    /// Whether the source topic's `cleanup.policy` contains `compact`
    /// (`None`: its configuration could not be read).
    pub compacted: Option<bool>,
    /// The partition's log start offset as of the last fetch (`None`: unknown).
    pub log_start: Option<i64>,
    /// What librdkafka says about batch coverage of the skip.
    pub uncovered: Uncovered,
}

/// Why offsets were skipped, when something explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum SkipReason {
    /// Transaction markers or aborted transactional records.
    Transactions = 0,
    /// Records removed by compaction (a compacted topic).
    Compaction,
    /// Records below the log start (deleted by retention).
    Retention,
}

impl SkipReason {
    /// The metric label and audit text.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Transactions => "transactions",
            SkipReason::Compaction => "compaction",
            SkipReason::Retention => "retention",
        }
    }
}

/// The classification of a skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Legitimate: count it and go on.
    Explained(SkipReason),
    /// Offsets `first..=last` were never returned and nothing explains it:
    /// stop. `why` says what was ruled out.
    Gap { first: i64, last: i64, why: String },
}

/// Classifies a skip. Offsets covered by dropped batches are transactions;
/// uncovered offsets are retention below the log start, compaction on a
/// compacted topic, and otherwise a gap (also when the topic's policy is
/// unknown: kmirror does not skip what it cannot explain).
pub(crate) fn classify(skip: Skip, facts: SkipFacts) -> Verdict {
    let (first, last) = match facts.uncovered {
        Uncovered::None => return Verdict::Explained(SkipReason::Transactions),
        Uncovered::Range { first, last } => (first, last),
        Uncovered::Unknown => (skip.first, skip.last),
    };
    if facts.log_start.is_some_and(|ls| last < ls) {
        return Verdict::Explained(SkipReason::Retention);
    }
    let first = facts.log_start.map_or(first, |ls| first.max(ls));
    let above = facts.log_start.map_or_else(String::new, |ls| {
        format!(", at or above the log start {ls}")
    });
    match facts.compacted {
        Some(true) => Verdict::Explained(SkipReason::Compaction),
        Some(false) => Verdict::Gap {
            first,
            last,
            why: format!("the topic is not compacted (cleanup.policy has no compact), the offsets were in no record batch the broker returned (not transaction markers or aborted records){above}"),
        },
        None => Verdict::Gap {
            first,
            last,
            why: format!("the topic's cleanup.policy could not be read (grant DESCRIBE_CONFIGS on it to let compaction explain such skips), the offsets were in no record batch the broker returned{above}"),
        },
    }
}

/// Whether a `cleanup.policy` value lets compaction remove records
/// (`compact`, or `compact,delete` in either order).
pub fn policy_compacts(policy: &str) -> bool {
    policy
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("compact"))
}

/// Asks librdkafka which offsets of `skip` no fetched batch covered
/// (kmirror patch 0003). `rk` must be the live consumer that fetched the
/// partition.
pub(crate) fn uncovered(
    rk: *mut rd::rd_kafka_t,
    topic: &str,
    partition: i32,
    skip: Skip,
) -> Uncovered {
    let Ok(topic) = CString::new(topic) else {
        return Uncovered::Unknown;
    };
    let (mut first, mut last) = (-1i64, -1i64);
    // SAFETY: `rk` is a live client, the topic a valid C string and the
    // out-pointers valid for writes; the call only reads librdkafka state
    // under its partition lock.
    let r = unsafe {
        rd::rd_kafka_uncovered_offsets(
            rk,
            topic.as_ptr(),
            partition,
            skip.first,
            skip.last,
            &mut first,
            &mut last,
        )
    };
    match r {
        0 => Uncovered::None,
        1 => Uncovered::Range { first, last },
        _ => Uncovered::Unknown,
    }
}

/// The source topic's `cleanup.policy` (DescribeConfigs on the consumer's
/// own connection), or why it could not be read. Called once per assigned
/// partition, at its first skip with uncovered offsets. An answer without
/// the key means Kafka's default, `delete`. Public for the rig's tests.
///
/// Admin calls run on the client's own threads (any client type); the
/// answer comes back on a private queue. `timeout` bounds the request (a
/// second more for the answer).
pub fn cleanup_policy<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let rk = client.native_ptr();
    let name = CString::new(topic).map_err(|e| e.to_string())?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `rk` is a live client; every object created here is destroyed
    // before returning, and the event (which owns the resources and entries
    // read) is read only before it is destroyed.
    unsafe {
        let mut res = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            name.as_ptr(),
        );
        let queue = rd::rd_kafka_queue_new(rk);
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
        );
        rd::rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, std::ptr::null_mut(), 0);
        rd::rd_kafka_DescribeConfigs(rk, &mut res, 1, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(1000));
        let result = read_policy(event);
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_ConfigResource_destroy(res);
        result
    }
}

/// Reads `cleanup.policy` from a DescribeConfigs result event.
///
/// # Safety
/// `event` is null or a live DescribeConfigs result event.
unsafe fn read_policy(event: *mut rd::rd_kafka_event_t) -> Result<String, String> {
    use rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR as OK;
    let text = |s: *const std::ffi::c_char| {
        if s.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned()
        }
    };
    if event.is_null() {
        return Err("DescribeConfigs: no answer in time".into());
    }
    if rd::rd_kafka_event_error(event) != OK {
        return Err(text(rd::rd_kafka_event_error_string(event)));
    }
    let result = rd::rd_kafka_event_DescribeConfigs_result(event);
    let mut n = 0usize;
    let resources = rd::rd_kafka_DescribeConfigs_result_resources(result, &mut n);
    if n == 0 {
        return Err("DescribeConfigs: no answer for the topic".into());
    }
    let res = *resources;
    if rd::rd_kafka_ConfigResource_error(res) != OK {
        return Err(text(rd::rd_kafka_ConfigResource_error_string(res)));
    }
    let mut m = 0usize;
    let entries = rd::rd_kafka_ConfigResource_configs(res, &mut m);
    for i in 0..m {
        let e = *entries.add(i);
        if text(rd::rd_kafka_ConfigEntry_name(e)) == "cleanup.policy" {
            return Ok(text(rd::rd_kafka_ConfigEntry_value(e)));
        }
    }
    // Kafka always lists it; a broker that leaves it out (tansu 0.6.0 lists
    // only the configs a topic was created with) is taken at Kafka's
    // default, which explains no skip: a missing key can stop the mirror,
    // never let it skip.
    Ok(DEFAULT_CLEANUP_POLICY.into())
}

/// Kafka's `log.cleanup.policy` default.
const DEFAULT_CLEANUP_POLICY: &str = "delete";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_follows_start_and_consecutive_records() {
        let d = SkipDetector::starting_at(5);
        assert_eq!(d.record(5), None, "the start position itself");
        assert_eq!(d.record(6), None, "consecutive");
        assert_eq!(d.record(9), Some(Skip { first: 7, last: 8 }));
        assert_eq!(d.expected(), 10);
        assert_eq!(d.record(10), None);
        // A start beyond the first record fetched (a mid-batch start the
        // broker answered from the batch's start) is not a skip.
        let d = SkipDetector::starting_at(12);
        assert_eq!(d.record(12), None);
        let d = SkipDetector::starting_at(5);
        assert_eq!(
            d.record(12),
            Some(Skip { first: 5, last: 11 }),
            "the first record beyond the start position"
        );
        assert_eq!(d.record(13), None, "consecutive after a skip");
        // A new assignment starts over at its own start.
        let d = SkipDetector::starting_at(40);
        assert_eq!(
            d.record(41),
            Some(Skip {
                first: 40,
                last: 40
            })
        );
        assert_eq!(
            Skip {
                first: 40,
                last: 40
            }
            .len(),
            1
        );
        // An unknown start: the first record sets it.
        let d = SkipDetector::starting_at(-1);
        assert_eq!(d.record(7), None);
        assert_eq!(d.record(9), Some(Skip { first: 8, last: 8 }));
    }

    #[test]
    fn classification_table() {
        use SkipReason::*;
        use Uncovered as U;
        let skip = Skip {
            first: 10,
            last: 19,
        };
        let gap = |first, last| move |v: &Verdict| matches!(v, Verdict::Gap { first: f, last: l, .. } if *f == first && *l == last);
        let explained = |r| move |v: &Verdict| *v == Verdict::Explained(r);
        type Check = Box<dyn Fn(&Verdict) -> bool>;
        let rows: Vec<(Option<bool>, Option<i64>, Uncovered, Check)> = vec![
            // Covered by dropped batches: transactions, whatever the topic.
            (
                Some(false),
                Some(0),
                U::None,
                Box::new(explained(Transactions)),
            ),
            (
                Some(true),
                Some(0),
                U::None,
                Box::new(explained(Transactions)),
            ),
            (None, None, U::None, Box::new(explained(Transactions))),
            // Uncovered on a compacted topic: compaction.
            (
                Some(true),
                Some(0),
                U::Range {
                    first: 12,
                    last: 15,
                },
                Box::new(explained(Compaction)),
            ),
            (
                Some(true),
                None,
                U::Unknown,
                Box::new(explained(Compaction)),
            ),
            // Uncovered below the log start: retention, on any topic.
            (
                Some(false),
                Some(20),
                U::Range {
                    first: 10,
                    last: 19,
                },
                Box::new(explained(Retention)),
            ),
            (None, Some(20), U::Unknown, Box::new(explained(Retention))),
            // Uncovered on a delete-policy topic above the log start: a gap
            // of exactly the uncovered offsets.
            (
                Some(false),
                Some(0),
                U::Range {
                    first: 12,
                    last: 15,
                },
                Box::new(gap(12, 15)),
            ),
            (Some(false), Some(0), U::Unknown, Box::new(gap(10, 19))),
            (
                Some(false),
                None,
                U::Range {
                    first: 10,
                    last: 19,
                },
                Box::new(gap(10, 19)),
            ),
            // Straddling the log start: the part above it is the gap.
            (
                Some(false),
                Some(14),
                U::Range {
                    first: 10,
                    last: 19,
                },
                Box::new(gap(14, 19)),
            ),
            // Policy unknown: not explained.
            (
                None,
                Some(0),
                U::Range {
                    first: 10,
                    last: 19,
                },
                Box::new(gap(10, 19)),
            ),
        ];
        for (compacted, log_start, uncovered, ok) in rows {
            let facts = SkipFacts {
                compacted,
                log_start,
                uncovered,
            };
            let v = classify(skip, facts);
            assert!(ok(&v), "{facts:?} gave {v:?}");
        }
    }

    #[test]
    fn compact_policies() {
        for (policy, compacts) in [
            ("delete", false),
            ("compact", true),
            ("compact,delete", true),
            ("delete, compact", true),
            ("COMPACT", true),
            ("", false),
            ("compacted", false),
        ] {
            assert_eq!(policy_compacts(policy), compacts, "{policy:?}");
        }
    }

    /// A re-read is a duplicate unless its leader epoch is newer than every
    /// record sent (a log rewritten after an unclean leader election).
    #[test]
    fn reread_from_a_newer_leader_epoch_is_a_rewritten_log() {
        use Reread::*;
        #[rustfmt::skip]
        let table = [
            // (highest epoch sent, re-read's epoch, verdict)
            (-1, -1, Duplicate), // no epochs (old brokers, tansu)
            (-1,  3, Duplicate), // nothing known sent
            ( 3, -1, Duplicate),
            ( 3,  3, Duplicate), // the same record again
            ( 3,  2, Duplicate), // an older record again
            ( 3,  4, Rewritten), // written by a newer leader
        ];
        for (sent, epoch, want) in table {
            assert_eq!(
                reread_verdict(sent, epoch),
                want,
                "sent {sent}, re-read {epoch}"
            );
        }
        let p = PartitionSkips::starting_at(0);
        p.sent_in_epoch(5);
        p.sent_in_epoch(4);
        assert_eq!(p.reread(5), Duplicate);
        assert_eq!(p.reread(6), Rewritten);
    }

    /// A skip counts in a commit's figure only once the committed offset is
    /// past it (a restart below it would see and count it again).
    #[test]
    fn skips_count_once_the_commit_has_passed_them() {
        let p = PartitionSkips::starting_at(0).counted_before(5);
        p.counted(Skip {
            first: 10,
            last: 16,
        });
        p.counted(Skip {
            first: 30,
            last: 30,
        });
        assert_eq!(p.skipped_below(10), 5, "the commit is before the skip");
        assert_eq!(p.skipped_below(17), 12, "offset 17 is past 10..16");
        assert_eq!(p.skipped_below(30), 12);
        assert_eq!(p.skipped_below(31), 13);
        assert_eq!(p.skipped_below(31), 13, "counted once");
    }
}
