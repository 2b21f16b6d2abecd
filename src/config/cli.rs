//! The command line, as MirrorMaker users type it. These are raw values;
//! [`crate::config::Config::from_args`] validates them.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser};

/// kmirror: mirror Kafka topics between secured clusters without losing a record.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror",
    version,
    about = "Mirror Kafka topics from one or more source clusters to a target cluster, \
             for Kerberos (SASL/GSSAPI) and TLS secured clusters, without losing a record.",
    long_about = "Mirror Kafka topics from one or more source clusters to a target cluster, \
                  for Kerberos (SASL/GSSAPI) and TLS secured clusters, without losing a record.\n\n\
                  kmirror takes MirrorMaker's flags and .properties files unchanged:\n\n  \
                  kmirror --consumer.config c.properties --producer.config p.properties \\\n          \
                  --whitelist 'orders,payments.*' --num.streams 4\n\n\
                  Records are copied byte for byte (key, value, headers, timestamp) to the topic of the same \
                  name on the target; keyed records are partitioned by key (murmur2, as the Java client), so \
                  per-key order survives. The producer always uses acks=all with one request in flight (up to 5 with enable.idempotence=true \
                  in the producer properties: the idempotent producer keeps order over long links); a \
                  source offset is committed only after the target has acknowledged every record before it. \
                  The first failed send stops kmirror (non-zero exit) after committing only what was delivered.\n\n\
                  MirrorMaker 1's old consumer and producer keys (groupid, metadata.broker.list, \
                  compression.codec, zookeeper.*, ...) are translated or ignored with a note; Java-only keys \
                  likewise. A new group starts at the earliest offset (MirrorMaker's Java default was latest: \
                  set auto.offset.reset=latest to start from now).",
    after_help = "Subcommands: `kmirror check [FLAGS]` runs every start-up check (configuration, keytab, \
                  authentication, topics, ACLs on both clusters) without consuming, and prints a report. \
                  `kmirror lag [FLAGS] [--format json]` shows the group's lag per partition. \
                  `kmirror audit verify FILE --key KEY` checks an --audit.log trail. `kmirror verify [FLAGS]` \
                  compares source and target topics up to the committed offsets.\n\n\
                  Exit status: 0 after a clean stop (SIGINT/SIGTERM), 1 on a runtime failure (send failure, \
                  lost source data, authorization), 2 on a configuration error. Log level: RUST_LOG \
                  (default: info)."
)]
pub struct Cli {
    /// The mirror's options.
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// `kmirror check`: every start-up check of a mirror run, without consuming.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror check",
    version,
    about = "Verify configuration, authentication, topics and ACLs on every cluster, without moving a byte. \
             Takes the same flags and files as a mirror run; exit status 0 only when every required check passes."
)]
pub struct CheckCli {
    /// The same options as a mirror run.
    #[command(flatten)]
    pub mirror: MirrorArgs,
    /// Report format: `table` for people, `json` for automation.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// `kmirror lag`: how far kmirror's group is behind on each source cluster.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror lag",
    version,
    about = "Show kmirror's consumer group on each source cluster as `kafka-consumer-groups.sh --describe` \
             does: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID, \
             with a CLUSTER column first when there are several sources. Needs only the consumer \
             properties (group.id and security, Kerberos included); without --whitelist it shows \
             every topic the group has a committed offset or a member in."
)]
pub struct LagCli {
    /// The source side's options.
    #[command(flatten)]
    pub lag: LagArgs,
    /// Report format: `table` for people, `json` for automation.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// The same as `--format json`.
    #[arg(long)]
    pub json: bool,
}

