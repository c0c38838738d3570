"""``GET /v1/key/info``: an issued key asks about itself: its name, team, models, limits, budget,
spend and reservations this period, and expiry.

The caller is authenticated like any API call (every authenticator of the serving assembly), so
an unknown, revoked or expired key gets the same 401 it would get on a completion. The answer
comes from memory (the key index and the spend counters): no database call.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sluicegate.errors import GatewayError
from sluicegate.server.keys import ASSEMBLY, REQUEST_ID
from sluicegate_governance.keycache import Grant
from sluicegate_governance.spending import from_counters, key_owner, team_owner
from sluicegate_governance.views import budget_view, key_view, limits_view, spend_view

PATH = "/v1/key/info"
#: The ``Governance`` extension's name (``[store]``).
STORE = "store"


def not_issued() -> GatewayError:
    return GatewayError(
        "Key info exists only for keys this gateway issued (sk-sg-...); this request was not made "
        "with one.", status=404, type="invalid_request_error", code="key_info_unavailable")


async def key_info(request: web.Request) -> web.Response:
    assembly = request[ASSEMBLY]
    identity = await assembly.authenticate(request.headers)
    grant = identity.grant if identity is not None else None
    governance = assembly.extensions.get(STORE)
    if not isinstance(grant, Grant) or governance is None:
        raise not_issued()
    key, team = grant.key, grant.team
    now = governance.wall_clock()
    owners = [key_owner(key)] + ([team_owner(team)] if team is not None else [])
    spends = await from_counters(governance.counters, owners, now)
    view = key_view(key, now=now, spend=spends["key:" + key.id])
    team_part: dict[str, Any] | None = None
    if team is not None:
        # What bounds this key: the team's limits and budget; the team's notes are the operator's.
        team_part = {"id": team.id, "name": team.name, "limits": limits_view(team.limits),
                     "budget": budget_view(team.budget), "spend": spend_view(spends["team:" + team.id])}
    view["team"] = team_part
    del view["metadata"]  # the operator's notes about the key, not the client's business
    return web.Response(body=orjson.dumps(view), content_type="application/json",
                        headers={"x-request-id": request[REQUEST_ID], "Cache-Control": "no-store"})


def install(app: web.Application) -> None:
    app.router.add_get(PATH, key_info)
