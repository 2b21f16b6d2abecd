//! Configuration in two stages: raw values from the command line
//! ([`cli`]) and files ([`properties`], [`jaas`]), then one validated
//! [`Config`] built by [`Config::from_args`], whose errors name the offending
//! file, line and key.

pub mod cli;
pub(crate) mod commit_metadata;
pub(crate) mod producer;
pub mod properties;
pub mod topics;
pub mod translate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::config::ClientConfig;

use crate::security::keytab::{self, KeytabError};
use crate::security::resolve::{self, PrincipalSource, SidePrincipal};
use crate::security::{
    self, jaas, principal, Auth, JaasFileSource, SecurityError, SecurityOptions,
};
use cli::MirrorArgs;
use properties::{PropertiesError, PropertiesFile};
use topics::{FilterError, TopicFilter};
use translate::{Note, Role, Setting, StartPolicy, TranslateError};

/// A configuration error: names the file/flag/key and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A properties file could not be read or parsed.
    #[error(transparent)]
    Properties(#[from] PropertiesError),
    /// A property cannot be translated (ZooKeeper-era key, unsafe value).
    #[error(transparent)]
    Translate(#[from] TranslateError),
    /// A whitelist/blacklist is not a valid regex.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A security setting is refused.
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// A GSSAPI side's keytab fails the preflight check.
    #[error("{label} ({path}): {source}")]
    Keytab {
        /// The side: `source`, `source 2`, `target`.
        label: String,
        /// The properties file of that side.
        path: PathBuf,
        /// What is wrong with the keytab and how to fix it.
        #[source]
        source: KeytabError,
    },
    /// A GSSAPI side, and Cyrus SASL's GSSAPI plug-in is not installed.
    #[error("{label} ({path}): {error}")]
    SaslPlugin {
        /// The side: `source`, `source 2`, `target`.
        label: String,
        /// The properties file of that side.
        path: PathBuf,
        /// Which package to install (in the message, not repeated as a cause).
        error: crate::security::sasl_plugin::SaslPluginError,
    },
    /// A required key is missing from a properties file.
    #[error("{path}: {key} is missing: {hint}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// What to write.
        hint: &'static str,
    },
    /// A command-line value is out of range.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// librdkafka refused a property.
    #[error("{path}:{line}: {key}: librdkafka does not accept this property: {reason}")]
    Librdkafka {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when set by kmirror).
        line: usize,
        /// The key as the user wrote it.
        key: String,
        /// librdkafka's reason (never includes the value).
        reason: String,
    },
}

/// One cluster's client configuration, validated.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Human label: `source 1` or `target`.
    pub label: String,
    /// The properties file it came from.
    pub path: PathBuf,
    /// Consumer or producer.
    pub role: Role,
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// `group.id` (consumers only).
    pub group_id: Option<String>,
    /// Translated librdkafka settings (non-security).
    pub settings: Vec<Setting>,
    /// Security, built once from the validated entries; applied by
    /// [`Auth::apply`].
    pub security: Auth,
    /// Start position of partitions without committed offsets.
    pub start: StartPolicy,
    /// Remarks made while translating, logged at start-up.
    pub notes: Vec<Note>,
    /// Checks relaxed by a flag (`--allow.service.principal`,
    /// `--allow.insecure.keytab`): log at start-up as warnings.
    pub warnings: Vec<String>,
    /// The principal this side authenticates as, resolved before any
    /// connection ([`resolve`]): shown by `kmirror check`, recorded in the
    /// audit trail and the metrics.
    pub principal: SidePrincipal,
}

impl ClusterConfig {
    /// Reads, translates and validates one properties file. `jaas` is the
    /// JAAS file this side falls back to without an inline `sasl.jaas.config`.
    pub fn load(
        label: String,
        path: &Path,
        role: Role,
        sec: SecurityOptions,
        jaas: Option<&JaasFileSource>,
    ) -> Result<Self, ConfigError> {
        let file = PropertiesFile::read(path)?;
        let t = translate::translate(&file, role)?;
        let bootstrap = t
            .settings
            .iter()
            .rev()
            .find(|s| s.key == "bootstrap.servers")
            .map(|s| s.value.expose().trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Missing {
                path: path.to_owned(),
                key: "bootstrap.servers",
                hint: "the brokers to connect to, e.g. bootstrap.servers=broker1:9092,broker2:9092",
            })?;
        if role == Role::Consumer && t.group_id.as_deref().is_none_or(|g| g.trim().is_empty()) {
            return Err(ConfigError::Missing {
                path: path.to_owned(),
                key: "group.id",
                hint: "the consumer group kmirror commits source offsets in, e.g. group.id=kmirror (processes sharing it share the work)",
            });
        }
        // Plain data across the layer boundary: security needs nothing
        // from config.
        let entries: Vec<security::Entry> = t
            .security
            .iter()
            .map(|e| security::Entry {
                key: e.key.clone(),
                value: security::EntryValue::from(e.value.expose()),
                line: e.line,
            })
            .collect();
        let (security, warnings) = Auth::from_entries(path, &entries, sec, jaas)?;
        let cfg = ClusterConfig {
            label,
            path: path.to_owned(),
            role,
            bootstrap,
            group_id: t.group_id.clone(),
            settings: t.settings,
            security,
            start: t.start,
            notes: t.notes,
            warnings,
            principal: SidePrincipal::default(),
        };
        cfg.validate_with_librdkafka()?;
        Ok(cfg)
    }