/// Options of `kmirror lag`: the source side of a run only.
#[derive(Debug, Clone, Args)]
pub struct LagArgs {
    /// Consumer properties file of a source cluster (its group.id is the
    /// group shown). Repeat for several source clusters.
    #[arg(long = "consumer.config", value_name = "FILE", action = ArgAction::Append, required = true)]
    pub consumer_config: Vec<PathBuf>,
    /// Accepted so that a run's command line works unchanged; not read
    /// (lag needs no access to the target).
    #[arg(long = "producer.config", value_name = "FILE", hide = true)]
    pub producer_config: Option<PathBuf>,
    /// Only topics matching this regex (as a run's --whitelist).
    #[arg(long = "whitelist", visible_alias = "include", value_name = "REGEX")]
    pub whitelist: Option<String>,
    /// Not topics matching this regex (as a run's --blacklist).
    #[arg(long = "blacklist", visible_alias = "exclude", value_name = "REGEX")]
    pub blacklist: Option<String>,
    /// Internal topics (names starting with __) too.
    #[arg(long = "include.internal", alias = "include-internal")]
    pub include_internal: bool,
    /// JAAS login configuration file (section KafkaClientSource, else
    /// KafkaClient); without it, a file named in KAFKA_OPTS is read.
    #[arg(long, value_name = "FILE")]
    pub jaas: Option<PathBuf>,
    /// The run's security flags, with the same meaning.
    #[command(flatten)]
    pub security: SecurityFlags,
    /// Log format: `text` for people, `json` for machines.
    #[arg(long = "log.format", alias = "log-format", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// `kmirror verify`: compares source and target topics up to the committed offsets.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror verify",
    version,
    about = "Compare every matched source topic, up to kmirror's committed offsets, with the target topic \
             of the same name, per key (content and order). Exit status 1 when a record is missing, altered \
             or out of order on the target. Takes the same flags and files as a mirror run."
)]
pub struct VerifyCli {
    /// The same options as a mirror run.
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// `kmirror audit verify FILE --key KEY`: checks an audit trail.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror audit",
    version,
    about = "Work with the audit trail written with --audit.log."
)]
pub struct AuditCli {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `kmirror audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every entry's MAC under the key, the chain between entries,
    /// each entry's fields, and the trail against its anchor; exit 1 and
    /// name the first broken entry (line number) if anything was changed,
    /// removed or inserted, how many entries were cut off the end, or a
    /// missing trail or anchor.
    Verify {
        /// The audit trail (JSON Lines).
        file: PathBuf,
        /// The key the trail was written with (`--audit.key` of the run).
        /// After key rotations, give every key of the trail, one `--key`
        /// each, in any order.
        #[arg(long, value_name = "KEY", required_unless_present = "unkeyed")]
        key: Vec<PathBuf>,
        /// The anchor (default: FILE.anchor).
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        /// Check a trail written with --audit.unkeyed (or by kmirror
        /// before keys): only accidental damage can be detected. With
        /// --key: the trail was unkeyed until a rotation to that key.
        #[arg(long)]
        unkeyed: bool,
    },
    /// Hand the trail over to a new key: append a rotation line sealed
    /// under both keys and re-anchor under the new one. Stop the mirror
    /// first (the trail is locked while it runs), rotate, then start it
    /// with `--audit.key NEW`. `verify` then needs both keys.
    Rotate {
        /// The audit trail (JSON Lines).
        file: PathBuf,
        /// The trail's current key.
        #[arg(long, value_name = "KEY", required_unless_present = "unkeyed")]
        key: Option<PathBuf>,
        /// The key every later line is sealed with (a new file of at
        /// least 32 random bytes, mode 0600).
        #[arg(long = "new.key", alias = "new-key", value_name = "KEY")]
        new_key: PathBuf,
        /// The anchor (default: FILE.anchor).
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        /// The trail is unkeyed (written with --audit.unkeyed): adopt a key for it.
        #[arg(long, conflicts_with = "key")]
        unkeyed: bool,
    },
}

/// `kmirror offsets ...`: consumer group offsets across the mirror.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror offsets",
    version,
    about = "Translate consumer groups' offsets from the source to the target with the offset map \
             (--offset.map), for failing over (docs/failover.md)."
)]
pub struct OffsetsCli {
    /// What to do.
    #[command(subcommand)]
    pub command: OffsetsCommand,
}

/// `kmirror offsets` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum OffsetsCommand {
    /// Print where GROUP should start on each target partition to continue
    /// exactly where it stopped on the source: its committed source offsets
    /// (or, with --from.target or when the source cannot be reached, the
    /// positions last synced by --sync.group.offsets) translated with the
    /// offset map. With --apply, commit them for GROUP on the target
    /// (refused while GROUP has active members there; a target offset
    /// already further is kept).
    Translate {
        /// The same options as a mirror run.
        #[command(flatten)]
        mirror: Box<MirrorArgs>,
        /// The consumer group.
        #[arg(long, value_name = "GROUP")]
        group: String,
        /// Only these topics (repeatable; default: every topic the map holds
        /// that the whitelist matches).
        #[arg(long, value_name = "TOPIC")]
        topic: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Commit the translated offsets for GROUP on the target.
        #[arg(long)]
        apply: bool,
        /// Use the source positions last synced to the target (the source
        /// cluster is gone) instead of asking the source.
        #[arg(long = "from.target", alias = "from-target")]
        from_target: bool,
        /// The lost source cluster's id, naming its map topic
        /// (kmirror.offsets.<id>), when the source cannot be asked and the
        /// target holds several map topics.
        #[arg(
            long = "source.cluster.id",
            alias = "source-cluster-id",
            value_name = "ID"
        )]
        source_cluster_id: Option<String>,
    },
}

/// `kmirror completions SHELL`: a shell completion script, generated from
/// these definitions.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror completions",
    version,
    about = "Print a completion script for SHELL to standard output, generated from kmirror's own \
             option definitions (e.g. `kmirror completions bash > /etc/bash_completion.d/kmirror`)."
)]
pub struct CompletionsCli {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `kmirror manpage`: the man page, generated from these definitions.
#[derive(Debug, Parser)]
#[command(
    name = "kmirror manpage",
    version,
    about = "Print the kmirror(1) man page (roff) to standard output, generated from kmirror's own \
             option definitions; with --dir, write kmirror.1 and one kmirror-SUBCOMMAND.1 page per \
             subcommand into DIR instead."
)]
pub struct ManpageCli {
    /// Write every page into this directory instead of printing kmirror.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The whole command line as one clap command, for the man page and the
/// completions: the mirror's flags at the top level and every subcommand
/// under its name. (Parsing does not use it: [`parse_invocation`]
/// dispatches on argv[1] so MirrorMaker command lines keep working.)
pub fn command_tree() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
        .disable_help_subcommand(true)
        .subcommand_negates_reqs(true)
        .args_conflicts_with_subcommands(true)
        .subcommand(CheckCli::command().name("check"))
        .subcommand(lag_command().name("lag"))
        .subcommand(VerifyCli::command().name("verify"))
        .subcommand(AuditCli::command().name("audit"))
        .subcommand(OffsetsCli::command().name("offsets"))
        .subcommand(CompletionsCli::command().name("completions"))
        .subcommand(ManpageCli::command().name("manpage"))
}

/// `kmirror lag`'s parser: [`LagCli`] plus every other flag of a mirror
/// run, hidden and not read, so that a run's whole command line works
/// unchanged after `kmirror lag` (lag reads only the sources). Derived from
/// [`MirrorArgs`], so a flag added to runs is accepted here too.
fn lag_command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = LagCli::command();
    let known: Vec<clap::Id> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
    for a in Cli::command().get_arguments() {
        if a.get_long().is_some() && !known.contains(a.get_id()) {
            cmd = cmd.arg(a.clone().hide(true).required(false));
        }
    }
    cmd
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Mirror (plain MirrorMaker flags, no subcommand).
    Mirror(Cli),
    /// `kmirror check ...`.
    Check(CheckCli),
    /// `kmirror lag ...`.
    Lag(LagCli),
    /// `kmirror audit ...`.
    Audit(AuditCli),
    /// `kmirror verify ...`.
    Verify(VerifyCli),
    /// `kmirror offsets ...`.
    Offsets(OffsetsCli),
    /// `kmirror completions SHELL`.
    Completions(CompletionsCli),
    /// `kmirror manpage [--dir DIR]`.
    Manpage(ManpageCli),
}

/// Subcommand names; anything else is a mirror run with MirrorMaker's
/// flags, so MirrorMaker command lines keep working unchanged.
pub const SUBCOMMANDS: &[&str] = &[
    "check",
    "lag",
    "audit",
    "verify",
    "offsets",
    "completions",
    "manpage",
];

/// Parses the command line: `kmirror [FLAGS]` mirrors, `kmirror check
/// [FLAGS]` checks.
pub fn parse_invocation<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // A subcommand's parser sees `kmirror <name>` as its program name, so its
    // usage and errors read as the command the user typed.
    let rest = |name: &str| {
        std::iter::once(std::ffi::OsString::from(format!("kmirror {name}")))
            .chain(args[2..].iter().cloned())
    };
    match args.get(1).and_then(|a| a.to_str()) {
        Some(name @ "check") => CheckCli::try_parse_from(rest(name)).map(Invocation::Check),
        Some(name @ "lag") => {
            use clap::FromArgMatches;
            lag_command()
                .try_get_matches_from(rest(name))
                .and_then(|m| LagCli::from_arg_matches(&m))
                .map(Invocation::Lag)
        }
        Some(name @ "audit") => AuditCli::try_parse_from(rest(name)).map(Invocation::Audit),
        Some(name @ "verify") => VerifyCli::try_parse_from(rest(name)).map(Invocation::Verify),
        Some(name @ "offsets") => OffsetsCli::try_parse_from(rest(name)).map(Invocation::Offsets),
        Some(name @ "completions") => {
            CompletionsCli::try_parse_from(rest(name)).map(Invocation::Completions)
        }
        Some(name @ "manpage") => ManpageCli::try_parse_from(rest(name)).map(Invocation::Manpage),
        _ => Cli::try_parse_from(args).map(Invocation::Mirror),
    }
}

