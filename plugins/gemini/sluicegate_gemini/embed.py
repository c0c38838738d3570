"""OpenAI embeddings to Gemini's ``batchEmbedContents`` and back: pure functions, no I/O.

One call embeds every input: ``{"requests": [{"model", "content", "outputDimensionality"}]}``
in, ``{"embeddings": [{"values": [...]}]}`` out, in the same order.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from sluicegate.errors import InvalidRequest

BATCH = ":batchEmbedContents"


def embed_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``batchEmbedContents`` body for an OpenAI embeddings body; ``InvalidRequest`` for an
    input Gemini cannot embed (token arrays: Gemini takes text only)."""
    texts = _texts(body.get("input"))
    common: dict[str, Any] = {"model": "models/" + model.removeprefix("models/")}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
        common["outputDimensionality"] = dimensions
    encoding = body.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise InvalidRequest("encoding_format must be float or base64", param="encoding_format")
    return {"requests": [{**common, "content": {"parts": [{"text": text}]}} for text in texts]}


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidRequest("input must be a string or a non-empty list of strings", param="input")
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise InvalidRequest(f"input[{i}] must be a string: Gemini embeds text, not token arrays",
                                 param=f"input[{i}]")
    return value


def embeddings(data: dict[str, Any], *, model: str, count: int, encoding: Any) -> dict[str, Any]:
    """The OpenAI embeddings answer for Gemini's; ValueError when it does not hold ``count``
    vectors of numbers."""
    vectors = data["embeddings"]
    if not isinstance(vectors, list) or len(vectors) != count:
        raise ValueError("not one embedding per input")
    items = []
    for index, vector in enumerate(vectors):
        values = vector["values"]
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
            raise ValueError("an embedding is not a list of numbers")
        embedding: Any = values
        if encoding == "base64":
            # OpenAI's base64 form: little-endian float32s.
            embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        items.append({"object": "embedding", "index": index, "embedding": embedding})
    # batchEmbedContents reports no token counts; when a newer answer does, they are passed on.
    tokens = (data.get("usageMetadata") or {}).get("promptTokenCount") or 0
    return {"object": "list", "data": items, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
