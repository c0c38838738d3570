"""The azure-identity credential an ``auth = "entra"`` provider takes its tokens from.

Needs the ``entra`` extra (``pip install 'sluicegate-azure[entra]'``); only a provider with
``auth = "entra"`` imports this module, after its options were checked to have the package.
The async credentials are used, so fetching a token never blocks the event loop.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential

from sluicegate_azure.entra import AsyncTokenCredential
from sluicegate_azure.options import AzureOptions

#: What a credential raises when Entra ID refuses it, or when no credential is available in the
#: environment (``CredentialUnavailableError`` is a subclass): no retry helps.
REFUSALS: tuple[type[BaseException], ...] = (ClientAuthenticationError,)


def new_credential(options: AzureOptions, **pipeline: Any) -> AsyncTokenCredential:
    """A service principal's ``ClientSecretCredential`` when ``client_secret`` is set, else
    ``DefaultAzureCredential`` (environment variables, workload identity, managed identity, the
    Azure CLI; ``client_id`` names a user-assigned managed identity).

    ``pipeline`` goes to azure-core's HTTP pipeline (``connection_verify`` for a private CA).
    """
    authority = {"authority": options.authority_host} if options.authority_host else {}
    if options.client_secret is not None:
        return ClientSecretCredential(
            options.tenant_id or "", options.client_id or "", options.client_secret.reveal(), **authority, **pipeline
        )
    identity = {"managed_identity_client_id": options.client_id} if options.client_id else {}
    return DefaultAzureCredential(**authority, **identity, **pipeline)
