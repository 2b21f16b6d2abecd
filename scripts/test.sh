#!/usr/bin/env bash
# Runs kmirror's whole test suite (unit, property and integration tests on
# the local rig of real brokers and a real KDC), installing what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Integration tests start their own brokers; two at a time fit 2 cores.
cargo test --workspace --locked -- --test-threads=2
# The long tier (#[ignore]d, minutes each: 2-minute tickets for 7 minutes,
# KDC outages) runs too with KMIRROR_LONG_TESTS=1.
if [ "${KMIRROR_LONG_TESTS:-0}" = 1 ]; then
    cargo test --workspace --locked -- --ignored --test-threads=2
fi
