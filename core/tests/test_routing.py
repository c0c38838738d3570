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


# -- glob aliases and the default route --------------------------------------------------------

GLOBS = """
[providers.native]
type = "mock"

[providers.compat]
type = "mock"
models = ["listed-claude-x"]

[models."claude-*"]
targets = ["native/*", "compat/deepseek-chat"]

[models."claude-opus-*"]
targets = ["native/claude-opus-4-1"]

[models."claude-?-haiku"]
targets = ["compat/haiku-like"]

[models."gpt-5[.-]*"]
targets = ["compat/*"]

[models."*-codex-mini"]
targets = ["compat/codex-like"]

[models."claude-sonnet-4-5"]
targets = ["compat/exact"]

[models."*"]
targets = ["compat/default-model"]
"""


@pytest.fixture
def globs(build):
    return build(GLOBS)


@pytest.mark.parametrize(
    "asked, route_name, targets",
    [
        # A Claude Code name through "claude-*": "native/*" forwards the name as it was asked.
        ("claude-opus-5-5-x", "claude-opus-*", [("native", "claude-opus-4-1", "native/claude-opus-4-1")]),
        ("claude-sonnet-4-6", "claude-*", [("native", "claude-sonnet-4-6", "native/claude-sonnet-4-6"),
                                            ("compat", "deepseek-chat", "compat/deepseek-chat")]),
        # An exact alias wins over every glob that matches it.
        ("claude-sonnet-4-5", "claude-sonnet-4-5", [("compat", "exact", "compat/exact")]),
        # "?" is one character; the pattern with more literal characters wins over "claude-*".
        ("claude-3-haiku", "claude-?-haiku", [("compat", "haiku-like", "compat/haiku-like")]),
        # "[...]" is one of a set: Codex's names.
        ("gpt-5.1-codex", "gpt-5[.-]*", [("compat", "gpt-5.1-codex", "compat/gpt-5.1-codex")]),
        ("gpt-5-codex", "gpt-5[.-]*", [("compat", "gpt-5-codex", "compat/gpt-5-codex")]),
        # More literal characters beat a longer literal prefix.
        ("gpt-5-codex-mini", "*-codex-mini", [("compat", "codex-like", "compat/codex-like")]),
        # "*" takes every name nothing else claims: the default route.
        ("o3-mini", "*", [("compat", "default-model", "compat/default-model")]),
        ("nope/x", "*", [("compat", "default-model", "compat/default-model")]),
        # provider/model of a configured provider and provider-listed names go where they say.
        ("native/claude-opus-4-8", "native/claude-opus-4-8", [("native", "claude-opus-4-8", "native/claude-opus-4-8")]),
        ("listed-claude-x", "compat/listed-claude-x", [("compat", "listed-claude-x", "compat/listed-claude-x")]),
    ],
)
def test_glob_aliases_resolve_by_precedence(globs, asked, route_name, targets):
    route = globs.router.resolve(asked)
    assert route.name == route_name
    assert describe(route) == targets


def test_most_literal_characters_win_whatever_the_file_order(build):
    router = build("""
[providers.m]
type = "mock"
[models."*"]
targets = ["m/any"]
[models."c*"]
targets = ["m/c"]
[models."claude-*"]
targets = ["m/claude"]
[models."claude-opus-*"]
targets = ["m/opus"]
""").router
    assert [router.resolve(name).name for name in ("claude-opus-4-8", "claude-haiku", "cx", "x")] == [
        "claude-opus-*", "claude-*", "c*", "*"]


def test_equally_specific_globs_go_to_the_one_written_first(build):
    text = """
[providers.m]
type = "mock"
[models."{first}"]
targets = ["m/first"]
[models."{second}"]
targets = ["m/second"]
"""
    router = build(text.format(first="ab*", second="*ab")).router
    assert router.resolve("abab").name == "ab*"
    router = build(text.format(first="*ab", second="ab*")).router
    assert router.resolve("abab").name == "*ab"


