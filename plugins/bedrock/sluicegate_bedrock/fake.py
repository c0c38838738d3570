"""A fake Amazon Bedrock runtime for tests: the VendorScript the adapter contract plays against
``type = "bedrock"``, and the pieces of Bedrock's wire format other tests build answers from.

It answers as ``bedrock-runtime.<region>.amazonaws.com`` does: Converse answers as JSON, streams
(ConverseStream, InvokeModelWithResponseStream) as ``application/vnd.amazon.eventstream`` framed
here byte for byte (prelude with lengths and CRC32, string headers, payload, message CRC32),
errors as ``{"message"}`` with ``x-amzn-ErrorType``. It checks every call's credentials as AWS
does: a SigV4 signature is verified with the fake's own keys (an independent implementation of
the algorithm, not botocore's), a bad one gets Bedrock's 403 ``InvalidSignatureException``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from sluicegate.testing.upstream import RecordedRequest
from sluicegate.testing.vendor import ErrorCase, RequestSummary, Responder, ToolCall, Usage, VendorScript

MODEL = "amazon.nova-lite-v1:0"
CLAUDE = "anthropic.claude-sonnet-4-5-20250929-v1:0"
REGION = "us-east-1"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EVENT_STREAM = "application/vnd.amazon.eventstream"
REQUEST_ID = "6b9d6b2c-1b0e-4c55-9a2f-3e1fcdc2a1f0"

# -- the event stream's framing -----------------------------------------------------------------

_STRING = 7  # the header value type of a string


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, CRC32 of the two),
    the headers (name length, name, type 7, value length, value), the payload, CRC32 of it all."""
    encoded = b"".join(
        struct.pack("!B", len(name.encode())) + name.encode() + struct.pack("!BH", _STRING, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event(kind: str, body: dict[str, Any]) -> bytes:
    """An event message, with the padding field ``p`` Bedrock adds to every payload."""
    payload = orjson.dumps({**body, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"[: 4 + len(kind) % 7]})
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception(kind: str, message: str, **extra: Any) -> bytes:
    """An exception message (``throttlingException``, ``modelStreamErrorException``)."""
    payload = orjson.dumps({"message": message, **extra})
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}, payload)


def chunk(anthropic_event: dict[str, Any]) -> bytes:
    """An InvokeModelWithResponseStream ``chunk``: one Anthropic stream event, base64 in ``bytes``."""
    return event("chunk", {"bytes": base64.b64encode(orjson.dumps(anthropic_event)).decode()})


async def write_frames(request: web.Request, frames: Sequence[bytes], *, delay: float = 0) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": EVENT_STREAM, "x-amzn-RequestId": REQUEST_ID})
    await response.prepare(request)
    for index, data in enumerate(frames):
        if delay and index:
            await asyncio.sleep(delay)
        await response.write(data)
    await response.write_eof()
    return response


def stream_answer(frames: Sequence[bytes], *, delay: float = 0) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        return await write_frames(request, frames, delay=delay)

    return respond


def json_answer(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Responder:
    body = data if isinstance(data, bytes) else orjson.dumps(data)

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=body, status=status, content_type="application/json",
            headers={"x-amzn-RequestId": REQUEST_ID, **(headers or {})},
        )

    return respond


def error(status: int, kind: str, message: str) -> Responder:
    """Bedrock's error answer: the type in ``x-amzn-ErrorType``, the message in the body."""
    return json_answer({"message": message}, status, {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"})


# -- Converse answers ---------------------------------------------------------------------------


def token_usage(usage: Usage, *, written: int = 0) -> dict[str, Any]:
    """Bedrock's usage: input tokens apart from cache reads and writes."""
    fresh = usage.prompt_tokens - usage.cached_tokens - written
    data: dict[str, Any] = {
        "inputTokens": fresh,
        "outputTokens": usage.completion_tokens,
        "totalTokens": usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.cached_tokens or written:
        data["cacheReadInputTokens"] = usage.cached_tokens
        data["cacheWriteInputTokens"] = written
    return data


def converse_answer(content: list[dict[str, Any]], stop: str, usage: Usage, *, written: int = 0) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": token_usage(usage, written=written),
        "metrics": {"latencyMs": 412},
    }


def converse_stream(blocks: Sequence[bytes], stop: str, usage: Usage) -> list[bytes]:
    """A ConverseStream: messageStart, the blocks' events, messageStop, metadata."""
    return [
        event("messageStart", {"role": "assistant"}),
        *blocks,
        event("messageStop", {"stopReason": stop}),
        event("metadata", {"usage": token_usage(usage), "metrics": {"latencyMs": 388}}),
    ]


def text_block(pieces: Sequence[str], index: int = 0) -> list[bytes]:
    return [
        *(event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}}) for piece in pieces),
        event("contentBlockStop", {"contentBlockIndex": index}),
    ]


def tool_block(call: ToolCall, index: int = 0) -> list[bytes]:
    """A tool call streamed as Bedrock does: the id and name first, the input's JSON in pieces."""
    arguments = json.dumps(call.arguments)
    middle = len(arguments) // 2
    return [
        event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call.id, "name": call.name}}}),
        event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": arguments[:middle]}}}),
        event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": arguments[middle:]}}}),
        event("contentBlockStop", {"contentBlockIndex": index}),
    ]


