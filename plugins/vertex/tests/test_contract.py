"""``type = "vertex"`` runs the shared adapter contract through both entrances, for a Gemini
model and for a Claude model, authenticated as a service account against a fake token endpoint.

The contract checks that every call carried its ``VENDOR_KEY``: here that is the access token
the fake token endpoint hands out, after it verified the JWT google-auth signed with the
account's key.
"""

import pytest

from sluicegate.testing import contract
from sluicegate.testing.contract import VENDOR_KEY, ProviderContract
from sluicegate_vertex.fake import VertexClaudeScript, VertexGeminiScript
from sluicegate_vertex.fake_oauth import TOKEN_PATH, TokenEndpoint

KEY_LINE = 'api_key = "${VENDOR_KEY}"'


class VertexContract(ProviderContract):
    @pytest.fixture
    def start(self, gateway, fake_upstream, tmp_path, account):
        async def start(vendor_timeout: float = 10):
            # Every test's gateway fetches its own token; the endpoint hands out the contract's key.
            fake_upstream.on(TOKEN_PATH, TokenEndpoint(account, tokens=(VENDOR_KEY,) * 50))
            path = account.write(tmp_path / "service-account.json", fake_upstream.url + TOKEN_PATH)
            text = contract._config(self.script, fake_upstream.url, vendor_timeout)
            assert KEY_LINE in text
            return await gateway(text.replace(KEY_LINE, f'credentials_file = "{path}"'))

        return start


class TestVertexGeminiContract(VertexContract):
    script = VertexGeminiScript()


class TestVertexClaudeContract(VertexContract):
    script = VertexClaudeScript()
