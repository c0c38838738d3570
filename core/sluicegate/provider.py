"""The provider contract: options every vendor table shares, and the adapter base class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import Factory, define, field

from sluicegate.config.checks import (
    http_headers,
    http_url,
    optional_at_least_one,
    optional_positive,
    positive,
)
from sluicegate.errors import InvalidRequest, ProviderNotConfigured
from sluicegate.exchange import Endpoint, GatewayRequest, RequestContext, Result
from sluicegate.secrets import Secret, config_secrets, mask_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sluicegate.routing import Target
    from sluicegate.services import Services

    Sender = Callable[[RequestContext, GatewayRequest, Target], Awaitable[Result]]


@define(kw_only=True)
class ProviderOptions:
    """Keys every ``[providers.<id>]`` table accepts; provider plugins subclass it."""

    type: str
    base_url: str | None = field(default=None, validator=http_url)
    api_key: Secret | None = None
    # Seconds: the whole answer for non-streaming calls; for streams the default of the first
    # byte and idle timeouts below (a long generation is not cut off).
    timeout: float = field(default=600.0, validator=positive)
    # Seconds to establish the connection (default: the smaller of 10 and timeout).
    connect_timeout: float | None = field(default=None, validator=optional_positive)
    # Streams: seconds until the first content event (a stream that stalls before it fails
    # over); default: timeout.
    first_byte_timeout: float | None = field(default=None, validator=optional_positive)
    # Streams: the longest silence allowed between two chunks; default: timeout.
    idle_timeout: float | None = field(default=None, validator=optional_positive)
    # Upstream model names this provider offers; listed by /v1/models as "<id>/<model>", and
    # routable by bare name when no alias claims it.
    models: list[str] = Factory(list)
    # Extra headers sent upstream with every call; values are secrets (some vendors take keys
    # in headers), masked in every repr.
    headers: dict[str, Secret] = field(factory=dict, validator=http_headers)
    # The most output tokens this provider's models accept: a request's max_tokens,
    # max_completion_tokens or max_output_tokens above it is lowered to it (None: no cap), so
    # a client that asks for more (Claude Code sends 64000) is not refused by a smaller vendor.
    max_output_tokens: int | None = field(default=None, validator=optional_at_least_one)


class Provider:
    """Base class for vendor adapters; one instance per ``[providers.<id>]`` table.

    Subclasses implement ``send`` (translate, call the vendor, translate back) and set
    ``endpoints`` to the operations they support. Everything that can be decided from config
    should be decided in ``__init__``, not per request.
    """

    #: Operations served natively by ``send`` (the Anthropic Messages API is bridged onto chat
    #: when absent).
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    #: Whether the vendor's chat API takes ``reasoning_effort`` (low/medium/high): the
    #: ``/v1/messages`` bridge maps the client's ``thinking`` and ``output_config.effort`` onto
    #: it only then, since some vendors refuse a field they do not know.
    reasoning_effort: bool = False
    #: Whether the vendor needs a key; providers without one report as unconfigured.
    requires_key: bool = True

    def __init__(self, name: str, options: ProviderOptions, services: Services) -> None:
        self.name = name
        self.options = options
        self.type = options.type
        self.services = services
        self.unconfigured_reason = self._check_configured(options)
        self.senders = self._senders()
        # The router waits this long for a stream's first content before failing over.
        self.first_byte_timeout = options.first_byte_timeout or options.timeout

    def _senders(self) -> dict[Endpoint, Sender]:
        """How each operation is served, decided once: natively by ``send``, or bridged.

        A provider that speaks OpenAI chat but not the Anthropic Messages API still serves
        ``/v1/messages``: the request is translated to chat and the answer back (so is
        ``/v1/responses`` for one that does not speak the Responses API); and
        ``/v1/messages/count_tokens`` gets an estimate unless the provider counts natively.
        """
        senders: dict[Endpoint, Sender] = {endpoint: self.send for endpoint in self.endpoints}
        if Endpoint.MESSAGES not in senders and Endpoint.CHAT in senders:
            from sluicegate.translate.messages_bridge import messages_via_chat

            senders[Endpoint.MESSAGES] = messages_via_chat(self)
        if Endpoint.RESPONSES not in senders and Endpoint.CHAT in senders:
            from sluicegate.translate.responses_bridge import responses_via_chat

            senders[Endpoint.RESPONSES] = responses_via_chat(self)
        if Endpoint.COUNT_TOKENS not in senders and Endpoint.MESSAGES in senders:
            from sluicegate.translate.count_tokens import estimate_count

            senders[Endpoint.COUNT_TOKENS] = estimate_count
        return senders

    def _check_configured(self, options: ProviderOptions) -> str | None:
        key = options.api_key
        if key is not None and not key:
            if key.missing:
                return f"{', '.join(key.missing)} is not set"
            return "api_key is empty"
        if key is None and self.requires_key:
            return "api_key is not configured"
        return None

    @property
    def configured(self) -> bool:
        return self.unconfigured_reason is None

    def secrets(self) -> tuple[str, ...]:
        """Secret values to scrub from anything this provider passes on."""
        values = [self.options.api_key.reveal()] if self.options.api_key else []
        # Short header values ("on", "v2") are flags, not keys; scrubbing them would mangle text.
        values += [v.reveal() for v in self.options.headers.values() if len(v.reveal()) >= 8]
        # Every other secret of the config too (other vendors' keys, client and admin tokens,
        # URL passwords): a vendor may echo any key it was once given. Sorted, so every provider
        # of an assembly passes the same tuple and shares one cached Scrubber.
        values += config_secrets(getattr(self.services, "config", None))
        return tuple(sorted(set(values)))

    def check_request(self, req: GatewayRequest) -> None:
        """Refuse, before any network call, what this provider cannot do."""
        if self.unconfigured_reason is not None:
            raise ProviderNotConfigured(
                f"provider {self.name!r} is not configured: {self.unconfigured_reason}"
            )
        if req.endpoint not in self.senders:
            raise InvalidRequest(
                f"provider {self.name!r} (type {self.type}) does not support /v1/{req.endpoint}",
                code="unsupported_endpoint",
            )

    async def send(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        raise NotImplementedError

    async def probe(self) -> None:
        """Check that the vendor answers (``[health_checks]``); raise a ``GatewayError`` if not.

        The default checks nothing: a provider with no network behind it is always up.
        """

    def describe(self) -> dict[str, Any]:
        """Non-secret facts for /health and ``sluicegate check``."""
        info: dict[str, Any] = {"type": self.type, "configured": self.configured}
        if self.options.base_url:
            info["base_url"] = mask_url(self.options.base_url)
        if self.unconfigured_reason:
            info["reason"] = self.unconfigured_reason
        return info

    async def aclose(self) -> None:
        """Release resources; called when the assembly that built this provider is retired."""
