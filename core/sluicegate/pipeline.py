"""Compose middlewares into one async handler, once per assembly."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence

from sluicegate.exchange import GatewayRequest, Handler, RequestContext, Result

Middleware = Callable[[RequestContext, GatewayRequest, Handler], Awaitable[Result]]


class Order(enum.IntEnum):
    """Where a middleware sits; lower runs first (outermost)."""

    EDGE = 100  # request shaping, auth extensions, logging
    ADMIT = 200  # rate limits and concurrency
    CACHE = 300  # response cache and coalescing


def compose(middlewares: Sequence[Middleware], terminal: Handler) -> Handler:
    """Chain ``middlewares`` (outermost first) around ``terminal``."""
    handler = terminal
    for middleware in reversed(middlewares):
        handler = _link(middleware, handler)
    return handler


def _link(middleware: Middleware, call_next: Handler) -> Handler:
    # A plain function returning the middleware's coroutine: no extra coroutine frame per link.
    def call(ctx: RequestContext, req: GatewayRequest) -> Awaitable[Result]:
        return middleware(ctx, req, call_next)

    return call  # type: ignore[return-value]
