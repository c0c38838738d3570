"""``[providers.<id>]`` keys for ``type = "azure"``: each key checked alone by its validator, and
the rules between keys (``auth`` and the Entra ID keys) by ``key_problems``, which the provider
raises as one ``ConfigError`` so every problem is listed at its own TOML path."""

from __future__ import annotations

import importlib.util
from typing import Any

from attrs import define, field

from sluicegate.config.checks import positive
from sluicegate.config.converter import suggest
from sluicegate.errors import ConfigProblem
from sluicegate.provider import ProviderOptions
from sluicegate.secrets import Secret
from sluicegate_azure.urls import api_version_problem, deployment_problem, resource_endpoint

#: The token audience of Azure OpenAI (Cognitive Services) in Azure's public cloud.
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
AUTH_MODES = ("api_key", "entra")
# azure-identity's own rule for a tenant id (a GUID or a domain name).
_TENANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_ENTRA_KEYS = ("tenant_id", "client_id", "client_secret", "authority_host")


def identity_installed() -> bool:
    """Whether the ``entra`` extra (azure-identity) can be imported."""
    try:
        return importlib.util.find_spec("azure.identity") is not None
    except ModuleNotFoundError:  # no "azure" namespace package at all
        return False


def _unset(value: Any) -> bool:
    """An empty value interpolated from unset variables: the provider is unconfigured, not wrong."""
    return not value and bool(getattr(value, "missing", ()))


def resource_url(_: Any, attribute: Any, value: str) -> None:
    if _unset(value):
        return
    if not value.startswith(("http://", "https://")):
        # The value is not echoed: it may carry a key interpolated from the environment.
        raise ValueError("must be an http:// or https:// URL: the resource endpoint, https://RESOURCE.openai.azure.com")
    resource_endpoint(value)


def optional_api_version(_: Any, attribute: Any, value: str | None) -> None:
    if value is not None and (problem := api_version_problem(value)):
        raise ValueError(problem)


def deployment_map(_: Any, attribute: Any, value: dict[str, str]) -> None:
    for model, deployment in value.items():
        if not model:
            raise ValueError("deployments: a model name is empty")
        if problem := deployment_problem(deployment):
            raise ValueError(f"deployments: for {model[:80]!r}, {problem}")


def auth_mode(_: Any, attribute: Any, value: str) -> None:
    if value not in AUTH_MODES:
        raise ValueError(f"must be \"api_key\" or \"entra\", got {value[:40]!r}{suggest(value, AUTH_MODES)}")
    if value == "entra" and not identity_installed():
        raise ValueError(
            "\"entra\" needs azure-identity, which is not installed: pip install 'sluicegate-azure[entra]'"
        )


def optional_tenant(_: Any, attribute: Any, value: str | None) -> None:
    if value is None or _unset(value):
        return
    if not value or not set(value) <= _TENANT_CHARS:
        raise ValueError("must be a tenant id (a GUID) or a tenant domain name (letters, digits, '-' and '.')")


def optional_https(_: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not value.startswith("https://"):
        raise ValueError(
            "must be an https:// URL (Entra ID is reached over TLS only), like https://login.microsoftonline.us"
        )


def not_empty(_: Any, attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


@define(kw_only=True)
class AzureOptions(ProviderOptions):
    """``type = "azure"`` (the user guide is docs/guides/vendor-azure.md): ``base_url`` is the
    resource endpoint; ``api_key`` the resource key (sent as ``api-key``), unless
    ``auth = "entra"``."""

    # The resource endpoint, https://RESOURCE.openai.azure.com (with /openai or /openai/v1 too).
    base_url: str = field(validator=resource_url)
    # Unset: the v1 API (/openai/v1/..., no api-version). Set (2024-10-21): the classic
    # /openai/deployments/{deployment}/... paths with ?api-version=.
    api_version: str | None = field(default=None, validator=optional_api_version)
    # Model name -> deployment name; a model not listed is its own deployment name.
    deployments: dict[str, str] = field(factory=dict, validator=deployment_map)
    # "api_key" (the api-key header) or "entra" (a Microsoft Entra ID bearer token).
    auth: str = field(default="api_key", validator=auth_mode)
    # auth = "entra" with a service principal (with client_id and client_secret): its tenant.
    tenant_id: str | None = field(default=None, validator=optional_tenant)
    # auth = "entra": the service principal's application id; without client_secret, the
    # user-assigned managed identity azure-identity's DefaultAzureCredential uses.
    client_id: str | None = None
    # auth = "entra": the service principal's secret; unset, DefaultAzureCredential finds a
    # credential (environment variables, workload identity, managed identity, the Azure CLI).
    client_secret: Secret | None = None
    # The Entra ID authority for a sovereign cloud (https://login.microsoftonline.us); default:
    # the public cloud, or AZURE_AUTHORITY_HOST.
    authority_host: str | None = field(default=None, validator=optional_https)
    # The token's audience; a sovereign cloud has its own.
    entra_scope: str = field(default=ENTRA_SCOPE, validator=not_empty)
    # Seconds one token request may take before the call fails (as a timeout).
    entra_timeout: float = field(default=30.0, validator=positive)
    # As on type "openai": the /v1/messages bridge maps thinking onto reasoning_effort.
    reasoning_effort: bool = False
    # Azure serves the Responses API: /v1/responses passes through (false: bridged onto chat).
    responses: bool = True


def key_problems(options: AzureOptions) -> list[ConfigProblem]:
    """The rules between keys, each problem at the key to change (paths under the table)."""
    given = [name for name in _ENTRA_KEYS if getattr(options, name) is not None]
    if options.auth != "entra":
        return [ConfigProblem(name, 'is used only with auth = "entra"') for name in given]
    problems = []
    if options.api_key is not None:
        problems.append(ConfigProblem(
            "api_key", 'is not used with auth = "entra" (an Entra ID token replaces it): remove one of them'))
    if options.client_secret is not None:
        problems += [
            ConfigProblem(name, "is required with client_secret (the app registration's)")
            for name in ("tenant_id", "client_id")
            if getattr(options, name) is None
        ]
    elif options.tenant_id is not None:
        problems.append(ConfigProblem(
            "tenant_id", "is used only with client_secret; without them azure-identity's DefaultAzureCredential "
                         "reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET from the environment"))
    return problems


def unset_reason(options: AzureOptions) -> str | None:
    """Why the provider cannot call Azure (a variable it needs is unset), or None."""
    names = ["base_url", "client_secret", "tenant_id", "client_id"] if options.auth == "entra" else ["base_url"]
    missing = [
        variable
        for name in names
        if (value := getattr(options, name)) is not None and not value
        for variable in getattr(value, "missing", ())
    ]
    return f"{', '.join(missing)} is not set" if missing else None
