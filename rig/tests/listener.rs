//! The security listener in front of a real tansu broker, with PLAIN
//! principals: SASL state machine, ACL matrix through the wire, ACL admin
//! APIs, KIP-430 authorized operations, and revoking WRITE mid-stream.
//!
//! GSSAPI end-to-end tests are in `listener_gssapi.rs` (they need the
//! process-wide Kerberos environment, so they live in their own binary).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeConfigsRequest, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kmirror::preflight::acl::{
    operations_to_bits, AclBinding, AclBindingFilter, Operation, PatternType, Permission,
    ResourceType, CLUSTER_RESOURCE_NAME,
};
use kmirror_rig::cluster::{ClusterConn, RIG_FETCH_WAIT_MS};
use kmirror_rig::listener::client::{KafkaClient, KafkaError};
use kmirror_rig::listener::{AuditEvent, Listener, ListenerOptions, ADMIN_PASSWORD};
use kmirror_rig::tansu::{Tansu, TansuOptions};
use kmirror_rig::{free_port, random_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// A tansu broker behind a PLAIN listener; tansu advertises the listener.
struct Secured {
    listener: Listener,
    _tansu: Tansu,
}

const USERS: &[(&str, &str)] = &[("alice", "alice-pw"), ("bob", "bob-pw")];

fn secured(acls: Vec<AclBinding>) -> Secured {
    secured_with(acls, |_| {})
}

/// [`secured`] with the listener's options adjusted by `configure`.
fn secured_with(acls: Vec<AclBinding>, configure: impl FnOnce(&mut ListenerOptions)) -> Secured {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let tansu = Tansu::start(TansuOptions {
        advertised: Some(addr),
        ..Default::default()
    })
    .expect("tansu starts (scripts/install-tansu.sh)");
    let mut opts = ListenerOptions::plain(tansu.addr(), USERS);
    opts.listen = Some(addr);
    opts.acls = acls;
    configure(&mut opts);
    let listener = Listener::spawn(opts).expect("listener starts");
    Secured {
        listener,
        _tansu: tansu,
    }
}

fn conn(l: &Listener, user: &str, password: &str) -> ClusterConn {
    ClusterConn {
        bootstrap: l.addr().to_string(),
        props: vec![
            ("security.protocol".into(), "SASL_PLAINTEXT".into()),
            ("sasl.mechanism".into(), "PLAIN".into()),
            ("sasl.username".into(), user.into()),
            ("sasl.password".into(), password.into()),
            ("fetch.wait.max.ms".into(), RIG_FETCH_WAIT_MS.into()),
        ],
    }
}

fn admin(l: &Listener) -> ClusterConn {
    conn(l, "admin", ADMIN_PASSWORD)
}

fn raw(l: &Listener, user: &str, password: &str) -> KafkaClient {
    let mut c = KafkaClient::connect(l.addr()).expect("connect");
    c.sasl_plain(user, password).expect("PLAIN authentication");
    c
}

fn acl(
    rt: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    op: Operation,
    perm: Permission,
) -> AclBinding {
    AclBinding::new(rt, name, pattern, principal, "*", op, perm)
}

fn topic_acl(name: &str, pattern: PatternType, principal: &str, op: Operation) -> AclBinding {
    acl(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        op,
        Permission::Allow,
    )
}

/// Produces one record and waits for its delivery report.
fn produce(c: &ClusterConn, topic: &str, payload: &str) -> Result<(i32, i64), RdError> {
    let producer: FutureProducer = producer_config(c).create().expect("producer");
    send(&producer, topic, payload)
}

fn producer_config(c: &ClusterConn) -> ClientConfig {
    let mut cfg = c.client_config();
    cfg.set("message.timeout.ms", "15000");
    cfg.set("linger.ms", "0");
    cfg
}

fn send(producer: &FutureProducer, topic: &str, payload: &str) -> Result<(i32, i64), RdError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(producer.send(
        FutureRecord::<(), str>::to(topic).payload(payload),
        Duration::from_secs(20),
    ))
    .map(|d| (d.partition, d.offset))
    .map_err(|(e, _)| e)
}

