//! Pins the rig broker's behaviour that the no-loss tests depend on, so a
//! tansu without the rig's patches (`rig/tansu-patches/`) is noticed here,
//! by name, instead of as records "lost" by kmirror in a restart test.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use kmirror_rig::cluster::{ClusterConn, RIG_FETCH_WAIT_MS};
use kmirror_rig::listener::client::KafkaClient;
use kmirror_rig::random_name;
use kmirror_rig::tansu::{Tansu, TansuOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Writes `count` records to partition 0 of `topic` as one record batch (a
/// long linger, then one flush).
fn one_batch(conn: &ClusterConn, topic: &str, count: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = conn
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "10000")
        .set("batch.num.messages", "10000")
        .create()
        .unwrap();
    for i in 0..count {
        let value = format!("record-{i}");
        producer
            .send(BaseRecord::<(), _>::to(topic).partition(0).payload(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The base offsets and record counts of the batches a raw Fetch at
/// `offset` answers with.
fn fetch_batches(client: &mut KafkaClient, topic: &str, offset: i64) -> Vec<(i64, i32)> {
    let req = FetchRequest::default()
        .with_max_wait_ms(10)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    // v11: topics by name (v13+ want topic ids), before the flexible
    // versions.
    let resp = client.send_at(11, &req).unwrap();
    let partition = &resp.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0, "fetch at {offset}: {partition:?}");
    let mut records: Bytes = partition.records.clone().unwrap_or_default();
    RecordBatchDecoder::decode_batch_info(&mut records)
        .unwrap()
        .iter()
        .map(|b| (b.min_offset, b.record_count))
        .collect()
}

/// The offset of the first record a librdkafka consumer assigned at
/// `offset` receives, or `None` within 5 s.
fn first_consumed(conn: &ClusterConn, topic: &str, offset: i64) -> Option<i64> {
    let consumer: BaseConsumer = conn
        .client_config()
        .set("group.id", random_name("pin"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", RIG_FETCH_WAIT_MS)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .unwrap();
    consumer.assign(&tpl).unwrap();
    kmirror_rig::await_condition(Duration::from_secs(5), || {
        consumer
            .poll(Duration::from_millis(100))
            .map(|m| m.unwrap().offset())
    })
}

/// tansu 0.6.0 answers a fetch at offset 5 of a 12-record batch with the
/// *next* batch (first record 12), and a fetch inside the last batch with
/// nothing; the patched rig broker answers with the batch that holds the
/// offset, as Apache Kafka does, and the client drops the records before it.
#[test]
fn fetch_inside_a_batch_returns_that_batch() {
    let tansu = Tansu::start(TansuOptions::default()).expect("the rig's tansu starts");
    let conn = ClusterConn::plaintext(tansu.addr().to_string());
    let topic = random_name("batch");
    conn.create_topic(&topic, 1).unwrap();
    one_batch(&conn, &topic, 12);
    one_batch(&conn, &topic, 12);

    let mut client = KafkaClient::connect(tansu.addr()).unwrap();
    // The log really is two batches of 12, or the rest proves nothing.
    assert_eq!(
        fetch_batches(&mut client, &topic, 0),
        vec![(0, 12), (12, 12)]
    );
    // Inside the first batch: that batch first.
    assert_eq!(
        fetch_batches(&mut client, &topic, 5).first(),
        Some(&(0, 12)),
        "a fetch at offset 5 skipped the batch holding it (unpatched tansu? run scripts/install-tansu.sh)"
    );
    // Inside the last batch: that batch, not nothing.
    assert_eq!(
        fetch_batches(&mut client, &topic, 17),
        vec![(12, 12)],
        "a fetch at offset 17 skipped the last batch (unpatched tansu? run scripts/install-tansu.sh)"
    );

    // And so a resumed consumer gets exactly the record it asked for.
    assert_eq!(first_consumed(&conn, &topic, 5), Some(5));
    assert_eq!(first_consumed(&conn, &topic, 17), Some(17));
}

/// A `kmirror-rig group-member` process; killed (-9) when dropped.
struct Member {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl Member {
    fn spawn(tansu: &Tansu, group: &str, topic: &str) -> Member {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kmirror-rig"))
            .args([
                "group-member",
                &tansu.addr().to_string(),
                group,
                topic,
                "6000",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stdout, sink) = (child.stdout.take().unwrap(), out.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(n) = line.strip_prefix("assigned ") {
                    sink.lock().unwrap().push(n.parse().unwrap());
                }
            }
        });
        Member { child, out }
    }

    /// The partition counts of its assignments so far.
    fn assignments(&self) -> Vec<usize> {
        self.out.lock().unwrap().clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tansu 0.6.0's coordinator never rebalanced a dead member's partitions:
/// with two members of a group, after kill -9 of one, the survivor kept its
/// half for good (its heartbeat expired the dead member without moving the
/// group to a new generation, so the survivor rejoined as a follower of the
/// dead leader and got its old assignment back). The patched rig broker
/// gives the survivor every partition once the dead member's session (6 s)
/// has passed, as Kafka does.
#[test]
fn a_dead_members_partitions_go_to_the_survivor() {
    let tansu = Tansu::start(TansuOptions::default()).expect("the rig's tansu starts");
    let conn = ClusterConn::plaintext(tansu.addr().to_string());
    let topic = random_name("members");
    conn.create_topic(&topic, 4).unwrap();
    let group = random_name("group");
    let mut a = Member::spawn(&tansu, &group, &topic);
    let b = Member::spawn(&tansu, &group, &topic);
    let split = kmirror_rig::await_condition(Duration::from_secs(60), || {
        let (ta, tb) = (a.assignments(), b.assignments());
        (ta.last() == Some(&2) && tb.last() == Some(&2)).then_some(())
    });
    assert!(
        split.is_some(),
        "the group never split 2 + 2: a {:?}, b {:?}",
        a.assignments(),
        b.assignments()
    );
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let before = b.assignments().len();
    let took_over = kmirror_rig::await_condition(Duration::from_secs(40), || {
        let tb = b.assignments();
        (tb.len() > before && tb.last() == Some(&4)).then_some(())
    });
    assert!(
        took_over.is_some(),
        "the survivor never got the dead member's partitions: its assignments {:?} (unpatched tansu? run scripts/install-tansu.sh)",
        b.assignments()
    );
}
