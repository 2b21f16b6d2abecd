#!/usr/bin/env bash
# One-shot job (apache/kafka image, as User:admin): waits until the target
# topic holds exactly the source topic's records (key and value, compared as
# multisets), then exits 0; exits 1 with a diff after TIMEOUT seconds.
set -euo pipefail

BIN="${KAFKA_BIN:-/opt/kafka/bin}"
ADMIN="${ADMIN_CONFIG:-/etc/kafka-client/admin.properties}"
SOURCE="${SOURCE_BOOTSTRAP:-kafka-source:9092}"
TARGET="${TARGET_BOOTSTRAP:-kafka-target:9092}"
TOPIC="${TOPIC:-orders}"
TIMEOUT="${TIMEOUT:-300}"

# dump CLUSTER: every record of TOPIC as key:value, sorted.
dump() {
  { "$BIN/kafka-console-consumer.sh" --bootstrap-server "$1" --consumer.config "$ADMIN" \
      --topic "$TOPIC" --from-beginning --timeout-ms 15000 \
      --property print.key=true --property key.separator=: 2>/dev/null || true; } | sort
}

expected="$(dump "$SOURCE")"
want="$(printf '%s\n' "$expected" | grep -c . || true)"
if [ "$want" -eq 0 ]; then
  echo "check-target: the source topic $TOPIC is empty" >&2
  exit 1
fi
deadline=$((SECONDS + TIMEOUT))
while :; do
  actual="$(dump "$TARGET")"
  if [ "$actual" = "$expected" ]; then
    echo "check-target: OK: all $want records of $TOPIC are on $TARGET, byte for byte"
    exit 0
  fi
  have="$(printf '%s\n' "$actual" | grep -c . || true)"
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "check-target: FAILED: $have of $want records on $TARGET after ${TIMEOUT}s; first differences:" >&2
    diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") | head -20 >&2 || true
    exit 1
  fi
  echo "check-target: $have of $want records on $TARGET so far"
  sleep 5
done
