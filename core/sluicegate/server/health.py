"""Health routes: ``/health`` (state of every provider, from memory), ``/health/live``, ``/health/ready``.

None of them does I/O: a probe must answer fast exactly when vendors do not. Active checks (the
``health_checks`` extension) run in the background and are only read here.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from sluicegate import __version__
from sluicegate.secrets import mask_url
from sluicegate.server.handlers import json_response
from sluicegate.server.keys import GATEWAY
from sluicegate.server.target_rows import fold_unlisted

# Worst first: a provider shows the worst state among its targets.
_SEVERITY = {"open": 2, "half_open": 1, "closed": 0}


def target_states(assembly: Any) -> dict[str, dict[str, Any]]:
    """Per (provider, model) target that has been used: breaker state and live numbers.

    Only configured targets get a row each; other models are summed per provider ("provider/*").
    """
    targets: dict[str, dict[str, Any]] = {}
    if assembly.breakers is not None:
        for label, snapshot in assembly.breakers.snapshot().items():
            targets[label] = {"breaker": snapshot.pop("state"), **snapshot}
    for label, snapshot in assembly.stats.snapshot(assembly.router_clock()).items():
        targets.setdefault(label, {"breaker": "closed"}).update(snapshot)
    return fold_unlisted(targets, assembly.telemetry.target_label)


async def health(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    assembly = gateway.current
    targets = target_states(assembly)
    probes = assembly.extensions.get("health_checks")
    providers = {}
    for name, provider in assembly.providers.items():
        entry = provider.describe()
        if "base_url" in entry:  # /health needs no token: never trust a plugin's describe() to mask
            entry["base_url"] = mask_url(entry["base_url"])
        entry.update(provider_summary(name, targets))
        if probes is not None:
            entry["probe"] = probes.result(name)
        providers[name] = entry
    last = gateway.last_reload
    return json_response(
        {
            "status": "ok",
            "ready": gateway.accepting,
            "version": __version__,
            "uptime_s": round(time.monotonic() - gateway.started, 1),
            "providers": providers,
            "targets": targets,
            "models": list(assembly.router.aliases),
            "middlewares": assembly.middleware_names,
            "extensions": list(assembly.extensions),
            "config": {
                "source": assembly.config.source,
                "last_reload": {"ok": last.ok, "at": last.at, "problems": len(last.problems)},
            },
        },
        request,
    )


def provider_summary(provider: str, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One provider's numbers over its targets: worst breaker, calls and errors of the last
    minute, the fastest time to first byte, the latest error."""
    prefix = provider + "/"
    mine = [snap for label, snap in targets.items() if label.startswith(prefix)]
    calls = sum(snap.get("calls_1m", 0) for snap in mine)
    errors = sum(snap.get("errors_1m", 0) for snap in mine)
    ttfbs = [snap["ewma_ttfb_ms"] for snap in mine if snap.get("ewma_ttfb_ms") is not None]
    states = [snap["breaker"] for snap in mine]
    latest = max((snap for snap in mine if snap.get("last_error_at")), key=lambda s: s["last_error_at"], default=None)
    summary: dict[str, Any] = {
        "breaker": max(states, key=_SEVERITY.__getitem__, default="closed"),
        # A "provider/*" row sums several targets and counts its open ones itself.
        "open_targets": sum(snap.get("open_targets", snap["breaker"] == "open") for snap in mine),
        "calls_1m": calls,
        "errors_1m": errors,
        "error_rate_1m": round(errors / calls, 3) if calls else None,
        "ewma_ttfb_ms": min(ttfbs, default=None),
    }
    if latest is not None:
        summary["last_error"] = latest["last_error"]
        summary["last_error_at"] = latest["last_error_at"]
    return summary


async def live(request: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer."""
    return json_response({"status": "ok"}, request)


async def ready(request: web.Request) -> web.Response:
    """Readiness: a config is loaded and the server is not shutting down (503 while draining)."""
    gateway = request.app[GATEWAY]
    if gateway.current is None or not gateway.accepting:
        return json_response({"status": "draining"}, request, status=503)
    usable = sum(provider.configured for provider in gateway.current.providers.values())
    return json_response({"status": "ready", "configured_providers": usable}, request)
