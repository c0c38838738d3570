#!/usr/bin/env bash
# The whole test suite from a fresh checkout: install what the tests need, lint, run pytest.
# This is the README's second command and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# $PYTHON, an active virtualenv or .venv (scripts/serve.sh makes it); else python3 where pip may
# install into it (CI), or a new .venv where it may not (Debian/Ubuntu: PEP 668). scripts/venv.sh.
. scripts/venv.sh
PYTHON="$(pick_python)"
echo "== python: $PYTHON ($("$PYTHON" -c 'import sys; print(sys.prefix)'))"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# System tools the process-level tests use (ps, ss), the real Redis the shared-backend tests
# run (plugins/redis), PostgreSQL (plugins/governance) and the Chromium the admin UI tests drive through Playwright (always the
# Debian package at /usr/bin/chromium, never `playwright install`); installed if missing.
missing=()
command -v ps >/dev/null 2>&1 || missing+=(procps)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The real PostgreSQL the governance store tests start on a free port (plugins/governance).
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # installs the agent CLIs (tests/agents)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

echo "== installing the gateway, its plugins and the test tools"
"$PYTHON" -m pip install --quiet -r requirements-dev.txt
bash scripts/install-agents.sh  # the pinned Claude Code and Codex CLIs, into .cache/agents (kept by CI)

echo "== lint"
"$PYTHON" -m ruff check .
"$PYTHON" -c 'from importlinter.cli import lint_imports_command; lint_imports_command()'  # lint-imports: .importlinter

echo "== docs"  # the site builds with no warning; docs/reference/*.md are checked by tests/test_docs.py
# (not --quiet: it hides the warnings --strict counts)
NO_MKDOCS_2_WARNING=1 "$PYTHON" -m mkdocs build --strict --site-dir .cache/site

echo "== tests"
"$PYTHON" -m pytest "$@"
