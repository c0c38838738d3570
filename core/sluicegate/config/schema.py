"""The core config schema: attrs classes for the tables the core itself owns."""

from __future__ import annotations

from typing import Any

from attrs import Factory, define, field
from attrs.validators import optional

from sluicegate.config.checks import at_least_one, non_negative, optional_positive, port_number, positive
from sluicegate.config.resilience import BreakerOptions, DegradeConfig, RetryConfig
from sluicegate.config.responses import ResponsesConfig

DEFAULT_CORS_HEADERS = [
    "authorization",
    "content-type",
    "x-request-id",
    "x-api-key",
    "anthropic-version",
    "openai-organization",
]


@define(kw_only=True)
class CorsConfig:
    # Origins allowed to call the gateway from a browser; ["*"] for any.
    allow_origins: list[str] = Factory(lambda: ["*"])
    # Methods answered to a preflight.
    allow_methods: list[str] = Factory(lambda: ["GET", "POST", "OPTIONS"])
    # Request headers a browser may send.
    allow_headers: list[str] = Factory(lambda: list(DEFAULT_CORS_HEADERS))
    # Response headers a browser script may read.
    expose_headers: list[str] = Factory(lambda: ["x-request-id"])
    # Send Access-Control-Allow-Credentials: true.
    allow_credentials: bool = False
    # Seconds a browser may cache a preflight answer.
    max_age: int = 600


UPSTREAM_CLIENTS = ("pool", "aiohttp")


def _upstream_client(_: Any, attribute: Any, value: str) -> None:
    if value not in UPSTREAM_CLIENTS:
        raise ValueError(f"must be one of {', '.join(UPSTREAM_CLIENTS)}; got {value!r}")


#: Who serves the API's POST operations: the gateway's own connection protocol, or aiohttp's server.
API_SERVERS = ("gateway", "aiohttp")


def _api_server(_: Any, attribute: Any, value: str) -> None:
    if value not in API_SERVERS:
        raise ValueError(f"must be one of {', '.join(API_SERVERS)}; got {value!r}")


@define(kw_only=True)
class ServerConfig:
    # Address to listen on (--host overrides it); 0.0.0.0 for every interface.
    host: str = "127.0.0.1"
    # Port to listen on (--port overrides it).
    port: int = field(default=8899, validator=port_number)
    # Request bodies larger than this (after gzip/deflate inflation) get a 413.
    max_body_mb: float = field(default=32, validator=positive)
    # Processes sharing the port (--workers overrides it); a change needs a restart.
    workers: int = field(default=1, validator=at_least_one)
    # Seconds from SIGTERM to exit: in-flight requests finish within it, streams still open at
    # its end get an in-band error event.
    shutdown_grace: float = field(default=30, validator=non_negative)
    # Seconds (within the grace) SIGTERM keeps the listener open while /health/ready answers 503,
    # so a load balancer stops sending before connections are refused.
    drain_delay: float = field(default=0, validator=non_negative)
    # A client must send a complete request head within this many seconds of connecting (or of
    # the first byte of a later request on a keep-alive connection): slowloris protection.
    header_timeout: float = field(default=10, validator=positive)
    # Longest silence while a request body is being read before the request gets a 408.
    body_idle_timeout: float = field(default=30, validator=positive)
    # An idle keep-alive connection is closed after this many seconds; above the idle timeout of
    # a load balancer in front (60 s on AWS ALB), so it never reuses a connection we just closed.
    keepalive_timeout: float = field(default=75, validator=positive)
    # Open client connections at once; None = half the process's open-file limit (ulimit -n).
    max_connections: int | None = field(default=None, validator=optional(at_least_one))
    # Open connections from one client address; None = a quarter of max_connections, 0 = no cap
    # (behind a reverse proxy every client has the proxy's address).
    max_connections_per_client: int | None = field(default=None, validator=optional(non_negative))
    # Connections kept open to all upstreams together.
    upstream_connections: int = field(default=1000, validator=at_least_one)
    # The HTTP client of vendor calls: "pool", the gateway's own (sluicegate.http_pool), or
    # "aiohttp", aiohttp's ClientSession. Read when the server starts: a change needs a restart.
    upstream_client: str = field(default="pool", validator=_upstream_client)
    # The server of the API's POST operations (chat completions, responses, messages, ...):
    # "gateway", a connection protocol of the gateway's own (server/api_protocol.py; anything
    # else on the connection goes to aiohttp's server), or "aiohttp" for every request. Read
    # when the server starts: a change needs a restart.
    api_server: str = field(default="gateway", validator=_api_server)
    # CORS headers for browsers ([server.cors]); absent: none, and OPTIONS is a 405.
    cors: CorsConfig | None = None
    # Add stream_options.include_usage to OpenAI-dialect streams so usage and cost are known;
    # the usage chunk is not passed on to a client that did not ask for it.
    stream_usage: bool = True
    # Reload when gateway.toml changes on disk (SIGHUP and POST /admin/reload always work).
    watch_config: bool = True


#: How an alias orders its targets. Defined here, below the balancer that implements them, so
#: the config layer validates names without importing the resilience layer.
STRATEGIES = ("ordered", "weighted", "least-busy", "latency")


def _strategy(_: Any, attribute: Any, value: str) -> None:
    if value not in STRATEGIES:
        raise ValueError(f"must be one of {', '.join(STRATEGIES)}; got {value!r}")


@define(kw_only=True)
class ModelConfig:
    # "provider/model" targets, tried in the order strategy gives; "provider/*" forwards the name asked for.
    targets: list[str]
    # A note for people reading the config.
    description: str = ""
    # How the targets are ordered per request; fallback walks that order under every strategy.
    strategy: str = field(default="ordered", validator=_strategy)
    # "weighted" only: one non-negative weight per target.
    weights: list[float] | None = None
    # Seconds after which the request is also sent to the next target; the first answer wins.
    hedge_after: float | None = field(default=None, validator=optional_positive)
    # Targets tried (in order) when every target failed for a too-long prompt.
    context_fallbacks: list[str] = Factory(list)


@define(kw_only=True)
class PluginsConfig:
    # Plugin names (entry points, or default plugins such as sluicegate.metrics) not to load.
    disabled: list[str] = Factory(list)


@define(kw_only=True)
class GatewayConfig:
    """A whole, validated gateway.toml."""

    server: ServerConfig = Factory(ServerConfig)
    # Provider id -> the provider plugin's own options class instance.
    providers: dict[str, Any] = Factory(dict)
    models: dict[str, ModelConfig] = Factory(dict)
    plugins: PluginsConfig = Factory(PluginsConfig)
    retry: RetryConfig = Factory(RetryConfig)
    # The breaker policy's options (the default policy's BreakerOptions when [breaker] is absent).
    breaker: Any = Factory(BreakerOptions)
    degrade: DegradeConfig | None = None
    # Stored responses of the Responses API (on, in memory, without a table).
    responses: ResponsesConfig = Factory(ResponsesConfig)
    # Table name -> options instance, for every table a plugin component owns and that is present.
    features: dict[str, Any] = Factory(dict)
    # Tables present with ``enabled = false``: turns off even an always-on component.
    switched_off: frozenset[str] = frozenset()
    source: str = field(default="gateway.toml", eq=False)

# Top-level tables the core structures itself; everything else must belong to a plugin.
CORE_TABLES = {
    "server": ServerConfig,
    "plugins": PluginsConfig,
    "retry": RetryConfig,
    "degrade": DegradeConfig,
    "responses": ResponsesConfig,
}
