//! The listener's own ACL authorizer, written from Apache Kafka's
//! `AclAuthorizer` (ZooKeeper mode: `authorizeAction`, `matchingAcls`,
//! `matchingAclExists`), `StandardAuthorizerData` (KRaft: `findResult`,
//! `IMPLIES_DESCRIBE`) and `Authorizer.authorizeByResourceType`.
//!
//! It deliberately shares no code, and no types, with kmirror's
//! `preflight::acl`: the rig exists to test kmirror's ACL preflight against
//! a broker that enforces ACLs, and if the listener enforced them with
//! kmirror's evaluator a bug there would agree with itself and every test
//! would pass. The two are kept honest by one table of cases drawn from
//! Kafka's behaviour (`rig/acl-cases.json`, driven by `rig/tests/acl_cases.rs`)
//! that both must pass.
//!
//! The rules, in Kafka's order:
//! 1. a super user is allowed everything;
//! 2. the ACLs that *cover* the resource are those of the same resource type
//!    whose pattern is the exact LITERAL name, the LITERAL `*`, or a PREFIXED
//!    prefix of the name; if there are none, the verdict is
//!    `allow.everyone.if.no.acl.found` (off by default: denied);
//! 3. a covering DENY for the requester (principal or `User:*`; host or `*`)
//!    naming the operation or ALL denies, whatever ALLOWs exist;
//! 4. otherwise a covering ALLOW for the requester naming the operation, ALL,
//!    or an operation that implies it allows: READ, WRITE, DELETE and ALTER
//!    imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS. Implication
//!    only widens ALLOWs: a DENY of READ does not deny DESCRIBE;
//! 5. otherwise denied.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// The LITERAL resource name and the host that match everything.
pub const WILDCARD: &str = "*";

/// The ACL principal that matches every principal (Kafka's
/// `AclEntry.WildcardPrincipal`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// The name of the one CLUSTER resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// The KIP-430 `authorized_operations` value for "not requested".
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Declares a Kafka byte-coded enum with its wire codes and names. The
/// codes are Kafka's (`AclOperation.code()` etc.), so ACLs received over
/// the wire map onto these without going through any other crate's types.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $code:literal, $text:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)+
        }

        impl $name {
            /// The value for a Kafka wire code, if it is one.
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some(Self::$v),)+
                    _ => None,
                }
            }

            /// The Kafka wire code.
            pub fn code(self) -> i8 {
                match self { $(Self::$v => $code,)+ }
            }

            /// Kafka's name, e.g. `DESCRIBE_CONFIGS`.
            pub fn name(self) -> &'static str {
                match self { $(Self::$v => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Parses Kafka's upper-case name exactly (`TOPIC`, `READ`).
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$v),)+
                    _ => Err(format!("not a {}: `{s}`", stringify!($name))),
                }
            }
        }
    };
}

wire_enum! {
    /// Kafka's `ResourceType`.
    ResourceType {
        /// Not understood.
        Unknown = 0, "UNKNOWN";
        /// Filters only.
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster (`kafka-cluster`).
        Cluster = 4, "CLUSTER";
        /// A transactional id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user.
        User = 7, "USER";
    }
}

