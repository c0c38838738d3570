"""Reading and checking a request body (OpenAI's, Anthropic's, Gemini's): once, and only what the
gateway needs."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from sluicegate import nesting
from sluicegate.errors import GatewayError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from sluicegate.exchange import Endpoint
from sluicegate.translate.gemini_inbound import check_contents, count_request

# Request bodies the gateway inflates itself (aiohttp's own inflation is off: it knows no limit).
# wbits 32+15 accepts both the gzip and the zlib wrapper.
_INFLATED = frozenset({"gzip", "x-gzip", "deflate"})


async def read_body(request: web.Request, limit: int, idle_timeout: float = 30.0) -> bytes:
    """The whole (decoded) body, refusing more than ``limit`` bytes without reading them all, and
    a body that goes silent for ``idle_timeout`` seconds (408: a stalled upload holds a connection)."""
    length = request.content_length
    if length is not None and length > limit:
        raise too_large(limit)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in _INFLATED and encoding != "identity":
        raise UnsupportedMediaType(
            f"Unsupported Content-Encoding {encoding[:40]!r}; send gzip, deflate or identity."
        )
    content = request.content
    if encoding == "identity" and length is not None and content.is_eof():
        return await request.read()  # the common case: size checked, all of it already here
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS) if encoding in _INFLATED else None
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    try:
        # One timer for the whole body, pushed back by every chunk: silence, not slowness, ends it.
        async with asyncio.timeout(idle_timeout) as silence:
            while chunk := await content.readany():
                silence.reschedule(loop.time() + idle_timeout)
                if inflater is not None:
                    try:
                        chunk = inflater.decompress(chunk, limit + 1 - size)
                    except zlib.error:
                        raise bad_encoding(encoding) from None
                    if inflater.unconsumed_tail:
                        raise too_large(limit)
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise body_stalled(idle_timeout) from None
    if inflater is not None and not inflater.eof:
        raise bad_encoding(encoding)
    return b"".join(chunks)


def body_stalled(idle_timeout: float) -> GatewayError:
    # Connection: close: the rest of the body may still come, and must not be read as a request.
    return GatewayError(
        f"The request body stalled: nothing arrived for {idle_timeout:g} seconds.",
        status=408, type="invalid_request_error", code="request_timeout", headers={"Connection": "close"},
    )


def bad_encoding(encoding: str) -> InvalidRequest:
    return InvalidRequest(f"The request body is not valid {encoding} data.", code="invalid_encoding")


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the gateway's limit of {limit / 1048576:g} MB.")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 the client's SDK will not retry (the same bytes
    would be refused again)."""
    if not raw:
        raise _refused("The request body is empty; expected a JSON object.", "invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise _refused(f"The request body is not valid UTF-8 (byte {bad.start}).", "invalid_encoding") from None
        if str(exc).startswith("depth limit exceeded"):  # orjson's own limit (1,024 levels)
            raise _too_deep() from None
        raise _refused(f"The request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise _refused(f"The request body must be a JSON object, not {_json_kind(body)}.", "invalid_json")
    if nesting.may_exceed(raw) and nesting.exceeds(body):
        raise _too_deep()
    return body


def _refused(message: str, code: str) -> InvalidRequest:
    return InvalidRequest(message, code=code)


def _too_deep() -> InvalidRequest:
    return _refused(
        f"The request body nests arrays and objects more than {nesting.MAX_DEPTH} levels deep; "
        f"the gateway accepts at most {nesting.MAX_DEPTH}.",
        "json_too_deep",
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' must be a non-empty string", param="model", code="invalid_type")
    return model


def _stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream", code="invalid_type")
    return stream


def _required(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
    if not isinstance(value, kinds):
        raise InvalidRequest(f"'{name}' must be {what}", param=name, code="invalid_type")
    return value


def check_chat(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    messages = _required(body, "messages", (list,), "an array of message objects")
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message", param="messages", code="invalid_value")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(
                f"'messages[{index}]' must be an object", param=f"messages[{index}]", code="invalid_type"
            )
        if not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"'messages[{index}].role' must be a string",
                param=f"messages[{index}].role",
                code="invalid_type" if "role" in message else "missing_required_parameter",
            )
    return model, _stream(body)


def check_completions(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    _required(body, "prompt", (str, list), "a string or an array")
    return model, _stream(body)


def check_embeddings(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    _required(body, "input", (str, list), "a string or an array")
    return model, False


def check_moderations(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    _required(body, "input", (str, list), "a string or an array")
    return model, False


def check_messages(body: dict[str, Any]) -> tuple[str, bool]:
    """The Anthropic Messages API: only what routing needs (``model``, ``stream``).

    Everything else is judged by whoever must understand it: Anthropic itself on a native
    pass-through (never stricter than Anthropic: system messages inside ``messages``, new
    block types and fields pass), the bridge's translation for every other provider
    (``sluicegate.translate.anthropic_inbound``), which refuses before any vendor call.
    """
    return _model(body), _stream(body)


def check_count_tokens(body: dict[str, Any]) -> tuple[str, bool]:
    """``/v1/messages/count_tokens``: as ``check_messages``, never streamed."""
    return _model(body), False


def check_responses(body: dict[str, Any]) -> tuple[str, bool]:
    """``/v1/responses``: what the gateway needs to route and to replay a stored conversation.

    The items, tools and settings are judged by the translation (bridged providers) or by the
    vendor itself (native pass-through).
    """
    model = _model(body)
    stream = _stream(body)
    items = body.get("input")
    if items is None:
        if body.get("prompt") is None and body.get("conversation") is None:
            raise InvalidRequest("Missing required parameter: 'input'.", param="input",
                                 code="missing_required_parameter")
    elif not isinstance(items, (str, list)):
        raise InvalidRequest("'input' must be a string or an array of input items", param="input",
                             code="invalid_type")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise InvalidRequest("'previous_response_id' must be a non-empty string", param="previous_response_id",
                             code="invalid_type")
    store = body.get("store")
    if store is not None and not isinstance(store, bool):
        raise InvalidRequest("'store' must be a boolean", param="store", code="invalid_type")
    if body.get("background") is True:
        # A background response is polled for later; the gateway answers each request in full.
        raise InvalidRequest("Background responses are not supported by this gateway; leave 'background' unset.",
                             param="background", code="unsupported_parameter")
    return model, stream


def check_generate_content(body: dict[str, Any]) -> None:
    """Gemini's ``generateContent``: ``contents`` shaped as Google requires (the model and the
    stream are in the path). The parts themselves are judged by Gemini on a native pass-through
    and by the bridge's translation for every other provider
    (``sluicegate.translate.gemini_inbound``), which refuses before any vendor call."""
    check_contents(body.get("contents"))


def check_gemini_count(body: dict[str, Any]) -> None:
    """Gemini's ``countTokens``: ``contents``, or a whole ``generateContentRequest``."""
    count_request(body)


#: The body checks of the Gemini operations, whose model and stream come from the path.
GEMINI_CHECKS: dict[Endpoint, Callable[[dict[str, Any]], None]] = {
    Endpoint.GENERATE_CONTENT: check_generate_content,
    Endpoint.GEMINI_COUNT_TOKENS: check_gemini_count,
}


CHECKS: dict[Endpoint, Callable[[dict[str, Any]], tuple[str, bool]]] = {
    Endpoint.CHAT: check_chat,
    Endpoint.COMPLETIONS: check_completions,
    Endpoint.EMBEDDINGS: check_embeddings,
    Endpoint.MODERATIONS: check_moderations,
    Endpoint.MESSAGES: check_messages,
    Endpoint.COUNT_TOKENS: check_count_tokens,
    Endpoint.RESPONSES: check_responses,
}
