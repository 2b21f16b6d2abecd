#!/usr/bin/env bash
# Builds the rig's test broker: tansu 0.6.0 from crates.io with the rig's
# patches (rig/tansu-patches/*.patch) applied to its crates, installed into
# ~/.cargo/kmirror-tansu/bin/tansu (where the rig looks first). Unpatched
# tansu 0.6.0 answers a fetch that starts inside a record batch with the next
# batch, so a consumer resuming at a mid-batch committed offset loses that
# batch's tail on the rig (see rig/tansu-patches/README.md).
#
# Rebuilt only when the patches change (their hash is stamped beside the
# binary); the build directory is kept, so a patch change rebuilds only the
# patched crates. The first build takes about 16 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_VERSION=0.6.0
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
ROOT="$CARGO_HOME/kmirror-tansu"
PATCHES=(rig/tansu-patches/*.patch)
STAMP="$(cat "${PATCHES[@]}" | sha256sum | cut -d' ' -f1)"

if [ -x "$ROOT/bin/tansu" ] && [ "$(cat "$ROOT/stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "install-tansu: ready ($("$ROOT/bin/tansu" --version), patched: ${PATCHES[*]##*/})"
  exit 0
fi

echo "install-tansu: building tansu ${TANSU_VERSION} with the rig's patches (about 16 minutes on 2 cores the first time)"
# The crates' sources, from crates.io through cargo's own cache.
fetcher="$ROOT/fetch"
mkdir -p "$fetcher/src"
cat >"$fetcher/Cargo.toml" <<EOF
[package]
name = "kmirror-tansu-fetch"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
tansu = { version = "=${TANSU_VERSION}", default-features = false }
tansu-broker = { version = "=${TANSU_VERSION}", default-features = false }
tansu-storage = { version = "=${TANSU_VERSION}", default-features = false }
EOF
: >"$fetcher/src/lib.rs"
cargo fetch --manifest-path "$fetcher/Cargo.toml" --quiet

crate_src() {
  local dir
  dir="$(find "$CARGO_HOME"/registry/src -mindepth 2 -maxdepth 2 -type d -name "$1-${TANSU_VERSION}" -print -quit)"
  [ -n "$dir" ] || { echo "install-tansu: no source for $1 ${TANSU_VERSION} in $CARGO_HOME/registry" >&2; exit 1; }
  echo "$dir"
}

# A fresh copy of each crate a patch touches, the patches applied to it.
src="$ROOT/src"
rm -rf "$src"
mkdir -p "$src"
patched=()
for p in "${PATCHES[@]}"; do
  while read -r c; do
    name="${c%-"${TANSU_VERSION}"}"
    if [ ! -d "$src/$c" ]; then
      cp -r "$(crate_src "$name")" "$src/$c"
      chmod -R u+w "$src/$c"
      patched+=("$name")
    fi
  done < <(grep -o '^+++ b/[^/]*' "$p" | sed 's#^+++ b/##' | sort -u)
  patch -s -d "$src" -p1 <"$p"
done
cp -r "$(crate_src tansu)" "$src/tansu-${TANSU_VERSION}"
chmod -R u+w "$src/tansu-${TANSU_VERSION}"
{
  echo
  echo "[patch.crates-io]"
  for name in $(printf '%s\n' "${patched[@]}" | sort -u); do
    echo "$name = { path = \"../$name-${TANSU_VERSION}\" }"
  done
} >>"$src/tansu-${TANSU_VERSION}/Cargo.toml"

cargo install --locked --force --path "$src/tansu-${TANSU_VERSION}" \
  --features dynostore,libsql --root "$ROOT" --target-dir "$ROOT/target"
echo "$STAMP" >"$ROOT/stamp"
echo "install-tansu: ready ($("$ROOT/bin/tansu" --version), patched: ${PATCHES[*]##*/})"
