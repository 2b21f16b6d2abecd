#!/usr/bin/env bash
# Runs kmirror's test suite (unit, property and integration tests on the
# local rig of real brokers and a real KDC), installing what it needs first.
#
#   scripts/test.sh          the fast tier (what CI runs)
#   scripts/test.sh --long   the long tier: soaks with real durations
#
# Extra arguments go to `cargo nextest run` (e.g. a filter: `-E 'test(abort)'`).
# Ends with a timing summary: the slowest tests and the wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

profile=default
run_ignored=default
if [ "${1:-}" = "--long" ]; then
  profile=long
  run_ignored=only
  shift
fi

start=$(date +%s)
# The listener the rig runs is the one this build makes (no nested cargo
# build from inside the tests).
export KMIRROR_LISTENER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/kmirror-listener"
# nextest builds every test binary and the binaries they run (kmirror,
# kmirror-listener, kmirror-bench) once, before any test starts.
cargo nextest run --workspace --locked --no-fail-fast \
  --profile "$profile" --run-ignored "$run_ignored" "$@" && rc=0 || rc=$?

junit="${CARGO_TARGET_DIR:-target}/nextest/$profile/junit.xml"
if [ -f "$junit" ]; then
  echo "== slowest tests ($profile tier)"
  python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = [(float(c.get("time", 0)), c.get("classname", ""), c.get("name", ""))
         for c in ET.parse(sys.argv[1]).iter("testcase")]
for t, cls, name in sorted(cases, reverse=True)[:15]:
    print(f"{t:8.1f} s  {cls} {name}")
print(f"{len(cases)} tests, {sum(c[0] for c in cases):.0f} s of test time")
PY
fi
echo "== $profile tier: $(( $(date +%s) - start )) s wall (build and tests), exit $rc"
exit "$rc"
