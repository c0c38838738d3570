"""Chat answers as Responses: the complete ``Response`` object, and the items it is made of.

- Text becomes a ``message`` item with an ``output_text`` part (a ``refusal`` part for a
  refusal). ``reasoning_content`` (DeepSeek, Qwen; vLLM's ``reasoning``) becomes a
  ``reasoning`` item whose text is its summary (``summary_text``, streamed as
  ``response.reasoning_summary_text.delta``): clients show summaries (Codex hides raw
  reasoning unless asked), and a vendor's reasoning is all the summary there is.
- Tool calls become ``function_call`` items, or ``custom_tool_call`` items for freeform tools
  (the ``input`` taken out of the one string argument), named back through the request's tool
  table with their ``namespace``.
- ``finish_reason`` ``length`` makes the response ``incomplete`` (``max_output_tokens``), as
  does ``content_filter``; the item still open at the end is then incomplete too.
- Usage: input tokens include the cached ones and output tokens the reasoning ones, as OpenAI
  counts them; chat vendors report no cache writes (0).
- The response echoes the request's settings; its ``tools`` are the ones the model was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.translate.responses_tools import ToolRef, Tools, new_item_id

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
_ECHOED = (
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "previous_response_id",
    "prompt_cache_key",
    "safety_identifier",
    "temperature",
    "top_logprobs",
    "top_p",
    "user",
)


def response_object(
    *,
    response_id: str,
    model: str,
    request: dict[str, Any],
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """A ``Response`` in OpenAI's shape, echoing what the request set."""
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls") is not False,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": tools,
        "store": request.get("store") is not False,
        "metadata": _echo(request, "metadata", {}),
        "reasoning": _echo(request, "reasoning", {"effort": None, "summary": None}),
        "text": {"format": {"type": "text"}, **_echo(request, "text", {})},
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
    }
    for name in _ECHOED:
        response[name] = request.get(name)
    if completed_at is not None:
        response["completed_at"] = completed_at
    return response


def _echo(request: dict[str, Any], name: str, default: dict[str, Any]) -> dict[str, Any]:
    value = request.get(name)
    return value if isinstance(value, dict) else default


def response_usage(usage: Any) -> dict[str, Any] | None:
    """A chat ``usage`` in the Responses shape; None when the vendor gave none."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not isinstance(cached, int):
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek's own field
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    total = usage.get("total_tokens")
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": _count(cached), "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _count(reasoning)},
        "total_tokens": total if isinstance(total, int) else prompt + completion,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def outcome(finish_reason: Any) -> tuple[str, dict[str, str] | None]:
    reason = _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("completed", None) if reason is None else ("incomplete", {"reason": reason})


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": parts}


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def call_fields(
    ref: ToolRef | None, chat_name: str, call_id: str, arguments: str, status: str
) -> dict[str, Any]:
    """A ``function_call`` item but its id, or a ``custom_tool_call`` one for a freeform tool's name."""
    if ref is not None and ref.kind == "custom":
        item = {
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": ref.name,
            "input": custom_input(arguments),
        }
    else:
        name = chat_name if ref is None else ref.name  # a name the model made up stays as it is
        item = {
            "type": "function_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
    if ref is not None and ref.namespace is not None:
        item["namespace"] = ref.namespace
    return item


def custom_input(arguments: str) -> str:
    """A freeform tool's input from the arguments of the function standing in for it.

    The model was asked for ``{"input": "..."}``; a lone string under another key, or a bare
    JSON string, is taken too, and anything else is passed on as the model wrote it.
    """
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict):
        value = parsed.get("input")
        if value is None and len(parsed) == 1:
            value = next(iter(parsed.values()))
        return value if isinstance(value, str) else arguments
    return parsed if isinstance(parsed, str) else arguments


def arguments_text(value: Any) -> str:
    if isinstance(value, dict):  # some vendors send the object itself
        return orjson.dumps(value).decode()
    return value if isinstance(value, str) else ""


def reasoning_of(message: dict[str, Any]) -> str:
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _answer_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some vendors answer in content parts
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


# --- answer: chat completion -> Response ----------------------------------------------------


def chat_to_response(
    completion: dict[str, Any],
    *,
    response_id: str,
    model: str,
    request: dict[str, Any],
    created_at: int,
    completed_at: int | None = None,
    ids: Callable[[str], str] = new_item_id,
    tools: Tools | None = None,
) -> dict[str, Any]:
    """The ``Response`` for a ``chat.completion``; only the first choice counts.

    Raises ``ValueError`` when there is no choice; the caller names the provider in its error.
    """
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the chat completion has no choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    if tools is None:
        tools = Tools(request.get("tools"))
    output: list[dict[str, Any]] = []
    reasoning = reasoning_of(message)
    if reasoning:
        output.append(reasoning_item(ids("rs"), reasoning))
    parts = []
    text = _answer_text(message.get("content"))
    if text:
        parts.append(text_part(text))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(refusal_part(message["refusal"]))
    if parts:
        output.append(message_item(ids("msg"), parts, "completed"))
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"function": message["function_call"]}]  # the legacy single-function form
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        name = function.get("name") if isinstance(function.get("name"), str) else ""
        ref = tools.names.get(name)
        arguments = arguments_text(function.get("arguments"))
        if not arguments and (ref is None or ref.kind == "function"):
            arguments = "{}"
        prefix = "ctc" if ref is not None and ref.kind == "custom" else "fc"
        call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else ids("call")
        output.append({"id": ids(prefix), **call_fields(ref, name, call_id, arguments, "completed")})
    status, incomplete = outcome(choice.get("finish_reason"))
    if incomplete is not None and output and "status" in output[-1]:
        output[-1]["status"] = "incomplete"
    return response_object(
        response_id=response_id,
        model=model,
        request=request,
        created_at=created_at,
        status=status,
        output=output,
        tools=tools.kept,
        usage=response_usage(completion.get("usage")),
        incomplete=incomplete,
        completed_at=completed_at if incomplete is None else None,
    )
