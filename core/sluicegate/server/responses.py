"""The Responses API entrance around the chain: stored conversations, and the stored-response routes.

``POST /v1/responses`` runs through ``handlers.api_handler`` like every API call; a ``Turn``
adds what is particular to it:

- before routing: ``previous_response_id`` is looked up in the store, scoped to the client's
  tenant (unknown, expired or another client's: a 404), and the stored conversation (each
  turn's input items and output items, oldest first) is put before this request's ``input``.
  The earlier turns' ``instructions`` are not carried over: as on OpenAI, they apply to the
  request that gives them. An id the store does not hold is never passed on to a native vendor
  either: the gateway calls it with one key for every client, so the vendor's own store would
  let one client continue another's conversation.
- the bridged answer's id is stamped before the chain runs (``resp_<hex>``), so every event of a
  stream and every retry or fallback carries the same one; a native vendor's id is kept.
- after: the Response is stored (unless ``store: false``) before its last byte reaches the
  client, a stream's just before its ``response.completed`` (or ``response.incomplete``) event
  is handed on, so a client that reads that event and at once names the response in a follow-up
  finds it.
- a stream that breaks after its first byte ends with ``response.failed`` (bridged answers,
  whose Response the gateway holds) and an ``error`` event: both OpenAI's documented fields
  (``code``, ``message``, ``param``) and the ``error`` object OpenAI really sends, on which the
  openai SDKs raise.

``GET``/``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items`` read the same
store, with the same tenant scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from sluicegate.errors import GatewayError, InvalidRequest
from sluicegate.exchange import GatewayRequest, RequestContext, Result, SSEEvent, StreamReply
from sluicegate.features.response_store import ResponseNotFound, ResponseStore, StoredResponse, usable_id
from sluicegate.server.keys import ASSEMBLY, REQUEST_ID
from sluicegate.translate.responses_bridge import turn_of
from sluicegate.translate.responses_chat import input_items, output_history

_NO_RETRY = {"x-should-retry": "false"}
# The stream events whose Response is stored: a finished answer, whole or cut short.
_FINISHED = frozenset({"response.completed", "response.incomplete"})
# input_items pages: OpenAI's default and largest page.
_PAGE = 20
_MAX_PAGE = 100


class Turn:
    """One ``POST /v1/responses`` on its way through the chain: what to store when it is answered."""

    __slots__ = ("store", "tenant", "shared", "items", "previous", "keep", "sent")

    def __init__(self, store: ResponseStore, tenant: str | None, ctx: RequestContext,
                 items: list[dict[str, Any]], previous: str | None, keep: bool) -> None:
        self.store = store
        self.tenant = tenant
        # The request's stamp (made here, before the chain runs) and what the bridge reports.
        self.shared = turn_of(ctx)
        self.items = items  # this request's own input items, normalised: what input_items lists
        self.previous = previous
        self.keep = keep
        self.sent = 0  # stream events handed on: a native stream's next sequence number

    async def finish(self, result: Result) -> Result:
        """Store a complete answer now, a stream's when its last event passes."""
        if isinstance(result, StreamReply):
            return StreamReply(self._events(result.events), headers=result.headers, on_close=result.aclose)
        if result.status == 200 and (self.keep or self.previous is not None):
            response = result.data
            if self._echo(response):
                result.replace_data(response)
            if self.keep:
                await self._put(response)
        return result

    async def _events(self, events: AsyncIterator[SSEEvent]) -> AsyncIterator[SSEEvent]:
        async for event in events:
            if not self.sent:
                # A bridged attempt that broke before this first event was failed over: a break
                # from here on is this stream's own.
                self.shared.broken = None
            if event.event in _FINISHED and (self.keep or self.previous is not None):
                # The bridge leaves its final Response here; a native stream's is in the event.
                final = self.shared.final
                if final is None:
                    data = _parsed(event)
                    final = data.get("response")
                    if self._echo(final):
                        event = SSEEvent(orjson.dumps(data), event.event, more=event.more)
                if self.keep:
                    await self._put(final)
            self.sent += 1
            yield event

    def _echo(self, response: Any) -> bool:
        """Name the replayed previous response in the answer, as OpenAI does; a native vendor
        was not sent the id (it got the conversation itself). True when the answer changed."""
        if self.previous is None or not isinstance(response, dict) or response.get("previous_response_id"):
            return False
        response["previous_response_id"] = self.previous
        return True

    async def _put(self, response: Any) -> None:
        # A vendor's answer without a usable id cannot be stored (nor named in a follow-up).
        if isinstance(response, dict) and usable_id(response.get("id")) and response["id"] != self.previous:
            await self.store.put(self.tenant, StoredResponse(response, self.items, self.previous))

    def inband_error(self, error: GatewayError, body: Any) -> bytes:
        """The frames that end a stream broken after its first byte (``handlers.write_stream``)."""
        frames = b""
        sequence = self.sent
        translator = self.shared.broken
        if translator is not None:
            for name, event in translator.fail(error):
                frames += SSEEvent.from_data(event, name).frame()
                sequence = event["sequence_number"] + 1
        detail = body.get("error") if isinstance(body, dict) else None
        if not isinstance(detail, dict):
            detail = {"message": error.message, "type": error.type, "param": error.param, "code": error.code}
        event = {
            "type": "error",
            "sequence_number": sequence,
            "code": detail.get("code"),
            "message": detail.get("message"),
            "param": detail.get("param"),
            "error": detail,
        }
        return frames + SSEEvent.from_data(event, "error").frame()


