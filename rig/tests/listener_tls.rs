//! TLS termination with client-certificate principals: an SSL listener in
//! front of tansu authenticates librdkafka clients by their certificate
//! subject (`User:O=kmirror,CN=mirror`) and enforces ACLs on it.

use std::net::SocketAddr;
use std::time::Duration;

use kmirror::preflight::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use kmirror_rig::cluster::read_all;
use kmirror_rig::listener::tls::TestPki;
use kmirror_rig::listener::{ssl_conn, AuditEvent, Listener, ListenerOptions};
use kmirror_rig::tansu::{Tansu, TansuOptions};
use kmirror_rig::{free_port, random_name};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn produce(c: &kmirror_rig::cluster::ClusterConn, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let producer: FutureProducer = c
        .client_config()
        .set("message.timeout.ms", "8000")
        .create()
        .expect("producer");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(producer.send(
        FutureRecord::<(), str>::to(topic).payload("over tls"),
        Duration::from_secs(20),
    ))
    .map(|_| ())
    .map_err(|(e, _)| e.rdkafka_error_code().expect("an rdkafka error code"))
}

#[test]
fn client_certificates_are_principals() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path()).unwrap();
    let server = pki.server("listener").unwrap();
    let admin = pki.client("admin", "admin", Some("kmirror")).unwrap();
    let mirror = pki.client("mirror", "mirror", Some("kmirror")).unwrap();
    let stranger = pki
        .client("stranger", "stranger", Some("elsewhere"))
        .unwrap();
    let mirror_principal = "User:O=kmirror,CN=mirror";
    let topic = random_name("tls");

    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let tansu = Tansu::start(TansuOptions {
        advertised: Some(addr),
        ..Default::default()
    })
    .expect("tansu starts (scripts/install-tansu.sh)");
    let mut opts = ListenerOptions::ssl(&pki, &server, tansu.addr(), &["User:O=kmirror,CN=admin"]);
    opts.listen = Some(addr);
    let allow = |rt, name: &str, pattern, op| {
        AclBinding::new(
            rt,
            name,
            pattern,
            mirror_principal,
            "*",
            op,
            Permission::Allow,
        )
    };
    opts.acls = vec![
        allow(
            ResourceType::Topic,
            &topic,
            PatternType::Literal,
            Operation::Write,
        ),
        allow(
            ResourceType::Topic,
            &topic,
            PatternType::Literal,
            Operation::Read,
        ),
        allow(
            ResourceType::Group,
            "rig-reader",
            PatternType::Prefixed,
            Operation::Read,
        ),
    ];
    let listener = Listener::spawn(opts).expect("listener starts");

    ssl_conn(&listener, &pki, Some(&admin))
        .create_topic(&topic, 1)
        .expect("the admin certificate (a super user) creates the topic");

    let mm = ssl_conn(&listener, &pki, Some(&mirror));
    produce(&mm, &topic).expect("mirror certificate may write");
    let records = read_all(
        &mm,
        &topic,
        1,
        Duration::from_millis(300),
        Duration::from_secs(30),
    )
    .expect("mirror certificate may read");
    assert_eq!(records.len(), 1);

    // Another certificate from the same CA authenticates, but has no ACL.
    assert_eq!(
        produce(&ssl_conn(&listener, &pki, Some(&stranger)), &topic),
        Err(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    // No client certificate: the TLS handshake is refused.
    let err = produce(&ssl_conn(&listener, &pki, None), &topic).unwrap_err();
    assert_ne!(err, RDKafkaErrorCode::NoError);

    let events = listener.events().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::Authentication { mechanism, kafka_principal: Some(k), success: true, .. }
            if mechanism == "SSL" && k == mirror_principal)));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AuthorizationDenied { principal, resource_name, .. }
            if principal == "User:O=elsewhere,CN=stranger" && *resource_name == topic)));
    assert!(
        events.iter().any(|e| matches!(e,
            AuditEvent::Authentication { mechanism, success: false, error: Some(why), .. }
                if mechanism == "SSL" && why.contains("TLS handshake failed"))),
        "{events:#?}"
    );
}
