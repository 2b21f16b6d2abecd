//! Translation of Java client properties (as MirrorMaker users write them)
//! into librdkafka properties.
//!
//! Every key a user writes gets exactly one of these fates, decided by the
//! explicit table [`TABLE`] (plus a few refused prefixes) and covered, row by
//! row, by the unit-test table below:
//! - passed through (librdkafka knows the same key and no value of it can
//!   weaken the no-loss guarantee or security),
//! - renamed or converted to the librdkafka equivalent,
//! - handed to the security module (which maps or refuses every value),
//! - managed by kmirror itself (the no-loss settings; values that would
//!   weaken the guarantee are refused with the reason, agreeing ones noted),
//! - ignored with one info line (Java-only keys with no meaning here),
//! - refused with the reason: ZooKeeper-era keys (naming the modern key),
//!   keys that load code into the process (`plugin.library.paths`,
//!   `ssl.engine.location`, OAUTHBEARER token retrieval), and keys kmirror
//!   could not honour on both of its TLS paths.
//!
//! A key the table does not know is an error naming `file:line`, the key and
//! the nearest known key: kmirror never hands librdkafka a key it has not
//! judged, so a typo or a setting that would silently weaken delivery or
//! TLS cannot slip through.

use std::path::{Path, PathBuf};

use super::properties::{Entry, PropertiesFile, Value};

/// Which client a properties file configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A source cluster's consumer (`--consumer.config`).
    Consumer,
    /// The target cluster's producer (`--producer.config`).
    Producer,
}

