#!/usr/bin/env python3
"""The peer baseline: a consume->produce loop as users write it on
confluent-kafka (librdkafka) when MirrorMaker is not an option, with the same
no-loss settings as kmirror: acks=all, one request in flight, unbounded
retries, and source offsets committed only after the target acknowledged
every record before them (flush, then commit the consumed positions)."""
import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    source, target, topic, group, fetch_wait_ms = sys.argv[1:6]
    consumer = Consumer({
        "bootstrap.servers": source,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": int(fetch_wait_ms),
    })
    producer = Producer({
        "bootstrap.servers": target,
        "acks": "all",
        "max.in.flight.requests.per.connection": 1,
        "retries": 2147483647,
        "partitioner": "murmur2_random",
        "queue.buffering.max.messages": 11000,
    })
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)

    consumer.subscribe([topic])
    while True:
        batch = consumer.consume(num_messages=10000, timeout=0.5)
        if not batch:
            continue
        positions = {}
        for m in batch:
            if m.error():
                raise SystemExit(f"consume error: {m.error()}")
            while True:
                try:
                    producer.produce(topic, value=m.value(), key=m.key(), headers=m.headers(),
                                     timestamp=m.timestamp()[1], on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.01)
            positions[(m.topic(), m.partition())] = m.offset() + 1
        producer.flush()
        if failed:
            raise SystemExit(f"send failed: {failed[0]}")
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()], asynchronous=False)


if __name__ == "__main__":
    main()
