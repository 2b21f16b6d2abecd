#!/usr/bin/env bash
# Prints the path of a Python with confluent-kafka for the benchmark's Python
# peer (bench/peer_mirror.py), creating its venv on first use. The venv is a
# cache (~/.cache/kmirror/bench-venv): Debian's python3 is "externally
# managed" (PEP 668) and refuses a system-wide pip install.
set -euo pipefail
# The peer's client, pinned so that runs compare like with like.
CONFLUENT_KAFKA=2.16.1
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/kmirror/bench-venv"
if ! "$VENV/bin/python" -c "import confluent_kafka, sys; sys.exit(confluent_kafka.__version__ != '$CONFLUENT_KAFKA')" 2>/dev/null; then
  /usr/bin/python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "confluent-kafka==$CONFLUENT_KAFKA" >&2
fi
echo "$VENV/bin/python"
