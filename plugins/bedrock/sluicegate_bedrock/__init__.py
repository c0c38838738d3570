"""sluicegate provider ``type = "bedrock"``: Amazon Bedrock's runtime API.

OpenAI chat is translated to Converse (``/model/{id}/converse``) and ConverseStream (whose binary
event stream botocore's decoder reads); the Anthropic Messages API (``/v1/messages``) passes
through to ``InvokeModel`` and ``InvokeModelWithResponseStream`` for Claude models, and is
bridged onto chat (so onto Converse) for the others. Calls are signed with SigV4 (botocore) or,
with ``api_key``, carry a Bedrock API key as a bearer token. User guide:
docs/guides/vendor-bedrock.md.
"""

from __future__ import annotations

from typing import Any

from sluicegate import hookimpl
from sluicegate.provider import Provider
from sluicegate_bedrock.options import BedrockOptions

__all__ = ["BedrockOptions", "make_bedrock"]


def make_bedrock(*, name: str, options: BedrockOptions, services: Any) -> Provider:
    """The factory of ``type = "bedrock"``. Every gateway imports this module to find its hooks;
    the provider, and botocore with it, is imported here, when a config has a Bedrock provider."""
    from sluicegate_bedrock.provider import BedrockProvider

    return BedrockProvider(name=name, options=options, services=services)


@hookimpl
def register_providers(register):
    register("bedrock", make_bedrock, options=BedrockOptions)
