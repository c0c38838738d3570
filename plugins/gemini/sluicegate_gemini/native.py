"""Gemini's own API, passed through from the gateway's Gemini entrance: pure helpers, no I/O.

A client of the entrance already speaks Gemini: its body goes to the vendor as it came (its
own bytes), except where the target needs a change: its output cap lowers
``generationConfig.maxOutputTokens``, and a ``countTokens`` body's nested
``generateContentRequest.model`` names the target's model, not the name the client asked the
gateway for. Field names are changed in the spelling the client used (``maxOutputTokens`` or
``max_output_tokens``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from sluicegate.exchange import Endpoint, GatewayRequest, Target
from sluicegate.translate.gemini_dialect import proto_name
from sluicegate_gemini.translate import model_path

COUNT = ":countTokens"
TUNED = "tunedModels/"

# A stream event that ends a candidate or tells that the prompt was blocked: Google's last.
# Its quotes would be escaped inside a JSON string, so text cannot fake it.
_FINAL_MARKERS = (b'"finishReason"', b'"blockReason"')
_ERROR_MARKER = b'"error"'


def resource_path(model: str) -> str:
    """``/models/{model}``, or ``/tunedModels/{name}`` for a tuned model, its name quoted so it
    cannot step out of the path."""
    if model.startswith(TUNED):
        return "/" + TUNED + quote(model.removeprefix(TUNED), safe="-._~")
    return model_path(model)


def resource_name(model: str) -> str:
    """The model's resource name, as a request body names it: ``models/x``, ``tunedModels/y``."""
    return model if model.startswith((TUNED, "models/")) else "models/" + model


def _key(obj: dict[str, Any], json_name: str) -> str:
    """The spelling of ``json_name`` that ``obj`` uses (its JSON name when it has neither)."""
    if json_name in obj:
        return json_name
    snake = proto_name(json_name)
    return snake if snake in obj else json_name


def vendor_body(req: GatewayRequest, target: Target) -> bytes:
    """What the vendor is sent for ``req`` at ``target``: the client's bytes unless a change is due."""
    body = req.body
    if req.endpoint is Endpoint.GEMINI_COUNT_TOKENS:
        nested_key = _key(body, "generateContentRequest")
        nested = body.get(nested_key)
        if isinstance(nested, dict) and nested.get("model") != resource_name(target.model):
            return orjson.dumps({**body, nested_key: {**nested, "model": resource_name(target.model)}})
        return req.wire
    cap = target.output_cap
    config_key = _key(body, "generationConfig")
    config = body.get(config_key)
    if cap is not None and isinstance(config, dict):
        limit_key = _key(config, "maxOutputTokens")
        limit = config.get(limit_key)
        # Only a well-formed limit is lowered; anything else is the vendor's to judge.
        if type(limit) is int and limit > cap:
            return orjson.dumps({**body, config_key: {**config, limit_key: cap}})
    return req.wire


def is_error_event(data: bytes) -> bool:
    """Whether a stream event may be Google's error object (then parsed to be sure)."""
    return _ERROR_MARKER in data


def is_final_event(data: bytes) -> bool:
    """Whether a stream event ends the answer (a finish reason, a blocked prompt)."""
    return any(marker in data for marker in _FINAL_MARKERS)
