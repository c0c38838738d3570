"""Model routing: aliases, provider/model, bare listed names, not-found errors and the listing."""

from __future__ import annotations

import pytest

from sluicegate.errors import ModelNotFound

CONFIG = """
[providers.m1]
type = "mock"
models = ["alpha", "shared"]

[providers.m2]
type = "mock"
models = ["shared", "beta"]

[providers.vllm]
type = "openai"
base_url = "http://127.0.0.1:9/v1"

[models.chat]
targets = ["m2/beta", "m1/alpha", "vllm/Qwen/Qwen2.5-7B"]

[models.alpha]
targets = ["m2/overridden"]
"""


@pytest.fixture
def assembly(build):
    return build(CONFIG)


def describe(targets):
    return [(t.provider.name, t.model, t.label) for t in targets]


def test_alias_resolves_to_targets_in_config_order(assembly):
    targets = assembly.router.resolve("chat")
    assert describe(targets) == [
        ("m2", "beta", "m2/beta"),
        ("m1", "alpha", "m1/alpha"),
        ("vllm", "Qwen/Qwen2.5-7B", "vllm/Qwen/Qwen2.5-7B"),
    ]
    assert targets[0].provider is assembly.providers["m2"]


def test_provider_slash_model_routes_directly(assembly):
    assert describe(assembly.router.resolve("m1/anything")) == [("m1", "anything", "m1/anything")]


def test_direct_model_keeps_further_slashes(assembly):
    [target] = assembly.router.resolve("vllm/Qwen/Qwen2.5-7B-Instruct")
    assert (target.provider is assembly.providers["vllm"], target.model) == (True, "Qwen/Qwen2.5-7B-Instruct")


def test_bare_listed_model_routes_to_first_provider_listing_it(assembly):
    assert describe(assembly.router.resolve("shared")) == [("m1", "shared", "m1/shared")]
    assert describe(assembly.router.resolve("beta")) == [("m2", "beta", "m2/beta")]


def test_alias_wins_over_a_listed_model_of_the_same_name(assembly):
    assert describe(assembly.router.resolve("alpha")) == [("m2", "overridden", "m2/overridden")]


@pytest.mark.parametrize("model", ["nope/gpt-4o", "m1/", "gpt-4o"])
def test_unknown_model_is_404_on_param_model(assembly, model):
    with pytest.raises(ModelNotFound) as info:
        assembly.router.resolve(model)
    error = info.value
    assert (error.status, error.param, error.code, error.type) == (
        404,
        "model",
        "model_not_found",
        "invalid_request_error",
    )
    assert error.message == (
        f"The model {model!r} does not exist on this gateway. Use an alias from "
        "GET /v1/models or 'provider/model' with a configured provider."
    )


def test_unknown_model_suggests_close_alias(assembly):
    with pytest.raises(ModelNotFound) as info:
        assembly.router.resolve("caht")
    assert "does not exist on this gateway (did you mean \"chat\"?)" in info.value.message


def test_unknown_model_suggests_close_listed_model(assembly):
    with pytest.raises(ModelNotFound) as info:
        assembly.router.resolve("betta")
    assert '(did you mean "beta"?)' in info.value.message


def test_very_long_unknown_model_name_is_truncated(assembly):
    with pytest.raises(ModelNotFound) as info:
        assembly.router.resolve("x" * 5000)
    assert f"'{'x' * 200}...'" in info.value.message
    assert len(info.value.message) < 400


def test_listing_has_aliases_then_provider_models(assembly):
    assert assembly.router.listing() == [
        ("chat", "sluicegate"),
        ("alpha", "sluicegate"),
        ("m1/alpha", "m1"),
        ("m1/shared", "m1"),
        ("m2/shared", "m2"),
        ("m2/beta", "m2"),
    ]
    assert assembly.router.aliases == ("chat", "alpha")


def test_router_without_models_routes_direct_names_only(build):
    router = build('[providers.m]\ntype = "mock"\n').router
    assert router.listing() == []
    assert describe(router.resolve("m/x")) == [("m", "x", "m/x")]
    with pytest.raises(ModelNotFound):
        router.resolve("x")