/// Creates a topic with rdkafka's admin client; the per-topic error code.
fn try_create(c: &ClusterConn, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let admin: AdminClient<DefaultClientContext> = c.client_config().create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        ))
        .expect("CreateTopics answered");
    res.into_iter()
        .next()
        .expect("one result")
        .map(|_| ())
        .map_err(|(_, code)| code)
}

/// DescribeConfigs of one topic over the raw client: the result's error
/// code. (rdkafka 0.39's `describe_configs` drops per-resource errors, so
/// it cannot show a denial.)
fn describe_topic_config(c: &mut KafkaClient, topic: &str) -> i16 {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))]);
    let resp = c.send(&req).expect("DescribeConfigs answered");
    assert_eq!(resp.results.len(), 1);
    resp.results[0].error_code
}

fn metadata(c: &mut KafkaClient, topics: Option<&[&str]>) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false)
        .with_include_topic_authorized_operations(true);
    c.send(&req).expect("metadata")
}

fn topic_result(md: &MetadataResponse, topic: &str) -> Option<(i16, i32)> {
    md.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .map(|t| (t.error_code, t.topic_authorized_operations))
}

fn assert_topic_denied(e: RdError) {
    assert_eq!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "expected TOPIC_AUTHORIZATION_FAILED, got {e:?}"
    );
}

#[test]
fn sasl_state_machine_and_api_versions() {
    let s = secured(Vec::new());
    let l = &s.listener;

    // ApiVersions is answered before authentication and advertises the
    // SASL and ACL APIs, with topic-id-only versions capped off.
    let c = KafkaClient::connect(l.addr()).unwrap();
    let v = c.advertised();
    for key in [
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
        ApiKey::CreateAcls,
        ApiKey::DescribeAcls,
        ApiKey::DeleteAcls,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::Metadata,
    ] {
        assert!(
            v.contains_key(&(key as i16)),
            "{key:?} not advertised: {v:?}"
        );
    }
    assert!(v[&(ApiKey::Produce as i16)].1 <= 12);
    assert!(v[&(ApiKey::Fetch as i16)].1 <= 12);

    // Anything but ApiVersions/SASL before authentication: disconnect.
    let mut c = KafkaClient::connect(l.addr()).unwrap();
    assert!(c.send_at(1, &MetadataRequest::default()).is_err());
    assert!(c.is_closed_by_server(Duration::from_secs(5)));

    // SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE.
    let mut c = KafkaClient::connect(l.addr()).unwrap();
    let e = c
        .sasl_authenticate(b"\0alice\0alice-pw".to_vec())
        .unwrap_err();
    assert_eq!(
        e.downcast_ref::<KafkaError>().map(|e| e.code),
        Some(34),
        "{e:#}"
    );

    // A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM, and
    // the enabled ones are listed.
    let mut c = KafkaClient::connect(l.addr()).unwrap();
    let e = c.handshake("SCRAM-SHA-512").unwrap_err();
    let ke = e.downcast_ref::<KafkaError>().expect("Kafka error");
    assert_eq!(ke.code, 33);
    assert!(ke.message.contains("PLAIN"), "{ke}");

    // Wrong password: SASL_AUTHENTICATION_FAILED with Kafka's message,
    // then the connection is closed.
    let mut c = KafkaClient::connect(l.addr()).unwrap();
    c.handshake("PLAIN").unwrap();
    let e = c.sasl_authenticate(b"\0alice\0nope".to_vec()).unwrap_err();
    let ke = e.downcast_ref::<KafkaError>().expect("Kafka error");
    assert_eq!(ke.code, 58);
    assert!(ke.message.contains("Invalid username or password"), "{ke}");
    assert!(c.is_closed_by_server(Duration::from_secs(5)));

    // rdkafka with a wrong password sees an authentication error.
    let err = produce(&conn(l, "alice", "nope"), "whatever", "x").unwrap_err();
    assert!(
        matches!(
            err.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication) | Some(RDKafkaErrorCode::MessageTimedOut)
        ),
        "{err:?}"
    );

    // The evidence log has the success and the failures.
    let events = l.events().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::Authentication { mechanism, principal: Some(p), success: false, error: Some(err), .. }
            if mechanism == "PLAIN" && p == "alice" && err.contains("Invalid username or password"))));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::Authentication { mechanism, success: false, .. } if mechanism == "SCRAM-SHA-512")));
}

