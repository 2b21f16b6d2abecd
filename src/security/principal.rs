//! Mapping Kerberos principals to the Kafka principals that ACLs name.
//!
//! A broker authenticates `primary/instance@REALM` over SASL/GSSAPI, shortens
//! it with `sasl.kerberos.principal.to.local.rules` (default `DEFAULT`) and
//! builds the Kafka principal `User:<short name>`. ACLs, `super.users` and
//! DescribeAcls answers all speak in those `Type:name` strings, so the
//! preflight check must make the same transformation to know which ACLs apply
//! to kmirror.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The principal type Kafka's default principal builder assigns to every
/// authenticated client (SASL, TLS and PLAINTEXT alike).
pub const USER_TYPE: &str = "User";

/// Why a principal string could not be interpreted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// A Kafka principal lacked the `:` between its type and its name.
    #[error(
        "could not parse principal from `{0}` (no colon is present separating the principal type from the principal name)"
    )]
    MissingType(String),
    /// A Kerberos name had more than one `/` or more than one `@`, which
    /// Kafka's `KerberosName.parse` rejects.
    #[error("malformed Kerberos name `{0}` (expected primary[/instance]@REALM)")]
    MalformedKerberosName(String),
    /// The `DEFAULT` rule only shortens principals of the default realm; the
    /// broker fails authentication for any other realm.
    #[error(
        "no sasl.kerberos.principal.to.local.rules rule applies to `{principal}`: \
         the DEFAULT rule only maps principals of the default realm `{default_realm}`"
    )]
    NoMatchingRule {
        /// The Kerberos principal that was being shortened.
        principal: String,
        /// The realm the `DEFAULT` rule accepts.
        default_realm: String,
    },
}

/// The first component of a Kerberos principal: `kafka` for
/// `kafka/broker1.example.com@EXAMPLE.COM`, `alice` for `alice@EXAMPLE.COM`.
///
/// Used to refuse a mirror principal that shares the brokers' service name,
/// because such a principal would usually be a super user.
pub fn service_primary(principal: &str) -> &str {
    // `split` always yields at least one item, possibly empty.
    principal.split(['/', '@']).next().unwrap_or_default()
}

/// Whether `principal` is the brokers' own service account: its first
/// component equals the brokers' `service_name` (`kafka/broker1@REALM` for
/// service `kafka`). Such a principal is usually a super user, so mirroring
/// with it bypasses every ACL.
pub fn is_service_principal(principal: &str, service_name: &str) -> bool {
    !service_name.is_empty() && service_primary(principal) == service_name
}

/// The short name Kafka's `DEFAULT` `sasl.kerberos.principal.to.local.rules`
/// gives a principal, assuming it is in the broker's default realm:
/// `primary/instance@REALM` → `primary`, `primary@REALM` → `primary`,
/// `primary` → `primary`.
///
/// This never fails so that a report can always name the principal; use
/// [`kerberos_short_name_in_realm`] when the realm matters.
pub fn kerberos_short_name(principal: &str) -> String {
    service_primary(principal).to_string()
}

/// Kafka's exact `DEFAULT` rule: the short name of `principal` as a broker
/// whose default realm is `default_realm` computes it.
///
/// Mirrors `KerberosName.parse` + `KerberosShortNamer`: a name without `@`
/// is returned unchanged (even with a `/`); a name with `@` must be
/// `primary[/instance]@REALM` and `REALM` must equal the default realm, or
/// the broker refuses the client.
pub fn kerberos_short_name_in_realm(
    principal: &str,
    default_realm: &str,
) -> Result<String, PrincipalError> {
    let Some((left, realm)) = principal.split_once('@') else {
        return Ok(principal.to_string());
    };
    let malformed = || PrincipalError::MalformedKerberosName(principal.to_string());
    if realm.contains(['@', '/']) {
        return Err(malformed());
    }
    let primary = match left.split_once('/') {
        Some((_, instance)) if instance.contains('/') => return Err(malformed()),
        Some((primary, _)) => primary,
        None => left,
    };
    if realm == default_realm {
        Ok(primary.to_string())
    } else {
        Err(PrincipalError::NoMatchingRule {
            principal: principal.to_string(),
            default_realm: default_realm.to_string(),
        })
    }
}

/// The ACL principal string for a short name: `alice` → `User:alice`.
pub fn kafka_principal(short_name: &str) -> String {
    format!("{USER_TYPE}:{short_name}")
}

/// A Kafka principal as ACLs write it: `Type:name`, e.g. `User:alice`.
/// `User:*` is the wildcard that matches every principal in an ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KafkaPrincipal {
    /// The part before the first `:`, normally `User`.
    pub principal_type: String,
    /// Everything after the first `:`; may itself contain colons.
    pub name: String,
}

impl KafkaPrincipal {
    /// A `User:<name>` principal.
    pub fn user(name: &str) -> Self {
        Self {
            principal_type: USER_TYPE.to_string(),
            name: name.to_string(),
        }
    }

    /// The ACL wildcard principal `User:*`.
    pub fn wildcard() -> Self {
        Self::user("*")
    }

    /// Whether this is the wildcard `User:*`.
    pub fn is_wildcard(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == "*"
    }