/// What to do with one Java property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// librdkafka uses the same key, and no value weakens the guarantee.
    Pass,
    /// librdkafka's name for the same setting.
    Rename(&'static str),
    /// `buffer.memory` (bytes) → `queue.buffering.max.kbytes` (KiB).
    BytesToKbytes(&'static str),
    /// Java assignor class names → librdkafka strategy names.
    AssignmentStrategy,
    /// Handled by the security module (protocol, SASL, TLS, Kerberos),
    /// which maps every value or refuses it.
    Security,
    /// kmirror sets this itself for its no-loss guarantee.
    Managed(Managed),
    /// Meaningless for kmirror; the reason is logged once.
    Ignore(&'static str),
    /// Refused; the text says why and what to do instead.
    Refuse(&'static str),
    /// Meaningful only for the other role; ignored with a note.
    OtherRole,
    /// Not in the table: an error naming the nearest known key.
    Unknown,
}

/// Settings kmirror manages itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Managed {
    /// `enable.auto.commit`/`auto.commit.enable`: kmirror commits only
    /// delivered offsets, so auto-commit is always off.
    AutoCommit,
    /// `enable.auto.offset.store`: always off for the same reason.
    AutoOffsetStore,
    /// `auto.offset.reset`: the start position of partitions that have no
    /// committed offset; an out-of-range offset always stops kmirror.
    OffsetReset,
    /// `acks`: must be `all`.
    Acks,
    /// `max.in.flight.requests.per.connection`: 1, or 1 to 5 with
    /// `enable.idempotence=true` (the distance mode, default 5 there).
    MaxInFlight,
    /// `enable.idempotence`: `true` turns on the distance mode (librdkafka's
    /// idempotent producer, several requests in flight, gapless guarantee).
    Idempotence,
    /// `auto.commit.interval.ms`: replaced by `--offset.commit.interval.ms`.
    CommitInterval,
    /// `transactional.id`: kmirror is not a transactional producer.
    Transactional,
    /// `retries`/`message.send.max.retries`: unbounded (2147483647) only.
    Retries,
    /// `delivery.timeout.ms`/`message.timeout.ms`: set by
    /// `--delivery.timeout.ms` (default: no limit); only "no limit" accepted.
    DeliveryTimeout,
    /// `delivery.report.only.error`: kmirror needs every success report.
    ReportOnlyError,
    /// `enable.gapless.guarantee`: `true` passed, `false` (the default) noted.
    Gapless,
    /// `enable.partition.eof`: always off (kmirror has no use for EOF events).
    PartitionEof,
    /// `isolation.level`: `read_committed` only.
    Isolation,
}

/// One row of the key table: a key and its fate for each role.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// The key as a Java or librdkafka user writes it.
    pub key: &'static str,
    /// Its fate in a `--consumer.config` file.
    pub consumer: Rule,
    /// Its fate in a `--producer.config` file.
    pub producer: Rule,
}

const fn both(key: &'static str, rule: Rule) -> Row {
    Row {
        key,
        consumer: rule,
        producer: rule,
    }
}

const fn consumer(key: &'static str, rule: Rule) -> Row {
    Row {
        key,
        consumer: rule,
        producer: Rule::OtherRole,
    }
}

const fn producer(key: &'static str, rule: Rule) -> Row {
    Row {
        key,
        consumer: Rule::OtherRole,
        producer: rule,
    }
}

use Rule::{
    AssignmentStrategy, BytesToKbytes, Ignore, Managed as M, Pass, Refuse, Rename, Security,
};

const JAVA_CLASS: &str = "a Java class; kmirror authenticates through librdkafka/Cyrus SASL with the JAAS options it understands";
const JAVA_METRICS: &str =
    "a Java client plug-in or metrics setting; kmirror exports its own metrics";
const JAVA_PARTITIONER: &str = "kmirror copies bytes and partitions keyed records with murmur2, as the Java client's default partitioner";
const JAVA_TLS_FACTORY: &str = "a Java TLS factory setting; kmirror verifies certificates with OpenSSL (librdkafka) and rustls (start-up check) against the configured CA";
const KERBEROS_RENEWAL: &str =
    "kmirror obtains and renews the Kerberos ticket itself, in-process, well before it expires";
const ZK_NO_EQUIVALENT: &str =
    "a ZooKeeper setting with no effect here: kmirror connects to bootstrap.servers";
const OLD_ZK_CONSUMER: &str = "an old ZooKeeper-based consumer setting with no effect here: the brokers' group coordinator handles rebalances and offsets";
const ZK_CONNECT: &str = "kmirror talks to the brokers, not ZooKeeper: it connects to bootstrap.servers, which the file must also set";
const BACKPRESSURE: &str = "kmirror never drops a record when its buffer is full: it waits (backpressure), bounded by --queue.size";
const LOADS_ENGINE: &str = "loads an OpenSSL engine or provider (code) into kmirror's process; kmirror loads no code from configuration: remove it and give the key and certificate as files (ssl.keystore.location, or ssl.certificate.location and ssl.key.location)";
const INLINE_PEM: &str = "inline PEM is not supported; put it in a file and set ssl.ca.location / ssl.certificate.location and ssl.key.location (or ssl.truststore.location / ssl.keystore.location with type PEM)";
const OPENSSL_LIST: &str = "an OpenSSL algorithm list that kmirror's start-up TLS check (rustls) cannot apply, and Java cipher-suite names are not OpenSSL's: remove it (kmirror uses the TLS libraries' secure defaults, TLS 1.2 and 1.3 only in the start-up check)";
const BROKER_KEY: &str =
    "a broker setting; it does not belong in a client properties file: remove it";
/// OAUTHBEARER: the token comes from an HTTP endpoint, a file or a
/// callback, code paths kmirror does not check; refused as a whole.
pub(crate) const OAUTHBEARER: &str = "SASL/OAUTHBEARER is not supported (its token retrieval fetches or runs code outside kmirror's checks); use GSSAPI (Kerberos), or SCRAM/PLAIN over SASL_SSL";

/// Every key kmirror knows, with its fate for each role. Sorted by topic;
/// the unit test `every_table_row_is_tested` keeps it and the test table
/// in step.
pub(crate) const TABLE: &[Row] = &[
    // Connection and identity: same key in both clients.
    both("bootstrap.servers", Pass),
    both("client.id", Pass),
    both("client.rack", Pass),
    both("client.dns.lookup", Pass),
    both("metadata.max.age.ms", Pass),
    both("metadata.recovery.strategy", Pass),
    both("metadata.recovery.rebootstrap.trigger.ms", Pass),
    both("topic.metadata.refresh.interval.ms", Pass),
    both("topic.metadata.refresh.fast.interval.ms", Pass),
    both("topic.metadata.refresh.sparse", Pass),
    both("topic.metadata.propagation.max.ms", Pass),
    both("reconnect.backoff.ms", Pass),
    both("reconnect.backoff.max.ms", Pass),
    both("reconnect.backoff.jitter.ms", Pass),
    both("retry.backoff.ms", Pass),
    both("retry.backoff.max.ms", Pass),
    both("connections.max.idle.ms", Pass),
    both("socket.timeout.ms", Pass),
    both("socket.connection.setup.timeout.ms", Pass),
    both("socket.keepalive.enable", Pass),
    both("socket.nagle.disable", Pass),
    both("socket.max.fails", Pass),
    both("socket.send.buffer.bytes", Pass),
    both("socket.receive.buffer.bytes", Pass),
    both("receive.buffer.bytes", Rename("socket.receive.buffer.bytes")),
    both("send.buffer.bytes", Rename("socket.send.buffer.bytes")),
    both("broker.address.ttl", Pass),
    both("broker.address.family", Pass),
    both("api.version.request", Pass),
    both("api.version.request.timeout.ms", Pass),
    both("api.version.fallback.ms", Pass),
    both("broker.version.fallback", Pass),
    both("message.max.bytes", Pass),
    both("receive.message.max.bytes", Pass),
    both("message.copy.max.bytes", Pass),
    both("statistics.interval.ms", Pass),
    both("enable.metrics.push", Pass),
    both("log.connection.close", Pass),
    both("debug", Pass),
    // librdkafka's request timeout is a producer setting.
    Row {
        key: "request.timeout.ms",
        consumer: Ignore("librdkafka's consumer has no request timeout; socket.timeout.ms bounds broker requests"),
        producer: Pass,
    },
    both("default.api.timeout.ms", Ignore("a Java consumer API timeout; kmirror's own calls have their own bounds")),
    // Security: the security module maps or refuses every value.
    both("security.protocol", Security),
    both("sasl.mechanism", Security),
    both("sasl.mechanisms", Security),
    both("sasl.jaas.config", Security),
    both("sasl.username", Security),
    both("sasl.password", Security),
    both("sasl.kerberos.service.name", Security),
    both("sasl.kerberos.principal", Security),
    both("sasl.kerberos.keytab", Security),
    both("ssl.ca.location", Security),
    both("ssl.certificate.location", Security),
    both("ssl.key.location", Security),
    both("ssl.key.password", Security),
    both("ssl.endpoint.identification.algorithm", Security),
    both("enable.ssl.certificate.verification", Security),
    both("ssl.protocol", Security),
    both("ssl.enabled.protocols", Security),
    both("ssl.truststore.location", Security),
    both("ssl.truststore.type", Security),
    both("ssl.truststore.password", Security),
    both("ssl.keystore.location", Security),
    both("ssl.keystore.type", Security),
    both("ssl.keystore.password", Security),
    both("sasl.login.class", Ignore(JAVA_CLASS)),
    both("sasl.client.callback.handler.class", Ignore(JAVA_CLASS)),
    both("sasl.login.callback.handler.class", Ignore(JAVA_CLASS)),
    both("sasl.kerberos.min.time.before.relogin", Ignore(KERBEROS_RENEWAL)),
    both("sasl.kerberos.ticket.renew.window.factor", Ignore(KERBEROS_RENEWAL)),
    both("sasl.kerberos.ticket.renew.jitter", Ignore(KERBEROS_RENEWAL)),
    both("ssl.keymanager.algorithm", Ignore(JAVA_TLS_FACTORY)),
    both("ssl.trustmanager.algorithm", Ignore(JAVA_TLS_FACTORY)),
    both("ssl.secure.random.implementation", Ignore(JAVA_TLS_FACTORY)),
    both("sasl.kerberos.kinit.cmd", Refuse("runs a shell command; kmirror obtains and renews the Kerberos ticket in-process from the keytab (sasl.kerberos.keytab or the JAAS keyTab): remove it")),
    both("plugin.library.paths", Refuse("loads shared libraries (code) into kmirror's process; kmirror loads no plug-ins: remove it")),
    both("ssl.engine.location", Refuse(LOADS_ENGINE)),
    both("ssl.engine.id", Refuse(LOADS_ENGINE)),
    both("ssl.providers", Refuse(LOADS_ENGINE)),
    both("ssl.provider", Refuse(LOADS_ENGINE)),
    both("security.providers", Refuse(LOADS_ENGINE)),
    both("ssl.engine.factory.class", Refuse(LOADS_ENGINE)),
    both("ssl.cipher.suites", Refuse(OPENSSL_LIST)),
    both("ssl.curves.list", Refuse(OPENSSL_LIST)),
    both("ssl.sigalgs.list", Refuse(OPENSSL_LIST)),
    both("ssl.crl.location", Refuse("certificate revocation lists are not supported: librdkafka would apply the list but kmirror's start-up TLS check could not, so the two would disagree about a revoked broker certificate; remove it")),
    both("ssl.ca.certificate.stores", Refuse("a Windows certificate store; set ssl.ca.location or ssl.truststore.location to a CA file")),
    both("ssl.ca.pem", Refuse(INLINE_PEM)),
    both("ssl.certificate.pem", Refuse(INLINE_PEM)),
    both("ssl.key.pem", Refuse(INLINE_PEM)),
    both("ssl.keystore.key", Refuse(INLINE_PEM)),
    both("ssl.keystore.certificate.chain", Refuse(INLINE_PEM)),
    both("ssl.truststore.certificates", Refuse(INLINE_PEM)),
    both("https.ca.location", Refuse("an OAUTHBEARER/OIDC setting; SASL/OAUTHBEARER is not supported")),
    both("https.ca.pem", Refuse("an OAUTHBEARER/OIDC setting; SASL/OAUTHBEARER is not supported")),
    both("enable.sasl.oauthbearer.unsecure.jwt", Refuse(OAUTHBEARER)),
    both("ssl.client.auth", Refuse(BROKER_KEY)),
    both("ssl.principal.mapping.rules", Refuse(BROKER_KEY)),
    both("sasl.enabled.mechanisms", Refuse(BROKER_KEY)),
    both("sasl.kerberos.principal.to.local.rules", Refuse(BROKER_KEY)),
    // Consumer.
    consumer("group.id", Pass),
    consumer("group.instance.id", Pass),
    consumer("group.protocol", Pass),
    consumer("group.remote.assignor", Pass),
    consumer("session.timeout.ms", Pass),
    consumer("heartbeat.interval.ms", Pass),
    consumer("max.poll.interval.ms", Pass),
    consumer("coordinator.query.interval.ms", Pass),
    consumer("fetch.min.bytes", Pass),
    consumer("fetch.max.bytes", Pass),
    consumer("fetch.message.max.bytes", Pass),
    consumer("max.partition.fetch.bytes", Pass),
    consumer("fetch.wait.max.ms", Pass),
    consumer("fetch.max.wait.ms", Rename("fetch.wait.max.ms")),
    consumer("fetch.error.backoff.ms", Pass),
    consumer("fetch.queue.backoff.ms", Pass),
    consumer("queued.min.messages", Pass),
    consumer("queued.max.messages.kbytes", Pass),
    consumer("check.crcs", Pass),
    consumer("allow.auto.create.topics", Pass),
    consumer("partition.assignment.strategy", AssignmentStrategy),
    consumer("enable.auto.commit", M(Managed::AutoCommit)),
    consumer("auto.commit.enable", M(Managed::AutoCommit)),
    consumer("autocommit.enable", M(Managed::AutoCommit)),
    consumer("enable.auto.offset.store", M(Managed::AutoOffsetStore)),
    consumer("auto.offset.reset", M(Managed::OffsetReset)),
    consumer("auto.commit.interval.ms", M(Managed::CommitInterval)),
    consumer("enable.partition.eof", M(Managed::PartitionEof)),
    consumer("isolation.level", M(Managed::Isolation)),
    consumer("key.deserializer", Ignore("kmirror copies keys and values as bytes, never deserializing them")),
    consumer("value.deserializer", Ignore("kmirror copies keys and values as bytes, never deserializing them")),
    consumer("max.poll.records", Ignore("librdkafka has no per-poll limit; --queue.size bounds buffered records")),
    consumer("exclude.internal.topics", Ignore("internal topics (names starting with __) are never mirrored unless --include.internal is given")),
    // Producer.
    producer("acks", M(Managed::Acks)),
    producer("max.in.flight.requests.per.connection", M(Managed::MaxInFlight)),
    producer("max.in.flight", M(Managed::MaxInFlight)),
    producer("transactional.id", M(Managed::Transactional)),
    producer("retries", M(Managed::Retries)),
    producer("message.send.max.retries", M(Managed::Retries)),
    producer("delivery.timeout.ms", M(Managed::DeliveryTimeout)),
    producer("message.timeout.ms", M(Managed::DeliveryTimeout)),
    producer("delivery.report.only.error", M(Managed::ReportOnlyError)),
    producer("enable.gapless.guarantee", M(Managed::Gapless)),
    producer("enable.idempotence", M(Managed::Idempotence)),
    producer("linger.ms", Pass),
    producer("queue.buffering.max.ms", Pass),
    producer("batch.size", Pass),
    producer("batch.num.messages", Pass),
    producer("compression.type", Pass),
    producer("compression.level", Pass),
    producer("queue.buffering.max.kbytes", Pass),
    producer("queue.buffering.backpressure.threshold", Pass),
    producer("sticky.partitioning.linger.ms", Pass),
    producer("max.request.size", Rename("message.max.bytes")),
    producer("buffer.memory", BytesToKbytes("queue.buffering.max.kbytes")),
    producer("queue.buffering.max.messages", Ignore("kmirror sizes librdkafka's queue from --queue.size")),
    producer("produce.offset.report", Ignore("deprecated in librdkafka, where it has no effect")),
    producer("queuing.strategy", Refuse("an experimental librdkafka setting whose lifo value reorders records; remove it (records are sent in source order)")),
    producer("partitioner", Ignore(JAVA_PARTITIONER)),
    producer("partitioner.class", Ignore(JAVA_PARTITIONER)),
    producer("partitioner.ignore.keys", Ignore(JAVA_PARTITIONER)),
    producer("partitioner.adaptive.partitioning.enable", Ignore(JAVA_PARTITIONER)),
    producer("partitioner.availability.timeout.ms", Ignore(JAVA_PARTITIONER)),
    producer("key.serializer", Ignore(JAVA_PARTITIONER)),
    producer("value.serializer", Ignore(JAVA_PARTITIONER)),
    producer("max.block.ms", Ignore("kmirror waits for buffer space itself (backpressure), bounded by --queue.size")),
    producer("block.on.buffer.full", Ignore("kmirror always blocks (backpressure) when the producer buffer is full; never drops")),
    producer("metadata.max.idle.ms", Ignore("a Java producer metadata cache setting; librdkafka refreshes metadata by metadata.max.age.ms")),
    both("interceptor.classes", Ignore(JAVA_METRICS)),
    both("metric.reporters", Ignore(JAVA_METRICS)),
    both("metrics.num.samples", Ignore(JAVA_METRICS)),
    both("metrics.recording.level", Ignore(JAVA_METRICS)),
    both("metrics.sample.window.ms", Ignore(JAVA_METRICS)),
    both("auto.include.jmx.reporter", Ignore(JAVA_METRICS)),
    // ZooKeeper-era and old-client keys (MirrorMaker 1 configurations):
    // each one with a modern equivalent is translated, each one that has
    // no effect without ZooKeeper is ignored with a note, so a MirrorMaker 1
    // file runs unchanged once it names bootstrap.servers.
    both("zookeeper.connect", Ignore(ZK_CONNECT)),
    both("zk.connect", Ignore(ZK_CONNECT)),
    both("zookeeper.connection.timeout.ms", Ignore(ZK_NO_EQUIVALENT)),
    both("zookeeper.session.timeout.ms", Ignore(ZK_NO_EQUIVALENT)),
    both("zookeeper.sync.time.ms", Ignore(ZK_NO_EQUIVALENT)),
    both("zk.connectiontimeout.ms", Ignore(ZK_NO_EQUIVALENT)),
    both("zk.sessiontimeout.ms", Ignore(ZK_NO_EQUIVALENT)),
    consumer("groupid", Rename("group.id")),
    consumer("consumer.id", Ignore("the old consumer's member name; the group coordinator names members itself")),
    consumer("autooffset.reset", M(Managed::OffsetReset)),
    consumer("autocommit.interval.ms", M(Managed::CommitInterval)),
    consumer("auto.commit.enabled", M(Managed::AutoCommit)),
    consumer("num.consumer.fetchers", Ignore("librdkafka fetches from every broker in parallel already")),
    consumer("rebalance.max.retries", Ignore(OLD_ZK_CONSUMER)),
    consumer("rebalance.backoff.ms", Ignore(OLD_ZK_CONSUMER)),
    consumer("refresh.leader.backoff.ms", Ignore(OLD_ZK_CONSUMER)),
    consumer("queued.max.message.chunks", Ignore(OLD_ZK_CONSUMER)),
    consumer("offsets.storage", Ignore(OLD_ZK_CONSUMER)),
    consumer("dual.commit.enabled", Ignore(OLD_ZK_CONSUMER)),
    consumer("offsets.channel.backoff.ms", Ignore(OLD_ZK_CONSUMER)),
    consumer("offsets.channel.socket.timeout.ms", Ignore(OLD_ZK_CONSUMER)),
    consumer("offsets.commit.max.retries", Ignore(OLD_ZK_CONSUMER)),
    consumer("shallow.iterator.enable", Ignore("kmirror always copies each record unchanged (key, value, headers, timestamp), never re-compressing")),
    consumer("mirror.topics.whitelist", Ignore("MirrorMaker 0.7's topic list; the topics come from --whitelist/--blacklist on the command line")),
    consumer("consumer.timeout.ms", Ignore("kmirror runs until stopped")),
    producer("broker.list", Rename("bootstrap.servers")),
    producer("metadata.broker.list", Rename("bootstrap.servers")),
    producer("request.required.acks", M(Managed::Acks)),
    producer("producer.type", Ignore("kmirror always sends asynchronously with acks=all and one request in flight, and commits only what was acknowledged")),
    producer("compression.codec", Rename("compression.type")),
    producer("compressed.topics", Ignore("compression.type applies to every topic")),
    producer("serializer.class", Ignore("kmirror copies keys and values as bytes")),
    producer("key.serializer.class", Ignore("kmirror copies keys and values as bytes")),
    producer("max.message.size", Rename("message.max.bytes")),
    producer("queue.time", Rename("linger.ms")),
    producer("queue.size", Ignore("--queue.size bounds the records in flight")),
    producer("queue.enqueue.timeout.ms", Ignore(BACKPRESSURE)),
    producer("queue.enqueueTimeout.ms", Ignore(BACKPRESSURE)),
    producer("queue.buffering.max.messages.old", Ignore(BACKPRESSURE)),
];

/// Key prefixes refused as a family (librdkafka adds keys to them).
pub(crate) const REFUSED_PREFIXES: &[(&str, &str)] = &[
    ("sasl.oauthbearer.", OAUTHBEARER),
    ("ssl_engine_", LOADS_ENGINE),
];

/// The fate of `key` for a client of `role`.
pub fn rule(key: &str, role: Role) -> Rule {
    if let Some(row) = TABLE.iter().find(|r| r.key == key) {
        return match role {
            Role::Consumer => row.consumer,
            Role::Producer => row.producer,
        };
    }
    match REFUSED_PREFIXES.iter().find(|(p, _)| key.starts_with(p)) {
        Some((_, reason)) => Refuse(reason),
        None => Rule::Unknown,
    }
}

/// The known key closest to `key` (Levenshtein distance), when close
/// enough to be a likely typo: at most a third of the key's length.
pub(crate) fn nearest_key(key: &str) -> Option<&'static str> {
    let (best, d) = TABLE
        .iter()
        .map(|r| (r.key, edit_distance(key, r.key)))
        .min_by_key(|&(_, d)| d)?;
    (d <= key.chars().count().max(3) / 3).then_some(best)
}

