"""Re-record the requests the pinned agent CLIs send, for tests/agents/recorded/ (run it after
bumping a pin in package.json): ``python tests/agents/record.py``.

Each CLI is pointed straight at the scripted fake vendor of its own API (no gateway), runs the
shell-tool round trip, and every request the vendor received is saved with its headers, as the
CLI sent it. Nothing here is secret: the tokens are made up.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from agent_clis import (
    CLAUDE_CODE_VERSION,
    CODEX_VERSION,
    CodexProvider,
    Completed,
    ProxyTrap,
    claude_argv,
    claude_env,
    codex_argv,
    codex_env,
    run,
)
from agent_vendors import PROMPT, RESPONSES, responses, serve_anthropic
from aiohttp import web

from sluicegate.testing import FakeUpstream, RecordedRequest

RECORDED = Path(__file__).resolve().parent / "recorded"
TOKEN = "sk-e2e-recording-token"
# The model Claude Code 2.1.x sends system messages inside `messages` for (the issue-12 defect).
CLAUDE_MODEL = "claude-opus-4-8"
# A model Codex 0.17x knows (its default, gpt-6.2-sol, is sent with no tools at all).
CODEX_MODEL = "gpt-5.5"


def as_json(request: RecordedRequest) -> dict[str, Any]:
    try:
        body: Any = request.json()
    except orjson.JSONDecodeError:
        body = request.body.decode(errors="replace")
    return {"method": request.method, "path": request.path, "query": {str(k): v for k, v in request.query.items()},
            "headers": {str(k): v for k, v in request.headers.items()}, "body": body}


def save(name: str, data: Any) -> None:
    (RECORDED / name).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"  wrote recorded/{name}")


def report(label: str, done: Completed, upstream: FakeUpstream, trap: ProxyTrap) -> None:
    print(f"== {label}: exit {done.returncode} in {done.seconds:.1f}s")
    for request in upstream.requests:
        print(f"   {request.method} {request.path} {request.query or ''} {len(request.body)} bytes")
    for escape in trap.escapes:
        print(f"   TRAPPED {escape.method} {escape.target}")
    if done.returncode != 0:
        print(done.describe())


async def record_claude(work: Path) -> None:
    async with FakeUpstream() as upstream, ProxyTrap() as trap:
        serve_anthropic(upstream)
        env = claude_env(work / "claude-home", trap.url, base_url=upstream.url, token=TOKEN)
        done = await run(claude_argv(PROMPT, model=CLAUDE_MODEL), env=env, cwd=work, time_limit=120)
        report(f"Claude Code {CLAUDE_CODE_VERSION}", done, upstream, trap)
        save("claude_code_session.json", {"cli": f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",
                                          "argv": done.argv[1:], "stdout": done.stdout,
                                          "requests": [as_json(r) for r in upstream.requests],
                                          "trapped": [[e.method, e.target] for e in trap.escapes]})


async def record_codex(work: Path, *, websockets: bool) -> None:
    async with FakeUpstream() as upstream, ProxyTrap() as trap:
        stamps: list[tuple[str, float]] = []  # (method, when) of each call to /v1/responses

        async def stamped(request: web.Request) -> web.StreamResponse:
            stamps.append((request.method, time.monotonic()))
            return await responses(request)

        upstream.on(RESPONSES, stamped)
        provider = CodexProvider(base_url=upstream.url + "/v1", model=CODEX_MODEL, websockets=websockets)
        home = work / ("codex-home-ws" if websockets else "codex-home")
        env = codex_env(home, trap.url, provider, token=TOKEN)
        done = await run(codex_argv(PROMPT), env=env, cwd=work, time_limit=120)
        report(f"Codex {CODEX_VERSION} (supports_websockets={websockets})", done, upstream, trap)
        upgrades = [when for method, when in stamps if method == "GET"]
        first_post = next((when for method, when in stamps if method == "POST"), None)
        if upgrades and first_post is not None:
            print(f"   WebSocket refused -> first POST: {(first_post - upgrades[-1]) * 1000:.0f} ms")
        if websockets:  # the POSTs are as without WebSockets: keep the handshake and the fallback
            save("codex_websocket_attempt.json", {
                "cli": f"@openai/codex@{CODEX_VERSION}", "config_toml": provider.toml(),
                "requests": [as_json(r) for r in upstream.requests if r.method != "POST"],
                "stderr_fallback_lines": [line for line in done.stderr.splitlines()
                                          if "websocket" in line.lower() or "falling back" in line.lower()]})
            return
        save("codex_session.json", {"cli": f"@openai/codex@{CODEX_VERSION}", "argv": done.argv[1:],
                                    "config_toml": provider.toml(), "stdout": done.stdout, "stderr": done.stderr,
                                    "requests": [as_json(r) for r in upstream.requests],
                                    "trapped": [[e.method, e.target] for e in trap.escapes]})


async def main(which: list[str]) -> None:
    RECORDED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sluicegate-record-") as scratch:
        work = Path(scratch)
        if not which or "claude" in which:
            await record_claude(work)
        if not which or "codex" in which:
            await record_codex(work, websockets=False)
            await record_codex(work, websockets=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
