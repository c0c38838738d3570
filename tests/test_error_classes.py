"""The error-class table: every vendor error row, for every provider type, through the real adapter.

Each row is a vendor's error as it arrives (status, body, headers), the class the adapter must
give it and whether it may be retried. Rows run the adapter's own ``map_error`` (or its
in-stream path against a local fake vendor) and ``classify``; the network rows fail real
connections. The fakes' ``error_cases()`` are covered too: a case without a row fails here.
"""

from __future__ import annotations

import email.utils
import socket

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.exchange import Endpoint, GatewayRequest, RequestContext, Target
from sluicegate.resilience.classify import TRAITS, ErrorClass, classify
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate_anthropic import AnthropicOptions, AnthropicProvider
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_dashscope import DashScopeOptions, DashScopeProvider
from sluicegate_dashscope.fake import DashScopeScript
from sluicegate_mock import MockOptions, MockProvider
from sluicegate_openai import OpenAIOptions, OpenAIProvider
from sluicegate_openai.fake import OpenAIScript

E = ErrorClass
KEY = "sk-table-0123456789abcdefghij"
NOW = 1_700_000_000.0
MESSAGES = [{"role": "user", "content": "hi"}]


def make(vendor: str, http: aiohttp.ClientSession | None = None, url: str = "http://127.0.0.1:9", **options):
    """The real adapter for ``vendor``, built as the gateway builds it."""
    services = Services(http=http, config=None, wall_clock=lambda: NOW)
    if vendor == "openai":
        return OpenAIProvider("up", OpenAIOptions(type="openai", base_url=url + "/v1", api_key=Secret(KEY),
                                                  **options), services)
    if vendor == "anthropic":
        return AnthropicProvider("claude", AnthropicOptions(type="anthropic", base_url=url + "/v1",
                                                            api_key=Secret(KEY), **options), services)
    if vendor == "dashscope":
        return DashScopeProvider("qwen", DashScopeOptions(type="dashscope", base_url=url + "/api/v1",
                                                          api_key=Secret(KEY), **options), services)
    return MockProvider("m", MockOptions(type="mock", **options), services)


def openai_body(message: str, kind: str | None, code: str | None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def deepseek_body(message: str, kind: str = "invalid_request_error") -> bytes:
    # DeepSeek puts the same generic code on every error, 402 and 503 included.
    return openai_body(message, kind, "invalid_request_error")


def anthropic_body(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message},
                         "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})


def dashscope_body(code: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message, "request_id": "0cbe6006-faec-9854-bf8b-c906d75c3bd8"})


def row(vendor: str, name: str, status: int, body: bytes, expected: ErrorClass, retryable: bool):
    return pytest.param(vendor, status, body, expected, retryable, id=f"{vendor}:{status}:{name}")


