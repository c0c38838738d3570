"""Scripted fake vendors for the agent CLI tests: one shell-tool round trip, every other call
answered plainly.

Each vendor is a ``FakeUpstream`` (so every request is recorded) with one responder per API that
reads the request. The scripted conversation is the one whose user turn carries ``MARK`` and
that declares the agent's shell tool: it gets a tool call running ``echo hello`` until a tool
result for that call comes back, then ``FINAL_TEXT``. Every other request (Claude Code's title
and quota side calls, ...) gets ``SIDE_TEXT``, streamed when the request asks for a stream. The
wire formats are the plugin fakes' (``AnthropicScript``, ``OpenAIScript``); the Responses
stream is written here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from sluicegate.testing import FakeUpstream, RecordedRequest
from sluicegate.testing.vendor import ToolCall, Usage, write_sse
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_openai.fake import OpenAIScript

MARK = "sluicegate-e2e"
PROMPT = f"[{MARK}] Run the shell command `echo hello` and tell me what it printed."
FINAL_TEXT = f"The command printed hello. ({MARK} done)"
SIDE_TEXT = "ok"
CALL_ID = "call_e2e_1"  # the id of the scripted tool call; Anthropic's ids look like toolu_...
ANTHROPIC_CALL_ID = "toolu_01E2eSluicegateBash01"

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"

# How each agent's shell tool is called with ``echo hello``, by the tool's name in the request.
SHELL_CALLS: dict[str, dict[str, Any]] = {
    "Bash": {"command": "echo hello", "description": "Print hello"},  # Claude Code
    "exec_command": {"cmd": "echo hello"},  # Codex (unified exec)
    "shell_command": {"command": "echo hello"},  # Codex
    "shell": {"command": ["bash", "-lc", "echo hello"]},  # Codex (older)
}


def shell_tool(names: list[str]) -> str | None:
    """The first tool in ``names`` the script knows how to call, in SHELL_CALLS order."""
    return next((name for name in SHELL_CALLS if name in names), None)


def _text_of(content: Any) -> str:
    """A string, or the text of content parts of any of the three APIs."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part.get("text", part.get("content")) if isinstance(part, dict) else part)
                         for part in content)
    return ""


# -- Anthropic Messages -------------------------------------------------------------------------


