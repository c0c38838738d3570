"""Default plugin: the ``health_checks`` extension (``[health_checks]``), off unless its table is present."""

from __future__ import annotations

from sluicegate.extensions.health_checks import HealthCheckOptions, make_health_checks
from sluicegate.hookspecs import hookimpl


@hookimpl
def register_extensions(register):
    register("health_checks", make_health_checks, options=HealthCheckOptions)
