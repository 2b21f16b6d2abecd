//! Kerberos end to end: librdkafka (Cyrus SASL GSSAPI) and the rig's own
//! GSSAPI client authenticate to the listener with keytabs from the rig
//! KDC, produce and consume through it to tansu, and are refused with
//! Kafka's errors when keys are stale.
//!
//! librdkafka's Kerberos support reads `KRB5_CONFIG`/`KRB5CCNAME` from the
//! process environment, so everything runs in one test, sequentially, in
//! this dedicated test binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kmirror::preflight::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use kmirror_rig::cluster::{read_all, ClusterConn, RIG_FETCH_WAIT_MS};
use kmirror_rig::kdc::{Kdc, KdcOptions, ADMIN, KAFKA_SERVICE, MIRRORMAKER, MIRRORMAKER2};
use kmirror_rig::listener::client::{KafkaClient, KafkaError};
use kmirror_rig::listener::{gssapi_conn, AuditEvent, SecuredBroker};
use kmirror_rig::{await_condition, random_name};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// Records client-level errors (librdkafka's error callback), where
/// authentication failures are reported, and delivery outcomes.
#[derive(Clone, Default)]
struct ErrorLog {
    errors: Arc<Mutex<Vec<RdError>>>,
    delivered: Arc<Mutex<Vec<bool>>>,
}

impl ClientContext for ErrorLog {
    fn error(&self, error: RdError, reason: &str) {
        eprintln!("librdkafka error: {error:?}: {reason}");
        self.errors.lock().unwrap().push(error);
    }
}

impl rdkafka::producer::ProducerContext for ErrorLog {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        self.delivered.lock().unwrap().push(result.is_ok());
    }
}

/// librdkafka GSSAPI settings for `principal` with `keytab`. The kinit
/// command is spelled out (no `-R`), so a stale keytab is really used
/// instead of renewing a ticket already in the cache.
fn gssapi(bootstrap: &str, principal: &str, keytab: &std::path::Path) -> ClusterConn {
    ClusterConn {
        bootstrap: bootstrap.to_string(),
        props: vec![
            ("security.protocol".into(), "SASL_PLAINTEXT".into()),
            ("sasl.mechanism".into(), "GSSAPI".into()),
            ("sasl.kerberos.service.name".into(), "kafka".into()),
            ("sasl.kerberos.principal".into(), principal.into()),
            ("sasl.kerberos.keytab".into(), keytab.display().to_string()),
            (
                "sasl.kerberos.kinit.cmd".into(),
                "kinit -k -t \"%{sasl.kerberos.keytab}\" %{sasl.kerberos.principal}".into(),
            ),
            ("fetch.wait.max.ms".into(), RIG_FETCH_WAIT_MS.into()),
        ],
    }
}

/// Uses a fresh credential cache for the next client, so no ticket from an
/// earlier scenario is reused.
fn fresh_ccache(kdc: &Kdc) -> String {
    let cc = format!("FILE:{}", kdc.dir().join(random_name("cc")).display());
    std::env::set_var("KRB5CCNAME", &cc);
    cc
}

fn allow(rt: ResourceType, name: &str, principal: &str, op: Operation) -> AclBinding {
    AclBinding::new(
        rt,
        name,
        PatternType::Literal,
        principal,
        "*",
        op,
        Permission::Allow,
    )
}

/// Produces `n` records with a GSSAPI producer; the delivery results.
fn produce_n(c: &ClusterConn, topic: &str, n: usize) -> Vec<Result<(), RdError>> {
    let mut cfg: ClientConfig = c.client_config();
    cfg.set("message.timeout.ms", "15000");
    let producer: ThreadedProducer<DefaultProducerContext> = cfg.create().expect("producer");
    let mut results = Vec::new();
    for i in 0..n {
        let payload = format!("kerberized-{i}");
        results.push(
            producer
                .send(BaseRecord::<(), str>::to(topic).payload(&payload))
                .map_err(|(e, _)| e),
        );
    }
    let flushed = producer.flush(Duration::from_secs(20));
    results.push(flushed);
    results
}