# (vendor type, status, body) -> (class, retryable)
HTTP_ROWS = [
    # -- openai and OpenAI-compatible vendors -------------------------------------------------
    row("openai", "bad value", 400, openai_body("Invalid value for 'temperature'.", "invalid_request_error",
                                                "invalid_value"), E.INVALID_REQUEST, False),
    row("openai", "context", 400, openai_body(
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 204308 "
        "tokens. Please reduce the length of the messages.", "invalid_request_error", "context_length_exceeded"),
        E.CONTEXT_LENGTH, False),
    row("openai", "deepseek context", 400, deepseek_body(
        "This model's maximum context length is 65536 tokens. However, you requested 66343 tokens (62247 in "
        "the messages, 4096 in the completion). Please reduce the length of the messages or completion."),
        E.CONTEXT_LENGTH, False),
    row("openai", "vllm context", 400, orjson.dumps({
        "object": "error", "message": "This model's maximum context length is 8192 tokens. However, you "
        "requested 8203 tokens (7691 in the messages, 512 in the completion).", "type": "BadRequestError",
        "param": None, "code": 400}), E.CONTEXT_LENGTH, False),
    row("openai", "qwen compatible context", 400, openai_body(
        "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 983616]",
        "invalid_request_error", "invalid_parameter_error"), E.CONTEXT_LENGTH, False),
    row("openai", "azure content filter", 400, openai_body(
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        None, "content_filter"), E.CONTENT_FILTER, False),
    row("openai", "content policy", 400, openai_body(
        "Your request was rejected as a result of our safety system.", "invalid_request_error",
        "content_policy_violation"), E.CONTENT_FILTER, False),
    row("openai", "flagged prompt", 400, openai_body(
        "Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try again "
        "with a different prompt.", "invalid_request_error", "invalid_prompt"), E.CONTENT_FILTER, False),
    row("openai", "qwen compatible moderation", 400, openai_body(
        "Input data may contain inappropriate content.", "data_inspection_failed", "data_inspection_failed"),
        E.CONTENT_FILTER, False),
    row("openai", "qwen compatible arrears", 400, openai_body(
        "Access denied, please make sure your account is in good standing.", "Arrearage", "Arrearage"),
        E.QUOTA, False),
    row("openai", "bad key", 401, openai_body("Incorrect API key provided: sk-vendo***cdef.",
                                              "invalid_request_error", "invalid_api_key"), E.AUTHENTICATION, False),
    row("openai", "deepseek bad key", 401, deepseek_body(
        "Authentication Fails, Your api key: ****cdef is invalid", "authentication_error"), E.AUTHENTICATION, False),
    row("openai", "deepseek balance", 402, deepseek_body("Insufficient Balance", "unknown_error"), E.QUOTA, False),
    row("openai", "no access", 403, openai_body("You are not allowed to sample from this model",
                                                "invalid_request_error", None), E.PERMISSION, False),
    row("openai", "no model", 404, openai_body("The model `gpt-9` does not exist", "invalid_request_error",
                                               "model_not_found"), E.NOT_FOUND, False),
    row("openai", "deepseek parameters", 422, deepseek_body("Invalid Parameters"), E.INVALID_REQUEST, False),
    row("openai", "rate limited", 429, openai_body("Rate limit reached for requests", "requests",
                                                   "rate_limit_exceeded"), E.RATE_LIMIT, True),
    row("openai", "quota", 429, openai_body("You exceeded your current quota, please check your plan and "
                                            "billing details.", "insufficient_quota", "insufficient_quota"),
        E.QUOTA, False),
    row("openai", "deepseek rate limit", 429, deepseek_body("Rate Limit Reached", "rate_limit_error"),
        E.RATE_LIMIT, True),
    row("openai", "server error", 500, openai_body("The server had an error", "server_error", None),
        E.OVERLOADED, True),
    row("openai", "html bad gateway", 502, b"<html>502 Bad Gateway</html>", E.OVERLOADED, True),
    row("openai", "engine overloaded", 503, openai_body("The engine is currently overloaded", "server_error",
                                                        None), E.OVERLOADED, True),
    row("openai", "deepseek overloaded", 503, deepseek_body("Server Overloaded", "unknown_error"),
        E.OVERLOADED, True),
    row("openai", "gateway timeout", 504, b"upstream request timeout", E.TIMEOUT, True),
    # -- anthropic ------------------------------------------------------------------------------
    row("anthropic", "bad request", 400, anthropic_body("invalid_request_error", "max_tokens: Field required"),
        E.INVALID_REQUEST, False),
    row("anthropic", "prompt too long", 400, anthropic_body(
        "invalid_request_error", "prompt is too long: 210394 tokens > 200000 maximum"), E.CONTEXT_LENGTH, False),
    row("anthropic", "context limit", 400, anthropic_body(
        "invalid_request_error", "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, "
        "decrease input length or `max_tokens` and try again"), E.CONTEXT_LENGTH, False),
    row("anthropic", "credit balance", 400, anthropic_body(
        "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to "
        "Plans & Billing to upgrade or purchase credits."), E.QUOTA, False),
    row("anthropic", "spend limit", 400, anthropic_body(
        "invalid_request_error", "You have reached your specified workspace API usage limits. You will regain "
        "access on 2026-06-01 at 00:00 UTC."), E.QUOTA, False),
    row("anthropic", "bad key", 401, anthropic_body("authentication_error", "invalid x-api-key"),
        E.AUTHENTICATION, False),
    row("anthropic", "billing", 402, anthropic_body("billing_error", "Your account has a billing issue."),
        E.QUOTA, False),
    row("anthropic", "no access", 403, anthropic_body(
        "permission_error", "Your API key does not have permission to use the specified resource."),
        E.PERMISSION, False),
    row("anthropic", "no model", 404, anthropic_body("not_found_error", "model: claude-9"), E.NOT_FOUND, False),
    row("anthropic", "too large", 413, anthropic_body(
        "request_too_large", "Request exceeds the maximum allowed number of bytes."), E.INVALID_REQUEST, False),
    row("anthropic", "rate limited", 429, anthropic_body(
        "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
        E.RATE_LIMIT, True),
    row("anthropic", "api error", 500, anthropic_body("api_error", "Internal server error"), E.OVERLOADED, True),
    row("anthropic", "overloaded", 529, anthropic_body("overloaded_error", "Overloaded"), E.OVERLOADED, True),
    row("anthropic", "cdn timeout", 504, b"<html>504 Gateway Time-out</html>", E.TIMEOUT, True),
    # -- dashscope ------------------------------------------------------------------------------
    row("dashscope", "bad parameter", 400, dashscope_body("InvalidParameter", "Range of max_tokens should be "
                                                          "[1, 8192]"), E.INVALID_REQUEST, False),
    row("dashscope", "input too long", 400, dashscope_body("InvalidParameter", "Range of input length should be "
                                                           "[1, 30720]"), E.CONTEXT_LENGTH, False),
    row("dashscope", "moderation", 400, dashscope_body("DataInspectionFailed", "Input data may contain "
                                                       "inappropriate content."), E.CONTENT_FILTER, False),
    row("dashscope", "arrears", 400, dashscope_body("Arrearage", "Access denied, please make sure your account "
                                                    "is in good standing."), E.QUOTA, False),
    row("dashscope", "bad key", 401, dashscope_body("InvalidApiKey", "Invalid API-key provided."),
        E.AUTHENTICATION, False),
    row("dashscope", "no access", 403, dashscope_body("AccessDenied", "Access denied."), E.PERMISSION, False),
    row("dashscope", "free tier only", 403, dashscope_body(
        "AllocationQuota.FreeTierOnly", "The free tier of the model has been exhausted."), E.QUOTA, False),
    row("dashscope", "no model", 404, dashscope_body("ModelNotFound", "The model `qwen-plux` does not exist."),
        E.NOT_FOUND, False),
    row("dashscope", "request timeout", 408, dashscope_body("RequestTimeOut", "Request timed out, please try "
                                                            "again later."), E.TIMEOUT, True),
    row("dashscope", "throttled", 429, dashscope_body("Throttling", "Requests throttling triggered."),
        E.RATE_LIMIT, True),
    row("dashscope", "rate quota", 429, dashscope_body("Throttling.RateQuota", "Requests rate limit exceeded, "
                                                       "please try again later."), E.RATE_LIMIT, True),
    row("dashscope", "allocation quota", 429, dashscope_body(
        "Throttling.AllocationQuota", "Allocated quota exceeded, please increase your quota limit."),
        E.RATE_LIMIT, True),
    row("dashscope", "free quota used up", 429, dashscope_body("Throttling.AllocationQuota",
                                                               "Free allocated quota exceeded."), E.QUOTA, False),
    row("dashscope", "bill overdue", 429, dashscope_body("PrepaidBillOverdue", "The prepaid bill is overdue."),
        E.QUOTA, False),
    row("dashscope", "internal error", 500, dashscope_body("InternalError", "An internal error has occured, "
                                                           "please try again later."), E.OVERLOADED, True),
    row("dashscope", "algorithm timeout", 500, dashscope_body("InternalError.Timeout", "An internal timeout "
                                                              "error has occured."), E.TIMEOUT, True),
    row("dashscope", "unavailable", 503, dashscope_body("ModelUnavailable", "Model is unavailable, please try "
                                                        "again later."), E.OVERLOADED, True),
]


def assert_class(error: GatewayError, expected: ErrorClass, retryable: bool) -> None:
    # The adapter says so itself (the router need not re-derive it), and classify agrees.
    assert error.error_class == expected
    assert classify(error) is expected
    assert error.retryable is retryable is TRAITS[expected].retryable


@pytest.mark.parametrize(("vendor", "status", "body", "expected", "retryable"), HTTP_ROWS)
def test_vendor_error_rows(vendor, status, body, expected, retryable):
    error = make(vendor).map_error(status, body, CIMultiDictProxy(CIMultiDict()))
    assert isinstance(error, UpstreamError)
    assert_class(error, expected, retryable)
    assert KEY not in error.message


@pytest.mark.parametrize(
    ("status", "expected", "retryable"),
    [(400, E.INVALID_REQUEST, False), (401, E.AUTHENTICATION, False), (402, E.QUOTA, False),
     (403, E.PERMISSION, False), (404, E.NOT_FOUND, False), (408, E.TIMEOUT, True), (429, E.RATE_LIMIT, True),
     (500, E.OVERLOADED, True), (503, E.OVERLOADED, True), (504, E.TIMEOUT, True)],
)
async def test_mock_fail_status_rows(status, expected, retryable):
    provider = make("mock", fail_rate=1.0, fail_status=status)
    with pytest.raises(UpstreamError) as caught:
        await provider.send(ctx(), request({"model": "m", "messages": MESSAGES}), Target(provider, "m", "m/m"))
    assert_class(caught.value, expected, retryable)


# -- errors inside a stream (after a 200) -----------------------------------------------------


def ctx() -> RequestContext:
    return RequestContext("req-table", None, CIMultiDictProxy(CIMultiDict()), 0.0)


def request(body: dict, endpoint: Endpoint = Endpoint.CHAT) -> GatewayRequest:
    return GatewayRequest(endpoint, body, orjson.dumps(body), body["model"], bool(body.get("stream")), ())


def openai_frame(error: dict) -> bytes:
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


def dashscope_frame(code: str, message: str) -> bytes:
    return b"id:1\nevent:error\n:HTTP_STATUS/400\ndata:" + dashscope_body(code, message) + b"\n\n"


STREAM_ROWS = [
    pytest.param("openai", openai_frame({"message": "The server had an error while processing your request.",
                                         "type": "server_error", "param": None, "code": None}),
                 E.OVERLOADED, True, id="openai:server_error"),
    pytest.param("openai", openai_frame({"message": "Rate limit reached", "type": "tokens", "param": None,
                                         "code": "rate_limit_exceeded"}), E.RATE_LIMIT, True, id="openai:rate"),
    pytest.param("openai", openai_frame({"message": "This model's maximum context length is 8192 tokens.",
                                         "type": "invalid_request_error", "param": None, "code": None}),
                 E.CONTEXT_LENGTH, False, id="openai:context"),
    pytest.param("openai", openai_frame({"message": "something new", "type": "brand_new", "code": None}),
                 E.UNKNOWN, False, id="openai:unknown"),
    pytest.param("anthropic", ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}),
                 E.OVERLOADED, True, id="anthropic:overloaded"),
    pytest.param("anthropic", ("error", {"type": "error", "error": {"type": "rate_limit_error",
                                                                    "message": "slow down"}}),
                 E.RATE_LIMIT, True, id="anthropic:rate"),
    pytest.param("anthropic", ("error", {"type": "error", "error": {"type": "brand_new_error",
                                                                    "message": "new"}}),
                 E.OVERLOADED, True, id="anthropic:unknown-type-is-a-500"),
    pytest.param("dashscope", dashscope_frame("DataInspectionFailed", "Output data may contain inappropriate "
                                              "content."), E.CONTENT_FILTER, False, id="dashscope:moderation"),
    pytest.param("dashscope", dashscope_frame("Throttling.RateQuota", "Requests rate limit exceeded."),
                 E.RATE_LIMIT, True, id="dashscope:rate"),
    pytest.param("dashscope", dashscope_frame("InvalidParameter", "Range of input length should be [1, 30720]"),
                 E.CONTEXT_LENGTH, False, id="dashscope:context"),
    pytest.param("dashscope", dashscope_frame("InternalError", "An internal error has occured."),
                 E.OVERLOADED, True, id="dashscope:internal"),
]

