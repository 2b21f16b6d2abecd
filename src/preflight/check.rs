//! `kmirror check`: before a byte moves, verify that kmirror can
//! authenticate to every cluster and holds exactly the permissions a mirror
//! run needs there.
//!
//! The work is split so that the verdict logic has no I/O:
//! 1. [`requirements`] turns a [`SidePlan`] (topics, group, flags) into the
//!    operations each side needs, each with the reason it is needed.
//! 2. [`run_checks`] connects, reads topic metadata and gathers
//!    [`Evidence`] through [`super::admin`].
//! 3. [`evaluate`] decides every requirement from the best evidence
//!    available: the broker's own KIP-430 "authorized operations" first,
//!    else the DescribeAcls list run through [`Authorizer`], else
//!    [`Verdict::Unverified`] with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Serialize};

use super::acl::{
    supported_operations, AclBinding, AclBindingFilter, Authorizer, Operation, ResourceType,
    CLUSTER_RESOURCE_NAME, WILDCARD, WILDCARD_PRINCIPAL,
};
use super::admin::{AclAdmin, AuthorizedOps};
use super::{topics, PreflightError};
use crate::config::{ClusterConfig, Config};
use crate::security::principal::{kafka_principal, kerberos_short_name};
use crate::security::{Auth, SecurityProtocol};

/// Which end of the mirror a cluster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A cluster kmirror consumes from.
    Source,
    /// The cluster kmirror produces to.
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// One permission a mirror run needs on one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Source or target.
    pub side: Side,
    /// The cluster's label (`source 2`, `target`).
    pub cluster: String,
    /// kmirror's principal there, as displayed.
    pub principal: String,
    /// The resource's type.
    pub resource_type: ResourceType,
    /// The resource's name.
    pub resource_name: String,
    /// The operation needed.
    pub operation: Operation,
    /// What kmirror does with it, for the report.
    pub needed_for: &'static str,
    /// Kafka also accepts the operation on the CLUSTER resource (CREATE:
    /// CreateTopics checks the cluster first, then the topic).
    pub cluster_alternative: bool,
}

impl Requirement {
    /// `TOPIC:orders`, as the report prints resources.
    pub fn resource(&self) -> String {
        resource_label(self.resource_type, &self.resource_name)
    }
}

fn resource_label(resource_type: ResourceType, name: &str) -> String {
    format!("{resource_type}:{name}")
}

/// What a mirror run will do on one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidePlan {
    /// Source or target.
    pub side: Side,
    /// The cluster's label.
    pub cluster: String,
    /// kmirror's principal there, as displayed.
    pub principal: String,
    /// Topics consumed (source) or produced to (target).
    pub topics: Vec<String>,
    /// The consumer group (sources only).
    pub group: Option<String>,
    /// Target topics that do not exist yet.
    pub missing_topics: BTreeSet<String>,
    /// `--create.topics`: kmirror creates the missing target topics.
    pub create_topics: bool,
    /// `enable.idempotence=true` on the target producer.
    pub idempotence: bool,
    /// `--offset.map` and `--sync.group.offsets` (docs/failover.md).
    pub failover: FailoverNeeds,
}

/// What the offset map and the group sync need on one side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailoverNeeds {
    /// Target: the map topic (`kmirror.offsets.<source cluster id>`), and
    /// whether it is missing (kmirror creates it).
    pub map_topics: Vec<(String, bool)>,
    /// The synced groups: DESCRIBE on the source (their committed offsets),
    /// READ on the target (commit translated offsets).
    pub groups: Vec<String>,
    /// `--sync.topic.configs`: DESCRIBE_CONFIGS on the source topics,
    /// ALTER_CONFIGS on the target topics (which grants describing them).
    pub topic_configs: bool,
}

/// The permissions `plan` needs, in report order.
///
/// Source: READ and DESCRIBE on every topic and on the group. Target:
/// WRITE and DESCRIBE on every topic; CREATE on each missing topic (or the
/// cluster) with `--create.topics`; IDEMPOTENT_WRITE on the cluster when
/// the producer is idempotent (brokers before Kafka 3.0 require it; later
/// ones accept WRITE on any topic instead, KIP-679).
pub fn requirements(plan: &SidePlan) -> Vec<Requirement> {
    let req = |resource_type, name: &str, operation, needed_for| Requirement {
        side: plan.side,
        cluster: plan.cluster.clone(),
        principal: plan.principal.clone(),
        resource_type,
        resource_name: name.to_string(),
        operation,
        needed_for,
        cluster_alternative: false,
    };
    let mut out = Vec::new();
    match plan.side {
        Side::Source => {
            for t in &plan.topics {
                out.push(req(
                    ResourceType::Topic,
                    t,
                    Operation::Read,
                    "consume records",
                ));
                out.push(req(
                    ResourceType::Topic,
                    t,
                    Operation::Describe,
                    "read metadata/offsets",
                ));
            }
            if let Some(g) = &plan.group {
                out.push(req(
                    ResourceType::Group,
                    g,
                    Operation::Read,
                    "join the group and commit offsets",
                ));
                out.push(req(
                    ResourceType::Group,
                    g,
                    Operation::Describe,
                    "fetch committed offsets",
                ));
            }
        }
        Side::Target => {
            for t in &plan.topics {
                out.push(req(
                    ResourceType::Topic,
                    t,
                    Operation::Write,
                    "produce mirrored records",
                ));
                out.push(req(
                    ResourceType::Topic,
                    t,
                    Operation::Describe,
                    "read metadata (partition leaders)",
                ));
            }
            if plan.create_topics {
                for t in plan
                    .topics
                    .iter()
                    .filter(|t| plan.missing_topics.contains(*t))
                {
                    out.push(Requirement {
                        cluster_alternative: true,
                        ..req(
                            ResourceType::Topic,
                            t,
                            Operation::Create,
                            "create the missing topic (--create.topics)",
                        )
                    });
                }
            }
            if plan.idempotence {
                out.push(req(
                    ResourceType::Cluster,
                    CLUSTER_RESOURCE_NAME,
                    Operation::IdempotentWrite,
                    "idempotent produce (enable.idempotence=true)",
                ));
            }
        }
    }
    failover_requirements(plan, &req, &mut out);
    out
}

/// The permissions of [`FailoverNeeds`], appended after the mirror's own
/// (the order of the report).
fn failover_requirements(
    plan: &SidePlan,
    req: &dyn Fn(ResourceType, &str, Operation, &'static str) -> Requirement,
    out: &mut Vec<Requirement>,
) {
    let mut more = Vec::new();
    for (t, missing) in &plan.failover.map_topics {
        more.push(req(
            ResourceType::Topic,
            t,
            Operation::Write,
            "store the offset map (--offset.map)",
        ));
        more.push(req(
            ResourceType::Topic,
            t,
            Operation::Read,
            "read the offset map (group sync, offsets translate)",
        ));
        more.push(req(
            ResourceType::Topic,
            t,
            Operation::Describe,
            "read the offset map's metadata",
        ));
        if *missing {
            more.push(Requirement {
                cluster_alternative: true,
                ..req(
                    ResourceType::Topic,
                    t,
                    Operation::Create,
                    "create the offset map topic",
                )
            });
        }
    }
    for g in &plan.failover.groups {
        more.push(match plan.side {
            Side::Source => req(
                ResourceType::Group,
                g,
                Operation::Describe,
                "read a synced group's committed offsets (--sync.group.offsets)",
            ),
            Side::Target => req(
                ResourceType::Group,
                g,
                Operation::Read,
                "commit a synced group's translated offsets (--sync.group.offsets)",
            ),
        });
    }
    if plan.failover.topic_configs {
        for t in &plan.topics {
            more.push(match plan.side {
                Side::Source => req(
                    ResourceType::Topic,
                    t,
                    Operation::DescribeConfigs,
                    "read the topic's settings (--sync.topic.configs)",
                ),
                Side::Target => req(
                    ResourceType::Topic,
                    t,
                    Operation::AlterConfigs,
                    "keep the topic's settings equal to the source's (--sync.topic.configs)",
                ),
            });
        }
    }
    out.extend(more);
}

/// What one cluster revealed about kmirror's permissions.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// KIP-430 answers per `(resource type, name)`, or why the request for
    /// them failed. Resources not asked about are absent.
    pub authorized: BTreeMap<(ResourceType, String), Result<AuthorizedOps, String>>,
    /// The DescribeAcls answer, or why it is unavailable; `None` when it
    /// was not needed and not asked for.
    pub acls: Option<Result<Vec<AclBinding>, String>>,
    /// kmirror's principal as ACLs name it (`User:mirror`), or why it is
    /// not known.
    pub acl_principal: Result<String, String>,
    /// The address the brokers see kmirror connect from, for host-specific
    /// ACLs; `None` means unknown.
    pub client_host: Option<String>,
}

