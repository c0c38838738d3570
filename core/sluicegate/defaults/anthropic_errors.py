"""Default plugin ``sluicegate.anthropic_errors``: error responses in the Anthropic shape.

For the ``/v1/messages`` entrance (and ``/v1/models`` asked by the anthropic SDK). The shape
itself belongs to the Anthropic dialect, shared with the Anthropic vendor plugin; this plugin is
the only thing that puts it on the gateway's own errors.
"""

from __future__ import annotations

from sluicegate.hookspecs import hookimpl
from sluicegate.translate.anthropic_dialect import anthropic_error_body


@hookimpl(trylast=True)
def gateway_error_body(error, request_id, api):
    if api != "anthropic":
        return None
    return anthropic_error_body(error.message, error.status, error.code, request_id)
