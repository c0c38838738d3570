"""Default plugin: the ``pricing`` extension (``[pricing]``), which sets each request's cost."""

from __future__ import annotations

from sluicegate.extensions.pricing import PricingOptions, make_pricing
from sluicegate.hookspecs import hookimpl

#: Before metrics and logs, so they see the cost.
ORDER = 100


@hookimpl
def register_extensions(register):
    register("pricing", make_pricing, options=PricingOptions, order=ORDER)