wire_enum! {
    /// Kafka's `AclOperation`.
    Operation {
        /// Not understood.
        Unknown = 0, "UNKNOWN";
        /// Filters only.
        Any = 1, "ANY";
        /// Every operation.
        All = 2, "ALL";
        /// Read.
        Read = 3, "READ";
        /// Write.
        Write = 4, "WRITE";
        /// Create.
        Create = 5, "CREATE";
        /// Delete.
        Delete = 6, "DELETE";
        /// Alter.
        Alter = 7, "ALTER";
        /// Describe.
        Describe = 8, "DESCRIBE";
        /// Inter-broker actions.
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Describe configs.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Alter configs.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

wire_enum! {
    /// Kafka's `PatternType`.
    PatternType {
        /// Not understood.
        Unknown = 0, "UNKNOWN";
        /// Filters only.
        Any = 1, "ANY";
        /// Filters only.
        Match = 2, "MATCH";
        /// The exact name, or `*` for every resource.
        Literal = 3, "LITERAL";
        /// Every name starting with the pattern.
        Prefixed = 4, "PREFIXED";
    }
}

wire_enum! {
    /// Kafka's `AclPermissionType`.
    Permission {
        /// Not understood.
        Unknown = 0, "UNKNOWN";
        /// Filters only.
        Any = 1, "ANY";
        /// Deny.
        Deny = 2, "DENY";
        /// Allow.
        Allow = 3, "ALLOW";
    }
}

/// One ACL as the authorizer sees it, borrowing its strings from whatever
/// stores the ACLs (the listener's ACL store, a test table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acl<'a> {
    /// The resource type the pattern applies to.
    pub resource_type: ResourceType,
    /// LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// The name, prefix, or LITERAL `*`.
    pub resource_name: &'a str,
    /// `Type:name`, or `User:*` for everyone.
    pub principal: &'a str,
    /// A client IP address, or `*`.
    pub host: &'a str,
    /// The operation, or ALL.
    pub operation: Operation,
    /// ALLOW or DENY.
    pub permission: Permission,
}

impl Acl<'_> {
    /// Kafka's `matchingAcls`: same resource type, and the exact LITERAL
    /// name, the LITERAL wildcard, or a PREFIXED prefix of `name`. A
    /// PREFIXED `*` is an ordinary prefix (names starting with `*`).
    fn covers(&self, resource_type: ResourceType, name: &str) -> bool {
        if self.resource_type != resource_type {
            return false;
        }
        match self.pattern_type {
            PatternType::Literal => self.resource_name == WILDCARD || self.resource_name == name,
            PatternType::Prefixed => name.starts_with(self.resource_name),
            _ => false,
        }
    }

    /// The entry half of Kafka's `matchingAclExists`: the principal is the
    /// requester's or the wildcard, the host the requester's or `*`.
    fn applies_to(&self, principal: &str, host: &str) -> bool {
        (self.principal == WILDCARD_PRINCIPAL || self.principal == principal)
            && (self.host == WILDCARD || self.host == host)
    }
}

/// The operations whose ALLOW grants `op`: Kafka's `allowOps` in
/// `AclAuthorizer.authorizeAction` (and `IMPLIES_DESCRIBE`,
/// `IMPLIES_DESCRIBE_CONFIGS` in `StandardAuthorizerData`). ALL is handled
/// by the caller because it also widens DENYs.
fn granting_operations(op: Operation) -> &'static [Operation] {
    use Operation::*;
    match op {
        Describe => &[Describe, Read, Write, Delete, Alter],
        DescribeConfigs => &[DescribeConfigs, AlterConfigs],
        Read => &[Read],
        Write => &[Write],
        Create => &[Create],
        Delete => &[Delete],
        Alter => &[Alter],
        ClusterAction => &[ClusterAction],
        AlterConfigs => &[AlterConfigs],
        IdempotentWrite => &[IdempotentWrite],
        CreateTokens => &[CreateTokens],
        DescribeTokens => &[DescribeTokens],
        // Never requested by a broker; nothing grants them.
        Unknown | Any | All => &[],
    }
}

/// The operations Kafka reports in KIP-430 `authorized_operations` for a
/// resource type (`AclEntry.supportedOperations`).
pub fn supported_operations(resource_type: ResourceType) -> &'static [Operation] {
    use Operation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Unknown | ResourceType::Any => &[],
    }
}

/// A verdict and the rule that reached it, for the evidence log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// Which rule decided: super user, a named ACL, or a default.
    pub reason: String,
}

/// Kafka's authorizer over a snapshot of ACLs.
#[derive(Debug, Clone, Default)]
pub struct KafkaAuthorizer<'a> {
    acls: Vec<Acl<'a>>,
    super_users: HashSet<&'a str>,
    allow_everyone_if_no_acl_found: bool,
}

impl<'a> KafkaAuthorizer<'a> {
    /// An authorizer over `acls`, with `super.users` and
    /// `allow.everyone.if.no.acl.found` as a broker would be configured.
    pub fn new(
        acls: impl IntoIterator<Item = Acl<'a>>,
        super_users: impl IntoIterator<Item = &'a str>,
        allow_everyone_if_no_acl_found: bool,
    ) -> Self {
        Self {
            acls: acls.into_iter().collect(),
            super_users: super_users.into_iter().collect(),
            allow_everyone_if_no_acl_found,
        }
    }

