"""sluicegate provider ``type = "vertex"``: Google Vertex AI, for Gemini and Claude models.

Gemini models are called at ``.../publishers/google/models/{m}:generateContent`` (and
``:streamGenerateContent?alt=sse``) with Gemini's wire format; Claude models at
``.../publishers/anthropic/models/{m}:rawPredict`` (and ``:streamRawPredict``) with Anthropic's
Messages API, ``/v1/messages`` passing through natively. Calls are authenticated with OAuth
tokens from google-auth (a service-account file or application default credentials), fetched
and refreshed off the event loop. See ``provider`` for the adapter, docs/guides/vendor-vertex.md
for the user's side.
"""

from __future__ import annotations

from typing import Any

from sluicegate import hookimpl
from sluicegate.provider import Provider
from sluicegate_vertex.options import VertexOptions

__all__ = ["VertexOptions", "make_vertex"]


def make_vertex(*, name: str, options: VertexOptions, services: Any) -> Provider:
    """The factory of ``type = "vertex"``. Every gateway imports this module to find its hooks;
    google-auth and what it pulls in (~14 MB) are imported here, when a config has a Vertex
    provider."""
    from sluicegate_vertex.provider import VertexProvider

    return VertexProvider(name=name, options=options, services=services)


@hookimpl
def register_providers(register):
    register("vertex", make_vertex, options=VertexOptions)
