#!/usr/bin/env bash
# The benchmark (README, "Performance"): starts the rig and measures, in one
# run on the same brokers, the ceilings, kmirror and a Python peer; prints a
# table with ratios and writes target/bench/results.json. Extra arguments go
# to kmirror-bench (--reps N, --records N, --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# The Python peer's confluent-kafka lives in a venv of its own: Debian's
# python3 is "externally managed" (PEP 668) and refuses a system-wide pip.
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/kmirror/bench-venv"
if ! "$VENV/bin/python" -c "import confluent_kafka" 2>/dev/null; then
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet confluent-kafka
fi
export KMIRROR_BENCH_PYTHON="$VENV/bin/python"
cargo build --release --locked --workspace --bins
exec target/release/kmirror-bench "$@"