    /// Whether `principal` is in `super.users` (exact `Type:name`).
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    /// Kafka's `authorizeAction`: may `principal` from `host` perform `op`
    /// on the resource `resource_type`/`name`? See the module doc for the
    /// rules.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Verdict {
        let verdict = |allowed, why: String| Verdict {
            allowed,
            reason: format!("{op} on {resource_type}:{name} by {principal} from {host}: {why}"),
        };
        if self.is_super_user(principal) {
            return verdict(true, "super user".into());
        }
        let covering: Vec<&Acl> = self
            .acls
            .iter()
            .filter(|a| a.covers(resource_type, name))
            .collect();
        if covering.is_empty() {
            let allowed = self.allow_everyone_if_no_acl_found;
            return verdict(
                allowed,
                format!("no ACL for the resource, allow.everyone.if.no.acl.found={allowed}"),
            );
        }
        let exists = |perm: Permission, ops: &[Operation]| {
            covering.iter().copied().find(|a| {
                a.permission == perm
                    && a.applies_to(principal, host)
                    && (a.operation == Operation::All || ops.contains(&a.operation))
            })
        };
        // DENY matches only the operation itself or ALL: implication never
        // widens a DENY.
        if let Some(deny) = exists(Permission::Deny, &[op]) {
            return verdict(false, format!("denied by {}", describe(deny)));
        }
        if let Some(allow) = exists(Permission::Allow, granting_operations(op)) {
            return verdict(true, format!("allowed by {}", describe(allow)));
        }
        verdict(false, "no ALLOW ACL matches".into())
    }

    /// The KIP-430 bitfield (`1 << code`) of the resource type's supported
    /// operations that [`KafkaAuthorizer::authorize`] allows, as Kafka's
    /// `AuthHelper.authorizedOperations` computes it.
    pub fn authorized_operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|op| {
                self.authorize(principal, host, **op, resource_type, name)
                    .allowed
            })
            .fold(0, |bits, op| bits | (1 << op.code()))
    }

    /// Kafka's default `Authorizer.authorizeByResourceType`: could the
    /// requester perform `op` on *some* resource of `resource_type`? Used by
    /// InitProducerId without a transactional id (any topic WRITE).
    ///
    /// As in Kafka: first an ordinary check on the literal name `hardcode`
    /// (so super users and wildcard grants pass); then a LITERAL `*` DENY
    /// refuses; a LITERAL `*` ALLOW allows; otherwise some LITERAL ALLOW
    /// not denied by the same LITERAL name or a PREFIXED DENY of one of its
    /// prefixes, or some PREFIXED ALLOW not under a PREFIXED DENY, allows.
    pub fn authorize_by_resource_type(
        &self,
        principal: &str,
        host: &str,
        op: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self
            .authorize(principal, host, op, resource_type, "hardcode")
            .allowed
        {
            return true;
        }
        let relevant = self.acls.iter().filter(|a| {
            a.resource_type == resource_type
                && a.applies_to(principal, host)
                && (a.operation == op || a.operation == Operation::All)
        });
        let (mut deny_literal, mut deny_prefixed) = (HashSet::new(), HashSet::new());
        let mut allows: Vec<(PatternType, &str)> = Vec::new();
        let mut wildcard_allow = false;
        for a in relevant {
            match (a.permission, a.pattern_type) {
                (Permission::Deny, PatternType::Literal) if a.resource_name == WILDCARD => {
                    return false
                }
                (Permission::Deny, PatternType::Literal) => {
                    deny_literal.insert(a.resource_name);
                }
                (Permission::Deny, PatternType::Prefixed) => {
                    deny_prefixed.insert(a.resource_name);
                }
                (Permission::Allow, PatternType::Literal) if a.resource_name == WILDCARD => {
                    wildcard_allow = true
                }
                (Permission::Allow, pt @ (PatternType::Literal | PatternType::Prefixed)) => {
                    allows.push((pt, a.resource_name))
                }
                _ => {}
            }
        }
        if wildcard_allow {
            return true;
        }
        allows.iter().any(|(pt, name)| {
            let literal_denied = *pt == PatternType::Literal && deny_literal.contains(name);
            let prefix_denied = name
                .char_indices()
                .map(|(i, c)| &name[..i + c.len_utf8()])
                .any(|prefix| deny_prefixed.contains(prefix));
            !literal_denied && !prefix_denied
        })
    }
}

