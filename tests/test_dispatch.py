"""POST routes dispatched past aiohttp's application plumbing (server/dispatch.py): the same
answers as through the router, and the router's way wherever the shortcut would differ."""

from __future__ import annotations

import aiohttp
import orjson
from aiohttp import web

import sluicegate
from sluicegate.server.dispatch import dispatcher, fixed_post_routes
from sluicegate.server.edge import edge_middleware

MOCK = """
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/echo-1"]
"""
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello world"}]}


async def handler_a(request: web.Request) -> web.Response:
    return web.Response(text="a")


async def handler_b(request: web.Request) -> web.Response:
    return web.Response(text="b")


async def through(request: web.Request) -> web.Response:
    return web.Response(text="through")


def app_with(*routes: tuple[str, str, object], middlewares=(edge_middleware,)) -> web.Application:
    app = web.Application(middlewares=list(middlewares))
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.freeze()
    return app


def test_each_fixed_path_gets_the_post_route_the_router_would_pick():
    # A path added again after another one is a second resource (aiohttp merges only neighbours).
    app = app_with(("POST", "/a", handler_a), ("GET", "/get", handler_a), ("POST", "/a", handler_b),
                   ("*", "/any", handler_a), ("GET", "/get2", handler_a), ("POST", "/any", handler_b),
                   ("POST", "/dyn/{x}", handler_a))
    assert sum(resource.canonical == "/a" for resource in app.router.resources()) == 2
    routes = fixed_post_routes(app)
    # Only fixed paths whose first matching route is a POST: the first added wins, as in the
    # router; a catch-all method before it, a GET-only path and a pattern stay with the router.
    assert set(routes) == {"/a"}
    handler, info = routes["/a"]
    assert handler is handler_a
    assert info.route.method == "POST" and info.route.resource.canonical == "/a"
    assert info.apps == (app,) and info.current_app is app
    assert dict(info) == {}


def test_an_app_with_its_own_middleware_or_a_sub_app_goes_through_the_app():
    async def other(request, handler):
        return await handler(request)

    with_middleware = app_with(("POST", "/a", handler_a), middlewares=(edge_middleware, web.middleware(other)))
    assert dispatcher(with_middleware, through) is through
    with_sub_app = web.Application(middlewares=[edge_middleware])
    with_sub_app.add_subapp("/sub", web.Application())
    with_sub_app.freeze()
    assert dispatcher(with_sub_app, through) is through
    assert dispatcher(app_with(("POST", "/a", handler_a)), through) is not through


class SeeingMiddleware:
    """A plugin that adds its own middleware: it must see every request, API ones included."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @sluicegate.hookimpl
    def gateway_app_created(self, app, gateway):
        @web.middleware
        async def note(request, handler):
            self.seen.append(request.path)
            return await handler(request)

        app.middlewares.append(note)


async def test_a_plugin_middleware_still_sees_api_requests(gateway):
    plugin = SeeingMiddleware()
    server = await gateway(MOCK, extra_plugins=[("seeing", plugin)])
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base_url + "/v1/chat/completions", data=orjson.dumps(CHAT)) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "chat.completion"
    assert plugin.seen == ["/v1/chat/completions"]


async def test_api_requests_answer_as_through_the_router(gateway):
    server = await gateway(MOCK)
    url = server.base_url
    async with aiohttp.ClientSession() as http:
        # The shortcut: the edge's request id, the handler's answer.
        async with http.post(url + "/v1/chat/completions", data=orjson.dumps(CHAT),
                             headers={"x-request-id": "mine-7"}) as resp:
            assert resp.status == 200
            assert resp.headers["x-request-id"] == "mine-7"
            assert (await resp.json())["choices"][0]["message"]["role"] == "assistant"
        # Expect: 100-continue goes the application's way, which answers it.
        async with http.post(url + "/v1/chat/completions", data=orjson.dumps(CHAT),
                             headers={"Expect": "100-continue"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "chat.completion"
        # An encoded slash is not the API's path, for the router or the shortcut.
        async with http.post(url + "/v1/chat%2Fcompletions", data=orjson.dumps(CHAT)) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
        # A GET on an API path is the router's 405, in the API's shape.
        async with http.get(url + "/v1/chat/completions") as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
