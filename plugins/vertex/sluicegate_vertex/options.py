"""The ``[providers.<id>]`` keys of ``type = "vertex"`` and their checks."""

from __future__ import annotations

import os
from typing import Any

from attrs import Factory, define, field

from sluicegate.config.checks import http_url, non_negative, positive
from sluicegate.provider import ProviderOptions
from sluicegate.secrets import Secret
from sluicegate_vertex.claude import DEFAULT_BETAS_ALLOWED, VERSION
from sluicegate_vertex.endpoints import PROJECT, PUBLISHERS, REGION


def _region(_: Any, attribute: Any, value: str) -> None:
    if not REGION.match(value):
        raise ValueError(f"must be a Google Cloud region such as us-central1, europe-west4 or global, got {value!r}")


def _project(_: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not PROJECT.match(value):
        raise ValueError(f"must be a Google Cloud project id such as my-project-123, got {value!r}")


def _publishers(_: Any, attribute: Any, value: dict[str, str]) -> None:
    for model, publisher in value.items():
        if publisher not in PUBLISHERS:
            raise ValueError(f"publishers: {model!r} must be one of {', '.join(sorted(PUBLISHERS))}, got {publisher!r}")


def _credentials_file(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not value:
        raise ValueError("is empty: name a service-account JSON file, or leave it out for application default credentials")
    # Checked here so `sluicegate check` tells; read only at the first call (never on the loop).
    if value is not None and not os.path.isfile(value):
        raise ValueError(f"no such file: {value!r}")
    # A cross-field check: the config check may run validators with no instance.
    if value is not None and instance is not None and instance.api_key is not None:
        raise ValueError("credentials_file and api_key (a ready access token) cannot both be set; choose one")


def _api_key(instance: Any, attribute: Any, value: Any) -> None:
    # A ready token names no project; credentials do.
    if value is not None and instance is not None and instance.project is None:
        raise ValueError("api_key is a ready access token, which names no project: set project too")


@define(kw_only=True)
class VertexOptions(ProviderOptions):
    """``[providers.<id>]`` keys for ``type = "vertex"``; docs/guides/vendor-vertex.md explains each."""

    # The Google Cloud region (location) calls go to: us-central1, europe-west4, global, ...
    region: str = field(validator=_region)
    # The project; default: the one the credentials name (a service account's project_id).
    project: str | None = field(default=None, validator=_project)
    # A credentials file (a service-account key); unset: application default credentials.
    credentials_file: str | None = field(default=None, validator=_credentials_file)
    # Instead of credentials, a ready OAuth access token (gcloud auth print-access-token): sent
    # as it is and never refreshed, for short sessions and tests.
    api_key: Secret | None = field(default=None, validator=_api_key)
    # Default: Vertex's host for the region (https://{region}-aiplatform.googleapis.com/v1).
    base_url: str | None = field(default=None, validator=http_url)
    # Model -> publisher ("google" or "anthropic"), for a model the name rule (claude* is
    # Anthropic's, anything else Google's) gets wrong.
    publishers: dict[str, str] = field(factory=dict, validator=_publishers)
    # Claude: the anthropic_version put in the body.
    anthropic_version: str = VERSION
    # Claude: max_tokens for an OpenAI request that sets none (Anthropic requires one).
    default_max_tokens: int = field(default=4096, validator=positive)
    # Claude: anthropic-beta values sent on every call.
    beta: list[str] = Factory(list)
    # Claude: the client's anthropic-beta values forwarded (Vertex refuses a call naming any
    # other); the default list is claude.DEFAULT_BETAS_ALLOWED.
    betas_allowed: list[str] = Factory(lambda: list(DEFAULT_BETAS_ALLOWED))
    # Seconds a call waits for a token refresh (and the cap of each HTTP call of one).
    token_timeout: float = field(default=30.0, validator=positive)
    # Seconds before a token's expiry it is refreshed (at most half its life).
    token_refresh_margin: float = field(default=300.0, validator=non_negative)
