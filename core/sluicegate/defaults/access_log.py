"""Default plugin: the ``access_log`` extension (``[access_log]``), on unless ``enabled = false``."""

from __future__ import annotations

from sluicegate.extensions.access_log import AccessLogOptions, make_access_log
from sluicegate.hookspecs import hookimpl

#: After every other extension, so the line holds what they added (the cost, for one).
ORDER = 1000


@hookimpl
def register_extensions(register):
    register("access_log", make_access_log, options=AccessLogOptions, order=ORDER, always=True)
