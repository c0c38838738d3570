"""Error bodies in the OpenAI shape plus the request id, for clients that log it from the body.
Runs before the default (which is ``trylast``); other APIs keep their default shape."""

from sluicegate import hookimpl
from sluicegate.defaults.openai_errors import openai_error_body


@hookimpl
def gateway_error_body(error, request_id, api):
    if api != "openai":
        return None
    return {**openai_error_body(error, request_id), "request_id": request_id}
