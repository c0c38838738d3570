"""POST routes dispatched past aiohttp's application plumbing.

Every request through ``web.Application._handle`` pays for the router walking the path, a new
match info, the middleware chain's wrappers, and an event-loop lookup (a ``getpid`` system call
on Python 3.11). The gateway's API operations are fixed POST paths behind one middleware (the
edge), so ``dispatcher`` sends a POST to a fixed path straight to the edge and the route's
handler, with a match info made once per route at start: frozen and never written, so
``request.app``, ``request.match_info.route`` and the response-prepare signals (CORS) work as
they do through the router. Everything else goes through the application as before, and so does
everything when the app is not the plain one this expects (a plugin's own middleware or sub-app),
or when the request carries ``Expect`` (aiohttp's handling of ``100-continue``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from sluicegate.server.edge import edge_middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fixed_post_routes(app: web.Application) -> dict[str, tuple[Handler, UrlMappingMatchInfo]]:
    """Each fixed path's POST handler as the router would pick it, with its match info."""
    routes: dict[str, tuple[Handler, UrlMappingMatchInfo]] = {}
    decided: set[str] = set()
    for resource in app.router.resources():
        if not isinstance(resource, web.PlainResource):
            continue
        path = resource.canonical
        if path in decided:
            continue  # the router tries resources in the order they were added: the first wins
        for route in resource:
            if route.method in (hdrs.METH_POST, hdrs.METH_ANY):
                decided.add(path)
                if route.method == hdrs.METH_POST:
                    info = UrlMappingMatchInfo({}, route)
                    info.add_app(app)
                    info.freeze()
                    routes[path] = (route.handler, info)
                break
    return routes


def plain_app(app: web.Application) -> bool:
    """``app`` is as the gateway built it: the edge its only middleware, no sub-app (a plugin's
    own would be skipped by handling its routes past the application)."""
    return tuple(app.middlewares) == (edge_middleware,) and not any(
        isinstance(resource, web.PrefixedSubAppResource) for resource in app.router.resources()
    )


def dispatcher(app: web.Application, through_app: Handler) -> Handler:
    """The server's request handler for a frozen ``app``; ``through_app`` is ``app._handle``."""
    if not plain_app(app):
        return through_app
    routes = fixed_post_routes(app)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            found = routes.get(request.rel_url.path_safe)
            if found is not None and hdrs.EXPECT not in request.headers:
                handler, request._match_info = found
                return await edge_middleware(request, handler)
        return await through_app(request)

    return dispatch
