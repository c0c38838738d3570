"""Example plugin: a middleware that adds a response header and refuses blocked models, and an
extension (``slowest.py``) that watches finished requests and serves a route.

Enabled by a ``[stamp]`` table in gateway.toml::

    [stamp]
    header = "x-served-by"
    value = "gateway-eu-1"
    blocked_models = ["gpt-4o"]
"""

from __future__ import annotations

from attrs import Factory, define

from sluicegate import hookimpl
from sluicegate.contracts import Middleware
from sluicegate.errors import InvalidRequest
from sluicegate.pipeline import Order
from sluicegate.plugin_options import FeatureOptions
from sluicegate_stamp import slowest


@define(kw_only=True)
class StampOptions(FeatureOptions):
    header: str = "x-stamp"
    value: str = "sluicegate"
    blocked_models: list[str] = Factory(list)


def make_stamp(options: StampOptions, services) -> Middleware:
    # Resolve everything from options here, once; the returned coroutine runs per request.
    # Returning None would leave the middleware out; raising ConfigError refuses the config.
    header, value = options.header, options.value
    blocked = frozenset(options.blocked_models)

    async def stamp(ctx, req, call_next):
        if req.model in blocked:
            raise InvalidRequest(f"model {req.model!r} is blocked on this gateway", param="model",
                                 code="model_blocked")
        result = await call_next(ctx, req)
        ctx.response_headers[header] = value
        return result

    return stamp


@hookimpl
def register_middlewares(register):
    # Keywords are explicit: options, order, always (a typo such as ``ordr`` is a start-up error).
    register("stamp", make_stamp, options=StampOptions, order=Order.EDGE)


@hookimpl
def register_extensions(register):
    register(slowest.NAME, slowest.make_slowest, options=slowest.SlowestOptions)


@hookimpl
def gateway_app_created(app, gateway):
    slowest.add_route(app, gateway)
