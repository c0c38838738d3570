#!/usr/bin/env bash
# Installs the real coding-agent CLIs the end-to-end tests in tests/agents/ run (Claude Code, Codex
# CLI), and axe-core for the admin console's accessibility tests (plugins/admin/tests), at the
# versions pinned in tests/agents/package.json + package-lock.json, into the
# project-local prefix .cache/agents/ (git-ignored; the directory CI caches). Idempotent: when the
# prefix already holds exactly the pinned lockfile, both CLIs and axe-core, nothing is downloaded. Silent
# unless it installs or fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PINS=tests/agents
PREFIX="${SLUICEGATE_AGENTS_PREFIX:-.cache/agents}"

installed() {  # $1: a prefix
  cmp -s "$PINS/package-lock.json" "$1/package-lock.json" \
    && cmp -s "$PINS/package.json" "$1/package.json" \
    && [ -x "$1/node_modules/.bin/claude" ] && [ -x "$1/node_modules/.bin/codex" ] \
    && [ -f "$1/node_modules/axe-core/axe.min.js" ]
}

installed "$PREFIX" && exit 0

mkdir -p "$(dirname "$PREFIX")"
# One installer at a time (parallel test runs may all find the prefix missing).
exec 9>"$PREFIX.lock"
flock 9
installed "$PREFIX" && exit 0

echo "== installing the agent CLIs and axe-core pinned in $PINS/package.json into $PREFIX"
# Built aside and swapped in whole: a failed or interrupted install never leaves a prefix that
# holds the new pins beside the old binaries.
STAGE="$PREFIX.new"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp "$PINS/package.json" "$PINS/package-lock.json" "$STAGE/"
# npm ci installs exactly the lockfile, integrity-checked. Claude Code's postinstall links its
# native binary, so install scripts must run.
(cd "$STAGE" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >/dev/null)
if ! installed "$STAGE"; then
  echo "install-agents: the CLIs or axe-core are missing from $STAGE/node_modules after npm ci" >&2
  exit 1
fi
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
