"""The Anthropic Messages API's vocabulary beside OpenAI's, both directions, in one place.

Two translations meet Anthropic's API: the gateway's Anthropic entrance in front of an OpenAI
chat provider (``sluicegate.translate.anthropic_inbound``) and the ``anthropic`` provider plugin
in front of Anthropic (``sluicegate_anthropic.translate``); and the error bodies of the
``/v1/messages`` routes take Anthropic's shape. Each mapping below is written once and read by
all of them: error types and statuses, the error body, stop and finish reasons, tool choices,
usage. Pure data and functions that import nothing of the gateway, so error shaping does not
import a translation.
"""

from __future__ import annotations

from typing import Any

# -- errors -------------------------------------------------------------------------------------

#: The error ``type`` Anthropic sends with each HTTP status (and the gateway's own errors take).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}

#: Anthropic error types and the HTTP status Anthropic sends them with (for in-stream errors,
#: which arrive after a 200); unknown types count as 500.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

_KNOWN_TYPES = frozenset(ERROR_TYPES.values()) | {"api_error", "billing_error"}


def anthropic_error_type(status: int, code: str | None) -> str:
    """Anthropic's error ``type`` for a gateway error's HTTP status and code."""
    if code in _KNOWN_TYPES:
        # An Anthropic provider's own error type travels as the code: give it back unchanged.
        return code
    if status == 503 and code == "overloaded":
        return "overloaded_error"
    known = ERROR_TYPES.get(status)
    if known is not None:
        return known
    # Anthropic documents invalid_request_error for 4xx statuses it does not list.
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def anthropic_error_body(
    message: str, status: int, code: str | None, request_id: str | None
) -> dict[str, Any]:
    """The Anthropic error shape: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    error = {"type": anthropic_error_type(status, code), "message": message}
    body: dict[str, Any] = {"type": "error", "error": error}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def client_status(vendor_status: int) -> int:
    """529 is Anthropic's own "overloaded"; HTTP clients and proxies know it as 503."""
    return 503 if vendor_status == 529 else vendor_status


# -- how an answer ended --------------------------------------------------------------------------

#: OpenAI finish reasons as Anthropic stop reasons (anything unknown reads as "end_turn").
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

#: Anthropic stop reasons as OpenAI finish reasons (anything unknown reads as "stop").
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "", "stop")


# -- tool choice ----------------------------------------------------------------------------------

#: Anthropic ``tool_choice.type`` as OpenAI's ``tool_choice`` string ("tool" names a function).
TOOL_CHOICES_TO_OPENAI = {"auto": "auto", "any": "required", "none": "none"}
#: OpenAI's ``tool_choice`` string as Anthropic's ``tool_choice.type``.
TOOL_CHOICES_TO_ANTHROPIC = {"auto": "auto", "required": "any", "none": "none"}


# -- usage ----------------------------------------------------------------------------------------


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage as OpenAI's: OpenAI counts cached prompt tokens inside ``prompt_tokens``,
    Anthropic apart from ``input_tokens``."""
    fresh = usage.get("input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    read = usage.get("cache_read_input_tokens") or 0
    output = usage.get("output_tokens") or 0
    prompt = fresh + written + read
    answer = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read},
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }
    creation = usage.get("cache_creation")
    if isinstance(creation, dict):  # 5-minute and 1-hour writes apart: priced apart
        answer["cache_creation"] = creation
    return answer


def anthropic_usage(usage: Any) -> dict[str, Any]:
    """OpenAI usage (or an OpenAI-compatible vendor's) as Anthropic's."""
    if not isinstance(usage, dict):
        usage = {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not isinstance(cached, int):
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek's own field
    cached = cached if isinstance(cached, int) else 0
    # Cache writes, where a translating provider reports them under Anthropic's name (Bedrock).
    written = usage.get("cache_creation_input_tokens")
    written = written if isinstance(written, int) else 0
    prompt = usage.get("prompt_tokens")
    prompt = prompt if isinstance(prompt, int) else 0
    output = usage.get("completion_tokens")
    # Anthropic counts cache reads and writes apart from input tokens; OpenAI includes them in
    # the prompt.
    answer: dict[str, Any] = {
        "input_tokens": max(prompt - cached - written, 0),
        "output_tokens": output if isinstance(output, int) else 0,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }
    creation = usage.get("cache_creation")
    if isinstance(creation, dict):
        answer["cache_creation"] = creation
    return answer