    /// The checks before any broker connection: librdkafka's kinit would
    /// only fail at the first connect, naming neither the file nor the fix.
    /// No network I/O: the TLS/SASL broker probes are the caller's
    /// (`preflight::tls::preflight_sides`).
    fn preflight(&mut self, sec: SecurityOptions) -> Result<(), ConfigError> {
        self.check_sasl_plugin()?;
        self.check_keytab(sec.allow_insecure_keytab)
    }

    /// A GSSAPI side needs Cyrus SASL's GSSAPI plug-in: without it
    /// librdkafka would fail only at the first connection ("No worthy mechs
    /// found"), naming no package.
    fn check_sasl_plugin(&self) -> Result<(), ConfigError> {
        if self.security.kerberos().is_none() {
            return Ok(());
        }
        security::sasl_plugin::check_gssapi().map_err(|error| ConfigError::SaslPlugin {
            label: self.label.clone(),
            path: self.path.clone(),
            error,
        })
    }

    /// Keytab preflight for a GSSAPI side that logs in with a keytab
    /// ([`keytab::preflight`]); a relaxed check becomes a warning.
    fn check_keytab(&mut self, allow_insecure: bool) -> Result<(), ConfigError> {
        let Some(k) = self.security.kerberos() else {
            return Ok(());
        };
        let Some(kt) = &k.keytab else { return Ok(()) };
        let (keytab, warning) = keytab::preflight(kt, k.principal.as_deref(), allow_insecure)
            .map_err(|source| ConfigError::Keytab {
                label: self.label.clone(),
                path: self.path.clone(),
                source,
            })?;
        self.warnings.extend(warning);
        // Logged at every start and by `kmirror check`.
        self.warnings
            .extend(keytab::weak_enctype_warning(&keytab, kt));
        Ok(())
    }

    /// Resolves the principal this side authenticates as (reading only
    /// local files: keytab, ticket cache `ccache`, certificate) and applies
    /// the broker-service-principal rule to a resolved Kerberos principal
    /// the configuration does not name (a configured one was checked when
    /// the entries were read).
    fn resolve_principal(
        &mut self,
        ccache: &str,
        sec: SecurityOptions,
    ) -> Result<(), SecurityError> {
        self.principal = resolve::resolve(&self.security, ccache);
        let (Some(k), SidePrincipal::Resolved { name, source }) =
            (self.security.kerberos(), &self.principal)
        else {
            return Ok(());
        };
        if *source == PrincipalSource::Configured
            || !principal::is_service_principal(name, &k.service_name)
        {
            return Ok(());
        }
        if !sec.allow_service_principal {
            return Err(SecurityError::ResolvedServicePrincipal {
                path: self.path.clone(),
                principal: name.clone(),
                how: source.to_string(),
            });
        }
        self.warnings.push(format!(
            "{}: --allow.service.principal: authenticating as {name} ({source}), the brokers' own service account (usually a super user), so ACLs do not limit the mirror; use a dedicated principal such as mirrormaker/HOST@REALM",
            self.path.display()
        ));
        Ok(())
    }

