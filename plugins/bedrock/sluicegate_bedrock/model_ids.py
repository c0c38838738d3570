"""Bedrock model ids: where a call for one goes, and which family it belongs to. Pure, no I/O.

A model is named by a foundation-model id (``anthropic.claude-sonnet-4-5-20250929-v1:0``), a
cross-region inference profile (``us.anthropic.claude-...``, ``global.anthropic.claude-...``) or an
ARN (``arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-...``). All of
them go in the path, ``/model/{id}/<operation>``; an ARN's ``/`` is encoded there so it stays one
path segment. The ``:`` stays as it is: the HTTP client would decode ``%3A`` back to ``:`` before
sending, and the signature must be over the path as sent.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from urllib.parse import quote

from sluicegate.errors import InvalidRequest

CONVERSE = "converse"
CONVERSE_STREAM = "converse-stream"
INVOKE = "invoke"
INVOKE_STREAM = "invoke-with-response-stream"

#: What names a Claude model in every form of id: foundation model, inference profile, ARN.
DEFAULT_CLAUDE_PATTERNS = ("*anthropic.claude*",)


def model_path(model: str, operation: str) -> str:
    """``/model/{id}/{operation}`` with the id as one encoded path segment; ``InvalidRequest``
    for an id that is no id (empty, a dot segment the URL would resolve away)."""
    if not model or model in (".", "..") or model.strip() != model:
        raise InvalidRequest(f"{model!r} is not a Bedrock model id", param="model", code="invalid_model")
    return f"/model/{quote(model, safe=':')}/{operation}"


class ModelFamily:
    """Which model ids are Claude (served natively on ``/v1/messages`` and given Claude's own
    request fields on Converse): glob patterns, compiled once into one expression."""

    __slots__ = ("_pattern",)

    def __init__(self, patterns: Iterable[str]) -> None:
        expressions = [fnmatch.translate(pattern) for pattern in patterns]
        # An empty list matches nothing ("(?!)" never matches).
        self._pattern = re.compile("|".join(expressions) or "(?!)", re.IGNORECASE)

    def __contains__(self, model: str) -> bool:
        return self._pattern.match(model) is not None