/// The successful authentications in `l`'s evidence log:
/// `(principal, reauthentication, session_lifetime_ms)`.
fn successes(l: &Listener) -> Vec<(String, bool, Option<u64>)> {
    l.events()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::Authentication {
                principal: Some(p),
                success: true,
                reauthentication,
                session_lifetime_ms,
                ..
            } => Some((p, reauthentication, session_lifetime_ms)),
            _ => None,
        })
        .collect()
}

/// KIP-368 on one connection: the last SaslAuthenticate answer carries the
/// session lifetime; the same principal re-authenticates and is served on;
/// another principal or another mechanism is refused and disconnected, as
/// Kafka does; a request after the session ended closes the connection.
/// Without a session lifetime the client is told 0 (never), and may still
/// re-authenticate.
#[test]
fn reauthentication_keeps_the_principal_and_sessions_end() {
    let lifetime = Duration::from_secs(2);
    let s = secured_with(Vec::new(), |o| {
        o.mechanisms.push("SCRAM-SHA-256".into());
        o.session_lifetime = Some(lifetime);
    });
    let l = &s.listener;

    let mut c = raw(l, "alice", "alice-pw");
    assert_eq!(c.session_lifetime_ms(), 2000);
    metadata(&mut c, None);
    c.sasl_plain("alice", "alice-pw")
        .expect("re-authentication as the same principal");
    assert_eq!(c.session_lifetime_ms(), 2000);
    metadata(&mut c, None);
    let e = c.sasl_plain("bob", "bob-pw").unwrap_err();
    let ke = e.downcast_ref::<KafkaError>().expect("Kafka error");
    assert_eq!(ke.code, 58, "{ke}");
    assert!(
        ke.message.contains("Cannot change principals") && ke.message.contains("User:alice"),
        "{ke}"
    );
    assert!(c.is_closed_by_server(Duration::from_secs(5)));
    assert_eq!(
        successes(l),
        vec![
            ("alice".to_string(), false, Some(2000)),
            ("alice".to_string(), true, Some(2000)),
        ]
    );
    let events = l.events().unwrap();
    assert!(
        events.iter().any(|e| matches!(e,
            AuditEvent::Authentication { principal: Some(p), success: false, reauthentication: true, error: Some(err), .. }
                if p == "bob" && err.contains("Cannot change principals"))),
        "{events:#?}"
    );

    // Another mechanism for the same user: refused as well.
    let mut c = raw(l, "alice", "alice-pw");
    let e = c.handshake("SCRAM-SHA-256").unwrap_err();
    assert_eq!(e.downcast_ref::<KafkaError>().map(|e| e.code), Some(33));
    assert!(c.is_closed_by_server(Duration::from_secs(5)));

    // The session ends: the next request (even ApiVersions) closes the
    // connection. Time has to pass here, so the test waits out the
    // lifetime it was told rather than polling.
    let mut c = raw(l, "alice", "alice-pw");
    std::thread::sleep(lifetime + Duration::from_millis(200));
    assert!(c.send_at(1, &MetadataRequest::default()).is_err());
    assert!(c.is_closed_by_server(Duration::from_secs(5)));

    // No session lifetime configured: 0 is sent, re-authentication works.
    let plain = secured(Vec::new());
    let mut c = raw(&plain.listener, "alice", "alice-pw");
    assert_eq!(c.session_lifetime_ms(), 0);
    c.sasl_plain("alice", "alice-pw").unwrap();
    metadata(&mut c, None);
    assert_eq!(
        successes(&plain.listener).last(),
        Some(&("alice".to_string(), true, None))
    );
}

