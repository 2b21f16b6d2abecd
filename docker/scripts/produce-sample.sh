#!/usr/bin/env bash
# One-shot job (apache/kafka image, as User:admin): writes RECORDS keyed
# sample records to the source topic with kafka-console-producer.sh
# (key:value lines; 17 keys, so per-key order is visible on the target).
set -euo pipefail

BIN="${KAFKA_BIN:-/opt/kafka/bin}"
ADMIN="${ADMIN_CONFIG:-/etc/kafka-client/admin.properties}"
SOURCE="${SOURCE_BOOTSTRAP:-kafka-source:9092}"
TOPIC="${TOPIC:-orders}"
RECORDS="${RECORDS:-1000}"

for i in $(seq 1 "$RECORDS"); do
  printf 'customer-%d:{"order":%d,"customer":%d}\n' $((i % 17)) "$i" $((i % 17))
done | "$BIN/kafka-console-producer.sh" --bootstrap-server "$SOURCE" \
  --producer.config "$ADMIN" --producer-property acks=all --topic "$TOPIC" \
  --property parse.key=true --property key.separator=:
echo "produce-sample: $RECORDS records written to $TOPIC on $SOURCE"