    /// Parses `Type:name`, splitting at the first colon as Kafka's
    /// `SecurityUtils.parseKafkaPrincipal` does. Like Kafka, empty type or
    /// name parts are accepted; only a missing colon is an error.
    pub fn parse(s: &str) -> Result<Self, PrincipalError> {
        let (principal_type, name) = s
            .split_once(':')
            .ok_or_else(|| PrincipalError::MissingType(s.to_string()))?;
        Ok(Self {
            principal_type: principal_type.to_string(),
            name: name.to_string(),
        })
    }
}

impl FromStr for KafkaPrincipal {
    type Err = PrincipalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_name_follows_default_rule_shapes() {
        let cases = [
            ("mirror/host1.example.com@EXAMPLE.COM", "mirror"),
            ("mirror@EXAMPLE.COM", "mirror"),
            ("mirror", "mirror"),
            ("", ""),
            ("alice@", "alice"),
            ("@EXAMPLE.COM", ""),
            ("a/b/c@EXAMPLE.COM", "a"),
            ("svc/host", "svc"),
        ];
        for (input, want) in cases {
            assert_eq!(kerberos_short_name(input), want, "input {input:?}");
        }
    }

    #[test]
    fn service_primary_is_first_component() {
        assert_eq!(service_primary("kafka/broker1@EXAMPLE.COM"), "kafka");
        assert_eq!(service_primary("kafka@EXAMPLE.COM"), "kafka");
        assert_eq!(service_primary("kafka"), "kafka");
        assert_eq!(service_primary(""), "");
        assert_eq!(service_primary("/host@R"), "");
        assert_eq!(service_primary("x/y/z"), "x");
    }

    #[test]
    fn service_principal_matches_first_component_only() {
        assert!(is_service_principal("kafka/broker1@EXAMPLE.COM", "kafka"));
        assert!(is_service_principal("kafka@EXAMPLE.COM", "kafka"));
        assert!(is_service_principal("kfk/h@R", "kfk"));
        assert!(!is_service_principal("mirrormaker/kafka@R", "kafka"));
        assert!(!is_service_principal("kafkamirror/h@R", "kafka"));
        assert!(!is_service_principal("Kafka/h@R", "kafka"));
        assert!(!is_service_principal("", ""));
    }

    #[test]
    fn short_name_in_realm_matches_kafka() {
        let realm = "EXAMPLE.COM";
        assert_eq!(
            kerberos_short_name_in_realm("mirror/h@EXAMPLE.COM", realm).unwrap(),
            "mirror"
        );
        assert_eq!(
            kerberos_short_name_in_realm("mirror@EXAMPLE.COM", realm).unwrap(),
            "mirror"
        );
        // Without a realm Kafka keeps the whole name, slash included.
        assert_eq!(kerberos_short_name_in_realm("a/b", realm).unwrap(), "a/b");
        assert_eq!(kerberos_short_name_in_realm("", realm).unwrap(), "");
        assert_eq!(
            kerberos_short_name_in_realm("mirror@OTHER.COM", realm),
            Err(PrincipalError::NoMatchingRule {
                principal: "mirror@OTHER.COM".into(),
                default_realm: realm.into()
            })
        );
        // `@` with an empty realm parses but is not the default realm.
        assert!(matches!(
            kerberos_short_name_in_realm("mirror@", realm),
            Err(PrincipalError::NoMatchingRule { .. })
        ));
        for bad in ["a/b/c@EXAMPLE.COM", "a@b@EXAMPLE.COM", "a@EXAMPLE.COM/x"] {
            assert_eq!(
                kerberos_short_name_in_realm(bad, realm),
                Err(PrincipalError::MalformedKerberosName(bad.into())),
                "input {bad:?}"
            );
        }
    }

    #[test]
    fn kafka_principal_formats_user() {
        assert_eq!(kafka_principal("alice"), "User:alice");
        assert_eq!(kafka_principal(""), "User:");
    }

    #[test]
    fn parse_and_display_round_trip() {
        let p = KafkaPrincipal::parse("User:alice").unwrap();
        assert_eq!(p, KafkaPrincipal::user("alice"));
        assert_eq!(p.to_string(), "User:alice");
        assert!(!p.is_wildcard());

        // Only the first colon separates type from name.
        let p: KafkaPrincipal = "User:CN=a,O=b:c".parse().unwrap();
        assert_eq!(p.principal_type, "User");
        assert_eq!(p.name, "CN=a,O=b:c");
        assert_eq!(p.to_string(), "User:CN=a,O=b:c");

        let w = KafkaPrincipal::parse("User:*").unwrap();
        assert!(w.is_wildcard());
        assert_eq!(w, KafkaPrincipal::wildcard());
        assert!(!KafkaPrincipal::parse("Group:*").unwrap().is_wildcard());

        // Kafka accepts empty parts; only a missing colon is rejected.
        assert_eq!(KafkaPrincipal::parse("User:").unwrap().name, "");
        assert_eq!(
            KafkaPrincipal::parse("alice"),
            Err(PrincipalError::MissingType("alice".into()))
        );
        assert!(KafkaPrincipal::parse("").is_err());
    }
}
