"""Default plugin: the admin API and web UI under /admin, on when ``[admin]`` is present."""

from __future__ import annotations

from sluicegate.admin.extension import AdminOptions, make_admin
from sluicegate.admin.routes import NAME, AdminRoutes
from sluicegate.hookspecs import hookimpl


@hookimpl
def register_extensions(register):
    register(NAME, make_admin, options=AdminOptions)


@hookimpl
def gateway_app_created(app, gateway):
    # Added whether or not [admin] is present now: a reload may switch it on or off, and each
    # request checks the serving assembly.
    AdminRoutes(gateway).install(app)
