"""sluicegate-admin: the admin API and web UI under /admin, a plugin distribution.

Registers the extension ``admin`` (on when ``[admin]`` is present and its token is set) and adds
its routes when the app is built: read and edit providers and aliases in gateway.toml (comments
kept, validated before the file is replaced), reload the config (``POST /admin/reload``, which
under ``serve --workers N`` signals the supervisor so every worker reloads). It imports from the
core; the core never imports it.
"""

from __future__ import annotations

from sluicegate import hookimpl
from sluicegate_admin.extension import Admin, AdminOptions, make_admin
from sluicegate_admin.routes import NAME, AdminRoutes

__all__ = ["NAME", "Admin", "AdminOptions", "AdminRoutes", "make_admin"]


@hookimpl
def register_extensions(register):
    register(NAME, make_admin, options=AdminOptions)


@hookimpl
def gateway_app_created(app, gateway):
    # Added whether or not [admin] is present now: a reload may switch it on or off, and each
    # request checks the serving assembly.
    AdminRoutes(gateway).install(app)