#[test]
fn acl_matrix_through_the_wire() {
    let r = random_name("m");
    let orders = format!("{r}-orders");
    let pay = format!("{r}-pay");
    let pay_secret = format!("{r}-pay-secret");
    let public = format!("{r}-public");
    let hidden = format!("{r}-hidden");
    let s = secured(Vec::new());
    let l = &s.listener;
    for t in [&orders, &pay, &pay_secret, &public, &hidden] {
        admin(l).create_topic(t, 1).unwrap();
    }

    let created = vec![
        // Grant.
        topic_acl(
            &orders,
            PatternType::Literal,
            "User:alice",
            Operation::Write,
        ),
        // Prefixed ALL, with a literal DENY WRITE on one topic under it.
        topic_acl(&pay, PatternType::Prefixed, "User:alice", Operation::All),
        acl(
            ResourceType::Topic,
            &pay_secret,
            PatternType::Literal,
            "User:alice",
            Operation::Write,
            Permission::Deny,
        ),
        // Wildcard principal on one topic.
        topic_acl(&public, PatternType::Literal, "User:*", Operation::Read),
        // Wildcard resource for bob's DESCRIBE.
        topic_acl("*", PatternType::Literal, "User:bob", Operation::Describe),
    ];
    let mut adm = raw(l, "admin", ADMIN_PASSWORD);
    adm.create_acls(&created).unwrap();

    // DescribeAcls returns exactly what was created.
    let described: BTreeSet<String> = adm
        .describe_acls(&AclBindingFilter::any())
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let want: BTreeSet<String> = created.iter().map(ToString::to_string).collect();
    assert_eq!(described, want);

    // A non-super user may not change or list ACLs.
    let mut alice = raw(l, "alice", "alice-pw");
    let e = alice.create_acls(&created[..1]).unwrap_err();
    assert_eq!(
        e.downcast_ref::<KafkaError>().map(|e| e.code),
        Some(31),
        "{e:#}"
    );
    let e = alice.describe_acls(&AclBindingFilter::any()).unwrap_err();
    assert_eq!(
        e.downcast_ref::<KafkaError>().map(|e| e.code),
        Some(31),
        "{e:#}"
    );

    let a = conn(l, "alice", "alice-pw");
    // Grant: WRITE on orders.
    produce(&a, &orders, "granted").expect("alice may write orders");
    // Prefixed ALL covers pay; the literal DENY wins over the ALLOW.
    produce(&a, &pay, "prefixed").expect("alice may write pay (prefixed ALL)");
    assert_topic_denied(produce(&a, &pay_secret, "denied").unwrap_err());
    // No ACL at all: denied.
    assert_topic_denied(produce(&a, &hidden, "nope").unwrap_err());
    // READ via User:* does not grant WRITE.
    assert_topic_denied(produce(&a, &public, "nope").unwrap_err());

    // Metadata: implied DESCRIBE and KIP-430 authorized operations.
    let md = metadata(
        &mut alice,
        Some(&[&orders, &pay, &pay_secret, &public, &hidden]),
    );
    use Operation::*;
    assert_eq!(
        topic_result(&md, &orders),
        Some((0, operations_to_bits(&[Write, Describe])))
    );
    assert_eq!(
        topic_result(&md, &pay),
        Some((
            0,
            operations_to_bits(&[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs
            ])
        ))
    );
    // ALL minus the denied WRITE.
    assert_eq!(
        topic_result(&md, &pay_secret),
        Some((
            0,
            operations_to_bits(&[
                Read,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs
            ])
        ))
    );
    assert_eq!(
        topic_result(&md, &public),
        Some((0, operations_to_bits(&[Read, Describe])))
    );
    assert_eq!(topic_result(&md, &hidden).map(|r| r.0), Some(29));

    // Listing all topics hides what alice may not describe.
    let all = metadata(&mut alice, None);
    assert!(topic_result(&all, &orders).is_some());
    assert!(topic_result(&all, &hidden).is_none());
    // bob's wildcard DESCRIBE shows every topic.
    let mut bob = raw(l, "bob", "bob-pw");
    let all = metadata(&mut bob, None);
    for t in [&orders, &pay, &pay_secret, &public, &hidden] {
        assert_eq!(topic_result(&all, t).map(|r| r.0), Some(0), "{t} for bob");
    }
    assert_eq!(
        topic_result(&all, &public).map(|r| r.1),
        Some(operations_to_bits(&[Read, Describe]))
    );

    // Super user: every operation, and cluster operations in
    // DescribeCluster.
    let md = metadata(&mut adm, Some(&[&hidden]));
    assert_eq!(
        topic_result(&md, &hidden),
        Some((
            0,
            operations_to_bits(&[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs
            ])
        ))
    );
    if adm.version_for::<DescribeClusterRequest>().is_ok() {
        let dc = adm
            .send(
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            )
            .unwrap();
        assert_eq!(
            dc.cluster_authorized_operations,
            operations_to_bits(&[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite
            ])
        );
        let dc = bob
            .send(
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            )
            .unwrap();
        assert_eq!(dc.cluster_authorized_operations, 0);
    }

    // Denials are in the evidence log with principal and resource.
    let events = l.events().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AuthorizationDenied { principal, operation, resource_name, .. }
            if principal == "User:alice" && operation == "WRITE" && *resource_name == pay_secret)));

    // DeleteAcls removes exactly the matching binding.
    let deleted = adm
        .delete_acls(&[AclBindingFilter::exact(&created[2])])
        .unwrap();
    assert_eq!(deleted, vec![created[2].clone()]);
    let left = adm.describe_acls(&AclBindingFilter::any()).unwrap();
    assert_eq!(left.len(), created.len() - 1);
    produce(&a, &pay_secret, "now allowed").expect("DENY removed");

    // Cluster-level CREATE is needed for topics alice has no CREATE on.
    assert_eq!(
        try_create(&a, &format!("{r}-new")),
        Err(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    assert_eq!(
        try_create(&a, &format!("{pay}-new")),
        Ok(()),
        "prefixed ALL includes CREATE"
    );
    assert_eq!(
        admin(l).partition_count(&format!("{pay}-new")).unwrap(),
        Some(1)
    );

    // A CLUSTER ACL is validated (name must be kafka-cluster).
    let bad = acl(
        ResourceType::Cluster,
        "other",
        PatternType::Literal,
        "User:alice",
        Operation::Create,
        Permission::Allow,
    );
    assert!(adm.create_acls(&[bad]).is_err());
    adm.create_acls(&[acl(
        ResourceType::Cluster,
        CLUSTER_RESOURCE_NAME,
        PatternType::Literal,
        "User:alice",
        Operation::Create,
        Permission::Allow,
    )])
    .unwrap();
    assert_eq!(
        try_create(&a, &format!("{r}-new")),
        Ok(()),
        "cluster CREATE allows any topic"
    );
    assert_eq!(
        admin(l).partition_count(&format!("{r}-new")).unwrap(),
        Some(1)
    );
}

#[test]
fn revoking_write_mid_stream_fails_the_next_produce() {
    let topic = random_name("revoke");
    let write = topic_acl(&topic, PatternType::Literal, "User:alice", Operation::Write);
    let s = secured(vec![
        write.clone(),
        topic_acl(&topic, PatternType::Literal, "User:alice", Operation::Read),
        // The rig's reader uses a fresh `rig-reader-*` group id; librdkafka
        // fetches its committed offsets, which needs group DESCRIBE.
        acl(
            ResourceType::Group,
            "rig-reader",
            PatternType::Prefixed,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        ),
    ]);
    let l = &s.listener;
    admin(l).create_topic(&topic, 1).unwrap();
    let a = conn(l, "alice", "alice-pw");
    let producer: FutureProducer = producer_config(&a).create().unwrap();
    for i in 0..5 {
        send(&producer, &topic, &format!("before-{i}")).expect("allowed produce");
    }

    let mut adm = raw(l, "admin", ADMIN_PASSWORD);
    assert_eq!(
        adm.delete_acls(&[AclBindingFilter::exact(&write)]).unwrap(),
        vec![write.clone()]
    );
    // The same producer, same connection: the very next produce fails.
    assert_topic_denied(send(&producer, &topic, "after").unwrap_err());

    // READ is still granted: the five records (and nothing else) are
    // readable by alice through the listener.
    let records = kmirror_rig::cluster::read_all(
        &a,
        &topic,
        5,
        Duration::from_millis(300),
        Duration::from_secs(30),
    )
    .expect("alice reads");
    assert_eq!(records.len(), 5);

    let events = l.events().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AuthorizationDenied { principal, api, operation, resource_name, .. }
            if principal == "User:alice" && api == "Produce" && operation == "WRITE" && *resource_name == topic)));
}