/// Connects a producer that must fail to authenticate; returns the
/// client-level errors librdkafka reported.
fn refused_errors(c: &ClusterConn, topic: &str) -> Vec<RdError> {
    let errors = ErrorLog::default();
    let mut cfg: ClientConfig = c.client_config();
    cfg.set("message.timeout.ms", "8000");
    let producer: ThreadedProducer<ErrorLog> =
        cfg.create_with_context(errors.clone()).expect("producer");
    producer
        .send(BaseRecord::<(), str>::to(topic).payload("refused"))
        .map_err(|(e, _)| e)
        .expect("queued");
    let seen = await_condition(Duration::from_secs(20), || {
        let e = errors.errors.lock().unwrap();
        (!e.is_empty()).then(|| e.clone())
    });
    // The record's fate is decided by message.timeout.ms: it must fail.
    producer.flush(Duration::from_secs(20)).expect("flush");
    assert_eq!(
        *errors.delivered.lock().unwrap(),
        vec![false],
        "a refused client must not deliver"
    );
    seen.unwrap_or_default()
}

fn is_auth_error(e: &RdError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication)
}

#[test]
fn kerberos_clients_through_the_listener() {
    let kdc = Kdc::start(KdcOptions::default()).expect("KDC starts");
    for (k, v) in kdc.env() {
        std::env::set_var(k, v);
    }
    let realm = kdc.realm().to_string();
    let topic = random_name("krb");
    let broker = SecuredBroker::start_kerberos(&kdc, |opts| {
        opts.acls = vec![
            allow(
                ResourceType::Topic,
                &topic,
                "User:mirrormaker",
                Operation::Write,
            ),
            allow(
                ResourceType::Topic,
                &topic,
                "User:mirrormaker",
                Operation::Read,
            ),
            AclBinding::new(
                ResourceType::Group,
                "rig-reader",
                PatternType::Prefixed,
                "User:mirrormaker",
                "*",
                Operation::Read,
                Permission::Allow,
            ),
        ];
    })
    .expect("tansu and listener start (tansu: scripts/install-tansu.sh)");
    let listener = &broker.listener;
    let bootstrap = listener.bootstrap();

    // The admin principal (a super user) creates the topic over GSSAPI.
    fresh_ccache(&kdc);
    gssapi(
        &bootstrap,
        &kdc.full_name(ADMIN),
        &kdc.standard_keytab(ADMIN),
    )
    .create_topic(&topic, 2)
    .expect("admin creates the topic over GSSAPI");

    // The mirror principal produces and consumes through the listener.
    fresh_ccache(&kdc);
    let mm = gssapi_conn(listener, &kdc, MIRRORMAKER);
    let results = produce_n(&mm, &topic, 20);
    for r in &results {
        r.as_ref().expect("produce as mirrormaker");
    }
    let records = read_all(
        &mm,
        &topic,
        20,
        Duration::from_millis(300),
        Duration::from_secs(30),
    )
    .expect("consume as mirrormaker");
    assert_eq!(records.len(), 20);

    let mm_full = format!("mirrormaker/localhost@{realm}");
    let events = listener.events().unwrap();
    assert!(
        events.iter().any(|e| matches!(e,
            AuditEvent::Authentication { mechanism, principal: Some(p), kafka_principal: Some(k), success: true, .. }
                if mechanism == "GSSAPI" && *p == mm_full && k == "User:mirrormaker")),
        "no GSSAPI success for {mm_full} in {events:#?}"
    );

    // The rig's own GSSAPI client (RFC 4752 exchange) as mirrormaker2:
    // authenticated, but without ACLs its produce metadata is refused.
    let cc = fresh_ccache(&kdc);
    kdc.kinit(MIRRORMAKER2, &kdc.standard_keytab(MIRRORMAKER2), &cc)
        .unwrap();
    let mut c = KafkaClient::connect(listener.addr()).unwrap();
    c.sasl_gssapi("localhost").expect("GSSAPI as mirrormaker2");
    let md = c
        .send(
            &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(kafka_protocol::messages::TopicName(
                        kafka_protocol::protocol::StrBytes::from_string(topic.clone()),
                    ))),
            ])),
        )
        .unwrap();
    assert_eq!(md.topics[0].error_code, 29);
    let events = listener.events().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AuthorizationDenied { principal, resource_name, .. }
            if principal == "User:mirrormaker2" && *resource_name == topic)));

    // Re-authentication (KIP-368) on that connection: as the same
    // principal it is accepted, and the evidence records the presented
    // service ticket's expiry (the realm's 10-hour tickets); as another
    // principal it is refused and the connection closed, as Kafka does.
    c.sasl_gssapi("localhost")
        .expect("re-authentication as mirrormaker2");
    let mm2_full = kdc.full_name(MIRRORMAKER2);
    let events = listener.events().unwrap();
    let reauth = events.iter().find_map(|e| match e {
        AuditEvent::Authentication {
            ts_ms,
            principal: Some(p),
            success: true,
            reauthentication: true,
            ticket_expiry_ms: Some(expiry),
            ..
        } if *p == mm2_full => Some((*ts_ms, *expiry)),
        _ => None,
    });
    let (ts, expiry) = reauth.unwrap_or_else(|| panic!("no re-authentication in {events:#?}"));
    assert!(
        expiry > ts + 9 * 3600 * 1000 && expiry <= ts + 10 * 3600 * 1000 + 1000,
        "ticket expiry {expiry} at {ts}"
    );
    let cc = fresh_ccache(&kdc);
    kdc.kinit(MIRRORMAKER, &kdc.standard_keytab(MIRRORMAKER), &cc)
        .unwrap();
    let e = c.sasl_gssapi("localhost").unwrap_err();
    let ke = e
        .downcast_ref::<KafkaError>()
        .unwrap_or_else(|| panic!("expected a Kafka error, got {e:#}"));
    assert_eq!(ke.code, 58, "{ke}");
    assert!(
        ke.message.contains("Cannot change principals") && ke.message.contains("User:mirrormaker2"),
        "{ke}"
    );
    assert!(c.is_closed_by_server(Duration::from_secs(5)));

    // A client keytab exported before the key was rotated: kinit fails and
    // librdkafka reports an authentication error; nothing is delivered.
    let stale = kdc.dir().join("mm-stale.keytab");
    kdc.keytab_same_key(MIRRORMAKER, &stale).unwrap();
    kdc.keytab(MIRRORMAKER, &kdc.dir().join("mm-rotated.keytab"))
        .unwrap();
    fresh_ccache(&kdc);
    let errors = refused_errors(
        &gssapi(&bootstrap, &kdc.full_name(MIRRORMAKER), &stale),
        &topic,
    );
    assert!(errors.iter().any(is_auth_error), "{errors:?}");

    // The service key rotated after the listener loaded its keytab: the
    // client's ticket cannot be decrypted, and the listener answers
    // SASL_AUTHENTICATION_FAILED (58) and logs the failure.
    let fresh = kdc.dir().join("mm-fresh.keytab");
    kdc.keytab_same_key(MIRRORMAKER, &fresh).unwrap();
    kdc.keytab(KAFKA_SERVICE, &kdc.dir().join("kafka-rotated.keytab"))
        .unwrap();
    kdc.keytab(
        kmirror_rig::kdc::KAFKA_SERVICE_IP,
        &kdc.dir().join("kafka-rotated.keytab"),
    )
    .unwrap();
    let cc = fresh_ccache(&kdc);
    kdc.kinit(MIRRORMAKER, &fresh, &cc).unwrap();
    let mut c = KafkaClient::connect(listener.addr()).unwrap();
    let e = c.sasl_gssapi("localhost").unwrap_err();
    let ke = e
        .downcast_ref::<KafkaError>()
        .unwrap_or_else(|| panic!("expected a Kafka error, got {e:#}"));
    assert_eq!(ke.code, 58, "{ke}");
    assert!(ke.message.contains("GSSAPI"), "{ke}");
    assert!(c.is_closed_by_server(Duration::from_secs(5)));
    // librdkafka sees the same refusal as an authentication error.
    fresh_ccache(&kdc);
    let errors = refused_errors(
        &gssapi(&bootstrap, &kdc.full_name(MIRRORMAKER), &fresh),
        &topic,
    );
    assert!(errors.iter().any(is_auth_error), "{errors:?}");
    let events = listener.events().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::Authentication { mechanism, success: false, error: Some(_), .. } if mechanism == "GSSAPI")));
}