STREAM_PATHS = {
    "openai": ("/v1/chat/completions", Endpoint.CHAT),
    # Anthropic clients' streams pass through; the error event is the vendor's own.
    "anthropic": ("/v1/messages", Endpoint.MESSAGES),
    "dashscope": ("/api/v1/services/aigc/text-generation/generation", Endpoint.CHAT),
}


@pytest.mark.parametrize(("vendor", "frame", "expected", "retryable"), STREAM_ROWS)
async def test_in_stream_error_rows(fake_upstream, vendor, frame, expected, retryable):
    path, endpoint = STREAM_PATHS[vendor]
    fake_upstream.sse(path, [frame], done=False)
    async with aiohttp.ClientSession() as http:
        provider = make(vendor, http, fake_upstream.url)
        body = {"model": "m", "max_tokens": 5, "messages": MESSAGES, "stream": True}
        reply = await provider.send(ctx(), request(body, endpoint), Target(provider, "m", "p/m"))
        with pytest.raises(UpstreamError) as caught:
            async for _ in reply:
                pass
        await reply.aclose()
    assert_class(caught.value, expected, retryable)


async def test_mock_broken_stream_is_a_network_failure():
    provider = make("mock", fail_after_chunks=1)
    reply = await provider.send(ctx(), request({"model": "m", "messages": [{"role": "user", "content": "a b"}],
                                                "stream": True}), Target(provider, "m", "m/m"))
    with pytest.raises(UpstreamError) as caught:
        async for _ in reply:
            pass
    assert_class(caught.value, E.NETWORK, True)


