#!/usr/bin/env bash
# The main job, end to end on the local rig: starts two brokers, writes
# sample records (keys, headers, timestamps) to a source topic, mirrors them
# with kmirror using MirrorMaker-style properties files, verifies the target
# record by record and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --workspace --bins
exec target/release/kmirror-demo "$@"
