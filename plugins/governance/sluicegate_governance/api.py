"""The governance admin API: teams and issued keys (create, change, revoke, rotate, delete), usage
by key, team, model or provider over time, and the request log with cursor pagination.

The routes live under ``/admin/api`` and are guarded exactly like the admin plugin's own: off
(404, as if absent) unless ``[admin]`` is on, then its bearer token and its guess throttle.
They act on the serving assembly's ``Governance`` (the ``store`` extension), read per request so
a reload is seen; without ``[store]`` they answer 404 ``store_not_configured``. Writes go through
the ``Governance`` so this instance serves them at once (the others within a store poll).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import orjson
from aiohttp import web

from sluicegate.errors import GatewayError, InvalidRequest, MethodNotAllowed, PayloadTooLarge
from sluicegate.gateway import Gateway
from sluicegate.hookspecs import hookimpl
from sluicegate.server.keys import REQUEST_ID
from sluicegate_admin.body import MAX_BODY, parse_json
from sluicegate_admin.routes import authorize, serving_admin
from sluicegate_governance import key_info
from sluicegate_governance.bodies import key_values, parse_time, team_values
from sluicegate_governance.hub import Governance
from sluicegate_governance.issued import digest, new_id, new_secret, shown_prefix
from sluicegate_governance.keycache import KeyIndex
from sluicegate_governance.model import Granularity, GroupBy, Team, VirtualKey
from sluicegate_governance.protocols import Conflict, StoreUnavailable
from sluicegate_governance.spending import from_counters, key_owner, team_owner
from sluicegate_governance.views import iso, key_view, log_view, team_view, usage_total, usage_view

#: Seconds one admin call may spend on the store (its engine bounds each statement too).
CALL_TIMEOUT = 30.0
HOUR = 3600.0
DAY = 86400.0
#: Widest usage window per granularity, and the window when none is asked.
# Hourly series are asked for a week at most (168 buckets, as OpenAI's usage API): by key over
# a month that is 100,000+ points, more than any chart shows and slow to read.
MAX_SPAN = {Granularity.HOUR: 7 * DAY, Granularity.DAY: 400 * DAY}
DEFAULT_SPAN = {Granularity.HOUR: DAY, Granularity.DAY: 30 * DAY}
WIDTH = {Granularity.HOUR: HOUR, Granularity.DAY: DAY}
DEFAULT_PAGE = 50
MAX_PAGE = 500

Handler = Callable[[web.Request, Governance], Awaitable[web.StreamResponse]]


def json_response(request: web.Request, data: Any, status: int = 200) -> web.Response:
    # no-store: a created key's secret must not sit in a cache between the admin and here.
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                        headers={"x-request-id": request[REQUEST_ID], "Cache-Control": "no-store"})


def not_found(what: str, ident: str) -> GatewayError:
    shown = ident if len(ident) <= 64 and ident.isprintable() else "(the id given)"
    return GatewayError(f"No {what} {shown!r}.", status=404, type="invalid_request_error", code=f"{what}_not_found")


def conflict(message: str, code: str = "conflict") -> GatewayError:
    return GatewayError(message, status=409, type="invalid_request_error", code=code)


async def read_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge("The request body is too large.")
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > MAX_BODY:
            raise PayloadTooLarge("The request body is too large.")
    return parse_json(bytes(data))


class GovernanceRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def install(self, app: web.Application) -> None:
        add = self._resource(app)
        add("/admin/api/teams", GET=self.list_teams, POST=self.create_team)
        add("/admin/api/teams/{id}", GET=self.get_team, PATCH=self.change_team, DELETE=self.delete_team)
        add("/admin/api/keys", GET=self.list_keys, POST=self.create_key)
        add("/admin/api/keys/{id}", GET=self.get_key, PATCH=self.change_key, DELETE=self.delete_key)
        add("/admin/api/keys/{id}/revoke", POST=self.revoke_key)
        add("/admin/api/keys/{id}/rotate", POST=self.rotate_key)
        add("/admin/api/usage", GET=self.usage)
        add("/admin/api/logs", GET=self.logs)

    def _resource(self, app: web.Application) -> Callable[..., None]:
        def add(path: str, **methods: Handler) -> None:
            async def dispatch(request: web.Request) -> web.StreamResponse:
                serving_admin(self.gateway, request)  # admin off: 404, as if the route did not exist
                handler = methods.get(request.method)
                if handler is None:
                    raise MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}",
                                           headers={"Allow": ", ".join(sorted(methods))})
                authorize(self.gateway, request)
                governance = self._governance()
                try:
                    async with asyncio.timeout(CALL_TIMEOUT):
                        return await handler(request, governance)
                except StoreUnavailable as exc:  # its message is safe to show: no URL, no password
                    raise GatewayError(f"The store is unavailable: {exc}", status=503, type="server_error",
                                       code="store_unavailable", retryable=True) from None
                except TimeoutError:
                    raise GatewayError("The store did not answer in time.", status=503, type="server_error",
                                       code="store_unavailable", retryable=True) from None

            app.router.add_route("*", path, dispatch)

        return add

    def _governance(self) -> Governance:
        assembly = self.gateway.current
        governance = assembly.extensions.get(key_info.STORE) if assembly is not None else None
        if governance is None:
            raise GatewayError(
                "Keys, teams and usage need the store: add a [store] table to gateway.toml "
                "(SQLite beside it by default) and reload.",
                status=404, type="invalid_request_error", code="store_not_configured")
        return governance

    @staticmethod
    async def _index(governance: Governance) -> KeyIndex:
        """The keys and teams as the store has them now (a version check; reloaded if moved)."""
        await governance.refresh()
        return governance.index

    # -- teams ----------------------------------------------------------------------------------

    async def _team_views(self, governance: Governance, index: KeyIndex, teams: list[Team]) -> list[dict[str, Any]]:
        members: dict[str, int] = {}
        for grant in index.by_id.values():
            if grant.key.team_id is not None:
                members[grant.key.team_id] = members.get(grant.key.team_id, 0) + 1
        spends = await from_counters(governance.counters, [team_owner(team) for team in teams],
                                     governance.wall_clock())
        return [team_view(team, keys=members.get(team.id, 0), spend=spends["team:" + team.id]) for team in teams]

    async def list_teams(self, request: web.Request, governance: Governance) -> web.Response:
        index = await self._index(governance)
        teams = sorted(index.teams.values(), key=lambda team: (team.name, team.id))
        return json_response(request, {"object": "list", "data": await self._team_views(governance, index, teams)})

    async def _team(self, request: web.Request, governance: Governance) -> tuple[KeyIndex, Team]:
        index = await self._index(governance)
        team_id = request.match_info["id"]
        team = index.teams.get(team_id)
        if team is None:
            raise not_found("team", team_id)
        return index, team

    async def get_team(self, request: web.Request, governance: Governance) -> web.Response:
        index, team = await self._team(request, governance)
        return json_response(request, (await self._team_views(governance, index, [team]))[0])

    async def _put_team(self, governance: Governance, team: Team) -> None:
        try:
            await governance.put_team(team)
        except Conflict as exc:
            raise conflict(f"The team was not saved: {exc}.") from None

    async def create_team(self, request: web.Request, governance: Governance) -> web.Response:
        values = team_values(await read_body(request), None)
        now = governance.wall_clock()
        team = Team(id=new_id("team"), created_at=now, updated_at=now, **values)
        await self._put_team(governance, team)
        return json_response(request, (await self._team_views(governance, governance.index, [team]))[0], 201)

    async def change_team(self, request: web.Request, governance: Governance) -> web.Response:
        body = await read_body(request)
        _, team = await self._team(request, governance)
        team = attrs.evolve(team, updated_at=governance.wall_clock(), **team_values(body, team))
        await self._put_team(governance, team)
        return json_response(request, (await self._team_views(governance, governance.index, [team]))[0])

    async def delete_team(self, request: web.Request, governance: Governance) -> web.Response:
        team_id = request.match_info["id"]
        try:
            deleted = await governance.delete_team(team_id)
        except Conflict as exc:
            raise conflict(f"The team was not deleted: {exc}; move or delete its keys first.",
                           "team_has_keys") from None
        if not deleted:
            raise not_found("team", team_id)
        return json_response(request, {"id": team_id, "object": "team", "deleted": True})

    # -- keys -----------------------------------------------------------------------------------

    async def _key_views(self, governance: Governance, keys: list[VirtualKey],
                         secret: str | None = None) -> list[dict[str, Any]]:
        now = governance.wall_clock()
        spends = await from_counters(governance.counters, [key_owner(key) for key in keys], now)
        return [key_view(key, now=now, spend=spends["key:" + key.id], secret=secret) for key in keys]

    async def list_keys(self, request: web.Request, governance: Governance) -> web.Response:
        index = await self._index(governance)
        team_id = request.query.get("team")
        if team_id is not None and team_id not in index.teams:
            raise not_found("team", team_id)
        keys = sorted((grant.key for grant in index.by_id.values() if team_id is None or grant.key.team_id == team_id),
                      key=lambda key: (key.created_at, key.id))
        return json_response(request, {"object": "list", "data": await self._key_views(governance, keys)})

    async def _key(self, request: web.Request, governance: Governance) -> tuple[KeyIndex, VirtualKey]:
        index = await self._index(governance)
        key_id = request.match_info["id"]
        grant = index.by_id.get(key_id)
        if grant is None:
            raise not_found("key", key_id)
        return index, grant.key

    async def get_key(self, request: web.Request, governance: Governance) -> web.Response:
        _, key = await self._key(request, governance)
        return json_response(request, (await self._key_views(governance, [key]))[0])

    async def _put_key(self, governance: Governance, index: KeyIndex, key: VirtualKey) -> None:
        if key.team_id is not None and key.team_id not in index.teams:
            raise InvalidRequest(f"team_id: there is no team {key.team_id!r}.", param="team_id",
                                 code="invalid_value")
        try:
            await governance.put_key(key)
        except Conflict as exc:
            raise conflict(f"The key was not saved: {exc}.") from None

    async def create_key(self, request: web.Request, governance: Governance) -> web.Response:
        values = key_values(await read_body(request), None)
        index = await self._index(governance)
        secret = new_secret()
        now = governance.wall_clock()
        key = VirtualKey(id=new_id("key"), digest=digest(secret), prefix=shown_prefix(secret),
                         created_at=now, updated_at=now, **values)
        await self._put_key(governance, index, key)
        return json_response(request, (await self._key_views(governance, [key], secret))[0], 201)

    async def change_key(self, request: web.Request, governance: Governance) -> web.Response:
        body = await read_body(request)
        index, key = await self._key(request, governance)
        values = key_values(body, key)
        if values.get("enabled") and key.revoked_at is not None:
            raise conflict("A revoked key stays revoked; create a new key instead.", "key_revoked")
        key = attrs.evolve(key, updated_at=governance.wall_clock(), **values)
        await self._put_key(governance, index, key)
        return json_response(request, (await self._key_views(governance, [key]))[0])

    async def revoke_key(self, request: web.Request, governance: Governance) -> web.Response:
        index, key = await self._key(request, governance)
        if key.revoked_at is None:
            now = governance.wall_clock()
            key = attrs.evolve(key, enabled=False, revoked_at=now, updated_at=now)
            await self._put_key(governance, index, key)
        return json_response(request, (await self._key_views(governance, [key]))[0])

    async def rotate_key(self, request: web.Request, governance: Governance) -> web.Response:
        index, key = await self._key(request, governance)
        if key.revoked_at is not None:
            raise conflict("A revoked key cannot be rotated; create a new key instead.", "key_revoked")
        secret = new_secret()
        key = attrs.evolve(key, digest=digest(secret), prefix=shown_prefix(secret),
                           updated_at=governance.wall_clock())
        await self._put_key(governance, index, key)
        return json_response(request, (await self._key_views(governance, [key], secret))[0])

    async def delete_key(self, request: web.Request, governance: Governance) -> web.Response:
        key_id = request.match_info["id"]
        if not await governance.delete_key(key_id):
            raise not_found("key", key_id)
        return json_response(request, {"id": key_id, "object": "key", "deleted": True})

    # -- usage and the log ----------------------------------------------------------------------

    async def usage(self, request: web.Request, governance: Governance) -> web.Response:
        query = request.query
        granularity = _choice(query, "granularity", Granularity, Granularity.DAY)
        group_by = _choice(query, "group_by", GroupBy, None)
        start, end = usage_window(query, granularity, governance.wall_clock())
        points = await governance.store.usage(
            start=start, end=end, granularity=granularity, group_by=group_by, key_id=_text(query, "key"),
            team_id=_text(query, "team"), alias=_text(query, "model"), provider=_text(query, "provider"))
        return json_response(request, {
            "object": "usage", "start": iso(start), "end": iso(end), "granularity": granularity.value,
            "group_by": group_by.value if group_by is not None else None,
            "data": [usage_view(point) for point in points], "total": usage_total(points),
        })

    async def logs(self, request: web.Request, governance: Governance) -> web.Response:
        query = request.query
        start = _time(query, "start")
        end = _time(query, "end")
        limit = _whole(query, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        status = _whole(query, "status", None, 100, 599)
        try:
            page = await governance.store.logs(
                start=start, end=end, key_id=_text(query, "key"), team_id=_text(query, "team"),
                alias=_text(query, "model"), provider=_text(query, "provider"), status=status,
                cursor=_text(query, "cursor"), limit=limit)
        except ValueError:
            # Every other argument was checked above: it is the cursor.
            raise InvalidRequest("cursor: not a cursor this API gave (use next_cursor as it came).",
                                 param="cursor", code="invalid_cursor") from None
        return json_response(request, {"object": "list", "data": [log_view(row) for row in page.rows],
                                       "next_cursor": page.next_cursor})


def _text(query: Any, name: str) -> str | None:
    return query.get(name) or None  # an empty filter is no filter


def _choice(query: Any, name: str, kind: Any, default: Any) -> Any:
    given = query.get(name)
    if given is None or given == "":
        return default
    try:
        return kind(given)
    except ValueError:
        raise InvalidRequest(f"{name}: must be one of {', '.join(item.value for item in kind)}.", param=name,
                             code="invalid_value") from None


def _time(query: Any, name: str) -> float | None:
    given = query.get(name)
    return None if given is None or given == "" else parse_time(given, name)


def _whole(query: Any, name: str, default: int | None, low: int, high: int) -> int | None:
    given = query.get(name)
    if given is None or given == "":
        return default
    if not given.isdigit() or not low <= int(given) <= high:
        raise InvalidRequest(f"{name}: must be a whole number from {low} to {high}.", param=name,
                             code="invalid_value")
    return int(given)


def usage_window(query: Any, granularity: Granularity, now: float) -> tuple[float, float]:
    """``[start, end)`` widened to whole buckets, so each bucket shown is all of its hour or day."""
    width = WIDTH[granularity]
    end = _time(query, "end")
    end = now if end is None else end
    start = _time(query, "start")
    start = end - DEFAULT_SPAN[granularity] if start is None else start
    start, end = math.floor(start / width) * width, math.ceil(end / width) * width
    if end <= start:
        raise InvalidRequest("start: must be before end.", param="start", code="invalid_value")
    if end - start > MAX_SPAN[granularity]:
        days = int(MAX_SPAN[granularity] // DAY)
        raise InvalidRequest(f"end: at most {days} days of usage by the {granularity.value} at once.",
                             param="end", code="invalid_value")
    return start, end


@hookimpl
def gateway_app_created(app: web.Application, gateway: Gateway) -> None:
    """Added whether or not [admin] and [store] are on now: a reload may switch either, and
    each request checks the serving assembly."""
    GovernanceRoutes(gateway).install(app)
    key_info.install(app)
