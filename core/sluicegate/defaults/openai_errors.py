"""Default plugin: error responses in the OpenAI shape, for the OpenAI-compatible routes."""

from __future__ import annotations

from sluicegate.errors import openai_error_body
from sluicegate.hookspecs import hookimpl


@hookimpl(trylast=True)
def gateway_error_body(error, request_id, api):
    if api != "openai":
        return None
    return openai_error_body(error, request_id)
