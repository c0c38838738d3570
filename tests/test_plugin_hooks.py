"""Plugin hooks end to end: in-process plugin objects change what the real server does."""

from __future__ import annotations

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from attrs import define

import sluicegate
from sluicegate.errors import ConfigError, GatewayError
from sluicegate.exchange import Endpoint, Reply, SSEEvent, StreamReply
from sluicegate.plugin_options import FeatureOptions
from sluicegate.provider import Provider, ProviderOptions
from sluicegate.server.keys import GATEWAY

MOCK = """
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/echo-1"]
"""
MSG = [{"role": "user", "content": "hello world"}]


async def post(server, path, body, headers=None):
    async with aiohttp.ClientSession() as http, \
            http.post(server.base_url + path, data=orjson.dumps(body), headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


def sdk(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


# -- register_middlewares -----------------------------------------------------------------


@define(kw_only=True)
class StampOptions(FeatureOptions):
    header: str = "x-stamp"
    value: str = "on"
    block_model: str | None = None
    deny_model: str | None = None


class StampPlugin:
    """A middleware owning the ``[stamp]`` table: tags responses, can short-circuit or refuse."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.factory_calls = 0

    @sluicegate.hookimpl
    def register_middlewares(self, register):
        register("stamp", self.factory, options=StampOptions, order=150)

    def factory(self, options: StampOptions, services):
        self.factory_calls += 1
        assert isinstance(options, StampOptions)

        async def stamp(ctx, req, call_next):
            self.seen.append(req.model)
            ctx.response_headers[options.header] = options.value
            if req.model == options.block_model:
                return Reply.from_data({"blocked": req.model}, status=203, headers={"x-short": "1"})
            if req.model == options.deny_model:
                raise GatewayError("stamp says no", status=403, type="permission_error", code="stamped")
            return await call_next(ctx, req)

        return stamp


async def test_middleware_enabled_by_its_table(gateway):
    plugin = StampPlugin()
    server = await gateway(MOCK + '[stamp]\nheader = "x-stamped"\nvalue = "yes"\n',
                           extra_plugins=[("stamp", plugin)])
    assert plugin.factory_calls == 1

    status, headers, raw = await post(server, "/v1/chat/completions", {"model": "echo", "messages": MSG})
    assert status == 200
    assert headers["x-stamped"] == "yes"
    assert orjson.loads(raw)["choices"][0]["message"]["content"] == "hello world"

    status, headers, raw = await post(server, "/v1/chat/completions",
                                      {"model": "echo", "messages": MSG, "stream": True})
    assert status == 200
    assert headers["x-stamped"] == "yes"
    assert raw.endswith(b"data: [DONE]\n\n")

    assert plugin.seen == ["echo", "echo"]

    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/health") as resp:
        assert (await resp.json())["middlewares"] == ["stamp"]


async def test_middleware_short_circuit_and_refusal(gateway):
    plugin = StampPlugin()
    server = await gateway(MOCK + '[providers.ghost]\ntype = "mock"\nreply = "never"\n[models.blocked]\n'
                           'targets = ["ghost/x"]\n[models.denied]\ntargets = ["ghost/y"]\n'
                           '[stamp]\nblock_model = "blocked"\ndeny_model = "denied"\n',
                           extra_plugins=[("stamp", plugin)])
    status, headers, raw = await post(server, "/v1/chat/completions", {"model": "blocked", "messages": MSG})
    assert status == 203
    assert orjson.loads(raw) == {"blocked": "blocked"}
    assert headers["x-stamp"] == "on"
    assert headers["x-short"] == "1"
    assert headers["x-request-id"].startswith("req_")
    ghost = server.gateway.current.providers["ghost"]
    assert ghost.calls == 0

    status, headers, raw = await post(server, "/v1/chat/completions", {"model": "denied", "messages": MSG})
    assert status == 403
    assert orjson.loads(raw) == {"error": {"message": "stamp says no", "type": "permission_error",
                                           "param": None, "code": "stamped"}}
    assert ghost.calls == 0
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await sdk(server).chat.completions.create(model="denied", messages=MSG)
    assert caught.value.code == "stamped"
    assert plugin.seen == ["blocked", "denied", "denied"]


@pytest.mark.parametrize("table", ["", "[stamp]\nenabled = false\nvalue = \"x\"\n"], ids=["absent", "disabled"])
async def test_middleware_off(gateway, table):
    plugin = StampPlugin()
    server = await gateway(MOCK + table, extra_plugins=[("stamp", plugin)])
    status, headers, _ = await post(server, "/v1/chat/completions", {"model": "echo", "messages": MSG})
    assert status == 200
    assert "x-stamp" not in headers
    assert plugin.factory_calls == 0
    assert plugin.seen == []


async def test_middleware_unknown_key_is_config_error(gateway):
    with pytest.raises(ConfigError) as caught:
        await gateway(MOCK + '[stamp]\nheadr = "x"\nvalue = 3\n', extra_plugins=[("stamp", StampPlugin())])
    problems = {(p.path, p.message) for p in caught.value.problems}
    assert problems == {
        ("stamp.headr", 'unknown key (did you mean "header"?)'),
        ("stamp.value", "expected a string, got an integer"),
    }


class OrderedPlugin:
    """Three middlewares registered out of order; each records entry and exit."""

    def __init__(self) -> None:
        self.trail: list[str] = []

    @sluicegate.hookimpl
    def register_middlewares(self, register):
        register("zeta", self.make("zeta"), order=100)
        register("alpha", self.make("alpha"), order=300)
        register("beta", self.make("beta"), order=100)
        register("always", self.make("always"), order=50, always=True)

    def make(self, name):
        def factory(options, services):
            async def middleware(ctx, req, call_next):
                self.trail.append(f">{name}")
                result = await call_next(ctx, req)
                self.trail.append(f"<{name}")
                ctx.response_headers["x-order"] = ctx.response_headers.get("x-order", "") + name[0]
                return result

            return middleware

        return factory


async def test_middleware_order(gateway):
    plugin = OrderedPlugin()
    server = await gateway(MOCK + "[zeta]\n[alpha]\n[beta]\n", extra_plugins=[("ordered", plugin)])
    status, headers, _ = await post(server, "/v1/chat/completions", {"model": "echo", "messages": MSG})
    assert status == 200
    assert plugin.trail == [">always", ">beta", ">zeta", ">alpha", "<alpha", "<zeta", "<beta", "<always"]
    assert headers["x-order"] == "azba"
    assert server.gateway.current.middleware_names == ["always", "beta", "zeta", "alpha"]


async def test_middleware_table_without_options_rejects_keys(gateway):
    with pytest.raises(ConfigError) as caught:
        await gateway(MOCK + "[zeta]\nspeed = 3\n", extra_plugins=[("ordered", OrderedPlugin())])
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("zeta.speed", "unknown key (this table takes no options)")
    ]


# -- gateway_app_created ------------------------------------------------------------------


class RoutePlugin:
    @sluicegate.hookimpl
    def gateway_app_created(self, app, gateway):
        async def ping(request: web.Request) -> web.Response:
            current = request.app[GATEWAY].current
            return web.json_response({"pong": True, "providers": sorted(current.providers)})

        async def boom(request: web.Request) -> web.Response:
            raise GatewayError("plugin route refused", status=418, type="invalid_request_error", code="teapot")

        app.router.add_get("/plugin/ping", ping)
        app.router.add_post("/plugin/boom", boom)


async def test_app_created_adds_working_routes(gateway):
    server = await gateway(MOCK, extra_plugins=[("routes", RoutePlugin())])
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base_url + "/plugin/ping") as resp:
            assert resp.status == 200
            assert await resp.json() == {"pong": True, "providers": ["mock"]}
            assert resp.headers["x-request-id"].startswith("req_")
        async with http.post(server.base_url + "/plugin/boom", headers={"x-request-id": "mine-1"}) as resp:
            assert resp.status == 418
            assert resp.headers["x-request-id"] == "mine-1"
            assert await resp.json() == {"error": {"message": "plugin route refused",
                                                   "type": "invalid_request_error", "param": None,
                                                   "code": "teapot"}}
        async with http.post(server.base_url + "/plugin/ping") as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["code"] == "method_not_allowed"


# -- gateway_error_body -------------------------------------------------------------------


class CustomErrorPlugin:
    @sluicegate.hookimpl
    def gateway_error_body(self, error, request_id):
        return {"ok": False, "status": error.status, "code": error.code, "detail": error.message,
                "request": request_id}


class NoneErrorPlugin:
    def __init__(self) -> None:
        self.calls = 0

    @sluicegate.hookimpl
    def gateway_error_body(self, error, request_id):
        self.calls += 1
        return None


class RaisingErrorPlugin:
    def __init__(self) -> None:
        self.calls = 0

    @sluicegate.hookimpl
    def gateway_error_body(self, error, request_id):
        self.calls += 1
        raise RuntimeError("broken error formatter")


async def test_custom_error_body_replaces_openai_shape(gateway):
    server = await gateway(MOCK + '[auth]\ntokens = ["tok"]\n', extra_plugins=[("errors", CustomErrorPlugin())])
    cases = [
        ({"model": "echo", "messages": MSG}, {}, 401, "missing_api_key"),
        ({"model": "nope", "messages": MSG}, {"Authorization": "Bearer tok"}, 404, "model_not_found"),
        ({"model": "echo", "messages": []}, {"Authorization": "Bearer tok"}, 400, "invalid_value"),
    ]
    for body, headers, status, code in cases:
        got, resp_headers, raw = await post(server, "/v1/chat/completions", body, headers)
        assert got == status
        data = orjson.loads(raw)
        assert set(data) == {"ok", "status", "code", "detail", "request"}
        assert (data["ok"], data["status"], data["code"]) == (False, status, code)
        assert data["request"] == resp_headers["x-request-id"]
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/nowhere") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == "not_found"


@pytest.mark.parametrize("plugin_cls", [NoneErrorPlugin, RaisingErrorPlugin])
async def test_error_body_none_or_raising_falls_back(gateway, plugin_cls):
    plugin = plugin_cls()
    server = await gateway(MOCK, extra_plugins=[("errors", plugin)])
    status, headers, raw = await post(server, "/v1/chat/completions", {"model": "nope", "messages": MSG})
    assert status == 404
    assert headers["x-request-id"].startswith("req_")
    error = orjson.loads(raw)["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "model_not_found", "model")
    assert b"broken error formatter" not in raw
    assert plugin.calls == 1
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(server).chat.completions.create(model="echo", messages=[])
    assert caught.value.code == "invalid_value"
    assert plugin.calls == 2


# -- register_providers -------------------------------------------------------------------


@define(kw_only=True)
class ShoutOptions(ProviderOptions):
    suffix: str = "!"


class ShoutProvider(Provider):
    """Answers chat in upper case; no embeddings."""

    endpoints = frozenset({Endpoint.CHAT})
    requires_key = False

    def __init__(self, name, options: ShoutOptions, services) -> None:
        super().__init__(name, options, services)
        self.requests: list[dict] = []

    async def send(self, ctx, req, target):
        self.requests.append(req.body)
        text = req.body["messages"][-1]["content"].upper() + self.options.suffix
        base = {"id": "shout-1", "created": 0, "model": target.model}
        if req.stream:
            async def events():
                for word in text.split(" "):
                    yield SSEEvent.from_data({**base, "object": "chat.completion.chunk", "choices": [
                        {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]})
                yield SSEEvent(b"[DONE]")

            return StreamReply(events())
        return Reply.from_data({**base, "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})


class ShoutPlugin:
    @sluicegate.hookimpl
    def register_providers(self, register):
        register("shout", ShoutProvider, options=ShoutOptions)


async def test_in_process_provider(gateway):
    server = await gateway('[providers.loud]\ntype = "shout"\nsuffix = "!!"\nmodels = ["v1"]\n'
                           '[models.yell]\ntargets = ["loud/v1"]\n', extra_plugins=[("shout", ShoutPlugin())])
    client = sdk(server)
    reply = await client.chat.completions.create(model="yell", messages=MSG, extra_body={"x_extra": 1})
    assert reply.choices[0].message.content == "HELLO WORLD!!"
    assert reply.model == "v1"
    provider = server.gateway.current.providers["loud"]
    assert provider.requests == [{"model": "yell", "messages": MSG, "x_extra": 1}]

    stream = await client.chat.completions.create(model="loud/v2", messages=MSG, stream=True)
    assert [c.choices[0].delta.content async for c in stream] == ["HELLO ", "WORLD!! "]

    with pytest.raises(openai.BadRequestError) as caught:
        await client.embeddings.create(model="loud/v1", input="x")
    assert caught.value.code == "unsupported_endpoint"
    assert caught.value.body["message"] == "provider 'loud' (type shout) does not support /v1/embeddings"

    assert [m.id for m in (await client.models.list()).data] == ["yell", "loud/v1"]
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/health") as resp:
        loud = (await resp.json())["providers"]["loud"]
    assert (loud["type"], loud["configured"], loud["calls_1m"], loud["errors_1m"]) == ("shout", True, 2, 0)


async def test_in_process_provider_options_are_strict(gateway):
    with pytest.raises(ConfigError) as caught:
        await gateway('[providers.loud]\ntype = "shout"\nsufix = "?"\n[providers.other]\ntype = "shoot"\n',
                      extra_plugins=[("shout", ShoutPlugin())])
    messages = {p.path: p.message for p in caught.value.problems}
    assert messages["providers.loud.sufix"] == 'unknown key (did you mean "suffix"?)'
    assert messages["providers.other.type"].startswith("unknown provider type 'shoot' (did you mean \"shout\"?)")


# -- register_extensions ------------------------------------------------------------------


@define(kw_only=True)
class WatchOptions(FeatureOptions):
    label: str = "w"


class WatchPlugin:
    """Two extensions: ``watch`` (on with its table) records every request; ``first`` (always on,
    order 10) runs before it and fills a field, and raises once to prove it cannot break a request."""

    def __init__(self) -> None:
        self.records = []
        self.started = []
        self.events = []
        self.lifecycle = []

    @sluicegate.hookimpl
    def register_extensions(self, register):
        register("watch", self.make_watch, options=WatchOptions)
        register("first", self.make_first, order=10, always=True)

    def make_watch(self, options, services):
        plugin = self

        class Watch:
            label = options.label

            def request_started(self, record):
                plugin.started.append((record.route, record.status))

            def request_finished(self, record):
                plugin.records.append((self.label, record))

            def breaker_changed(self, target, old, new):
                plugin.events.append(("breaker", target, old, new))

            def config_reloaded(self, ok):
                plugin.events.append(("reloaded", ok))

            async def start(self):
                plugin.lifecycle.append(("start", self.label))

            async def aclose(self):
                plugin.lifecycle.append(("close", self.label))

        return Watch()

    def make_first(self, options, services):
        calls = []

        class First:
            def request_finished(self, record):
                calls.append(1)
                if len(calls) == 1:
                    raise RuntimeError("a broken extension")
                record.extras["seen_by_first"] = True

        return First()


async def test_extensions_see_every_request_in_order_and_cannot_break_one(gateway, caplog):
    plugin = WatchPlugin()
    server = await gateway(MOCK + '[auth]\nclients = { alice = "tok-alice-0001" }\n[watch]\nlabel = "x"\n',
                           extra_plugins=[("watch", plugin)])
    assert plugin.lifecycle == [("start", "x")]
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="tok-alice-0001", max_retries=0)
    answer = await client.chat.completions.create(model="echo", messages=MSG)  # "first" raises here
    assert answer.choices[0].message.content == "hello world"
    assert "extension first failed in request_finished" in caplog.text
    await client.chat.completions.create(model="mock/other", messages=MSG, stream=True)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="no-such-model-" + "z" * 10, messages=MSG)
    status, _, _ = await post(server, "/nowhere", {})
    assert status == 404
    assert plugin.started == [("/v1/chat/completions", 0)] * 3 + [("unmatched", 0)]
    records = [record for _, record in plugin.records]
    first, streamed, unknown, nowhere = records
    assert (first.status, first.client, first.model, first.model_label, first.provider) == (
        200, "alice", "echo", "echo", "mock")
    assert (first.tokens_in, first.tokens_out) == (2, 2)  # the mock's usage
    assert "seen_by_first" not in first.extras  # "first" raised before setting it
    assert streamed.stream and streamed.ttft is not None and streamed.extras["seen_by_first"]
    # A model no config names is kept for logs but labelled by its provider only.
    assert (streamed.model, streamed.model_label, streamed.target_label) == ("mock/other", "mock/*", "mock/*")
    assert (unknown.status, unknown.error_code, unknown.model_label) == (404, "model_not_found", None)
    assert (nowhere.route, nowhere.status, nowhere.api) == ("unmatched", 404, "")
    assert all(record.latency > 0 for record in records)

    await server.gateway.reload()
    assert plugin.events == [("reloaded", True)]
    assert plugin.lifecycle[-1] == ("start", "x")  # the new assembly's extension started


async def test_an_always_on_extension_is_turned_off_by_enabled_false(gateway):
    plugin = WatchPlugin()
    server = await gateway(MOCK, extra_plugins=[("watch", plugin)])
    assert "first" in server.gateway.current.extensions  # always on, no table needed
    server = await gateway(MOCK + "[first]\nenabled = false\n", extra_plugins=[("watch", plugin)])
    assert "first" not in server.gateway.current.extensions
    assert "watch" not in server.gateway.current.extensions  # no [watch] table


async def test_extensions_hear_breaker_changes_with_bounded_labels(gateway, fake_upstream):
    plugin = WatchPlugin()
    fake_upstream.on("/v1/chat/completions", fake_upstream.json_responder({"error": {"message": "down"}}, 500))
    server = await gateway(f"""
[providers.up]
type = "openai"
base_url = "{fake_upstream.url}/v1"
api_key = "sk-up-00000000000"
[models.chat]
targets = ["up/known"]
[retry]
attempts = 1
[breaker]
failure_threshold = 1
[watch]
""", extra_plugins=[("watch", plugin)])
    client = sdk(server)
    for model in ("chat", "up/client-typed-model"):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model=model, messages=MSG)
    assert plugin.events == [("breaker", "up/known", "closed", "open"), ("breaker", "up/*", "closed", "open")]
    attempts = [record.attempts for _, record in plugin.records]
    assert [(a.label, a.error_class, a.status) for [a] in attempts] == [
        ("up/known", "overloaded", 500), ("up/*", "overloaded", 500)]
