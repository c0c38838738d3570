"""The error-class table: every vendor error row, for every provider type, through the real adapter.

Each row is a vendor's error as it arrives (status, body, headers), the class the adapter must
give it and whether it may be retried. Rows run the adapter's own ``map_error`` (or its
in-stream path against a local fake vendor) and ``classify``; the network rows fail real
connections. The fakes' ``error_cases()`` are covered too: a case without a row fails here, and
each case is played through the adapter's real ``send`` at the path and with the credentials
the adapter itself uses (Vertex's token, Bedrock's model paths, Azure's ``api-key``).

The vendors: openai (and the OpenAI-compatible ones), anthropic, dashscope, gemini, azure,
bedrock and vertex (Gemini and Claude models, in Google's and Anthropic's error shapes). The
plugins keep tables of their own (``plugins/*/tests/test_errors.py``); this one holds them all.
"""

from __future__ import annotations

import email.utils
import math
import socket

import aiohttp
import orjson
import pytest
from attrs import frozen
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.exchange import Endpoint, GatewayRequest, RequestContext, Target
from sluicegate.resilience.classify import TRAITS, ErrorClass, classify
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing.upstream import FakeUpstream
from sluicegate.testing.vendor import Usage, VendorScript
from sluicegate_anthropic import AnthropicOptions, AnthropicProvider
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_azure import AzureOptions, AzureProvider
from sluicegate_azure.fake import DEPLOYMENT_NOT_FOUND, NO_KEY, AzureScript, content_filter_body
from sluicegate_bedrock import fake as bedrock_fake
from sluicegate_bedrock.fake import BedrockScript
from sluicegate_bedrock.options import BedrockOptions
from sluicegate_bedrock.provider import BedrockProvider
from sluicegate_dashscope import DashScopeOptions, DashScopeProvider
from sluicegate_dashscope.fake import DashScopeScript
from sluicegate_gemini import GeminiOptions, GeminiProvider
from sluicegate_gemini import fake as gemini_fake
from sluicegate_gemini.fake import GeminiScript
from sluicegate_mock import MockOptions, MockProvider
from sluicegate_openai import OpenAIOptions, OpenAIProvider
from sluicegate_openai.fake import OpenAIScript
from sluicegate_vertex.fake import REGION as VERTEX_REGION
from sluicegate_vertex.fake import VertexClaudeScript, VertexGeminiScript
from sluicegate_vertex.fake_oauth import PROJECT as VERTEX_PROJECT
from sluicegate_vertex.options import VertexOptions
from sluicegate_vertex.provider import VertexProvider

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
    if vendor == "gemini":
        return GeminiProvider("gemini", GeminiOptions(type="gemini", base_url=url + "/v1beta", api_key=Secret(KEY),
                                                      **options), services)
    if vendor == "azure":
        # The v1 API (no api_version): the resource endpoint is the base URL.
        return AzureProvider("az", AzureOptions(type="azure", base_url=url, api_key=Secret(KEY), **options), services)
    if vendor == "bedrock":
        # A Bedrock API key (a bearer token): no SigV4, no AWS credential chain.
        return BedrockProvider("bedrock", BedrockOptions(type="bedrock", region="us-east-1", base_url=url,
                                                         api_key=Secret(KEY), **options), services)
    if vendor == "vertex":
        # api_key is a ready access token: no google-auth exchange (plugins/vertex/tests cover it).
        return VertexProvider("vertex", VertexOptions(type="vertex", region=VERTEX_REGION, project=VERTEX_PROJECT,
                                                      base_url=url + "/v1", api_key=Secret(KEY), **options), services)
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


def google_body(code: int, status: str, message: str, *details: dict) -> bytes:
    """Google's RPC status as Gemini and Vertex send it."""
    error: dict = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return orjson.dumps({"error": error})


def error_info(reason: str, service: str = "generativelanguage.googleapis.com") -> dict:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": service}}


def retry_info(delay: str) -> dict:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


GEMINI_QUOTA_FAILURE = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
}


def azure_body(code: str | None, message: str, kind: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "type": kind, "param": param}})