# -- SigV4, checked independently ------------------------------------------------------------------

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<names>[a-z0-9\-;]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(
    secret: str, method: str, raw_path: str, query: str, headers: Mapping[str, str], names: str, body: bytes,
    amz_date: str, scope: str,
) -> str:
    """SigV4 as AWS documents it, for a service other than S3 (whose paths are encoded twice)."""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&") if pair)
    canonical = "\n".join([
        method,
        quote(raw_path, safe="/~"),
        "&".join(f"{key}={value}" for key, value in pairs),
        "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names.split(";")),
        names,
        hashlib.sha256(body).hexdigest(),
    ])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    day, region, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeCredentials:
    """What the fake accepts: one access key pair (and session token), or any bearer token
    (``api_key`` None) or one."""

    def __init__(
        self, access_key_id: str = ACCESS_KEY_ID, secret_access_key: str = SECRET_ACCESS_KEY,
        session_token: str | None = None, api_key: str | None = None, region: str = REGION,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.api_key = api_key
        self.region = region

    def check(self, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes) -> str | None:
        """The credential a request proves (the bearer token, or the secret key its signature
        was made with), or None when it proves none."""
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
            return token if self.api_key is None or token == self.api_key else None
        match = _AUTHORIZATION.match(authorization)
        if match is None or match["key"] != self.access_key_id or match["region"] != self.region:
            return None
        names = match["names"].split(";")
        amz_date = headers.get("x-amz-date", "")
        if match["service"] != "bedrock" or "host" not in names or not amz_date.startswith(match["day"]):
            return None
        if self.session_token is not None and (
            "x-amz-security-token" not in names or headers.get("x-amz-security-token") != self.session_token
        ):
            return None
        scope = f"{match['day']}/{match['region']}/bedrock/aws4_request"
        wanted = expected_signature(
            self.secret_access_key, method, raw_path, query, headers, match["names"], body, amz_date, scope
        )
        return self.secret_access_key if hmac.compare_digest(wanted, match["signature"]) else None


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def authenticated(credentials: FakeCredentials, responder: Responder) -> Responder:
    """``responder`` behind Bedrock's front door: a call without valid credentials is refused."""

    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path, _, query = request.raw_path.partition("?")
        headers = {name.lower(): ",".join(request.headers.getall(name)) for name in request.headers}
        if credentials.check(request.method, path, query, headers, body) is not None:
            return await responder(request)
        if "authorization" not in headers:
            return await error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")(request)
        if headers["authorization"].startswith("Bearer "):
            return await error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")(request)
        return await error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.",
        )(request)

    return respond


# -- the script ---------------------------------------------------------------------------------