async def begin(
    store: ResponseStore, tenant: str | None, ctx: RequestContext, req: GatewayRequest
) -> tuple[Turn, GatewayRequest]:
    """Stamp the request's id, and replay the conversation ``previous_response_id`` names into
    it: the turn, and the request to route (a new one when it was replayed into)."""
    body = req.body
    previous = body.get("previous_response_id")
    keep = body.get("store") is not False
    items = input_items(body) if keep else []
    if previous is not None:
        chain = await store.history(tenant, previous)
        if chain is None:
            raise ResponseNotFound(
                f"Previous response with id '{previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history: list[dict[str, Any]] = []
        for turn in chain:
            history += turn.input_items
            history += output_history(turn.response)
        given = body.get("input")
        if isinstance(given, str):
            given = [{"role": "user", "content": given}]
        req = req.replace(body={**body, "input": history + (given or [])})
    return Turn(store, tenant, ctx, items, previous, keep), req


def _parsed(event: SSEEvent) -> dict[str, Any]:
    try:
        data = event.json()
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


# --- the stored-response routes ---------------------------------------------------------------


async def get_response(request: web.Request) -> web.Response:
    store, tenant = await _store_and_tenant(request)
    response_id = request.match_info["response_id"]
    if request.query.get("stream") in ("true", "1"):
        raise InvalidRequest("Streaming a stored response is not supported by this gateway.", param="stream",
                             code="unsupported_parameter", headers=dict(_NO_RETRY))
    stored = await store.get(tenant, response_id)
    if stored is None:
        raise _not_found(response_id)
    return _json(request, stored.response)


async def delete_response(request: web.Request) -> web.Response:
    store, tenant = await _store_and_tenant(request)
    response_id = request.match_info["response_id"]
    if not await store.delete(tenant, response_id):
        raise _not_found(response_id)
    return _json(request, {"id": response_id, "object": "response.deleted", "deleted": True})


async def list_input_items(request: web.Request) -> web.Response:
    """A page of the response's own input items (not the replayed ones), as OpenAI lists them:
    newest first unless ``order=asc``, ``limit`` items (1-100, default 20) after ``after``."""
    store, tenant = await _store_and_tenant(request)
    response_id = request.match_info["response_id"]
    query = request.query
    limit = _limit(query.get("limit"))
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'", param="order", code="invalid_value",
                             headers=dict(_NO_RETRY))
    stored = await store.get(tenant, response_id)
    if stored is None:
        raise _not_found(response_id)
    items = stored.input_items if order == "asc" else stored.input_items[::-1]
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequest(f"No input item with id '{after}' in response '{response_id}'.", param="after",
                                 code="invalid_value", headers=dict(_NO_RETRY))
        items = items[ids.index(after) + 1:]
    page = items[:limit]
    return _json(request, {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    })


def _limit(given: str | None) -> int:
    if given is None:
        return _PAGE
    try:
        limit = int(given)
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_PAGE:
        raise InvalidRequest(f"'limit' must be an integer from 1 to {_MAX_PAGE}", param="limit",
                             code="invalid_value", headers=dict(_NO_RETRY))
    return limit


async def _store_and_tenant(request: web.Request) -> tuple[ResponseStore, str | None]:
    assembly = request[ASSEMBLY]
    identity = await assembly.authenticate(request.headers)
    return assembly.responses, identity.tenant if identity is not None else None


def _not_found(response_id: str) -> ResponseNotFound:
    return ResponseNotFound(f"Response with id '{response_id}' not found.")


def _json(request: web.Request, data: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        headers={"Content-Type": "application/json", "x-request-id": request[REQUEST_ID]},
    )