impl Evidence {
    /// No evidence yet, for a principal known (or not) as `acl_principal`.
    pub fn new(acl_principal: Result<String, String>) -> Self {
        Evidence {
            authorized: BTreeMap::new(),
            acls: None,
            acl_principal,
            client_host: None,
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Verified.
    Pass,
    /// Verified to be missing: the mirror would fail.
    Fail,
    /// Could not be verified; the row's detail says why.
    Unverified,
    /// Works, but deserves attention (e.g. more power than needed).
    Warn,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Unverified => "UNVERIFIED",
            Verdict::Warn => "WARN",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRow {
    /// Source or target.
    pub side: Side,
    /// The cluster's label, shown in the SIDE column.
    pub cluster: String,
    /// kmirror's principal there.
    pub principal: String,
    /// The operation checked (`READ`), or `AUTHENTICATE` / `PRIVILEGE`.
    pub check: String,
    /// `TOPIC:orders`, `GROUP:mm`, `CLUSTER:kafka-cluster`, or the
    /// bootstrap servers for `AUTHENTICATE`.
    pub resource: String,
    /// The outcome.
    pub verdict: Verdict,
    /// Why it is needed and what decided the verdict.
    pub detail: String,
}

/// The result of `kmirror check`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Every check, grouped by cluster.
    pub rows: Vec<CheckRow>,
    /// Count UNVERIFIED rows as acceptable.
    pub accept_unverified: bool,
}

/// How [`Report::render`] prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON document for scripts.
    Json,
}

/// The JSON shape of a report.
#[derive(Serialize, Deserialize)]
struct JsonReport {
    passed: bool,
    accept_unverified: bool,
    rows: Vec<CheckRow>,
}

impl Report {
    /// No FAIL, and no UNVERIFIED unless `accept_unverified`.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| match r.verdict {
            Verdict::Pass | Verdict::Warn => true,
            Verdict::Fail => false,
            Verdict::Unverified => self.accept_unverified,
        })
    }

    /// The report in `format`.
    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Table => self.to_table(),
            OutputFormat::Json => self.to_json(),
        }
    }

    /// Aligned columns SIDE, PRINCIPAL, CHECK, RESOURCE, VERDICT, DETAIL.
    pub fn to_table(&self) -> String {
        const HEADER: [&str; 6] = [
            "SIDE",
            "PRINCIPAL",
            "CHECK",
            "RESOURCE",
            "VERDICT",
            "DETAIL",
        ];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.cluster.clone(),
                    r.principal.clone(),
                    r.check.clone(),
                    r.resource.clone(),
                    r.verdict.to_string(),
                    r.detail.clone(),
                ]
            })
            .collect();
        let mut out = crate::table::aligned_columns(
            std::iter::once(HEADER.map(String::from)).chain(cells),
            2,
        );
        out.push_str(if self.passed() {
            "result: PASS\n"
        } else {
            "result: FAIL\n"
        });
        out
    }

    /// `{"passed": …, "accept_unverified": …, "rows": [...]}`, carrying the
    /// same rows as the table.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&JsonReport {
            passed: self.passed(),
            accept_unverified: self.accept_unverified,
            rows: self.rows.clone(),
        })
        .expect("a report always serialises")
    }

    /// Parses [`Report::to_json`] output back (for tools and tests).
    pub fn from_json(json: &str) -> Result<Report, serde_json::Error> {
        let r: JsonReport = serde_json::from_str(json)?;
        Ok(Report {
            rows: r.rows,
            accept_unverified: r.accept_unverified,
        })
    }
}

/// An intermediate decision with its explanation.
enum Finding {
    Allowed(String),
    Denied(String),
    /// This evidence cannot decide; why.
    Unknown(String),
}

/// Decides `req` from KIP-430 answers alone.
fn from_authorized(req: &Requirement, ev: &Evidence) -> Finding {
    let op = req.operation;
    let primary_key = (req.resource_type, req.resource_name.clone());
    let cluster_key = (ResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_string());
    let mut candidates = vec![&primary_key];
    if req.cluster_alternative {
        candidates.push(&cluster_key);
    }
    let mut denials = Vec::new();
    let mut unknowns = Vec::new();
    for key in candidates {
        let label = resource_label(key.0, &key.1);
        match ev.authorized.get(key) {
            Some(Ok(AuthorizedOps::Listed(ops))) if ops.contains(&op) => {
                return Finding::Allowed(format!(
                    "the broker lists {op} among the principal's operations on {label} (KIP-430)"
                ));
            }
            Some(Ok(AuthorizedOps::Listed(ops))) => denials.push(format!(
                "the broker lists the principal's operations on {label} as [{}], without {op} (KIP-430)",
                join(ops)
            )),
            Some(Ok(AuthorizedOps::DescribeDenied)) if key.0 != ResourceType::Cluster => {
                denials.push(format!(
                    "the broker refused to describe {label}: the principal has no usable \
                     DESCRIBE there, without which {op} is of no use"
                ))
            }
            Some(Ok(AuthorizedOps::DescribeDenied)) => unknowns.push(format!(
                "the broker reveals {label} operations only to principals with DESCRIBE on the cluster"
            )),
            Some(Ok(AuthorizedOps::NotReturned)) => unknowns.push(format!(
                "the broker did not return authorized operations for {label} (KIP-430 needs Kafka 2.3 or later)"
            )),
            Some(Ok(AuthorizedOps::Missing)) => {
                unknowns.push(format!("{label} does not exist yet"))
            }
            Some(Err(e)) => unknowns.push(e.clone()),
            None => unknowns.push(format!("authorized operations for {label} were not asked for")),
        }
    }
    if unknowns.is_empty() {
        Finding::Denied(denials.join("; "))
    } else {
        Finding::Unknown(unknowns.join("; "))
    }
}

/// An [`Authorizer`] holding the DescribeAcls answer, and how many bindings
/// it could not hold (UNKNOWN fields from a newer broker).
fn authorizer_of(acls: &[AclBinding]) -> (Authorizer, usize) {
    let mut a = Authorizer::new();
    let skipped = acls.iter().filter(|b| a.add((*b).clone()).is_err()).count();
    (a, skipped)
}