/// Flags that let a weaker security setting through, each with a warning:
/// shared by a mirror run and the tools that connect as it does.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityFlags {
    /// Permit security.protocol=PLAINTEXT, and PLAIN/SCRAM over
    /// SASL_PLAINTEXT. kmirror is for secured clusters: without this flag
    /// they are refused.
    #[arg(long = "allow.plaintext", alias = "allow-plaintext")]
    pub allow_plaintext: bool,

    /// Permit a Kerberos principal whose first component is the brokers'
    /// service name (e.g. kafka/host@REALM). That account is usually a super
    /// user, so ACLs would not limit the mirror; a warning is logged.
    #[arg(long = "allow.service.principal", alias = "allow-service-principal")]
    pub allow_service_principal: bool,

    /// Accept a keytab that group or others may read or write, or that
    /// another user owns, with a warning instead of refusing to start.
    #[arg(long = "allow.insecure.keytab", alias = "allow-insecure-keytab")]
    pub allow_insecure_keytab: bool,

    /// Accept ssl.endpoint.identification.algorithm= (empty or none), which
    /// turns off checking that a broker's certificate names the broker: any
    /// certificate from the trusted CA is then accepted for any broker. A
    /// warning is logged at every start.
    #[arg(
        long = "insecure.skip.hostname.verification",
        alias = "insecure-skip-hostname-verification"
    )]
    pub insecure_skip_hostname_verification: bool,

    /// Accept enable.ssl.certificate.verification=false, which turns off
    /// verification of broker certificates altogether (librdkafka and the
    /// start-up TLS check): anyone on the network path can then impersonate
    /// the brokers. A warning is logged at every start.
    #[arg(
        long = "insecure.skip.certificate.verification",
        alias = "insecure-skip-certificate-verification"
    )]
    pub insecure_skip_certificate_verification: bool,
}

