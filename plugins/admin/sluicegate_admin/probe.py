"""``POST /admin/api/providers/{id}/test``: one real, minimal chat request to one provider.

It goes where a client's request for ``<id>/<model>`` goes, through the serving assembly's
router to the provider's own adapter (its URL, key, vendor headers and translation, the
gateway's HTTP session), but not through the chain around it: no cache (a cached answer would
prove nothing), no client limits or budgets (the operator is no client), no retries and no
breaker or traffic numbers (a test must not open a breaker or show up as traffic). The answer
says whether it worked, the vendor's status, how long it took, and the error with every secret
scrubbed from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from attrs import define
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.config.schema import GatewayConfig
from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.exchange import Endpoint, GatewayRequest, RequestContext, StreamReply
from sluicegate.secrets import config_secrets, scrub

log = logging.getLogger("sluicegate.admin")

#: Seconds a test may take in all (the provider's own timeouts apply inside it).
TEST_TIMEOUT = 30.0
PROMPT = "Reply with the word OK."
#: Enough for a word; a reasoning model may spend it all thinking and still answer 200.
MAX_TOKENS = 16
MAX_ERROR = 500
_OPENAI_HOST = "api.openai.com"


@define(frozen=True)
class ProbeResult:
    ok: bool
    status: int | None  # the vendor's HTTP status, when it answered
    latency_ms: float
    model: str
    error: str | None = None  # scrubbed
    code: str | None = None  # the gateway's error code (upstream_401, upstream_timeout, ...)

    def view(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "latency_ms": self.latency_ms, "model": self.model,
                "error": self.error, "code": self.code}


def default_model(config: GatewayConfig, provider_id: str) -> str | None:
    """The provider's first listed model, else the first one an alias sends to it."""
    options = config.providers.get(provider_id)
    if options is not None and options.models:
        return options.models[0]
    for model in config.models.values():
        for target in (*model.targets, *model.context_fallbacks):
            owner, _, upstream = target.partition("/")
            if owner == provider_id and upstream and upstream != "*":
                return upstream
    return None


def _limit_field(provider: Any) -> str:
    # OpenAI's own API refuses max_tokens for its reasoning models; every other vendor (and
    # every translating adapter) takes max_tokens.
    base_url = getattr(provider.options, "base_url", None) or ""
    try:
        host = urlsplit(base_url).hostname
    except ValueError:
        host = None
    return "max_completion_tokens" if provider.type == "openai" and host == _OPENAI_HOST else "max_tokens"


def _vendor_status(error: GatewayError) -> int | None:
    if isinstance(error, UpstreamUnavailable | UpstreamTimeout) or not isinstance(error, UpstreamError):
        return None  # no HTTP answer came (or no call was made)
    return error.status


async def probe_provider(assembly: Any, provider_id: str, model: str, request_id: str,
                        clock: Callable[[], float], limit: float = TEST_TIMEOUT) -> ProbeResult:
    """Send the test; never raises for what the vendor or the network did."""
    route = assembly.router.resolve(f"{provider_id}/{model}")
    target = route.targets[0]
    provider = target.provider
    body = {"model": target.model, "messages": [{"role": "user", "content": PROMPT}],
            _limit_field(provider): MAX_TOKENS}
    req = GatewayRequest(Endpoint.CHAT, body, None, route.name, False, route.targets, route)
    ctx = RequestContext(request_id, None, CIMultiDictProxy(CIMultiDict()), clock())
    secrets = (*provider.secrets(), *config_secrets(assembly.config))

    started = clock()

    def elapsed() -> float:
        return round((clock() - started) * 1000, 1)

    def failed(message: str, code: str | None, status: int | None = None) -> ProbeResult:
        cleaned = scrub(message, secrets)
        if len(cleaned) > MAX_ERROR:
            cleaned = cleaned[:MAX_ERROR] + "..."
        return ProbeResult(False, status, elapsed(), target.model, cleaned, scrub(code, secrets) if code else None)

    try:
        provider.check_request(req)
        async with asyncio.timeout(limit):
            result = await provider.senders[Endpoint.CHAT](ctx, req.for_target(target), target)
    except TimeoutError:
        return failed(f"provider {provider_id!r} did not answer within {limit:g}s", "upstream_timeout")
    except GatewayError as error:
        return failed(error.message, error.code, _vendor_status(error))
    except Exception as exc:  # an adapter's bug: the traceback is for the log, not the page
        log.exception("admin: testing provider %s failed unexpectedly", provider_id)
        return failed(f"the adapter failed unexpectedly ({exc.__class__.__name__})", "internal_error")
    if isinstance(result, StreamReply):  # not asked for; close it rather than leak the connection
        await result.aclose()
        return ProbeResult(True, 200, elapsed(), target.model)
    return ProbeResult(True, result.status, elapsed(), target.model)
