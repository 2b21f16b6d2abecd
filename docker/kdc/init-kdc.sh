#!/usr/bin/env bash
# The compose rig's KDC: creates realm EXAMPLE.COM (once per container),
# the principals, and one keytab per consumer, each mode 0600 and owned by
# the uid that reads it, in the volume that only that consumer mounts:
#
#   /keytabs/brokers/kafka-<host>.keytab  kafka/<host>@REALM   uid 1000 (apache/kafka's appuser)
#   /keytabs/admin/admin.keytab           admin@REALM          uid 1000 (setup/producer/check jobs)
#   /keytabs/mirror/mirrormaker.keytab    mirrormaker/<host>   uid 10001 (kmirror's image user)
#
# Keytabs are exported anew at every start (ktadd re-randomises the key, so
# stale copies stop working); then the KDC runs in the foreground.
set -euo pipefail

REALM="${REALM:-EXAMPLE.COM}"
BROKER_HOSTS="${BROKER_HOSTS:-kafka-source kafka-target}"
MIRROR_HOST="${MIRROR_HOST:-kmirror}"
KAFKA_UID="${KAFKA_UID:-1000}"
MIRROR_UID="${MIRROR_UID:-10001}"
# Overridable so tests/shipping.rs can run this script outside a container
# (with KRB5_KDC_PROFILE naming a kdc.conf whose database is under DB_DIR).
DB_DIR="${DB_DIR:-/var/lib/krb5kdc}"
KEYTAB_DIR="${KEYTAB_DIR:-/keytabs}"
READY="$DB_DIR/ready"

rm -f "$READY"
mkdir -p "$KEYTAB_DIR/brokers" "$KEYTAB_DIR/admin" "$KEYTAB_DIR/mirror"

if [ ! -f "$DB_DIR/principal" ]; then
  echo "init-kdc: creating realm $REALM"
  kdb5_util create -s -r "$REALM" -P "$(head -c 32 /dev/urandom | base64)" >/dev/null
fi

# keytab PRINCIPAL FILE UID: the principal (created if missing) with a fresh
# key, exported to FILE alone, chmod 0600, owned by UID.
keytab() {
  local principal="$1@$REALM" file="$2" uid="$3"
  if ! kadmin.local -q "getprinc $principal" 2>/dev/null | grep -q "^Principal: $principal"; then
    kadmin.local -q "addprinc -randkey $principal" >/dev/null
  fi
  rm -f "$file"
  kadmin.local -q "ktadd -k $file $principal" >/dev/null
  # kadmin.local exits 0 on most errors: check that the key is there.
  klist -kt "$file" | grep -q " $principal\$" || { echo "init-kdc: no key for $principal in $file" >&2; exit 1; }
  chown "$uid:$uid" "$file"
  chmod 0600 "$file"
  echo "init-kdc: $principal -> $file (uid $uid, mode 0600)"
}

for host in $BROKER_HOSTS; do
  keytab "kafka/$host" "$KEYTAB_DIR/brokers/kafka-$host.keytab" "$KAFKA_UID"
done
keytab admin "$KEYTAB_DIR/admin/admin.keytab" "$KAFKA_UID"
keytab "mirrormaker/$MIRROR_HOST" "$KEYTAB_DIR/mirror/mirrormaker.keytab" "$MIRROR_UID"

touch "$READY"
echo "init-kdc: realm $REALM ready"
exec krb5kdc -n