    /// The warnings to log at every start: checks relaxed by a flag, and
    /// a transport that authenticates without encrypting (SASL_PLAINTEXT).
    pub fn start_warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.warnings
            .iter()
            .cloned()
            .chain(self.security.unencrypted_warning())
    }

    /// The user's settings plus security, as a librdkafka config. kmirror's
    /// own no-loss settings are layered on top by the pipeline.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("client.id", "kmirror");
        for s in &self.settings {
            cfg.set(&s.key, s.value.expose());
        }
        self.security.apply(&mut cfg);
        cfg
    }

    /// Lets librdkafka check every key and value now, so a typo is reported
    /// with the file and line instead of failing later.
    fn validate_with_librdkafka(&self) -> Result<(), ConfigError> {
        for s in &self.settings {
            let mut one = ClientConfig::new();
            one.set(&s.key, s.value.expose());
            if let Err(e) = one.create_native_config() {
                let reason = match &e {
                    // The native error text is "Invalid value "X" for
                    // configuration property "k"" or "No such configuration
                    // property"; drop any quoted value so secrets never print.
                    rdkafka::error::KafkaError::ClientConfig(_, desc, _, _) => {
                        redact_quoted_value(desc, s)
                    }
                    other => other.to_string(),
                };
                return Err(ConfigError::Librdkafka {
                    path: self.path.clone(),
                    line: s.line,
                    key: s.source_key.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

fn redact_quoted_value(desc: &str, s: &Setting) -> String {
    let v = s.value.expose();
    if v.is_empty() {
        desc.to_string()
    } else {
        desc.replace(v, "<value>")
    }
}

/// The producer's `message.timeout.ms`: `--delivery.timeout.ms`, or 0 (no
/// limit: librdkafka retries until the target is back, however long it is
/// away). librdkafka's own default, 300 s, would turn a longer target outage
/// into failed sends and a stop.
fn delivery_timeout(flag_ms: Option<u64>) -> Setting {
    Setting {
        key: "message.timeout.ms".into(),
        value: properties::Value::Plain(flag_ms.unwrap_or(0).to_string()),
        source_key: "--delivery.timeout.ms".into(),
        line: 0,
    }
}

impl Config {
    /// Every side: the sources in order, then the target.
    pub fn sides(&self) -> impl Iterator<Item = &ClusterConfig> {
        self.sources.iter().chain(std::iter::once(&self.target))
    }

    /// `(label, auth)` of every side, as the Kerberos login takes them.
    pub fn auth_sides(&self) -> Vec<(&str, &Auth)> {
        self.sides()
            .map(|c| (c.label.as_str(), &c.security))
            .collect()
    }
}

/// The validated configuration of a mirror run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Source clusters, in `--consumer.config` order.
    pub sources: Vec<ClusterConfig>,
    /// The target cluster.
    pub target: ClusterConfig,
    /// Which topics are mirrored.
    pub filter: TopicFilter,
    /// Consumers per source cluster (`--num.streams`, default 1).
    pub num_streams: usize,
    /// Producers to the target (`--num.producers`, default 1).
    pub num_producers: usize,
    /// What may be in flight between consume and acknowledge
    /// (`--queue.size`, `--queue.bytes`).
    pub queue: QueueBound,
    /// Offset commit interval (`--offset.commit.interval.ms`, default 60 s).
    pub commit_interval: Duration,
    /// Stop on the first failed send (default true).
    pub abort_on_send_failure: bool,
    /// Create missing target topics.
    pub create_topics: bool,
    /// Keep source partition numbers.
    pub preserve_partitions: bool,
    /// New-topic discovery interval (default 30 s).
    pub topic_refresh_interval: Duration,
    /// Bound on a clean stop's flush and commit (default 30 s).
    pub shutdown_timeout: Duration,
    /// `--accept.unverified.acls`: start even when the start-up ACL checks
    /// cannot verify some permission.
    pub accept_unverified_acls: bool,
    /// `--offset.map` (or `--sync.group.offsets`): record where each record
    /// lands in the target's offset map topic.
    pub offset_map: bool,
    /// `--sync.group.offsets`: source groups to sync (anchored: the whole name).
    pub sync_groups: Option<regex::Regex>,
    /// `--sync.group.offsets.interval.ms` (default 10 s).
    pub sync_interval: Duration,
    /// `--sync.topic.configs`: keep the target topics' allow-listed
    /// configurations equal to the source's, every topic refresh (default off).
    pub sync_topic_configs: bool,
}

/// Every `--consumer.config` file, loaded as for a run, labelled `source`
/// (one) or `source 1`, `source 2`, ...
fn load_sources(
    paths: &[PathBuf],
    sec: SecurityOptions,
    jaas: Option<&JaasFileSource>,
) -> Result<Vec<ClusterConfig>, ConfigError> {
    let mut sources = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let label = if paths.len() == 1 {
            "source".to_string()
        } else {
            format!("source {}", i + 1)
        };
        sources.push(ClusterConfig::load(label, path, Role::Consumer, sec, jaas)?);
    }
    Ok(sources)
}

/// The source clusters alone, for `kmirror lag`: no target, no producer
/// file; topics optionally filtered.
#[derive(Debug, Clone)]
pub struct SourcesConfig {
    /// Source clusters, in `--consumer.config` order, checked as for a run.
    pub sources: Vec<ClusterConfig>,
    /// `--whitelist`/`--blacklist`, when given; otherwise every topic the
    /// group has a committed offset or an owner in.
    pub filter: Option<TopicFilter>,
}

impl SourcesConfig {
    /// Validates `kmirror lag`'s arguments and reads the consumer files
    /// (JAAS from `--jaas` or `KAFKA_OPTS`, as a run).
    pub fn from_lag_args(args: &cli::LagArgs) -> Result<SourcesConfig, ConfigError> {
        let sec = SecurityOptions::from(&args.security);
        let kafka_opts = std::env::var("KAFKA_OPTS").ok();
        let jaas = jaas_file(
            args.jaas.as_ref(),
            kafka_opts.as_deref(),
            jaas::SOURCE_SECTION,
        );
        let filter = match (&args.whitelist, &args.blacklist) {
            (None, None) => None,
            (w, b) => Some(TopicFilter::new(
                w.as_deref().unwrap_or(".*"),
                b.as_deref(),
                args.include_internal,
            )?),
        };
        let mut sources = load_sources(&args.consumer_config, sec, jaas.as_ref())?;
        let ccache = resolve::default_ccache_name(std::env::var("KRB5CCNAME").ok().as_deref());
        for c in &mut sources {
            c.preflight(sec)?;
            // Who the side is, as a run resolves it (local files only).
            c.resolve_principal(&ccache, sec)?;
        }
        Ok(SourcesConfig { sources, filter })
    }
}

impl Config {
    /// Validates raw arguments and reads every file they name, taking a JAAS
    /// file from `KAFKA_OPTS` (`-Djava.security.auth.login.config=FILE`) as
    /// MirrorMaker does when `--jaas` is not given.
    pub fn from_args(args: &MirrorArgs) -> Result<Config, ConfigError> {
        Self::from_args_and_kafka_opts(args, std::env::var("KAFKA_OPTS").ok().as_deref())
    }

    /// [`Config::from_args`] with the value of `KAFKA_OPTS` passed in
    /// (`KRB5CCNAME` is read from the environment).
    pub fn from_args_and_kafka_opts(
        args: &MirrorArgs,
        kafka_opts: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let krb5ccname = std::env::var("KRB5CCNAME").ok();
        Self::from_args_with_env(args, kafka_opts, krb5ccname.as_deref())
    }

    /// [`Config::from_args`] with `KAFKA_OPTS` and `KRB5CCNAME` (the ticket
    /// cache a ticket-cache login reads) passed in.
    pub fn from_args_with_env(
        args: &MirrorArgs,
        kafka_opts: Option<&str>,
        krb5ccname: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let positive = |flag: &'static str, v: usize| {
            if v == 0 {
                Err(ConfigError::Flag {
                    flag,
                    message: "must be at least 1".into(),
                })
            } else {
                Ok(v)
            }
        };
        let num_streams = positive("--num.streams", args.num_streams)?;
        let num_producers = positive("--num.producers", args.num_producers)?;
        if args.offset_commit_interval_ms == 0 {
            return Err(ConfigError::Flag {
                flag: "--offset.commit.interval.ms",
                message: "must be at least 1 ms".into(),
            });
        }
        let sec = SecurityOptions::from(&args.security);
        let jaas_for = |section| jaas_file(args.jaas.as_ref(), kafka_opts, section);
        let source_jaas = jaas_for(jaas::SOURCE_SECTION);
        let target_jaas = jaas_for(jaas::TARGET_SECTION);
        let filter = TopicFilter::new(
            // --blacklist alone: every topic but those (MirrorMaker 1).
            args.whitelist.as_deref().unwrap_or(".*"),
            args.blacklist.as_deref(),
            args.include_internal,
        )?;
        let sync_groups =
            match &args.sync_group_offsets {
                Some(re) => Some(regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| {
                    ConfigError::Flag {
                        flag: "--sync.group.offsets",
                        message: format!("not a valid regular expression: {e}"),
                    }
                })?),
                None => None,
            };
        let mut sources = load_sources(&args.consumer_config, sec, source_jaas.as_ref())?;
        let mut target = ClusterConfig::load(
            "target".into(),
            &args.producer_config,
            Role::Producer,
            sec,
            target_jaas.as_ref(),
        )?;
        target
            .settings
            .push(delivery_timeout(args.delivery_timeout_ms));
        let target_client = target.client_config();
        let queue = QueueBound {
            records: match args.queue_size {
                Some(n) => positive("--queue.size", n)?,
                None => QueueBound::default_records(producer::is_idempotent(&target_client)),
            },
            bytes: match args.queue_bytes {
                Some(b) => positive("--queue.bytes", b.0)?,
                None => {
                    QueueBound::DEFAULT_BYTES.min(producer::librdkafka_queue_room(&target_client))
                }
            },
        };
        // Before any broker connection: librdkafka's kinit would only fail
        // at the first connect, naming neither the file nor the fix.
        for c in sources.iter_mut().chain(std::iter::once(&mut target)) {
            c.preflight(sec)?;
        }
        // Who each side is, before any connection: a keytab or ticket cache
        // decides it when the configuration does not say.
        let ccache = resolve::default_ccache_name(krb5ccname);
        for c in sources.iter_mut().chain(std::iter::once(&mut target)) {
            c.resolve_principal(&ccache, sec)?;
        }
        // No network I/O here: the TLS/SASL broker probes are run by the
        // caller (`preflight::tls::preflight_config`).
        Ok(Config {
            sources,
            target,
            filter,
            num_streams,
            num_producers,
            queue,
            commit_interval: Duration::from_millis(args.offset_commit_interval_ms),
            abort_on_send_failure: args.abort_on_send_failure,
            create_topics: args.create_topics,
            preserve_partitions: args.preserve_partitions,
            topic_refresh_interval: Duration::from_millis(args.topic_refresh_interval_ms.max(100)),
            shutdown_timeout: Duration::from_millis(args.shutdown_timeout_ms),
            accept_unverified_acls: args.accept_unverified_acls,
            offset_map: args.offset_map || args.sync_group_offsets.is_some(),
            sync_groups,
            sync_interval: Duration::from_millis(args.sync_group_offsets_interval_ms),
            sync_topic_configs: args.sync_topic_configs,
        })
    }
}

/// The JAAS file a side reads its login from: `--jaas`'s `section`, else
/// the file `KAFKA_OPTS` names (section `KafkaClient` only, as Java reads it).
fn jaas_file(
    flag: Option<&PathBuf>,
    kafka_opts: Option<&str>,
    section: &'static str,
) -> Option<JaasFileSource> {
    match (flag, kafka_opts) {
        (Some(path), _) => Some(JaasFileSource {
            path: path.clone(),
            section,
            via: "--jaas",
        }),
        (None, Some(opts)) => jaas::login_config_from_kafka_opts(opts).map(|path| JaasFileSource {
            path,
            section: jaas::KAFKA_CLIENT_SECTION,
            via: "KAFKA_OPTS",
        }),
        (None, None) => None,
    }
}

impl From<&cli::SecurityFlags> for SecurityOptions {
    fn from(f: &cli::SecurityFlags) -> SecurityOptions {
        SecurityOptions {
            allow_plaintext: f.allow_plaintext,
            allow_service_principal: f.allow_service_principal,
            allow_insecure_keytab: f.allow_insecure_keytab,
            insecure_skip_hostname_verification: f.insecure_skip_hostname_verification,
            insecure_skip_certificate_verification: f.insecure_skip_certificate_verification,
        }
    }
}

/// How much a run holds between reading a record from a source and the
/// target's acknowledgement of its copy: consumers stop reading at either
/// bound, so memory stays bounded however slow the target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueBound {
    /// Records (`--queue.size`, default 10000; 100000 in the distance mode).
    pub records: usize,
    /// Bytes of record keys and values (`--queue.bytes`, default 64 MiB).
    pub bytes: usize,
}