class BedrockScript(VendorScript):
    """Bedrock for the adapter contract. ``credentials`` is what the fake accepts (any bearer
    token by default, and the fake access key pair)."""

    provider_type = "bedrock"
    upstream_model = MODEL

    def __init__(self, credentials: FakeCredentials | None = None, model: str = MODEL) -> None:
        self.credentials = credentials or FakeCredentials()
        self.upstream_model = model

    def base_url(self, upstream_url: str) -> str:
        return upstream_url

    def provider_options(self) -> str:
        return f'region = "{self.credentials.region}"'

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return f"/model/{self.upstream_model}/{'converse-stream' if stream else 'converse'}"

    def invoke_path(self, stream: bool) -> str:
        return f"/model/{self.upstream_model}/{'invoke-with-response-stream' if stream else 'invoke'}"

    def guarded(self, responder: Responder) -> Responder:
        return authenticated(self.credentials, responder)

    def answer_text(self, text: str, usage: Usage) -> Responder:
        return self.guarded(json_answer(converse_answer([{"text": text}], "end_turn", usage)))

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        return self.guarded(stream_answer(converse_stream(text_block(pieces), "end_turn", usage), delay=delay))

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        if stream:
            return self.guarded(stream_answer(converse_stream(tool_block(call), "tool_use", usage)))
        block = {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}}
        return self.guarded(json_answer(converse_answer([block], "tool_use", usage)))

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        frames = [
            event("messageStart", {"role": "assistant"}),
            *(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}) for piece in pieces),
            exception(
                "modelStreamErrorException",
                "The model encountered an error while streaming the response.",
                originalStatusCode=500,
            ),
        ]
        return self.guarded(stream_answer(frames))

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("malformed", self.guarded(error(
                400, "ValidationException", "Malformed input request: #/messages: expected minimum item count: 1")),
                400, message="Malformed input request"),
            ErrorCase("too long", self.guarded(error(400, "ValidationException", "Input is too long for requested model.")),
                      400, message="Input is too long"),
            ErrorCase("bad token", self.guarded(error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid.")), 401),
            ErrorCase("expired token", self.guarded(error(
                403, "ExpiredTokenException", "The security token included in the request is expired")), 401),
            ErrorCase("no access", self.guarded(error(
                403, "AccessDeniedException", "You don't have access to the model with the specified model ID.")),
                403, message="don't have access"),
            ErrorCase("no model", self.guarded(error(
                404, "ResourceNotFoundException", "Could not resolve the foundation model from the provided model identifier.")),
                404),
            ErrorCase("throttled", self.guarded(error(
                429, "ThrottlingException", "Too many requests, please wait before trying again.")), 429),
            ErrorCase("quota", self.guarded(error(
                400, "ServiceQuotaExceededException", "Too many tokens per day, please wait before trying again.")), 429),
            ErrorCase("model timeout", self.guarded(error(
                408, "ModelTimeoutException", "Model has timed out in processing the request.")), 504),
            ErrorCase("internal", self.guarded(error(500, "InternalServerException", "Internal server error")), 500),
            ErrorCase("unavailable", self.guarded(error(
                503, "ServiceUnavailableException", "Bedrock is unable to process your request.")), 503),
        ]

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        body = request.json()
        model, _, operation = request.path.removeprefix("/model/").rpartition("/")
        turns: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        results: list[tuple[str, str]] = []
        images: list[str] = []
        for message in body["messages"]:
            texts = []
            for block in message["content"]:
                if "text" in block:
                    texts.append(block["text"])
                elif "image" in block:
                    image = block["image"]
                    images.append(f"data:image/{image['format']};base64,{image['source']['bytes']}")
                elif "toolUse" in block:
                    use = block["toolUse"]
                    calls.append(ToolCall(use["toolUseId"], use["name"], use["input"]))
                elif "toolResult" in block:
                    result = block["toolResult"]
                    results.append((result["toolUseId"], "".join(part.get("text", "") for part in result["content"])))
            if texts:
                turns.append((message["role"], "\n".join(texts)))
        system = [block["text"] for block in body.get("system") or () if "text" in block]
        return RequestSummary(
            model=model,
            stream=operation == "converse-stream",
            system="\n".join(system) or None,
            turns=turns,
            tools=[tool["toolSpec"]["name"] for tool in (body.get("toolConfig") or {}).get("tools") or () if "toolSpec" in tool],
            tool_calls=calls,
            tool_results=results,
            max_tokens=(body.get("inferenceConfig") or {}).get("maxTokens"),
            credential=self.credential(request),
            images=images,
        )

    def credential(self, request: RecordedRequest) -> str | None:
        """The credential ``request`` proves (its path encoded again as the gateway sends it:
        the recording keeps it decoded)."""
        raw_path = quote(request.path, safe="/:~")
        query = "&".join(f"{key}={value}" for key, value in request.query.items())
        return self.credentials.check(request.method, raw_path, query, _lowered(request.headers), request.body)