/// Options of a mirror run.
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// Consumer properties file of a source cluster (Java client keys, e.g.
    /// bootstrap.servers, group.id, security.protocol). Repeat the flag for
    /// several source clusters; all are mirrored into the one target.
    #[arg(long = "consumer.config", value_name = "FILE", action = ArgAction::Append, required = true)]
    pub consumer_config: Vec<PathBuf>,

    /// Producer properties file of the target cluster.
    #[arg(long = "producer.config", value_name = "FILE", required = true)]
    pub producer_config: PathBuf,

    /// Topics to mirror: a Java-style regular expression matched against the
    /// whole topic name; a comma means `|` ('orders,payments.*'). Internal
    /// topics (names starting with __) are never included unless
    /// --include.internal. Required unless --blacklist is given alone,
    /// which mirrors every topic but those.
    #[arg(
        long = "whitelist",
        visible_alias = "include",
        value_name = "REGEX",
        required_unless_present = "blacklist"
    )]
    pub whitelist: Option<String>,

    /// Topics not to mirror, even if the whitelist matches (same syntax);
    /// alone, every other topic is mirrored.
    #[arg(long = "blacklist", visible_alias = "exclude", value_name = "REGEX")]
    pub blacklist: Option<String>,

    /// Number of consumers per source cluster, all in the consumer group of
    /// that cluster's group.id (more consumers, more parallelism; at most one
    /// per partition does work).
    #[arg(long = "num.streams", value_name = "N", default_value_t = 1)]
    pub num_streams: usize,

    /// Number of producers to the target. Records with the same key always
    /// go through the same producer, so per-key order holds.
    #[arg(long = "num.producers", value_name = "N", default_value_t = 1)]
    pub num_producers: usize,

    /// Records buffered between consumers and producers (read from the
    /// source, not yet acknowledged by the target). Bounds memory, with
    /// --queue.bytes: consumers stop reading at whichever comes first.
    /// Default 10000; 100000 in the distance mode (enable.idempotence=true
    /// in the producer properties), where --queue.bytes bounds memory and a
    /// long link needs more records in flight to be filled.
    #[arg(long = "queue.size", value_name = "N")]
    pub queue_size: Option<usize>,

    /// Bytes of record keys and values buffered between consumers and
    /// producers: plain bytes or with a KiB, MiB or GiB suffix. A link with
    /// a long round trip needs rate x acknowledgement time in flight to be
    /// filled (docs/benchmarks.md). Default 64MiB, or less when the producer
    /// file's buffer.memory (queue.buffering.max.kbytes) is smaller, so
    /// consumers pause before librdkafka refuses a send.
    #[arg(long = "queue.bytes", value_name = "BYTES")]
    pub queue_bytes: Option<ByteSize>,

    /// Interval between offset commits, in milliseconds. Offsets are also
    /// committed when partitions are revoked and on shutdown.
    #[arg(
        long = "offset.commit.interval.ms",
        value_name = "MS",
        default_value_t = 60000
    )]
    pub offset_commit_interval_ms: u64,

    /// Stop on the first failed send (after committing only what was
    /// delivered). `false` drops the failed record as MirrorMaker did, with a
    /// warning per record: that loses data.
    #[arg(
        long = "abort.on.send.failure",
        visible_alias = "abort.on.send.fail",
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub abort_on_send_failure: bool,

    /// Accepted for MirrorMaker compatibility; has no effect (kmirror always
    /// uses the broker-based consumer).
    #[arg(long = "new.consumer")]
    pub new_consumer: bool,

    /// JAAS login configuration file, as MirrorMaker reads through
    /// -Djava.security.auth.login.config. The source side reads section
    /// KafkaClientSource and the target KafkaClientTarget, each falling back
    /// to KafkaClient. An inline sasl.jaas.config in a properties file takes
    /// precedence; without this flag, a file named in KAFKA_OPTS is read.
    #[arg(long, value_name = "FILE")]
    pub jaas: Option<PathBuf>,

    /// What the security checks let through (plaintext, service principals,
    /// loose keytabs, unverified TLS).
    #[command(flatten)]
    pub security: SecurityFlags,

    /// Bound, in milliseconds, on how long the producer keeps retrying a
    /// record the target does not acknowledge; past it the send fails and
    /// kmirror stops (after committing only what was delivered). Default: no
    /// bound (librdkafka message.timeout.ms=0), so kmirror rides out a target
    /// outage of any length. The properties keys delivery.timeout.ms and
    /// message.timeout.ms are refused in favour of this flag.
    #[arg(
        long = "delivery.timeout.ms",
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=2147483647)
    )]
    pub delivery_timeout_ms: Option<u64>,

    /// Mirror internal topics (names starting with __) too, if the whitelist matches them.
    #[arg(long = "include.internal", alias = "include-internal")]
    pub include_internal: bool,

    /// Create missing target topics with the source's partition count and
    /// the source topic's own settings of cleanup.policy, retention.ms,
    /// retention.bytes, max.message.bytes, message.timestamp.type,
    /// min/max.compaction.lag.ms, delete.retention.ms,
    /// min.cleanable.dirty.ratio and compression.type (needs CREATE on the
    /// target, DESCRIBE_CONFIGS on the source topics). Without it a missing
    /// target topic is an error.
    #[arg(long = "create.topics", alias = "create-topics")]
    pub create_topics: bool,

    /// Write each record to the same partition number it has on the source,
    /// instead of partitioning by key. Target topics must have at least as
    /// many partitions.
    #[arg(long = "preserve.partitions", alias = "preserve-partitions")]
    pub preserve_partitions: bool,

    /// Record where each source record lands on the target (the offset
    /// map), in the compacted topic `kmirror.offsets.<source cluster id>`
    /// on the target, so consumer groups can move to the target without
    /// skipping or re-reading records (`kmirror offsets translate`,
    /// docs/failover.md). Needs CREATE (once), WRITE and READ on that topic.
    /// Implied by --sync.group.offsets.
    #[arg(long = "offset.map")]
    pub offset_map: bool,

    /// Keep the committed offsets of the source consumer groups whose name
    /// matches REGEX (the whole name) translated onto the target, every
    /// --sync.group.offsets.interval.ms, for groups with no active members
    /// on the target; a target group's offset never moves backwards. Needs
    /// DESCRIBE on the source groups and READ on the target groups.
    #[arg(long = "sync.group.offsets", value_name = "REGEX")]
    pub sync_group_offsets: Option<String>,

    /// Interval between group offset syncs, in milliseconds.
    #[arg(
        long = "sync.group.offsets.interval.ms",
        value_name = "MS",
        default_value_t = 10000,
        value_parser = clap::value_parser!(u64).range(100..)
    )]
    pub sync_group_offsets_interval_ms: u64,

    /// Keep the allow-listed configurations of mirrored target topics (the
    /// keys --create.topics copies) equal to what each source topic sets
    /// itself, checked every --topic.refresh.interval.ms; keys outside the
    /// allow-list are never changed, each change is logged. Needs
    /// DESCRIBE_CONFIGS on the source topics and ALTER_CONFIGS on the
    /// target topics.
    #[arg(long = "sync.topic.configs")]
    pub sync_topic_configs: bool,

    /// How often to look for new source topics matching the whitelist, in milliseconds.
    #[arg(
        long = "topic.refresh.interval.ms",
        value_name = "MS",
        default_value_t = 30000
    )]
    pub topic_refresh_interval_ms: u64,

    /// The bound on a whole stop (SIGTERM, or after a fatal error), in
    /// milliseconds: in-flight records are drained and the delivered prefix
    /// committed within it; past it kmirror exits 1 naming the records not
    /// acknowledged (their offsets are not committed). The default stays
    /// below the shipped systemd unit's TimeoutStopSec (60 s).
    #[arg(
        long = "shutdown.timeout.ms",
        value_name = "MS",
        default_value_t = 30000
    )]
    pub shutdown_timeout_ms: u64,

    /// Start even when ACLs cannot be verified (the principal may not
    /// describe ACLs and the broker does not report authorized operations).
    #[arg(long = "accept.unverified.acls", alias = "accept-unverified-acls")]
    pub accept_unverified_acls: bool,

    /// Serve Prometheus metrics (`/metrics`) and health checks (`/healthz`,
    /// `/readyz`) over plain HTTP on this address, e.g. `127.0.0.1:9404`;
    /// a bare port (`9404`) means 127.0.0.1. `0.0.0.0:PORT` exposes the
    /// topic names, partition offsets and lag to anyone who can reach the
    /// host, unauthenticated. Off by default.
    #[arg(
        long = "metrics.addr",
        alias = "metrics-addr",
        value_name = "HOST:PORT"
    )]
    pub metrics_addr: Option<String>,

    /// Interval between progress lines in the log (rate, total mirrored,
    /// in flight, last commit), in milliseconds.
    #[arg(
        long = "progress.interval.ms",
        value_name = "MS",
        default_value_t = 30000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub progress_interval_ms: u64,

    /// Append an audit trail to FILE: one JSON line per committed source
    /// range (offsets, record count, bytes, SHA-256 of the records, where
    /// they landed, principals, time), chained and sealed with
    /// --audit.key, fsynced before the offsets are committed, anchored in
    /// FILE.anchor. Check it with `kmirror audit verify FILE --key KEY`.
    #[arg(long = "audit.log", alias = "audit-log", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,

    /// The audit trail's secret key: a file of at least 32 bytes, private
    /// to kmirror's user (mode 0600) or a systemd credential, e.g. made
    /// with `head -c 32 /dev/urandom > audit.key`. Every entry and the
    /// anchor carry an HMAC-SHA-256 under it. Required with --audit.log
    /// unless --audit.unkeyed.
    #[arg(
        long = "audit.key",
        alias = "audit-key",
        value_name = "FILE",
        requires = "audit_log"
    )]
    pub audit_key: Option<PathBuf>,

    /// Where to keep the audit trail's anchor (entry count and head MAC,
    /// rewritten after every append); default: the trail's path plus
    /// `.anchor`. Put it where the trail's writers cannot roll it back.
    #[arg(
        long = "audit.anchor",
        alias = "audit-anchor",
        value_name = "FILE",
        requires = "audit_log"
    )]
    pub audit_anchor: Option<PathBuf>,

    /// Write the audit trail without a key (plain SHA-256 chain): it then
    /// detects accidents only, since anyone who can write the file can
    /// rewrite it and recompute every hash. Off by default: --audit.log
    /// without --audit.key is refused.
    #[arg(
        long = "audit.unkeyed",
        alias = "audit-unkeyed",
        requires = "audit_log",
        conflicts_with = "audit_key"
    )]
    pub audit_unkeyed: bool,

    /// Log format: `text` for people, `json` for machines (every line on
    /// stderr a JSON object, errors and the final summary included).
    #[arg(long = "log.format", alias = "log-format", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// A size in bytes from the command line: `1048576`, `1024KiB`, `64MiB`,