impl QueueBound {
    /// `--queue.bytes`' default, 64 MiB (less under a smaller
    /// `buffer.memory` in the producer file).
    pub const DEFAULT_BYTES: usize = 64 << 20;

    /// `--queue.size`'s default: MirrorMaker's 10000, or 100000 in the
    /// distance mode (`idempotent`). Over a link the target acknowledges a
    /// record a round trip and its broker's time later, and the distance
    /// mode's five requests in flight need rate x that time of records
    /// waiting: at 50 ms RTT on the benchmark rig, 10000 records (1 KiB)
    /// held it to 26 MB/s and 100000 (bounded at 64 MiB) gave 60 MB/s
    /// (docs/benchmarks.md). With one request in flight a deeper queue
    /// only adds latency, so the other mode keeps MirrorMaker's default.
    pub fn default_records(idempotent: bool) -> usize {
        if idempotent {
            100_000
        } else {
            10_000
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn args(c: &Path, p: &Path, extra: &[&str]) -> MirrorArgs {
        let mut v = vec![
            "kmirror".to_string(),
            format!("--consumer.config={}", c.display()),
            format!("--producer.config={}", p.display()),
            "--whitelist=.*".to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        cli::Cli::try_parse_from(v).unwrap().mirror
    }

    #[test]
    fn builds_from_mirrormaker_files() {
        let d = tempfile::tempdir().unwrap();
        let c = write(d.path(), "c.properties", "bootstrap.servers=a:9092\ngroup.id=mm\nauto.commit.enable=false\nsecurity.protocol=SASL_PLAINTEXT\n");
        let p = write(d.path(), "p.properties", "bootstrap.servers=b:9092\nacks=-1\nretries=2147483647\nmax.in.flight.requests.per.connection=1\nblock.on.buffer.full=true\nsecurity.protocol=SASL_PLAINTEXT\n");
        let cfg = Config::from_args(&args(&c, &p, &[])).unwrap();
        assert_eq!(cfg.sources[0].bootstrap, "a:9092");
        assert_eq!(cfg.sources[0].group_id.as_deref(), Some("mm"));
        assert_eq!(cfg.target.bootstrap, "b:9092");
        let cc = cfg.target.client_config();
        assert_eq!(cc.get("security.protocol"), Some("SASL_PLAINTEXT"));
        assert_eq!(cc.get("sasl.mechanisms"), Some("GSSAPI"));
    }

    #[test]
    fn jaas_sources_and_keytab_preflight() {
        use crate::security::keytab::tests::write_keytab;
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let src_kt = write_keytab(d.path(), "src.keytab", "mirror-src/h@R");
        let tgt_kt = write_keytab(d.path(), "tgt.keytab", "mirror-tgt/h@R");
        let krb5 = |keytab: &Path, principal: &str| {
            format!(
                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"{}\" principal=\"{principal}\";",
                keytab.display()
            )
        };
        let jaas = write(
            d.path(),
            "mm.jaas",
            &format!(
                "KafkaClientSource {{ {} }};\nKafkaClient {{ {} }};\n",
                krb5(&src_kt, "mirror-src/h@R"),
                krb5(&tgt_kt, "mirror-tgt/h@R")
            ),
        );
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=mm\nsecurity.protocol=SASL_PLAINTEXT\n",
        );
        let p = write(
            d.path(),
            "p.properties",
            "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\n",
        );
        let principal = |c: &ClusterConfig| c.security.kerberos().unwrap().principal.clone();
        // --jaas: per-side section, falling back to KafkaClient.
        let flag = format!("--jaas={}", jaas.display());
        let cfg = Config::from_args_and_kafka_opts(&args(&c, &p, &[&flag]), None).unwrap();
        assert_eq!(
            principal(&cfg.sources[0]).as_deref(),
            Some("mirror-src/h@R")
        );
        assert_eq!(principal(&cfg.target).as_deref(), Some("mirror-tgt/h@R"));
        assert!(cfg.sources[0].warnings.is_empty() && cfg.target.warnings.is_empty());
        // KAFKA_OPTS: section KafkaClient on both sides.
        let opts = format!(
            "-Xmx1g -Djava.security.auth.login.config={}",
            jaas.display()
        );
        let cfg = Config::from_args_and_kafka_opts(&args(&c, &p, &[]), Some(&opts)).unwrap();
        assert_eq!(
            principal(&cfg.sources[0]).as_deref(),
            Some("mirror-tgt/h@R")
        );
        // --jaas beats KAFKA_OPTS; an inline sasl.jaas.config beats both.
        let opts = "-Djava.security.auth.login.config=/nonexistent.jaas";
        assert!(Config::from_args_and_kafka_opts(&args(&c, &p, &[&flag]), Some(opts)).is_ok());
        let e = Config::from_args_and_kafka_opts(&args(&c, &p, &[]), Some(opts))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent.jaas") && e.contains("KAFKA_OPTS"),
            "{e}"
        );
        let c2 = write(
            d.path(),
            "c2.properties",
            &format!("bootstrap.servers=a:9092\ngroup.id=mm\nsecurity.protocol=SASL_PLAINTEXT\nsasl.jaas.config={}\n", krb5(&tgt_kt, "mirror-tgt/h@R").replace('\\', "\\\\")),
        );
        let cfg = Config::from_args_and_kafka_opts(&args(&c2, &p, &[&flag]), None).unwrap();
        assert_eq!(
            principal(&cfg.sources[0]).as_deref(),
            Some("mirror-tgt/h@R")
        );
        // Preflight: the keytab lacks the principal.
        let c3 = write(
            d.path(),
            "c3.properties",
            &format!("bootstrap.servers=a:9092\ngroup.id=mm\nsecurity.protocol=SASL_PLAINTEXT\nsasl.kerberos.keytab={}\nsasl.kerberos.principal=mirror-x/h@R\n", src_kt.display()),
        );
        let e = Config::from_args_and_kafka_opts(&args(&c3, &p, &[]), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("source ({}): keytab", c3.display()))
                && e.contains("holds no key for principal mirror-x/h@R")
                && e.contains("it holds mirror-src/h@R"),
            "{e}"
        );
        // Preflight: a readable keytab is refused, or a warning with the flag.
        std::fs::set_permissions(&src_kt, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Config::from_args_and_kafka_opts(&args(&c, &p, &[&flag]), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("chmod 600 {}", src_kt.display())),
            "{e}"
        );
        let cfg = Config::from_args_and_kafka_opts(
            &args(&c, &p, &[&flag, "--allow.insecure.keytab"]),
            None,
        )
        .unwrap();
        assert_eq!(
            cfg.sources[0].warnings.len(),
            1,
            "{:?}",
            cfg.sources[0].warnings
        );
        assert!(cfg.target.warnings.is_empty());
    }

