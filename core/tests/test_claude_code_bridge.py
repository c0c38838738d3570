"""The ``/v1/messages`` bridge on what Claude Code 2.1 sends today, and which client headers a
vendor receives (``sluicegate.client_headers``): pure functions, on a recorded request."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.client_headers import TO_ANTHROPIC, TO_OPENAI, TRANSLATED, translated_context
from sluicegate.errors import InvalidRequest
from sluicegate.exchange import RequestContext
from sluicegate.translate.anthropic_inbound import USER_DIGEST_PREFIX, check_conversation, messages_to_chat
from sluicegate.upstream import forwardable_headers

# Claude Code 2.1.332 (claude-opus-4-8), the follow-up turn that carries the Bash tool result.
RECORDED = orjson.loads(
    (Path(__file__).parent / "fixtures" / "anthropic_inbound" / "claude_code_2_1_332.json").read_bytes()
)
BODY: dict[str, Any] = RECORDED["body"]
# What Codex CLI 0.171 sends on /v1/responses (tests/agents/recorded/codex_session.json).
CODEX_HEADERS = {
    "originator": "codex_exec",
    "User-Agent": "codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.171.0)",
    "session-id": "01a24d17-25c8-7d83-914a-949fc1fbe1f2",
    "thread-id": "01a24d17-25c8-7d83-914a-949fc1fbe1f2",
    "x-client-request-id": "01a24d17-25c8-7d83-914a-949fc1fbe1f2",
    "x-codex-window-id": "01a24d17-25c8-7d83-914a-949fc1fbe1f2:0",
    "x-codex-beta-features": "remote_compaction_v2",
    "x-codex-turn-metadata": '{"installation_id":"ceaa8868"}',
    "Accept": "text/event-stream",
}
ORDINARY = {"X-Team": "search", "Accept": "application/json"}


def digest(user_id: str) -> str:
    return "sha256:" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def roles(chat: dict[str, Any]) -> list[str]:
    return [message["role"] for message in chat["messages"]]


# --- the recorded request ------------------------------------------------------------------


def test_the_recorded_request_is_what_this_file_is_about():
    # The translation tests below lean on these: if a re-recording loses them, they must say so.
    assert [turn["role"] for turn in BODY["messages"]] == ["user", "system", "assistant", "user", "system"]
    assert isinstance(BODY["messages"][1]["content"], str)
    assert isinstance(BODY["messages"][4]["content"], list)
    assert BODY["thinking"]["type"] == "adaptive"
    assert {"context_management", "output_config", "metadata"} <= set(BODY)


def test_system_messages_inside_the_conversation_keep_their_place():
    original = copy.deepcopy(BODY)
    chat = messages_to_chat(BODY, "deepseek-chat")
    assert BODY == original  # the client's parsed body is not modified
    assert roles(chat) == ["system", "user", "system", "assistant", "tool", "system"]
    # The top-level system blocks, the environment text (a string) and the token note (blocks).
    top = "\n\n".join(block["text"] for block in BODY["system"])
    assert chat["messages"][0] == {"role": "system", "content": top}
    assert chat["messages"][2] == {"role": "system", "content": BODY["messages"][1]["content"]}
    assert chat["messages"][5] == {"role": "system", "content": BODY["messages"][4]["content"][0]["text"]}
    # The tool message still follows the assistant's call directly, as chat requires.
    call = chat["messages"][3]["tool_calls"][0]
    assert call["function"]["name"] == "Bash"
    assert chat["messages"][4] == {"role": "tool", "tool_call_id": call["id"], "content": "hello"}


def test_no_anthropic_only_field_and_no_raw_user_id_reach_the_vendor():
    chat = messages_to_chat(BODY, "m")
    assert set(chat) == {"model", "messages", "max_tokens", "user", "tools", "stream", "stream_options"}
    encoded = orjson.dumps(chat)
    assert b"cache_control" not in encoded
    user_id = orjson.loads(BODY["metadata"]["user_id"])
    for private in (user_id["device_id"], user_id["session_id"]):
        assert private.encode() not in encoded
    assert chat["user"] == digest(BODY["metadata"]["user_id"])
    assert len(chat["tools"]) == len(BODY["tools"]) == 12


def test_effort_reaches_a_vendor_that_takes_reasoning_effort_and_no_other():
    assert messages_to_chat(BODY, "m", reasoning_effort=True)["reasoning_effort"] == "high"
    assert "reasoning_effort" not in messages_to_chat(BODY, "m")


# --- mapping rules -------------------------------------------------------------------------


def request(*turns: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 64, "messages": list(turns), **fields}


HI = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"output_config": {"effort": "low"}}, "low"),
        ({"output_config": {"effort": "medium"}}, "medium"),
        ({"output_config": {"effort": "high"}}, "high"),
        ({"output_config": {"effort": "max"}}, "high"),
        ({"output_config": {"effort": "xhigh"}}, "high"),
        # An effort wins over what thinking would say.
        ({"thinking": {"type": "enabled", "budget_tokens": 31999}, "output_config": {"effort": "low"}}, "low"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4095}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 16383}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 31999, "display": "omitted"}}, "high"),
        ({"thinking": {"type": "disabled"}}, "low"),
        # The model decides, or nothing usable was said: the vendor's default.
        ({"thinking": {"type": "adaptive", "display": "omitted"}}, None),
        ({"thinking": {"type": "enabled"}}, None),
        ({"output_config": {"effort": "ultra"}}, None),
        ({"output_config": {"effort": ["high"]}}, None),
        ({}, None),
    ],
)
def test_thinking_and_effort_map_to_reasoning_effort(fields, expected):
    chat = messages_to_chat(request(HI, **fields), "m", reasoning_effort=True)
    assert chat.get("reasoning_effort") == expected


def test_context_management_and_thinking_are_dropped_output_format_is_kept():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = messages_to_chat(
        request(
            HI,
            thinking={"type": "adaptive"},
            context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            output_config={"effort": "high", "format": {"type": "json_schema", "schema": schema}},
        ),
        "m",
    )
    assert set(chat) == {"model", "messages", "max_tokens", "response_format"}
    assert chat["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize(
    ("turns", "system", "expected"),
    [
        # A system message first joins the top-level system text: one system message leads.
        ([{"role": "system", "content": "Two."}, HI], "One.",
         [{"role": "system", "content": "One.\n\nTwo."}, {"role": "user", "content": "hi"}]),
        ([{"role": "system", "content": [{"type": "text", "text": "Only."}]}, HI], None,
         [{"role": "system", "content": "Only."}, {"role": "user", "content": "hi"}]),
        # Empty ones carry nothing: left out rather than sent as an empty message.
        ([HI, {"role": "system", "content": ""}, {"role": "system", "content": []}], None,
         [{"role": "user", "content": "hi"}]),
        ([HI, {"role": "assistant", "content": "ok"}, {"role": "system", "content": "a"},
          {"role": "system", "content": "b"}, HI], None,
         [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"},
          {"role": "system", "content": "a\n\nb"}, {"role": "user", "content": "hi"}]),
    ],
)
def test_system_messages_join_a_system_message_right_before_them(turns, system, expected):
    assert messages_to_chat(request(*turns, system=system), "m")["messages"] == expected


@pytest.mark.parametrize("user_id", ["u-42", BODY["metadata"]["user_id"]])
def test_the_user_id_becomes_a_stable_digest(user_id):
    first = messages_to_chat(request(HI, metadata={"user_id": user_id}), "m")["user"]
    again = messages_to_chat(request(HI, metadata={"user_id": user_id}), "other")["user"]
    assert first == again == digest(user_id)
    assert first.startswith(USER_DIGEST_PREFIX) and len(first) == len(USER_DIGEST_PREFIX) + 32
    assert user_id not in first


@pytest.mark.parametrize("metadata", [None, {}, {"user_id": ""}, {"user_id": 7}, "u"])
def test_no_user_without_a_user_id(metadata):
    assert "user" not in messages_to_chat(request(HI, metadata=metadata), "m")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "max_tokens": 1}, "messages"),
        ({"model": "m", "max_tokens": 1, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 1, "messages": [HI, "x"]}, "messages.1"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "developer", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": None}]}, "messages.0.content"),
        ({"model": "m", "max_tokens": 1, "messages": [HI], "system": {"text": "x"}}, "system"),
    ],
)
def test_the_conversation_shape_is_checked_with_anthropic_paths(body, param):
    with pytest.raises(InvalidRequest) as caught:
        check_conversation(body)
    assert caught.value.param == param
    assert caught.value.message.startswith(param + ": ")


def test_a_conversation_with_system_turns_passes_the_shape_check():
    assert check_conversation(BODY) is BODY["messages"]


# --- client headers ------------------------------------------------------------------------


def names(pairs: list[tuple[str, str]]) -> set[str]:
    return {name.lower() for name, _ in pairs}


CLAUDE_PRIVATE = {
    "user-agent", "x-claude-code-session-id", "x-app", "anthropic-dangerous-direct-browser-access",
    "x-stainless-arch", "x-stainless-lang", "x-stainless-os", "x-stainless-package-version",
    "x-stainless-retry-count", "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-timeout",
}  # fmt: skip
CODEX_PRIVATE = {
    "originator", "user-agent", "session-id", "thread-id", "x-client-request-id", "x-codex-window-id",
    "x-codex-beta-features", "x-codex-turn-metadata",
}  # fmt: skip


def test_a_translated_request_carries_none_of_claude_codes_headers():
    headers = CIMultiDict({**RECORDED["headers"], **ORDINARY})
    forwarded = names(forwardable_headers(headers, TRANSLATED))
    assert forwarded == {"x-team", "accept"}
    assert names(forwardable_headers(headers, TO_ANTHROPIC)) == CLAUDE_PRIVATE | {"x-team", "accept"}


def test_a_translated_request_carries_none_of_codexs_headers():
    headers = CIMultiDict({**CODEX_HEADERS, **ORDINARY})
    assert names(forwardable_headers(headers, TRANSLATED)) == {"x-team", "accept"}
    # OpenAI's own dialect (a native Responses pass-through) keeps them, Anthropic does not.
    assert names(forwardable_headers(headers, TO_OPENAI)) == CODEX_PRIVATE | {"x-team", "accept"}
    assert names(forwardable_headers(headers, TO_ANTHROPIC)) == {"user-agent", "x-team", "accept"}


def test_an_openai_vendor_of_an_openai_client_keeps_the_sdk_headers_but_not_claude_codes():
    headers = CIMultiDict({**RECORDED["headers"], **ORDINARY})
    assert forwardable_headers(headers) == forwardable_headers(headers, TO_OPENAI)
    kept = names(forwardable_headers(headers))
    assert {"user-agent", "x-stainless-lang", "x-team"} <= kept
    assert not kept & {"x-claude-code-session-id", "x-app", "anthropic-dangerous-direct-browser-access"}


def test_a_bridges_context_shares_everything_but_the_private_headers():
    headers = CIMultiDictProxy(CIMultiDict({**RECORDED["headers"], **ORDINARY, "Connection": "x-team"}))
    ctx = RequestContext("req-1", "tenant", headers, 1.0, "beta=true")
    bridged = translated_context(ctx)
    assert set(bridged.client_headers) == {"Accept", "Accept-Encoding", "Content-Type", "X-Team", "Connection"}
    assert bridged.response_headers is ctx.response_headers and bridged.state is ctx.state and bridged.facts is ctx.facts
    assert (bridged.request_id, bridged.tenant, bridged.started, bridged.query_string) == (
        "req-1", "tenant", 1.0, "beta=true")
    # Hop-by-hop rules still apply to what is left.
    assert names(forwardable_headers(bridged.client_headers)) == {"accept"}
