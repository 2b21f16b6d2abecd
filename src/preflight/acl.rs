//! Kafka ACL semantics: the data model of CreateAcls/DescribeAcls/DeleteAcls
//! and an authorizer that reaches the same verdicts as Apache Kafka's
//! `AclAuthorizer` (ZooKeeper) and `StandardAuthorizer` (KRaft).
//!
//! `kmirror check` evaluates the ACLs a cluster reports for kmirror's
//! principal with [`Authorizer`]. A verdict that differed from a real
//! broker's would make the check lie, so every rule below follows Kafka's
//! code, including its asymmetries (a DENY of READ does not deny DESCRIBE;
//! an ALLOW of READ does allow it). The test rig's listener stores ACLs in
//! this data model but enforces them with its own, independently written
//! authorizer, so rig tests do not compare this evaluator with itself; both
//! must pass the Kafka case table `rig/acl-cases.json`
//! (`rig/tests/acl_cases.rs`).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::security::principal::{KafkaPrincipal, PrincipalError};

/// The resource name (LITERAL) and host that match every resource or host.
pub const WILDCARD: &str = "*";

/// The principal that matches every principal in an ACL.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// The only valid name of the CLUSTER resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// The value Kafka puts in an `authorized_operations` field the client did
/// not ask for (KIP-430).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Errors from parsing names and validating bindings, filters and settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// A string did not name any value of the enum.
    #[error("unknown {kind} `{value}`")]
    UnknownName {
        /// Which enum was being parsed (`operation`, `resource type`, …).
        kind: &'static str,
        /// The rejected text.
        value: String,
    },
    /// A binding's resource type was UNKNOWN or ANY.
    #[error("invalid ACL binding: resource_type {0} is not a concrete resource type")]
    InvalidResourceType(ResourceType),
    /// A binding's pattern type was not LITERAL or PREFIXED.
    #[error("invalid ACL binding: pattern_type {0} is not allowed (only LITERAL or PREFIXED)")]
    InvalidPatternType(PatternType),
    /// A binding's operation was UNKNOWN or ANY.
    #[error("invalid ACL binding: operation {0} is not a concrete operation")]
    InvalidOperation(Operation),
    /// A binding's permission was not ALLOW or DENY.
    #[error("invalid ACL binding: permission {0} is not allowed (only ALLOW or DENY)")]
    InvalidPermission(Permission),
    /// A binding's resource name was empty.
    #[error("invalid ACL binding: resource_name must not be empty")]
    EmptyResourceName,
    /// A CLUSTER binding named something other than `kafka-cluster`.
    #[error(
        "invalid ACL binding: resource_name `{0}` is not valid for CLUSTER; \
         the only valid name for the CLUSTER resource is kafka-cluster"
    )]
    InvalidClusterName(String),
    /// A binding's principal was not `Type:name`.
    #[error("invalid ACL binding: principal: {0}")]
    InvalidPrincipal(#[source] PrincipalError),
    /// A DescribeAcls/DeleteAcls filter had an UNKNOWN field, which Kafka
    /// rejects because the filter's meaning would be unclear.
    #[error("invalid ACL filter: {field} is UNKNOWN")]
    UnknownFilterField {
        /// The filter field holding UNKNOWN.
        field: &'static str,
    },
    /// An entry of `super.users` was not `Type:name`.
    #[error("invalid super.users entry: {0}")]
    InvalidSuperUser(#[source] PrincipalError),
}

impl AclError {
    /// The binding or filter field the error is about, for reports that
    /// point at the offending field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AclError::UnknownName { .. } | AclError::InvalidSuperUser(_) => None,
            AclError::InvalidResourceType(_) => Some("resource_type"),
            AclError::InvalidPatternType(_) => Some("pattern_type"),
            AclError::InvalidOperation(_) => Some("operation"),
            AclError::InvalidPermission(_) => Some("permission"),
            AclError::EmptyResourceName | AclError::InvalidClusterName(_) => Some("resource_name"),
            AclError::InvalidPrincipal(_) => Some("principal"),
            AclError::UnknownFilterField { field } => Some(field),
        }
    }
}

/// Upper-cases and drops `_`/`-` so Kafka's names (`DESCRIBE_CONFIGS`) and
/// `kafka-acls.sh`'s (`DescribeConfigs`) compare equal.
fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Declares one of Kafka's byte-coded ACL enums with its wire codes, names,
/// `Display` and a case-insensitive `FromStr`; the four enums differ only in
/// their tables, and a single definition keeps codes and names in step.
macro_rules! kafka_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal,
        { $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in wire-code order.
            pub const VALUES: &'static [$name] = &[$($name::$variant),+];

            /// The value's Kafka wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),+ }
            }

            /// The value for a wire code, or `None` for a code this build
            /// does not know (Kafka would map it to UNKNOWN).
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The name Kafka prints, e.g. `DESCRIBE_CONFIGS`.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = AclError;

            /// Accepts Kafka's names and `kafka-acls.sh` spellings in any
            /// case: `DESCRIBE_CONFIGS`, `DescribeConfigs`, `describe-configs`.
            fn from_str(s: &str) -> Result<Self, AclError> {
                let wanted = normalise_name(s.trim());
                Self::VALUES
                    .iter()
                    .copied()
                    .find(|v| normalise_name(v.name()) == wanted)
                    .ok_or_else(|| AclError::UnknownName { kind: $kind, value: s.to_string() })
            }
        }
    };
}

kafka_enum! {
    /// The kind of resource an ACL protects (`org.apache.kafka.common.resource.ResourceType`).
    ResourceType, "resource type", {
        /// A type this build does not understand.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, any resource type.
        Any = 1 => "ANY",
        /// A topic.
        Topic = 2 => "TOPIC",
        /// A consumer group.
        Group = 3 => "GROUP",
        /// The cluster itself (named `kafka-cluster`).
        Cluster = 4 => "CLUSTER",
        /// A transactional id.
        TransactionalId = 5 => "TRANSACTIONAL_ID",
        /// A delegation token.
        DelegationToken = 6 => "DELEGATION_TOKEN",
        /// A user (for delegation tokens on behalf of others).
        User = 7 => "USER",
    }
}