/// Decides one operation on one resource from ACLs. Without a known client
/// host only `*`-host ACLs are certain; host-specific ones that would change
/// the verdict make it UNVERIFIED (denied here, allowed from some host) or
/// WARN (allowed here, denied from some host).
fn acl_decision(
    authorizer: &Authorizer,
    principal: &str,
    client_host: Option<&str>,
    op: Operation,
    resource_type: ResourceType,
    name: &str,
) -> (Verdict, String) {
    if let Some(host) = client_host {
        let d = authorizer.authorize(principal, host, op, resource_type, name);
        let v = if d.is_allowed() {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        return (v, d.reason().to_string());
    }
    let d = authorizer.authorize(principal, WILDCARD, op, resource_type, name);
    let hosts: BTreeSet<&str> = authorizer
        .acls()
        .iter()
        .filter(|b| b.host != WILDCARD)
        .filter(|b| b.principal == principal || b.principal == WILDCARD_PRINCIPAL)
        .filter(|b| b.matches_resource(resource_type, name))
        .map(|b| b.host.as_str())
        .collect();
    let differing: Vec<&str> = hosts
        .into_iter()
        .filter(|h| {
            authorizer
                .authorize(principal, h, op, resource_type, name)
                .is_allowed()
                != d.is_allowed()
        })
        .collect();
    match (d.is_allowed(), differing.is_empty()) {
        (true, true) => (Verdict::Pass, d.reason().to_string()),
        (false, true) => (Verdict::Fail, d.reason().to_string()),
        (true, false) => (
            Verdict::Warn,
            format!(
                "{}; but denied for connections from {}",
                d.reason(),
                differing.join(", ")
            ),
        ),
        (false, false) => (
            Verdict::Unverified,
            format!(
                "allowed only for connections from {} and kmirror cannot tell which address the broker sees ({})",
                differing.join(", "),
                d.reason()
            ),
        ),
    }
}

/// Decides `req` from the DescribeAcls answer, or `Err(reason)` when there
/// is none to decide from.
fn from_acls(req: &Requirement, ev: &Evidence) -> Result<(Verdict, String), String> {
    let acls = match &ev.acls {
        Some(Ok(acls)) => acls,
        // The admin error already names the request.
        Some(Err(e)) => return Err(e.clone()),
        None => return Err("DescribeAcls was not asked".into()),
    };
    let principal = ev.acl_principal.as_deref().map_err(|e| e.clone())?;
    let (authorizer, skipped) = authorizer_of(acls);
    let host = ev.client_host.as_deref();
    let decide =
        |rt, name: &str| acl_decision(&authorizer, principal, host, req.operation, rt, name);
    let (mut verdict, mut detail) = decide(req.resource_type, &req.resource_name);
    if verdict != Verdict::Pass && req.cluster_alternative {
        let (cv, cd) = decide(ResourceType::Cluster, CLUSTER_RESOURCE_NAME);
        if cv == Verdict::Pass || verdict == Verdict::Fail {
            (verdict, detail) = (cv, format!("{detail}; on the cluster: {cd}"));
        }
    }
    if verdict == Verdict::Fail {
        detail.push_str(
            " (from DescribeAcls, which shows neither super.users nor allow.everyone.if.no.acl.found)",
        );
    }
    if skipped > 0 {
        detail.push_str(&format!(
            "; {skipped} ACL(s) with values this build does not know were ignored"
        ));
    }
    Ok((verdict, detail))
}

/// Decides one requirement: KIP-430 first, then ACLs, else UNVERIFIED.
pub fn evaluate_requirement(req: &Requirement, ev: &Evidence) -> CheckRow {
    let (verdict, evidence) = match from_authorized(req, ev) {
        Finding::Allowed(why) => (Verdict::Pass, why),
        Finding::Denied(why) => (Verdict::Fail, why),
        Finding::Unknown(kip) => match from_acls(req, ev) {
            Ok(decided) => decided,
            Err(acl) => (Verdict::Unverified, format!("cannot verify: {kip}; {acl}")),
        },
    };
    CheckRow {
        side: req.side,
        cluster: req.cluster.clone(),
        principal: req.principal.clone(),
        check: req.operation.to_string(),
        resource: req.resource(),
        verdict,
        detail: format!("needed to {}: {evidence}", req.needed_for),
    }
}

/// Whether some requirement (or the over-privilege check) cannot be
/// decided from KIP-430 answers, so DescribeAcls is worth asking.
pub fn needs_acls(plan: &SidePlan, ev: &Evidence) -> bool {
    let cluster_listed = matches!(
        ev.authorized
            .get(&(ResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_string())),
        Some(Ok(AuthorizedOps::Listed(_)))
    );
    !cluster_listed
        || requirements(plan)
            .iter()
            .any(|r| matches!(from_authorized(r, ev), Finding::Unknown(_)))
}

/// Cluster operations a mirror never needs; holding any is worth a warning.
const POWERFUL_CLUSTER_OPS: [Operation; 3] = [
    Operation::Alter,
    Operation::AlterConfigs,
    Operation::ClusterAction,
];

/// The over-privilege row: WARN for super-user power, ALLOW ALL on the
/// cluster or on every topic, or cluster-altering rights; PASS when the
/// evidence shows none; `None` when there is no evidence.
pub fn privilege_row(plan: &SidePlan, ev: &Evidence) -> Option<CheckRow> {
    let cluster = ev
        .authorized
        .get(&(ResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_string()));
    let listed = match cluster {
        Some(Ok(AuthorizedOps::Listed(ops))) => Some(ops),
        _ => None,
    };
    let row = |verdict, detail: String| CheckRow {
        side: plan.side,
        cluster: plan.cluster.clone(),
        principal: plan.principal.clone(),
        check: "PRIVILEGE".into(),
        resource: resource_label(ResourceType::Cluster, CLUSTER_RESOURCE_NAME),
        verdict,
        detail,
    };
    if let Some(ops) = listed {
        let all = supported_operations(ResourceType::Cluster)
            .iter()
            .all(|o| ops.contains(o));
        let powerful: Vec<Operation> = POWERFUL_CLUSTER_OPS
            .into_iter()
            .filter(|o| ops.contains(o))
            .collect();
        if all {
            return Some(row(
                Verdict::Warn,
                format!(
                    "the principal holds every cluster operation [{}] (a super user or ALLOW ALL on the cluster); a leaked keytab could rewrite the cluster",
                    join(ops)
                ),
            ));
        }
        if !powerful.is_empty() {
            return Some(row(
                Verdict::Warn,
                format!(
                    "the principal holds {} on the cluster, which mirroring never needs",
                    join(&powerful)
                ),
            ));
        }
    }
    if let (Some(Ok(acls)), Ok(principal)) = (&ev.acls, &ev.acl_principal) {
        let (authorizer, _) = authorizer_of(acls);
        let host = ev.client_host.as_deref().unwrap_or(WILDCARD);
        return Some(match authorizer.is_over_privileged(principal, host) {
            Some(why) => row(Verdict::Warn, format!("{why}; mirroring needs far less")),
            None => row(
                Verdict::Pass,
                "DescribeAcls shows no ALLOW ALL on the cluster or on every topic".into(),
            ),
        });
    }
    listed.map(|ops| {
        row(
            Verdict::Pass,
            format!(
                "cluster operations [{}] include nothing that alters the cluster (KIP-430)",
                join(ops)
            ),
        )
    })
}

/// Every row for one cluster: one per requirement, then the privilege row.
pub fn evaluate(plan: &SidePlan, ev: &Evidence) -> Vec<CheckRow> {
    let mut rows: Vec<CheckRow> = requirements(plan)
        .iter()
        .map(|r| evaluate_requirement(r, ev))
        .collect();
    rows.extend(privilege_row(plan, ev));
    rows
}

fn join(ops: &[Operation]) -> String {
    ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
}

/// The principal a broker with default principal mapping assigns kmirror:
/// `User:<short name>` for Kerberos (`DEFAULT` to-local rule, default
/// realm assumed), `User:<username>` for PLAIN/SCRAM, `User:ANONYMOUS`
/// without client authentication. `Err` says why it cannot be known.
pub fn acl_principal(sec: &Auth) -> Result<String, String> {
    match sec {
        Auth::Gssapi { kerberos, .. } => match kerberos.principal.as_deref() {
            Some(p) => Ok(kafka_principal(&kerberos_short_name(p))),
            None => Err("sasl.kerberos.principal is not set, so the ticket cache decides who kmirror is".into()),
        },
        Auth::Plain { credentials, .. } | Auth::Scram { credentials, .. } => {
            Ok(kafka_principal(&credentials.username))
        }
        Auth::Ssl(t) if t.certificate_location.is_some() || t.keystore_location.is_some() => {
            Err("the broker names TLS clients after their certificate's subject (User:CN=...), which kmirror does not read".into())
        }
        Auth::Ssl(_) | Auth::Plaintext => Ok(kafka_principal("ANONYMOUS")),
    }
}

/// [`acl_principal`] with the principal resolved before connecting: a
/// Kerberos login without a configured principal is known by its keytab
/// entry or ticket cache.
fn resolved_acl_principal(c: &ClusterConfig) -> Result<String, String> {
    match (&c.security, c.principal.name()) {
        (Auth::Gssapi { .. }, Some(p)) => Ok(kafka_principal(&kerberos_short_name(p))),
        _ => acl_principal(&c.security),
    }
}

/// Settings for [`run_checks`].
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Bound on each broker request.
    pub timeout: Duration,
    /// Let UNVERIFIED rows pass.
    pub accept_unverified: bool,
    /// The address brokers see kmirror connect from, for host-specific ACLs.
    pub client_host: Option<String>,
    /// Compare source and target topic configurations (CONFIG rows):
    /// `kmirror check` only, not the start of a run.
    pub config_drift: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: STARTUP_CHECK_TIMEOUT,
            accept_unverified: false,
            client_host: None,
            config_drift: false,
        }
    }
}

/// The AUTHENTICATE row: whether the cluster answered a metadata request
/// with kmirror's credentials.
fn connect_row(
    side: Side,
    cluster: &ClusterConfig,
    principal: &str,
    result: Result<String, String>,
) -> CheckRow {
    let (verdict, detail) = match result {
        Ok(d) => (
            Verdict::Pass,
            format!("{d}; authenticated as {}", cluster.principal),
        ),
        Err(e) => (
            Verdict::Fail,
            format!("{e} (kmirror authenticates as {})", cluster.principal),
        ),
    };
    CheckRow {
        side,
        cluster: cluster.label.clone(),
        principal: principal.to_string(),
        check: "AUTHENTICATE".into(),
        resource: cluster.bootstrap.clone(),
        verdict,
        detail,
    }
}

fn display_principal(p: &Result<String, String>) -> String {
    p.clone().unwrap_or_else(|_| "unknown".into())
}

/// Asks one cluster for the evidence `plan` needs: KIP-430 answers for its
/// topics, group and the cluster, then DescribeAcls only if those leave
/// something open (and only if the principal may describe the cluster, so
/// a least-privilege principal does not fill the broker's audit log).
fn gather(
    admin: &AclAdmin<'_>,
    plan: &SidePlan,
    acl_principal: Result<String, String>,
    opts: &CheckOptions,
) -> Evidence {
    let mut ev = Evidence {
        client_host: opts.client_host.clone(),
        ..Evidence::new(acl_principal)
    };
    let topics: Vec<String> = plan
        .topics
        .iter()
        .cloned()
        .chain(
            plan.failover
                .map_topics
                .iter()
                .filter(|(_, missing)| !missing)
                .map(|(t, _)| t.clone()),
        )
        .collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    for g in &plan.failover.groups {
        let got = admin
            .group_authorized_operations(g, opts.timeout)
            .map_err(|e| e.to_string());
        ev.authorized.insert((ResourceType::Group, g.clone()), got);
    }
    match admin.topic_authorized_operations(&names, opts.timeout) {
        Ok(map) => {
            for t in &topics {
                let got = map
                    .get(t)
                    .cloned()
                    .ok_or_else(|| format!("DescribeTopics: the answer left out topic {t}"));
                ev.authorized.insert((ResourceType::Topic, t.clone()), got);
            }
        }
        Err(e) => {
            for t in &topics {
                ev.authorized
                    .insert((ResourceType::Topic, t.clone()), Err(e.to_string()));
            }
        }
    }
    if let Some(g) = &plan.group {
        let got = admin
            .group_authorized_operations(g, opts.timeout)
            .map_err(|e| e.to_string());
        ev.authorized.insert((ResourceType::Group, g.clone()), got);
    }
    let cluster = admin.cluster_authorized_operations(opts.timeout);
    let describe_denied = matches!(cluster, Ok(AuthorizedOps::DescribeDenied));
    // A broker that let an admin request time out (librdkafka's mock
    // cluster; some old or proxied brokers) would let DescribeAcls time
    // out too: do not make the start wait for it twice.
    let timed_out = matches!(cluster, Err(super::admin::AdminError::Timeout { .. }));
    let cluster = cluster.map_err(|e| e.to_string());
    ev.authorized.insert(
        (ResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_string()),
        cluster,
    );
    if needs_acls(plan, &ev) {
        ev.acls = Some(if describe_denied {
            Err("not asked: the principal lacks DESCRIBE on the cluster, which DescribeAcls requires".into())
        } else if timed_out {
            Err("not asked: the broker did not answer DescribeCluster in time".into())
        } else {
            admin
                .describe_acls(&AclBindingFilter::any(), opts.timeout)
                .map_err(|e| e.to_string())
        });
    }
    ev
}

