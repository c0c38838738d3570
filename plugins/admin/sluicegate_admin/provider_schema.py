"""``GET /admin/api/provider-types``: the options each installed provider type accepts.

The console's provider form is built from this, so it offers every option of every type (a
plugin's own type included) without a copy of the schema in JavaScript that would drift. Each
option comes from the type's attrs options class: its name, the kind of input it needs, whether
it may be left unset, its default (never for a secret) and the comment above it in the source,
which is how this project documents options.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from sluicegate.gateway import Gateway
from sluicegate.registry import PROVIDER, Registry
from sluicegate.secrets import Secret

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FIELD_LINE = re.compile(r"^\s+([A-Za-z_][A-Za-z0-9_]*)\s*:")
_COMMENT_LINE = re.compile(r"^\s*#\s?(.*)$")
_HELP_LIMIT = 600


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (hint, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def option_kind(hint: Any) -> tuple[str, bool]:
    """The input an option needs (number, integer, boolean, string, secret, list, headers, json)
    and whether it may be unset (null)."""
    inner, nullable = _unwrap_optional(hint)
    origin = typing.get_origin(inner)
    if inner is bool:
        kind = "boolean"
    elif inner is int:
        kind = "integer"
    elif inner is float:
        kind = "number"
    elif inner is str:
        kind = "string"
    elif inner is Secret:
        kind = "secret"
    elif origin is list and typing.get_args(inner) in ((str,), ()):
        kind = "list"
    elif origin is dict and typing.get_args(inner)[1:] in ((Secret,), (str,)):
        kind = "headers"
    else:
        kind = "json"
    return kind, nullable


def _default(attribute: attrs.Attribute, kind: str) -> Any:
    default = attribute.default
    if default is attrs.NOTHING or kind == "secret":
        return None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return None
        default = default.factory()
    if kind == "headers":
        return {}  # values are secrets: never shown, not even a default's
    return default if isinstance(default, bool | int | float | str | list | type(None)) else None


def _comments(cls: type) -> dict[str, str]:
    """Field name -> the comment block right above its line in ``cls``'s own source."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    block: list[str] = []
    for line in lines:
        comment = _COMMENT_LINE.match(line)
        if comment:
            block.append(comment.group(1).strip())
            continue
        field_line = _FIELD_LINE.match(line)
        if field_line and block:
            found.setdefault(field_line.group(1), " ".join(block)[:_HELP_LIMIT])
        block = []
    return found


def type_options(options_class: type) -> list[dict[str, Any]]:
    """The options of one provider type, in declaration order. Blocking (reads source files)."""
    hints = typing.get_type_hints(options_class)
    helps: dict[str, str] = {}
    own = set(options_class.__dict__.get("__annotations__", {}))
    for cls in reversed(options_class.__mro__):
        if attrs.has(cls):
            helps.update(_comments(cls))
    rows = []
    for attribute in attrs.fields(options_class):
        kind, nullable = option_kind(hints.get(attribute.name, Any))
        rows.append({
            "name": attribute.name,
            "kind": kind,
            "nullable": nullable,
            "required": attribute.default is attrs.NOTHING,
            "default": _default(attribute, kind),
            "help": helps.get(attribute.name),
            # Declared by the type itself rather than by every provider (ProviderOptions).
            "type_specific": attribute.name in own,
        })
    return rows


def provider_types(registry: Registry) -> list[dict[str, Any]]:
    rows = []
    for name, component in sorted(registry.of_kind(PROVIDER).items()):
        options = component.options
        rows.append({
            "type": name,
            "plugin": component.plugin.distribution,
            "options": type_options(options) if options is not None else [],
        })
    return rows


def provider_types_route(gateway: Gateway, authorize: Callable[[web.Request], Any],
                         respond: Callable[[web.Request, Any], web.Response]) -> Handler:
    """The handler, given the admin routes' token check and JSON answer."""

    async def get(request: web.Request) -> web.Response:
        authorize(request)
        assembly = gateway.current
        registry = assembly.host.registry if assembly is not None else gateway.loaded.host.registry
        data = await asyncio.get_running_loop().run_in_executor(None, provider_types, registry)
        return respond(request, {"data": data})

    return get
