#!/usr/bin/env bash
# nats-py (the NATS client for Python, from PyPI, pinned) for ops/nats-consumer.py, the
# downstream reader's example, which the replication tests run against a test cluster
# (tests/api/replication.rs, FRONTDOOR_NATS_PYTHON). Installs into a virtualenv under target/
# (or $CARGO_TARGET_DIR) unless that version is there, and prints its python.
#
#   ops/nats-py-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=2.16.0
TARGET=${CARGO_TARGET_DIR:-target}
VENV=$TARGET/nats-py-venv

installed() { "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('nats-py') != '$VERSION')" 2>/dev/null; }
if ! installed; then
  rm -rf "$VENV"
  mkdir -p "$TARGET"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "nats-py==$VERSION"
  installed || { echo "nats-py $VERSION did not install into $VENV" >&2; exit 1; }
fi
echo "$(cd "$VENV" && pwd)/bin/python"