/// Levenshtein distance over characters (one row of the matrix at a time).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// One librdkafka property produced by translation, with its origin.
#[derive(Debug, Clone)]
pub struct Setting {
    /// librdkafka key.
    pub key: String,
    /// Value (secret values stay secret).
    pub value: Value,
    /// The key as the user wrote it.
    pub source_key: String,
    /// Line in the file.
    pub line: usize,
}

/// A remark made while translating, logged at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `file:line`.
    pub at: String,
    /// The message.
    pub message: String,
}

/// Start position for partitions without a committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPolicy {
    /// From the first record (default: a new mirror copies everything).
    #[default]
    Earliest,
    /// From the end (only new records), when the user asked for it.
    Latest,
}

/// The result of translating one properties file.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The file.
    pub path: PathBuf,
    /// librdkafka properties (non-security).
    pub settings: Vec<Setting>,
    /// Security-related entries, for the security module.
    pub security: Vec<Entry>,
    /// Info lines to log.
    pub notes: Vec<Note>,
    /// Start position for partitions without committed offsets.
    pub start: StartPolicy,
    /// `group.id`, if given (consumer).
    pub group_id: Option<String>,
    /// `enable.idempotence=true` (producer): the distance mode, which allows
    /// up to 5 requests in flight.
    pub idempotent: bool,
}