def bedrock_type(name: str) -> dict[str, str]:
    """The ``x-amzn-ErrorType`` header Bedrock names its exception in."""
    return {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


def bedrock_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


def row(vendor: str, name: str, status: int, body: bytes, expected: ErrorClass, retryable: bool,
        headers: dict[str, str] | None = None):
    return pytest.param(vendor, status, body, headers or {}, expected, retryable, id=f"{vendor}:{status}:{name}")


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
    # -- gemini (Google AI Studio): Google's RPC status; plugins/gemini/tests/test_gemini_provider.py --
    row("gemini", "bad argument", 400, google_body(
        400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"),
        E.INVALID_REQUEST, False),
    row("gemini", "unsupported location", 400, google_body(
        400, "FAILED_PRECONDITION", "User location is not supported for the API use."), E.PERMISSION, False),
    row("gemini", "bad key", 400, google_body(
        400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", error_info("API_KEY_INVALID")),
        E.AUTHENTICATION, False),
    row("gemini", "expired key", 400, google_body(
        400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.", error_info("API_KEY_EXPIRED")),
        E.AUTHENTICATION, False),
    row("gemini", "context", 400, google_body(
        400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed "
        "(1048576)."), E.CONTEXT_LENGTH, False),
    row("gemini", "no access", 403, google_body(403, "PERMISSION_DENIED", "The caller does not have permission"),
        E.PERMISSION, False),
    row("gemini", "no model", 404, google_body(
        404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their supported methods."),
        E.NOT_FOUND, False),
    row("gemini", "resource exhausted with RetryInfo", 429, google_body(
        429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
        GEMINI_QUOTA_FAILURE, retry_info("29s")), E.RATE_LIMIT, True),
    row("gemini", "internal", 500, google_body(
        500, "INTERNAL", "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"), E.OVERLOADED, True),
    # A stream request's error may come as a one-element list.
    row("gemini", "internal in a list", 500, b"[" + google_body(500, "INTERNAL", "Internal error encountered.") + b"]",
        E.OVERLOADED, True),
    row("gemini", "overloaded", 503, google_body(503, "UNAVAILABLE", "The model is overloaded. Please try again "
                                                                      "later."), E.OVERLOADED, True),
    row("gemini", "deadline", 504, google_body(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could "
                                                                          "complete."), E.TIMEOUT, True),
    row("gemini", "html bad gateway", 502, b"<html>502 Bad Gateway</html>", E.OVERLOADED, True),
    # -- azure: OpenAI's shape with Azure's codes; plugins/azure/tests/test_errors.py ----------
    row("azure", "content filter", 400, orjson.dumps(content_filter_body()), E.CONTENT_FILTER, False),
    row("azure", "jailbreak and blocklist", 400, orjson.dumps(content_filter_body({
        "custom_blocklists": {"filtered": True, "details": [{"filtered": True, "id": "competitor-names"}]},
        "jailbreak": {"detected": True, "filtered": True}})), E.CONTENT_FILTER, False),
    # The inner code alone says it too (an Azure body whose top-level code is generic).
    row("azure", "responsible ai policy", 400, orjson.dumps({"error": {
        "code": "BadRequest", "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.", "innererror": {"code": "ResponsibleAIPolicyViolation"}}}),
        E.CONTENT_FILTER, False),
    row("azure", "context", 400, azure_body(
        "context_length_exceeded", "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 131072 tokens. Please reduce the length of the messages.", "invalid_request_error", "messages"),
        E.CONTEXT_LENGTH, False),
    row("azure", "bad argument", 400, azure_body(None, "Unrecognized request argument supplied: foo",
                                                 "invalid_request_error"), E.INVALID_REQUEST, False),
    row("azure", "bad key", 401, orjson.dumps(NO_KEY), E.AUTHENTICATION, False),
    row("azure", "deployment not found", 404, orjson.dumps(DEPLOYMENT_NOT_FOUND), E.NOT_FOUND, False),
    row("azure", "resource not found", 404, azure_body("404", "Resource not found"), E.NOT_FOUND, False),
    row("azure", "rate limited", 429, azure_body(
        "429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
        "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."),
        E.RATE_LIMIT, True, {"retry-after": "6", "retry-after-ms": "5400"}),
    row("azure", "server error", 500, azure_body(
        "InternalServerError", "The server had an error while processing your request. Sorry about that!"),
        E.OVERLOADED, True),
    row("azure", "service unavailable", 503, azure_body(
        "ServiceUnavailable", "The service is temporarily unable to process your request. Please try again later."),
        E.OVERLOADED, True, {"retry-after-ms": "1500"}),
    # -- bedrock: x-amzn-ErrorType (or __type) names the exception; plugins/bedrock/tests/test_errors.py --
    row("bedrock", "malformed", 400, bedrock_body("Malformed input request: #/messages: expected minimum item "
                                                  "count: 1"), E.INVALID_REQUEST, False,
        bedrock_type("ValidationException")),
    row("bedrock", "input is too long", 400, bedrock_body("Input is too long for requested model."),
        E.CONTEXT_LENGTH, False, bedrock_type("ValidationException")),
    row("bedrock", "claude prompt too long", 400, bedrock_body("prompt is too long: 215000 tokens > 200000 maximum"),
        E.CONTEXT_LENGTH, False, bedrock_type("ValidationException")),
    row("bedrock", "too many input tokens", 400, bedrock_body(
        "The model returned the following errors: too many input tokens"), E.CONTEXT_LENGTH, False,
        bedrock_type("ValidationException")),
    row("bedrock", "content filter", 400, bedrock_body("Output blocked by content filtering policy"),
        E.CONTENT_FILTER, False, bedrock_type("ValidationException")),
    row("bedrock", "bad token", 403, bedrock_body("The security token included in the request is invalid."),
        E.AUTHENTICATION, False, bedrock_type("UnrecognizedClientException")),
    row("bedrock", "bad token in __type", 403, orjson.dumps({
        "__type": "com.amazon.coral.service#UnrecognizedClientException",
        "Message": "The security token included in the request is invalid."}), E.AUTHENTICATION, False),
    row("bedrock", "bad signature", 403, bedrock_body(
        "The request signature we calculated does not match the signature you provided."), E.AUTHENTICATION, False,
        bedrock_type("InvalidSignatureException")),
    row("bedrock", "expired token", 403, bedrock_body("The security token included in the request is expired"),
        E.AUTHENTICATION, False, bedrock_type("ExpiredTokenException")),
    row("bedrock", "incomplete signature", 400, bedrock_body("Authorization header requires 'Signature' parameter."),
        E.AUTHENTICATION, False, bedrock_type("IncompleteSignatureException")),
    row("bedrock", "missing token", 403, bedrock_body("Missing Authentication Token"), E.AUTHENTICATION, False,
        bedrock_type("MissingAuthenticationTokenException")),
    row("bedrock", "no access", 403, bedrock_body("You don't have access to the model with the specified model ID."),
        E.PERMISSION, False, bedrock_type("AccessDeniedException")),
    row("bedrock", "no model", 404, bedrock_body("Could not resolve the foundation model from the provided model "
                                                 "identifier."), E.NOT_FOUND, False,
        bedrock_type("ResourceNotFoundException")),
    row("bedrock", "model timeout", 408, bedrock_body("Model has timed out in processing the request."),
        E.TIMEOUT, True, bedrock_type("ModelTimeoutException")),
    row("bedrock", "model error", 424, bedrock_body("The model returned an error."), E.OVERLOADED, True,
        bedrock_type("ModelErrorException")),
    row("bedrock", "throttled", 429, bedrock_body("Too many requests, please wait before trying again."),
        E.RATE_LIMIT, True, bedrock_type("ThrottlingException")),
    # Sent as a 400, but it says "too many requests or tokens for your quota": a wait fixes it.
    row("bedrock", "service quota", 400, bedrock_body("Too many tokens per day, please wait before trying again."),
        E.RATE_LIMIT, True, bedrock_type("ServiceQuotaExceededException")),
    row("bedrock", "model not ready", 429, bedrock_body("Model is not ready for inference. Wait and try your "
                                                        "request again."), E.RATE_LIMIT, True,
        bedrock_type("ModelNotReadyException")),
    row("bedrock", "internal", 500, bedrock_body("Internal server error"), E.OVERLOADED, True,
        bedrock_type("InternalServerException")),
    row("bedrock", "unavailable", 503, bedrock_body("Bedrock is unable to process your request."), E.OVERLOADED,
        True, bedrock_type("ServiceUnavailableException")),
    row("bedrock", "html bad gateway", 502, b"<html>Bad Gateway</html>", E.OVERLOADED, True),
    # -- vertex: Google's shape from its front end (both families); plugins/vertex/tests/test_errors.py --
    row("vertex", "gemini bad argument", 400, google_body(400, "INVALID_ARGUMENT", "Request contains an invalid "
                                                                                    "argument."),
        E.INVALID_REQUEST, False),
    row("vertex", "gemini context", 400, google_body(
        400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed "
        "(1048576)."), E.CONTEXT_LENGTH, False),
    row("vertex", "unauthenticated", 401, google_body(
        401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
        error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", "aiplatform.googleapis.com")), E.AUTHENTICATION, False),
    row("vertex", "token expired", 401, google_body(
        401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
        error_info("ACCESS_TOKEN_EXPIRED", "aiplatform.googleapis.com")), E.AUTHENTICATION, False),
    row("vertex", "iam denied", 403, google_body(
        403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource "
        "'//aiplatform.googleapis.com/projects/test-project/locations/us-east5/publishers/google/models/"
        "gemini-2.5-flash' (or it may not exist).", error_info("IAM_PERMISSION_DENIED", "aiplatform.googleapis.com")),
        E.PERMISSION, False),
    # A 403, but the project's billing account is the problem: quota (another vendor may serve).
    row("vertex", "billing disabled", 403, google_body(
        403, "PERMISSION_DENIED", "This API method requires billing to be enabled. Please enable billing on project "
        "#test-project by visiting https://console.developers.google.com/billing/enable?project=test-project then "
        "retry.", error_info("BILLING_DISABLED", "aiplatform.googleapis.com")), E.QUOTA, False),
    row("vertex", "service disabled", 403, google_body(
        403, "PERMISSION_DENIED", "Vertex AI API has not been used in project test-project before or it is "
        "disabled.", error_info("SERVICE_DISABLED", "aiplatform.googleapis.com")), E.PERMISSION, False),
    row("vertex", "no publisher model", 404, google_body(
        404, "NOT_FOUND", "Publisher Model `projects/test-project/locations/us-east5/publishers/google/models/"
        "gemini-9` was not found or your project does not have access to it."), E.NOT_FOUND, False),
    row("vertex", "resource exhausted", 429, google_body(
        429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."),
        E.RATE_LIMIT, True),
    row("vertex", "claude quota", 429, google_body(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
        "online_prediction_requests_per_base_model with base model: anthropic-claude-sonnet-4-5. Please submit a "
        "quota increase request."), E.RATE_LIMIT, True),
    row("vertex", "internal", 500, google_body(500, "INTERNAL", "Internal error encountered."), E.OVERLOADED, True),
    row("vertex", "unavailable", 503, google_body(503, "UNAVAILABLE", "The service is currently unavailable."),
        E.OVERLOADED, True),
    row("vertex", "deadline", 504, google_body(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could "
                                                                          "complete."), E.TIMEOUT, True),
    # -- vertex: Claude's own errors, in Anthropic's shape ---------------------------------------
    row("vertex", "claude bad request", 400, anthropic_body("invalid_request_error", "max_tokens: Field required"),
        E.INVALID_REQUEST, False),
    row("vertex", "claude beta refused", 400, anthropic_body(
        "invalid_request_error", "Unexpected value(s) `oauth-2025-04-20` for the `anthropic-beta` header. Please "
        "consult our documentation at docs.anthropic.com or try again without the header."), E.INVALID_REQUEST, False),
    row("vertex", "claude prompt too long", 400, anthropic_body(
        "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), E.CONTEXT_LENGTH, False),
    # A proxy in between may drop Anthropic's envelope and keep the error's type.
    row("vertex", "claude unwrapped", 400, orjson.dumps({"error": {
        "type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}),
        E.CONTEXT_LENGTH, False),
    row("vertex", "claude rate limited", 429, anthropic_body(
        "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), E.RATE_LIMIT, True),
    row("vertex", "claude api error", 500, anthropic_body("api_error", "Internal server error"), E.OVERLOADED, True),
    row("vertex", "claude overloaded", 529, anthropic_body("overloaded_error", "Overloaded"), E.OVERLOADED, True),
    row("vertex", "html bad gateway", 502, b"<html>502 Bad Gateway</html>", E.OVERLOADED, True),
]


def assert_class(error: GatewayError, expected: ErrorClass, retryable: bool) -> None:
    # The adapter says so itself (the router need not re-derive it), and classify agrees.
    assert error.error_class == expected
    assert classify(error) is expected
    assert error.retryable is retryable is TRAITS[expected].retryable


@pytest.mark.parametrize(("vendor", "status", "body", "headers", "expected", "retryable"), HTTP_ROWS)
def test_vendor_error_rows(vendor, status, body, headers, expected, retryable):
    error = make(vendor).map_error(status, body, CIMultiDictProxy(CIMultiDict(headers)))
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


def google_frame(code: int, status: str, message: str) -> bytes:
    return gemini_fake.sse_frame(gemini_fake.error_body(code, status, message))


#: A Gemini chunk of text, sent before an error so the error comes mid-stream.
GEMINI_TEXT = gemini_fake.sse_frame(gemini_fake.response([{"text": "Partial "}], None,
                                                         gemini_fake.usage_metadata(Usage())))
BEDROCK_START = bedrock_fake.event("messageStart", {"role": "assistant"})
BEDROCK_TEXT = bedrock_fake.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Partial "}})


def bedrock_claude_start() -> bytes:
    return bedrock_fake.chunk({"type": "message_start", "message": {
        "id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": bedrock_fake.CLAUDE, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}})


@frozen
class Stream:
    """Where a vendor's stream is served and how it is framed, for the in-stream rows."""

    vendor: str  # the provider type ``make`` builds
    model: str
    path: str
    endpoint: Endpoint
    #: Bedrock's binary event stream rather than SSE.
    event_stream: bool = False


STREAMS = {
    "openai": Stream("openai", "m", "/v1/chat/completions", Endpoint.CHAT),
    # Anthropic clients' streams pass through; the error event is the vendor's own.
    "anthropic": Stream("anthropic", "m", "/v1/messages", Endpoint.MESSAGES),
    "dashscope": Stream("dashscope", "m", "/api/v1/services/aigc/text-generation/generation", Endpoint.CHAT),
    "gemini": Stream("gemini", gemini_fake.MODEL, gemini_fake.stream_path(), Endpoint.CHAT),
    "azure": Stream("azure", "gpt-4o-mini", "/openai/v1/chat/completions", Endpoint.CHAT),
    "bedrock": Stream("bedrock", bedrock_fake.MODEL, f"/model/{bedrock_fake.MODEL}/converse-stream", Endpoint.CHAT,
                      event_stream=True),
    # Claude on Bedrock: /v1/messages passes through to InvokeModelWithResponseStream.
    "bedrock-claude": Stream("bedrock", bedrock_fake.CLAUDE,
                             f"/model/{bedrock_fake.CLAUDE}/invoke-with-response-stream", Endpoint.MESSAGES,
                             event_stream=True),
    "vertex-gemini": Stream("vertex", VertexGeminiScript.upstream_model, VertexGeminiScript().chat_path(True),
                            Endpoint.CHAT),
    # Claude on Vertex: chat translated, and /v1/messages passed through.
    "vertex-claude": Stream("vertex", VertexClaudeScript.upstream_model, VertexClaudeScript().chat_path(True),
                            Endpoint.CHAT),
    "vertex-claude-messages": Stream("vertex", VertexClaudeScript.upstream_model,
                                     VertexClaudeScript().chat_path(True), Endpoint.MESSAGES),
}


def stream_row(stream: str, name: str, frames: list, expected: ErrorClass, retryable: bool):
    return pytest.param(stream, frames, expected, retryable, id=f"{stream}:{name}")


CLAUDE_OVERLOADED = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
CLAUDE_RATE = ("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})

STREAM_ROWS = [
    stream_row("openai", "server_error", [openai_frame({
        "message": "The server had an error while processing your request.", "type": "server_error", "param": None,
        "code": None})], E.OVERLOADED, True),
    stream_row("openai", "rate", [openai_frame({"message": "Rate limit reached", "type": "tokens", "param": None,
                                                "code": "rate_limit_exceeded"})], E.RATE_LIMIT, True),
    stream_row("openai", "context", [openai_frame({"message": "This model's maximum context length is 8192 tokens.",
                                                   "type": "invalid_request_error", "param": None, "code": None})],
               E.CONTEXT_LENGTH, False),
    stream_row("openai", "unknown", [openai_frame({"message": "something new", "type": "brand_new", "code": None})],
               E.UNKNOWN, False),
    stream_row("anthropic", "overloaded", [CLAUDE_OVERLOADED], E.OVERLOADED, True),
    stream_row("anthropic", "rate", [CLAUDE_RATE], E.RATE_LIMIT, True),
    stream_row("anthropic", "unknown-type-is-a-500", [("error", {"type": "error", "error": {
        "type": "brand_new_error", "message": "new"}})], E.OVERLOADED, True),
    stream_row("dashscope", "moderation", [dashscope_frame("DataInspectionFailed", "Output data may contain "
                                                           "inappropriate content.")], E.CONTENT_FILTER, False),
    stream_row("dashscope", "rate", [dashscope_frame("Throttling.RateQuota", "Requests rate limit exceeded.")],
               E.RATE_LIMIT, True),
    stream_row("dashscope", "context", [dashscope_frame("InvalidParameter", "Range of input length should be "
                                                        "[1, 30720]")], E.CONTEXT_LENGTH, False),
    stream_row("dashscope", "internal", [dashscope_frame("InternalError", "An internal error has occured.")],
               E.OVERLOADED, True),
    # Gemini sends Google's error object as an SSE event after the chunks it had.
    stream_row("gemini", "internal", [GEMINI_TEXT, google_frame(500, "INTERNAL", "An internal error has occurred.")],
               E.OVERLOADED, True),
    stream_row("gemini", "resource exhausted", [GEMINI_TEXT, google_frame(
        429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")], E.RATE_LIMIT, True),
    stream_row("gemini", "unavailable", [GEMINI_TEXT, google_frame(503, "UNAVAILABLE", "The model is overloaded.")],
               E.OVERLOADED, True),
    stream_row("gemini", "deadline", [GEMINI_TEXT, google_frame(504, "DEADLINE_EXCEEDED", "Deadline expired.")],
               E.TIMEOUT, True),
    # Azure streams in OpenAI's shape; its own codes class the error.
    stream_row("azure", "server_error", [openai_frame({
        "message": "The server had an error while processing your request.", "type": "server_error", "param": None,
        "code": None})], E.OVERLOADED, True),
    stream_row("azure", "content_filter", [openai_frame({
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type": None, "param": "prompt", "code": "content_filter"})], E.CONTENT_FILTER, False),
    # Bedrock's event stream: an exception message after the events it had.
    stream_row("bedrock", "throttling", [BEDROCK_START, BEDROCK_TEXT, bedrock_fake.exception(
        "throttlingException", "Too many tokens, please wait before trying again.")], E.RATE_LIMIT, True),
    stream_row("bedrock", "model stream error", [BEDROCK_START, BEDROCK_TEXT, bedrock_fake.exception(
        "modelStreamErrorException", "The model encountered an error while streaming the response.",
        originalStatusCode=500)], E.OVERLOADED, True),
    stream_row("bedrock", "validation", [BEDROCK_START, bedrock_fake.exception(
        "validationException", "Input is too long for requested model.")], E.CONTEXT_LENGTH, False),
    stream_row("bedrock", "internal", [BEDROCK_START, BEDROCK_TEXT, bedrock_fake.exception(
        "internalServerException", "The system encountered an unexpected error during processing.")],
        E.OVERLOADED, True),
    stream_row("bedrock", "unavailable", [BEDROCK_START, bedrock_fake.exception(
        "serviceUnavailableException", "Bedrock is unable to process your request.")], E.OVERLOADED, True),
    stream_row("bedrock", "model timeout", [BEDROCK_START, bedrock_fake.exception(
        "modelTimeoutException", "Model has timed out in processing the request.")], E.TIMEOUT, True),
    stream_row("bedrock-claude", "throttling", [bedrock_claude_start(), bedrock_fake.exception(
        "throttlingException", "Too many requests, please wait before trying again.")], E.RATE_LIMIT, True),
    # Claude's own error event, inside a Bedrock chunk.
    stream_row("bedrock-claude", "claude overloaded", [bedrock_claude_start(), bedrock_fake.chunk(
        CLAUDE_OVERLOADED[1])], E.OVERLOADED, True),
    stream_row("vertex-gemini", "internal", [GEMINI_TEXT, google_frame(500, "INTERNAL", "Internal error "
                                                                                          "encountered.")],
               E.OVERLOADED, True),
    stream_row("vertex-gemini", "resource exhausted", [GEMINI_TEXT, google_frame(
        429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later.")], E.RATE_LIMIT, True),
    stream_row("vertex-claude", "overloaded", [CLAUDE_OVERLOADED], E.OVERLOADED, True),
    stream_row("vertex-claude", "rate", [CLAUDE_RATE], E.RATE_LIMIT, True),
    stream_row("vertex-claude-messages", "overloaded", [CLAUDE_OVERLOADED], E.OVERLOADED, True),
    stream_row("vertex-claude-messages", "rate", [CLAUDE_RATE], E.RATE_LIMIT, True),
]


def serve_stream(upstream: FakeUpstream, stream: Stream, frames: list) -> None:
    if stream.event_stream:
        upstream.on(stream.path, bedrock_fake.stream_answer(frames))
    else:
        upstream.sse(stream.path, frames, done=False)


@pytest.mark.parametrize(("stream", "frames", "expected", "retryable"), STREAM_ROWS)
async def test_in_stream_error_rows(fake_upstream, stream, frames, expected, retryable):
    where = STREAMS[stream]
    serve_stream(fake_upstream, where, frames)
    async with aiohttp.ClientSession() as http:
        provider = make(where.vendor, http, fake_upstream.url)
        body = {"model": where.model, "max_tokens": 5, "messages": MESSAGES, "stream": True}
        # As the gateway dispatches: natively, or bridged where the provider lacks the operation.
        send = provider.senders[where.endpoint]
        reply = await send(ctx(), request(body, where.endpoint), Target(provider, where.model, "p/m"))
        with pytest.raises(UpstreamError) as caught:
            async for _ in reply:
                pass
        await reply.aclose()
    assert len(fake_upstream.calls(where.path)) == 1
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

#: (fake vendor, its error case's name) -> the class the adapter gives it.
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
    ("gemini", "bad argument"): E.INVALID_REQUEST,
    ("gemini", "bad key"): E.AUTHENTICATION,
    ("gemini", "no access"): E.PERMISSION,
    ("gemini", "no model"): E.NOT_FOUND,
    ("gemini", "rate limited"): E.RATE_LIMIT,
    ("gemini", "server error"): E.OVERLOADED,
    ("gemini", "unavailable"): E.OVERLOADED,
    ("azure", "bad request"): E.INVALID_REQUEST,
    ("azure", "content filter"): E.CONTENT_FILTER,
    ("azure", "bad key"): E.AUTHENTICATION,
    ("azure", "no deployment"): E.NOT_FOUND,
    ("azure", "rate limited"): E.RATE_LIMIT,
    ("azure", "rate limited in ms"): E.RATE_LIMIT,
    ("azure", "server error"): E.OVERLOADED,
    ("azure", "unavailable"): E.OVERLOADED,
    ("bedrock", "malformed"): E.INVALID_REQUEST,
    ("bedrock", "too long"): E.CONTEXT_LENGTH,
    ("bedrock", "bad token"): E.AUTHENTICATION,
    ("bedrock", "expired token"): E.AUTHENTICATION,
    ("bedrock", "no access"): E.PERMISSION,
    ("bedrock", "no model"): E.NOT_FOUND,
    ("bedrock", "throttled"): E.RATE_LIMIT,
    ("bedrock", "quota"): E.RATE_LIMIT,
    ("bedrock", "model timeout"): E.TIMEOUT,
    ("bedrock", "internal"): E.OVERLOADED,
    ("bedrock", "unavailable"): E.OVERLOADED,
    # plugins/vertex/tests/test_errors.py EXPECTED holds the same rows, run through the gateway.
    ("vertex-gemini", "bad argument"): E.INVALID_REQUEST,
    ("vertex-gemini", "context"): E.CONTEXT_LENGTH,
    ("vertex-gemini", "bad token"): E.AUTHENTICATION,
    ("vertex-gemini", "no access"): E.PERMISSION,
    ("vertex-gemini", "billing disabled"): E.QUOTA,
    ("vertex-gemini", "no model"): E.NOT_FOUND,
    ("vertex-gemini", "quota"): E.RATE_LIMIT,
    ("vertex-gemini", "server error"): E.OVERLOADED,
    ("vertex-gemini", "unavailable"): E.OVERLOADED,
    ("vertex-gemini", "deadline"): E.TIMEOUT,
    ("vertex-claude", "bad request"): E.INVALID_REQUEST,
    ("vertex-claude", "context"): E.CONTEXT_LENGTH,
    ("vertex-claude", "bad token"): E.AUTHENTICATION,
    ("vertex-claude", "no access"): E.PERMISSION,
    ("vertex-claude", "no model"): E.NOT_FOUND,
    ("vertex-claude", "quota"): E.RATE_LIMIT,
    ("vertex-claude", "rate limited"): E.RATE_LIMIT,
    ("vertex-claude", "server error"): E.OVERLOADED,
    ("vertex-claude", "overloaded"): E.OVERLOADED,
}
#: The fake vendors; each is played against the adapter of its ``provider_type``, asked for its
#: ``upstream_model``. Azure plays its v1 API and Bedrock takes a Bedrock API key, as ``make`` builds them.
SCRIPTS: dict[str, VendorScript] = {
    "openai": OpenAIScript(), "anthropic": AnthropicScript(), "dashscope": DashScopeScript(),
    "gemini": GeminiScript(), "azure": AzureScript(), "bedrock": BedrockScript(),
    "vertex-gemini": VertexGeminiScript(), "vertex-claude": VertexClaudeScript(),
}


def test_every_fake_error_case_has_a_row():
    cases = {(vendor, case.name) for vendor, script in SCRIPTS.items() for case in script.error_cases()}
    assert cases == set(FAKE_CASES)


@pytest.mark.parametrize("vendor", list(SCRIPTS))
async def test_fake_error_cases_through_a_real_call(fake_upstream, vendor):
    script = SCRIPTS[vendor]
    model = script.upstream_model
    # The adapter's own chat call: its URL (a model path, a deployment, a project and region) and
    # its credentials (a bearer token, an api-key header), which the fakes check.
    path = script.chat_path(False)
    async with aiohttp.ClientSession() as http:
        provider = make(script.provider_type, http, fake_upstream.url)
        for case in script.error_cases():
            fake_upstream.on(path, case.responder)
            before = len(fake_upstream.calls(path))
            body = {"model": model, "max_tokens": 5, "messages": MESSAGES}
            with pytest.raises(UpstreamError) as caught:
                await provider.send(ctx(), request(body), Target(provider, model, f"up/{model}"))
            assert len(fake_upstream.calls(path)) == before + 1, case.name
            error = caught.value
            expected = FAKE_CASES[(vendor, case.name)]
            assert_class(error, expected, TRAITS[expected].retryable)
            assert error.status == case.status, case.name
            if case.message:
                assert case.message in error.message, case.name
            assert KEY not in error.message
            # The wait the client is told (whole seconds, rounded up) and the one the router honours.
            assert error.headers.get("Retry-After") == case.retry_after, case.name
            if case.retry_after is None:
                assert error.retry_after is None, case.name
            else:
                assert math.ceil(error.retry_after) == int(case.retry_after), case.name


# -- the network: nothing answered, or not in time --------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("vendor", list(SCRIPTS))
async def test_connection_refused_is_network(vendor):
    script = SCRIPTS[vendor]
    model = script.upstream_model
    url = f"http://127.0.0.1:{closed_port()}"
    async with aiohttp.ClientSession() as http:
        provider = make(script.provider_type, http, url)
        with pytest.raises(UpstreamUnavailable) as caught:
            body = {"model": model, "max_tokens": 5, "messages": MESSAGES}
            await provider.send(ctx(), request(body), Target(provider, model, f"up/{model}"))
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


#: (vendor, status, body, headers) -> the wait the router honours, and the Retry-After the client
#: is told. Gemini and Vertex name theirs in the body (RetryInfo), Azure in milliseconds.
WAIT_ROWS = [
    pytest.param("gemini", 429, google_body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.",
                                            GEMINI_QUOTA_FAILURE, retry_info("29s")), {}, 29.0, "29",
                 id="gemini:RetryInfo"),
    pytest.param("gemini", 429, google_body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.",
                                            retry_info("1.5s")), {"Retry-After": "9"}, 1.5, "2",
                 id="gemini:RetryInfo-over-the-header"),
    pytest.param("gemini", 429, google_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted."),
                 {"Retry-After": "12"}, 12.0, "12", id="gemini:header-only"),
    pytest.param("gemini", 400, google_body(400, "INVALID_ARGUMENT", "Bad.", retry_info("5s")), {}, None, None,
                 id="gemini:no-wait-fixes-a-400"),
    pytest.param("vertex", 429, google_body(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again "
                                                                         "later.", retry_info("8s")), {}, 8.0, "8",
                 id="vertex:RetryInfo"),
    pytest.param("vertex", 429, google_body(429, "RESOURCE_EXHAUSTED", "Resource exhausted."), {}, None, None,
                 id="vertex:no-wait-named"),
    pytest.param("vertex", 429, anthropic_body("rate_limit_error", "Number of request tokens has exceeded your "
                                                                   "per-minute rate limit"),
                 {"retry-after": "7"}, 7.0, "7", id="vertex:claude-retry-after"),
    pytest.param("azure", 429, azure_body("429", "Rate limit is exceeded. Try again in 6 seconds."),
                 {"retry-after": "6", "retry-after-ms": "5400"}, 5.4, "6", id="azure:retry-after-ms"),
    pytest.param("azure", 429, azure_body("429", "Rate limit is exceeded."), {"Retry-After-Ms": "250"}, 0.25, "1",
                 id="azure:milliseconds-round-up"),
    pytest.param("azure", 429, azure_body("429", "Rate limit is exceeded."), {}, None, None, id="azure:none"),
    pytest.param("azure", 503, azure_body("ServiceUnavailable", "The service is temporarily unable to process your "
                                                                "request."), {"retry-after": "3"}, 3.0, "3",
                 id="azure:503"),
    # Bedrock names no wait itself; a proxy in front of it may.
    pytest.param("bedrock", 429, bedrock_body("Too many requests, please wait before trying again."),
                 bedrock_type("ThrottlingException"), None, None, id="bedrock:none"),
    pytest.param("bedrock", 429, bedrock_body("Too many requests, please wait before trying again."),
                 {**bedrock_type("ThrottlingException"), "Retry-After": "4"}, 4.0, "4", id="bedrock:proxy-header"),
]


@pytest.mark.parametrize(("vendor", "status", "body", "headers", "wait", "told"), WAIT_ROWS)
async def test_the_wait_each_vendor_names(fake_upstream, vendor, status, body, headers, wait, told):
    fake_upstream.json("/errors", body, status=status, headers=headers)
    async with aiohttp.ClientSession() as http:
        provider = make(vendor, http, fake_upstream.url)
        with pytest.raises(UpstreamError) as caught:
            await provider.post(fake_upstream.url + "/errors", b"{}", provider.base_headers(), False)
    assert caught.value.retry_after == (None if wait is None else pytest.approx(wait))
    assert caught.value.headers.get("Retry-After") == told


# -- answers that are refusals, not errors ----------------------------------------------------

GEMINI_BLOCKED = {
    "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]},
    "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    "modelVersion": "gemini-2.5-flash",
}


@pytest.mark.parametrize("vendor", ["gemini", "vertex-gemini"])
async def test_a_gemini_safety_block_is_an_answer_not_an_error(fake_upstream, vendor):
    # Gemini refuses a prompt with a 200 and a block reason: no error class, so nothing retries
    # or falls back; OpenAI clients get finish_reason "content_filter" (Azure's and DashScope's
    # filters, which answer with an error, are content_filter rows above).
    script = SCRIPTS[vendor]
    model = script.upstream_model
    fake_upstream.json(script.chat_path(False), GEMINI_BLOCKED)
    async with aiohttp.ClientSession() as http:
        provider = make(script.provider_type, http, fake_upstream.url)
        body = {"model": model, "messages": MESSAGES}
        reply = await provider.send(ctx(), request(body), Target(provider, model, f"up/{model}"))
    answer = orjson.loads(reply.body)
    assert answer["choices"][0]["finish_reason"] == "content_filter"
