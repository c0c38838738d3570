"""The Gemini entrance, ``POST /v1beta/models/{model}:generateContent`` (and ``/v1/...``, the stream,
countTokens), driven by the google-genai SDK through the real server: answers bridged from an
OpenAI-compatible vendor and from Anthropic (bridged onto chat, then translated), and passed
through to Gemini itself; errors in Google's shape."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from attrs import define
from google import genai
from google.genai import errors, types

from sluicegate.testing.upstream import FakeUpstream
from sluicegate.testing.vendor import ToolCall, Usage, VendorScript, json_answer
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_gemini.fake import GeminiScript, error_responder
from sluicegate_openai.fake import OpenAIScript

# The SDK's own aiohttp session class warns about itself; nothing of this test's making.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

CLIENT_TOKEN = "client-token-gemini-entrance"
KEYS = {"UP_KEY": "sk-up-secret-5555555555", "CLAUDE_KEY": "sk-ant-secret-6666666666",
        "GOOGLE_KEY": "AIza-google-secret-7777777777"}

CONFIG = """
[auth]
tokens = ["{token}"]

[providers.mock]
type = "mock"

[providers.broken]
type = "mock"
fail_after_chunks = 2

[providers.up]
type = "openai"
base_url = "{url}/v1"
api_key = "${{UP_KEY}}"

[providers.capped]
type = "openai"
base_url = "{url}/v1"
api_key = "${{UP_KEY}}"
max_output_tokens = 50

[providers.claude]
type = "anthropic"
base_url = "{url}/v1"
api_key = "${{CLAUDE_KEY}}"

[providers.google]
type = "gemini"
base_url = "{url}/v1beta"
api_key = "${{GOOGLE_KEY}}"

[providers.google_capped]
type = "gemini"
base_url = "{url}/v1beta"
api_key = "${{GOOGLE_KEY}}"
max_output_tokens = 50

[models.echo]
targets = ["mock/echo-1"]

[models.breaks]
targets = ["broken/echo-1"]

[models.gpt]
targets = ["up/gpt-4o-mini"]

[models.gpt-capped]
targets = ["capped/gpt-4o-mini"]

[models.claude]
targets = ["claude/claude-sonnet-4-5-20250929"]

[models."gemini-2.5-flash"]
targets = ["google/gemini-2.5-flash"]

[models.gemini-capped]
targets = ["google_capped/gemini-2.5-flash"]

[models."tunedModels/my-tune"]
targets = ["mock/echo-1"]

