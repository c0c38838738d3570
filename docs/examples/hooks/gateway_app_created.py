"""A route of one's own: ``GET /models/count`` answers how many aliases the serving config has.
It reads ``gateway.current`` per request, so a reload is seen at once."""

from aiohttp import web

from sluicegate import hookimpl


@hookimpl
def gateway_app_created(app, gateway):
    async def count(request):
        return web.json_response({"aliases": len(gateway.current.config.models)})

    app.router.add_get("/models/count", count)
