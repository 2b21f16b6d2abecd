//! Translation of Java client properties (as MirrorMaker users write them)
//! into librdkafka properties.
//!
//! Every key a user writes gets exactly one of these fates, decided by
//! [`rule`] and covered by the unit-test table below:
//! - passed through (librdkafka knows the same key),
//! - renamed or converted to the librdkafka equivalent,
//! - handed to the security module,
//! - managed by kmirror itself (the no-loss settings; conflicting values are
//!   refused, agreeing ones noted),
//! - ignored with one info line (Java-only keys with no meaning here),
//! - refused, naming the modern key (ZooKeeper-era keys).
//!
//! Keys this table does not know are passed through unchanged and checked by
//! librdkafka when the client config is validated, so a typo is an error
//! that names the file and key, not a silent no-op.

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
    /// librdkafka uses the same key.
    Pass,
    /// librdkafka's name for the same setting.
    Rename(&'static str),
    /// `buffer.memory` (bytes) → `queue.buffering.max.kbytes` (KiB).
    BytesToKbytes(&'static str),
    /// Java assignor class names → librdkafka strategy names.
    AssignmentStrategy,
    /// Handled by the security module (protocol, SASL, TLS, Kerberos).
    Security,
    /// kmirror sets this itself for its no-loss guarantee.
    Managed(Managed),
    /// Meaningless for kmirror; the reason is logged once.
    Ignore(&'static str),
    /// A ZooKeeper-era or removed key; the hint names what to use instead.
    Refuse(&'static str),
    /// Meaningful only for the other role; ignored with a note.
    OtherRole,
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
    /// `max.in.flight.requests.per.connection`: must be 1.
    MaxInFlight,
    /// `auto.commit.interval.ms`: replaced by `--offset.commit.interval.ms`.
    CommitInterval,
    /// `transactional.id`: kmirror is not a transactional producer.
    Transactional,
}

/// The fate of `key` for a client of `role`.
pub fn rule(key: &str, role: Role) -> Rule {
    use Rule::*;
    let consumer_only = |r: Rule| if role == Role::Consumer { r } else { OtherRole };
    let producer_only = |r: Rule| if role == Role::Producer { r } else { OtherRole };
    match key {
        // Connection and identity: same key in both clients.
        "bootstrap.servers" | "client.id" | "client.rack" | "metadata.max.age.ms"
        | "reconnect.backoff.ms" | "reconnect.backoff.max.ms" | "retry.backoff.ms"
        | "retry.backoff.max.ms" | "connections.max.idle.ms" | "request.timeout.ms"
        | "socket.connection.setup.timeout.ms" | "socket.keepalive.enable"
        | "statistics.interval.ms" | "debug" | "topic.metadata.refresh.interval.ms" => Pass,
        "receive.buffer.bytes" => Rename("socket.receive.buffer.bytes"),
        "send.buffer.bytes" => Rename("socket.send.buffer.bytes"),

        // Security: one module applies these.
        k if k == "security.protocol"
            || k == "sasl.mechanism"
            || k == "sasl.mechanisms"
            || k == "sasl.jaas.config"
            || k == "sasl.username"
            || k == "sasl.password"
            || k.starts_with("sasl.kerberos.")
            || k.starts_with("ssl.") =>
        {
            Security
        }
        "sasl.login.class" | "sasl.client.callback.handler.class" | "sasl.login.callback.handler.class" => {
            Ignore("a Java class; kmirror authenticates through librdkafka/Cyrus SASL with the JAAS options it understands")
        }

        // Consumer.
        "group.id" | "group.instance.id" | "session.timeout.ms" | "heartbeat.interval.ms"
        | "max.poll.interval.ms" | "fetch.min.bytes" | "fetch.max.bytes"
        | "max.partition.fetch.bytes" | "isolation.level" | "check.crcs"
        | "allow.auto.create.topics" | "queued.min.messages" | "queued.max.messages.kbytes"
        | "fetch.wait.max.ms" | "fetch.error.backoff.ms" => consumer_only(Pass),
        "fetch.max.wait.ms" => consumer_only(Rename("fetch.wait.max.ms")),
        "partition.assignment.strategy" => consumer_only(AssignmentStrategy),
        "enable.auto.commit" | "auto.commit.enable" | "autocommit.enable" => {
            consumer_only(Managed(self::Managed::AutoCommit))
        }
        "enable.auto.offset.store" => consumer_only(Managed(self::Managed::AutoOffsetStore)),
        "auto.offset.reset" => consumer_only(Managed(self::Managed::OffsetReset)),
        "auto.commit.interval.ms" => consumer_only(Managed(self::Managed::CommitInterval)),
        "key.deserializer" | "value.deserializer" => {
            Ignore("kmirror copies keys and values as bytes, never deserializing them")
        }
        "max.poll.records" => Ignore("librdkafka has no per-poll limit; --queue.size bounds buffered records"),
        "exclude.internal.topics" => {
            Ignore("internal topics (names starting with __) are never mirrored unless --include-internal is given")
        }

        // Producer.
        "acks" => producer_only(Managed(self::Managed::Acks)),
        "max.in.flight.requests.per.connection" | "max.in.flight" => {
            producer_only(Managed(self::Managed::MaxInFlight))
        }
        "transactional.id" => producer_only(Managed(self::Managed::Transactional)),
        "retries" | "message.send.max.retries" => producer_only(Rename("message.send.max.retries")),
        "delivery.timeout.ms" => producer_only(Rename("message.timeout.ms")),
        "message.timeout.ms" | "linger.ms" | "batch.size" | "batch.num.messages"
        | "compression.type" | "compression.level" | "enable.idempotence"
        | "queue.buffering.max.kbytes" | "queue.buffering.max.ms" | "sticky.partitioning.linger.ms" => {
            producer_only(Pass)
        }
        "max.request.size" => producer_only(Rename("message.max.bytes")),
        "buffer.memory" => producer_only(BytesToKbytes("queue.buffering.max.kbytes")),
        "max.block.ms" => Ignore("kmirror waits for buffer space itself (backpressure), bounded by --queue.size"),
        "block.on.buffer.full" => Ignore("kmirror always blocks (backpressure) when the producer buffer is full; never drops"),
        "key.serializer" | "value.serializer" | "partitioner.class" => {
            Ignore("kmirror copies bytes and partitions keyed records with murmur2, as the Java client's default partitioner")
        }
        "interceptor.classes" | "metric.reporters" | "metrics.num.samples" | "metrics.recording.level"
        | "metrics.sample.window.ms" | "auto.include.jmx.reporter" => {
            Ignore("a Java client plug-in or metrics setting; kmirror exports its own metrics")
        }

        // ZooKeeper-era and old-client keys.
        "zookeeper.connect" | "zk.connect" => Refuse(
            "ZooKeeper-era key: kmirror talks to the brokers, not ZooKeeper; set bootstrap.servers=BROKER:PORT[,BROKER:PORT] instead",
        ),
        "zookeeper.connection.timeout.ms" | "zookeeper.session.timeout.ms" | "zookeeper.sync.time.ms"
        | "zk.connectiontimeout.ms" | "zk.sessiontimeout.ms" => {
            Refuse("ZooKeeper-era key with no modern equivalent; remove it (kmirror connects to bootstrap.servers)")
        }
        "groupid" => Refuse("old consumer key; use group.id instead"),
        "broker.list" | "metadata.broker.list" => Refuse("old producer key; use bootstrap.servers instead"),
        "producer.type" => Refuse(
            "old producer key; remove it: kmirror always sends asynchronously with acks=all and one request in flight",
        ),
        "compression.codec" => Refuse("old producer key; use compression.type (none, gzip, snappy, lz4, zstd) instead"),
        "request.required.acks" => Refuse("old producer key; kmirror always uses acks=all (remove it)"),
        "serializer.class" | "key.serializer.class" => {
            Refuse("old producer key; remove it: kmirror copies keys and values as bytes")
        }
        "queue.enqueue.timeout.ms" | "queue.buffering.max.messages.old" => {
            Refuse("old producer key; remove it: kmirror applies backpressure bounded by --queue.size")
        }
        "consumer.timeout.ms" => Refuse("old consumer key; remove it: kmirror runs until stopped"),

        _ => Pass,
    }
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
}

/// A property that cannot be accepted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}:{line}: {key}: {message}")]
pub struct TranslateError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The key as written.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
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
    };
    for e in file.effective() {
        translate_entry(&file.path, e, role, &mut out)?;
    }
    Ok(out)
}

fn translate_entry(
    path: &Path,
    e: &Entry,
    role: Role,
    out: &mut Translated,
) -> Result<(), TranslateError> {
    let err = |message: String| TranslateError {
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
        Rule::Managed(m) => managed(m, v, &err, &mut note, out)?,
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
    }
    out.notes.extend(notes.into_iter().map(|message| Note {
        at: at.clone(),
        message,
    }));
    Ok(())
}

fn managed(
    m: Managed,
    v: &str,
    err: &dyn Fn(String) -> TranslateError,
    note: &mut dyn FnMut(String),
    out: &mut Translated,
) -> Result<(), TranslateError> {
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
        Managed::MaxInFlight => {
            if v != "1" {
                return Err(err(format!(
                    "{v} requests in flight can reorder records after a retry; kmirror requires 1 (remove the line or set it to 1)"
                )));
            }
        }
        Managed::CommitInterval => {
            note("ignored: use --offset.commit.interval.ms (kmirror commits only delivered offsets)".into())
        }
        Managed::Transactional => {
            return Err(err(
                "kmirror does not produce transactionally; remove transactional.id".into(),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the table knows, its role and its expected fate.
    #[test]
    fn translation_table() {
        use Role::*;
        use Rule::*;
        let table: &[(&str, Role, Rule)] = &[
            ("bootstrap.servers", Consumer, Pass),
            ("bootstrap.servers", Producer, Pass),
            ("client.id", Producer, Pass),
            ("group.id", Consumer, Pass),
            ("group.id", Producer, OtherRole),
            ("session.timeout.ms", Consumer, Pass),
            ("max.poll.interval.ms", Consumer, Pass),
            ("fetch.min.bytes", Consumer, Pass),
            ("fetch.max.wait.ms", Consumer, Rename("fetch.wait.max.ms")),
            ("isolation.level", Consumer, Pass),
            (
                "receive.buffer.bytes",
                Consumer,
                Rename("socket.receive.buffer.bytes"),
            ),
            (
                "send.buffer.bytes",
                Producer,
                Rename("socket.send.buffer.bytes"),
            ),
            (
                "partition.assignment.strategy",
                Consumer,
                AssignmentStrategy,
            ),
            (
                "enable.auto.commit",
                Consumer,
                Managed(super::Managed::AutoCommit),
            ),
            (
                "auto.commit.enable",
                Consumer,
                Managed(super::Managed::AutoCommit),
            ),
            (
                "enable.auto.offset.store",
                Consumer,
                Managed(super::Managed::AutoOffsetStore),
            ),
            (
                "auto.offset.reset",
                Consumer,
                Managed(super::Managed::OffsetReset),
            ),
            (
                "auto.commit.interval.ms",
                Consumer,
                Managed(super::Managed::CommitInterval),
            ),
            ("acks", Producer, Managed(super::Managed::Acks)),
            ("acks", Consumer, OtherRole),
            (
                "max.in.flight.requests.per.connection",
                Producer,
                Managed(super::Managed::MaxInFlight),
            ),
            (
                "transactional.id",
                Producer,
                Managed(super::Managed::Transactional),
            ),
            ("retries", Producer, Rename("message.send.max.retries")),
            (
                "delivery.timeout.ms",
                Producer,
                Rename("message.timeout.ms"),
            ),
            (
                "buffer.memory",
                Producer,
                BytesToKbytes("queue.buffering.max.kbytes"),
            ),
            ("max.request.size", Producer, Rename("message.max.bytes")),
            ("linger.ms", Producer, Pass),
            ("batch.size", Producer, Pass),
            ("compression.type", Producer, Pass),
            ("enable.idempotence", Producer, Pass),
            ("security.protocol", Consumer, Security),
            ("sasl.mechanism", Producer, Security),
            ("sasl.kerberos.service.name", Consumer, Security),
            ("sasl.jaas.config", Consumer, Security),
            ("ssl.truststore.location", Producer, Security),
            ("key.deserializer", Consumer, Ignore("")),
            ("value.serializer", Producer, Ignore("")),
            ("block.on.buffer.full", Producer, Ignore("")),
            ("max.poll.records", Consumer, Ignore("")),
            ("exclude.internal.topics", Consumer, Ignore("")),
            ("interceptor.classes", Producer, Ignore("")),
            ("zookeeper.connect", Consumer, Refuse("")),
            ("zk.connect", Consumer, Refuse("")),
            ("zookeeper.connection.timeout.ms", Consumer, Refuse("")),
            ("groupid", Consumer, Refuse("")),
            ("broker.list", Producer, Refuse("")),
            ("metadata.broker.list", Producer, Refuse("")),
            ("producer.type", Producer, Refuse("")),
            ("compression.codec", Producer, Refuse("")),
            ("request.required.acks", Producer, Refuse("")),
            ("serializer.class", Producer, Refuse("")),
            ("consumer.timeout.ms", Consumer, Refuse("")),
            ("statistics.interval.ms", Consumer, Pass),
            ("some.librdkafka.only.key", Consumer, Pass),
        ];
        for (key, role, want) in table {
            let got = rule(key, *role);
            let same = match (got, *want) {
                (Ignore(_), Ignore(_)) | (Refuse(_), Refuse(_)) => true,
                (a, b) => a == b,
            };
            assert!(same, "{key} as {role:?}: got {got:?}, want {want:?}");
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
    fn zookeeper_keys_are_refused_naming_the_modern_key() {
        for (text, modern) in [
            ("zookeeper.connect=zk:2181", "bootstrap.servers"),
            ("zk.connect=zk:2181", "bootstrap.servers"),
            ("groupid=mm", "group.id"),
            ("broker.list=b:9092", "bootstrap.servers"),
            ("metadata.broker.list=b:9092", "bootstrap.servers"),
            ("compression.codec=gzip", "compression.type"),
        ] {
            let role =
                if text.starts_with("zk") || text.starts_with("zoo") || text.starts_with("group") {
                    Role::Consumer
                } else {
                    Role::Producer
                };
            let e = tr(&format!("a=b\n{text}\n"), role).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("t.properties:2: "), "{msg}");
            assert!(msg.contains(modern), "{text}: {msg}");
        }
        let e = tr("producer.type=sync", Role::Producer).unwrap_err();
        assert!(e.to_string().contains("acks=all"), "{e}");
    }

    #[test]
    fn conversions_and_notes() {
        let t = tr(
            "buffer.memory=33554432\ndelivery.timeout.ms=120000\nretries=2147483647\nmax.request.size=2000000\nkey.serializer=org.apache.kafka.common.serialization.ByteArraySerializer\nacks=-1\nmax.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\n",
            Role::Producer,
        )
        .unwrap();
        assert_eq!(setting(&t, "queue.buffering.max.kbytes"), Some("32768"));
        assert_eq!(setting(&t, "message.timeout.ms"), Some("120000"));
        assert_eq!(setting(&t, "message.send.max.retries"), Some("2147483647"));
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
}
