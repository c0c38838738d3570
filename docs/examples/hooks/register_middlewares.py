"""A middleware owning ``[max_messages]``: refuses conversations longer than ``limit`` messages
before anything is sent upstream."""

from attrs import define

from sluicegate import hookimpl
from sluicegate.errors import InvalidRequest
from sluicegate.pipeline import Order
from sluicegate.plugin_options import FeatureOptions


@define(kw_only=True)
class MaxMessagesOptions(FeatureOptions):
    # Longest conversation accepted, in messages.
    limit: int = 100


def make_max_messages(options: MaxMessagesOptions, services):
    limit = options.limit  # resolved once per assembly, not per request

    async def max_messages(ctx, req, call_next):
        messages = req.body.get("messages")
        if isinstance(messages, list) and len(messages) > limit:
            raise InvalidRequest(f"at most {limit} messages per request", param="messages",
                                 code="too_many_messages")
        return await call_next(ctx, req)

    return max_messages


@hookimpl
def register_middlewares(register):
    register("max_messages", make_max_messages, options=MaxMessagesOptions, order=Order.EDGE)
