#!/usr/bin/env bash
# The whole test suite from a fresh checkout: install what the tests need, lint, run pytest.
# This is the README's test command and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

echo "== installing the gateway, its plugins and the test tools"
"$PYTHON" -m pip install --quiet -r requirements-dev.txt

echo "== lint"
"$PYTHON" -m ruff check .

echo "== tests"
"$PYTHON" -m pytest "$@"
