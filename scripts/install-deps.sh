#!/usr/bin/env bash
# Installs everything kmirror's build, tests and demo need on a Debian
# machine (run as root): build dependencies of librdkafka (through the rdkafka
# crate's cmake build) with Kerberos/SASL, MIT Kerberos for the test KDC, and
# the pinned tansu broker (patched, scripts/install-tansu.sh); Java's keytool (the TLS tests make a JKS store as
# a Java user has one) and python3-venv (the benchmark's Python peer). Safe
# to run again: it skips what is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libssl-dev libsasl2-dev libsasl2-modules-gssapi-mit libkrb5-dev
  libcurl4-openssl-dev zlib1g-dev libzstd-dev
  krb5-kdc krb5-admin-server krb5-user
  clang libclang-dev
  docker-compose shellcheck systemd man-db
  python3-venv
  default-jre-headless
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # krb5-kdc/krb5-admin-server ask for a realm through debconf; the rig
  # writes its own krb5.conf, so the defaults are fine.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tests/shipping.rs checks the Dockerfile's package names with apt-cache.
lists=(/var/lib/apt/lists/*_Packages)
if [ ! -e "${lists[0]}" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
fi

export PATH="$HOME/.cargo/bin:$PATH"
# The rig's broker: tansu 0.6.0 with the rig's patches (rig/tansu-patches/).
"$(dirname "$0")/install-tansu.sh"