/// `1GiB` (binary units; `KB`/`MB`/`GB` and lower case are read the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(digits);
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => {
                return Err(format!(
                    "{s:?}: expected bytes, e.g. 67108864 or 64MiB (units KiB, MiB, GiB)"
                ))
            }
        };
        n.parse::<usize>()
            .ok()
            .and_then(|n| n.checked_mul(1usize << shift))
            .map(ByteSize)
            .ok_or_else(|| {
                format!("{s:?}: expected bytes, e.g. 67108864 or 64MiB (units KiB, MiB, GiB)")
            })
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommand_or_plain_flags() {
        let base = [
            "--consumer.config=c",
            "--producer.config=p",
            "--whitelist=x",
        ];
        let plain = std::iter::once("kmirror").chain(base);
        assert!(matches!(
            parse_invocation(plain).unwrap(),
            Invocation::Mirror(_)
        ));
        let check = ["kmirror", "check"]
            .into_iter()
            .chain(base)
            .chain(["--format", "json"]);
        match parse_invocation(check).unwrap() {
            Invocation::Check(c) => {
                assert_eq!(c.format, "json");
                assert_eq!(c.mirror.whitelist.as_deref(), Some("x"));
            }
            other => panic!("{other:?}"),
        }
        let bad = ["kmirror", "check", "--format", "yaml"]
            .into_iter()
            .chain(base);
        assert!(parse_invocation(bad).is_err());
        let lag = ["kmirror", "lag"]
            .into_iter()
            .chain(base)
            .chain(["--format=json"]);
        match parse_invocation(lag).unwrap() {
            Invocation::Lag(l) => assert_eq!(l.format, "json"),
            other => panic!("{other:?}"),
        }
        // A run's whole command line works after `lag` (run-only flags
        // accepted and not read).
        let run_line = [
            "kmirror",
            "lag",
            "--consumer.config=c",
            "--producer.config=p",
            "--whitelist=x",
            "--offset.commit.interval.ms",
            "500",
            "--num.streams=4",
            "--create.topics",
            "--audit.log=a",
            "--audit.unkeyed",
            "--metrics.addr=9404",
            "--shutdown.timeout.ms=1000",
        ];
        match parse_invocation(run_line).unwrap() {
            Invocation::Lag(l) => assert_eq!(l.lag.whitelist.as_deref(), Some("x")),
            other => panic!("{other:?}"),
        }
        assert!(parse_invocation(["kmirror", "lag", "--consumer.config=c", "--nope"]).is_err());
        // lag needs only the consumer side.
        match parse_invocation(["kmirror", "lag", "--consumer.config=c", "--json"]).unwrap() {
            Invocation::Lag(l) => {
                assert!(l.json);
                assert_eq!(l.lag.whitelist, None);
                assert_eq!(l.lag.producer_config, None);
            }
            other => panic!("{other:?}"),
        }
        let two_keys = [
            "kmirror", "audit", "verify", "a.jsonl", "--key", "k", "--key", "k0",
        ];
        match parse_invocation(two_keys).unwrap() {
            Invocation::Audit(AuditCli {
                command: AuditCommand::Verify { file, key, .. },
            }) => {
                assert_eq!(file, PathBuf::from("a.jsonl"));
                assert_eq!(key, [PathBuf::from("k"), PathBuf::from("k0")]);
            }
            other => panic!("{other:?}"),
        }
        // A key, or an explicit --unkeyed.
        assert!(parse_invocation(["kmirror", "audit", "verify", "a.jsonl"]).is_err());
        assert!(parse_invocation(["kmirror", "audit", "verify", "a.jsonl", "--unkeyed"]).is_ok());
        assert!(parse_invocation(["kmirror", "audit"]).is_err());
        // rotate: the current key (or --unkeyed) and the new one.
        let rotate = [
            "kmirror",
            "audit",
            "rotate",
            "a.jsonl",
            "--key",
            "k",
            "--new.key",
            "n",
        ];
        assert!(parse_invocation(rotate).is_ok());
        assert!(
            parse_invocation(["kmirror", "audit", "rotate", "a.jsonl", "--new.key", "n"]).is_err()
        );
        assert!(parse_invocation(["kmirror", "audit", "rotate", "a.jsonl", "--key", "k"]).is_err());
        let verify = ["kmirror", "verify"].into_iter().chain(base);
        assert!(matches!(
            parse_invocation(verify).unwrap(),
            Invocation::Verify(_)
        ));
        let observe = std::iter::once("kmirror").chain(base).chain([
            "--metrics.addr",
            "127.0.0.1:0",
            "--progress.interval.ms",
            "500",
        ]);
        match parse_invocation(observe).unwrap() {
            Invocation::Mirror(c) => {
                assert_eq!(c.mirror.metrics_addr.as_deref(), Some("127.0.0.1:0"));
                assert_eq!(c.mirror.progress_interval_ms, 500);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mirrormaker_command_line_parses_unchanged() {
        let cli = Cli::try_parse_from([
            "kmirror",
            "--consumer.config",
            "c.properties",
            "--producer.config",
            "p.properties",
            "--whitelist",
            "orders,payments.*",
            "--num.streams",
            "4",
        ])
        .unwrap();
        let m = cli.mirror;
        assert_eq!(m.consumer_config, vec![PathBuf::from("c.properties")]);
        assert_eq!(m.num_streams, 4);
        assert_eq!(m.num_producers, 1);
        assert_eq!(m.queue_size, None);
        assert_eq!(m.queue_bytes, None);
        assert_eq!(m.offset_commit_interval_ms, 60000);
        assert_eq!(m.metrics_addr, None);
        assert_eq!(m.progress_interval_ms, 30000);
        assert!(m.abort_on_send_failure);
    }

    #[test]
    fn blacklist_alone_or_whitelist_is_required() {
        let base = ["kmirror", "--consumer.config=c", "--producer.config=p"];
        let only_black = base.into_iter().chain(["--blacklist=tmp.*"]);
        match parse_invocation(only_black).unwrap() {
            Invocation::Mirror(c) => assert_eq!(c.mirror.whitelist, None),
            other => panic!("{other:?}"),
        }
        let neither = parse_invocation(base).unwrap_err().to_string();
        assert!(neither.contains("--whitelist"), "{neither}");
    }

    #[test]
    fn aliases_and_repeats() {
        let cli = Cli::try_parse_from([
            "kmirror",
            "--consumer.config=a.properties",
            "--consumer.config=b.properties",
            "--producer.config=p.properties",
            "--include=.*",
            "--exclude=tmp.*",
            "--abort.on.send.fail",
            "false",
            "--new.consumer",
        ])
        .unwrap();
        let m = cli.mirror;
        assert_eq!(m.consumer_config.len(), 2);
        assert_eq!(m.blacklist.as_deref(), Some("tmp.*"));
        assert!(!m.abort_on_send_failure);
        assert!(m.new_consumer);
        let cli = Cli::try_parse_from([
            "kmirror",
            "--consumer.config=a",
            "--producer.config=p",
            "--whitelist=x",
            "--abort.on.send.failure",
        ])
        .unwrap();
        assert!(cli.mirror.abort_on_send_failure);
    }

    /// --queue.bytes: plain bytes or binary units; anything else is one
    /// error naming the value and the accepted forms.
    #[test]
    fn queue_bytes_units() {
        let ok = [
            ("67108864", 67108864),
            ("64MiB", 64 << 20),
            ("64mb", 64 << 20),
            ("512 KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("100b", 100),
        ];
        for (text, bytes) in ok {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "64 furlongs",
            "-1",
            "1.5GiB",
            "99999999999999999999",
        ] {
            let e = bad.parse::<ByteSize>().unwrap_err();
            assert!(e.contains("64MiB"), "{bad}: {e}");
        }
        let cli = Cli::try_parse_from([
            "kmirror",
            "--consumer.config=c",
            "--producer.config=p",
            "--whitelist=t",
            "--queue.bytes=8MiB",
        ])
        .unwrap();
        assert_eq!(cli.mirror.queue_bytes, Some(ByteSize(8 << 20)));
    }
}
