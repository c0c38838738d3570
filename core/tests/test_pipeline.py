"""Middleware composition: outermost-first order, short-circuits, modification and assembly order."""

from __future__ import annotations

import types

import pytest
from attrs import define
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate import hookimpl
from sluicegate.errors import InvalidRequest, ProviderNotConfigured
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext
from sluicegate.pipeline import Order, compose
from sluicegate.plugin_options import FeatureOptions


def make_ctx() -> RequestContext:
    return RequestContext("req-1", None, CIMultiDictProxy(CIMultiDict()), 0.0)


def make_req(model: str = "m/x", targets=(), endpoint: Endpoint = Endpoint.CHAT) -> GatewayRequest:
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}]}
    return GatewayRequest(endpoint, body, b"", model, False, tuple(targets))


def recorder(name: str, log: list[str]):
    async def middleware(ctx, req, call_next):
        log.append(f"{name}>")
        result = await call_next(ctx, req)
        log.append(f"<{name}")
        return result

    return middleware


async def test_compose_runs_middlewares_outermost_first():
    log: list[str] = []

    async def terminal(ctx, req):
        log.append("terminal")
        return Reply.from_data({"ok": True})

    chain = compose([recorder("a", log), recorder("b", log), recorder("c", log)], terminal)
    reply = await chain(make_ctx(), make_req())
    assert reply.data == {"ok": True}
    assert log == ["a>", "b>", "c>", "terminal", "<c", "<b", "<a"]


async def test_compose_without_middlewares_is_the_terminal():
    async def terminal(ctx, req):
        return Reply.from_data(req.model)

    assert compose([], terminal) is terminal
    assert (await compose([], terminal)(make_ctx(), make_req("z/y"))).data == "z/y"


async def test_middleware_can_short_circuit():
    log: list[str] = []

    async def cache_hit(ctx, req, call_next):
        log.append("hit")
        return Reply.from_data({"cached": True})

    async def terminal(ctx, req):
        raise AssertionError("must not be reached")

    chain = compose([recorder("outer", log), cache_hit, recorder("inner", log)], terminal)
    assert (await chain(make_ctx(), make_req())).data == {"cached": True}
    assert log == ["outer>", "hit", "<outer"]


async def test_middleware_can_modify_request_and_reply_and_raise():
    async def rewrite(ctx, req, call_next):
        req.body["extra"] = 1
        ctx.response_headers["x-seen"] = "yes"
        reply = await call_next(ctx, req)
        reply.replace_data({**reply.data, "wrapped": True})
        return reply

    async def terminal(ctx, req):
        return Reply.from_data({"extra": req.body["extra"]})

    ctx = make_ctx()
    reply = await compose([rewrite], terminal)(ctx, make_req())
    assert reply.body == b'{"extra":1,"wrapped":true}'
    assert ctx.response_headers == {"x-seen": "yes"}

    async def refuse(ctx, req, call_next):
        raise InvalidRequest("refused by middleware")

    with pytest.raises(InvalidRequest, match="refused by middleware"):
        await compose([rewrite, refuse], terminal)(make_ctx(), make_req())


@define(kw_only=True)
class TagOptions(FeatureOptions):
    tag: str = "default"


def tagging_plugin(log: list[str]):
    def factory(name):
        def make(options, services):
            async def middleware(ctx, req, call_next):
                log.append(f"{name}:{options.tag}")
                return await call_next(ctx, req)

            return middleware

        return make

    def register_middlewares(register):
        register("zcache", factory("zcache"), options=TagOptions, order=Order.CACHE)
        register("aadmit", factory("aadmit"), options=TagOptions, order=Order.ADMIT)
        register("edge", factory("edge"), options=TagOptions, order=Order.EDGE)
        register("always_on", factory("always_on"), options=TagOptions, order=Order.ADMIT, always=True)
        register("absent", factory("absent"), options=TagOptions, order=Order.EDGE)
        register("skipped", lambda options, services: None, options=TagOptions, order=Order.EDGE)

    return types.SimpleNamespace(register_middlewares=hookimpl(register_middlewares))


async def test_assembly_orders_middlewares_by_order_then_name(build):
    log: list[str] = []
    text = """
    [providers.m]
    type = "mock"
    [zcache]
    tag = "z"
    [aadmit]
    tag = "a"
    [edge]
    enabled = false
    [skipped]
    """
    assembly = build(text, extra_plugins=[("tagger", tagging_plugin(log))])
    assert assembly.middleware_names == ["aadmit", "always_on", "zcache"]
    req = make_req("m/echo", assembly.router.resolve("m/echo"))
    ctx = make_ctx()
    reply = await assembly.chain(ctx, req)
    assert log == ["aadmit:a", "always_on:default", "zcache:z"]
    assert reply.data["choices"][0]["message"]["content"] == "hello there"
    assert ctx.target.label == "m/echo"


async def test_terminal_refuses_unconfigured_provider_before_sending(build):
    assembly = build('[providers.o]\ntype = "openai"\napi_key = "${NOPE}"\n')
    req = make_req("o/x", assembly.router.resolve("o/x"))
    with pytest.raises(ProviderNotConfigured, match="NOPE is not set"):
        await assembly.chain(make_ctx(), req)


def test_order_stages_ascend():
    assert Order.EDGE < Order.ADMIT < Order.CACHE
