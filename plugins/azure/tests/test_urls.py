"""Where Azure calls go: the resource endpoint read from every spelling of ``base_url``, the URL of
each operation in the v1 and the classic API, and the deployment names a URL path may hold."""

import pytest

from sluicegate.exchange import Endpoint
from sluicegate_azure.urls import AzureUrls, api_version_problem, deployment_problem, resource_endpoint

RES = "https://res.openai.azure.com"


@pytest.mark.parametrize(
    "base_url",
    [RES, RES + "/", RES + "/openai", RES + "/openai/", RES + "/openai/v1", RES + "/openai/v1/", " " + RES],
)
def test_every_spelling_of_the_endpoint_is_read_as_the_resource(base_url):
    assert resource_endpoint(base_url) == RES


def test_a_prefix_before_openai_is_kept_for_an_api_gateway_in_front():
    assert resource_endpoint("https://apim.azure-api.net/oai/openai/v1") == "https://apim.azure-api.net/oai"
    assert resource_endpoint("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        (RES + "/openai/deployments/gpt4o/chat/completions", "deployments table"),
        (RES + "/openai/v2", "resource endpoint"),
        (RES + "/openai?api-version=2024-10-21", "without a query"),
        (RES + "#x", "without a query"),
    ],
)
def test_a_url_past_the_endpoint_is_refused_with_the_reason(base_url, says):
    with pytest.raises(ValueError, match=says):
        resource_endpoint(base_url)


def test_v1_urls_name_no_deployment_and_no_api_version():
    urls = AzureUrls.build(RES, None, ["chat-prod"])
    assert urls.for_call(Endpoint.CHAT, "chat-prod") == RES + "/openai/v1/chat/completions"
    assert urls.for_call(Endpoint.EMBEDDINGS, "emb") == RES + "/openai/v1/embeddings"
    assert urls.for_call(Endpoint.COMPLETIONS, "x") == RES + "/openai/v1/completions"
    assert urls.for_call(Endpoint.RESPONSES, "x") == RES + "/openai/v1/responses"
    assert urls.probe == RES + "/openai/v1/models"
    assert not urls.needs_path_safe(Endpoint.CHAT)


def test_classic_urls_put_the_deployment_in_the_path_and_the_version_in_the_query():
    urls = AzureUrls.build(RES, "2024-10-21", ["chat-prod"])
    # A deployment of the map (built once) and one that is not (built per call) read alike.
    for deployment in ("chat-prod", "gpt-4o"):
        assert urls.for_call(Endpoint.CHAT, deployment) == (
            f"{RES}/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21")
        assert urls.for_call(Endpoint.EMBEDDINGS, deployment) == (
            f"{RES}/openai/deployments/{deployment}/embeddings?api-version=2024-10-21")
        assert urls.for_call(Endpoint.COMPLETIONS, deployment) == (
            f"{RES}/openai/deployments/{deployment}/completions?api-version=2024-10-21")
    # Responses is not under a deployment: the deployment goes in the body's model.
    assert urls.for_call(Endpoint.RESPONSES, "chat-prod") == RES + "/openai/responses?api-version=2024-10-21"
    assert urls.probe == RES + "/openai/models?api-version=2024-10-21"
    assert urls.needs_path_safe(Endpoint.CHAT) and not urls.needs_path_safe(Endpoint.RESPONSES)


@pytest.mark.parametrize("name", ["gpt-4o", "gpt-4o-mini_2024.07", "a", "x" * 64, "_x", "0"])
def test_deployment_names_azure_allows(name):
    assert deployment_problem(name) is None


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a?b", "a%2Fb", "a b", "x" * 65, ".hidden", "é"])
def test_names_that_could_leave_their_path_segment_are_refused(name):
    assert "is not an Azure deployment name" in deployment_problem(name)


@pytest.mark.parametrize("version", ["2024-10-21", "2025-04-01-preview"])
def test_dated_api_versions_are_accepted(version):
    assert api_version_problem(version) is None


@pytest.mark.parametrize("version", ["v1", "preview", "2024-10-21&x=1", "2024-1-2", ""])
def test_other_api_versions_point_at_the_v1_api(version):
    assert "leave api_version out to use the v1 API" in api_version_problem(version)
