#!/usr/bin/env bash
# The main job, end to end on the local rig: starts two brokers, writes
# sample records (keys, headers, timestamps) to a source topic, mirrors them
# with kmirror using MirrorMaker-style properties files, verifies the target
# record by record and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# KMIRROR_DEMO_BIN_DIR: run binaries built already (the test suite's fast
# tier runs this script with its own debug build) instead of a release build.
if [ -n "${KMIRROR_DEMO_BIN_DIR:-}" ]; then
  exec "$KMIRROR_DEMO_BIN_DIR/kmirror-demo" "$@"
fi
cargo build --release --locked --workspace --bins
exec target/release/kmirror-demo "$@"