# -- the fake vendors' recorded error cases ---------------------------------------------------

FAKE_CASES = {
    ("openai", "bad request"): E.INVALID_REQUEST,
    ("openai", "bad key"): E.AUTHENTICATION,
    ("openai", "no access"): E.PERMISSION,
    ("openai", "no model"): E.NOT_FOUND,
    ("openai", "rate limited"): E.RATE_LIMIT,
    ("openai", "quota"): E.QUOTA,
    ("openai", "server error"): E.OVERLOADED,
    ("openai", "overloaded"): E.OVERLOADED,
    ("anthropic", "bad request"): E.INVALID_REQUEST,
    ("anthropic", "bad key"): E.AUTHENTICATION,
    ("anthropic", "no access"): E.PERMISSION,
    ("anthropic", "no model"): E.NOT_FOUND,
    ("anthropic", "too large"): E.INVALID_REQUEST,
    ("anthropic", "rate limited"): E.RATE_LIMIT,
    ("anthropic", "server error"): E.OVERLOADED,
    ("anthropic", "overloaded"): E.OVERLOADED,
    ("dashscope", "bad parameter"): E.INVALID_REQUEST,
    ("dashscope", "moderation"): E.CONTENT_FILTER,
    ("dashscope", "arrears"): E.QUOTA,
    ("dashscope", "bad key"): E.AUTHENTICATION,
    ("dashscope", "no access"): E.PERMISSION,
    ("dashscope", "no model"): E.NOT_FOUND,
    ("dashscope", "rate limited"): E.RATE_LIMIT,
    ("dashscope", "token quota"): E.RATE_LIMIT,
    ("dashscope", "server error"): E.OVERLOADED,
    ("dashscope", "unavailable"): E.OVERLOADED,
}
SCRIPTS = {"openai": OpenAIScript(), "anthropic": AnthropicScript(), "dashscope": DashScopeScript()}


