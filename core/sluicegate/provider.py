"""The provider contract: the adapter base class every vendor plugin subclasses, with the options
every vendor table shares (``ProviderOptions``, defined with the config schema)."""

from __future__ import annotations

from typing import Any

from sluicegate.config.providers import ProviderOptions
from sluicegate.errors import InvalidRequest, ProviderNotConfigured
from sluicegate.exchange import Endpoint, GatewayRequest, RequestContext, Result, Sender, Target
from sluicegate.secrets import config_secrets, mask_url
from sluicegate.services import Services
from sluicegate.translate import gemini_count
from sluicegate.translate.count_tokens import estimate_count
from sluicegate.translate.gemini_bridge import generate_via_chat
from sluicegate.translate.messages_bridge import messages_via_chat
from sluicegate.translate.responses_bridge import responses_via_chat


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
    #: Whether the vendor's chat dialect takes Anthropic's ``cache_control`` marks on content
    #: parts and tools (Bedrock turns them into ``cachePoint`` blocks): the ``/v1/messages``
    #: bridge keeps them only then, since OpenAI-compatible vendors may refuse the field.
    cache_control: bool = False
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
        ``/v1/responses`` for one that does not speak the Responses API, and Gemini's
        ``generateContent`` for one that does not speak Gemini's API); and
        ``/v1/messages/count_tokens`` and Gemini's ``countTokens`` get an estimate unless the
        provider counts natively.
        """
        senders: dict[Endpoint, Sender] = {endpoint: self.send for endpoint in self.endpoints}
        if Endpoint.MESSAGES not in senders and Endpoint.CHAT in senders:
            senders[Endpoint.MESSAGES] = messages_via_chat(self)
        if Endpoint.RESPONSES not in senders and Endpoint.CHAT in senders:
            senders[Endpoint.RESPONSES] = responses_via_chat(self)
        if Endpoint.GENERATE_CONTENT not in senders and Endpoint.CHAT in senders:
            senders[Endpoint.GENERATE_CONTENT] = generate_via_chat(self)
        if Endpoint.COUNT_TOKENS not in senders and Endpoint.MESSAGES in senders:
            senders[Endpoint.COUNT_TOKENS] = estimate_count
        if Endpoint.GEMINI_COUNT_TOKENS not in senders and Endpoint.GENERATE_CONTENT in senders:
            senders[Endpoint.GEMINI_COUNT_TOKENS] = gemini_count.estimate_count
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
