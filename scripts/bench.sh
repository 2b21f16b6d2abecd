#!/usr/bin/env bash
# The benchmark (docs/benchmarks.md): starts the rig and measures, in one
# run on the same brokers, the ceilings, kmirror and a Python peer, then
# kmirror's latency at 10/50/90 % of its rate; prints tables with ratios and
# writes target/bench/results.json. Extra arguments go to kmirror-bench
# (--reps N, --records N, --quick, --latency-loads P,P; --rtt MS for the
# distance rows instead: one cluster behind the rig's delay proxy, both
# placements).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
KMIRROR_BENCH_PYTHON="$(scripts/bench-venv.sh)"
export KMIRROR_BENCH_PYTHON
cargo build --release --locked --workspace --bins
exec target/release/kmirror-bench "$@"
