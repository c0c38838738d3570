# Sourced by scripts/serve.sh and scripts/test.sh (not run on its own): which Python to install
# into, and the project's virtualenv (.venv) when one is needed.
#
# Debian and Ubuntu mark their system Python "externally managed" (PEP 668): `pip install` there
# refuses, so a newcomer's install goes into .venv. A Python pip may install into (CI's, a pyenv
# or container Python, an activated virtualenv) is used as it is.

SLUICEGATE_MIN_PYTHON="3.11"

# The first of $PYTHON, python3, python3.13, python3.12, python3.11 that is >= 3.11; fails with a
# message naming what was found.
find_python() {
  local candidate found=""
  for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
    found="$found $candidate=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
  done
  echo "sluicegate needs Python >= $SLUICEGATE_MIN_PYTHON; found:${found:- no python3 on PATH}" >&2
  echo "(set PYTHON=/path/to/python3.11-or-newer)" >&2
  return 1
}

# True when pip would refuse to install into this Python (PEP 668's marker, outside a virtualenv).
externally_managed() {
  "$1" -c 'import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(marker) else 1)'
}

# Make .venv with a Python >= 3.11 unless it exists. Debian and Ubuntu ship venv's pip bootstrap
# (ensurepip) in a package of its own, python3.X-venv: installed with apt when it is missing.
make_venv() {
  [ -x .venv/bin/python ] && return 0
  local python version
  python="$(find_python)" || return 1
  echo "== making the virtualenv .venv with $python"
  if ! "$python" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "'$python -m venv' failed; install your system's venv package for Python $version" >&2
      return 1
    fi
    echo "== installing python$version-venv (Debian and Ubuntu ship ensurepip apart)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$version-venv"
    "$python" -m venv .venv
  fi
}

# The Python to install the project into: $PYTHON when set; an activated virtualenv; the
# project's .venv when it exists (scripts/serve.sh made it); else python3 itself when pip may
# install into it (CI), or a new .venv when it may not (PEP 668).
pick_python() {
  if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
  elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    echo "$VIRTUAL_ENV/bin/python"
  elif [ -x .venv/bin/python ]; then
    echo ".venv/bin/python"
  else
    local python
    python="$(find_python)" || return 1
    if externally_managed "$python"; then
      make_venv >&2 || return 1
      echo ".venv/bin/python"
    else
      echo "$python"
    fi
  fi
}
