"""aiohttp handlers of the admin API and UI, added once and consulting the live ``admin`` extension."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import posixpath
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from attrs import define

from sluicegate.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    PermissionDenied,
    RouteNotFound,
)
from sluicegate.gateway import Gateway
from sluicegate.registry import PROVIDER
from sluicegate.secrets import mask_url, scrub
from sluicegate.server.keys import RECORD, REQUEST_ID
from sluicegate_admin import toml_edit
from sluicegate_admin.add_model import Edit, parse_new_model, problem_param
from sluicegate_admin.body import (
    ALIAS,
    MAX_BODY,
    PROVIDER_ID,
    check_name,
    model_values,
    parse_json,
    provider_values,
)
from sluicegate_admin.extension import Admin, Role
from sluicegate_admin.kept import keep_values
from sluicegate_admin.overview import overview
from sluicegate_admin.playground import Playground
from sluicegate_admin.presets import PRESETS, preset_view
from sluicegate_admin.probe import default_model, probe_provider
from sluicegate_admin.provider_schema import provider_types_route
from sluicegate_admin.store import ConfigRefused, ConfigStore, read_text
from sluicegate_admin.throttle import client_key, retry_after
from sluicegate_admin.view import config_view, parse_raw, reload_state

NAME = "admin"
log = logging.getLogger("sluicegate.admin")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What /admin/static serves, by file extension (anything else is a 404). Text types get a charset.
_STATIC_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
_TEXT_TYPES = frozenset({"text/javascript", "text/css", "image/svg+xml", "application/json", "text/plain"})
# One path segment of a static file: no "..", no hidden files, no backslashes or encoded tricks.
_STATIC_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
_STATIC_DEPTH = 6
# Methods that only read: a viewer token may use them.
READ_METHODS = frozenset({"GET", "HEAD"})
_PAGE_HEADERS = {
    # Scripts and styles come only from /admin/static: injected markup cannot run code.
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@define(frozen=True)
class Section:
    """A config section the admin API edits: ``[<table>.<name>]`` tables."""

    table: str
    key: str  # the body field naming a new entry
    pattern: Any  # what names may look like
    what: str  # for error messages
    values: Callable[..., dict[str, Any]]  # body -> TOML values, checked


SECTIONS = (
    Section("providers", "id", PROVIDER_ID, "provider id", provider_values),
    Section("models", "alias", ALIAS, "alias", model_values),
)


def serving_admin(gateway: Gateway, request: web.Request) -> Admin:
    """The serving assembly's ``admin`` extension; off, a 404 as if the route did not exist.
    Other plugins' admin routes (``/admin/api/...``) call it so they switch off with admin."""
    assembly = gateway.current
    admin = assembly.extensions.get(NAME) if assembly is not None else None
    if admin is None:
        raise RouteNotFound(f"Unknown route: {request.method} {request.path}")
    return admin


def authorize(gateway: Gateway, request: web.Request, write: bool | None = None) -> Role:
    """Check the ``[admin]`` bearer (the admin token, or the viewer token for reads), throttling
    addresses that guess; raises the 404 (admin off), 429 (throttled), 401 or 403 (a viewer
    asking to change something, code ``read_only``) the client gets. ``write`` defaults to
    "anything but GET and HEAD". Shared by every plugin's admin routes; returns the role."""
    admin = serving_admin(gateway, request)
    client = client_key(request.remote)
    wait = admin.guesses.wait(client)
    if wait > 0:
        # The token is not even looked at: a shut-out guesser learns nothing from its guesses.
        raise GatewayError(
            f"Too many wrong admin tokens from this address. Try again in {retry_after(wait)} s.",
            status=429, type="requests", code="admin_token_throttled", error_class="rate_limit",
            retry_after=wait,
            headers={"Retry-After": retry_after(wait)})
    challenge = {"WWW-Authenticate": 'Bearer realm="sluicegate-admin"'}
    authorization = request.headers.get("authorization")
    if not authorization:
        raise AuthenticationFailed(
            "Missing admin token. Send 'Authorization: Bearer <token>' with the [admin] token.",
            code="missing_admin_token", headers=challenge)
    scheme, _, token = authorization.partition(" ")
    role = admin.role_of(token.strip()) if scheme.lower() == "bearer" else None
    if role is None:
        wait = admin.guesses.failed(client)
        if wait > 0:
            log.warning("admin: too many wrong admin tokens from %s; refusing it for %s s",
                        client, retry_after(wait))
        # Never echo the token, not even partly.
        raise AuthenticationFailed("Invalid admin token.", code="invalid_admin_token", headers=challenge)
    admin.guesses.succeeded(client)
    if write is None:
        write = request.method not in READ_METHODS
    if write and role is not Role.ADMIN:
        raise PermissionDenied("The viewer token is read-only: this needs the [admin] token.", code="read_only")
    return role


