"""Default plugin: error responses in the Anthropic shape, for the ``/v1/messages`` entrance."""

from __future__ import annotations

from sluicegate.hookspecs import hookimpl
from sluicegate.translate.anthropic_inbound import anthropic_error_body


@hookimpl(trylast=True)
def gateway_error_body(error, request_id, api):
    if api != "anthropic":
        return None
    return anthropic_error_body(error.message, error.status, error.code, request_id)