#[test]
fn groups_idempotence_and_configs_are_authorized() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::Message;

    let r = random_name("grp");
    let topic = format!("{r}-t");
    let good_group = format!("{r}-allowed");
    let bad_group = format!("{r}-denied");
    let s = secured(vec![
        topic_acl(&topic, PatternType::Literal, "User:alice", Operation::Write),
        topic_acl(&topic, PatternType::Literal, "User:alice", Operation::Read),
        acl(
            ResourceType::Group,
            &good_group,
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        ),
        topic_acl(&topic, PatternType::Literal, "User:bob", Operation::Read),
    ]);
    let l = &s.listener;
    admin(l).create_topic(&topic, 1).unwrap();
    let a = conn(l, "alice", "alice-pw");

    // Idempotent producer: InitProducerId is allowed by WRITE on a topic.
    let mut cfg = producer_config(&a);
    cfg.set("enable.idempotence", "true");
    let idem: FutureProducer = cfg.create().unwrap();
    for i in 0..3 {
        send(&idem, &topic, &format!("idem-{i}")).expect("idempotent produce");
    }

    // bob has no WRITE anywhere and no IDEMPOTENT_WRITE: InitProducerId
    // fails with CLUSTER_AUTHORIZATION_FAILED.
    let mut cfg = producer_config(&conn(l, "bob", "bob-pw"));
    cfg.set("enable.idempotence", "true");
    cfg.set("message.timeout.ms", "5000");
    let bob_idem: FutureProducer = cfg.create().unwrap();
    // librdkafka treats the refusal as fatal for an idempotent producer
    // and purges the record.
    send(&bob_idem, &topic, "nope").unwrap_err();
    let fatal = bob_idem.client().fatal_error();
    assert_eq!(
        fatal.as_ref().map(|f| f.0),
        Some(RDKafkaErrorCode::ClusterAuthorizationFailed),
        "{fatal:?}"
    );
    let events = l.events().unwrap();
    assert!(
        events.iter().any(|e| matches!(e,
            AuditEvent::AuthorizationDenied { principal, api, operation, .. }
                if principal == "User:bob" && api == "InitProducerId" && operation == "IDEMPOTENT_WRITE")),
        "{events:#?}"
    );

    // DescribeConfigs: WRITE/READ do not imply DESCRIBE_CONFIGS; the super
    // user may.
    assert_eq!(
        describe_topic_config(&mut raw(l, "alice", "alice-pw"), &topic),
        29
    );
    assert_eq!(
        describe_topic_config(&mut raw(l, "admin", ADMIN_PASSWORD), &topic),
        0
    );

    // A consumer in an allowed group joins, consumes and commits.
    let consumer = |group: &str| -> BaseConsumer {
        a.client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .unwrap()
    };
    let c = consumer(&good_group);
    c.subscribe(&[&topic]).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    while got.len() < 3 && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => got.push(String::from_utf8_lossy(m.payload().unwrap()).into_owned()),
            Some(Err(e)) => panic!("consuming in {good_group}: {e:?}"),
            None => {}
        }
    }
    assert_eq!(got, vec!["idem-0", "idem-1", "idem-2"]);
    c.commit_consumer_state(CommitMode::Sync)
        .expect("commit in allowed group");
    let committed = kmirror_rig::cluster::committed_offsets(&a, &good_group, &topic).unwrap();
    assert_eq!(committed.get(&0).copied().flatten(), Some(3));
    drop(c);

    // DescribeGroups: KIP-430 operations for the allowed group (READ
    // implies DESCRIBE), GROUP_AUTHORIZATION_FAILED for the other.
    let mut alice = raw(l, "alice", "alice-pw");
    let dg = alice
        .send(
            &kafka_protocol::messages::DescribeGroupsRequest::default()
                .with_groups(vec![
                    kafka_protocol::messages::GroupId(StrBytes::from_string(good_group.clone())),
                    kafka_protocol::messages::GroupId(StrBytes::from_string(bad_group.clone())),
                ])
                .with_include_authorized_operations(true),
        )
        .expect("DescribeGroups");
    let group = |id: &str| {
        dg.groups
            .iter()
            .find(|g| g.group_id.as_str() == id)
            .map(|g| (g.error_code, g.authorized_operations))
    };
    assert_eq!(
        group(&good_group),
        Some((
            0,
            operations_to_bits(&[Operation::Read, Operation::Describe])
        ))
    );
    assert_eq!(group(&bad_group).map(|g| g.0), Some(30));

    // A group alice has no ACL for: GROUP_AUTHORIZATION_FAILED.
    let c = consumer(&bad_group);
    c.subscribe(&[&topic]).unwrap();
    let err = kmirror_rig::await_condition(Duration::from_secs(30), || {
        match c.poll(Duration::from_millis(200)) {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    })
    .expect("an error for the denied group");
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::GroupAuthorizationFailed),
        "{err:?}"
    );
}

