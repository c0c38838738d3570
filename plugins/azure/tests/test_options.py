"""The ``[providers.<id>]`` table of ``type = "azure"`` as ``sluicegate check`` reports it: every
problem at once, each at its TOML path, never quoting a secret; unset variables leave the provider
unconfigured instead of refusing the file."""

from __future__ import annotations

import aiohttp
import pytest

from sluicegate.cli import main
from sluicegate.config.loader import load_config_text
from sluicegate.services import Services
from sluicegate_azure import AzureProvider

KEY = "azure-key-0123456789abcdef"
SECRET = "entra-client-secret-9f8e7d6c"


def check(capsys, tmp_path, table: str) -> tuple[int, list[str]]:
    """Run ``sluicegate check`` on a config with ``table`` as [providers.az]; (exit code, problem lines)."""
    path = tmp_path / "gateway.toml"
    path.write_text(f'[providers.az]\ntype = "azure"\n{table}\n')
    code = main(["check", "--config", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert KEY not in captured.out + captured.err and SECRET not in captured.out + captured.err
    return code, [line.removeprefix("  - ") for line in captured.err.splitlines()[1:]]


def test_every_bad_key_is_listed_at_its_path(capsys, tmp_path):
    code, problems = check(capsys, tmp_path, f"""
base_url = "https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions"
api_key = "{KEY}"
api_version = "v1"
auth = "entr"
deployments = {{ "gpt-4o" = "gpt 4o" }}
entra_timeout = 0
""")
    assert code == 1
    assert problems == [
        "providers.az.base_url: must end at the resource endpoint (https://RESOURCE.openai.azure.com), its /openai "
        "or its /openai/v1 path; name deployments in the deployments table, not in the URL",
        "providers.az.api_version: 'v1' is not an Azure OpenAI API version (like 2024-10-21 or 2025-04-01-preview); "
        "leave api_version out to use the v1 API",
        "providers.az: deployments: for 'gpt-4o', 'gpt 4o' is not an Azure deployment name (1 to 64 letters, "
        "digits, '-', '_' and '.', not starting with '.')",
        'providers.az.auth: must be "api_key" or "entra", got \'entr\' (did you mean "entra"?)',
        "providers.az.entra_timeout: must be greater than 0, got 0",
    ]


def test_the_resource_endpoint_is_required(capsys, tmp_path):
    code, problems = check(capsys, tmp_path, f'api_key = "{KEY}"')
    assert (code, problems) == (1, ["providers.az.base_url: is required"])


def test_a_query_in_the_endpoint_is_refused_without_quoting_it(capsys, tmp_path):
    code, problems = check(capsys, tmp_path, f'base_url = "https://res.openai.azure.com/openai?api-key={KEY}"')
    assert code == 1
    assert problems == ["providers.az.base_url: must be the resource endpoint (https://RESOURCE.openai.azure.com) "
                        "without a query; the api-version goes in api_version"]


def test_rules_between_keys_are_listed_at_the_key_to_change(capsys, tmp_path):
    code, problems = check(capsys, tmp_path, f"""
base_url = "https://res.openai.azure.com"
auth = "entra"
api_key = "{KEY}"
client_secret = "{SECRET}"
""")
    assert code == 1
    assert problems == [
        'providers.az.api_key: is not used with auth = "entra" (an Entra ID token replaces it): remove one of them',
        "providers.az.tenant_id: is required with client_secret (the app registration's)",
        "providers.az.client_id: is required with client_secret (the app registration's)",
    ]


def test_entra_keys_without_entra_are_refused(capsys, tmp_path):
    code, problems = check(capsys, tmp_path, f"""
base_url = "https://res.openai.azure.com"
api_key = "{KEY}"
tenant_id = "contoso.onmicrosoft.com"
client_secret = "{SECRET}"
""")
    assert code == 1
    assert problems == ['providers.az.tenant_id: is used only with auth = "entra"',
                        'providers.az.client_secret: is used only with auth = "entra"']


def test_a_tenant_without_a_secret_says_where_the_default_credential_looks(capsys, tmp_path):
    code, problems = check(capsys, tmp_path, """
base_url = "https://res.openai.azure.com"
auth = "entra"
tenant_id = "contoso.onmicrosoft.com"
""")
    assert code == 1
    assert problems[0].startswith("providers.az.tenant_id: is used only with client_secret; without them")
    assert "AZURE_TENANT_ID" in problems[0]


def test_entra_without_the_extra_installed_says_how_to_install_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("sluicegate_azure.options.identity_installed", lambda: False)
    code, problems = check(capsys, tmp_path, 'base_url = "https://res.openai.azure.com"\nauth = "entra"')
    assert (code, problems) == (1, [
        "providers.az.auth: \"entra\" needs azure-identity, which is not installed: "
        "pip install 'sluicegate-azure[entra]'"])


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ('authority_host = "http://login.example"', "providers.az.authority_host: must be an https:// URL"),
        ('tenant_id = "a/b"', "providers.az.tenant_id: must be a tenant id"),
        ('entra_scope = " "', "providers.az.entra_scope: must not be empty"),
    ],
)
def test_entra_values_are_checked(capsys, tmp_path, bad, says):
    code, problems = check(capsys, tmp_path, f'base_url = "https://res.openai.azure.com"\nauth = "entra"\n{bad}')
    assert code == 1
    assert problems[0].startswith(says), problems


def test_a_good_table_passes_check(capsys, tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
[providers.az]
type = "azure"
base_url = "https://res.openai.azure.com/openai/v1"
api_key = "{KEY}"
deployments = {{ "gpt-4o" = "gpt4o-prod" }}
""")
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "type=azure" in out and KEY not in out


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ('base_url = "${AZ_ENDPOINT}"\napi_key = "x"', "AZ_ENDPOINT is not set"),
        ('base_url = "https://r.openai.azure.com"\napi_key = "${AZ_KEY}"', "AZ_KEY is not set"),
        ('base_url = "https://r.openai.azure.com"', "api_key is not configured"),
        ('base_url = "https://r.openai.azure.com"\nauth = "entra"\ntenant_id = "${AZ_TENANT}"\n'
         'client_id = "app"\nclient_secret = "${AZ_SECRET}"', "AZ_SECRET, AZ_TENANT is not set"),
    ],
)
async def test_unset_variables_leave_the_provider_unconfigured(table, reason):
    loaded = load_config_text(f'[providers.az]\ntype = "azure"\n{table}\n', env={})
    async with aiohttp.ClientSession() as http:
        provider = AzureProvider("az", loaded.config.providers["az"], Services(http=http, config=loaded.config))
        assert provider.unconfigured_reason == reason
        await provider.aclose()