def test_without_a_default_route_an_unmatched_name_is_404(build):
    router = build('[providers.m]\ntype = "mock"\n[models."claude-*"]\ntargets = ["m/*"]\n').router
    with pytest.raises(ModelNotFound):
        router.resolve("gpt-5.5")
    assert describe(router.resolve("claude-opus-4-8")) == [("m", "claude-opus-4-8", "m/claude-opus-4-8")]


def test_an_exact_alias_may_forward_its_own_name(build):
    router = build('[providers.m]\ntype = "mock"\n[models."claude-opus-4-8"]\ntargets = ["m/*"]\n').router
    assert describe(router.resolve("claude-opus-4-8")) == [("m", "claude-opus-4-8", "m/claude-opus-4-8")]


def test_glob_aliases_are_not_listed_as_models(globs):
    listed = [model for model, _ in globs.router.listing()]
    assert listed == ["claude-sonnet-4-5", "compat/listed-claude-x"]
    assert "claude-*" in globs.router.aliases  # still part of the config (health shows them)


def test_resolutions_are_remembered_in_a_bounded_memo(build):
    from sluicegate.routing import Router

    assembly = build(GLOBS)
    router = Router(assembly.providers, assembly.config.models, memo_size=4)
    first = router.resolve("claude-x-1")
    assert router.resolve("claude-x-1") is first  # remembered: the same route object
    for index in range(2, 10):
        router.resolve(f"claude-x-{index}")
    # Pushed out by names asked for since: resolved again, equal but not the same object.
    again = router.resolve("claude-x-1")
    assert again is not first and describe(again) == describe(first)
    info = router._memo.cache_info()
    assert (info.maxsize, info.currsize) == (4, 4)


def test_a_balanced_glob_route_does_not_pin_stats_for_every_name(build):
    from sluicegate.resilience.balance import StatsBoard
    from sluicegate.routing import Router

    assembly = build("""
[providers.m]
type = "mock"
[models."claude-*"]
targets = ["m/*", "m/fixed"]
strategy = "least-busy"
""")
    board = StatsBoard(max_entries=8)
    router = Router(assembly.providers, assembly.config.models, board)
    for index in range(50):
        route = router.resolve(f"claude-{index}")
        assert {t.model for t in route.try_order()} == {f"claude-{index}", "fixed"}
    # Client-chosen names come and go; the board stays within its bound.
    assert len(board.snapshot()) <= 8


@pytest.mark.parametrize(
    "pattern, count",
    [("*", 0), ("claude-*", 7), ("claude-?-haiku", 13), ("gpt-5[.-]*", 5), ("a[!b]c", 2), ("[]x]", 0), ("a[b", 3)],
)
def test_literal_count(pattern, count):
    from sluicegate.routing import literal_count

    assert literal_count(pattern) == count


def test_a_target_model_pattern_other_than_star_is_refused(build):
    from sluicegate.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        build('[providers.m]\ntype = "mock"\n[models."claude-*"]\ntargets = ["m/claude-*"]\n')
    assert [str(p) for p in info.value.problems] == [
        "models.claude-*.targets[0]: 'm/claude-*': a target's model is one name, "
        "or '*' for the model name the client asked for"
    ]


def test_targets_carry_their_providers_output_cap(build):
    router = build("""
[providers.small]
type = "mock"
max_output_tokens = 8192
[providers.big]
type = "mock"
[models.chat]
targets = ["small/a", "big/b"]
""").router
    assert [t.output_cap for t in router.resolve("chat")] == [8192, None]
    assert router.resolve("small/direct")[0].output_cap == 8192


def test_output_cap_must_be_a_positive_integer(build):
    from sluicegate.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        build('[providers.m]\ntype = "mock"\nmax_output_tokens = 0\n')
    assert [str(p) for p in info.value.problems] == ["providers.m.max_output_tokens: must be at least 1, got 0"]