    #[test]
    fn errors_name_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "p.properties",
            "bootstrap.servers=b:9092\nsecurity.protocol=SSL\n",
        );
        let c = write(
            d.path(),
            "c.properties",
            "zookeeper.connect=zk:2181\ngroup.id=mm\n",
        );
        let e = Config::from_args(&args(&c, &p, &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.properties:1: zookeeper.connect") && e.contains("bootstrap.servers"),
            "{e}"
        );
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\nsecurity.protocol=SSL\n",
        );
        let e = Config::from_args(&args(&c, &p, &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.properties: group.id is missing"), "{e}");
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=g\n",
        );
        let e = Config::from_args(&args(&c, &p, &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("PLAINTEXT") && e.contains("--allow.plaintext"),
            "{e}"
        );
        assert!(Config::from_args(&args(&c, &p, &["--allow.plaintext"])).is_ok());
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=g\nfetch.wait.max.ms=banana\n",
        );
        let e = Config::from_args(&args(&c, &p, &["--allow.plaintext"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.properties:3: fetch.wait.max.ms"), "{e}");
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=g\nno.such.key=1\n",
        );
        let e = Config::from_args(&args(&c, &p, &["--allow.plaintext"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.properties:3: no.such.key"), "{e}");
        let e = Config::from_args(&args(&c, &p, &["--num.streams=0"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--num.streams"), "{e}");
    }

    /// --queue.size: 10000 by default, 100000 in the distance mode
    /// (enable.idempotence=true), the flag's value in both; --queue.bytes
    /// 64 MiB by default, and below the producer file's own byte limit
    /// (buffer.memory); 0 of either is an error naming the flag.
    #[test]
    fn queue_bound_defaults_by_mode_and_flags() {
        let d = tempfile::tempdir().unwrap();
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=mm\nsecurity.protocol=SASL_PLAINTEXT\n",
        );
        let base = "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\n";
        let p = write(d.path(), "p.properties", base);
        let idem = write(
            d.path(),
            "i.properties",
            &format!("{base}enable.idempotence=true\n"),
        );
        let queue =
            |p: &Path, flags: &[&str]| Config::from_args(&args(&c, p, flags)).map(|c| c.queue);
        let q = |records, bytes| QueueBound { records, bytes };
        assert_eq!(queue(&p, &[]).unwrap(), q(10_000, 64 << 20));
        assert_eq!(queue(&idem, &[]).unwrap(), q(100_000, 64 << 20));
        let flags = ["--queue.size", "500", "--queue.bytes", "1MiB"];
        assert_eq!(queue(&idem, &flags).unwrap(), q(500, 1 << 20));
        assert_eq!(queue(&p, &flags).unwrap(), q(500, 1 << 20));
        for flag in ["--queue.size", "--queue.bytes"] {
            let e = queue(&p, &[flag, "0"]).unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
        // A MirrorMaker file's buffer.memory (32 MiB) is librdkafka's own
        // limit: by default kmirror pauses below it, leaving room for one
        // record; an explicit --queue.bytes is taken as given.
        let mm = write(
            d.path(),
            "mm.properties",
            &format!("{base}enable.idempotence=true\nbuffer.memory=33554432\n"),
        );
        assert_eq!(queue(&mm, &[]).unwrap(), q(100_000, (32 << 20) - 1_000_000));
        assert_eq!(
            queue(&mm, &["--queue.bytes", "1MiB"]).unwrap(),
            q(100_000, 1 << 20)
        );
        assert_eq!(
            queue(&mm, &["--queue.bytes", "64MiB"]).unwrap(),
            q(100_000, 64 << 20)
        );
    }

    /// The producer's delivery time limit reaches the librdkafka config:
    /// none by default (`message.timeout.ms=0`), the flag's bound with
    /// `--delivery.timeout.ms`; the consumer gets none of it.
    #[test]
    fn delivery_timeout_reaches_the_producer_config() {
        let d = tempfile::tempdir().unwrap();
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=mm\nsecurity.protocol=SASL_PLAINTEXT\n",
        );
        let p = write(
            d.path(),
            "p.properties",
            "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\n",
        );
        let cfg = Config::from_args(&args(&c, &p, &[])).unwrap();
        assert_eq!(
            cfg.target.client_config().get("message.timeout.ms"),
            Some("0")
        );
        assert_eq!(
            cfg.sources[0].client_config().get("message.timeout.ms"),
            None
        );
        let cfg = Config::from_args(&args(&c, &p, &["--delivery.timeout.ms", "600000"])).unwrap();
        assert_eq!(
            cfg.target.client_config().get("message.timeout.ms"),
            Some("600000")
        );
        let help = cli::Cli::try_parse_from(["kmirror", "--delivery.timeout.ms", "0"]).unwrap_err();
        assert!(help.to_string().contains("--delivery.timeout.ms"), "{help}");
        // The file cannot bound it; the error names the flag.
        let p2 = write(d.path(), "p2.properties", "bootstrap.servers=b:9092\nsecurity.protocol=SASL_PLAINTEXT\ndelivery.timeout.ms=120000\n");
        let e = Config::from_args(&args(&c, &p2, &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p2.properties:3: delivery.timeout.ms:")
                && e.contains("--delivery.timeout.ms 120000"),
            "{e}"
        );
    }

    /// A config whose source and target log in with the given inline JAAS
    /// `(keytab file, principal)`, `None` for no principal option.
    fn kerberos_config(sides: [(&str, Option<&str>); 2]) -> Result<Config, String> {
        let d = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (i, (kt_principal, principal)) in sides.iter().enumerate() {
            let kt = crate::security::keytab::tests::write_keytab(
                d.path(),
                &format!("{i}.keytab"),
                kt_principal,
            );
            let opt = principal.map_or(String::new(), |p| format!(" principal=\"{p}\""));
            let role = if i == 0 { "group.id=g\n" } else { "" };
            files.push(write(
                d.path(),
                &format!("{i}.properties"),
                &format!("bootstrap.servers=b:9092\n{role}security.protocol=SASL_PLAINTEXT\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"{}\"{opt};\n", kt.display()),
            ));
        }
        Config::from_args_and_kafka_opts(&args(&files[0], &files[1], &[]), None)
            .map_err(|e| e.to_string())
    }

    /// (Moved from security::kerberos, which no longer knows `Config`.)
    #[test]
    fn one_login_per_distinct_principal() {
        use crate::security::kerberos::login_plan;
        let c = kerberos_config([("mm/h@R", Some("mm/h@R")), ("mm/h@R", Some("mm/h"))]).unwrap();
        let l = login_plan(c.auth_sides()).unwrap();
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].principal, "mm/h@R");
        assert_eq!(l[0].sides, vec!["source".to_string(), "target".to_string()]);
        // The JAAS parser insists on a principal with useKeyTab=true.
        assert!(kerberos_config([("mm/h@R", None), ("mm/h@R", None)]).is_err());
        let c =
            kerberos_config([("mm/h@R", Some("mm/h@R")), ("mm2/h@R", Some("mm2/h@R"))]).unwrap();
        let l = login_plan(c.auth_sides()).unwrap();
        let got: Vec<(&str, Vec<String>)> = l
            .iter()
            .map(|l| (l.principal.as_str(), l.sides.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("mm/h@R", vec!["source".to_string()]),
                ("mm2/h@R", vec!["target".to_string()])
            ]
        );
        assert_ne!(l[0].keytab, l[1].keytab);
    }

    /// The principal each side authenticates as is resolved before any
    /// connection, and the broker-service-principal rule applies to it even
    /// when the configuration names none: a keytab whose (first) entry is
    /// `kafka/...`, or a ticket cache whose default principal is.
    #[test]
    fn resolved_principal_is_checked_and_recorded() {
        use crate::security::resolve::tests::write_ccache;
        let d = tempfile::tempdir().unwrap();
        let svc_kt = crate::security::keytab::tests::write_keytab(
            d.path(),
            "svc.keytab",
            "kafka/localhost@R",
        );
        let mm_kt = crate::security::keytab::tests::write_keytab(d.path(), "mm.keytab", "mm/h@R");
        let svc_cc = d.path().join("svc.cc");
        write_ccache(&svc_cc, "kafka/localhost@R");
        let svc_cc = format!("FILE:{}", svc_cc.display());
        let alice_cc = d.path().join("alice.cc");
        write_ccache(&alice_cc, "alice@R");
        let alice_cc = format!("FILE:{}", alice_cc.display());
        let side = |name: &str, group: bool, extra: &str| {
            let g = if group { "group.id=g\n" } else { "" };
            write(
                d.path(),
                name,
                &format!("bootstrap.servers=b:9092\n{g}security.protocol=SASL_PLAINTEXT\n{extra}"),
            )
        };
        let keytab_only = |kt: &Path| format!("sasl.kerberos.keytab={}\n", kt.display());
        let svc_c = side("svc-c.properties", true, &keytab_only(&svc_kt));
        let mm_c = side("mm-c.properties", true, &keytab_only(&mm_kt));
        let cache_c = side("cache-c.properties", true, "");
        let cache_p = side("cache-p.properties", false, "");
        let mm_p = side("mm-p.properties", false, &keytab_only(&mm_kt));
        let run = |c: &Path, p: &Path, flags: &[&str], cc: &str| {
            Config::from_args_with_env(&args(c, p, flags), None, Some(cc))
        };
        // Keytab only, its entry the brokers' service principal: refused,
        // naming the principal, where it came from and the flag.
        let e = run(&svc_c, &mm_p, &[], &alice_cc).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: kmirror would authenticate as kafka/localhost@R (the first entry of keytab {}",
                svc_c.display(),
                svc_kt.display()
            )) && e.contains("--allow.service.principal"),
            "{e}"
        );
        // The same through a ticket cache.
        let e = run(&cache_c, &mm_p, &[], &svc_cc).unwrap_err().to_string();
        assert!(
            e.contains(&format!("kmirror would authenticate as kafka/localhost@R (the default principal of ticket cache {svc_cc})"))
                && e.contains("--allow.service.principal"),
            "{e}"
        );
        // With the flag: accepted, with a warning naming it.
        let cfg = run(&svc_c, &mm_p, &["--allow.service.principal"], &alice_cc).unwrap();
        assert!(
            cfg.sources[0]
                .warnings
                .iter()
                .any(|w| w.contains("kafka/localhost@R")),
            "{:?}",
            cfg.sources[0].warnings
        );
        // Two sides, two principals, both resolved (keytab entry and ticket
        // cache default) and recorded as the audit trail records them.
        let cfg = run(&mm_c, &cache_p, &[], &alice_cc).unwrap();
        assert_eq!(cfg.sources[0].principal.name(), Some("mm/h@R"));
        assert_eq!(cfg.target.principal.name(), Some("alice@R"));
        assert_eq!(cfg.target.principal.record_name(), "alice@R");
        // An empty cache cannot be resolved: recorded as UNRESOLVED, not
        // ANONYMOUS (the cluster refuses the login at connect time).
        let cfg = run(&mm_c, &cache_p, &[], "FILE:/nonexistent/cc").unwrap();
        assert_eq!(cfg.target.principal.record_name(), "UNRESOLVED");
    }

    /// SASL_PLAINTEXT is allowed but said once per side at start; SASL_SSL
    /// is not.
    #[test]
    fn sasl_plaintext_warns_naming_sasl_ssl() {
        let d = tempfile::tempdir().unwrap();
        let c = write(
            d.path(),
            "c.properties",
            "bootstrap.servers=a:9092\ngroup.id=mm\nsecurity.protocol=SASL_PLAINTEXT\n",
        );
        let p = write(
            d.path(),
            "p.properties",
            "bootstrap.servers=b:9092\nsecurity.protocol=PLAINTEXT\n",
        );
        let cfg = Config::from_args(&args(&c, &p, &["--allow.plaintext"])).unwrap();
        let w: Vec<String> = cfg.sources[0].start_warnings().collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("does not encrypt") && w[0].contains("SASL_SSL"),
            "{w:?}"
        );
        assert_eq!(cfg.target.start_warnings().count(), 0);
    }
}