def static_file(path: str) -> tuple[tuple[str, ...], str] | None:
    """The segments and content type of a servable static path, or None (a 404)."""
    segments = tuple(path.split("/"))
    if not 0 < len(segments) <= _STATIC_DEPTH or not all(_STATIC_SEGMENT.match(part) for part in segments):
        return None
    content_type = _STATIC_TYPES.get(posixpath.splitext(segments[-1])[1].lower())
    return (segments, content_type) if content_type is not None else None


class AdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.store = ConfigStore(gateway)
        self._static: dict[tuple[str, ...], bytes] = {}

    def install(self, app: web.Application) -> None:
        add = self._resource(app)
        add("/admin", GET=self.page)
        add("/admin/", GET=self.page)
        add("/admin/static/{path:.*}", GET=self.static)
        add("/admin/api/config", GET=self.get_config)
        add("/admin/api/status", GET=self.get_status)
        add("/admin/api/whoami", GET=self.whoami)
        add("/admin/api/presets", GET=self.presets)
        add("/admin/api/overview", GET=self.get_overview)
        add("/admin/api/add-model", POST=self.add_model)
        for section in SECTIONS:
            handlers = self._section_handlers(section)
            add(f"/admin/api/{section.table}", POST=handlers.pop("POST"))
            add(f"/admin/api/{section.table}/{{name}}", **handlers)
        add("/admin/api/providers/{name}/test", POST=self.test_provider)
        add("/admin/api/playground", POST=Playground(self.gateway, self._authorize).handle)
        add("/admin/api/provider-types", GET=provider_types_route(self.gateway, self._authorize, self._json))
        add("/admin/reload", POST=self.reload)

    def _resource(self, app: web.Application) -> Callable[..., None]:
        def add(path: str, **methods: Handler) -> None:
            async def dispatch(request: web.Request) -> web.StreamResponse:
                self._admin(request)  # off: 404 for every method, as if the route did not exist
                handler = methods.get(request.method)
                if handler is None:
                    raise MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}",
                                           headers={"Allow": ", ".join(sorted(methods))})
                return await handler(request)

            app.router.add_route("*", path, dispatch)

        return add

    # -- access ------------------------------------------------------------------------------

    def _admin(self, request: web.Request) -> Admin:
        return serving_admin(self.gateway, request)

    def _authorize(self, request: web.Request) -> Role:
        return authorize(self.gateway, request)

    def _provider_types(self) -> frozenset[str]:
        assembly = self.gateway.current
        registry = assembly.host.registry if assembly is not None else self.gateway.loaded.host.registry
        return frozenset(registry.of_kind(PROVIDER))

    # -- responses ---------------------------------------------------------------------------

    @staticmethod
    def _json(request: web.Request, data: Any, status: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                            headers={"x-request-id": request[REQUEST_ID], "Cache-Control": "no-store"})

    def _refused(self, request: web.Request, problems: list[dict[str, str]], status: int,
                 param: str | None = None) -> web.Response:
        listed = "; ".join(f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in problems)
        error = {"message": f"The config was refused: {listed}", "type": "invalid_request_error",
                 "param": param, "code": "config_invalid"}
        record = request.get(RECORD)
        if record is not None:
            record.error_code = "config_invalid"
        return self._json(request, {"ok": False, "problems": problems, "error": error}, status)

    async def _view(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        if self.store.editable:
            raw, problem = await loop.run_in_executor(None, lambda: parse_raw(read_text(self.store.path)))
        else:
            raw, problem = await loop.run_in_executor(None, parse_raw, self.gateway.source.text)
        return config_view(self.gateway, raw, problem, self.store.env())

    # -- the page ----------------------------------------------------------------------------

    async def _asset(self, segments: tuple[str, ...]) -> bytes | None:
        """A file of the package's static directory (cached once read), or None if there is none."""
        data = self._static.get(segments)
        if data is None:
            resource = importlib.resources.files("sluicegate_admin").joinpath("static", *segments)
            try:
                data = await asyncio.get_running_loop().run_in_executor(None, resource.read_bytes)
            except OSError:  # missing, a directory, unreadable: all a 404
                return None
            # Bounded: only files that exist in the package are kept.
            self._static[segments] = data
        return data

    async def page(self, request: web.Request) -> web.Response:
        body = await self._asset(("index.html",))
        if body is None:
            raise GatewayError("The console page is missing from the installation.", status=500)
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS)

    async def static(self, request: web.Request) -> web.Response:
        found = static_file(request.match_info["path"])
        body = await self._asset(found[0]) if found is not None else None
        if found is None or body is None:
            raise RouteNotFound(f"Unknown route: {request.method} {request.path}")
        content_type = found[1]
        return web.Response(body=body, content_type=content_type,
                            charset="utf-8" if content_type in _TEXT_TYPES else None, headers=_PAGE_HEADERS)

    # -- reading -----------------------------------------------------------------------------

    async def get_config(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return self._json(request, await self._view())

    async def get_status(self, request: web.Request) -> web.Response:
        self._authorize(request)
        assembly = self.gateway.current
        providers = {}
        for name, provider in (assembly.providers.items() if assembly else ()):
            facts = provider.describe()
            if "base_url" in facts:
                facts["base_url"] = mask_url(facts["base_url"])
            providers[name] = facts
        return self._json(request, {
            "last_reload": reload_state(self.gateway.last_reload),
            "path": self.store.path if self.store.editable else None,
            "editable": self.store.editable,
            "providers": providers,
            "models": sorted(assembly.config.models) if assembly else [],
        })

    async def whoami(self, request: web.Request) -> web.Response:
        return self._json(request, {"role": self._authorize(request).value})

    async def presets(self, request: web.Request) -> web.Response:
        self._authorize(request)
        types = self._provider_types()
        return self._json(request, {"data": [preset_view(preset, types) for preset in PRESETS]})

    async def get_overview(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return self._json(request, await overview(self.gateway))

    async def test_provider(self, request: web.Request) -> web.Response:
        self._authorize(request)  # a POST: it spends the vendor's tokens, so admins only
        assembly = self.gateway.current
        name = request.match_info["name"]
        if assembly is None or name not in assembly.providers:
            shown = name if len(name) <= 64 and name.isprintable() else "(the id given)"
            raise GatewayError(f"No provider {shown!r} is serving.", status=404, type="invalid_request_error",
                               code="provider_not_found", param="id")
        model = request.query.get("model") or default_model(assembly.config, name)
        if model is None:
            raise InvalidRequest(f"Provider {name!r} lists no models and no alias sends to it: name one as "
                                 "?model=.", param="model", code="invalid_value")
        if len(model) > 200 or not model.isprintable() or any(ch.isspace() for ch in model):
            raise InvalidRequest("model must be at most 200 printable characters without spaces.", param="model",
                                 code="invalid_value")
        result = await probe_provider(assembly, name, model, request[REQUEST_ID], assembly.router_clock)
        log.info("admin: tested provider %s (%s): %s", name, result.model, "ok" if result.ok else result.code)
        return self._json(request, result.view())

    async def reload(self, request: web.Request) -> web.Response:
        self._authorize(request)
        ok = await self.store.reload()
        state = reload_state(self.gateway.last_reload)
        if not ok:
            return self._refused(request, state["problems"], 422)
        return self._json(request, {"ok": True, "problems": [], "last_reload": state})

    # -- writing -----------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise PayloadTooLarge("The request body is too large.")
        data = bytearray()
        async for chunk in request.content.iter_any():
            data += chunk
            if len(data) > MAX_BODY:
                raise PayloadTooLarge("The request body is too large.")
        return parse_json(bytes(data))

    async def _change(self, request: web.Request, edit: Callable[[str], str], status: int = 200) -> web.Response:
        try:
            await self.store.change(edit)
        except ConfigRefused as exc:
            return self._refused(request, exc.problems, 400)
        return self._json(request, {"ok": True, "config": await self._view()}, status)

    async def add_model(self, request: web.Request) -> web.Response:
        """A provider from a preset (when new) and an alias to one of its models, in one change."""
        self._authorize(request)
        new = parse_new_model(await self._body(request), self._provider_types())
        edit = Edit(new)
        try:
            await self.store.change(edit)
        except ConfigRefused as exc:
            problems = exc.problems
            if new.api_key is not None and new.key_param == "api_key":
                # Defence in depth: the loader masks keys, and a literal must never come back.
                literal = (new.api_key, new.api_key.replace("$$", "$"))
                problems = [{"path": p["path"], "message": scrub(p["message"], literal)} for p in problems]
            param = next((found for p in problems if (found := problem_param(p["path"], new))), None)
            return self._refused(request, problems, 400, param)
        return self._json(request, {
            "provider": new.provider_id,
            "alias": new.alias,
            "created_provider": edit.created_provider,
            "reload": reload_state(self.gateway.last_reload),
        }, 201)

    def _section_handlers(self, section: Section) -> dict[str, Handler]:
        """Add, replace, change and delete for one config section (providers, models)."""

        def name_of(value: Any) -> str:
            return check_name(value, section.pattern, section.what, section.key)

        async def add(request: web.Request) -> web.Response:
            self._authorize(request)
            body = await self._body(request)
            name = name_of(body.get(section.key))
            values = section.values(body)
            return await self._change(
                request, lambda text: toml_edit.add_entry(text, section.table, name, values), 201)

        async def edit(request: web.Request, partial: bool) -> web.Response:
            self._authorize(request)
            name = name_of(request.match_info["name"])
            values = section.values(await self._body(request), partial=partial, name=name)
            change = toml_edit.patch_entry if partial else toml_edit.replace_entry
            return await self._change(
                request, lambda text: change(text, section.table, name, keep_values(text, section.table, name, values)))

        async def put(request: web.Request) -> web.Response:
            return await edit(request, partial=False)

        async def patch(request: web.Request) -> web.Response:
            return await edit(request, partial=True)

        async def delete(request: web.Request) -> web.Response:
            self._authorize(request)
            name = name_of(request.match_info["name"])
            return await self._change(request, lambda text: toml_edit.delete_entry(text, section.table, name))

        return {"POST": add, "PUT": put, "PATCH": patch, "DELETE": delete}