/// One WARN row per mirrored topic whose target configuration differs from
/// what the source topic sets itself (allow-listed keys, as
/// `--create.topics` copies them). Topics whose configuration cannot be
/// read on either side are skipped: DESCRIBE_CONFIGS is not required.
fn drift_rows(
    target: &crate::config::ClusterConfig,
    principal: &str,
    source_of: &BTreeMap<String, &crate::config::ClusterConfig>,
    existing: &topics::TopicPartitions,
    timeout: Duration,
) -> Vec<CheckRow> {
    let both: Vec<&String> = source_of
        .keys()
        .filter(|t| existing.contains_key(*t))
        .collect();
    if both.is_empty() {
        return Vec::new();
    }
    let Ok(on_target) = topics::describe_topic_configs(target, &both, timeout) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for t in both {
        let Ok(on_source) = topics::describe_topic_configs(source_of[t], &[t], timeout) else {
            continue;
        };
        let (Some(s), Some(d)) = (on_source.get(t), on_target.get(t)) else {
            continue;
        };
        let drift = topics::config_drift(s, d);
        if drift.is_empty() {
            continue;
        }
        let detail = drift
            .iter()
            .map(|(k, sv, tv)| {
                format!(
                    "{k}: source {sv}, target {}",
                    tv.as_deref().unwrap_or("(default)")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(CheckRow {
            side: Side::Target,
            cluster: target.label.clone(),
            principal: principal.to_string(),
            check: "CONFIG".into(),
            resource: resource_label(ResourceType::Topic, t),
            verdict: Verdict::Warn,
            detail: format!("configuration differs from the source topic: {detail} (kafka-configs.sh --alter on the target to align)"),
        });
    }
    rows
}

/// The source groups `--sync.group.offsets` selects now (those the
/// principal may list), kmirror's own group excepted.
fn synced_groups<C: rdkafka::client::ClientContext>(
    config: &Config,
    src: &crate::config::ClusterConfig,
    client: &rdkafka::client::Client<C>,
) -> Vec<String> {
    let Some(re) = &config.sync_groups else {
        return Vec::new();
    };
    let own = src.group_id.as_deref().unwrap_or_default();
    client
        .fetch_group_list(None, std::time::Duration::from_secs(30))
        .map(|l| {
            l.groups()
                .iter()
                .map(|g| g.name().to_string())
                .filter(|g| g != own && re.is_match(g))
                .collect()
        })
        .unwrap_or_default()
}

/// Connects to every cluster of `config`, gathers evidence and evaluates
/// every requirement. A cluster that cannot be reached or refuses the
/// credentials gives a failing AUTHENTICATE row rather than an error, so
/// the report covers every cluster; `Err` is for clients that cannot even
/// be created from the configuration.
pub fn run_checks(config: &Config, opts: CheckOptions) -> Result<Report, PreflightError> {
    let mut rows = Vec::new();
    let mut wanted = BTreeSet::new();
    let (mut map_topics, mut synced) = (Vec::new(), BTreeSet::new());
    // Each mirrored topic's source cluster (the first that has it).
    let mut source_of: BTreeMap<String, &crate::config::ClusterConfig> = BTreeMap::new();
    for src in &config.sources {
        let consumer: BaseConsumer =
            src.client_config()
                .create()
                .map_err(|source| PreflightError::Client {
                    cluster: src.label.clone(),
                    source,
                })?;
        let principal = resolved_acl_principal(src);
        let shown = display_principal(&principal);
        let all = match topics::all_topics(consumer.client(), src) {
            Ok(all) => all,
            Err(e) => {
                rows.push(connect_row(Side::Source, src, &shown, Err(e.to_string())));
                continue;
            }
        };
        let selected = topics::matching(&all, &config.filter);
        rows.push(connect_row(
            Side::Source,
            src,
            &shown,
            Ok(format!(
                "metadata answered; the whitelist selects {} of {} topic(s)",
                selected.len(),
                all.len()
            )),
        ));
        wanted.extend(selected.keys().cloned());
        for t in selected.keys() {
            source_of.entry(t.clone()).or_insert(src);
        }
        let plan = SidePlan {
            side: Side::Source,
            cluster: src.label.clone(),
            principal: shown,
            topics: selected.keys().cloned().collect(),
            group: src.group_id.clone(),
            missing_topics: BTreeSet::new(),
            create_topics: false,
            idempotence: false,
            failover: FailoverNeeds {
                map_topics: Vec::new(),
                groups: synced_groups(config, src, consumer.client()),
                topic_configs: config.sync_topic_configs,
            },
        };
        if config.offset_map {
            if let Some(id) = consumer.client().fetch_cluster_id(opts.timeout) {
                map_topics.push(crate::config::topics::offset_map_topic(&id));
            }
        }
        synced.extend(plan.failover.groups.iter().cloned());
        let ev = gather(&AclAdmin::new(consumer.client()), &plan, principal, &opts);
        rows.extend(evaluate(&plan, &ev));
    }

    let target = &config.target;
    let admin: AdminClient<DefaultClientContext> =
        target
            .client_config()
            .create()
            .map_err(|source| PreflightError::Client {
                cluster: target.label.clone(),
                source,
            })?;
    let principal = resolved_acl_principal(target);
    let shown = display_principal(&principal);
    match topics::all_topics(admin.inner(), target) {
        Err(e) => rows.push(connect_row(
            Side::Target,
            target,
            &shown,
            Err(e.to_string()),
        )),
        Ok(existing) => {
            let missing: BTreeSet<String> = wanted
                .iter()
                .filter(|t| !existing.contains_key(*t))
                .cloned()
                .collect();
            rows.push(connect_row(
                Side::Target,
                target,
                &shown,
                Ok(format!(
                    "metadata answered; {} of {} mirrored topic(s) exist",
                    wanted.len() - missing.len(),
                    wanted.len()
                )),
            ));
            let plan = SidePlan {
                side: Side::Target,
                cluster: target.label.clone(),
                principal: shown,
                topics: wanted.into_iter().collect(),
                group: None,
                missing_topics: missing,
                create_topics: config.create_topics,
                idempotence: target
                    .client_config()
                    .get("enable.idempotence")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
                failover: FailoverNeeds {
                    map_topics: map_topics
                        .iter()
                        .map(|t| (t.clone(), !existing.contains_key(t)))
                        .collect(),
                    groups: synced.into_iter().collect(),
                    topic_configs: config.sync_topic_configs,
                },
            };
            let ev = gather(&AclAdmin::new(admin.inner()), &plan, principal, &opts);
            rows.extend(evaluate(&plan, &ev));
            if opts.config_drift {
                rows.extend(drift_rows(
                    target,
                    &plan.principal,
                    &source_of,
                    &existing,
                    opts.timeout,
                ));
            }
        }
    }
    Ok(Report {
        rows,
        accept_unverified: opts.accept_unverified,
    })
}

/// Why a mirror run may start despite a row that is not PASS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerated {
    /// A WARN row: works, but deserves attention.
    Warning,
    /// UNVERIFIED, accepted with `--accept.unverified.acls`.
    AcceptedUnverified,
    /// UNVERIFIED on a PLAINTEXT cluster: `--allow.plaintext` already opted
    /// out of authentication there, so there is usually no principal whose
    /// ACLs could be checked.
    PlaintextUnverified,
}

/// The start-up decision on a report: `Ok` with the rows to log as
/// warnings, or [`PreflightError::Checks`] carrying the failing rows.
///
/// FAIL always refuses. UNVERIFIED refuses unless the report accepts
/// unverified rows or the row's cluster is one of `plaintext_clusters`
/// (labels of clusters whose `security.protocol` is PLAINTEXT).
pub fn gate(
    report: &Report,
    plaintext_clusters: &BTreeSet<String>,
) -> Result<Vec<(Tolerated, CheckRow)>, PreflightError> {
    let mut tolerated = Vec::new();
    let mut failing = Vec::new();
    for row in &report.rows {
        match row.verdict {
            Verdict::Pass => {}
            Verdict::Warn => tolerated.push((Tolerated::Warning, row.clone())),
            Verdict::Fail => failing.push(row.clone()),
            Verdict::Unverified if report.accept_unverified => {
                tolerated.push((Tolerated::AcceptedUnverified, row.clone()))
            }
            Verdict::Unverified if plaintext_clusters.contains(&row.cluster) => {
                tolerated.push((Tolerated::PlaintextUnverified, row.clone()))
            }
            Verdict::Unverified => failing.push(row.clone()),
        }
    }
    if failing.is_empty() {
        return Ok(tolerated);
    }
    let hint = if failing.iter().any(|r| r.verdict == Verdict::Unverified) {
        "UNVERIFIED rows: the broker's authorized operations (KIP-430, Kafka 2.3+) do not decide them and the principal may not describe ACLs. Grant the principal DESCRIBE on the cluster so kmirror can read its ACLs, or pass --accept.unverified.acls to start without verifying them.\n"
    } else {
        ""
    };
    let table = Report {
        rows: failing,
        accept_unverified: report.accept_unverified,
    }
    .to_table();
    // Drop the "result:" line: the error itself says the checks failed.
    let rows: String = table
        .lines()
        .filter(|l| !l.starts_with("result: "))
        .map(|l| format!("{l}\n"))
        .collect();
    Err(PreflightError::Checks {
        rows,
        hint: hint.to_string(),
    })
}

/// Bound on each ACL evidence request (the default of [`CheckOptions`], so
/// `kmirror check` and a run's start-up behave alike). Brokers answer these in
/// milliseconds; one that does not (an API it advertises but never
/// answers) should delay the start by seconds, not minutes, and leaves
/// the rows UNVERIFIED.
pub const STARTUP_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The start-up warnings for what [`gate`] tolerated: one line per WARN or
/// accepted UNVERIFIED row, but one per PLAINTEXT cluster for its
/// UNVERIFIED rows (there are two per topic, and on such clusters they are
/// expected).
pub fn tolerated_warnings(tolerated: &[(Tolerated, CheckRow)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut plaintext: BTreeMap<&str, Vec<&CheckRow>> = BTreeMap::new();
    for (why, row) in tolerated {
        match why {
            Tolerated::PlaintextUnverified => {
                plaintext.entry(row.cluster.as_str()).or_default().push(row)
            }
            Tolerated::Warning => out.push(format!(
                "{}: {} {} {}: {}",
                row.cluster, row.principal, row.check, row.resource, row.detail
            )),
            Tolerated::AcceptedUnverified => out.push(format!(
                "{}: {} {} {} not verified (--accept.unverified.acls): {}",
                row.cluster, row.principal, row.check, row.resource, row.detail
            )),
        }
    }
    for (cluster, rows) in plaintext {
        let what: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {}", r.check, r.resource))
            .collect();
        out.push(format!(
            "{cluster}: PLAINTEXT cluster (--allow.plaintext): {} ACL check(s) not verified, started anyway: {}. First reason: {}",
            rows.len(),
            what.join(", "),
            rows[0].detail
        ));
    }
    out
}

/// Labels of the clusters of `config` that use `security.protocol=PLAINTEXT`.
pub fn plaintext_clusters(config: &Config) -> BTreeSet<String> {
    config
        .sources
        .iter()
        .chain(std::iter::once(&config.target))
        .filter(|c| c.security.protocol() == SecurityProtocol::Plaintext)
        .map(|c| c.label.clone())
        .collect()
}

/// The checks a mirror run performs before creating any consumer: the same
/// as `kmirror check`, decided by [`gate`] with `--accept.unverified.acls`
/// from `config`. Returns the rows to log as warnings.
pub fn startup_checks(config: &Config) -> Result<Vec<(Tolerated, CheckRow)>, PreflightError> {
    let report = run_checks(
        config,
        CheckOptions {
            accept_unverified: config.accept_unverified_acls,
            ..CheckOptions::default()
        },
    )?;
    gate(&report, &plaintext_clusters(config))
}

/// For a broker's authorization error during a run, the permission the
/// principal is missing on `cluster` and how to grant it; `None` for other
/// errors. `topic` is the topic the failed request was for.
pub fn missing_permission_hint(
    cluster: &ClusterConfig,
    code: rdkafka::types::RDKafkaErrorCode,
    topic: &str,
) -> Option<String> {
    use rdkafka::types::RDKafkaErrorCode as C;
    let principal = display_principal(&acl_principal(&cluster.security));
    let (op, resource, flag) = match (cluster.role, code) {
        (crate::config::translate::Role::Producer, C::TopicAuthorizationFailed) => (
            Operation::Write,
            resource_label(ResourceType::Topic, topic),
            format!("--topic {topic}"),
        ),
        (crate::config::translate::Role::Consumer, C::TopicAuthorizationFailed) => (
            Operation::Read,
            resource_label(ResourceType::Topic, topic),
            format!("--topic {topic}"),
        ),
        (crate::config::translate::Role::Producer, C::ClusterAuthorizationFailed) => (
            Operation::IdempotentWrite,
            resource_label(ResourceType::Cluster, CLUSTER_RESOURCE_NAME),
            "--cluster".to_string(),
        ),
        (crate::config::translate::Role::Consumer, C::GroupAuthorizationFailed) => {
            let g = cluster.group_id.clone().unwrap_or_default();
            (
                Operation::Read,
                resource_label(ResourceType::Group, &g),
                format!("--group {g}"),
            )
        }
        _ => return None,
    };
    Some(format!(
        "{cluster_label}: principal {principal} is missing {op} on {resource} (the broker answered {code:?}). Grant it, e.g. `kafka-acls.sh --add --allow-principal {principal} --operation {op_arg} {flag}`, then restart kmirror: committed offsets stop before the failed record, so nothing is lost",
        cluster_label = cluster.label,
        op_arg = op_arg(op),
    ))
}

/// `WRITE` → `Write`, `IDEMPOTENT_WRITE` → `IdempotentWrite`, as
/// kafka-acls.sh spells operations.
fn op_arg(op: Operation) -> String {
    op.name()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_string() + &c.as_str().to_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::acl::{operations_from_bits, PatternType, Permission};
    use crate::security::{KerberosSettings, ScramHash, TlsSettings, UserPassword};

    const ME: &str = "User:mirror";

    fn source_plan() -> SidePlan {
        SidePlan {
            side: Side::Source,
            cluster: "source".into(),
            principal: ME.into(),
            topics: vec!["orders".into(), "payments".into()],
            group: Some("mm".into()),
            missing_topics: BTreeSet::new(),
            create_topics: false,
            idempotence: false,
            failover: FailoverNeeds::default(),
        }
    }

    fn target_plan(create_topics: bool, idempotence: bool) -> SidePlan {
        SidePlan {
            side: Side::Target,
            cluster: "target".into(),
            principal: ME.into(),
            topics: vec!["orders".into(), "payments".into()],
            group: None,
            missing_topics: BTreeSet::from(["payments".to_string()]),
            create_topics,
            idempotence,
            failover: FailoverNeeds::default(),
        }
    }

    fn keys(reqs: &[Requirement]) -> Vec<String> {
        reqs.iter()
            .map(|r| format!("{} {} {}", r.side, r.operation, r.resource()))
            .collect()
    }

    #[test]
    fn requirements_follow_the_plan_and_flags() {
        assert_eq!(
            keys(&requirements(&source_plan())),
            [
                "source READ TOPIC:orders",
                "source DESCRIBE TOPIC:orders",
                "source READ TOPIC:payments",
                "source DESCRIBE TOPIC:payments",
                "source READ GROUP:mm",
                "source DESCRIBE GROUP:mm",
            ]
        );
        let base = [
            "target WRITE TOPIC:orders",
            "target DESCRIBE TOPIC:orders",
            "target WRITE TOPIC:payments",
            "target DESCRIBE TOPIC:payments",
        ];
        let create = "target CREATE TOPIC:payments";
        let idem = "target IDEMPOTENT_WRITE CLUSTER:kafka-cluster";
        for (c, i) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut want: Vec<&str> = base.to_vec();
            if c {
                want.push(create);
            }
            if i {
                want.push(idem);
            }
            let got = requirements(&target_plan(c, i));
            assert_eq!(keys(&got), want, "create={c} idempotence={i}");
            // Only CREATE can also be granted on the cluster.
            for r in &got {
                assert_eq!(r.cluster_alternative, r.operation == Operation::Create);
                assert!(!r.needed_for.is_empty());
                assert_eq!(r.principal, ME);
            }
        }
        // CREATE is only for topics that are missing.
        let mut all_exist = target_plan(true, false);
        all_exist.missing_topics.clear();
        assert!(!keys(&requirements(&all_exist)).contains(&create.to_string()));
    }

    fn allow(rt: ResourceType, name: &str, op: Operation) -> AclBinding {
        AclBinding::new(
            rt,
            name,
            PatternType::Literal,
            ME,
            "*",
            op,
            Permission::Allow,
        )
    }

    /// One explicit ALLOW per requirement of both plans.
    fn full_acls() -> Vec<AclBinding> {
        use Operation::*;
        use ResourceType::*;
        vec![
            allow(Topic, "orders", Read),
            allow(Topic, "orders", Describe),
            allow(Topic, "payments", Read),
            allow(Topic, "payments", Describe),
            allow(Group, "mm", Read),
            allow(Group, "mm", Describe),
            allow(Topic, "orders", Write),
            allow(Topic, "payments", Write),
            allow(Topic, "payments", Create),
            allow(Cluster, CLUSTER_RESOURCE_NAME, IdempotentWrite),
        ]
    }

    fn plans() -> [SidePlan; 2] {
        [source_plan(), target_plan(true, true)]
    }

    /// Evidence holding only a DescribeAcls answer.
    fn acl_evidence(acls: Vec<AclBinding>) -> Evidence {
        Evidence {
            acls: Some(Ok(acls)),
            ..Evidence::new(Ok(ME.into()))
        }
    }

    /// The KIP-430 answers a broker enforcing `acls` would give, as Kafka
    /// computes them: an authorization error without DESCRIBE on a topic or
    /// group, 0 for the cluster without DESCRIBE, nothing for a missing
    /// topic.
    fn broker_answers(plan: &SidePlan, acls: &[AclBinding]) -> Evidence {
        let (a, _) = authorizer_of(acls);
        let mut ev = Evidence::new(Ok(ME.into()));
        let mut resources: Vec<(ResourceType, String)> = plan
            .topics
            .iter()
            .map(|t| (ResourceType::Topic, t.clone()))
            .collect();
        resources.extend(plan.group.iter().map(|g| (ResourceType::Group, g.clone())));
        resources.push((ResourceType::Cluster, CLUSTER_RESOURCE_NAME.into()));
        for (rt, name) in resources {
            let ops = operations_from_bits(a.authorized_operations(ME, "*", rt, &name));
            let answer = if rt == ResourceType::Topic && plan.missing_topics.contains(&name) {
                AuthorizedOps::Missing
            } else if !ops.contains(&Operation::Describe) {
                AuthorizedOps::DescribeDenied
            } else {
                AuthorizedOps::Listed(ops)
            };
            ev.authorized.insert((rt, name), Ok(answer));
        }
        ev
    }

    fn failing(rows: &[CheckRow]) -> Vec<String> {
        rows.iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| format!("{} {} {} {}", r.cluster, r.principal, r.check, r.resource))
            .collect()
    }

    fn requirement_rows(rows: &[CheckRow]) -> Vec<&CheckRow> {
        rows.iter().filter(|r| r.check != "PRIVILEGE").collect()
    }

    /// --offset.map and --sync.group.offsets: the map topic on the target
    /// (CREATE only while missing), the synced groups on both sides; a
    /// missing grant fails its row.
    #[test]
    fn failover_needs_the_map_topic_and_the_synced_groups() {
        let map = "kmirror.offsets.src";
        let mut target = target_plan(false, false);
        target.failover = FailoverNeeds {
            map_topics: vec![(map.into(), true)],
            groups: vec!["billing".into()],
            ..FailoverNeeds::default()
        };
        let got = keys(&requirements(&target));
        assert_eq!(
            got[4..],
            [
                format!("target WRITE TOPIC:{map}"),
                format!("target READ TOPIC:{map}"),
                format!("target DESCRIBE TOPIC:{map}"),
                format!("target CREATE TOPIC:{map}"),
                "target READ GROUP:billing".to_string(),
            ]
        );
        let mut source = source_plan();
        source.failover.groups = vec!["billing".into()];
        assert_eq!(
            keys(&requirements(&source)).last().unwrap(),
            "source DESCRIBE GROUP:billing"
        );
        use Operation::*;
        use ResourceType::*;
        let mut acls = full_acls();
        acls.extend([
            allow(Topic, map, Write),
            allow(Topic, map, Read),
            allow(Topic, map, Create),
            allow(Group, "billing", Describe),
        ]);
        // READ on the target group is missing.
        let rows = evaluate(&target, &acl_evidence(acls.clone()));
        assert_eq!(failing(&rows), [format!("target {ME} READ GROUP:billing")]);
        let rows = evaluate(&source, &acl_evidence(acls.clone()));
        assert!(failing(&rows).is_empty(), "{rows:#?}");
        let without: Vec<AclBinding> = acls
            .into_iter()
            .filter(|b| b.resource_name != "billing")
            .collect();
        let rows = evaluate(&source, &acl_evidence(without));
        assert_eq!(
            failing(&rows),
            [format!("source {ME} DESCRIBE GROUP:billing")]
        );
    }

    /// `--sync.topic.configs`: DESCRIBE_CONFIGS on each source topic,
    /// ALTER_CONFIGS on each target topic; nothing without the flag.
    #[test]
    fn topic_config_sync_needs_describe_and_alter_configs() {
        let mut source = source_plan();
        let mut target = target_plan(false, false);
        let before = (requirements(&source).len(), requirements(&target).len());
        source.failover.topic_configs = true;
        target.failover.topic_configs = true;
        let (s, t) = (keys(&requirements(&source)), keys(&requirements(&target)));
        assert_eq!(s.len() - before.0, source.topics.len());
        assert_eq!(t.len() - before.1, target.topics.len());
        for topic in &source.topics {
            assert!(
                s.contains(&format!("source DESCRIBE_CONFIGS TOPIC:{topic}")),
                "{s:?}"
            );
        }
        for topic in &target.topics {
            assert!(
                t.contains(&format!("target ALTER_CONFIGS TOPIC:{topic}")),
                "{t:?}"
            );
        }
    }

    #[test]
    fn removing_each_required_acl_fails_exactly_its_row() {
        for plan in plans() {
            let rows = evaluate(&plan, &acl_evidence(full_acls()));
            assert!(
                requirement_rows(&rows)
                    .iter()
                    .all(|r| r.verdict == Verdict::Pass),
                "{rows:#?}"
            );
            for removed in full_acls() {
                let acls: Vec<AclBinding> =
                    full_acls().into_iter().filter(|b| *b != removed).collect();
                let rows = evaluate(&plan, &acl_evidence(acls));
                let label = resource_label(removed.resource_type, &removed.resource_name);
                let needed = requirements(&plan)
                    .iter()
                    .any(|r| r.operation == removed.operation && r.resource() == label);
                let want: Vec<String> = if needed && removed.operation != Operation::Describe {
                    vec![format!(
                        "{} {ME} {} {label}",
                        plan.cluster, removed.operation
                    )]
                } else {
                    // DESCRIBE is implied by the READ/WRITE grant still
                    // there, as in Kafka; an ACL the plan does not need
                    // changes nothing.
                    vec![]
                };
                assert_eq!(failing(&rows), want, "{} without {removed}", plan.cluster);
                if let Some(row) = rows.iter().find(|r| r.verdict == Verdict::Fail) {
                    assert!(row.detail.contains(ME), "{}", row.detail);
                    assert!(
                        row.detail.contains(removed.operation.name()),
                        "{}",
                        row.detail
                    );
                }
            }
        }
    }

    #[test]
    fn authorized_operations_and_acls_agree() {
        use Operation::*;
        use ResourceType::*;
        let mut scenarios: Vec<Vec<AclBinding>> = vec![full_acls(), vec![]];
        for removed in full_acls() {
            scenarios.push(full_acls().into_iter().filter(|b| *b != removed).collect());
        }
        scenarios.push(vec![
            AclBinding::new(
                Topic,
                "ord",
                PatternType::Prefixed,
                ME,
                "*",
                All,
                Permission::Allow,
            ),
            AclBinding::new(
                Topic,
                "orders",
                PatternType::Literal,
                ME,
                "*",
                Write,
                Permission::Deny,
            ),
            allow(Group, "mm", Read),
        ]);
        scenarios.push(vec![AclBinding::new(
            Topic,
            "*",
            PatternType::Literal,
            WILDCARD_PRINCIPAL,
            "*",
            Read,
            Permission::Allow,
        )]);
        scenarios.push(vec![allow(Cluster, CLUSTER_RESOURCE_NAME, All)]);
        for (i, acls) in scenarios.into_iter().enumerate() {
            for plan in plans() {
                let by_acls = evaluate(&plan, &acl_evidence(acls.clone()));
                let kip_only = broker_answers(&plan, &acls);
                let both = Evidence {
                    acls: Some(Ok(acls.clone())),
                    ..kip_only.clone()
                };
                let by_both = evaluate(&plan, &both);
                let by_kip = evaluate(&plan, &kip_only);
                for ((a, b), k) in requirement_rows(&by_acls)
                    .into_iter()
                    .zip(requirement_rows(&by_both))
                    .zip(requirement_rows(&by_kip))
                {
                    assert_eq!(
                        (a.verdict, &a.resource),
                        (b.verdict, &b.resource),
                        "scenario {i}: {} / {}",
                        a.detail,
                        b.detail
                    );
                    assert!(
                        k.verdict == a.verdict || k.verdict == Verdict::Unverified,
                        "scenario {i}: {} vs {}",
                        k.detail,
                        a.detail
                    );
                }
            }
        }
    }

    fn verdict_of(rows: &[CheckRow], check: &str, resource: &str) -> Verdict {
        rows.iter()
            .find(|r| r.check == check && r.resource == resource)
            .unwrap_or_else(|| panic!("no {check} {resource} row in {rows:#?}"))
            .verdict
    }

    #[test]
    fn deny_prefixed_and_wildcard_acls() {
        use Operation::*;
        use ResourceType::*;
        let target = target_plan(false, false);
        // DENY beats a PREFIXED ALLOW ALL, for the denied operation only.
        let rows = evaluate(
            &target,
            &acl_evidence(vec![
                AclBinding::new(
                    Topic,
                    "ord",
                    PatternType::Prefixed,
                    ME,
                    "*",
                    All,
                    Permission::Allow,
                ),
                AclBinding::new(
                    Topic,
                    "pay",
                    PatternType::Prefixed,
                    ME,
                    "*",
                    All,
                    Permission::Allow,
                ),
                AclBinding::new(
                    Topic,
                    "orders",
                    PatternType::Literal,
                    ME,
                    "*",
                    Write,
                    Permission::Deny,
                ),
            ]),
        );
        assert_eq!(verdict_of(&rows, "WRITE", "TOPIC:orders"), Verdict::Fail);
        assert_eq!(verdict_of(&rows, "DESCRIBE", "TOPIC:orders"), Verdict::Pass);
        assert_eq!(verdict_of(&rows, "WRITE", "TOPIC:payments"), Verdict::Pass);
        let fail = rows.iter().find(|r| r.verdict == Verdict::Fail).unwrap();
        assert!(fail.detail.contains("denied by ACL"), "{}", fail.detail);
        // A wildcard principal and resource grant everyone READ.
        let source = source_plan();
        let rows = evaluate(
            &source,
            &acl_evidence(vec![
                AclBinding::new(
                    Topic,
                    "*",
                    PatternType::Literal,
                    WILDCARD_PRINCIPAL,
                    "*",
                    Read,
                    Permission::Allow,
                ),
                AclBinding::new(
                    Group,
                    "m",
                    PatternType::Prefixed,
                    ME,
                    "*",
                    Read,
                    Permission::Allow,
                ),
            ]),
        );
        assert!(
            requirement_rows(&rows)
                .iter()
                .all(|r| r.verdict == Verdict::Pass),
            "{rows:#?}"
        );
        // ACLs for someone else grant nothing.
        let other = AclBinding::new(
            Topic,
            "*",
            PatternType::Literal,
            "User:other",
            "*",
            All,
            Permission::Allow,
        );
        let rows = evaluate(&source, &acl_evidence(vec![other]));
        assert_eq!(verdict_of(&rows, "READ", "TOPIC:orders"), Verdict::Fail);
        // DENY of DESCRIBE does not deny READ in Kafka, but a broker then
        // refuses to describe the topic, so KIP-430 evidence fails READ too.
        let deny_describe = vec![
            allow(Topic, "orders", Read),
            AclBinding::new(
                Topic,
                "orders",
                PatternType::Literal,
                ME,
                "*",
                Describe,
                Permission::Deny,
            ),
        ];
        let by_acls = evaluate(&source, &acl_evidence(deny_describe.clone()));
        assert_eq!(verdict_of(&by_acls, "READ", "TOPIC:orders"), Verdict::Pass);
        assert_eq!(
            verdict_of(&by_acls, "DESCRIBE", "TOPIC:orders"),
            Verdict::Fail
        );
        let by_kip = evaluate(&source, &broker_answers(&source, &deny_describe));
        assert_eq!(verdict_of(&by_kip, "READ", "TOPIC:orders"), Verdict::Fail);
        assert_eq!(
            verdict_of(&by_kip, "DESCRIBE", "TOPIC:orders"),
            Verdict::Fail
        );
    }

    #[test]
    fn create_may_be_granted_on_the_cluster() {
        use Operation::*;
        use ResourceType::*;
        let plan = target_plan(true, false);
        let base = vec![
            allow(Topic, "orders", Write),
            allow(Topic, "payments", Write),
        ];
        let with = |extra: AclBinding| {
            let mut acls = base.clone();
            acls.push(extra);
            evaluate(&plan, &acl_evidence(acls))
        };
        let rows = with(allow(Cluster, CLUSTER_RESOURCE_NAME, Create));
        assert_eq!(verdict_of(&rows, "CREATE", "TOPIC:payments"), Verdict::Pass);
        let rows = with(allow(Topic, "payments", Create));
        assert_eq!(verdict_of(&rows, "CREATE", "TOPIC:payments"), Verdict::Pass);
        let rows = evaluate(&plan, &acl_evidence(base.clone()));
        assert_eq!(verdict_of(&rows, "CREATE", "TOPIC:payments"), Verdict::Fail);
        // KIP-430 alone: the topic is missing, but the cluster lists CREATE.
        let mut ev = broker_answers(&plan, &base);
        ev.authorized.insert(
            (Cluster, CLUSTER_RESOURCE_NAME.into()),
            Ok(AuthorizedOps::Listed(vec![Create, Describe])),
        );
        let rows = evaluate(&plan, &ev);
        assert_eq!(verdict_of(&rows, "CREATE", "TOPIC:payments"), Verdict::Pass);
    }

    #[test]
    fn unverified_when_no_evidence_decides() {
        let plan = target_plan(true, true);
        let mut ev = Evidence::new(Ok(ME.into()));
        ev.acls = Some(Err("not authorized: CLUSTER_AUTHORIZATION_FAILED".into()));
        for key in [
            (ResourceType::Topic, "orders"),
            (ResourceType::Topic, "payments"),
            (ResourceType::Cluster, CLUSTER_RESOURCE_NAME),
        ] {
            ev.authorized.insert(
                (key.0, key.1.into()),
                Ok(if key.0 == ResourceType::Cluster {
                    AuthorizedOps::DescribeDenied
                } else {
                    AuthorizedOps::NotReturned
                }),
            );
        }
        let rows = evaluate(&plan, &ev);
        assert!(needs_acls(&plan, &ev));
        assert_eq!(
            rows.len(),
            requirements(&plan).len(),
            "no privilege evidence, no row"
        );
        for r in &rows {
            assert_eq!(r.verdict, Verdict::Unverified, "{r:?}");
            assert!(
                r.detail.contains("CLUSTER_AUTHORIZATION_FAILED"),
                "{}",
                r.detail
            );
            assert!(r.detail.starts_with("needed to "), "{}", r.detail);
        }
        assert!(
            rows[0].detail.contains("KIP-430 needs Kafka 2.3"),
            "{}",
            rows[0].detail
        );
        let mut report = Report {
            rows,
            accept_unverified: false,
        };
        assert!(!report.passed());
        report.accept_unverified = true;
        assert!(report.passed());
        report.rows[0].verdict = Verdict::Fail;
        assert!(!report.passed(), "FAIL is never accepted");

        // An unknown principal leaves the ACL path nothing to evaluate.
        let mut ev = acl_evidence(full_acls());
        ev.acl_principal = Err("sasl.kerberos.principal is not set".into());
        let rows = evaluate(&source_plan(), &ev);
        assert!(rows.iter().all(|r| r.verdict == Verdict::Unverified));
        assert!(rows[0].detail.contains("sasl.kerberos.principal"));
    }

    #[test]
    fn complete_authorized_operations_need_no_acls() {
        let plan = source_plan();
        let ev = broker_answers(
            &plan,
            &[
                full_acls(),
                vec![allow(
                    ResourceType::Cluster,
                    CLUSTER_RESOURCE_NAME,
                    Operation::Describe,
                )],
            ]
            .concat(),
        );
        assert!(!needs_acls(&plan, &ev));
        let rows = evaluate(&plan, &ev);
        assert!(rows.iter().all(|r| r.verdict == Verdict::Pass), "{rows:#?}");
        assert!(rows[0].detail.contains("KIP-430"));
        // Without DESCRIBE on the cluster the privilege check needs ACLs.
        let ev = broker_answers(&plan, &full_acls());
        assert!(needs_acls(&plan, &ev));
    }

    #[test]
    fn host_specific_acls() {
        let plan = source_plan();
        let mut acls = full_acls();
        acls.retain(|b| !(b.resource_name == "orders" && b.operation == Operation::Read));
        acls.push(AclBinding::new(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            ME,
            "10.0.0.1",
            Operation::Read,
            Permission::Allow,
        ));
        let rows = evaluate(&plan, &acl_evidence(acls.clone()));
        assert_eq!(
            verdict_of(&rows, "READ", "TOPIC:orders"),
            Verdict::Unverified
        );
        let mut ev = acl_evidence(acls);
        ev.client_host = Some("10.0.0.1".into());
        assert_eq!(
            verdict_of(&evaluate(&plan, &ev), "READ", "TOPIC:orders"),
            Verdict::Pass
        );
        ev.client_host = Some("10.0.0.2".into());
        assert_eq!(
            verdict_of(&evaluate(&plan, &ev), "READ", "TOPIC:orders"),
            Verdict::Fail
        );
        // Allowed from everywhere but denied from one host: a warning.
        let mut acls = full_acls();
        acls.push(AclBinding::new(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            ME,
            "10.0.0.9",
            Operation::Read,
            Permission::Deny,
        ));
        let rows = evaluate(&plan, &acl_evidence(acls));
        assert_eq!(verdict_of(&rows, "READ", "TOPIC:orders"), Verdict::Warn);
    }

    #[test]
    fn over_privilege_warnings() {
        let plan = target_plan(false, false);
        let privilege = |ev: &Evidence| privilege_row(&plan, ev).map(|r| (r.verdict, r.detail));
        let mut acls = full_acls();
        let (v, _) = privilege(&acl_evidence(acls.clone())).unwrap();
        assert_eq!(v, Verdict::Pass);
        acls.push(allow(
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
            Operation::All,
        ));
        let (v, d) = privilege(&acl_evidence(acls.clone())).unwrap();
        assert_eq!(v, Verdict::Warn);
        assert!(d.contains("ALLOW ALL on the cluster"), "{d}");
        // The same principal seen through KIP-430.
        let (v, d) = privilege(&broker_answers(&plan, &acls)).unwrap();
        assert_eq!(v, Verdict::Warn);
        assert!(d.contains("every cluster operation"), "{d}");
        let mut ev = Evidence::new(Ok(ME.into()));
        ev.authorized.insert(
            (ResourceType::Cluster, CLUSTER_RESOURCE_NAME.into()),
            Ok(AuthorizedOps::Listed(vec![
                Operation::Alter,
                Operation::Describe,
            ])),
        );
        let (v, d) = privilege(&ev).unwrap();
        assert_eq!((v, d.contains("ALTER")), (Verdict::Warn, true), "{d}");
        // A warning does not fail the report.
        let ev = Evidence {
            acls: Some(Ok(acls.clone())),
            ..broker_answers(&plan, &acls)
        };
        let report = Report {
            rows: evaluate(&plan, &ev),
            accept_unverified: false,
        };
        assert!(report.rows.iter().any(|r| r.verdict == Verdict::Warn));
        assert!(report.passed(), "{}", report.to_table());
        assert!(privilege(&Evidence::new(Ok(ME.into()))).is_none());
    }

    fn sample_report() -> Report {
        let mut rows = evaluate(&source_plan(), &acl_evidence(full_acls()[1..].to_vec()));
        rows.extend(evaluate(
            &target_plan(true, true),
            &Evidence::new(Err("unknown".into())),
        ));
        Report {
            rows,
            accept_unverified: false,
        }
    }

    #[test]
    fn json_carries_the_table_rows() {
        let report = sample_report();
        let json = report.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["passed"], serde_json::json!(false));
        assert_eq!(value["rows"][0]["verdict"], serde_json::json!("FAIL"));
        assert_eq!(value["rows"][0]["side"], serde_json::json!("source"));
        let back = Report::from_json(&json).unwrap();
        assert_eq!(back, report);
        assert_eq!(
            back.render(OutputFormat::Table),
            report.render(OutputFormat::Table)
        );
        assert_eq!(report.render(OutputFormat::Json), json);
    }

    #[test]
    fn table_columns_align() {
        let report = sample_report();
        let table = report.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), report.rows.len() + 2, "header, rows, result");
        assert!(lines[0].starts_with("SIDE"));
        assert_eq!(*lines.last().unwrap(), "result: FAIL");
        let starts = |line: &str, cell: &str| line.find(cell).unwrap();
        let header = ["PRINCIPAL", "CHECK", "RESOURCE", "VERDICT", "DETAIL"];
        let columns: Vec<usize> = header.iter().map(|h| starts(lines[0], h)).collect();
        for (line, row) in lines[1..].iter().zip(&report.rows) {
            let cells = [
                &row.principal,
                &row.check,
                &row.resource,
                &row.verdict.to_string(),
                &row.detail,
            ];
            let mut at = 0;
            for (col, cell) in columns.iter().zip(cells) {
                let found = at + line[at..].find(cell.as_str()).unwrap();
                assert_eq!(found, *col, "{line}");
                at = found + cell.len();
            }
            assert_eq!(line.trim_end(), *line, "no trailing blanks");
        }
    }

    fn row(cluster: &str, check: &str, verdict: Verdict) -> CheckRow {
        CheckRow {
            side: if cluster == "target" {
                Side::Target
            } else {
                Side::Source
            },
            cluster: cluster.into(),
            principal: ME.into(),
            check: check.into(),
            resource: "TOPIC:orders".into(),
            verdict,
            detail: format!("needed to test: {check}"),
        }
    }

    #[test]
    fn gate_refuses_fail_and_unverified_except_on_plaintext() {
        let plaintext = BTreeSet::from(["source".to_string()]);
        let mut report = Report {
            rows: vec![
                row("source", "READ", Verdict::Unverified),
                row("target", "PRIVILEGE", Verdict::Warn),
                row("target", "DESCRIBE", Verdict::Pass),
            ],
            accept_unverified: false,
        };
        // UNVERIFIED on a PLAINTEXT cluster and WARN are logged, not fatal.
        let tolerated = gate(&report, &plaintext).unwrap();
        assert_eq!(
            tolerated
                .iter()
                .map(|(t, r)| (*t, r.check.as_str()))
                .collect::<Vec<_>>(),
            [
                (Tolerated::PlaintextUnverified, "READ"),
                (Tolerated::Warning, "PRIVILEGE")
            ]
        );
        // The same row on a secured cluster refuses the run, with the fix.
        let err = gate(&report, &BTreeSet::new()).unwrap_err().to_string();
        assert!(err.contains("start-up checks failed"), "{err}");
        assert!(err.contains("--accept.unverified.acls"), "{err}");
        assert!(err.contains("needed to test: READ"), "{err}");
        assert!(!err.contains("PRIVILEGE"), "only failing rows: {err}");
        assert!(!err.contains("result: "), "{err}");
        report.accept_unverified = true;
        let tolerated = gate(&report, &BTreeSet::new()).unwrap();
        assert_eq!(tolerated[0].0, Tolerated::AcceptedUnverified);
        // FAIL refuses whatever the flags and protocol.
        report.rows.push(row("source", "WRITE", Verdict::Fail));
        let err = gate(&report, &plaintext).unwrap_err().to_string();
        assert!(err.contains("needed to test: WRITE"), "{err}");
        assert!(
            !err.contains("UNVERIFIED rows:"),
            "no UNVERIFIED hint without UNVERIFIED rows: {err}"
        );
    }

    #[test]
    fn plaintext_warnings_are_one_line_per_cluster() {
        let tolerated = vec![
            (
                Tolerated::PlaintextUnverified,
                row("source", "READ", Verdict::Unverified),
            ),
            (
                Tolerated::PlaintextUnverified,
                row("source", "DESCRIBE", Verdict::Unverified),
            ),
            (
                Tolerated::Warning,
                row("target", "PRIVILEGE", Verdict::Warn),
            ),
            (
                Tolerated::AcceptedUnverified,
                row("target", "WRITE", Verdict::Unverified),
            ),
        ];
        let lines = tolerated_warnings(&tolerated);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].starts_with("target: User:mirror PRIVILEGE TOPIC:orders"));
        assert!(lines[1].contains("WRITE TOPIC:orders not verified (--accept.unverified.acls)"));
        assert!(
            lines[2].starts_with("source: PLAINTEXT cluster (--allow.plaintext): 2 ACL check(s)")
                && lines[2].contains("READ TOPIC:orders, DESCRIBE TOPIC:orders")
                && lines[2].contains("needed to test: READ"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn authorization_errors_name_the_missing_permission() {
        use crate::config::translate::{Role, StartPolicy};
        use rdkafka::types::RDKafkaErrorCode as C;
        let cluster = |role, group: Option<&str>| ClusterConfig {
            label: "target".into(),
            path: "p.properties".into(),
            role,
            bootstrap: "b:9092".into(),
            group_id: group.map(String::from),
            settings: Vec::new(),
            security: Auth::Plain {
                credentials: UserPassword {
                    username: "mirror".into(),
                    password: "pw".to_string().into(),
                },
                tls: None,
            },
            start: StartPolicy::Earliest,
            notes: Vec::new(),
            warnings: Vec::new(),
            principal: Default::default(),
        };
        let target = cluster(Role::Producer, None);
        let h = missing_permission_hint(&target, C::TopicAuthorizationFailed, "orders").unwrap();
        assert!(
            h.starts_with("target: principal User:mirror is missing WRITE on TOPIC:orders"),
            "{h}"
        );
        assert!(
            h.contains("--allow-principal User:mirror --operation Write --topic orders"),
            "{h}"
        );
        let h = missing_permission_hint(&target, C::ClusterAuthorizationFailed, "orders").unwrap();
        assert!(
            h.contains("IDEMPOTENT_WRITE on CLUSTER:kafka-cluster")
                && h.contains("--operation IdempotentWrite --cluster"),
            "{h}"
        );
        assert!(missing_permission_hint(&target, C::MessageSizeTooLarge, "orders").is_none());
        let source = cluster(Role::Consumer, Some("mm"));
        let h = missing_permission_hint(&source, C::GroupAuthorizationFailed, "orders").unwrap();
        assert!(
            h.contains("READ on GROUP:mm") && h.contains("--group mm"),
            "{h}"
        );
    }

    #[test]
    fn principals_from_security_settings() {
        let tls = Some(TlsSettings::default());
        let base = Auth::Gssapi {
            kerberos: KerberosSettings {
                service_name: "kafka".into(),
                principal: Some("mirror/host.example.com@EXAMPLE.COM".into()),
                ..Default::default()
            },
            tls: tls.clone(),
        };
        assert_eq!(acl_principal(&base), Ok("User:mirror".into()));
        let s = Auth::Gssapi {
            kerberos: KerberosSettings::default(),
            tls: tls.clone(),
        };
        assert!(acl_principal(&s)
            .unwrap_err()
            .contains("sasl.kerberos.principal"));
        let s = Auth::Scram {
            hash: ScramHash::Sha512,
            credentials: UserPassword {
                username: "alice".into(),
                password: "secret".to_string().into(),
            },
            tls,
        };
        assert_eq!(acl_principal(&s), Ok("User:alice".into()));
        let s = Auth::Ssl(TlsSettings::default());
        assert_eq!(acl_principal(&s), Ok("User:ANONYMOUS".into()));
        let s = Auth::Ssl(TlsSettings {
            certificate_location: Some("client.pem".into()),
            ..TlsSettings::default()
        });
        assert!(acl_principal(&s).unwrap_err().contains("CN="));
    }
}