/// One v2 record batch with a single record, for raw Produce requests.
fn record_batch(value: &str) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let rec = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_704_067_200_000,
        key: None,
        value: Some(bytes::Bytes::from(value.to_string())),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&rec],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn produce_request(topic: &str, value: &str) -> kafka_protocol::messages::ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    kafka_protocol::messages::ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(value)))])])
}

#[test]
fn pipelined_responses_keep_request_order() {
    use kafka_protocol::messages::{DescribeAclsRequest, ProduceRequest};

    let r = random_name("pipe");
    let allowed = format!("{r}-ok");
    let denied = format!("{r}-no");
    let s = secured(vec![topic_acl(
        &allowed,
        PatternType::Literal,
        "User:alice",
        Operation::Write,
    )]);
    let l = &s.listener;
    for t in [&allowed, &denied] {
        admin(l).create_topic(t, 1).unwrap();
    }
    // The old SaslHandshake v0 flow (bare token frames) also works.
    let mut c = KafkaClient::connect(l.addr()).unwrap();
    c.sasl_plain_v0("alice", "alice-pw")
        .expect("PLAIN via handshake v0");

    let pv = c.version_for::<ProduceRequest>().unwrap();
    let mv = c.version_for::<MetadataRequest>().unwrap();
    let dv = c.version_for::<DescribeAclsRequest>().unwrap();
    let md = |t: &str| {
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))]))
    };
    // Relayed, local, relayed, relayed-with-merge, local, relayed: all
    // written before any response is read.
    let ids = [
        c.send_request(mv, &md(&allowed)).unwrap(),
        c.send_request(pv, &produce_request(&denied, "refused"))
            .unwrap(),
        c.send_request(pv, &produce_request(&allowed, "accepted"))
            .unwrap(),
        c.send_request(mv, &md(&denied)).unwrap(),
        c.send_request(
            dv,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        )
        .unwrap(),
        c.send_request(pv, &produce_request(&allowed, "accepted-again"))
            .unwrap(),
    ];
    let (id, m) = c.receive::<MetadataRequest>(mv).unwrap();
    assert_eq!(
        (id, topic_result(&m, &allowed).map(|t| t.0)),
        (ids[0], Some(0))
    );
    let (id, p) = c.receive::<ProduceRequest>(pv).unwrap();
    assert_eq!(id, ids[1]);
    assert_eq!(p.responses[0].partition_responses[0].error_code, 29);
    let (id, p) = c.receive::<ProduceRequest>(pv).unwrap();
    assert_eq!(id, ids[2]);
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    let first_offset = p.responses[0].partition_responses[0].base_offset;
    let (id, m) = c.receive::<MetadataRequest>(mv).unwrap();
    assert_eq!(
        (id, topic_result(&m, &denied).map(|t| t.0)),
        (ids[3], Some(29))
    );
    let (id, a) = c.receive::<DescribeAclsRequest>(dv).unwrap();
    assert_eq!((id, a.error_code), (ids[4], 31));
    let (id, p) = c.receive::<ProduceRequest>(pv).unwrap();
    assert_eq!(id, ids[5]);
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(
        p.responses[0].partition_responses[0].base_offset,
        first_offset + 1
    );

    // A Produce naming both topics is split: the allowed part is written,
    // the denied part answered with TOPIC_AUTHORIZATION_FAILED.
    let mut both = produce_request(&allowed, "mixed");
    both.topic_data
        .extend(produce_request(&denied, "mixed").topic_data);
    let resp = c.send(&both).unwrap();
    let code = |t: &str| {
        resp.responses
            .iter()
            .find(|r| r.name.as_str() == t)
            .map(|r| r.partition_responses[0].error_code)
    };
    assert_eq!((code(&allowed), code(&denied)), (Some(0), Some(29)));

    // acks=0 to a denied topic: no response exists, so the connection is
    // closed, as Kafka does.
    let mut fire_and_forget = produce_request(&denied, "acks0");
    fire_and_forget.acks = 0;
    c.send_request(pv, &fire_and_forget).unwrap();
    assert!(c.is_closed_by_server(Duration::from_secs(5)));
}
