"""The Responses API entrance on the wire: validation before any vendor call, ``previous_response_id``
lookups and replay, the stored-response routes, dropped built-in tools, in-band errors, and the
rule that a response is stored before its ``response.completed`` reaches the client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.exchange import RequestContext, SSEEvent
from sluicegate.features.memory_response_store import MemoryResponseStore
from sluicegate.hookspecs import hookimpl
from sluicegate.server.responses import Turn
from sluicegate.testing.vendor import Usage
from sluicegate_openai.fake import OpenAIScript, ResponsesScript

CLIENT = "client-token-entrance-a"
OTHER = "client-token-entrance-b"
CHAT = OpenAIScript()

CONFIG = """
[auth]
tokens = ["{client}", "{other}"]

[providers.chat]
type = "openai"
base_url = "{url}/v1"
api_key = "sk-chat-vendor-key-1"

[providers.native]
type = "openai"
base_url = "{url}/v1"
api_key = "sk-native-vendor-key-2"
responses = true

[models.bridged]
targets = ["chat/gpt-4o-mini"]

[models.native]
targets = ["native/gpt-4.1-mini"]

[models.mixed]
targets = ["chat/gpt-4o-mini", "native/gpt-4.1-mini"]

[retry]
attempts = 1
"""


def config(url: str, extra: str = "") -> str:
    return CONFIG.replace("{client}", CLIENT).replace("{other}", OTHER).replace("{url}", url) + extra


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(config(fake_upstream.url))


async def call(server, method: str, path: str, body=None, token: str = CLIENT, headers=None):
    """(status, headers, body bytes) of one request."""
    data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
    async with aiohttp.ClientSession() as session, session.request(
        method, server.base_url + path, data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
    ) as response:
        return response.status, response.headers, await response.read()


def events_of(raw: bytes) -> list[tuple[str | None, dict]]:
    """(event name, data) of each SSE frame."""
    events = []
    for frame in raw.split(b"\n\n"):
        if not frame.strip():
            continue
        name, data = None, b""
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data += line[6:]
        events.append((name, orjson.loads(data)))
    return events


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "param"),
    [
        ("bridged", {"input": "hi"}, "model"),
        ("bridged", {"model": "bridged"}, "input"),
        ("native", {"model": "native"}, "input"),
        ("bridged", {"model": "bridged", "input": 42}, "input"),
        ("native", {"model": "native", "input": {"role": "user"}}, "input"),
        ("bridged", {"model": "bridged", "input": "hi", "stream": "yes"}, "stream"),
        ("native", {"model": "native", "input": "hi", "previous_response_id": 7}, "previous_response_id"),
        ("bridged", {"model": "bridged", "input": "hi", "store": "no"}, "store"),
        ("native", {"model": "native", "input": "hi", "background": True}, "background"),
        # Judged by the translation (bridged providers), still before any vendor call.
        ("bridged", {"model": "bridged", "input": [{"type": "bogus_item"}]}, "input.0.type"),
        ("bridged", {"model": "bridged", "input": "hi", "tools": "all"}, "tools"),
        ("bridged", {"model": "bridged", "input": [
            {"type": "function_call_output", "call_id": "call_x", "output": "1"}]}, "input.0.call_id"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field_and_nothing_goes_upstream(server, fake_upstream, model, body,
                                                                             param):
    fake_upstream.on("/v1/responses", ResponsesScript().answer("never"))
    fake_upstream.on("/v1/chat/completions", CHAT.answer_text("never", Usage()))
    status, headers, raw = await call(server, "POST", "/v1/responses", body)
    assert status == 400
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str) and error["message"]
    assert fake_upstream.requests == []


@pytest.mark.parametrize("model", ["bridged", "native"])
async def test_an_unknown_previous_response_id_is_a_404_in_openai_shape(server, fake_upstream, model):
    status, headers, raw = await call(server, "POST", "/v1/responses", {
        "model": model, "input": "go on", "previous_response_id": "resp_unknown123"})
    assert status == 404
    assert orjson.loads(raw) == {"error": {
        "message": "Previous response with id 'resp_unknown123' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }}
    assert headers["x-should-retry"] == "false"
    assert fake_upstream.requests == []  # not even a native vendor is asked about an id it may hold


async def test_the_stored_routes_answer_404_in_openai_shape(server):
    for method, path in (("GET", "/v1/responses/resp_nope"), ("DELETE", "/v1/responses/resp_nope"),
                         ("GET", "/v1/responses/resp_nope/input_items")):
        status, headers, raw = await call(server, method, path)
        assert status == 404, path
        error = orjson.loads(raw)["error"]
        assert error["message"] == "Response with id 'resp_nope' not found."
        assert error["type"] == "invalid_request_error"
        assert headers["x-should-retry"] == "false"
    status, _, raw = await call(server, "GET", "/v1/responses/resp_nope", token="not-a-client")
    assert status == 401


# --- replay ---------------------------------------------------------------------------------------


async def test_instructions_of_earlier_turns_are_not_carried_over(server, fake_upstream):
    fake_upstream.on("/v1/chat/completions", CHAT.answer_text("Blue.", Usage()), CHAT.answer_text("Green.", Usage()))
    status, _, raw = await call(server, "POST", "/v1/responses", {
        "model": "bridged", "instructions": "Answer in one word.", "input": "Sky colour?"})
    assert status == 200
    first = orjson.loads(raw)
    status, _, raw = await call(server, "POST", "/v1/responses", {
        "model": "bridged", "instructions": "Answer in two words.", "input": "Grass colour?",
        "previous_response_id": first["id"]})
    assert status == 200
    assert orjson.loads(raw)["previous_response_id"] == first["id"]
    sent = fake_upstream.calls("/v1/chat/completions")[-1].json()
    assert sent["messages"] == [
        {"role": "system", "content": "Answer in two words."},
        {"role": "user", "content": "Sky colour?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Grass colour?"},
    ]


async def test_a_native_vendor_gets_the_conversation_not_the_gateway_id(server, fake_upstream):
    script = ResponsesScript()
    fake_upstream.on("/v1/responses", script.answer("Four."), script.answer("Five."))
    status, _, raw = await call(server, "POST", "/v1/responses", {"model": "native", "input": "2+2?"})
    first = orjson.loads(raw)
    assert status == 200 and first["id"].startswith("resp_")  # the vendor's own id is kept
    status, _, raw = await call(server, "POST", "/v1/responses", {
        "model": "native", "input": [{"role": "user", "content": "2+3?"}], "previous_response_id": first["id"]})
    assert status == 200
    answer = orjson.loads(raw)
    assert answer["previous_response_id"] == first["id"]
    sent = fake_upstream.calls("/v1/responses")[-1].json()
    assert "previous_response_id" not in sent
    assert sent["model"] == "gpt-4.1-mini"
    assert [(item.get("role"), item["content"][0]["text"] if isinstance(item["content"], list) else item["content"])
            for item in sent["input"]] == [("user", "2+2?"), ("assistant", "Four."), ("user", "2+3?")]
    assert sent["input"][1] == first["output"][0]  # output items are replayed as they were
    # The stored answer names its previous response too.
    status, _, raw = await call(server, "GET", f"/v1/responses/{answer['id']}")
    assert orjson.loads(raw)["previous_response_id"] == first["id"]


async def test_input_items_pages(server, fake_upstream):
    fake_upstream.on("/v1/chat/completions", CHAT.answer_text("ok", Usage()))
    words = ["one", "two", "three"]
    status, _, raw = await call(server, "POST", "/v1/responses", {
        "model": "bridged", "input": [{"role": "user", "content": word} for word in words]})
    response_id = orjson.loads(raw)["id"]
    status, _, raw = await call(server, "GET", f"/v1/responses/{response_id}/input_items?order=asc&limit=2")
    page = orjson.loads(raw)
    assert status == 200 and page["object"] == "list" and page["has_more"] is True
    assert [item["content"][0]["text"] for item in page["data"]] == ["one", "two"]
    assert (page["first_id"], page["last_id"]) == (page["data"][0]["id"], page["data"][1]["id"])
    status, _, raw = await call(
        server, "GET", f"/v1/responses/{response_id}/input_items?order=asc&after={page['last_id']}")
    rest = orjson.loads(raw)
    assert [item["content"][0]["text"] for item in rest["data"]] == ["three"] and rest["has_more"] is False
    status, _, raw = await call(server, "GET", f"/v1/responses/{response_id}/input_items")
    assert [item["content"][0]["text"] for item in orjson.loads(raw)["data"]] == ["three", "two", "one"]
    for query, param in (("limit=0", "limit"), ("limit=x", "limit"), ("order=up", "order"), ("after=nope", "after")):
        status, _, raw = await call(server, "GET", f"/v1/responses/{response_id}/input_items?{query}")
        assert status == 400 and orjson.loads(raw)["error"]["param"] == param


# --- built-in tools -------------------------------------------------------------------------------

TOOLS = [
    {"type": "web_search"},
    {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}},
    {"type": "code_interpreter", "container": {"type": "auto"}},
]


@pytest.mark.parametrize("stream", [False, True])
async def test_built_in_tools_a_bridged_vendor_cannot_run_are_named_in_a_header(server, fake_upstream, stream):
    fake_upstream.on("/v1/chat/completions",
                     CHAT.answer_stream(["ok"], Usage()) if stream else CHAT.answer_text("ok", Usage()))
    status, headers, _ = await call(server, "POST", "/v1/responses", {
        "model": "bridged", "input": "search", "tools": TOOLS, "stream": stream})
    assert status == 200
    assert headers["x-sluicegate-dropped-tools"] == "web_search, code_interpreter"
    sent = fake_upstream.calls("/v1/chat/completions")[-1].json()
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["lookup"]


async def test_built_in_tools_pass_through_to_a_native_vendor(server, fake_upstream):
    fake_upstream.on("/v1/responses", ResponsesScript().answer("ok"))
    status, headers, _ = await call(server, "POST", "/v1/responses", {"model": "native", "input": "x", "tools": TOOLS})
    assert status == 200
    assert "x-sluicegate-dropped-tools" not in headers
    assert fake_upstream.calls("/v1/responses")[-1].json()["tools"] == TOOLS


# --- errors after the first byte ------------------------------------------------------------------


async def test_a_bridged_stream_broken_mid_way_ends_with_failed_and_error_events(server, fake_upstream):
    fake_upstream.on("/v1/chat/completions", CHAT.answer_stream_error(["Hel", "lo"]))
    status, _, raw = await call(server, "POST", "/v1/responses", {"model": "bridged", "input": "hi", "stream": True})
    assert status == 200
    events = events_of(raw)
    names = [name for name, _ in events]
    assert names[0] == "response.created"
    assert names[-2:] == ["response.failed", "error"]
    assert "response.completed" not in names
    numbers = [data["sequence_number"] for _, data in events]
    assert numbers == list(range(len(events)))
    failed = events[-2][1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    assert {data["response"]["id"] for _, data in events if "response" in data} == {failed["id"]}
    error = events[-1][1]
    assert error["type"] == "error" and error["message"] == error["error"]["message"]
    assert error["code"] == error["error"]["code"]


async def test_a_native_stream_broken_mid_way_ends_with_an_error_event(server, fake_upstream):
    fake_upstream.on("/v1/responses", ResponsesScript().answer_stream_error("Hello there"))
    status, _, raw = await call(server, "POST", "/v1/responses", {"model": "native", "input": "hi", "stream": True})
    assert status == 200
    events = events_of(raw)
    assert [name for name, _ in events][-1] == "error"
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert "The model had an error." in events[-1][1]["message"]


async def test_a_break_after_failing_over_is_the_second_vendors_own(server, fake_upstream):
    """The bridged target breaks before any content (failed over, unseen), the native one after
    it: the client sees only the native stream and its error, numbered after its events."""
    fake_upstream.on("/v1/chat/completions", CHAT.answer_stream_error([]))
    fake_upstream.on("/v1/responses", ResponsesScript().answer_stream_error("Hello there"))
    status, _, raw = await call(server, "POST", "/v1/responses", {"model": "mixed", "input": "hi", "stream": True})
    assert status == 200
    assert len(fake_upstream.requests) == 2
    events = events_of(raw)
    assert [name for name, _ in events][-2:] == ["response.output_text.delta", "error"]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))


@pytest.mark.parametrize("model", ["bridged", "native"])
async def test_the_sdk_raises_on_a_stream_broken_mid_way(server, fake_upstream, model):
    fake_upstream.on("/v1/chat/completions", CHAT.answer_stream_error(["Hel", "lo"]))
    fake_upstream.on("/v1/responses", ResponsesScript().answer_stream_error("Hello there"))
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=CLIENT, max_retries=0)
    seen = []
    with pytest.raises(openai.APIError):
        stream = await client.responses.create(model=model, input="hi", stream=True)
        async for event in stream:
            seen.append(event.type)
    await client.close()
    assert "response.output_text.delta" in seen
    assert "response.completed" not in seen


# --- stored before the last byte ------------------------------------------------------------------


class GatedStore(MemoryResponseStore):
    """The memory store, but ``put`` waits for the test to let it finish."""

    def __init__(self, clock) -> None:
        super().__init__(clock, ttl=60, max_entries=100, max_bytes=1 << 20, max_chain=10)
        self.put_started = asyncio.Event()
        self.release = asyncio.Event()

    async def put(self, tenant, item) -> None:
        self.put_started.set()
        await self.release.wait()
        await super().put(tenant, item)


class GatedStorePlugin:
    def __init__(self) -> None:
        self.stores: list[GatedStore] = []

    @hookimpl
    def register_response_stores(self, register):
        def make(*, options, services):
            store = GatedStore(services.clock)
            self.stores.append(store)
            return store

        register("gated", make)


@pytest.mark.parametrize("model", ["bridged", "native"])
async def test_no_completed_event_reaches_the_client_before_the_response_is_stored(gateway, fake_upstream, model):
    plugin = GatedStorePlugin()
    server = await gateway(config(fake_upstream.url, '\n[responses]\nstore = "gated"\n'),
                           extra_plugins=[("gated-store", plugin)])
    store = plugin.stores[-1]
    fake_upstream.on("/v1/chat/completions", CHAT.answer_stream(["a ", "b"], Usage()),
                     CHAT.answer_text("c", Usage()))
    fake_upstream.on("/v1/responses", ResponsesScript().answer("a b"))
    seen: list[str] = []
    completed = asyncio.Event()

    async def read() -> str:
        async with aiohttp.ClientSession() as session, session.post(
            server.base_url + "/v1/responses", json={"model": model, "input": "x", "stream": True},
            headers={"Authorization": f"Bearer {CLIENT}"},
        ) as response:
            async for line in response.content:
                if line.startswith(b"event: "):
                    seen.append(line[7:].strip().decode())
                    if seen[-1] == "response.completed":
                        completed.set()
                elif line.startswith(b"data: ") and seen[-1] == "response.completed":
                    return orjson.loads(line[6:])["response"]["id"]
        raise AssertionError("the stream ended without response.completed")

    reader = asyncio.create_task(read())
    await store.put_started.wait()
    # The store is holding the response: the event that says it is complete must not be out.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(completed.wait()), 0.3)
    assert "response.completed" not in seen
    store.release.set()
    response_id = await reader
    # Named at once in a follow-up: found.
    status, _, _ = await call(server, "POST", "/v1/responses", {
        "model": model, "input": "y", "previous_response_id": response_id})
    assert status == 200


async def test_a_turn_hands_on_the_completed_event_only_after_storing(gateway):
    """The ordering itself, without a network: when the consumer receives ``response.completed``
    the response is already in the store."""
    store = MemoryResponseStore(lambda: 0.0, ttl=60, max_entries=10, max_bytes=1 << 20, max_chain=10)
    ctx = RequestContext("req_1", "t-1", {}, 0.0)
    turn = Turn(store, "t-1", ctx, [{"id": "msg_1", "type": "message", "role": "user", "content": []}], None, True)
    final = {"id": "resp_abc", "object": "response", "status": "completed", "output": []}

    async def events():
        yield SSEEvent.from_data({"type": "response.created", "sequence_number": 0,
                                  "response": {**final, "status": "in_progress"}}, "response.created")
        yield SSEEvent.from_data({"type": "response.completed", "sequence_number": 1, "response": final},
                                 "response.completed")

    async for event in turn._events(events()):
        stored = await store.get("t-1", "resp_abc")
        if event.event == "response.created":
            assert stored is None
        else:
            assert stored is not None and stored.response == final
            assert stored.input_items[0]["id"] == "msg_1"
    assert turn.sent == 2


async def test_a_websocket_attempt_is_answered_at_once(server):
    """Codex tries a WebSocket on GET /v1/responses first; a prompt refusal lets it fall back."""
    status, headers, _ = await call(server, "GET", "/v1/responses",
                                    headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert status == 405
    assert "POST" in headers["Allow"]


# --- Codex CLI's recorded requests ----------------------------------------------------------------

RECORDED = Path(__file__).parent / "agents" / "recorded" / "codex_session.json"


@pytest.mark.parametrize("turn", [0, 1])
async def test_codex_requests_as_recorded_are_served_over_the_bridge(server, fake_upstream, turn):
    """Codex 0.17x's real requests (``store: false``, ``include``, ``client_metadata``, a
    freeform ``apply_patch``, ``tool_search`` and ``web_search``): a streamed answer to each."""
    body = orjson.loads(RECORDED.read_bytes())["requests"][turn]["body"]
    fake_upstream.on("/v1/chat/completions", CHAT.answer_stream(["Done", "."], Usage()))
    status, headers, raw = await call(server, "POST", "/v1/responses", {**body, "model": "bridged"})
    assert status == 200, raw[:300]
    assert headers["x-sluicegate-dropped-tools"] == "tool_search, web_search"
    events = events_of(raw)
    assert events[-1][0] == "response.completed"
    assert events[-1][1]["response"]["output"][-1]["content"][0]["text"] == "Done."
    sent = fake_upstream.calls("/v1/chat/completions")[-1].json()
    assert "apply_patch" in [tool["function"]["name"] for tool in sent["tools"]]
    if turn == 1:  # the shell call and its output reach the vendor as a tool call and result
        calls = [message for message in sent["messages"] if message.get("tool_calls")]
        results = [message for message in sent["messages"] if message["role"] == "tool"]
        assert calls and results
        assert results[0]["tool_call_id"] == calls[0]["tool_calls"][0]["id"]
        assert "hello" in results[0]["content"]
    # store: false: nothing kept.
    status, _, _ = await call(server, "GET", f"/v1/responses/{events[-1][1]['response']['id']}")
    assert status == 404


# --- usage ------------------------------------------------------------------------------------------


async def test_usage_of_responses_streams_and_answers_is_counted(server, fake_upstream):
    """Tokens reach the request record (metrics, access log, pricing): a stream's from its
    ``response.completed``, a complete answer's from its ``usage``."""
    fake_upstream.on("/v1/chat/completions", CHAT.answer_stream(["a ", "b"], Usage(prompt_tokens=20, completion_tokens=3)))
    fake_upstream.on("/v1/responses", ResponsesScript().answer("a b", usage=Usage(prompt_tokens=30, completion_tokens=4,
                                                                                  cached_tokens=10)))
    for model, stream in (("bridged", True), ("native", True), ("native", False)):
        status, _, _ = await call(server, "POST", "/v1/responses", {"model": model, "input": "x", "stream": stream})
        assert status == 200
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/metrics") as response:
        text = await response.text()
    tokens = {
        (sample.labels["model"], sample.labels["direction"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sluicegate_tokens_total"
    }
    assert tokens[("bridged", "in")] == 20 and tokens[("bridged", "out")] == 3
    assert tokens[("native", "in")] == 60 and tokens[("native", "out")] == 8