def test_every_fake_error_case_has_a_row():
    cases = {(vendor, case.name) for vendor, script in SCRIPTS.items() for case in script.error_cases()}
    assert cases == set(FAKE_CASES)


@pytest.mark.parametrize("vendor", list(SCRIPTS))
async def test_fake_error_cases_through_a_real_call(fake_upstream, vendor):
    script = SCRIPTS[vendor]
    path = script.chat_path(False)
    async with aiohttp.ClientSession() as http:
        provider = make(vendor, http, fake_upstream.url)
        for case in script.error_cases():
            fake_upstream.on(path, case.responder)
            with pytest.raises(UpstreamError) as caught:
                await provider.post(fake_upstream.url + path, b"{}", {"Content-Type": "application/json"}, False)
            expected = FAKE_CASES[(vendor, case.name)]
            assert_class(caught.value, expected, TRAITS[expected].retryable)
            # The vendor's Retry-After is parsed onto the error for the router to honour.
            assert caught.value.retry_after == (float(case.retry_after) if case.retry_after else None), case.name


# -- the network: nothing answered, or not in time --------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "dashscope"])
async def test_connection_refused_is_network(vendor):
    url = f"http://127.0.0.1:{closed_port()}"
    async with aiohttp.ClientSession() as http:
        provider = make(vendor, http, url)
        with pytest.raises(UpstreamUnavailable) as caught:
            await provider.post(url + "/v1/chat/completions", b"{}", {}, False)
    assert_class(caught.value, E.NETWORK, True)
    assert caught.value.retry_after is None