/// A property that cannot be accepted. Every variant names the file, the
/// 1-based line and the key (never the value: it may be a secret).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TranslateError {
    /// A key kmirror does not know.
    #[error("{path}:{line}: {key}: unknown property{}; kmirror refuses keys it has not judged rather than hand them to librdkafka{} (docs/migrating-from-mirrormaker.md lists the known keys)", did_you_mean(.nearest), security_note(.security))]
    Unknown {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key as written (or a placeholder when the key itself looks
        /// like it holds a secret, e.g. a `password=` line missing its `=`).
        key: String,
        /// The nearest known key, if one is close.
        nearest: Option<&'static str>,
        /// Whether the key looks like a TLS/SASL key.
        security: bool,
    },
    /// A known key refused outright, or a value that would weaken the
    /// no-loss guarantee.
    #[error("{path}:{line}: {key}: {message}")]
    Refused {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key as written.
        key: String,
        /// Why, and how to fix it (the flag that allows it, if any).
        message: String,
    },
}

fn did_you_mean(nearest: &Option<&'static str>) -> String {
    nearest
        .map(|k| format!(" (did you mean {k}?)"))
        .unwrap_or_default()
}

fn security_note(security: &bool) -> &'static str {
    if *security {
        ", and never drops a TLS or SASL key"
    } else {
        ""
    }
}

/// Translates a properties file for a client of `role`.
pub fn translate(file: &PropertiesFile, role: Role) -> Result<Translated, TranslateError> {
    let mut out = Translated {
        path: file.path.clone(),
        settings: Vec::new(),
        security: Vec::new(),
        notes: Vec::new(),
        start: StartPolicy::default(),
        group_id: None,
        // Decided before the entries: it changes what
        // max.in.flight.requests.per.connection may be, wherever it is.
        idempotent: role == Role::Producer
            && file.effective().iter().any(|e| {
                e.key == "enable.idempotence"
                    && e.value.expose().trim().eq_ignore_ascii_case("true")
            }),
    };
    for e in file.effective() {
        translate_entry(&file.path, e, role, &mut out)?;
    }
    zookeeper_without_brokers(file, &out)?;
    Ok(out)
}

/// A MirrorMaker 1 file names ZooKeeper; kmirror ignores it when the file
/// also names the brokers, and otherwise stops at that line: the one edit
/// such a file needs.
fn zookeeper_without_brokers(
    file: &PropertiesFile,
    out: &Translated,
) -> Result<(), TranslateError> {
    if out.settings.iter().any(|s| s.key == "bootstrap.servers") {
        return Ok(());
    }
    match file
        .effective()
        .into_iter()
        .find(|e| matches!(e.key.as_str(), "zookeeper.connect" | "zk.connect"))
    {
        Some(e) => Err(TranslateError::Refused {
            path: file.path.clone(),
            line: e.line,
            key: e.key.clone(),
            message: "ZooKeeper-era key: kmirror talks to the brokers, not ZooKeeper; add bootstrap.servers=BROKER:PORT[,BROKER:PORT] (the one edit a MirrorMaker 1 file needs; this line is then ignored)".into(),
        }),
        None => Ok(()),
    }
}

fn translate_entry(
    path: &Path,
    e: &Entry,
    role: Role,
    out: &mut Translated,
) -> Result<(), TranslateError> {
    let err = |message: String| TranslateError::Refused {
        path: path.to_owned(),
        line: e.line,
        key: e.key.clone(),
        message,
    };
    let at = format!("{}:{}", path.display(), e.line);
    let mut notes: Vec<String> = Vec::new();
    let mut note = |message: String| notes.push(message);
    let v = e.value.expose().trim();
    let push = |key: &str, value: Value, settings: &mut Vec<Setting>| {
        settings.push(Setting {
            key: key.to_string(),
            value,
            source_key: e.key.clone(),
            line: e.line,
        })
    };
    match rule(&e.key, role) {
        Rule::Pass => {
            if e.key == "group.id" {
                out.group_id = Some(v.to_string());
            }
            push(&e.key, e.value.clone(), &mut out.settings);
        }
        Rule::Rename(to) => {
            if to == "group.id" {
                out.group_id = Some(v.to_string());
            }
            note(format!("{} is {to} in librdkafka; translated", e.key));
            push(to, e.value.clone(), &mut out.settings);
        }
        Rule::BytesToKbytes(to) => {
            let bytes: u64 = v
                .parse()
                .map_err(|_| err(format!("expected a number of bytes, found {v:?}")))?;
            let kb = (bytes / 1024).max(1);
            note(format!("{}={bytes} translated to {to}={kb}", e.key));
            push(to, Value::Plain(kb.to_string()), &mut out.settings);
        }
        Rule::AssignmentStrategy => {
            let mut names = Vec::new();
            for class in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let short = class.rsplit('.').next().unwrap_or(class);
                let name = match short {
                    "RangeAssignor" | "range" => "range",
                    "RoundRobinAssignor" | "roundrobin" => "roundrobin",
                    "CooperativeStickyAssignor" | "cooperative-sticky" => "cooperative-sticky",
                    other => {
                        return Err(err(format!(
                            "assignor {other:?} is not available in librdkafka; use RangeAssignor, RoundRobinAssignor or CooperativeStickyAssignor"
                        )))
                    }
                };
                names.push(name);
            }
            push(
                "partition.assignment.strategy",
                Value::Plain(names.join(",")),
                &mut out.settings,
            );
        }
        Rule::Security => out.security.push(e.clone()),
        Rule::Managed(m) => {
            if managed(m, v, &err, &mut note, out)? {
                // Under librdkafka's own name and spelling, so the producer
                // config finds the key it checks (`max.in.flight` is an alias).
                let (key, value) = match m {
                    Managed::MaxInFlight => (
                        "max.in.flight.requests.per.connection",
                        Value::Plain(v.to_string()),
                    ),
                    Managed::Idempotence => (e.key.as_str(), Value::Plain(v.to_ascii_lowercase())),
                    _ => (e.key.as_str(), e.value.clone()),
                };
                push(key, value, &mut out.settings);
            }
        }
        Rule::Ignore(reason) => note(format!("{} ignored: {reason}", e.key)),
        Rule::OtherRole => note(format!(
            "{} ignored: it configures a {}, and this file configures the {}",
            e.key,
            if role == Role::Consumer {
                "producer"
            } else {
                "consumer"
            },
            if role == Role::Consumer {
                "consumer"
            } else {
                "producer"
            },
        )),
        Rule::Refuse(hint) => return Err(err(hint.to_string())),
        Rule::Unknown => return Err(unknown(path, e)),
    }
    out.notes.extend(notes.into_iter().map(|message| Note {
        at: at.clone(),
        message,
    }));
    Ok(())
}

fn unknown(path: &Path, e: &Entry) -> TranslateError {
    let k = e.key.to_ascii_lowercase();
    TranslateError::Unknown {
        path: path.to_owned(),
        line: e.line,
        // A `sasl.password=...` line missing its separator parses as one long
        // key: a key that looks secret is not printed.
        key: if super::properties::is_secret_key(&e.key) {
            "<key not shown: it looks like it holds a secret>".into()
        } else {
            e.key.clone()
        },
        nearest: nearest_key(&e.key),
        security: ["ssl", "sasl", "enable.ssl", "security"]
            .iter()
            .any(|p| k.starts_with(p)),
    }
}

/// The largest value librdkafka and Java take for a count or a time in ms
/// (Java's `Integer.MAX_VALUE`): the value that means "unbounded".
const INT_MAX: &str = "2147483647";

