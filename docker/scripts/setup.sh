#!/usr/bin/env bash
# One-shot job (apache/kafka image, as User:admin): creates the mirrored
# topic on both clusters and grants the mirror principal least-privilege
# ACLs, exactly what kmirror's start-up check asks for:
#   source: topic READ+DESCRIBE, group READ+DESCRIBE
#   target: topic WRITE+DESCRIBE (no CREATE: the topic is created here)
set -euo pipefail

BIN="${KAFKA_BIN:-/opt/kafka/bin}"
ADMIN="${ADMIN_CONFIG:-/etc/kafka-client/admin.properties}"
SOURCE="${SOURCE_BOOTSTRAP:-kafka-source:9092}"
TARGET="${TARGET_BOOTSTRAP:-kafka-target:9092}"
TOPIC="${TOPIC:-orders}"
PARTITIONS="${PARTITIONS:-3}"
GROUP="${GROUP:-kmirror}"
MIRROR="${MIRROR_PRINCIPAL:-User:mirrormaker}"

for cluster in "$SOURCE" "$TARGET"; do
  "$BIN/kafka-topics.sh" --bootstrap-server "$cluster" --command-config "$ADMIN" \
    --create --if-not-exists --topic "$TOPIC" --partitions "$PARTITIONS" --replication-factor 1
done

# allow CLUSTER KAFKA-ACLS-ARGS...: one kafka-acls.sh --add for the mirror principal.
allow() {
  local cluster="$1"
  shift
  "$BIN/kafka-acls.sh" --bootstrap-server "$cluster" --command-config "$ADMIN" \
    --add --allow-principal "$MIRROR" "$@"
}
allow "$SOURCE" --operation Read --operation Describe --topic "$TOPIC"
allow "$SOURCE" --operation Read --operation Describe --group "$GROUP"
allow "$TARGET" --operation Write --operation Describe --topic "$TOPIC"

for cluster in "$SOURCE" "$TARGET"; do
  echo "setup: ACLs on $cluster:"
  "$BIN/kafka-acls.sh" --bootstrap-server "$cluster" --command-config "$ADMIN" --list
done