@pytest.mark.parametrize("stream", [False, True])
async def test_no_answer_in_time_is_timeout(fake_upstream, stream):
    fake_upstream.json("/v1/chat/completions", {"never": "seen"}, delay=2)
    async with aiohttp.ClientSession() as http:
        provider = make("openai", http, fake_upstream.url, timeout=0.2)
        with pytest.raises(UpstreamTimeout) as caught:
            await provider.post(fake_upstream.url + "/v1/chat/completions", b"{}", {}, stream)
    assert_class(caught.value, E.TIMEOUT, True)


async def test_silence_mid_stream_is_timeout(fake_upstream):
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    fake_upstream.sse("/v1/chat/completions", [chunk, chunk], delay=2)
    async with aiohttp.ClientSession() as http:
        provider = make("openai", http, fake_upstream.url, timeout=0.2)
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        reply = await provider.send(ctx(), request(body), Target(provider, "m", "up/m"))
        with pytest.raises(UpstreamTimeout) as caught:
            async for _ in reply:
                pass
        await reply.aclose()
    assert_class(caught.value, E.TIMEOUT, True)


# -- how long the vendor asked us to wait -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (429, {"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
        (429, {"Retry-After": email.utils.formatdate(NOW + 12, usegmt=True)}, 12.0),
        (429, {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        (503, {"Retry-After": "30"}, 30.0),
        # OpenAI sends its reset headers on every answer; they ask for a wait only on a 429.
        (500, {"x-ratelimit-reset-requests": "1s"}, None),
        (429, {"Retry-After": "whenever"}, None),
        (429, {}, None),
    ],
)
async def test_retry_after_is_parsed_from_the_real_response(fake_upstream, status, headers, expected):
    fake_upstream.json("/v1/chat/completions", orjson.loads(openai_body("slow down", "requests", None)),
                       status=status, headers=headers)
    async with aiohttp.ClientSession() as http:
        provider = make("openai", http, fake_upstream.url)
        with pytest.raises(UpstreamError) as caught:
            await provider.post(fake_upstream.url + "/v1/chat/completions", b"{}", {}, False)
    assert caught.value.retry_after == (None if expected is None else pytest.approx(expected))


async def test_retry_after_header_forwarded_to_clients_is_unchanged(fake_upstream):
    fake_upstream.json("/v1/chat/completions", orjson.loads(openai_body("slow down", "requests", None)),
                       status=429, headers={"Retry-After": "7", "retry-after-ms": "6500"})
    async with aiohttp.ClientSession() as http:
        provider = make("openai", http, fake_upstream.url)
        with pytest.raises(UpstreamError) as caught:
            await provider.post(fake_upstream.url + "/v1/chat/completions", b"{}", {}, False)
    # The client sees the vendor's own header; the router uses the more precise parsed value.
    assert caught.value.headers == {"Retry-After": "7"}
    assert caught.value.retry_after == pytest.approx(6.5)
