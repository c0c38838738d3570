"""``type = "gemini"`` runs the shared adapter contract against a fake Gemini API."""

from sluicegate.testing.contract import ProviderContract
from sluicegate_gemini.fake import GeminiScript


class TestGeminiContract(ProviderContract):
    script = GeminiScript()
