"""``type = "azure"`` runs the shared adapter contract against a fake Azure OpenAI resource, in both
of Azure's API shapes: the v1 API (no api_version) and the classic per-deployment paths with
api-version, each with a deployment named apart from its model."""

from sluicegate.testing.contract import ProviderContract
from sluicegate_azure.fake import API_VERSION, MODEL, AzureScript


class TestAzureV1Contract(ProviderContract):
    script = AzureScript(deployments={MODEL: "chat-v1-prod"})


class TestAzureClassicContract(ProviderContract):
    script = AzureScript(api_version=API_VERSION, deployments={MODEL: "chat-classic-prod"})