[retry]
attempts = 1
"""


@define
class Vendor:
    """One kind of vendor behind the entrance: the alias that reaches it and how it is scripted."""

    name: str
    model: str  # the alias the client asks for
    script: VendorScript
    key: str  # the vendor key its provider sends

    def path(self, stream: bool) -> str:
        return self.script.chat_path(stream)


VENDORS = [
    Vendor("openai", "gpt", OpenAIScript(), KEYS["UP_KEY"]),
    Vendor("anthropic", "claude", AnthropicScript(), KEYS["CLAUDE_KEY"]),
    Vendor("gemini", "gemini-2.5-flash", GeminiScript(), KEYS["GOOGLE_KEY"]),
]
BRIDGED = [vendor for vendor in VENDORS if vendor.name != "gemini"]
GEMINI = VENDORS[2]
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city.",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]),
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(CONFIG.format(token=CLIENT_TOKEN, url=fake_upstream.url), env=KEYS)


def gemini(server, token: str = CLIENT_TOKEN, version: str | None = None) -> genai.client.AsyncClient:
    options = types.HttpOptions(base_url=server.base_url, api_version=version)
    return genai.Client(api_key=token, http_options=options).aio


async def post(server, path: str, body, headers=None, method: str = "POST"):
    headers = {"x-goog-api-key": CLIENT_TOKEN, "Content-Type": "application/json", **(headers or {})}
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with aiohttp.ClientSession() as session, session.request(
        method, server.base_url + path, data=data, headers=headers
    ) as response:
        return response.status, await response.read(), response.headers


def google_error(raw: bytes, code: int, status: str) -> dict:
    error = orjson.loads(raw)["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert isinstance(error["message"], str) and error["message"]
    return error


def sse_frames(raw: bytes) -> list[bytes]:
    return [frame for frame in raw.split(b"\n\n") if frame.strip()]


# --- text, stream, system instruction ----------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda vendor: vendor.name)
async def test_the_sdk_gets_an_answer_with_usage_and_the_vendor_its_own_request(server, fake_upstream, vendor):
    fake_upstream.on(vendor.path(False), vendor.script.answer_text("Hello from the vendor.", Usage()))
    answer = await gemini(server).models.generate_content(
        model=vendor.model,
        contents="Say hello.",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=64),
    )
    assert answer.text == "Hello from the vendor."
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (11, 7, 18)
    (sent,) = fake_upstream.calls(vendor.path(False))
    summary = vendor.script.summarize(sent)
    assert (summary.system, summary.turns, summary.max_tokens) == ("Be brief.", [("user", "Say hello.")], 64)
    assert summary.credential == vendor.key
    assert CLIENT_TOKEN not in " ".join(sent.headers.values())


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda vendor: vendor.name)
async def test_the_sdk_streams_text_with_the_finish_and_usage_on_the_last_chunk(server, fake_upstream, vendor):
    pieces = ["Streamed ", "words ", "in ", "order."]
    fake_upstream.on(vendor.path(True), vendor.script.answer_stream(pieces, Usage()))
    chunks = [chunk async for chunk in await gemini(server).models.generate_content_stream(
        model=vendor.model, contents="Stream please.")]
    assert "".join(chunk.text or "" for chunk in chunks) == "".join(pieces)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 7
    (sent,) = fake_upstream.calls(vendor.path(True))
    assert vendor.script.summarize(sent).stream is True


async def test_v1beta_and_v1_paths_aliases_and_provider_model_names_all_answer(server):
    for version in ("v1beta", "v1"):
        for model in ("echo", "mock/echo-1"):  # the SDK sends models/mock/echo-1: a slash in the path
            answer = await gemini(server, version=version).models.generate_content(model=model, contents="echo me")
            assert answer.text == "echo me"


async def test_a_tuned_model_name_is_routed_like_any_alias(server):
    status, raw, _ = await post(server, "/v1beta/tunedModels/my-tune:generateContent",
                                {"contents": [{"parts": [{"text": "tuned echo"}]}]})
    assert status == 200
    assert orjson.loads(raw)["candidates"][0]["content"]["parts"] == [{"text": "tuned echo"}]


# --- function calling --------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda vendor: vendor.name)
async def test_a_function_calling_round_trip(server, fake_upstream, vendor):
    call = ToolCall("call_weather_1", "get_weather", {"city": "Paris"})
    path = vendor.path(False)
    fake_upstream.on(path, vendor.script.answer_tool_call(call, Usage(), stream=False),
                     vendor.script.answer_text("Sunny in Paris.", Usage()))
    client = gemini(server)
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])],
                                         automatic_function_calling=NO_AFC)
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    first = await client.models.generate_content(model=vendor.model, contents=[question], config=config)
    (asked,) = first.function_calls
    assert (asked.id, asked.name, asked.args) == ("call_weather_1", "get_weather", {"city": "Paris"})

    answer = types.Part(function_response=types.FunctionResponse(id=asked.id, name=asked.name,
                                                                 response={"result": "sunny"}))
    history = [question, first.candidates[0].content, types.Content(role="user", parts=[answer])]
    second = await client.models.generate_content(model=vendor.model, contents=history, config=config)
    assert second.text == "Sunny in Paris."

    first_sent, second_sent = fake_upstream.calls(path)
    assert vendor.script.summarize(first_sent).tools == ["get_weather"]
    summary = vendor.script.summarize(second_sent)
    assert summary.tool_calls == [call]
    assert summary.tool_results == [("call_weather_1", "sunny")]


async def test_a_streamed_call_arrives_whole_once_its_arguments_are_complete(server, fake_upstream):
    script = OpenAIScript()
    call = ToolCall("call_stream_1", "get_weather", {"city": "Tokyo"})
    fake_upstream.on(script.chat_path(True), script.answer_tool_call(call, Usage(), stream=True))
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])],
                                         automatic_function_calling=NO_AFC)
    chunks = [chunk async for chunk in await gemini(server).models.generate_content_stream(
        model="gpt", contents="Weather in Tokyo?", config=config)]
    calls = [call for chunk in chunks for call in chunk.function_calls or ()]
    assert [(found.id, found.name, found.args) for found in calls] == [("call_stream_1", "get_weather",
                                                                        {"city": "Tokyo"})]


async def test_function_calling_modes_reach_a_bridged_vendor_as_tool_choice(server, fake_upstream):
    script = OpenAIScript()
    fake_upstream.on(script.chat_path(False), script.answer_tool_call(
        ToolCall("c1", "get_weather", {"city": "Rome"}), Usage(), stream=False))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_weather"])),
        automatic_function_calling=NO_AFC,
    )
    await gemini(server).models.generate_content(model="gpt", contents="Rome?", config=config)
    body = fake_upstream.calls(script.chat_path(False))[0].json()
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["parameters"] == {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


# --- JSON output ---------------------------------------------------------------------------------

RECIPE = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


async def test_json_schema_output_is_asked_of_a_bridged_vendor_as_a_response_format(server, fake_upstream):
    script = OpenAIScript()
    fake_upstream.on(script.chat_path(False), script.answer_text('{"name": "Shortbread"}', Usage()))
    answer = await gemini(server).models.generate_content(
        model="gpt", contents="One cookie recipe.",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=RECIPE),
    )
    assert orjson.loads(answer.text) == {"name": "Shortbread"}
    body = fake_upstream.calls(script.chat_path(False))[0].json()
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": RECIPE}}


async def test_json_schema_output_reaches_gemini_as_the_client_sent_it(server, fake_upstream):
    script = GeminiScript()
    fake_upstream.on(script.chat_path(False), script.answer_text('{"name": "Shortbread"}', Usage()))
    await gemini(server).models.generate_content(
        model=GEMINI.model, contents="One cookie recipe.",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=RECIPE),
    )
    config = fake_upstream.calls(script.chat_path(False))[0].json()["generationConfig"]
    assert (config["responseMimeType"], config["responseJsonSchema"]) == ("application/json", RECIPE)


# --- the native pass-through ------------------------------------------------------------------------


async def test_gemini_receives_the_clients_own_bytes_and_none_of_its_credentials(server, fake_upstream):
    script = GeminiScript()
    fake_upstream.on(script.chat_path(False), script.answer_text("ok", Usage()))
    # Fields the gateway knows nothing of, and a spelling of its own: Google's to judge.
    raw = b'{"contents": [{"role": "user", "parts": [{"text": "hi"}]}],  "safety_settings": [], "futureField": 1}'
    status, body, _ = await post(server, "/v1beta/models/gemini-2.5-flash:generateContent", raw,
                                 {"x-goog-api-client": "genai-js/1.0", "x-goog-user-project": "someone-else"})
    assert status == 200 and orjson.loads(body)["responseId"]
    (sent,) = fake_upstream.calls(script.chat_path(False))
    assert sent.body == raw
    headers = {name.lower(): value for name, value in sent.headers.items()}
    assert headers["x-goog-api-key"] == KEYS["GOOGLE_KEY"]
    assert "x-goog-user-project" not in headers and "x-goog-api-client" not in headers
    assert CLIENT_TOKEN not in " ".join(sent.headers.values())


async def test_the_targets_output_cap_lowers_max_output_tokens_natively_and_bridged(server, fake_upstream):
    gemini_script, openai_script = GeminiScript(), OpenAIScript()
    fake_upstream.on(gemini_script.chat_path(False), gemini_script.answer_text("ok", Usage()))
    fake_upstream.on(openai_script.chat_path(False), openai_script.answer_text("ok", Usage()))
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generation_config": {"max_output_tokens": 4000}}
    for model in ("gemini-capped", "gpt-capped"):
        status, _, _ = await post(server, f"/v1beta/models/{model}:generateContent", body)
        assert status == 200
    native = fake_upstream.calls(gemini_script.chat_path(False))[0].json()
    assert native["generation_config"] == {"max_output_tokens": 50}
    assert fake_upstream.calls(openai_script.chat_path(False))[0].json()["max_tokens"] == 50


async def test_count_tokens_is_googles_count_natively_and_an_estimate_otherwise(server, fake_upstream):
    count_path = "/v1beta/models/gemini-2.5-flash:countTokens"
    fake_upstream.on(count_path, json_answer({"totalTokens": 42, "promptTokensDetails": [
        {"modality": "TEXT", "tokenCount": 42}]}))
    client = gemini(server)
    native = await client.models.count_tokens(model=GEMINI.model, contents="How many tokens is this?")
    assert native.total_tokens == 42
    (sent,) = fake_upstream.calls(count_path)
    assert sent.json() == {"contents": [{"parts": [{"text": "How many tokens is this?"}], "role": "user"}]}
    assert {name.lower(): value for name, value in sent.headers.items()}["x-goog-api-key"] == KEYS["GOOGLE_KEY"]

    estimated = await client.models.count_tokens(model="gpt", contents="a" * 400)
    assert estimated.total_tokens == 104
    assert estimated.sdk_http_response.headers["x-sluicegate-estimate"] == "true"
    assert fake_upstream.calls("/v1/chat/completions") == []


async def test_a_count_with_a_whole_request_names_the_targets_model_to_gemini(server, fake_upstream):
    count_path = "/v1beta/models/gemini-2.5-flash:countTokens"
    fake_upstream.on(count_path, json_answer({"totalTokens": 9}))
    request = {"model": "models/gemini-2.5-flash-alias", "contents": [{"parts": [{"text": "hi"}]}]}
    status, raw, _ = await post(server, count_path, {"generateContentRequest": request})
    assert (status, orjson.loads(raw)) == (200, {"totalTokens": 9})
    sent = fake_upstream.calls(count_path)[0].json()
    assert sent["generateContentRequest"]["model"] == "models/gemini-2.5-flash"


# --- errors ---------------------------------------------------------------------------------------


async def test_an_unknown_model_is_googles_not_found_and_reaches_no_vendor(server, fake_upstream):
    with pytest.raises(errors.APIError) as caught:
        await gemini(server).models.generate_content(model="gemini-9-ultra", contents="hi")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert "gemini-9-ultra" in caught.value.message
    assert fake_upstream.requests == []


async def test_a_wrong_key_is_unauthenticated_and_never_echoed(server):
    with pytest.raises(errors.APIError) as caught:
        await gemini(server, token="not-the-token").models.generate_content(model="echo", contents="hi")
    assert (caught.value.code, caught.value.status) == (401, "UNAUTHENTICATED")
    assert "not-the-token" not in str(caught.value.details)


async def test_bearer_and_x_api_key_work_as_well_as_x_goog_api_key(server):
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    for headers in ({"x-goog-api-key": "", "Authorization": f"Bearer {CLIENT_TOKEN}"},
                    {"x-goog-api-key": "", "x-api-key": CLIENT_TOKEN}):
        status, _, _ = await post(server, "/v1beta/models/echo:generateContent", body, headers)
        assert status == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        ({"contents": None}, "contents is not specified"),
        ({"contents": "hello"}, "contents: must be an array"),
        ({"contents": [{"role": "user", "parts": []}]}, "contents[0].parts"),
        ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": [{"codeExecution": {}}]},
         "tools[0].codeExecution"),
        ({"contents": [{"role": "tool", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ],
)
async def test_bad_requests_are_googles_invalid_argument_and_reach_no_vendor(server, fake_upstream, body, fragment):
    status, raw, headers = await post(server, "/v1beta/models/gpt:generateContent", body)
    assert status == 400
    error = google_error(raw, 400, "INVALID_ARGUMENT")
    assert fragment in error["message"]
    assert error["details"][0]["metadata"]["request_id"] == headers["x-request-id"]
    assert headers["x-should-retry"] == "false"
    assert fake_upstream.requests == []


async def test_a_key_in_the_url_is_refused_unechoed_and_goes_nowhere(server, fake_upstream):
    secret = "AIza-in-the-url-8888888888"
    status, raw, _ = await post(server, f"/v1beta/models/gpt:generateContent?key={secret}",
                                {"contents": [{"parts": [{"text": "hi"}]}]}, {"x-goog-api-key": ""})
    assert status == 400
    error = google_error(raw, 400, "INVALID_ARGUMENT")
    assert "x-goog-api-key" in error["message"]
    assert secret not in raw.decode()
    assert fake_upstream.requests == []


async def test_a_stream_without_alt_sse_is_a_clear_400(server, fake_upstream):
    status, raw, _ = await post(server, "/v1beta/models/gpt:streamGenerateContent",
                                {"contents": [{"parts": [{"text": "hi"}]}]})
    assert status == 400
    assert "alt=sse" in google_error(raw, 400, "INVALID_ARGUMENT")["message"]
    assert fake_upstream.requests == []


async def test_other_methods_and_verbs_get_googles_shape(server):
    status, raw, _ = await post(server, "/v1beta/models/gpt:embedContent", {"content": {"parts": [{"text": "x"}]}})
    assert status == 404
    assert "embedContent" in google_error(raw, 404, "NOT_FOUND")["message"]
    status, raw, headers = await post(server, "/v1beta/models/gpt:generateContent", b"", method="GET")
    assert (status, headers["Allow"]) == (405, "POST")
    google_error(raw, 405, "UNIMPLEMENTED")
    # GET /v1/models/{id} stays the OpenAI and Anthropic model lookup.
    async with aiohttp.ClientSession() as session, session.get(
        server.base_url + "/v1/models/echo", headers={"Authorization": f"Bearer {CLIENT_TOKEN}"}
    ) as response:
        assert (response.status, (await response.json())["id"]) == (200, "echo")


async def test_a_bridged_vendors_rate_limit_is_resource_exhausted_with_its_wait(server, fake_upstream):
    fake_upstream.json("/v1/chat/completions",
                       {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
                       status=429, headers={"retry-after": "3"})
    with pytest.raises(errors.APIError) as caught:
        await gemini(server).models.generate_content(model="gpt", contents="hi")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.response.headers["retry-after"] == "3"
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"} in details
    assert KEYS["UP_KEY"] not in str(caught.value.details)


@pytest.mark.parametrize("case", GeminiScript().error_cases(), ids=lambda case: case.name)
async def test_geminis_own_errors_keep_their_status_in_googles_shape(server, fake_upstream, case):
    fake_upstream.on(GEMINI.path(False), case.responder)
    with pytest.raises(errors.APIError) as caught:
        await gemini(server).models.generate_content(model=GEMINI.model, contents="hi")
    assert caught.value.code == case.status
    body = caught.value.details["error"]
    assert body["code"] == case.status and body["status"]
    if case.message:
        assert case.message in caught.value.message
    if case.retry_after:
        assert caught.value.response.headers["retry-after"] == case.retry_after
    assert KEYS["GOOGLE_KEY"] not in str(caught.value.details)


async def test_a_vendors_rpc_status_is_kept_when_it_names_one(server, fake_upstream):
    fake_upstream.on(GEMINI.path(False), error_responder(400, "FAILED_PRECONDITION",
                                                         "User location is not supported for the API use."))
    with pytest.raises(errors.APIError) as caught:
        await gemini(server).models.generate_content(model=GEMINI.model, contents="hi")
    assert (caught.value.code, caught.value.status) == (400, "FAILED_PRECONDITION")


# --- streams that break ------------------------------------------------------------------------------


async def test_a_stream_broken_after_content_ends_with_googles_error_in_band(server):
    texts: list[str] = []
    with pytest.raises(errors.APIError) as caught:
        async for chunk in await gemini(server).models.generate_content_stream(model="breaks", contents="a b c d e f"):
            texts.append(chunk.text)
    assert "".join(texts) == "a b "
    assert caught.value.code == 502
    assert "broke off the stream" in caught.value.message


async def test_the_raw_broken_stream_ends_with_a_data_error_event_not_a_finish(server):
    status, raw, headers = await post(server, "/v1beta/models/breaks:streamGenerateContent?alt=sse",
                                      {"contents": [{"parts": [{"text": "a b c d"}]}]})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = sse_frames(raw)
    assert all(frame.startswith(b"data: ") for frame in frames)
    google_error(frames[-1].removeprefix(b"data: "), 502, "UNAVAILABLE")
    assert not any(b"finishReason" in frame for frame in frames)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda vendor: vendor.name)
async def test_a_vendors_mid_stream_error_reaches_the_sdk_in_band(server, fake_upstream, vendor):
    fake_upstream.on(vendor.path(True), vendor.script.answer_stream_error(["Hel", "lo"]))
    texts: list[str] = []
    with pytest.raises(errors.APIError):
        async for chunk in await gemini(server).models.generate_content_stream(model=vendor.model, contents="hi"):
            texts.append(chunk.text or "")
    assert "".join(texts) == "Hello"


async def test_a_gemini_stream_cut_before_its_finish_is_an_error_not_a_clean_end(server, fake_upstream):
    script = GeminiScript()
    frames = [b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}]}\r\n\r\n']

    async def respond(request):
        from sluicegate.testing.vendor import write_sse

        return await write_sse(request, frames)

    fake_upstream.on(script.chat_path(True), respond)
    status, raw, _ = await post(server, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                                {"contents": [{"parts": [{"text": "hi"}]}]})
    assert status == 200
    last = sse_frames(raw)[-1]
    assert b'"Hel"' in sse_frames(raw)[0]
    assert orjson.loads(last.removeprefix(b"data: "))["error"]["code"] == 502


# --- the gateway's own view ---------------------------------------------------------------------------


async def test_the_sdks_own_headers_stay_with_the_gateway_on_a_bridge(server, fake_upstream):
    script = OpenAIScript()
    fake_upstream.on(script.chat_path(False), script.answer_text("ok", Usage()))
    await gemini(server).models.generate_content(model="gpt", contents="hi")
    (sent,) = fake_upstream.calls(script.chat_path(False))
    names = {name.lower() for name in sent.headers}
    assert not {name for name in names if name.startswith("x-goog-")}
    assert sent.headers.get("Authorization") == f"Bearer {KEYS['UP_KEY']}"


async def test_every_answer_carries_a_request_id(server, fake_upstream: FakeUpstream):
    for path, body in (("/v1beta/models/echo:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}),
                       ("/v1beta/models/echo:countTokens", {"contents": [{"parts": [{"text": "x"}]}]}),
                       ("/v1beta/models/echo:generateContent", b"{")):
        _, _, headers = await post(server, path, body, {"x-request-id": "client-chosen-1"})
        assert headers["x-request-id"] == "client-chosen-1"