def anthropic_tool_results(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(tool_use_id, text) of every tool_result block in the request's messages."""
    return [(block.get("tool_use_id", ""), _text_of(block.get("content")))
            for message in body.get("messages") or () if isinstance(message.get("content"), list)
            for block in message["content"] if isinstance(block, dict) and block.get("type") == "tool_result"]


def is_anthropic_conversation(body: dict[str, Any]) -> bool:
    tools = [tool.get("name") for tool in body.get("tools") or ()]
    users = [message for message in body.get("messages") or () if message.get("role") == "user"]
    return "Bash" in tools and any(MARK in _text_of(message.get("content")) for message in users)


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    script, usage, stream = AnthropicScript(), Usage(), body.get("stream") is True
    if is_anthropic_conversation(body):
        if not any(call_id == ANTHROPIC_CALL_ID for call_id, _ in anthropic_tool_results(body)):
            call = ToolCall(ANTHROPIC_CALL_ID, "Bash", SHELL_CALLS["Bash"])
            return await script.answer_tool_call(call, usage, stream=stream)(request)
        text = FINAL_TEXT
    else:
        text = SIDE_TEXT
    responder = script.answer_stream([text], usage) if stream else script.answer_text(text, usage)
    return await responder(request)


async def anthropic_count_tokens(request: web.Request) -> web.StreamResponse:
    return web.json_response({"input_tokens": 1234})


def vendor_providers(vendor_url: str) -> str:
    """The gateway's providers for the fake vendor at ``vendor_url``: ``anthropic`` (native
    Messages) and ``compat`` (OpenAI chat), each with the key in the ``VENDOR_KEY`` variable."""
    return f"""
[providers.anthropic]
type = "anthropic"
base_url = "{vendor_url}/v1"
api_key = "${{VENDOR_KEY}}"

[providers.compat]
type = "openai"
base_url = "{vendor_url}/v1"
api_key = "${{VENDOR_KEY}}"
"""


def serve_anthropic(upstream: FakeUpstream) -> None:
    upstream.on(MESSAGES, anthropic_messages)
    upstream.on(COUNT_TOKENS, anthropic_count_tokens)


# -- OpenAI chat completions --------------------------------------------------------------------


def chat_tool_results(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(message.get("tool_call_id", ""), _text_of(message.get("content")))
            for message in body.get("messages") or () if message.get("role") == "tool"]


def chat_conversation_tool(body: dict[str, Any]) -> str | None:
    """The shell tool to call when ``body`` is the scripted conversation, else None."""
    names = [(tool.get("function") or {}).get("name") for tool in body.get("tools") or ()]
    users = [message for message in body.get("messages") or () if message.get("role") == "user"]
    if not any(MARK in _text_of(message.get("content")) for message in users):
        return None
    return shell_tool(names)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    script, usage, stream = OpenAIScript(), Usage(), body.get("stream") is True
    tool = chat_conversation_tool(body)
    if tool is not None:
        if not any(call_id == CALL_ID for call_id, _ in chat_tool_results(body)):
            return await script.answer_tool_call(ToolCall(CALL_ID, tool, SHELL_CALLS[tool]), usage,
                                                 stream=stream)(request)
        text = FINAL_TEXT
    else:
        text = SIDE_TEXT
    responder = script.answer_stream([text], usage) if stream else script.answer_text(text, usage)
    return await responder(request)


def serve_chat(upstream: FakeUpstream) -> None:
    upstream.on(CHAT, chat_completions)


# -- OpenAI Responses (for recording Codex directly; the gateway tests use chat) -------------------


def responses_tool_names(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or ():
        names.append(tool.get("name"))
        names += [inner.get("name") for inner in tool.get("tools") or ()]  # namespace tools
    return [name for name in names if name]


def responses_tool_outputs(body: dict[str, Any]) -> list[tuple[str, str]]:
    items = body.get("input") if isinstance(body.get("input"), list) else []
    return [(item.get("call_id", ""), _text_of(item.get("output")))
            for item in items if item.get("type") == "function_call_output"]


def responses_conversation_tool(body: dict[str, Any]) -> str | None:
    items = body.get("input") if isinstance(body.get("input"), list) else [{"role": "user", "content": body.get("input")}]
    if not any(item.get("role") == "user" and MARK in _text_of(item.get("content")) for item in items):
        return None
    return shell_tool(responses_tool_names(body))


def _responses_events(body: dict[str, Any], output: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    response = {"id": "resp_e2e_1", "object": "response", "created_at": 1730000000, "status": "in_progress",
                "model": body.get("model"), "output": [], "usage": None}
    yield "response.created", {"response": response}
    yield "response.in_progress", {"response": response}
    yield "response.output_item.added", {"output_index": 0, "item": {**output, "status": "in_progress"}}
    if output["type"] == "message":
        text = output["content"][0]["text"]
        yield "response.content_part.added", {"item_id": output["id"], "output_index": 0, "content_index": 0,
                                              "part": {"type": "output_text", "text": "", "annotations": []}}
        yield "response.output_text.delta", {"item_id": output["id"], "output_index": 0, "content_index": 0,
                                             "delta": text}
        yield "response.output_text.done", {"item_id": output["id"], "output_index": 0, "content_index": 0,
                                            "text": text}
        yield "response.content_part.done", {"item_id": output["id"], "output_index": 0, "content_index": 0,
                                             "part": output["content"][0]}
    else:
        yield "response.function_call_arguments.delta", {"item_id": output["id"], "output_index": 0,
                                                         "delta": output["arguments"]}
        yield "response.function_call_arguments.done", {"item_id": output["id"], "output_index": 0,
                                                        "arguments": output["arguments"]}
    yield "response.output_item.done", {"output_index": 0, "item": output}
    usage = {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 7,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 18}
    yield "response.completed", {"response": {**response, "status": "completed", "output": [output], "usage": usage}}


async def responses(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":  # Codex's WebSocket attempt (GET + Upgrade): not offered here
        return web.json_response({"error": {"message": "no websocket here", "type": "invalid_request_error"}},
                                 status=404)
    body = await request.json()
    tool = responses_conversation_tool(body)
    if tool is not None and not any(call_id == CALL_ID for call_id, _ in responses_tool_outputs(body)):
        output: dict[str, Any] = {"type": "function_call", "id": "fc_e2e_1", "call_id": CALL_ID, "name": tool,
                                  "arguments": json.dumps(SHELL_CALLS[tool]), "status": "completed"}
    else:
        text = FINAL_TEXT if tool is not None else SIDE_TEXT
        output = {"type": "message", "id": "msg_e2e_1", "role": "assistant", "status": "completed",
                  "content": [{"type": "output_text", "text": text, "annotations": []}]}
    frames = [b"event: " + name.encode() + b"\ndata: "
              + orjson.dumps({"type": name, "sequence_number": number, **data}) + b"\n\n"
              for number, (name, data) in enumerate(_responses_events(body, output))]
    return await write_sse(request, frames)


def serve_responses(upstream: FakeUpstream) -> None:
    upstream.on(RESPONSES, responses)


# -- reading what was received ------------------------------------------------------------------


def posts(upstream: FakeUpstream, path: str) -> list[RecordedRequest]:
    return [request for request in upstream.requests if request.method == "POST" and request.path == path]


def conversation(upstream: FakeUpstream, path: str) -> list[dict[str, Any]]:
    """The bodies of the scripted conversation's requests to ``path``, in order."""
    matches = {MESSAGES: is_anthropic_conversation, CHAT: lambda body: chat_conversation_tool(body) is not None,
               RESPONSES: lambda body: responses_conversation_tool(body) is not None}[path]
    return [body for body in (request.json() for request in posts(upstream, path)) if matches(body)]


def received(upstream: FakeUpstream) -> str:
    """What the vendor received, one line a request: for an assertion's message."""
    return "\n".join(f"{r.method} {r.path} {len(r.body)} bytes" for r in upstream.requests) or "nothing"