/// An ACL in Kafka's `AclBinding.toString` shape, for the evidence log.
fn describe(a: &Acl) -> String {
    format!(
        "(pattern=ResourcePattern(resourceType={}, name={}, patternType={}), \
         entry=(principal={}, host={}, operation={}, permissionType={}))",
        a.resource_type,
        a.resource_name,
        a.pattern_type,
        a.principal,
        a.host,
        a.operation,
        a.permission
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "User:alice";
    const HOST: &str = "10.0.0.1";

    fn acl(
        rt: ResourceType,
        pt: PatternType,
        name: &'static str,
        op: Operation,
        perm: Permission,
    ) -> Acl<'static> {
        Acl {
            resource_type: rt,
            pattern_type: pt,
            resource_name: name,
            principal: ALICE,
            host: WILDCARD,
            operation: op,
            permission: perm,
        }
    }

    fn topic(pt: PatternType, name: &'static str, perm: Permission) -> Acl<'static> {
        acl(ResourceType::Topic, pt, name, Operation::Write, perm)
    }

    /// Kafka's `AuthorizerTest.testAuthorizeByResourceType*` shapes.
    #[test]
    fn by_resource_type_follows_kafka() {
        use PatternType::{Literal, Prefixed};
        use Permission::{Allow, Deny};
        let cases: Vec<(&str, Vec<Acl>, bool)> = vec![
            ("no ACLs", vec![], false),
            ("literal allow", vec![topic(Literal, "t", Allow)], true),
            ("prefixed allow", vec![topic(Prefixed, "t", Allow)], true),
            (
                "literal allow, same literal deny",
                vec![topic(Literal, "t", Allow), topic(Literal, "t", Deny)],
                false,
            ),
            (
                "literal allow under prefixed deny",
                vec![topic(Literal, "t-1", Allow), topic(Prefixed, "t-", Deny)],
                false,
            ),
            (
                "prefixed allow wider than prefixed deny",
                vec![topic(Prefixed, "t", Allow), topic(Prefixed, "t-", Deny)],
                true,
            ),
            (
                "wildcard deny beats everything",
                vec![topic(Literal, "t", Allow), topic(Literal, "*", Deny)],
                false,
            ),
            (
                "wildcard allow",
                vec![topic(Literal, "*", Allow), topic(Literal, "t", Deny)],
                true,
            ),
            (
                "other operation does not count",
                vec![acl(
                    ResourceType::Topic,
                    Literal,
                    "t",
                    Operation::Read,
                    Allow,
                )],
                false,
            ),
            (
                "other resource type does not count",
                vec![acl(
                    ResourceType::Group,
                    Literal,
                    "t",
                    Operation::Write,
                    Allow,
                )],
                false,
            ),
        ];
        for (name, acls, want) in cases {
            let a = KafkaAuthorizer::new(acls, [], false);
            let got =
                a.authorize_by_resource_type(ALICE, HOST, Operation::Write, ResourceType::Topic);
            assert_eq!(got, want, "{name}");
        }
        let su = KafkaAuthorizer::new([topic(Literal, "*", Deny)], [ALICE], false);
        assert!(
            su.authorize_by_resource_type(ALICE, HOST, Operation::Write, ResourceType::Topic),
            "super user"
        );
    }

    /// KIP-430 bits for READ on a topic: READ and the DESCRIBE it implies.
    #[test]
    fn authorized_operations_include_implied() {
        let a = KafkaAuthorizer::new(
            [acl(
                ResourceType::Topic,
                PatternType::Literal,
                "t",
                Operation::Read,
                Permission::Allow,
            )],
            [],
            false,
        );
        let bits = a.authorized_operations(ALICE, HOST, ResourceType::Topic, "t");
        assert_eq!(bits, (1 << 3) | (1 << 8));
        assert_eq!(
            a.authorized_operations(ALICE, HOST, ResourceType::Topic, "u"),
            0
        );
    }

    #[test]
    fn allow_everyone_only_when_nothing_covers_the_resource() {
        let a = KafkaAuthorizer::new(
            [topic(PatternType::Literal, "t", Permission::Allow)],
            [],
            true,
        );
        assert!(
            a.authorize("User:bob", HOST, Operation::Write, ResourceType::Topic, "u")
                .allowed
        );
        assert!(
            !a.authorize("User:bob", HOST, Operation::Write, ResourceType::Topic, "t")
                .allowed
        );
    }

    #[test]
    fn wire_codes_and_names_round_trip() {
        for code in 0..15 {
            let op = Operation::from_code(code).unwrap();
            assert_eq!(op.code(), code);
            assert_eq!(op.name().parse::<Operation>(), Ok(op));
        }
        assert_eq!(Operation::from_code(15), None);
        assert_eq!(ResourceType::from_code(4), Some(ResourceType::Cluster));
        assert_eq!(PatternType::from_code(4), Some(PatternType::Prefixed));
        assert_eq!(Permission::from_code(2), Some(Permission::Deny));
    }
}
