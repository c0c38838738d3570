#!/usr/bin/env bash
# From a fresh clone to a running gateway, in one command: make the virtualenv .venv (Python >=
# 3.11), install what serving needs (requirements.txt: the core and its plugins, no test tools)
# and serve ./gateway.toml on 127.0.0.1:8899 in the foreground (Ctrl-C stops it). Arguments go to
# `sluicegate serve` (e.g. --port 9000, --config my.toml). Later runs skip the install unless
# requirements.txt or a pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
export PIP_DISABLE_PIP_VERSION_CHECK=1

make_venv
stamp=.venv/.sluicegate-serve-requirements
wanted="$(cat requirements.txt core/pyproject.toml plugins/*/pyproject.toml | sha256sum)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== installing what serving needs (requirements.txt) into .venv"
  .venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$wanted" >"$stamp"
fi
exec .venv/bin/sluicegate serve "$@"