kafka_enum! {
    /// An operation an ACL allows or denies (`AclOperation`).
    Operation, "operation", {
        /// An operation this build does not understand.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, any operation.
        Any = 1 => "ANY",
        /// In an ACL, every operation.
        All = 2 => "ALL",
        /// Read.
        Read = 3 => "READ",
        /// Write.
        Write = 4 => "WRITE",
        /// Create.
        Create = 5 => "CREATE",
        /// Delete.
        Delete = 6 => "DELETE",
        /// Alter.
        Alter = 7 => "ALTER",
        /// Describe.
        Describe = 8 => "DESCRIBE",
        /// Inter-broker cluster actions.
        ClusterAction = 9 => "CLUSTER_ACTION",
        /// Describe configs.
        DescribeConfigs = 10 => "DESCRIBE_CONFIGS",
        /// Alter configs.
        AlterConfigs = 11 => "ALTER_CONFIGS",
        /// Idempotent produce.
        IdempotentWrite = 12 => "IDEMPOTENT_WRITE",
        /// Create delegation tokens.
        CreateTokens = 13 => "CREATE_TOKENS",
        /// Describe delegation tokens.
        DescribeTokens = 14 => "DESCRIBE_TOKENS",
    }
}

kafka_enum! {
    /// How an ACL's resource name is matched (`PatternType`).
    PatternType, "pattern type", {
        /// A pattern type this build does not understand.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, any pattern type with the exact name.
        Any = 1 => "ANY",
        /// In a filter, every pattern that would match the named resource.
        Match = 2 => "MATCH",
        /// The exact name, or `*` for every resource.
        Literal = 3 => "LITERAL",
        /// Every resource whose name starts with the pattern.
        Prefixed = 4 => "PREFIXED",
    }
}

kafka_enum! {
    /// Whether an ACL allows or denies (`AclPermissionType`).
    Permission, "permission", {
        /// A permission this build does not understand.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, either permission.
        Any = 1 => "ANY",
        /// Deny; wins over any ALLOW.
        Deny = 2 => "DENY",
        /// Allow.
        Allow = 3 => "ALLOW",
    }
}

/// The operations that can be authorized on a resource type; the KIP-430
/// `authorized_operations` bitfield is computed over exactly these
/// (Kafka's `AclEntry.supportedOperations`).
pub fn supported_operations(resource_type: ResourceType) -> &'static [Operation] {
    use Operation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Delete, Describe],
        ResourceType::Cluster => &[
            Create,
            Alter,
            Describe,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
        ],
        ResourceType::TransactionalId => &[Write, Describe],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Unknown | ResourceType::Any => &[],
    }
}

/// Packs operations into a KIP-430 bitfield (`1 << code` per operation), as
/// Kafka's `Utils.to32BitField` does.
pub fn operations_to_bits(operations: &[Operation]) -> i32 {
    operations
        .iter()
        .fold(0, |bits, op| bits | (1 << op.code()))
}

/// Unpacks a KIP-430 bitfield into operations in code order, dropping bits
/// that are not concrete operations (UNKNOWN, ANY, ALL, unknown codes) just
/// as Kafka's admin client does. [`AUTHORIZED_OPERATIONS_OMITTED`] therefore
/// yields an empty list.
pub fn operations_from_bits(bits: i32) -> Vec<Operation> {
    (0..31i8)
        .filter(|code| bits & (1 << code) != 0)
        .filter_map(Operation::from_code)
        .filter(|op| !matches!(op, Operation::Unknown | Operation::Any | Operation::All))
        .collect()
}

/// Whether an ALLOW ACL for `granted` permits `requested`: ALL permits
/// everything, READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies
/// DESCRIBE_CONFIGS. Implication never applies to DENY ACLs.
fn allow_implies(granted: Operation, requested: Operation) -> bool {
    use Operation::*;
    granted == All
        || granted == requested
        || (requested == Describe && matches!(granted, Read | Write | Delete | Alter))
        || (requested == DescribeConfigs && granted == AlterConfigs)
}

