"""Codex CLI (the real CLI, pinned in tests/agents/package.json) through the gateway's
``/v1/responses`` to an OpenAI-compatible chat vendor: ``codex exec`` runs its shell tool
(``exec_command``) round trip.

The scripted vendor answers the conversation's first chat call with a call to ``exec_command``
for ``echo hello``; Codex runs it and sends the output back; the vendor's final text must be
what ``codex exec`` prints. Everything runs offline (see agent_clis.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_clis import CodexProvider, Completed, ProxyTrap, codex_argv, codex_env, run
from agent_vendors import (
    CALL_ID,
    CHAT,
    FINAL_TEXT,
    PROMPT,
    chat_tool_results,
    conversation,
    received,
    serve_chat,
)

from sluicegate.testing import FakeUpstream

pytestmark = pytest.mark.usefixtures("pinned_clis")

CLIENT_TOKEN = "sk-gw-codex-e2e-client"
VENDOR_KEY = "sk-vendor-codex-e2e-0000"
# A model Codex 0.17x knows: it then sends its usual tools (its default model gets none).
MODEL = "gpt-5.5"
CLI_TIMEOUT = 45


def config(vendor_url: str) -> str:
    return f"""
[auth]
tokens = ["{CLIENT_TOKEN}"]

[providers.compat]
type = "openai"
base_url = "{vendor_url}/v1"
api_key = "${{VENDOR_KEY}}"

[models."{MODEL}"]
targets = ["compat/gpt-4o-mini"]

[retry]
attempts = 1
"""


async def codex_through_gateway(gateway, vendor: FakeUpstream, trap: ProxyTrap, tmp_path: Path, workdir: Path,
                                *, websockets: bool = False) -> Completed:
    server = await gateway(config(vendor.url), env={"VENDOR_KEY": VENDOR_KEY})
    provider = CodexProvider(base_url=server.base_url + "/v1", model=MODEL, websockets=websockets)
    env = codex_env(tmp_path / "home", trap.url, provider, token=CLIENT_TOKEN)
    return await run(codex_argv(PROMPT), env=env, cwd=workdir, time_limit=CLI_TIMEOUT)


def printed_hello(text: str) -> bool:
    """Codex wraps a command's output in a report; the output is a line that is exactly ``hello``."""
    return "hello" in text.splitlines()


def assert_answered(done: Completed, trap: ProxyTrap) -> None:
    # `codex exec` prints the final message alone on stdout.
    assert done.returncode == 0 and done.stdout.strip() == FINAL_TEXT, done.describe()
    assert trap.escapes == [], "a CLI tried to reach the network"


async def test_shell_round_trip_through_responses_to_a_chat_vendor(gateway, fake_upstream, trap, tmp_path,
                                                                   workdir):
    serve_chat(fake_upstream)

    done = await codex_through_gateway(gateway, fake_upstream, trap, tmp_path, workdir)

    assert_answered(done, trap)
    bodies = conversation(fake_upstream, CHAT)  # the tool call, then the tool's output
    assert len(bodies) == 2, received(fake_upstream)
    first, second = bodies
    assert "exec_command" in [tool["function"]["name"] for tool in first["tools"]]
    assert chat_tool_results(first) == []
    # The follow-up carries the whole history: Codex's instructions, the prompt, the call, its output.
    roles = [message["role"] for message in second["messages"]]
    assert roles[0] in ("system", "developer") and "user" in roles, roles
    calls = [call for message in second["messages"] for call in message.get("tool_calls") or ()]
    assert [(call["id"], call["function"]["name"]) for call in calls] == [(CALL_ID, "exec_command")]
    assert json.loads(calls[0]["function"]["arguments"]) == {"cmd": "echo hello"}
    results = dict(chat_tool_results(second))
    assert printed_hello(results[CALL_ID]), results
    for request in fake_upstream.requests:
        leaked = sorted(name for name in map(str.lower, request.headers) if name.startswith("x-codex-"))
        assert leaked == [], f"{request.path} carried {leaked}"
        assert CLIENT_TOKEN not in json.dumps(request.headers) + request.body.decode(errors="replace")


async def test_codex_trying_websockets_first_falls_back_to_http_at_once(gateway, fake_upstream, trap, tmp_path,
                                                                       workdir):
    # Codex tries `GET /v1/responses` with `Upgrade: websocket` when the provider says it can
    # (`supports_websockets`); until the gateway speaks Responses over WebSocket, it must refuse
    # the upgrade with a status at once: a request left hanging would cost Codex
    # `websocket_connect_timeout_ms` per attempt before it tries HTTP.
    serve_chat(fake_upstream)

    done = await codex_through_gateway(gateway, fake_upstream, trap, tmp_path, workdir, websockets=True)

    assert_answered(done, trap)
    fallbacks = [line for line in done.stderr.splitlines() if "Falling back from WebSockets" in line]
    # Either the WebSocket served the turn (no fallback) or the gateway answered the upgrade with
    # an HTTP status; never a timeout.
    assert all("unexpected status" in line for line in fallbacks), fallbacks
    assert "timed out" not in done.stderr.lower() and "timeout" not in " ".join(fallbacks).lower()
