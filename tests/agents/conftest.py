"""Fixtures for the end-to-end tests with the real agent CLIs: the pinned install, a trap for
anything that tries to leave the machine, and one place to read what a run produced.

The repository runs pytest in importlib mode, which puts no test directory on ``sys.path``
(pyproject adds ``tests/`` only), so this directory's helper modules are made importable here.
They keep names of their own (``agent_*``): ``agents`` is the OpenAI Agents SDK's package name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from agent_clis import CLAUDE, CLAUDE_CODE_VERSION, CODEX, CODEX_VERSION, ROOT, ProxyTrap  # noqa: E402

INSTALL_TIMEOUT = 600  # a cold npm install of both CLIs takes ~15 s; allow a slow registry


@pytest.fixture(scope="session")
def pinned_clis(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The pinned CLIs, installed if missing (a no-op when .cache/agents already matches the pins:
    scripts/test.sh installs them before pytest), and proved to be the pinned versions."""
    subprocess.run(["bash", str(ROOT / "scripts" / "install-agents.sh")], check=True, timeout=INSTALL_TIMEOUT,
                   stdout=subprocess.DEVNULL)
    home = tmp_path_factory.mktemp("version-home")
    for binary, expected in ((CLAUDE, CLAUDE_CODE_VERSION), (CODEX, CODEX_VERSION)):
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30,
                                 env={"PATH": os.environ.get("PATH", ""), "HOME": str(home),
                                      "CODEX_HOME": str(home / ".codex")})
        assert expected in version.stdout, f"{binary} --version: {version.stdout!r} {version.stderr!r}"


@pytest_asyncio.fixture
async def trap():
    """A proxy every CLI run is pointed at: what it records tried to leave the machine."""
    async with ProxyTrap() as proxy:
        yield proxy


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The directory a CLI runs in (its project), apart from its HOME."""
    path = tmp_path / "project"
    path.mkdir()
    return path
