//! One table of Apache Kafka authorizer cases, `rig/acl-cases.json`, that
//! both ACL evaluators in the repository must pass: the rig listener's own
//! (`kmirror_rig::listener::kafka_authorizer`) and kmirror's
//! (`kmirror::preflight::acl`).
//!
//! The listener used to enforce ACLs with kmirror's evaluator, so rig tests
//! compared kmirror with itself. Now the two are written independently and
//! this table, taken from Kafka's `AclAuthorizer`/`StandardAuthorizer`
//! rules rather than from either implementation, is what ties them to
//! Kafka. Each driver parses the rows with its own crate's types, so a
//! parsing slip in one cannot hide a rule bug in the other.
//!
//! No broker is needed: these run in milliseconds.

use std::collections::HashSet;

use kmirror_rig::listener::kafka_authorizer as listener;
use serde::Deserialize;

/// The table as stored.
#[derive(Deserialize)]
struct Table {
    cases: Vec<Case>,
}

/// One row: a broker's ACLs and super users, a request, Kafka's verdict.
#[derive(Deserialize)]
struct Case {
    name: String,
    /// The Kafka code the row follows; documentation only.
    #[allow(dead_code)]
    kafka: String,
    /// `[resource_type, pattern_type, resource_name, principal, host,
    /// operation, permission]`.
    acls: Vec<[String; 7]>,
    #[serde(default)]
    super_users: Vec<String>,
    /// `[principal, host, operation, resource_type, resource_name]`.
    request: [String; 5],
    allowed: bool,
}

fn cases() -> Vec<Case> {
    let table: Table =
        serde_json::from_str(include_str!("../acl-cases.json")).expect("rig/acl-cases.json parses");
    table.cases
}

/// Runs every row through `verdict` and fails listing every row that
/// disagrees with Kafka, so one run shows the whole damage.
fn check_all(evaluator: &str, verdict: impl Fn(&Case) -> bool) {
    let failures: Vec<String> = cases()
        .iter()
        .filter(|c| verdict(c) != c.allowed)
        .map(|c| {
            format!(
                "  `{}`: Kafka says {}, {evaluator} says {}",
                c.name,
                if c.allowed { "ALLOWED" } else { "DENIED" },
                if c.allowed { "DENIED" } else { "ALLOWED" },
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{evaluator} disagrees with Apache Kafka on {} of {} rows of rig/acl-cases.json:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}

/// The table is broad enough to mean something: enough rows, unique names,
/// both verdicts, and every rule family the evaluators implement.
#[test]
fn table_covers_kafkas_rules() {
    let cases = cases();
    assert!(cases.len() >= 25, "only {} rows", cases.len());
    let names: HashSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "row names are unique");
    assert!(cases.iter().any(|c| c.allowed) && cases.iter().any(|c| !c.allowed));
    let has = |f: &dyn Fn(&Case) -> bool| cases.iter().any(f);
    let acl_has = |i: usize, v: &str| has(&|c: &Case| c.acls.iter().any(|a| a[i] == v));
    for (field, value) in [
        (1, "PREFIXED"),
        (2, "*"),
        (3, "User:*"),
        (5, "ALL"),
        (6, "DENY"),
        (0, "GROUP"),
        (0, "CLUSTER"),
    ] {
        assert!(acl_has(field, value), "no row has an ACL with {value}");
    }
    assert!(has(&|c: &Case| !c.super_users.is_empty()), "super users");
    assert!(has(&|c: &Case| c.request[2] == "DESCRIBE" && c.allowed));
    assert!(has(&|c: &Case| c.acls.iter().any(|a| a[4] != "*")), "hosts");
}

/// The listener's authorizer reaches Kafka's verdict on every row.
#[test]
fn listener_authorizer_passes_kafka_cases() {
    check_all("the listener's KafkaAuthorizer", |c| {
        let acls: Vec<listener::Acl> = c
            .acls
            .iter()
            .map(|[rt, pt, name, principal, host, op, perm]| listener::Acl {
                resource_type: rt.parse().unwrap(),
                pattern_type: pt.parse().unwrap(),
                resource_name: name,
                principal,
                host,
                operation: op.parse().unwrap(),
                permission: perm.parse().unwrap(),
            })
            .collect();
        let authz =
            listener::KafkaAuthorizer::new(acls, c.super_users.iter().map(String::as_str), false);
        let [principal, host, op, rt, name] = &c.request;
        authz
            .authorize(
                principal,
                host,
                op.parse().unwrap(),
                rt.parse().unwrap(),
                name,
            )
            .allowed
    });
}

/// kmirror's `preflight::acl::Authorizer` reaches Kafka's verdict on every
/// row: `kmirror check` uses it to predict what a real broker will allow.
#[test]
fn kmirror_authorizer_passes_kafka_cases() {
    use kmirror::preflight::acl::{AclBinding, Authorizer};
    check_all("kmirror's preflight::acl::Authorizer", |c| {
        let mut authz = Authorizer::new();
        for [rt, pt, name, principal, host, op, perm] in &c.acls {
            let binding = AclBinding::new(
                rt.parse().unwrap(),
                name,
                pt.parse().unwrap(),
                principal,
                host,
                op.parse().unwrap(),
                perm.parse().unwrap(),
            );
            authz
                .add(binding)
                .unwrap_or_else(|e| panic!("`{}`: {e}", c.name));
        }
        authz.super_users = c.super_users.iter().cloned().collect();
        let [principal, host, op, rt, name] = &c.request;
        authz
            .authorize(
                principal,
                host,
                op.parse().unwrap(),
                rt.parse().unwrap(),
                name,
            )
            .is_allowed()
    });
}
