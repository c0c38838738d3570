"""The pure parts of ``type = "vertex"`` on recorded payloads: where calls go (regions, the
global endpoint, ``model@version`` ids, publishers), the Claude body as Vertex takes it, the
``anthropic-beta`` filter, and both of Vertex's error shapes with their classes."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from sluicegate.errors import InvalidRequest
from sluicegate.resilience.classify import ErrorClass
from sluicegate_anthropic.translate import to_openai_completion
from sluicegate_gemini.errors import GeminiError
from sluicegate_gemini.translate import chat_completion
from sluicegate_vertex import claude, endpoints, errors

FIXTURES = Path(__file__).with_name("fixtures")


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


# -- where calls go ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "root"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com/v1"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/v1"),
        ("global", "https://aiplatform.googleapis.com/v1"),
        ("us", "https://aiplatform.us.rep.googleapis.com/v1"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/v1"),
    ],
)
def test_the_api_root_of_a_region(region, root):
    assert endpoints.api_root(region) == root


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://proxy.example.com/vertex/v1beta1/", "https://proxy.example.com/vertex/v1beta1"),
    ],
)
def test_a_base_url_overrides_the_host_with_or_without_its_version(base_url, root):
    assert endpoints.api_root("us-east5", base_url) == root


def test_model_urls_for_both_publishers():
    root = endpoints.api_root("us-east5")
    assert endpoints.model_url(root, "my-project", "us-east5", "anthropic", "claude-sonnet-4-5@20250929",
                               endpoints.STREAM_RAW_PREDICT) == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5"
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    assert endpoints.model_url(endpoints.api_root("global"), "example.com:proj", "global", "google",
                               "gemini-2.5-pro", endpoints.STREAM_GENERATE) == (
        "https://aiplatform.googleapis.com/v1/projects/example.com:proj/locations/global"
        "/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse")


def test_a_model_id_cannot_step_out_of_its_path():
    url = endpoints.model_url("https://h/v1", "p", "r", "google", "../../x?y=1#z", endpoints.GENERATE)
    assert url == "https://h/v1/projects/p/locations/r/publishers/google/models/..%2F..%2Fx%3Fy%3D1%23z:generateContent"


def test_the_publisher_of_a_model():
    assert endpoints.publisher_of("claude-sonnet-4-5@20250929", {}) == "anthropic"
    assert endpoints.publisher_of("Claude-3-haiku@20240307", {}) == "anthropic"
    assert endpoints.publisher_of("gemini-2.5-flash", {}) == "google"
    # The config's word beats the name rule.
    assert endpoints.publisher_of("claude-lookalike", {"claude-lookalike": "google"}) == "google"
    assert endpoints.publisher_of("my-tuned-claude", {"my-tuned-claude": "anthropic"}) == "anthropic"


@pytest.mark.parametrize("region", ["us-central1", "global", "asia-northeast1"])
def test_regions_that_pass(region):
    assert endpoints.REGION.match(region)


@pytest.mark.parametrize("region", ["", "US-central1", "us central1", "evil.com/x", "a..b", "-us", "us-"])
def test_regions_that_would_change_the_host_do_not_pass(region):
    assert not endpoints.REGION.match(region)


# -- Claude's body on Vertex ------------------------------------------------------------------


def test_a_messages_body_loses_its_model_and_gains_anthropic_version():
    body = {
        "model": "claude-sonnet-4-5@20250929",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "stream": True,
    }
    sent = claude.vertex_body(body, claude.VERSION)
    assert sent == {**{k: v for k, v in body.items() if k != "model"}, "anthropic_version": "vertex-2023-10-16"}
    assert "model" in body  # the client's body is not changed
    # A client that names its own version keeps it.
    assert claude.vertex_body({**body, "anthropic_version": "vertex-2099-01-01"}, claude.VERSION)[
        "anthropic_version"] == "vertex-2099-01-01"


def test_a_count_body_names_the_model_in_the_body():
    sent = claude.count_body({"model": "alias", "messages": []}, "claude-haiku-4-5@20251001", claude.VERSION)
    assert sent == {"model": "claude-haiku-4-5@20251001", "messages": [], "anthropic_version": "vertex-2023-10-16"}


def test_an_openai_chat_body_becomes_a_vertex_messages_body():
    sent = claude.chat_body(
        {"model": "x", "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Rules", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "hi"}], "stream": True},
        "claude-sonnet-4-5@20250929", 1000, claude.VERSION)
    assert "model" not in sent
    assert sent["anthropic_version"] == claude.VERSION
    assert sent["max_tokens"] == 1000 and sent["stream"] is True
    assert sent["system"] == [{"type": "text", "text": "Rules", "cache_control": {"type": "ephemeral"}}]
    with pytest.raises(InvalidRequest):
        claude.chat_body({"messages": [{"role": "user", "content": "hi"}], "n": 2}, "claude-x", 10, claude.VERSION)


def test_betas_are_filtered_to_what_vertex_accepts():
    allowed = frozenset(claude.DEFAULT_BETAS_ALLOWED)
    client = ["claude-code-20250219,interleaved-thinking-2025-05-14", " oauth-2025-04-20 , context-1m-2025-08-07"]
    assert claude.beta_header(client, (), allowed) == "interleaved-thinking-2025-05-14,context-1m-2025-08-07"
    # The configured ones first and always; each name once.
    assert claude.beta_header(["context-1m-2025-08-07"], ("context-1m-2025-08-07", "my-beta"), allowed) == (
        "context-1m-2025-08-07,my-beta")
    assert claude.beta_header(["prompt-caching-scope-2026-01-05"], (), allowed) is None


# -- answers: cached tokens from both families' usage -----------------------------------------


def test_cached_and_thinking_tokens_of_a_vertex_gemini_answer():
    completion = chat_completion(load("gemini_response.json"), model="gemini-2.5-flash", created=1,
                                 new_id=lambda: "call_1")
    assert completion["choices"][0]["message"]["content"] == "Paris is the capital of France."
    assert completion["usage"]["prompt_tokens_details"] == {"cached_tokens": 2048}
    assert completion["usage"]["completion_tokens_details"] == {"reasoning_tokens": 38}
    assert completion["usage"]["prompt_tokens"] == 2051


def test_cached_tokens_of_a_vertex_claude_answer():
    completion = to_openai_completion(load("claude_message.json"), 1)
    assert completion["usage"]["prompt_tokens_details"] == {"cached_tokens": 2048}
    assert completion["usage"]["prompt_tokens"] == 12 + 2048
    assert completion["usage"]["cache_read_input_tokens"] == 2048


# -- errors -----------------------------------------------------------------------------------


def _read(name: str):
    return errors.read(orjson.dumps(load("errors.json")[name]))


def test_both_error_shapes_are_read():
    quota = _read("claude_quota_429")
    assert isinstance(quota, GeminiError) and quota.status == "RESOURCE_EXHAUSTED"
    overloaded = _read("claude_overloaded_529")
    assert overloaded == errors.ClaudeError("Overloaded", "overloaded_error")
    unwrapped = _read("proxy_unwrapped_400")
    assert isinstance(unwrapped, errors.ClaudeError) and unwrapped.kind == "invalid_request_error"
    listed = _read("gemini_stream_list_500")
    assert isinstance(listed, GeminiError) and listed.status == "INTERNAL"
    text = errors.read(b"<html>502 Bad Gateway</html>")
    assert isinstance(text, GeminiError) and "502 Bad Gateway" in text.message


@pytest.mark.parametrize(
    ("name", "http_status", "status", "error_class"),
    [
        ("claude_quota_429", 429, 429, ErrorClass.RATE_LIMIT),
        ("unauthenticated_401", 401, 401, ErrorClass.AUTHENTICATION),
        ("billing_403", 403, 403, ErrorClass.QUOTA),
        ("service_disabled_403", 403, 403, ErrorClass.PERMISSION),
        ("gemini_stream_list_500", None, 500, ErrorClass.OVERLOADED),
    ],
)
def test_google_errors_are_classified_with_vertex_reasons(name, http_status, status, error_class):
    error = _read(name)
    kind = errors.google_kind(error, http_status)
    assert (kind.status, kind.error_class) == (status, error_class)


def test_what_reports_an_error_in_a_200():
    assert errors.is_error({"type": "error", "error": {"type": "overloaded_error"}})
    assert errors.is_error({"error": {"code": 500, "status": "INTERNAL"}})
    assert not errors.is_error({"type": "message_delta", "delta": {}})
    assert not errors.is_error(load("gemini_response.json"))
