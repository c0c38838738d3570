"""``type = "bedrock"`` runs the shared adapter contract against a fake Bedrock runtime, twice:
with a Bedrock API key (the contract's own config, ``api_key``) and with SigV4 signatures the
fake verifies (an access key pair, the contract's vendor key as the secret)."""

from __future__ import annotations

import openai
import pytest

from sluicegate.testing.contract import PIXEL, VENDOR_KEY, ProviderContract, _config
from sluicegate.testing.vendor import Usage
from sluicegate_bedrock.fake import ACCESS_KEY_ID, BedrockScript, FakeCredentials


class BedrockContract(ProviderContract):
    async def test_image(self, start, fake_upstream):
        """Converse takes an image's bytes, never a web address: a data URL reaches Bedrock as an
        image block, an https image is refused with a 400 before anything is sent."""
        server = await start()
        path = self.route(fake_upstream, self.script.answer_text("A pixel.", Usage()), stream=False, images=True)
        data_url = "data:image/png;base64," + PIXEL
        client = self.openai_client(server)
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="chat",
                messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ]}],
            )
        assert "data: URLs" in refused.value.response.json()["error"]["message"]
        assert fake_upstream.calls(path) == []
        await client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "Describe this."},
                {"type": "image_url", "image_url": {"url": data_url}},
            ]}],
        )
        summary = self.sent(fake_upstream, path)
        assert summary.images == [data_url]
        assert summary.turns == [("user", "Describe this.")]


class TestBedrockApiKeyContract(BedrockContract):
    script = BedrockScript(FakeCredentials(api_key=VENDOR_KEY))


class TestBedrockSigV4Contract(BedrockContract):
    script = BedrockScript(FakeCredentials(secret_access_key=VENDOR_KEY))

    @pytest.fixture
    def start(self, gateway, fake_upstream):
        async def start(vendor_timeout: float = 10):
            config = _config(self.script, fake_upstream.url, vendor_timeout).replace(
                'api_key = "${VENDOR_KEY}"',
                f'access_key_id = "{ACCESS_KEY_ID}"\nsecret_access_key = "${{VENDOR_KEY}}"',
            )
            assert "secret_access_key" in config and "api_key" not in config
            return await gateway(config, env={"VENDOR_KEY": VENDOR_KEY})

        return start

