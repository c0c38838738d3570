"""The ``[providers.<id>]`` keys of ``type = "bedrock"``, checked when the config is loaded."""

from __future__ import annotations

import re
from typing import Any

from attrs import Factory, define, field

from sluicegate.config.checks import http_url, positive
from sluicegate.provider import ProviderOptions
from sluicegate.secrets import Secret
from sluicegate_bedrock.anthropic_native import DEFAULT_BETAS
from sluicegate_bedrock.model_ids import DEFAULT_CLAUDE_PATTERNS

# us-east-1, eu-central-2, us-gov-west-1, cn-north-1: it becomes part of a host name.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def _region(_: Any, attribute: Any, value: str) -> None:
    missing = getattr(value, "missing", ())
    if missing and not value:
        raise ValueError(f"is empty because {', '.join(missing)} is not set")
    if not _REGION.match(value):
        raise ValueError(f"must be an AWS region such as us-east-1, got {value!r}")


def _check_keys(instance: BedrockOptions) -> None:
    """One way to authenticate, given whole: a Bedrock API key, or an access key pair (with
    an optional session token), or neither (botocore's default chain, ``profile``)."""
    access, secret = instance.access_key_id is not None, instance.secret_access_key is not None
    if access != secret:
        raise ValueError("access_key_id and secret_access_key are given together or not at all")
    if instance.session_token is not None and not access:
        raise ValueError("session_token needs access_key_id and secret_access_key")
    if access and instance.api_key is not None:
        raise ValueError("give api_key (a Bedrock API key) or access_key_id and secret_access_key, not both")
    if instance.profile is not None and (access or instance.api_key is not None):
        raise ValueError("profile names where botocore finds the keys: leave it out when keys are given")
    if instance.role_arn is not None and instance.api_key is not None:
        raise ValueError("role_arn is assumed with AWS credentials; a Bedrock API key cannot assume a role")


@define(kw_only=True)
class BedrockOptions(ProviderOptions):
    """``[providers.<id>]`` keys for ``type = "bedrock"`` (the user guide is
    docs/guides/vendor-bedrock.md). ``api_key``, when given, is a Bedrock API key (sent as a
    bearer token); without it calls are signed with SigV4."""

    # The AWS region of the Bedrock runtime endpoint (and of the SigV4 signature).
    region: str = field(validator=_region)
    # Default: https://bedrock-runtime.{region}.amazonaws.com (a VPC endpoint or a proxy otherwise).
    base_url: str | None = field(default=None, validator=http_url)
    # Static credentials; usually "${VAR}"s. Without them botocore's default chain is used.
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    # A profile of the shared AWS config and credentials files (default chain only).
    profile: str | None = None
    # A role to assume through STS with the credentials found above.
    role_arn: str | None = None
    role_session_name: str = "sluicegate"
    # Seconds finding or refreshing credentials may take (an STS call included).
    credentials_timeout: float = field(default=15.0, validator=positive)
    # A Bedrock guardrail applied to every call (Converse's guardrailConfig, InvokeModel's headers).
    guardrail_identifier: str | None = None
    guardrail_version: str | None = None
    # Model ids that are Claude (glob patterns): /v1/messages passes through to InvokeModel for
    # them, and Claude's own fields (thinking, top_k) reach Converse.
    claude_models: list[str] = Factory(lambda: list(DEFAULT_CLAUDE_PATTERNS))
    # The anthropic-beta values Bedrock accepts (the list replaces the default); a client's
    # others are dropped, not sent.
    betas_allowed: list[str] = Factory(lambda: list(DEFAULT_BETAS))

    def __attrs_post_init__(self) -> None:
        # Checks of keys together: a ValueError here is reported at the table's path.
        _check_keys(self)
        if (self.guardrail_identifier is None) != (self.guardrail_version is None):
            raise ValueError("guardrail_identifier and guardrail_version are given together")