/// One ACL: a resource pattern plus an access-control entry, as carried by
/// CreateAcls and returned by DescribeAcls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AclBinding {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource name or prefix; `*` with LITERAL means every resource.
    pub resource_name: String,
    /// LITERAL or PREFIXED in a valid binding.
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`; `User:*` matches everyone.
    pub principal: String,
    /// A client IP address, or `*` for every host.
    pub host: String,
    /// The operation allowed or denied.
    pub operation: Operation,
    /// ALLOW or DENY.
    pub permission: Permission,
}

impl AclBinding {
    /// Builds a binding; call [`AclBinding::validate`] (or
    /// [`Authorizer::add`]) before trusting it.
    pub fn new(
        resource_type: ResourceType,
        resource_name: &str,
        pattern_type: PatternType,
        principal: &str,
        host: &str,
        operation: Operation,
        permission: Permission,
    ) -> Self {
        Self {
            resource_type,
            resource_name: resource_name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        }
    }

    /// Checks the binding as a broker does on CreateAcls (KafkaApis plus
    /// `AclControlManager.validateNewAcl`): concrete resource type, pattern
    /// type, operation and permission; a non-empty name; `kafka-cluster` for
    /// CLUSTER; a `Type:name` principal. Kafka checks nothing about the host.
    pub fn validate(&self) -> Result<(), AclError> {
        if matches!(
            self.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return Err(AclError::InvalidResourceType(self.resource_type));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(AclError::InvalidPatternType(self.pattern_type));
        }
        if matches!(self.operation, Operation::Unknown | Operation::Any) {
            return Err(AclError::InvalidOperation(self.operation));
        }
        if !matches!(self.permission, Permission::Allow | Permission::Deny) {
            return Err(AclError::InvalidPermission(self.permission));
        }
        if self.resource_name.is_empty() {
            return Err(AclError::EmptyResourceName);
        }
        if self.resource_type == ResourceType::Cluster
            && self.resource_name != CLUSTER_RESOURCE_NAME
        {
            return Err(AclError::InvalidClusterName(self.resource_name.clone()));
        }
        KafkaPrincipal::parse(&self.principal).map_err(AclError::InvalidPrincipal)?;
        Ok(())
    }

    /// Whether this binding's pattern covers the concrete resource
    /// `resource_type`/`name`: the exact LITERAL name, the LITERAL `*`, or a
    /// PREFIXED pattern the name starts with.
    pub fn matches_resource(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == name || self.resource_name == WILDCARD
                }
                PatternType::Prefixed => name.starts_with(&self.resource_name),
                _ => false,
            }
    }

    /// Whether this binding's entry applies to a request by `principal` from
    /// `host`: same principal or `User:*`, same host or `*`.
    fn matches_requester(&self, principal: &str, host: &str) -> bool {
        (self.principal == principal || self.principal == WILDCARD_PRINCIPAL)
            && (self.host == host || self.host == WILDCARD)
    }
}

impl fmt::Display for AclBinding {
    /// Kafka's `AclBinding.toString`, so operators can grep broker logs
    /// and `kafka-acls.sh` output for the same text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(pattern=ResourcePattern(resourceType={}, name={}, patternType={}), \
             entry=(principal={}, host={}, operation={}, permissionType={}))",
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission
        )
    }
}

/// A DescribeAcls/DeleteAcls filter. `None`, `Any` and (for the pattern)
/// `Match` widen it; every other value must equal the binding's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AclBindingFilter {
    /// A resource type, or ANY.
    pub resource_type: ResourceType,
    /// A resource name, or `None` for any.
    pub resource_name: Option<String>,
    /// LITERAL/PREFIXED (exact), ANY (either, exact name) or MATCH (every
    /// pattern that covers `resource_name`).
    pub pattern_type: PatternType,
    /// An exact principal string (`User:*` matches only wildcard ACLs), or
    /// `None` for any.
    pub principal: Option<String>,
    /// An exact host (`*` matches only wildcard ACLs), or `None` for any.
    pub host: Option<String>,
    /// An operation, or ANY.
    pub operation: Operation,
    /// A permission, or ANY.
    pub permission: Permission,
}

impl AclBindingFilter {
    /// The filter that matches every binding.
    pub fn any() -> Self {
        Self {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    /// The filter that matches exactly `binding` (Kafka's `toFilter`).
    pub fn exact(binding: &AclBinding) -> Self {
        Self {
            resource_type: binding.resource_type,
            resource_name: Some(binding.resource_name.clone()),
            pattern_type: binding.pattern_type,
            principal: Some(binding.principal.clone()),
            host: Some(binding.host.clone()),
            operation: binding.operation,
            permission: binding.permission,
        }
    }

    /// Rejects filters with an UNKNOWN field, as DescribeAcls and DeleteAcls
    /// do, since such a filter could silently match nothing.
    pub fn validate(&self) -> Result<(), AclError> {
        let unknown = |field| Err(AclError::UnknownFilterField { field });
        if self.resource_type == ResourceType::Unknown {
            return unknown("resource_type");
        }
        if self.pattern_type == PatternType::Unknown {
            return unknown("pattern_type");
        }
        if self.operation == Operation::Unknown {
            return unknown("operation");
        }
        if self.permission == Permission::Unknown {
            return unknown("permission");
        }
        Ok(())
    }

    /// Kafka's `ResourcePatternFilter.matches` and
    /// `AccessControlEntryFilter.matches` combined.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(binding) && self.matches_entry(binding)
    }

    fn matches_pattern(&self, binding: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != binding.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != binding.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == binding.pattern_type {
            return *name == binding.resource_name;
        }
        // MATCH: the binding's pattern would apply to the resource `name`.
        match binding.pattern_type {
            PatternType::Literal => {
                *name == binding.resource_name || binding.resource_name == WILDCARD
            }
            PatternType::Prefixed => name.starts_with(&binding.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, binding: &AclBinding) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == binding.principal)
            && self.host.as_ref().is_none_or(|h| *h == binding.host)
            && (self.operation == Operation::Any || self.operation == binding.operation)
            && (self.permission == Permission::Any || self.permission == binding.permission)
    }
}

/// The verdict of [`Authorizer::authorize`], with the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Decision {
    /// The operation is permitted.
    Allowed {
        /// The super-user rule, ACL or default that allowed it.
        reason: String,
    },
    /// The operation is refused.
    Denied {
        /// The DENY ACL, missing ALLOW or default that refused it.
        reason: String,
    },
}

impl Decision {
    /// Whether the verdict is [`Decision::Allowed`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// The explanation of the verdict.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allowed { reason } | Decision::Denied { reason } => reason,
        }
    }
}

/// Parses Kafka's `super.users` value: `;`-separated `Type:name` entries,
/// blanks ignored.
pub fn parse_super_users(value: &str) -> Result<HashSet<String>, AclError> {
    value
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            KafkaPrincipal::parse(s)
                .map(|p| p.to_string())
                .map_err(AclError::InvalidSuperUser)
        })
        .collect()
}

/// An ACL store with Kafka's authorization rules.
///
/// The store is a plain vector: the ACL sets this engine sees (one cluster's
/// DescribeAcls answer, a test rig's fixtures) are small, and a linear scan
/// keeps the rules easy to audit against Kafka's.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    /// Validated bindings, unique, in insertion order.
    acls: Vec<AclBinding>,
    /// Principals (`User:admin`) allowed everything (`super.users`).
    pub super_users: HashSet<String>,
    /// Kafka's `allow.everyone.if.no.acl.found`: allow when no ACL at all
    /// covers the resource. Off by default, as in Kafka.
    pub allow_everyone_if_no_acl_found: bool,
}

impl Authorizer {
    /// An authorizer with no ACLs, no super users and default-deny.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored binding, in insertion order.
    pub fn acls(&self) -> &[AclBinding] {
        &self.acls
    }

    /// Stores a binding after CreateAcls validation; adding a binding that
    /// already exists succeeds and changes nothing, as in Kafka.
    pub fn add(&mut self, binding: AclBinding) -> Result<(), AclError> {
        binding.validate()?;
        if !self.acls.contains(&binding) {
            self.acls.push(binding);
        }
        Ok(())
    }

    /// The bindings matching `filter` (DescribeAcls).
    pub fn describe(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.acls
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    /// Deletes the bindings matching `filter` and returns them (DeleteAcls).
    pub fn remove(&mut self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let (removed, kept) = std::mem::take(&mut self.acls)
            .into_iter()
            .partition(|b| filter.matches(b));
        self.acls = kept;
        removed
    }

    /// Decides whether `principal` (`User:alice`) connecting from `host`
    /// may perform `operation` on the resource `resource_type`/`resource_name`.
    ///
    /// Order, as in Kafka: super users; then, among ACLs whose pattern
    /// covers the resource, any DENY for the operation or ALL wins; then an
    /// ALLOW for the operation, ALL or an implying operation; then, if no
    /// ACL covers the resource at all, `allow.everyone.if.no.acl.found`.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> Decision {
        let request =
            format!("{operation} on {resource_type} `{resource_name}` by {principal} from {host}");
        if self.super_users.contains(principal) {
            return Decision::Allowed {
                reason: format!("{request}: {principal} is a super user"),
            };
        }
        let covering: Vec<&AclBinding> = self
            .acls
            .iter()
            .filter(|b| b.matches_resource(resource_type, resource_name))
            .collect();
        if covering.is_empty() {
            let reason = format!(
                "{request}: no ACL exists for the resource and \
                 allow.everyone.if.no.acl.found={}",
                self.allow_everyone_if_no_acl_found
            );
            return if self.allow_everyone_if_no_acl_found {
                Decision::Allowed { reason }
            } else {
                Decision::Denied { reason }
            };
        }
        let applicable = || {
            covering
                .iter()
                .filter(move |b| b.matches_requester(principal, host))
        };
        if let Some(deny) = applicable().find(|b| {
            b.permission == Permission::Deny
                && (b.operation == Operation::All || b.operation == operation)
        }) {
            return Decision::Denied {
                reason: format!("{request}: denied by ACL {deny}"),
            };
        }
        if let Some(allow) = applicable()
            .find(|b| b.permission == Permission::Allow && allow_implies(b.operation, operation))
        {
            let implied = if allow.operation != operation && allow.operation != Operation::All {
                format!(" ({} implies {operation})", allow.operation)
            } else {
                String::new()
            };
            return Decision::Allowed {
                reason: format!("{request}: allowed by ACL {allow}{implied}"),
            };
        }
        Decision::Denied {
            reason: format!(
                "{request}: no ACL allows it ({} ACL(s) cover the resource, none grants this)",
                covering.len()
            ),
        }
    }

    /// The KIP-430 `authorized_operations` bitfield for a resource: bit
    /// `1 << code` for every operation in [`supported_operations`] that
    /// [`Authorizer::authorize`] allows.
    pub fn authorized_operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> i32 {
        let allowed: Vec<Operation> = supported_operations(resource_type)
            .iter()
            .copied()
            .filter(|op| {
                self.authorize(principal, host, *op, resource_type, resource_name)
                    .is_allowed()
            })
            .collect();
        operations_to_bits(&allowed)
    }

    /// Why `principal` from `host` holds more power than mirroring needs, if
    /// it does: it is a super user, or an effective ALLOW ALL on the cluster,
    /// or an effective ALLOW ALL on every topic (LITERAL `*`). A mirror
    /// principal with such rights can delete or rewrite any topic if its
    /// keytab leaks, so `kmirror check` warns.
    pub fn is_over_privileged(&self, principal: &str, host: &str) -> Option<String> {
        if self.super_users.contains(principal) {
            return Some(format!(
                "{principal} is listed in super.users, so every ACL check is bypassed"
            ));
        }
        let checks = [
            (ResourceType::Cluster, CLUSTER_RESOURCE_NAME, "the cluster"),
            (ResourceType::Topic, WILDCARD, "every topic"),
        ];
        checks.into_iter().find_map(|(resource_type, name, what)| {
            let grant = self.acls.iter().find(|b| {
                b.resource_type == resource_type
                    && b.pattern_type == PatternType::Literal
                    && b.resource_name == name
                    && b.permission == Permission::Allow
                    && b.operation == Operation::All
                    && b.matches_requester(principal, host)
            })?;
            // A DENY ALL alongside cancels the grant; only effective power counts.
            self.authorize(principal, host, Operation::All, resource_type, name)
                .is_allowed()
                .then(|| format!("{principal} has ALLOW ALL on {what} via ACL {grant}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Operation as Op;
    use PatternType::{Literal, Prefixed};
    use Permission::{Allow, Deny};
    use ResourceType as Rt;

    const ALICE: &str = "User:alice";
    const BOB: &str = "User:bob";
    const HOST: &str = "10.0.0.1";
    const OTHER_HOST: &str = "10.0.0.2";

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        principal: &str,
        host: &str,
        op: Operation,
        perm: Permission,
    ) -> AclBinding {
        AclBinding::new(rt, name, pt, principal, host, op, perm)
    }

    fn topic_allow(name: &str, pt: PatternType, op: Operation) -> AclBinding {
        acl(Rt::Topic, name, pt, ALICE, "*", op, Allow)
    }

    fn topic_deny(name: &str, pt: PatternType, op: Operation) -> AclBinding {
        acl(Rt::Topic, name, pt, ALICE, "*", op, Deny)
    }

    fn authorizer(acls: Vec<AclBinding>) -> Authorizer {
        let mut a = Authorizer::new();
        for b in acls {
            a.add(b).expect("valid test ACL");
        }
        a
    }

    /// Parses `PERMISSION OPERATION RESOURCE_TYPE PATTERN_TYPE name
    /// [principal [host]]` (principal defaults to alice, host to `*`), so the
    /// matrix below reads like `kafka-acls.sh --list` output.
    fn spec(s: &str) -> AclBinding {
        let t: Vec<&str> = s.split_whitespace().collect();
        acl(
            t[2].parse().unwrap(),
            t[4],
            t[3].parse().unwrap(),
            t.get(5).copied().unwrap_or(ALICE),
            t.get(6).copied().unwrap_or("*"),
            t[1].parse().unwrap(),
            t[0].parse().unwrap(),
        )
    }

    /// Each row: case name | ACLs (`;`-separated [`spec`]s) | `OPERATION
    /// RESOURCE_TYPE name` requested by alice from `HOST` | Kafka's verdict.
    const MATRIX: &[&str] = &[
        "literal grant | ALLOW READ TOPIC LITERAL orders | READ TOPIC orders | allow",
        "literal, other topic | ALLOW READ TOPIC LITERAL orders | READ TOPIC orders-eu | deny",
        "literal, other op | ALLOW READ TOPIC LITERAL orders | WRITE TOPIC orders | deny",
        "prefixed grant | ALLOW READ TOPIC PREFIXED orders- | READ TOPIC orders-eu | allow",
        "prefixed, equal name | ALLOW READ TOPIC PREFIXED orders- | READ TOPIC orders- | allow",
        "prefixed, shorter name | ALLOW READ TOPIC PREFIXED orders- | READ TOPIC order | deny",
        "prefixed * is no wildcard | ALLOW READ TOPIC PREFIXED * | READ TOPIC orders | deny",
        "wildcard resource | ALLOW WRITE TOPIC LITERAL * | WRITE TOPIC anything | allow",
        "wildcard principal | ALLOW READ TOPIC LITERAL orders User:* | READ TOPIC orders | allow",
        "other principal | ALLOW READ TOPIC LITERAL orders User:bob | READ TOPIC orders | deny",
        "Group:* is no wildcard | ALLOW READ TOPIC LITERAL orders Group:* | READ TOPIC orders | deny",
        "host ACL, same host | ALLOW READ TOPIC LITERAL orders User:alice 10.0.0.1 | READ TOPIC orders | allow",
        "host ACL, other host | ALLOW READ TOPIC LITERAL orders User:alice 10.0.0.2 | READ TOPIC orders | deny",
        "deny beats allow | ALLOW READ TOPIC LITERAL orders; DENY READ TOPIC LITERAL orders | READ TOPIC orders | deny",
        "prefixed deny beats literal allow | ALLOW READ TOPIC LITERAL orders-eu; DENY READ TOPIC PREFIXED orders- | READ TOPIC orders-eu | deny",
        "wildcard deny beats literal allow | ALLOW READ TOPIC LITERAL orders; DENY READ TOPIC LITERAL * | READ TOPIC orders | deny",
        "deny ALL beats allow READ | ALLOW READ TOPIC LITERAL orders; DENY ALL TOPIC LITERAL orders | READ TOPIC orders | deny",
        "deny WRITE leaves READ | ALLOW READ TOPIC LITERAL orders; DENY WRITE TOPIC LITERAL orders | READ TOPIC orders | allow",
        "deny for other host | ALLOW READ TOPIC LITERAL orders; DENY READ TOPIC LITERAL orders User:alice 10.0.0.2 | READ TOPIC orders | allow",
        "deny for everyone | ALLOW READ TOPIC LITERAL orders; DENY READ TOPIC LITERAL orders User:* | READ TOPIC orders | deny",
        "allow ALL grants READ | ALLOW ALL TOPIC LITERAL orders | READ TOPIC orders | allow",
        "READ implies DESCRIBE | ALLOW READ TOPIC LITERAL orders | DESCRIBE TOPIC orders | allow",
        "WRITE implies DESCRIBE | ALLOW WRITE TOPIC LITERAL orders | DESCRIBE TOPIC orders | allow",
        "DELETE implies DESCRIBE | ALLOW DELETE TOPIC LITERAL orders | DESCRIBE TOPIC orders | allow",
        "ALTER implies DESCRIBE | ALLOW ALTER TOPIC LITERAL orders | DESCRIBE TOPIC orders | allow",
        "CREATE does not imply DESCRIBE | ALLOW CREATE TOPIC LITERAL orders | DESCRIBE TOPIC orders | deny",
        "DESCRIBE does not imply READ | ALLOW DESCRIBE TOPIC LITERAL orders | READ TOPIC orders | deny",
        "ALTER_CONFIGS implies DESCRIBE_CONFIGS | ALLOW ALTER_CONFIGS TOPIC LITERAL orders | DESCRIBE_CONFIGS TOPIC orders | allow",
        "DESCRIBE_CONFIGS: no ALTER_CONFIGS | ALLOW DESCRIBE_CONFIGS TOPIC LITERAL orders | ALTER_CONFIGS TOPIC orders | deny",
        "deny READ keeps implied DESCRIBE | ALLOW WRITE TOPIC LITERAL orders; DENY READ TOPIC LITERAL orders | DESCRIBE TOPIC orders | allow",
        "deny DESCRIBE beats implied DESCRIBE | ALLOW READ TOPIC LITERAL orders; DENY DESCRIBE TOPIC LITERAL orders | DESCRIBE TOPIC orders | deny",
        "no ACLs: default deny | | READ TOPIC orders | deny",
        "ACL on other topic only | ALLOW READ TOPIC LITERAL other | READ TOPIC orders | deny",
        "group literal | ALLOW READ GROUP LITERAL mirror-g | READ GROUP mirror-g | allow",
        "topic ACL is not a group's | ALLOW READ TOPIC LITERAL mirror-g | READ GROUP mirror-g | deny",
        "group prefixed | ALLOW READ GROUP PREFIXED kmirror- | DESCRIBE GROUP kmirror-eu | allow",
        "cluster DESCRIBE_CONFIGS | ALLOW DESCRIBE_CONFIGS CLUSTER LITERAL kafka-cluster | DESCRIBE_CONFIGS CLUSTER kafka-cluster | allow",
        "cluster IDEMPOTENT_WRITE | ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster | IDEMPOTENT_WRITE CLUSTER kafka-cluster | allow",
        "cluster CREATE missing | ALLOW DESCRIBE CLUSTER LITERAL kafka-cluster | CREATE CLUSTER kafka-cluster | deny",
        "transactional id | ALLOW WRITE TRANSACTIONAL_ID PREFIXED kmirror- | WRITE TRANSACTIONAL_ID kmirror-1 | allow",
    ];

    #[test]
    fn acl_matrix() {
        for row in MATRIX {
            let cols: Vec<&str> = row.split('|').map(str::trim).collect();
            let [name, acls, request, verdict] = cols[..] else {
                panic!("malformed row {row}")
            };
            let acls = acls.split(';').filter(|s| !s.trim().is_empty()).map(spec);
            let a = authorizer(acls.collect());
            let r: Vec<&str> = request.split_whitespace().collect();
            let (op, rt) = (r[0].parse().unwrap(), r[1].parse().unwrap());
            let d = a.authorize(ALICE, HOST, op, rt, r[2]);
            assert_eq!(
                d.is_allowed(),
                verdict == "allow",
                "case `{name}`: {}",
                d.reason()
            );
        }
    }

    #[test]
    fn super_user_is_allowed_everything() {
        let mut a = authorizer(vec![topic_deny("orders", Literal, Op::All)]);
        a.super_users.insert(ALICE.to_string());
        let d = a.authorize(ALICE, HOST, Op::Read, Rt::Topic, "orders");
        assert!(d.is_allowed());
        assert!(d.reason().contains("super user"), "{}", d.reason());
        assert!(!a
            .authorize(BOB, HOST, Op::Read, Rt::Topic, "orders")
            .is_allowed());
    }

    #[test]
    fn allow_everyone_if_no_acl_found() {
        let mut a = authorizer(vec![acl(
            Rt::Topic,
            "guarded",
            Literal,
            BOB,
            "*",
            Op::Read,
            Allow,
        )]);
        assert!(!a
            .authorize(ALICE, HOST, Op::Read, Rt::Topic, "open")
            .is_allowed());
        a.allow_everyone_if_no_acl_found = true;
        let open = a.authorize(ALICE, HOST, Op::Read, Rt::Topic, "open");
        assert!(open.is_allowed(), "{}", open.reason());
        assert!(open
            .reason()
            .contains("allow.everyone.if.no.acl.found=true"));
        // Any ACL on the resource, even for someone else, switches the default off.
        let guarded = a.authorize(ALICE, HOST, Op::Read, Rt::Topic, "guarded");
        assert!(!guarded.is_allowed(), "{}", guarded.reason());
        // An ACL for a different operation also counts as "an ACL found".
        a.add(topic_allow("open-", Prefixed, Op::Write)).unwrap();
        assert!(!a
            .authorize(ALICE, HOST, Op::Read, Rt::Topic, "open-1")
            .is_allowed());
    }

    #[test]
    fn reasons_name_the_deciding_acl() {
        let allow = topic_allow("orders", Literal, Op::Read);
        let deny = topic_deny("orders-", Prefixed, Op::Write);
        let a = authorizer(vec![allow.clone(), deny.clone()]);
        let d = a.authorize(ALICE, HOST, Op::Describe, Rt::Topic, "orders");
        assert!(d.reason().contains(&allow.to_string()), "{}", d.reason());
        assert!(
            d.reason().contains("READ implies DESCRIBE"),
            "{}",
            d.reason()
        );
        let d = a.authorize(ALICE, HOST, Op::Write, Rt::Topic, "orders-1");
        assert!(!d.is_allowed());
        assert!(d.reason().contains(&deny.to_string()), "{}", d.reason());
        let d = a.authorize(ALICE, HOST, Op::Write, Rt::Topic, "orders");
        assert!(d.reason().contains("no ACL allows"), "{}", d.reason());
        assert_eq!(
            allow.to_string(),
            "(pattern=ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL), \
             entry=(principal=User:alice, host=*, operation=READ, permissionType=ALLOW))"
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["verdict"], "denied");
    }

    #[test]
    fn authorized_operations_bitfields() {
        let a = authorizer(vec![
            topic_allow("orders", Literal, Op::Read),
            topic_allow("orders", Literal, Op::AlterConfigs),
            acl(Rt::Group, "g", Literal, ALICE, "*", Op::All, Allow),
            acl(Rt::Group, "g", Literal, ALICE, "*", Op::Delete, Deny),
        ]);
        let bits = a.authorized_operations(ALICE, HOST, Rt::Topic, "orders");
        assert_eq!(
            operations_from_bits(bits),
            vec![
                Op::Read,
                Op::Describe,
                Op::DescribeConfigs,
                Op::AlterConfigs
            ]
        );
        assert_eq!(bits, (1 << 3) | (1 << 8) | (1 << 10) | (1 << 11));
        let bits = a.authorized_operations(ALICE, HOST, Rt::Group, "g");
        assert_eq!(operations_from_bits(bits), vec![Op::Read, Op::Describe]);
        assert_eq!(a.authorized_operations(BOB, HOST, Rt::Topic, "orders"), 0);

        let mut su = Authorizer::new();
        su.super_users.insert(ALICE.into());
        for rt in Rt::VALUES {
            assert_eq!(
                su.authorized_operations(ALICE, HOST, *rt, CLUSTER_RESOURCE_NAME),
                operations_to_bits(supported_operations(*rt)),
                "{rt}"
            );
        }
    }

    #[test]
    fn operations_from_bits_drops_non_operations() {
        assert_eq!(operations_from_bits(0), Vec::<Operation>::new());
        assert_eq!(operations_from_bits(AUTHORIZED_OPERATIONS_OMITTED), vec![]);
        // UNKNOWN, ANY, ALL and codes past DESCRIBE_TOKENS are not operations.
        assert_eq!(
            operations_from_bits(0b111 | (1 << 20) | (1 << 3)),
            vec![Op::Read]
        );
        let concrete: Vec<Operation> = Op::VALUES[3..].to_vec();
        assert_eq!(
            operations_from_bits(operations_to_bits(&concrete)),
            concrete
        );
    }

    #[test]
    fn over_privilege() {
        let mut a = authorizer(vec![topic_allow("orders", Literal, Op::All)]);
        assert_eq!(a.is_over_privileged(ALICE, HOST), None);

        a.add(acl(
            Rt::Topic,
            "*",
            Literal,
            WILDCARD_PRINCIPAL,
            "*",
            Op::All,
            Allow,
        ))
        .unwrap();
        let why = a.is_over_privileged(ALICE, HOST).expect("ALL on * topics");
        assert!(why.contains("every topic"), "{why}");
        a.add(acl(Rt::Topic, "*", Literal, ALICE, "*", Op::All, Deny))
            .unwrap();
        assert_eq!(
            a.is_over_privileged(ALICE, HOST),
            None,
            "denied grant is not power"
        );

        let mut a = authorizer(vec![acl(
            Rt::Cluster,
            CLUSTER_RESOURCE_NAME,
            Literal,
            ALICE,
            HOST,
            Op::All,
            Allow,
        )]);
        let why = a.is_over_privileged(ALICE, HOST).expect("ALL on cluster");
        assert!(why.contains("the cluster"), "{why}");
        assert_eq!(a.is_over_privileged(ALICE, OTHER_HOST), None);
        assert_eq!(a.is_over_privileged(BOB, HOST), None);

        a.super_users.insert(BOB.into());
        assert!(a
            .is_over_privileged(BOB, HOST)
            .unwrap()
            .contains("super.users"));
    }

    #[test]
    fn filters_for_describe_and_delete() {
        let lit = topic_allow("orders", Literal, Op::Read);
        let star = acl(Rt::Topic, "*", Literal, BOB, "*", Op::Write, Allow);
        let pre = topic_deny("ord", Prefixed, Op::Write);
        let pre_other = topic_allow("pay", Prefixed, Op::Read);
        let group = acl(Rt::Group, "orders", Literal, ALICE, HOST, Op::Read, Allow);
        let a = authorizer(vec![
            lit.clone(),
            star.clone(),
            pre.clone(),
            pre_other.clone(),
            group.clone(),
        ]);

        let f = |rt, name: Option<&str>, pt| AclBindingFilter {
            resource_type: rt,
            resource_name: name.map(str::to_string),
            pattern_type: pt,
            ..AclBindingFilter::any()
        };
        let cases = vec![
            (
                "any",
                AclBindingFilter::any(),
                vec![&lit, &star, &pre, &pre_other, &group],
            ),
            (
                "topic any name",
                f(Rt::Topic, None, PatternType::Any),
                vec![&lit, &star, &pre, &pre_other],
            ),
            (
                "literal exact",
                f(Rt::Topic, Some("orders"), Literal),
                vec![&lit],
            ),
            (
                "literal * is exact",
                f(Rt::Topic, Some("*"), Literal),
                vec![&star],
            ),
            (
                "prefixed exact",
                f(Rt::Topic, Some("ord"), Prefixed),
                vec![&pre],
            ),
            (
                "prefixed does not match longer",
                f(Rt::Topic, Some("orders"), Prefixed),
                vec![],
            ),
            (
                "any pattern exact name",
                f(Rt::Any, Some("orders"), PatternType::Any),
                vec![&lit, &group],
            ),
            (
                "match",
                f(Rt::Topic, Some("orders"), PatternType::Match),
                vec![&lit, &star, &pre],
            ),
            (
                "match other",
                f(Rt::Topic, Some("payments"), PatternType::Match),
                vec![&star, &pre_other],
            ),
            (
                "match any type",
                f(Rt::Any, Some("orders"), PatternType::Match),
                vec![&lit, &star, &pre, &group],
            ),
            (
                "match without name",
                f(Rt::Topic, None, PatternType::Match),
                vec![&lit, &star, &pre, &pre_other],
            ),
            (
                "entry: principal + permission",
                AclBindingFilter {
                    principal: Some(ALICE.into()),
                    permission: Allow,
                    ..AclBindingFilter::any()
                },
                vec![&lit, &pre_other, &group],
            ),
            (
                "entry: host is exact, * only matches wildcard host",
                AclBindingFilter {
                    host: Some("*".into()),
                    operation: Op::Write,
                    ..AclBindingFilter::any()
                },
                vec![&star, &pre],
            ),
            (
                "entry: User:* only matches wildcard principal",
                AclBindingFilter {
                    principal: Some(WILDCARD_PRINCIPAL.into()),
                    ..AclBindingFilter::any()
                },
                vec![],
            ),
            ("exact", AclBindingFilter::exact(&group), vec![&group]),
            (
                "unknown field matches nothing",
                AclBindingFilter {
                    operation: Op::Unknown,
                    ..AclBindingFilter::any()
                },
                vec![],
            ),
        ];
        for (name, filter, want) in cases {
            let want: Vec<AclBinding> = want.into_iter().cloned().collect();
            assert_eq!(a.describe(&filter), want, "describe `{name}`");
            let mut b = a.clone();
            assert_eq!(b.remove(&filter), want, "remove `{name}`");
            assert_eq!(
                b.acls().len(),
                a.acls().len() - want.len(),
                "remove `{name}` kept the rest"
            );
            assert!(
                b.describe(&filter).is_empty(),
                "remove `{name}` left matches"
            );
        }
    }

    #[test]
    fn filter_validation_rejects_unknown() {
        assert_eq!(AclBindingFilter::any().validate(), Ok(()));
        let bad = [
            (
                AclBindingFilter {
                    resource_type: Rt::Unknown,
                    ..AclBindingFilter::any()
                },
                "resource_type",
            ),
            (
                AclBindingFilter {
                    pattern_type: PatternType::Unknown,
                    ..AclBindingFilter::any()
                },
                "pattern_type",
            ),
            (
                AclBindingFilter {
                    operation: Op::Unknown,
                    ..AclBindingFilter::any()
                },
                "operation",
            ),
            (
                AclBindingFilter {
                    permission: Permission::Unknown,
                    ..AclBindingFilter::any()
                },
                "permission",
            ),
        ];
        for (filter, field) in bad {
            let err = filter.validate().unwrap_err();
            assert_eq!(err.field(), Some(field), "{err}");
        }
    }

    #[test]
    fn add_is_idempotent_and_validates() {
        let mut a = Authorizer::new();
        a.add(topic_allow("orders", Literal, Op::Read)).unwrap();
        a.add(topic_allow("orders", Literal, Op::Read)).unwrap();
        assert_eq!(a.acls().len(), 1);
        let err = a
            .add(topic_allow("orders", PatternType::Match, Op::Read))
            .unwrap_err();
        assert_eq!(err, AclError::InvalidPatternType(PatternType::Match));
        assert_eq!(a.acls().len(), 1);
    }

    #[test]
    fn create_acls_validation() {
        let ok = topic_allow("orders", Literal, Op::Read);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            acl(
                Rt::Cluster,
                CLUSTER_RESOURCE_NAME,
                Prefixed,
                ALICE,
                "*",
                Op::Alter,
                Deny
            )
            .validate(),
            Ok(())
        );
        let with = |f: &dyn Fn(&mut AclBinding)| {
            let mut b = ok.clone();
            f(&mut b);
            b.validate().unwrap_err()
        };
        let cases: Vec<(AclError, &str)> = vec![
            (with(&|b| b.resource_type = Rt::Any), "resource_type"),
            (with(&|b| b.resource_type = Rt::Unknown), "resource_type"),
            (with(&|b| b.pattern_type = PatternType::Any), "pattern_type"),
            (
                with(&|b| b.pattern_type = PatternType::Match),
                "pattern_type",
            ),
            (
                with(&|b| b.pattern_type = PatternType::Unknown),
                "pattern_type",
            ),
            (with(&|b| b.operation = Op::Any), "operation"),
            (with(&|b| b.operation = Op::Unknown), "operation"),
            (with(&|b| b.permission = Permission::Any), "permission"),
            (with(&|b| b.permission = Permission::Unknown), "permission"),
            (with(&|b| b.resource_name.clear()), "resource_name"),
            (
                with(&|b| {
                    b.resource_type = Rt::Cluster;
                    b.resource_name = "my-cluster".into()
                }),
                "resource_name",
            ),
            (with(&|b| b.principal = "alice".into()), "principal"),
        ];
        for (err, field) in cases {
            assert_eq!(err.field(), Some(field), "{err}");
            assert!(
                err.to_string().contains(field),
                "message names field: {err}"
            );
        }
        let err = with(&|b| b.resource_type = Rt::Cluster);
        assert_eq!(err, AclError::InvalidClusterName("orders".into()));
        assert!(err.to_string().contains("kafka-cluster"));
    }

    #[test]
    fn super_users_config() {
        let set = parse_super_users(" User:admin ; User:kafka;;").unwrap();
        assert_eq!(
            set,
            HashSet::from(["User:admin".to_string(), "User:kafka".to_string()])
        );
        assert!(parse_super_users("").unwrap().is_empty());
        assert!(matches!(
            parse_super_users("User:a;admin"),
            Err(AclError::InvalidSuperUser(_))
        ));
    }

    fn check_enum<T>(values: &[T], names: &[&str])
    where
        T: Copy + fmt::Debug + PartialEq + fmt::Display + FromStr<Err = AclError> + Serialize,
        T: EnumCodes,
    {
        assert_eq!(values.len(), names.len());
        for (i, (v, name)) in values.iter().zip(names).enumerate() {
            assert_eq!(v.enum_code() as usize, i, "codes are dense from 0");
            assert_eq!(T::enum_from_code(v.enum_code()), Some(*v));
            assert_eq!(v.to_string(), *name);
            assert_eq!(name.parse::<T>(), Ok(*v));
            assert_eq!(name.to_lowercase().parse::<T>(), Ok(*v));
            // kafka-acls.sh spelling: DescribeConfigs, TransactionalId, Read.
            let camel: String = name
                .split('_')
                .map(|w| w[..1].to_string() + &w[1..].to_lowercase())
                .collect();
            assert_eq!(camel.parse::<T>(), Ok(*v), "{camel}");
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name));
        }
        assert_eq!(T::enum_from_code(values.len() as i8), None);
        assert_eq!(T::enum_from_code(-1), None);
        assert!(matches!(
            "no-such".parse::<T>(),
            Err(AclError::UnknownName { .. })
        ));
    }

    /// Lets one generic test drive the four enums' inherent methods.
    trait EnumCodes: Sized {
        fn enum_code(&self) -> i8;
        fn enum_from_code(code: i8) -> Option<Self>;
    }

    macro_rules! enum_codes {
        ($($t:ty),+) => {$(
            impl EnumCodes for $t {
                fn enum_code(&self) -> i8 { self.code() }
                fn enum_from_code(code: i8) -> Option<Self> { <$t>::from_code(code) }
            }
        )+};
    }
    enum_codes!(ResourceType, Operation, PatternType, Permission);

    #[test]
    fn enum_codes_and_names_round_trip() {
        check_enum(
            Rt::VALUES,
            &[
                "UNKNOWN",
                "ANY",
                "TOPIC",
                "GROUP",
                "CLUSTER",
                "TRANSACTIONAL_ID",
                "DELEGATION_TOKEN",
                "USER",
            ],
        );
        check_enum(
            Op::VALUES,
            &[
                "UNKNOWN",
                "ANY",
                "ALL",
                "READ",
                "WRITE",
                "CREATE",
                "DELETE",
                "ALTER",
                "DESCRIBE",
                "CLUSTER_ACTION",
                "DESCRIBE_CONFIGS",
                "ALTER_CONFIGS",
                "IDEMPOTENT_WRITE",
                "CREATE_TOKENS",
                "DESCRIBE_TOKENS",
            ],
        );
        check_enum(
            PatternType::VALUES,
            &["UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"],
        );
        check_enum(Permission::VALUES, &["UNKNOWN", "ANY", "DENY", "ALLOW"]);
        assert_eq!("describe-configs".parse::<Op>(), Ok(Op::DescribeConfigs));
        assert_eq!("IdempotentWrite".parse::<Op>(), Ok(Op::IdempotentWrite));
    }

    /// An independent transcription of `AclAuthorizer.authorizeAction`
    /// (allowOps sets, `denyAclExists`/`allowAclExists`) to cross-check
    /// [`Authorizer::authorize`], which is organised differently.
    fn reference_verdict(
        acls: &[AclBinding],
        principal: &str,
        host: &str,
        op: Operation,
        rt: ResourceType,
        name: &str,
        allow_everyone: bool,
    ) -> bool {
        let matching: Vec<&AclBinding> = acls
            .iter()
            .filter(|a| a.resource_type == rt)
            .filter(|a| {
                (a.pattern_type == Literal && (a.resource_name == name || a.resource_name == "*"))
                    || (a.pattern_type == Prefixed && name.starts_with(a.resource_name.as_str()))
            })
            .collect();
        if matching.is_empty() {
            return allow_everyone;
        }
        let exists = |o: Operation, perm: Permission| {
            matching.iter().any(|a| {
                a.permission == perm
                    && (a.principal == principal || a.principal == "User:*")
                    && (o == a.operation || a.operation == Op::All)
                    && (a.host == "*" || a.host == host)
            })
        };
        let allow_ops: Vec<Operation> = match op {
            Op::Describe => vec![Op::Describe, Op::Read, Op::Write, Op::Delete, Op::Alter],
            Op::DescribeConfigs => vec![Op::DescribeConfigs, Op::AlterConfigs],
            _ => vec![op],
        };
        !exists(op, Deny) && allow_ops.into_iter().any(|o| exists(o, Allow))
    }

    fn arb_acl() -> impl Strategy<Value = AclBinding> {
        // Skewed towards values that match the requester so that DENY/ALLOW
        // interplay on one resource is common, not a rare coincidence.
        let rt = prop::sample::select(vec![
            Rt::Topic,
            Rt::Topic,
            Rt::Topic,
            Rt::Group,
            Rt::Cluster,
            Rt::TransactionalId,
        ]);
        let name = prop::sample::select(vec!["orders", "orders-", "ord", "*", "pay"]);
        let pt = prop::sample::select(vec![Literal, Prefixed]);
        let principal = prop::sample::select(vec![ALICE, ALICE, WILDCARD_PRINCIPAL, BOB]);
        let host = prop::sample::select(vec!["*", "*", HOST, OTHER_HOST]);
        let op = prop_oneof![
            4 => prop::sample::select(vec![
                Op::All,
                Op::Read,
                Op::Write,
                Op::Create,
                Op::Delete,
                Op::Alter,
                Op::Describe,
                Op::DescribeConfigs,
                Op::AlterConfigs,
            ]),
            1 => prop::sample::select(Op::VALUES[2..].to_vec()),
        ];
        let perm = prop::sample::select(vec![Allow, Deny]);
        (rt, name, pt, principal, host, op, perm).prop_map(|(rt, name, pt, p, h, op, perm)| {
            let name = if rt == Rt::Cluster {
                CLUSTER_RESOURCE_NAME
            } else {
                name
            };
            acl(rt, name, pt, p, h, op, perm)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn authorize_matches_reference_and_bitfield(
            acls in prop::collection::vec(arb_acl(), 0..16),
            allow_everyone in any::<bool>(),
            principal in prop::sample::select(vec![ALICE, ALICE, BOB]),
            host in prop::sample::select(vec![HOST, OTHER_HOST]),
            rt in prop::sample::select(vec![Rt::Topic, Rt::Topic, Rt::Group, Rt::Cluster, Rt::TransactionalId]),
            name in prop::sample::select(vec!["orders", "orders-eu", "order", "*"]),
        ) {
            let name = if rt == Rt::Cluster { CLUSTER_RESOURCE_NAME } else { name };
            let mut a = authorizer(acls.clone());
            a.allow_everyone_if_no_acl_found = allow_everyone;
            let mut expected_bits = 0;
            for op in &Op::VALUES[2..] {
                let got = a.authorize(principal, host, *op, rt, name).is_allowed();
                let want = reference_verdict(&acls, principal, host, *op, rt, name, allow_everyone);
                prop_assert_eq!(got, want, "{} {} {} {}", op, rt, name, principal);
                if got && supported_operations(rt).contains(op) {
                    expected_bits |= 1 << op.code();
                }
            }
            prop_assert_eq!(a.authorized_operations(principal, host, rt, name), expected_bits);
        }
    }
}