fn managed(
    m: Managed,
    v: &str,
    err: &dyn Fn(String) -> TranslateError,
    note: &mut dyn FnMut(String),
    out: &mut Translated,
) -> Result<bool, TranslateError> {
    match m {
        Managed::AutoCommit | Managed::AutoOffsetStore => match v.to_ascii_lowercase().as_str() {
            "false" => note("kmirror commits only offsets the target has acknowledged (already the case)".into()),
            "true" => note(
                "ignored: kmirror never auto-commits; it commits only offsets the target has acknowledged".into(),
            ),
            _ => return Err(err(format!("expected true or false, found {v:?}"))),
        },
        Managed::OffsetReset => {
            out.start = match v.to_ascii_lowercase().as_str() {
                "earliest" | "smallest" | "beginning" => StartPolicy::Earliest,
                "latest" | "largest" | "end" => {
                    note("partitions without a committed offset start at the end (only new records are mirrored)".into());
                    StartPolicy::Latest
                }
                _ => {
                    return Err(err(format!(
                        "expected earliest or latest, found {v:?} (an out-of-range committed offset always stops kmirror, whatever this says)"
                    )))
                }
            }
        }
        Managed::Acks => {
            if !matches!(v, "all" | "-1") {
                return Err(err(format!(
                    "acks={v} can lose records the source has already handed over; kmirror requires acks=all (remove the line or set acks=all)"
                )));
            }
        }
        Managed::MaxInFlight => return max_in_flight(v, out.idempotent, err, note),
        Managed::Idempotence => match v.to_ascii_lowercase().as_str() {
            "true" => {
                note("idempotent producer (the distance mode): up to 5 requests in flight per connection (max.in.flight.requests.per.connection, default 5), order kept by sequence numbers, retries never duplicate, and enable.gapless.guarantee=true makes any error that could leave a gap stop kmirror".into());
                return Ok(true);
            }
            "false" => return Ok(true),
            _ => return Err(err(format!("expected true or false, found {v:?}"))),
        },
        Managed::CommitInterval => {
            note("ignored: use --offset.commit.interval.ms (kmirror commits only delivered offsets)".into())
        }
        Managed::Transactional => {
            return Err(err(
                "kmirror does not produce transactionally; remove transactional.id".into(),
            ))
        }
        _ => return managed_delivery(m, v, err, note),
    }
    Ok(false)
}

/// `max.in.flight.requests.per.connection`: 1 always; 2 to 5 only with
/// the idempotent producer, whose sequence numbers keep per-partition order
/// across retries (librdkafka allows at most 5 with idempotence). Returns
/// whether to pass the value on (kmirror sets 1 itself otherwise).
fn max_in_flight(
    v: &str,
    idempotent: bool,
    err: &dyn Fn(String) -> TranslateError,
    note: &mut dyn FnMut(String),
) -> Result<bool, TranslateError> {
    match (v.parse::<u32>(), idempotent) {
        (Ok(1), false) => Ok(false),
        (Ok(n @ 1..=5), true) => {
            note(format!("{n} requests in flight per connection with the idempotent producer"));
            Ok(true)
        }
        (_, true) => Err(err(format!(
            "expected 1 to 5 with enable.idempotence=true (the idempotent producer keeps order with at most 5 requests in flight), found {v:?}"
        ))),
        (_, false) => Err(err(format!(
            "{v} requests in flight can reorder records after a retry; kmirror requires 1 (remove the line or set it to 1), or set enable.idempotence=true, which keeps order with up to 5 in flight"
        ))),
    }
}

