"""Claude Code (the real CLI, pinned in tests/agents/package.json) through the gateway's
``/v1/messages``: with its default tool set it runs a Bash round trip against (a) a native
Anthropic vendor and (b) an OpenAI-compatible vendor reached through the bridge.

The scripted vendor answers the conversation's first call with a ``Bash`` tool call for
``echo hello``; Claude Code runs it and sends the result back; the vendor's final text must come
out of the CLI. Everything runs offline (see agent_clis.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_clis import Completed, ProxyTrap, claude_argv, claude_env, run
from agent_vendors import (
    ANTHROPIC_CALL_ID,
    CALL_ID,
    CHAT,
    FINAL_TEXT,
    MESSAGES,
    PROMPT,
    anthropic_tool_results,
    chat_tool_results,
    conversation,
    received,
    serve_anthropic,
    serve_chat,
    vendor_providers,
)

from sluicegate.testing import FakeUpstream

pytestmark = pytest.mark.usefixtures("pinned_clis")

CLIENT_TOKEN = "sk-gw-claude-code-e2e-client"
VENDOR_KEY = "sk-vendor-claude-code-e2e-0000"
# The model Claude Code 2.1.x sends `role: "system"` messages inside `messages` for (the default
# model, claude-opus-5-5, does too); the sonnet models keep that text in user turns instead.
MODEL = "claude-opus-4-8"
PLAIN_MODEL = "claude-sonnet-4-6"
CLI_TIMEOUT = 45
# Headers only Claude Code and its SDK send: a third-party vendor must not receive them.
PRIVATE_HEADERS = ("x-claude-code-session-id", "x-app", "anthropic-dangerous-direct-browser-access",
                   "anthropic-beta")


def config(vendor_url: str, target: str) -> str:
    return f"""
[auth]
tokens = ["{CLIENT_TOKEN}"]
{vendor_providers(vendor_url)}
[models."{MODEL}"]
targets = ["{target.format(model=MODEL)}"]

[models."{PLAIN_MODEL}"]
targets = ["{target.format(model=PLAIN_MODEL)}"]

[retry]
attempts = 1
"""


NATIVE = "anthropic/{model}"
BRIDGED = "compat/gpt-4o-mini"


async def claude_through_gateway(gateway, vendor: FakeUpstream, trap: ProxyTrap, tmp_path: Path, workdir: Path,
                                 *, target: str, model: str = MODEL) -> tuple[Completed, dict]:
    """Run one Claude Code turn through a gateway routing ``model`` to ``target``; its JSON result."""
    server = await gateway(config(vendor.url, target), env={"VENDOR_KEY": VENDOR_KEY})
    env = claude_env(tmp_path / "home", trap.url, base_url=server.base_url, token=CLIENT_TOKEN)
    done = await run(claude_argv(PROMPT, model=model), env=env, cwd=workdir, time_limit=CLI_TIMEOUT)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        result = {}
    return done, result


def printed_hello(text: str) -> bool:
    """The tool's output is the command's: a line that is exactly ``hello``."""
    return "hello" in text.splitlines()


def assert_answered(done: Completed, result: dict, trap: ProxyTrap) -> None:
    assert done.returncode == 0 and result.get("is_error") is False, done.describe()
    assert result["result"] == FINAL_TEXT, done.describe()
    assert trap.escapes == [], "a CLI tried to reach the network"


def assert_credentials_kept(vendor: FakeUpstream) -> None:
    """The vendor sees the gateway's key for it, never the client's gateway token."""
    for request in vendor.requests:
        assert CLIENT_TOKEN not in json.dumps(request.headers) + request.body.decode(errors="replace")


# -- (a) native Anthropic vendor ------------------------------------------------------------------


async def test_bash_round_trip_through_a_native_anthropic_vendor(gateway, fake_upstream, trap, tmp_path, workdir):
    serve_anthropic(fake_upstream)

    done, result = await claude_through_gateway(gateway, fake_upstream, trap, tmp_path, workdir, target=NATIVE)

    assert_answered(done, result, trap)
    bodies = conversation(fake_upstream, MESSAGES)  # the tool call, then the tool's result
    assert len(bodies) == 2, received(fake_upstream)
    first, second = bodies
    assert anthropic_tool_results(first) == []
    results = dict(anthropic_tool_results(second))
    assert printed_hello(results[ANTHROPIC_CALL_ID]), results
    # Pass-through: the vendor gets Claude Code's messages as sent, system messages in place,
    # and its beta flags.
    assert "system" in [message["role"] for message in second["messages"]]
    assert first["model"] == MODEL and first["stream"] is True
    assert "claude-code-20250219" in fake_upstream.requests[0].headers.get("anthropic-beta", "")
    assert_credentials_kept(fake_upstream)


# -- (b) OpenAI-compatible vendor, through the bridge ---------------------------------------------


async def test_bash_round_trip_through_an_openai_compatible_vendor(gateway, fake_upstream, trap, tmp_path,
                                                                   workdir):
    serve_chat(fake_upstream)

    done, result = await claude_through_gateway(gateway, fake_upstream, trap, tmp_path, workdir, target=BRIDGED)

    assert_answered(done, result, trap)
    bodies = conversation(fake_upstream, CHAT)  # the tool call, then the tool's result
    assert len(bodies) == 2, received(fake_upstream)
    first, second = bodies
    assert "Bash" in [tool["function"]["name"] for tool in first["tools"]]
    assert chat_tool_results(first) == []
    results = dict(chat_tool_results(second))
    assert printed_hello(results[CALL_ID]), results
    # Claude Code's mid-conversation system messages keep their place between the turns.
    roles = [message["role"] for message in second["messages"]]
    between = roles[roles.index("user"):roles.index("assistant")]
    assert {"system", "developer"} & set(between), roles
    assert_credentials_kept(fake_upstream)


async def test_claude_codes_private_identifiers_do_not_reach_a_third_party_vendor(
        gateway, fake_upstream, trap, tmp_path, workdir):
    # A sonnet model: Claude Code sends it no system messages, so this holds apart from them.
    serve_chat(fake_upstream)

    done, result = await claude_through_gateway(gateway, fake_upstream, trap, tmp_path, workdir, target=BRIDGED,
                                                model=PLAIN_MODEL)

    assert_answered(done, result, trap)
    assert fake_upstream.requests, "the vendor received nothing"
    session_id = result["session_id"]
    problems = []  # all of them at once: each is its own defect
    for request in fake_upstream.requests:
        leaked = sorted(name for name in map(str.lower, request.headers)
                        if name in PRIVATE_HEADERS or name.startswith("x-stainless-"))
        if leaked:
            problems.append(f"{request.path} carried the headers {leaked}")
        # metadata.user_id is a JSON blob of device and session ids: not for a third party.
        user = str(request.json().get("user", ""))
        if "device_id" in user or session_id in user:
            problems.append(f"{request.path} carried user={user}")
        if session_id in request.body.decode():
            problems.append(f"{request.path} carried the Claude Code session id in its body")
    assert not problems, "\n".join(problems)
