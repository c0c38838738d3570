"""Per-target output caps: a request asking for more output than a target accepts is lowered.

A provider's ``max_output_tokens`` is its targets' cap (``Target.output_cap``, decided at
assembly). Clients ask for what their favourite model allows (Claude Code sends
``max_tokens: 64000``); a vendor with a smaller limit would refuse the request with a 400, so
the router hands each target a copy of the request with the limit lowered to that target's cap.
The copy also carries the target's model name, so a pass-through provider sends its bytes as
they are: the body is encoded once for the target, not once here and again for the rename.
"""

from __future__ import annotations

import attrs
import orjson

from sluicegate.exchange import Endpoint, GatewayRequest
from sluicegate.routing import Target

#: The body fields that bound the output, per operation.
LIMIT_FIELDS: dict[Endpoint, tuple[str, ...]] = {
    Endpoint.CHAT: ("max_tokens", "max_completion_tokens"),
    Endpoint.COMPLETIONS: ("max_tokens",),
    Endpoint.MESSAGES: ("max_tokens",),
    Endpoint.RESPONSES: ("max_output_tokens",),
}


def fit_to_target(req: GatewayRequest, target: Target) -> GatewayRequest:
    """``req`` as ``target`` may receive it: the same object when nothing is above its cap."""
    cap = target.output_cap
    if cap is None:
        return req
    fields = LIMIT_FIELDS.get(req.endpoint)
    if fields is None:
        return req
    body = req.body
    lowered = {name: cap for name in fields if _above(body.get(name), cap)}
    if not lowered:
        return req
    fitted = {**body, **lowered, "model": target.model}
    return attrs.evolve(req, body=fitted, raw=orjson.dumps(fitted))


def _above(value: object, cap: int) -> bool:
    # Only a well-formed limit is lowered; anything else is the vendor's to judge as sent.
    return type(value) is int and value > cap
