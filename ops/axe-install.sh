#!/usr/bin/env bash
# axe-core (Deque's accessibility engine, from the npm registry, pinned) for the browser test
# (tests/browser), which injects it into every page it visits and fails on any WCAG 2.1 A or AA
# violation. Installs into target/axe/ (or $CARGO_TARGET_DIR/axe) unless that version is there.
#
#   ops/axe-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.14.1
TARGET=${CARGO_TARGET_DIR:-target}
DIR=$TARGET/axe
SCRIPT=$DIR/node_modules/axe-core/axe.min.js

installed() { [[ -f $SCRIPT ]] && grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/axe-core/package.json"; }
if ! installed; then
  if ! command -v npm >/dev/null; then
    apt-get update -qq && apt-get install -y -qq npm
  fi
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "axe-core@$VERSION"
  installed || { echo "axe-core $VERSION did not install into $DIR" >&2; exit 1; }
fi
echo "axe-core $VERSION: $(cd "$DIR" && pwd)/node_modules/axe-core/axe.min.js"
