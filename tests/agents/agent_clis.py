"""The real agent CLIs (Claude Code, Codex CLI) as the tests run them: where the pinned install
lives, the offline environment each needs, and one bounded subprocess run.

The versions are pinned in ``tests/agents/package.json`` (with ``package-lock.json``);
``scripts/install-agents.sh`` installs them into ``.cache/agents/``. Every run gets a fresh
HOME (and CODEX_HOME), the switches that stop each CLI calling home, and proxy variables that
point at a trap: anything a CLI still sends anywhere but 127.0.0.1 lands in the ``ProxyTrap``
instead of on the network, so a test can assert that nothing tried to leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path

from aiohttp import web
from attrs import define

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PINS: dict[str, str] = json.loads((HERE / "package.json").read_text())["dependencies"]
CLAUDE_CODE_VERSION = PINS["@anthropic-ai/claude-code"]
CODEX_VERSION = PINS["@openai/codex"]
# Same default and override as scripts/install-agents.sh.
PREFIX = Path(os.environ.get("SLUICEGATE_AGENTS_PREFIX", ROOT / ".cache" / "agents"))
if not PREFIX.is_absolute():
    PREFIX = ROOT / PREFIX
CLAUDE = PREFIX / "node_modules" / ".bin" / "claude"
CODEX = PREFIX / "node_modules" / ".bin" / "codex"

# The only variables a run inherits: the CLIs must not see a developer's real keys, config or
# proxies, and must find node, bash and the usual tools.
INHERITED = ("PATH", "LANG", "LC_ALL", "TERM")

CLAUDE_OFFLINE = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
    "CLAUDE_CODE_SKIP_GIT_INSTRUCTIONS": "1",
    # One attempt per call: a round trip that only works on a retry is a failure here. (On a 400,
    # Claude Code still re-sends up to 5 variants with fewer beta features: not retries.)
    "CLAUDE_CODE_MAX_RETRIES": "0",
}


@define
class Completed:
    argv: list[str]
    returncode: int | None  # None: killed after the timeout
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        """Everything a failing assertion should show."""
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f}s\n"
                f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}")


async def run(argv: list[str], *, env: dict[str, str], cwd: Path, time_limit: float) -> Completed:
    """Run ``argv`` with stdin closed; killed (with its process group) after ``time_limit`` seconds.

    Async so the fake vendors and the gateway, served by this same event loop, keep answering.
    """
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), time_limit)
        returncode: int | None = process.returncode
    except TimeoutError:
        # The CLIs start helpers (shells, MCP servers): end the whole session, not just the CLI.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        try:  # what it printed so far; bounded too, should a helper outside the group hold the pipes
            stdout, stderr = await asyncio.wait_for(process.communicate(), 5)
        except TimeoutError:
            stdout, stderr = b"", b"(no output: the pipes stayed open after the kill)"
        returncode = None
    return Completed(argv, returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"),
                     time.monotonic() - started)


def base_env(home: Path, trap_url: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TMPDIR": str(home / "tmp"),
        "NO_COLOR": "1",
        "CI": "1",
        # Anything not for 127.0.0.1 goes to the trap, never out.
        "HTTPS_PROXY": trap_url, "HTTP_PROXY": trap_url, "ALL_PROXY": trap_url,
        "https_proxy": trap_url, "http_proxy": trap_url, "all_proxy": trap_url,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


# -- Claude Code ------------------------------------------------------------------------------


def claude_env(home: Path, trap_url: str, *, base_url: str, token: str) -> dict[str, str]:
    """Claude Code against ``base_url`` (the gateway root, as README tells users), bearer ``token``."""
    return {**base_env(home, trap_url), **CLAUDE_OFFLINE,
            "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_AUTH_TOKEN": token}


def claude_argv(prompt: str, *, model: str) -> list[str]:
    """One non-interactive turn with the default tool set, Bash allowed without asking (only Bash:
    ``--dangerously-skip-permissions`` would also need ``IS_SANDBOX=1`` to run as root)."""
    return [str(CLAUDE), "-p", prompt, "--output-format", "json", "--model", model,
            "--allowedTools", "Bash", "--max-turns", "4"]


# -- Codex CLI --------------------------------------------------------------------------------

CODEX_TOKEN_VAR = "SLUICEGATE_TOKEN"


@define
class CodexProvider:
    """The ``[model_providers.sluicegate]`` table Codex is given."""

    base_url: str  # ends in /v1: Codex appends /responses
    model: str
    websockets: bool = False
    #: Codex's own retry policy left at its default (else: one attempt).
    retries: bool = False

    def toml(self) -> str:
        lines = [
            f'model = "{self.model}"',
            'model_provider = "sluicegate"',
            'approval_policy = "never"',
            'sandbox_mode = "danger-full-access"',
            "check_for_update_on_startup = false",
            "",
            "[analytics]",
            "enabled = false",
            "",
            "[features]",
            "plugins = false  # else it syncs a plugin catalogue from github.com and chatgpt.com",
            "remote_plugin = false",
            "",
            "[model_providers.sluicegate]",
            'name = "sluicegate"',
            f'base_url = "{self.base_url}"',
            'wire_api = "responses"',
            f'env_key = "{CODEX_TOKEN_VAR}"',
            f"supports_websockets = {'true' if self.websockets else 'false'}",
            # One attempt: a round trip that only works on a retry is a failure here.
            *(() if self.retries else ("request_max_retries = 0", "stream_max_retries = 0")),
            "stream_idle_timeout_ms = 20000",
            "websocket_connect_timeout_ms = 5000",
        ]
        return "\n".join(lines) + "\n"


def codex_env(home: Path, trap_url: str, provider: CodexProvider, *, token: str) -> dict[str, str]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(provider.toml())
    return {**base_env(home, trap_url), "CODEX_HOME": str(codex_home), CODEX_TOKEN_VAR: token,
            "RUST_LOG": "warn"}


def codex_argv(prompt: str) -> list[str]:
    """``codex exec``: one turn, no git repository needed, the shell tool unsandboxed."""
    return [str(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
            "--color", "never", prompt]


# -- the trap -----------------------------------------------------------------------------------


@define
class Escape:
    method: str
    target: str  # CONNECT host:port, or the absolute URL of a plain-HTTP proxy request


class ProxyTrap:
    """An HTTP proxy that forwards nothing: it records what a CLI tried to reach and refuses."""

    def __init__(self) -> None:
        self.escapes: list[Escape] = []
        self._runner: web.ServerRunner | None = None
        self.url = ""

    async def _refuse(self, request: web.BaseRequest) -> web.Response:
        # A low-level server: CONNECT's authority-form target matches no route of an Application.
        target = request.raw_path if request.method == "CONNECT" else str(request.url)
        self.escapes.append(Escape(request.method, target))
        return web.Response(status=403, text="offline test: no network")

    async def __aenter__(self) -> ProxyTrap:
        self._runner = web.ServerRunner(web.Server(self._refuse), shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
