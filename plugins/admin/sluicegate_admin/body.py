"""Check admin API request bodies and turn them into the TOML values of one table.

Only the shape is checked here (names, JSON types, how a key is given); whether the values make a
valid gateway config is the config loader's call, so its messages reach the user unchanged.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from sluicegate.errors import InvalidRequest
from sluicegate_admin.kept import Kept, is_keep

# The loader's own rule for provider ids ("/" would make "<id>/<model>" ambiguous).
PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Aliases appear in URLs (/admin/api/models/<alias>) and in "model": no "/", no spaces.
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$")
OPTION_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# An HTTP header name (RFC 7230 token); the config checks it again, this keeps errors readable.
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_BODY = 256 * 1024
_MAX_DEPTH = 3


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def check_name(value: Any, pattern: re.Pattern[str], what: str, param: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        rule = ("letters, digits, '_', '.' and '-', starting with a letter or digit (no '/')"
                if pattern is PROVIDER_ID else
                "letters, digits and '_' '.' ':' '@' '+' '-', starting with a letter or digit (no '/')")
        shown = repr(value) if isinstance(value, str) and len(value) <= 80 else "the given value"
        raise InvalidRequest(f"{what} {shown} is not valid: use {rule}.", param=param, code="invalid_name")
    return value


def _value(value: Any, where: str, depth: int = 0) -> Any:
    """A JSON value TOML can hold: no nulls inside, no NaN, tables of bounded depth."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidRequest(f"{where} is out of range for TOML.", param=where, code="invalid_value")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"{where} must be a finite number.", param=where, code="invalid_value")
        return value
    if depth >= _MAX_DEPTH:
        raise InvalidRequest(f"{where} is nested too deeply.", param=where, code="invalid_value")
    if isinstance(value, list):
        return [_value(item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _value(item, f"{where}.{key}", depth + 1) for key, item in value.items()}
    raise InvalidRequest(f"{where} must not be null here.", param=where, code="invalid_value")


def _options(body: dict[str, Any], skip: set[str], *, partial: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key in skip:
            continue
        if not OPTION_KEY.match(key):
            raise InvalidRequest(f"{key[:64]!r} is not a valid option name.", param=key, code="invalid_name")
        if value is None and partial:
            values[key] = None  # PATCH: remove the key
        else:
            values[key] = _value(value, key)
    return values


def _check_path_name(body: dict[str, Any], field: str, name: str | None) -> None:
    given = body.get(field)
    if name is not None and given is not None and given != name:
        raise InvalidRequest(
            f"{field} {given!r} does not match the URL ({name!r}); renaming is not supported: "
            "add the new one and delete the old.", param=field, code="invalid_name")


def provider_values(body: dict[str, Any], *, partial: bool = False, name: str | None = None) -> dict[str, Any]:
    """The ``[providers.<id>]`` keys for a body; ``api_key_env`` becomes ``api_key = "${NAME}"``."""
    _check_path_name(body, "id", name)
    values = _options(body, {"id", "api_key", "api_key_env", "headers"}, partial=partial)
    if "headers" in body:
        values["headers"] = _headers(body["headers"], partial=partial, adding=name is None)
    key = api_key_value(body)
    if key is not None:
        values["api_key"] = key
    elif partial and ("api_key" in body or "api_key_env" in body):
        values["api_key"] = None  # an explicit null removes the key line
    return values


def _headers(given: Any, *, partial: bool, adding: bool) -> dict[str, Any] | None:
    """``headers``: name -> value (a string, written as given) or ``{"keep": true}`` (the value
    the file has now, which the console never sees); null on a PATCH removes them all."""
    if given is None and partial:
        return None
    if not isinstance(given, dict):
        raise InvalidRequest('headers must be an object of header names to values, such as {"X-Team": "research"}.',
                             param="headers", code="invalid_value")
    headers: dict[str, Any] = {}
    for header, value in given.items():
        if not HEADER_NAME.match(header):
            shown = repr(header) if len(header) <= 64 and header.isprintable() else "a header name"
            raise InvalidRequest(f"headers: {shown} is not a valid HTTP header name (letters, digits and "
                                 "!#$%&'*+-.^_`|~, no spaces).", param="headers", code="invalid_name")
        where = f"headers.{header}"
        if is_keep(value):
            if adding:
                raise InvalidRequest(f"{where}: a new provider has no value to keep; enter one.", param=where,
                                     code="invalid_value")
            headers[header] = Kept(header)
        elif isinstance(value, str):
            # Never echoed: a header value may be a key.
            if not value:
                raise InvalidRequest(f"{where}: enter a value (or remove the header).", param=where,
                                     code="invalid_value")
            headers[header] = value
        else:
            raise InvalidRequest(f'{where} must be a string, or {{"keep": true}} to keep the current value.',
                                 param=where, code="invalid_value")
    return headers


def api_key_value(body: dict[str, Any]) -> str | None:
    """The ``api_key`` TOML value a body asks for: ``"${NAME}"`` for ``api_key_env``, the literal
    (``$`` doubled) for ``api_key``, None for neither. Errors never show the literal."""
    env, literal = body.get("api_key_env"), body.get("api_key")
    if env is not None and literal is not None:
        raise InvalidRequest("Send either api_key_env (a variable name) or api_key (a literal key), not both.",
                             param="api_key", code="invalid_value")
    if env is not None:
        if not isinstance(env, str) or not ENV_NAME.match(env):
            raise InvalidRequest("api_key_env must be an environment variable name such as OPENAI_API_KEY.",
                                 param="api_key_env", code="invalid_value")
        return "${" + env + "}"
    if literal is None:
        return None
    if not isinstance(literal, str) or not literal:
        raise InvalidRequest("api_key must be a non-empty string.", param="api_key", code="invalid_value")
    if "${" in literal:
        raise InvalidRequest("api_key looks like a variable reference; send its name as api_key_env.",
                             param="api_key", code="invalid_value")
    # The loader reads "$$" as one literal "$"; a key is written exactly as given.
    return literal.replace("$", "$$")


def model_values(body: dict[str, Any], *, partial: bool = False, name: str | None = None) -> dict[str, Any]:
    """The ``[models.<alias>]`` keys for a body."""
    _check_path_name(body, "alias", name)
    return _options(body, {"alias"}, partial=partial)
