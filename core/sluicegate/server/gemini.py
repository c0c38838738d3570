"""The Gemini entrance's routes: ``POST /v1beta/models/{model}:generateContent`` and its kin.

The google-genai SDK and Gemini CLI call ``{base}/{version}/models/{model}:{method}``; the
version is ``v1beta`` (Gemini CLI, Google's REST examples) or ``v1`` (the Python SDK's default),
and a tuned model is ``tunedModels/{name}``. The requested model is the path's (a gateway
alias, ``provider/model`` or a model a provider lists); a stream is the method
``streamGenerateContent``, with ``alt=sse``: Google's other stream format, one JSON array
written piece by piece, is refused with a 400 that says to add it.

A key in the URL (``?key=``, which Google's API also takes) is refused before anything else:
URLs end up in access logs, proxies' logs and browser histories. Keys go in the
``x-goog-api-key`` header, where the SDK puts them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sluicegate.errors import GatewayError, InvalidRequest
from sluicegate.exchange import Endpoint
from sluicegate.server.handlers import api_handler
from sluicegate.server.inbound import GEMINI_CHECKS, parse_object

#: The API versions the entrance answers under.
VERSIONS = ("v1beta", "v1")
#: The collections a model name may be in, and the prefix its requested name keeps.
COLLECTIONS = {"models": "", "tunedModels": "tunedModels/"}
#: Method -> (operation, streamed).
METHODS: dict[str, tuple[Endpoint, bool]] = {
    "generateContent": (Endpoint.GENERATE_CONTENT, False),
    "streamGenerateContent": (Endpoint.GENERATE_CONTENT, True),
    "countTokens": (Endpoint.GEMINI_COUNT_TOKENS, False),
}
# Every path of Gemini's API under this version is the entrance's; under /v1, only POSTs to a
# model's method are (GET /v1/models/{id} is OpenAI's and Anthropic's model lookup).
_BETA_PREFIX = "/v1beta/"
_V1_COLLECTIONS = tuple(f"/v1/{collection}/" for collection in COLLECTIONS)


def add_routes(router: web.UrlDispatcher) -> None:
    for version in VERSIONS:
        for collection, prefix in COLLECTIONS.items():
            base = f"/{version}/{collection}/{{model:.+}}"
            for method, (endpoint, stream) in METHODS.items():
                router.add_post(f"{base}:{method}", gemini_handler(endpoint, stream, prefix))
            # Registered after the methods served: only the others reach it.
            router.add_post(f"{base}:{{method}}", unsupported_method)


def is_gemini_request(request: web.Request) -> bool:
    """Whether the client speaks Gemini's API here (its errors then take Google's shape)."""
    path = request.path
    if path.startswith(_BETA_PREFIX):
        return True
    return request.method == "POST" and path.startswith(_V1_COLLECTIONS) and ":" in path.rpartition("/")[2]


def gemini_handler(endpoint: Endpoint, stream: bool, prefix: str):
    check = GEMINI_CHECKS[endpoint]

    def read(request: web.Request, raw: bytes) -> tuple[dict[str, Any], str, bool]:
        body = parse_object(raw)
        check(body)
        return body, prefix + request.match_info["model"], stream

    def screen(request: web.Request) -> None:
        query = request.query
        if "key" in query:
            # Never echoed: the value is a credential.
            raise InvalidRequest(
                "API keys are not accepted in the URL (the 'key' query parameter), where logs keep them; "
                "send the key in the x-goog-api-key header.",
                param="key",
                code="key_in_url",
            )
        if stream and query.get("alt") != "sse":
            raise InvalidRequest(
                "streamGenerateContent is served as server-sent events only: add ?alt=sse to the URL "
                "(the google-genai SDK and Gemini CLI do).",
                param="alt",
                code="unsupported_stream_format",
            )

    return api_handler(endpoint, read, screen)


async def unsupported_method(request: web.Request) -> web.StreamResponse:
    method = request.match_info["method"]
    shown = method if len(method) <= 60 else method[:60] + "..."
    raise GatewayError(
        f"The method {shown!r} is not served by this gateway; it serves generateContent, "
        "streamGenerateContent (with alt=sse) and countTokens.",
        status=404,
        type="invalid_request_error",
        code="unsupported_method",
    )
