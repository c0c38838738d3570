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

from sluicegate import hookimpl
from sluicegate_vertex.options import VertexOptions
from sluicegate_vertex.provider import VertexProvider

__all__ = ["VertexOptions", "VertexProvider"]


@hookimpl
def register_providers(register):
    register("vertex", VertexProvider, options=VertexOptions)
