"""Default plugin ``sluicegate.openai_errors``: error responses in the OpenAI shape.

The shape every OpenAI-compatible route (all of ``/v1/...`` but ``/v1/messages``) answers errors
in, and the only implementation of it: there is no fallback elsewhere, so disabling this plugin
needs another ``gateway_error_body`` implementation answering for ``api="openai"``.
"""

from __future__ import annotations

from typing import Any

from sluicegate.errors import GatewayError
from sluicegate.hookspecs import hookimpl


def openai_error_body(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }


@hookimpl(trylast=True)
def gateway_error_body(error, request_id, api):
    if api != "openai":
        return None
    return openai_error_body(error, request_id)