/// The managed keys that bound or thin out deliveries.
fn managed_delivery(
    m: Managed,
    v: &str,
    err: &dyn Fn(String) -> TranslateError,
    note: &mut dyn FnMut(String),
) -> Result<bool, TranslateError> {
    let flag = |v: &str| match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(err(format!("expected true or false, found {v:?}"))),
    };
    match m {
        Managed::Retries if v == INT_MAX => {
            note("unbounded retries: already kmirror's setting".into())
        }
        Managed::Retries => return Err(err(format!(
            "retries={v} gives up on a record after {v} retries, which loses it; kmirror retries until the record is delivered (bounded only by --delivery.timeout.ms): remove the line or set it to {INT_MAX}"
        ))),
        // 0 is librdkafka's "no limit", Integer.MAX_VALUE Java's.
        Managed::DeliveryTimeout if v == "0" || v == INT_MAX => {
            note("no delivery time limit: already kmirror's default (set a bound with --delivery.timeout.ms)".into())
        }
        Managed::DeliveryTimeout => return Err(err(format!(
            "a delivery time limit turns a target outage longer than {v} ms into failed sends and a stop; kmirror keeps retrying through an outage of any length by default. Remove the line, or bound it on the command line with --delivery.timeout.ms {v}"
        ))),
        Managed::ReportOnlyError => {
            if flag(v)? {
                return Err(err("kmirror commits a source offset only after the target's success report for it; without success reports nothing would ever be committed: remove the line".into()));
            }
            note("every delivery is reported: already kmirror's setting".into())
        }
        Managed::Gapless => {
            if flag(v)? {
                // Stricter than the default: librdkafka stops the producer
                // on any error that could leave a gap (needs idempotence).
                return Ok(true);
            }
            note("false is librdkafka's default; kmirror treats every failed delivery as a send failure and never commits past it (and sets it to true with enable.idempotence=true)".into())
        }
        Managed::PartitionEof => {
            flag(v)?;
            note("ignored: kmirror turns partition EOF events off (it has no use for them)".into())
        }
        Managed::Isolation => match v {
            "read_committed" => note("read_committed: already librdkafka's default".into()),
            "read_uncommitted" => return Err(err("read_uncommitted would copy records of aborted and still-open transactions to the target as ordinary records, which target readers could not tell from committed ones: remove the line (read_committed, the default, copies only committed records)".into())),
            _ => return Err(err(format!("expected read_committed, found {v:?}"))),
        },
        _ => unreachable!("managed() handles the other managed keys"),
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of [`TABLE`], for both roles: `key consumer producer`,
    /// where a fate is `pass`, `to:KEY` (renamed), `kb:KEY` (bytes to KiB),
    /// `assign`, `sec` (security module), `man:NAME` (managed), `ign`,
    /// `ref` (refused) or `other` (the other role's key). Written out by
    /// hand so that a change to the table must be made here too.
    const EXPECTED: &str = "
bootstrap.servers                        pass pass
client.id                                pass pass
client.rack                              pass pass
client.dns.lookup                        pass pass
metadata.max.age.ms                      pass pass
metadata.recovery.strategy               pass pass
metadata.recovery.rebootstrap.trigger.ms pass pass
topic.metadata.refresh.interval.ms       pass pass
topic.metadata.refresh.fast.interval.ms  pass pass
topic.metadata.refresh.sparse            pass pass
topic.metadata.propagation.max.ms        pass pass
reconnect.backoff.ms                     pass pass
reconnect.backoff.max.ms                 pass pass
reconnect.backoff.jitter.ms              pass pass
retry.backoff.ms                         pass pass
retry.backoff.max.ms                     pass pass
connections.max.idle.ms                  pass pass
socket.timeout.ms                        pass pass
socket.connection.setup.timeout.ms       pass pass
socket.keepalive.enable                  pass pass
socket.nagle.disable                     pass pass
socket.max.fails                         pass pass
socket.send.buffer.bytes                 pass pass
socket.receive.buffer.bytes              pass pass
receive.buffer.bytes                     to:socket.receive.buffer.bytes to:socket.receive.buffer.bytes
send.buffer.bytes                        to:socket.send.buffer.bytes to:socket.send.buffer.bytes
broker.address.ttl                       pass pass
broker.address.family                    pass pass
api.version.request                      pass pass
api.version.request.timeout.ms           pass pass
api.version.fallback.ms                  pass pass
broker.version.fallback                  pass pass
message.max.bytes                        pass pass
receive.message.max.bytes                pass pass
message.copy.max.bytes                   pass pass
statistics.interval.ms                   pass pass
enable.metrics.push                      pass pass
log.connection.close                     pass pass
debug                                    pass pass
default.api.timeout.ms                   ign ign
security.protocol                        sec sec
sasl.mechanism                           sec sec
sasl.mechanisms                          sec sec
sasl.jaas.config                         sec sec
sasl.username                            sec sec
sasl.password                            sec sec
sasl.kerberos.service.name               sec sec
sasl.kerberos.principal                  sec sec
sasl.kerberos.keytab                     sec sec
ssl.ca.location                          sec sec
ssl.certificate.location                 sec sec
ssl.key.location                         sec sec
ssl.key.password                         sec sec
ssl.endpoint.identification.algorithm    sec sec
enable.ssl.certificate.verification      sec sec
ssl.protocol                             sec sec
ssl.enabled.protocols                    sec sec
ssl.truststore.location                  sec sec
ssl.truststore.type                      sec sec
ssl.truststore.password                  sec sec
ssl.keystore.location                    sec sec
ssl.keystore.type                        sec sec
ssl.keystore.password                    sec sec
sasl.login.class                         ign ign
sasl.client.callback.handler.class       ign ign
sasl.login.callback.handler.class        ign ign
sasl.kerberos.min.time.before.relogin    ign ign
sasl.kerberos.ticket.renew.window.factor ign ign
sasl.kerberos.ticket.renew.jitter        ign ign
ssl.keymanager.algorithm                 ign ign
ssl.trustmanager.algorithm               ign ign
ssl.secure.random.implementation         ign ign
sasl.kerberos.kinit.cmd                  ref ref
plugin.library.paths                     ref ref
ssl.engine.location                      ref ref
ssl.engine.id                            ref ref
ssl.providers                            ref ref
ssl.provider                             ref ref
security.providers                       ref ref
ssl.engine.factory.class                 ref ref
ssl.cipher.suites                        ref ref
ssl.curves.list                          ref ref
ssl.sigalgs.list                         ref ref
ssl.crl.location                         ref ref
ssl.ca.certificate.stores                ref ref
ssl.ca.pem                               ref ref
ssl.certificate.pem                      ref ref
ssl.key.pem                              ref ref
ssl.keystore.key                         ref ref
ssl.keystore.certificate.chain           ref ref
ssl.truststore.certificates              ref ref
https.ca.location                        ref ref
https.ca.pem                             ref ref
enable.sasl.oauthbearer.unsecure.jwt     ref ref
ssl.client.auth                          ref ref
ssl.principal.mapping.rules              ref ref
sasl.enabled.mechanisms                  ref ref
sasl.kerberos.principal.to.local.rules   ref ref
group.id                                 pass other
group.instance.id                        pass other
group.protocol                           pass other
group.remote.assignor                    pass other
session.timeout.ms                       pass other
heartbeat.interval.ms                    pass other
max.poll.interval.ms                     pass other
coordinator.query.interval.ms            pass other
fetch.min.bytes                          pass other
fetch.max.bytes                          pass other
fetch.message.max.bytes                  pass other
max.partition.fetch.bytes                pass other
fetch.wait.max.ms                        pass other
fetch.max.wait.ms                        to:fetch.wait.max.ms other
fetch.error.backoff.ms                   pass other
fetch.queue.backoff.ms                   pass other
queued.min.messages                      pass other
queued.max.messages.kbytes               pass other
check.crcs                               pass other
allow.auto.create.topics                 pass other
partition.assignment.strategy            assign other
enable.auto.commit                       man:AutoCommit other
auto.commit.enable                       man:AutoCommit other
autocommit.enable                        man:AutoCommit other
enable.auto.offset.store                 man:AutoOffsetStore other
auto.offset.reset                        man:OffsetReset other
auto.commit.interval.ms                  man:CommitInterval other
enable.partition.eof                     man:PartitionEof other
isolation.level                          man:Isolation other
key.deserializer                         ign other
value.deserializer                       ign other
max.poll.records                         ign other
exclude.internal.topics                  ign other
acks                                     other man:Acks
max.in.flight.requests.per.connection    other man:MaxInFlight
max.in.flight                            other man:MaxInFlight
transactional.id                         other man:Transactional
retries                                  other man:Retries
message.send.max.retries                 other man:Retries
delivery.timeout.ms                      other man:DeliveryTimeout
message.timeout.ms                       other man:DeliveryTimeout
delivery.report.only.error               other man:ReportOnlyError
enable.gapless.guarantee                 other man:Gapless
enable.idempotence                       other man:Idempotence
linger.ms                                other pass
queue.buffering.max.ms                   other pass
batch.size                               other pass
batch.num.messages                       other pass
compression.type                         other pass
compression.level                        other pass
queue.buffering.max.kbytes               other pass
queue.buffering.backpressure.threshold   other pass
sticky.partitioning.linger.ms            other pass
max.request.size                         other to:message.max.bytes
buffer.memory                            other kb:queue.buffering.max.kbytes
queue.buffering.max.messages             other ign
produce.offset.report                    other ign
queuing.strategy                         other ref
partitioner                              other ign
partitioner.class                        other ign
partitioner.ignore.keys                  other ign
partitioner.adaptive.partitioning.enable other ign
partitioner.availability.timeout.ms      other ign
key.serializer                           other ign
value.serializer                         other ign
max.block.ms                             other ign
block.on.buffer.full                     other ign
metadata.max.idle.ms                     other ign
interceptor.classes                      ign ign
metric.reporters                         ign ign
metrics.num.samples                      ign ign
metrics.recording.level                  ign ign
metrics.sample.window.ms                 ign ign
auto.include.jmx.reporter                ign ign
zookeeper.connect                        ign ign
zk.connect                               ign ign
zookeeper.connection.timeout.ms          ign ign
zookeeper.session.timeout.ms             ign ign
zookeeper.sync.time.ms                   ign ign
zk.connectiontimeout.ms                  ign ign
zk.sessiontimeout.ms                     ign ign
groupid                                  to:group.id other
consumer.id                              ign other
autooffset.reset                         man:OffsetReset other
autocommit.interval.ms                   man:CommitInterval other
auto.commit.enabled                      man:AutoCommit other
num.consumer.fetchers                    ign other
rebalance.max.retries                    ign other
rebalance.backoff.ms                     ign other
refresh.leader.backoff.ms                ign other
queued.max.message.chunks                ign other
offsets.storage                          ign other
dual.commit.enabled                      ign other
offsets.channel.backoff.ms               ign other
offsets.channel.socket.timeout.ms        ign other
offsets.commit.max.retries               ign other
shallow.iterator.enable                  ign other
mirror.topics.whitelist                  ign other
consumer.timeout.ms                      ign other
broker.list                              other to:bootstrap.servers
metadata.broker.list                     other to:bootstrap.servers
request.required.acks                    other man:Acks
producer.type                            other ign
compression.codec                        other to:compression.type
compressed.topics                        other ign
serializer.class                         other ign
key.serializer.class                     other ign
max.message.size                         other to:message.max.bytes
queue.time                               other to:linger.ms
queue.size                               other ign
queue.enqueue.timeout.ms                 other ign
queue.enqueueTimeout.ms                  other ign
queue.buffering.max.messages.old         other ign
request.timeout.ms                       ign pass
";

    fn expected(code: &str) -> Rule {
        let managed = |name: &str| {
            use super::Managed::*;
            [
                AutoCommit,
                AutoOffsetStore,
                OffsetReset,
                Acks,
                MaxInFlight,
                Idempotence,
                CommitInterval,
                Transactional,
                Retries,
                DeliveryTimeout,
                ReportOnlyError,
                Gapless,
                PartitionEof,
                Isolation,
            ]
            .into_iter()
            .find(|m| format!("{m:?}") == name)
            .unwrap_or_else(|| panic!("no managed setting {name}"))
        };
        match code.split_once(':') {
            Some(("to", k)) => Rule::Rename(k.to_string().leak()),
            Some(("kb", k)) => Rule::BytesToKbytes(k.to_string().leak()),
            Some(("man", m)) => Rule::Managed(managed(m)),
            _ => match code {
                "pass" => Rule::Pass,
                "assign" => Rule::AssignmentStrategy,
                "sec" => Rule::Security,
                "ign" => Rule::Ignore(""),
                "ref" => Rule::Refuse(""),
                "other" => Rule::OtherRole,
                other => panic!("bad code {other}"),
            },
        }
    }

    #[test]
    fn every_table_row_is_tested() {
        let mut tested = std::collections::BTreeSet::new();
        for line in EXPECTED.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let &[key, c, p] = f.as_slice() else {
                panic!("bad line {line:?}")
            };
            assert!(tested.insert(key), "{key} twice in the test table");
            for (role, code) in [(Role::Consumer, c), (Role::Producer, p)] {
                let (got, want) = (rule(key, role), expected(code));
                let same = match (got, want) {
                    (Rule::Ignore(a), Rule::Ignore(_)) | (Rule::Refuse(a), Rule::Refuse(_)) => {
                        !a.is_empty()
                    }
                    (a, b) => a == b,
                };
                assert!(same, "{key} as {role:?}: got {got:?}, want {want:?}");
            }
        }
        let in_table: std::collections::BTreeSet<&str> = TABLE.iter().map(|r| r.key).collect();
        assert_eq!(in_table.len(), TABLE.len(), "a key appears twice in TABLE");
        let untested: Vec<_> = in_table.difference(&tested).collect();
        assert!(untested.is_empty(), "rows without a test: {untested:?}");
        // Prefix families and keys outside the table.
        assert!(
            matches!(rule("sasl.oauthbearer.method", Role::Consumer), Rule::Refuse(r) if r == OAUTHBEARER)
        );
        assert!(matches!(
            rule("sasl.oauthbearer.token.endpoint.url", Role::Producer),
            Rule::Refuse(_)
        ));
        assert!(matches!(
            rule("ssl_engine_callback_data", Role::Producer),
            Rule::Refuse(_)
        ));
        assert_eq!(
            rule("some.librdkafka.only.key", Role::Consumer),
            Rule::Unknown
        );
        assert_eq!(rule("ssl.keystore.alias", Role::Producer), Rule::Unknown);
    }

    /// Every key the table passes or renames is a key librdkafka knows, so
    /// "pass" never means "fails later".
    #[test]
    fn passed_keys_exist_in_librdkafka() {
        for r in TABLE {
            for (role, fate) in [(Role::Consumer, r.consumer), (Role::Producer, r.producer)] {
                let key = match fate {
                    Rule::Pass => r.key,
                    Rule::Rename(k) | Rule::BytesToKbytes(k) => k,
                    _ => continue,
                };
                let mut c = rdkafka::config::ClientConfig::new();
                c.set(key, "1");
                if let Err(rdkafka::error::KafkaError::ClientConfig(_, desc, _, _)) =
                    c.create_native_config()
                {
                    assert!(
                        !desc.contains("No such"),
                        "{} as {role:?} → {key}: {desc}",
                        r.key
                    );
                }
            }
        }
    }

    fn tr(text: &str, role: Role) -> Result<Translated, TranslateError> {
        let f = PropertiesFile::parse(text.as_bytes(), Path::new("t.properties")).unwrap();
        translate(&f, role)
    }

    fn setting<'a>(t: &'a Translated, key: &str) -> Option<&'a str> {
        t.settings
            .iter()
            .rev()
            .find(|s| s.key == key)
            .map(|s| s.value.expose())
    }

    #[test]
    fn mirrormaker1_keys_translate_and_zookeeper_alone_is_refused() {
        // ZooKeeper without brokers: the one edit, named at its line.
        for text in ["zookeeper.connect=zk:2181", "zk.connect=zk:2181"] {
            let e = tr(&format!("client.id=c\n{text}\n"), Role::Consumer).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("t.properties:2: "), "{msg}");
            assert!(msg.contains("add bootstrap.servers="), "{text}: {msg}");
        }
        // A MirrorMaker 1 consumer file, unchanged but for bootstrap.servers.
        let t = tr(
            "zookeeper.connect=zk:2181\nbootstrap.servers=b:9092\ngroupid=mm\nautooffset.reset=largest\nauto.commit.enabled=false\nshallow.iterator.enable=true\nmirror.topics.whitelist=orders\nconsumer.timeout.ms=-1\nrebalance.max.retries=4\n",
            Role::Consumer,
        )
        .unwrap();
        assert_eq!(t.group_id.as_deref(), Some("mm"));
        assert_eq!(t.start, StartPolicy::Latest);
        assert!(t
            .settings
            .iter()
            .any(|s| s.key == "group.id" && s.value.expose() == "mm"));
        assert_eq!(t.notes.len(), 8, "{:?}", t.notes);
        // A MirrorMaker 1 producer file.
        let t = tr(
            "metadata.broker.list=b:9092\nrequest.required.acks=-1\nproducer.type=async\ncompression.codec=gzip\nmax.message.size=2000000\nqueue.time=20\nqueue.enqueueTimeout.ms=-1\nserializer.class=kafka.serializer.DefaultEncoder\n",
            Role::Producer,
        )
        .unwrap();
        let get = |k: &str| {
            t.settings
                .iter()
                .find(|s| s.key == k)
                .map(|s| s.value.expose().to_string())
        };
        assert_eq!(get("bootstrap.servers").as_deref(), Some("b:9092"));
        assert_eq!(get("compression.type").as_deref(), Some("gzip"));
        assert_eq!(get("message.max.bytes").as_deref(), Some("2000000"));
        assert_eq!(get("linger.ms").as_deref(), Some("20"));
        // The no-loss settings still hold: acks=1 is refused.
        let e = tr("request.required.acks=1", Role::Producer).unwrap_err();
        assert!(e.to_string().contains("acks=all"), "{e}");
    }

    #[test]
    fn conversions_and_notes() {
        let t = tr(
            "buffer.memory=33554432\ndelivery.timeout.ms=2147483647\nretries=2147483647\nmax.request.size=2000000\nkey.serializer=org.apache.kafka.common.serialization.ByteArraySerializer\nacks=-1\nmax.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\nenable.gapless.guarantee=true\n",
            Role::Producer,
        )
        .unwrap();
        assert_eq!(setting(&t, "queue.buffering.max.kbytes"), Some("32768"));
        // Unbounded values agree with kmirror's own: noted, set by kmirror.
        assert!(setting(&t, "message.timeout.ms").is_none());
        assert!(setting(&t, "message.send.max.retries").is_none());
        assert_eq!(setting(&t, "enable.gapless.guarantee"), Some("true"));
        assert_eq!(setting(&t, "message.max.bytes"), Some("2000000"));
        assert!(setting(&t, "acks").is_none(), "acks is kmirror's to set");
        assert!(t
            .notes
            .iter()
            .any(|n| n.message.contains("key.serializer ignored")));
        assert!(t
            .notes
            .iter()
            .any(|n| n.message.contains("block.on.buffer.full ignored")));
    }

    #[test]
    fn unsafe_producer_settings_are_refused() {
        assert!(tr("acks=1", Role::Producer)
            .unwrap_err()
            .to_string()
            .contains("acks=all"));
        assert!(tr("acks=0", Role::Producer).is_err());
        assert!(tr("max.in.flight.requests.per.connection=5", Role::Producer).is_err());
        assert!(tr("transactional.id=x", Role::Producer).is_err());
    }

    #[test]
    fn consumer_settings() {
        let t = tr(
            "group.id=mm\nauto.commit.enable=false\nauto.offset.reset=largest\npartition.assignment.strategy=org.apache.kafka.clients.consumer.RoundRobinAssignor\nfetch.max.wait.ms=10\nsecurity.protocol=SASL_PLAINTEXT\n",
            Role::Consumer,
        )
        .unwrap();
        assert_eq!(t.group_id.as_deref(), Some("mm"));
        assert_eq!(t.start, StartPolicy::Latest);
        assert_eq!(
            setting(&t, "partition.assignment.strategy"),
            Some("roundrobin")
        );
        assert_eq!(setting(&t, "fetch.wait.max.ms"), Some("10"));
        assert_eq!(t.security.len(), 1);
        assert!(setting(&t, "enable.auto.commit").is_none());
        assert!(tr("auto.offset.reset=none", Role::Consumer).is_err());
        assert!(tr(
            "partition.assignment.strategy=org.apache.kafka.clients.consumer.StickyAssignor",
            Role::Consumer
        )
        .is_err());
    }

    #[test]
    fn unknown_keys_name_file_line_key_and_nearest() {
        let e = tr("group.id=g\nfetch.max.wait.msx=10\n", Role::Consumer).unwrap_err();
        assert!(
            matches!(&e, TranslateError::Unknown { line: 2, key, nearest: Some("fetch.max.wait.ms"), .. } if key == "fetch.max.wait.msx"),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("t.properties:2: fetch.max.wait.msx: unknown property (did you mean fetch.max.wait.ms?); "),
            "{msg}"
        );
        // Nothing close: no guess, but still the file, line and key.
        let msg = tr("no.such.key=1", Role::Producer).unwrap_err().to_string();
        assert!(
            msg.starts_with("t.properties:1: no.such.key: unknown property;"),
            "{msg}"
        );
        assert!(!msg.contains("did you mean"), "{msg}");
        // Unknown TLS keys are refused, never dropped.
        let msg = tr("ssl.keystore.alias=x", Role::Consumer)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("never drops a TLS or SASL key"), "{msg}");
        let msg = tr("sasl.kerberos.servce.name=kafka", Role::Consumer)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("(did you mean sasl.kerberos.service.name?);"),
            "{msg}"
        );
        // A password line missing its `=` is one long key: not printed.
        let msg = tr("sasl.passwordhunter2", Role::Consumer)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("t.properties:1: <key not shown") && !msg.contains("hunter2"),
            "{msg}"
        );
    }

    #[test]
    fn every_refusal_names_file_line_key_and_reason() {
        for r in TABLE {
            for (role, fate) in [(Role::Consumer, r.consumer), (Role::Producer, r.producer)] {
                let Rule::Refuse(reason) = fate else { continue };
                let msg = tr(&format!("client.id=c\n{}=x\n", r.key), role)
                    .unwrap_err()
                    .to_string();
                assert_eq!(msg, format!("t.properties:2: {}: {reason}", r.key));
            }
        }
    }

    /// Values that would weaken the no-loss guarantee: refused with the
    /// reason and, where one exists, the flag; agreeing values accepted.
    /// The distance mode's settings reach librdkafka under its own names:
    /// `enable.idempotence` lowercased, the in-flight count under its long
    /// name (the alias too); without idempotence kmirror sets in-flight 1
    /// itself and passes nothing. A consumer file's idempotence line means
    /// nothing.
    #[test]
    fn idempotent_mode_settings() {
        let t = tr("enable.idempotence=TRUE\nmax.in.flight=3\n", Role::Producer).unwrap();
        assert!(t.idempotent);
        assert_eq!(setting(&t, "enable.idempotence"), Some("true"));
        assert_eq!(
            setting(&t, "max.in.flight.requests.per.connection"),
            Some("3")
        );
        assert!(setting(&t, "max.in.flight").is_none());
        assert!(t
            .notes
            .iter()
            .any(|n| n.message.contains("idempotent producer")));
        let t = tr("enable.idempotence=true\n", Role::Producer).unwrap();
        assert!(t.idempotent);
        assert!(setting(&t, "max.in.flight.requests.per.connection").is_none());
        let t = tr(
            "enable.idempotence=false\nmax.in.flight.requests.per.connection=1\n",
            Role::Producer,
        )
        .unwrap();
        assert!(!t.idempotent);
        assert_eq!(setting(&t, "enable.idempotence"), Some("false"));
        assert!(setting(&t, "max.in.flight.requests.per.connection").is_none());
        // The last line of a key wins, as for every key.
        let t = tr(
            "enable.idempotence=true\nenable.idempotence=false\n",
            Role::Producer,
        )
        .unwrap();
        assert!(!t.idempotent);
        let t = tr("enable.idempotence=true\n", Role::Consumer).unwrap();
        assert!(!t.idempotent);
        assert!(setting(&t, "enable.idempotence").is_none());
    }

    #[test]
    fn weakening_values_are_refused_with_the_reason() {
        use Role::*;
        let cases: &[(&str, Role, Option<&[&str]>)] = &[
            ("retries=2147483647", Producer, None),
            ("message.send.max.retries=2147483647", Producer, None),
            (
                "retries=3",
                Producer,
                Some(&["t.properties:1: retries: ", "loses it", "2147483647"]),
            ),
            (
                "message.send.max.retries=0",
                Producer,
                Some(&["message.send.max.retries: ", "--delivery.timeout.ms"]),
            ),
            ("delivery.timeout.ms=0", Producer, None),
            ("message.timeout.ms=0", Producer, None),
            ("delivery.timeout.ms=2147483647", Producer, None),
            (
                "delivery.timeout.ms=120000",
                Producer,
                Some(&[
                    "delivery.timeout.ms: ",
                    "outage",
                    "--delivery.timeout.ms 120000",
                ]),
            ),
            (
                "message.timeout.ms=300000",
                Producer,
                Some(&["message.timeout.ms: ", "--delivery.timeout.ms 300000"]),
            ),
            ("delivery.report.only.error=false", Producer, None),
            (
                "delivery.report.only.error=true",
                Producer,
                Some(&["delivery.report.only.error: ", "success report"]),
            ),
            (
                "delivery.report.only.error=maybe",
                Producer,
                Some(&["true or false"]),
            ),
            ("enable.gapless.guarantee=false", Producer, None),
            ("enable.gapless.guarantee=true", Producer, None),
            // The distance mode: in flight > 1 only with the idempotent
            // producer, and then at most 5, wherever the idempotence line is.
            ("max.in.flight.requests.per.connection=1", Producer, None),
            ("enable.idempotence=true", Producer, None),
            ("enable.idempotence=false", Producer, None),
            (
                "max.in.flight.requests.per.connection=5\nenable.idempotence=true",
                Producer,
                None,
            ),
            ("enable.idempotence=true\nmax.in.flight=2", Producer, None),
            ("max.in.flight=1\nenable.idempotence=TRUE", Producer, None),
            (
                "max.in.flight.requests.per.connection=2",
                Producer,
                Some(&[
                    "max.in.flight.requests.per.connection: ",
                    "requires 1",
                    "enable.idempotence=true",
                ]),
            ),
            (
                "max.in.flight.requests.per.connection=5\nenable.idempotence=false",
                Producer,
                Some(&["max.in.flight.requests.per.connection: ", "requires 1"]),
            ),
            (
                "max.in.flight.requests.per.connection=6\nenable.idempotence=true",
                Producer,
                Some(&["max.in.flight.requests.per.connection: ", "1 to 5", "\"6\""]),
            ),
            (
                "max.in.flight=0\nenable.idempotence=true",
                Producer,
                Some(&["max.in.flight: ", "1 to 5"]),
            ),
            (
                "enable.idempotence=yes",
                Producer,
                Some(&["enable.idempotence: ", "true or false"]),
            ),
            ("enable.partition.eof=true", Consumer, None),
            (
                "enable.partition.eof=no",
                Consumer,
                Some(&["true or false"]),
            ),
            ("isolation.level=read_committed", Consumer, None),
            (
                "isolation.level=read_uncommitted",
                Consumer,
                Some(&["isolation.level: ", "aborted", "read_committed"]),
            ),
            ("enable.auto.commit=true", Consumer, None),
            ("acks=1", Producer, Some(&["acks=all"])),
            ("queuing.strategy=lifo", Producer, Some(&["reorders"])),
            (
                "plugin.library.paths=/x.so",
                Producer,
                Some(&["loads shared libraries"]),
            ),
            (
                "ssl.engine.location=/e.so",
                Consumer,
                Some(&["OpenSSL engine"]),
            ),
            (
                "sasl.oauthbearer.method=oidc",
                Consumer,
                Some(&["OAUTHBEARER is not supported"]),
            ),
            (
                "sasl.kerberos.kinit.cmd=kinit -R",
                Consumer,
                Some(&["shell command"]),
            ),
        ];
        for (text, role, want) in cases {
            match (tr(text, *role), want) {
                (Ok(_), None) => {}
                (Err(e), Some(parts)) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("t.properties:1: "), "{msg}");
                    for p in *parts {
                        assert!(msg.contains(p), "{text}: {msg} lacks {p:?}");
                    }
                }
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
        // An accepted unbounded value is noted, not silent.
        let t = tr("retries=2147483647\nenable.partition.eof=true", Producer).unwrap();
        assert!(t
            .notes
            .iter()
            .any(|n| n.message.contains("already kmirror's setting")));
        let t = tr("enable.partition.eof=true", Consumer).unwrap();
        assert!(
            t.notes.iter().any(|n| n.message.contains("ignored")),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn edit_distance_and_nearest() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("group.id", "group.id"), 0);
        assert_eq!(nearest_key("group.idd"), Some("group.id"));
        assert_eq!(nearest_key("bootstrap.server"), Some("bootstrap.servers"));
        assert_eq!(nearest_key("completely.different.thing"), None);
    }
}
