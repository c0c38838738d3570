"""Where a Vertex AI call goes: the API root for a region, the publisher of a model, and the
model's method URL. Pure functions, no I/O.

Vertex serves every model under one path shape,
``{root}/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}``:
Google's own models (Gemini) under the publisher ``google`` with Gemini's wire format, Anthropic's
Claude models under ``anthropic`` with the Messages API's (``rawPredict``/``streamRawPredict``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

GOOGLE = "google"
ANTHROPIC = "anthropic"
PUBLISHERS = frozenset({GOOGLE, ANTHROPIC})

# Gemini's methods (``alt=sse``: one GenerateContentResponse per SSE event).
GENERATE = "generateContent"
STREAM_GENERATE = "streamGenerateContent?alt=sse"
# Claude's: the Messages API body, sent as it is ("raw") to the publisher's model.
RAW_PREDICT = "rawPredict"
STREAM_RAW_PREDICT = "streamRawPredict"
# Claude's token counting is one pseudo-model of the publisher; the real model goes in the body.
COUNT_TOKENS_MODEL = "count-tokens"

#: A region as Google names them (``us-central1``, ``europe-west4``, ``global``, ``us``). It
#: becomes part of a host name, so nothing else may pass.
REGION = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: A project id (``my-project-123``), number, or domain-scoped id (``example.com:my-project``).
PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]*$")

# Regions served from a host of their own rather than ``{region}-aiplatform``.
_HOSTS = {
    "global": "aiplatform.googleapis.com",
    "us": "aiplatform.us.rep.googleapis.com",
    "eu": "aiplatform.eu.rep.googleapis.com",
}
_VERSION_SEGMENT = re.compile(r"/v\d+(?:beta\d*)?/?$")


def api_root(region: str, base_url: str | None = None) -> str:
    """The URL ``/projects/...`` follows: ``base_url`` when given (``/v1`` added unless its path
    already ends in a version), else Vertex's host for ``region``."""
    if base_url:
        base_url = base_url.rstrip("/")
        parts = urlsplit(base_url)
        if _VERSION_SEGMENT.search(parts.path):
            return base_url
        return urlunsplit(parts._replace(path=parts.path + "/v1"))
    host = _HOSTS.get(region) or f"{region}-aiplatform.googleapis.com"
    return f"https://{host}/v1"


def publisher_of(model: str, overrides: Mapping[str, str]) -> str:
    """Who publishes ``model`` on Vertex: the config's word for it, else ``anthropic`` for a
    Claude model (``claude-sonnet-4-5@20250929``) and ``google`` for anything else."""
    named = overrides.get(model)
    if named is not None:
        return named
    return ANTHROPIC if model.lower().startswith("claude") else GOOGLE


def model_url(root: str, project: str, region: str, publisher: str, model: str, method: str) -> str:
    """The URL of ``method`` on ``model``; the model id keeps its ``@`` (Claude's version
    separator) and is quoted otherwise, so a ``/`` in it cannot step out of the path."""
    return (
        f"{root}/projects/{quote(project, safe='-._~:')}/locations/{region}"
        f"/publishers/{publisher}/models/{quote(model, safe='-._~@')}:{method}"
    )
