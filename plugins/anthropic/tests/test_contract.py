"""``type = "anthropic"`` runs the shared adapter contract against a fake Anthropic."""

from sluicegate.testing.contract import ProviderContract
from sluicegate_anthropic.fake import AnthropicScript


class TestAnthropicContract(ProviderContract):
    script = AnthropicScript()
