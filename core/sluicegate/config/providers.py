"""The keys every ``[providers.<id>]`` table accepts; provider plugins subclass ``ProviderOptions``
(it is importable from ``sluicegate.provider`` too, beside the adapter base class)."""

from __future__ import annotations

from attrs import Factory, define, field

from sluicegate.config.checks import (
    http_headers,
    http_url,
    optional_at_least_one,
    optional_positive,
    positive,
)
from sluicegate.secrets import Secret


@define(kw_only=True)
class ProviderOptions:
    """Keys every ``[providers.<id>]`` table accepts; provider plugins subclass it."""

    # The provider plugin: openai, anthropic, dashscope, mock, or one a plugin adds.
    type: str
    # The vendor's API root; each type completes a missing version segment its own way (docs/guides/vendors.md).
    base_url: str | None = field(default=None, validator=http_url)
    # The vendor key, usually "${VAR}"; an unset variable leaves the provider unconfigured (503 if used).
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
