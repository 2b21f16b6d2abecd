//! The target producer's librdkafka configuration: the user's keys with
//! kmirror's no-loss settings on top. Used by the mirror's producers
//! (`pipeline`) and by the offset map's writer (`failover`).

use rdkafka::config::ClientConfig;

use super::{ClusterConfig, QueueBound};

/// The target's client config with kmirror's no-loss producer settings on
/// top of the user's.
pub(crate) fn producer_config(target: &ClusterConfig, queue: QueueBound) -> ClientConfig {
    let mut c = target.client_config();
    // Every in-sync replica must have the record before it counts as
    // delivered; anything less can lose acknowledged records.
    c.set("acks", "all");
    if is_idempotent(&c) {
        // The distance mode (enable.idempotence=true): sequence numbers let
        // the broker reject a batch that would overtake a retried one and
        // drop a retried batch it already has, so order and no-duplicates
        // hold with up to 5 requests in flight (`translate` allows 1..=5,
        // default 5). Gapless: an error that could leave a gap in a
        // partition is fatal, which stops kmirror with only the delivered
        // prefix committed (docs/architecture.md).
        if c.get("max.in.flight.requests.per.connection").is_none() {
            c.set("max.in.flight.requests.per.connection", "5");
        }
        c.set("enable.gapless.guarantee", "true");
    } else {
        // One request at a time per broker: a retried batch cannot be
        // overtaken by a later one, so per-partition order survives retries.
        c.set("max.in.flight.requests.per.connection", "1");
    }
    // Retry until delivered: the properties file can only agree (see
    // `translate`), and `message.timeout.ms` (--delivery.timeout.ms,
    // default no limit) is the one bound.
    c.set("message.send.max.retries", "2147483647");
    if c.get("message.timeout.ms").is_none() {
        c.set("message.timeout.ms", "0");
    }
    // Java's default partitioner for keyed records (murmur2), so per-key
    // placement matches what a Java client would have produced.
    c.set("partitioner", "murmur2_random");
    // kmirror bounds in-flight records by --queue.size and --queue.bytes
    // itself; librdkafka's queue is set above both so QueueFull stays a rare
    // race (it is waited out as backpressure when it happens, e.g. under a
    // smaller queue.buffering.max.kbytes from the properties file).
    c.set(
        "queue.buffering.max.messages",
        (queue.records.saturating_add(1000)).to_string(),
    );
    if c.get("queue.buffering.max.kbytes").is_none() {
        c.set(
            "queue.buffering.max.kbytes",
            queue_kbytes(queue.bytes).to_string(),
        );
    }
    c
}

/// The bytes kmirror may keep in flight under a `queue.buffering.max.kbytes`
/// (or `buffer.memory`) from the properties file, which librdkafka enforces
/// by refusing a send (QueueFull). kmirror must pause before that: a send
/// waiting on QueueFull does not poll the source, so during a long target
/// outage its consumer would pass `max.poll.interval.ms` and leave the
/// group. Room for one more record of at most `message.max.bytes` is left,
/// as kmirror may pass its own bound by one record. Without the key,
/// unbounded (kmirror sets librdkafka's limit above `--queue.bytes`). An
/// explicit `--queue.bytes` is taken as given: librdkafka's smaller limit
/// then applies as backpressure (a send waits on QueueFull).
pub(crate) fn librdkafka_queue_room(c: &ClientConfig) -> usize {
    let Some(kbytes) = c
        .get("queue.buffering.max.kbytes")
        .and_then(|v| v.trim().parse::<usize>().ok())
    else {
        return usize::MAX;
    };
    let largest_record = c
        .get("message.max.bytes")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1_000_000);
    kbytes
        .saturating_mul(1024)
        .saturating_sub(largest_record)
        .max(1)
}

/// librdkafka's `queue.buffering.max.kbytes` for a `--queue.bytes` bound:
/// its default (1 GiB) plus the bound, so librdkafka's own limit (which
/// counts values only) never comes first; at most its maximum, `INT_MAX`.
fn queue_kbytes(queue_bytes: usize) -> usize {
    const LIBRDKAFKA_DEFAULT_KBYTES: usize = 0x100000;
    (queue_bytes / 1024)
        .saturating_add(LIBRDKAFKA_DEFAULT_KBYTES)
        .min(i32::MAX as usize)
}

/// Whether the target producer is idempotent (`enable.idempotence=true`),
/// which is kmirror's distance mode.
pub(crate) fn is_idempotent(c: &ClientConfig) -> bool {
    c.get("enable.idempotence")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}
