"""``type = "openai"`` runs the shared adapter contract against a fake OpenAI."""

from sluicegate.testing.contract import ProviderContract
from sluicegate_openai.fake import OpenAIScript


class TestOpenAIContract(ProviderContract):
    script = OpenAIScript()
