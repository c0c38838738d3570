"""``sluicegate check`` and ``serve`` as real processes (issue 11): a bad config is a list of
problems and exit 1, never a traceback; what ``check`` prints never holds a URL's password."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BROKEN = """
[providers.mock]
type = "openai"
base_url = 12
api_key = "sk-test"

[models.x]
targets = ["nosuch/model"]
"""

PROBLEMS = (
    "providers.mock.base_url: expected a string, got an integer",
    "models.x.targets[0]: unknown provider 'nosuch'",
)


def sluicegate(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluicegate.cli", *argv], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", ["check", "serve"])
def test_a_wrong_type_beside_an_unknown_target_lists_both_problems_and_exits_1(tmp_path, command):
    path = tmp_path / "gateway.toml"
    path.write_text(BROKEN)
    done = sluicegate(command, "--config", str(path))
    assert done.returncode == 1, done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "ClassValidationError" not in output
    for problem in PROBLEMS:
        assert problem in done.stderr
    assert f"{path}: 2 problem(s)" in done.stderr


def test_check_prints_base_urls_without_their_passwords_or_keys(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("""
[providers.proxy]
type = "openai"
base_url = "https://team:hunter2pass@proxy.example/v1?api_key=${PROXY_KEY}&region=eu"
api_key = "sk-test"
""")
    done = sluicegate("check", "--config", str(path), env={"PROXY_KEY": "pk_live_0123456789abcdef"})
    assert done.returncode == 0, done.stderr
    assert "https://team:***@proxy.example/v1?api_key=***&region=eu" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr
    assert "0123456789" not in done.stdout + done.stderr
