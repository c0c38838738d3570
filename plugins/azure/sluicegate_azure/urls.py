"""Where Azure OpenAI calls go: the resource endpoint read from ``base_url``, then one URL per
operation and deployment. Pure functions and values, decided once when the provider is built.

Azure serves two API shapes under one resource endpoint (``https://RES.openai.azure.com``):

- the v1 API (no ``api_version``): ``{endpoint}/openai/v1/chat/completions`` and its siblings,
  the deployment named by the body's ``model``, as on OpenAI itself;
- the classic API (``api_version`` set): ``{endpoint}/openai/deployments/{deployment}/chat/completions
  ?api-version=V`` (also ``completions`` and ``embeddings``), and the Responses API at
  ``{endpoint}/openai/responses?api-version=V`` with the deployment as ``model``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

from attrs import frozen

from sluicegate.exchange import Endpoint

# What an Azure deployment name may be made of; it becomes a path segment of classic URLs, so
# nothing that could end it ('/', '?', '#', '%') or climb out of it ('.', '..') gets through.
_DEPLOYMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
# A dated API version, as Azure names them: 2024-10-21, 2025-04-01-preview.
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
# The API paths people paste after the endpoint, which the endpoint is read without.
_API_SUFFIXES = ("/openai/v1", "/openai")


def resource_endpoint(base_url: str) -> str:
    """The resource endpoint in ``base_url``: itself, or with ``/openai`` or ``/openai/v1`` taken
    off (the Azure portal shows the first, the v1 API's docs the last). A path before them is
    kept: an API Management gateway may front the resource under a prefix of its own.

    Raises ValueError (never quoting the URL, which may carry a key) for a URL with a query,
    or one that goes past ``/openai`` (a deployment's or an operation's own URL).
    """
    parts = urlsplit(base_url.strip())
    if parts.query or parts.fragment:
        raise ValueError(
            "must be the resource endpoint (https://RESOURCE.openai.azure.com) without a query; "
            "the api-version goes in api_version"
        )
    path = parts.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if "/openai/" in path + "/":
        raise ValueError(
            "must end at the resource endpoint (https://RESOURCE.openai.azure.com), its /openai or "
            "its /openai/v1 path; name deployments in the deployments table, not in the URL"
        )
    return urlunsplit(parts._replace(path=path))


def deployment_problem(name: str) -> str | None:
    """Why ``name`` cannot be an Azure deployment name, or None when it can be."""
    if _DEPLOYMENT.fullmatch(name):
        return None
    return (
        f"{name[:80]!r} is not an Azure deployment name "
        "(1 to 64 letters, digits, '-', '_' and '.', not starting with '.')"
    )


def api_version_problem(version: str) -> str | None:
    if _API_VERSION.fullmatch(version):
        return None
    return (
        f"{version[:40]!r} is not an Azure OpenAI API version (like 2024-10-21 or 2025-04-01-preview); "
        "leave api_version out to use the v1 API"
    )


#: The operations Azure OpenAI serves (it has no moderations endpoint).
AZURE_ENDPOINTS = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS, Endpoint.RESPONSES})
#: The classic operations addressed under a deployment; Responses is not one of them.
_PER_DEPLOYMENT = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS})


@frozen
class AzureUrls:
    """Every URL a provider calls, built from the endpoint, the API version and the deployments
    it knows; a deployment it does not know (a model missing from the map) is built per call."""

    endpoint: str
    api_version: str | None
    #: The operations whose URL names no deployment: all in v1, Responses in classic mode.
    by_operation: dict[Endpoint, str]
    #: (operation, deployment) -> URL of the classic calls to the deployments of the map.
    by_deployment: dict[tuple[Endpoint, str], str]

    @classmethod
    def build(cls, endpoint: str, api_version: str | None, deployments: Iterable[str]) -> AzureUrls:
        if api_version is None:
            return cls(endpoint, None, {op: f"{endpoint}/openai/v1/{op.value}" for op in AZURE_ENDPOINTS}, {})
        by_deployment = {
            (op, deployment): _classic(endpoint, deployment, op, api_version)
            for deployment in deployments
            for op in _PER_DEPLOYMENT
        }
        responses = f"{endpoint}/openai/responses?api-version={api_version}"
        return cls(endpoint, api_version, {Endpoint.RESPONSES: responses}, by_deployment)

    @property
    def classic(self) -> bool:
        return self.api_version is not None

    def for_call(self, operation: Endpoint, deployment: str) -> str:
        """The URL of one call; ``deployment`` must have passed ``deployment_problem`` when the
        URL puts it in the path (classic mode)."""
        url = self.by_operation.get(operation) or self.by_deployment.get((operation, deployment))
        if url is not None:
            return url
        return _classic(self.endpoint, deployment, operation, self.api_version or "")

    def needs_path_safe(self, operation: Endpoint) -> bool:
        """Whether a call for ``operation`` puts the deployment name in the URL path."""
        return self.classic and operation in _PER_DEPLOYMENT

    @property
    def probe(self) -> str:
        """A cheap authenticated GET: the models the resource offers."""
        if self.api_version is None:
            return f"{self.endpoint}/openai/v1/models"
        return f"{self.endpoint}/openai/models?api-version={self.api_version}"


def _classic(endpoint: str, deployment: str, operation: Endpoint, api_version: str) -> str:
    # quote() is a second guard: a checked name has nothing it would change.
    return f"{endpoint}/openai/deployments/{quote(deployment, safe='')}/{operation.value}?api-version={api_version}"
