"""Plugin discovery, registration errors, disabling, first_result order and hookspec docs."""

from __future__ import annotations

import importlib.metadata
import inspect
import types

import pytest

from sluicegate import __version__, hookimpl, hookspecs
from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError, GatewayError, PluginError
from sluicegate.plugins import DEFAULT_PLUGINS, first_result, load_plugins
from sluicegate.provider import Provider, ProviderOptions
from sluicegate.registry import PROVIDER, PluginInfo


def plugin(**hooks) -> types.SimpleNamespace:
    """An in-process plugin object whose attributes are hookimpls."""
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def provider_plugin(type_name: str) -> types.SimpleNamespace:
    def register_providers(register):
        register(type_name, Provider, options=ProviderOptions)

    return plugin(register_providers=register_providers)


def test_default_plugins_are_registered_with_core_distribution():
    host = load_plugins(use_entry_points=False)
    assert [p.name for p in host.plugins] == [name for name, _ in DEFAULT_PLUGINS]
    for name, module in DEFAULT_PLUGINS:
        assert host.info(name) == PluginInfo(name, "sluicegate", __version__, module)
        assert host.pm.get_plugin(name) is not None


def test_entry_point_plugins_are_discovered_with_distribution_and_version():
    host = load_plugins()
    for name, dist in (("openai", "sluicegate-openai"), ("mock", "sluicegate-mock")):
        info = host.info(name)
        assert info is not None
        assert (info.distribution, info.version) == (dist, importlib.metadata.version(dist))
    assert host.registry.get(PROVIDER, "mock").plugin.name == "mock"
    assert host.registry.get(PROVIDER, "openai").plugin.distribution == "sluicegate-openai"


def test_use_entry_points_false_skips_installed_plugins():
    host = load_plugins(use_entry_points=False)
    assert host.info("mock") is None
    assert host.registry.of_kind(PROVIDER) == {}


def test_disabled_plugin_is_skipped_and_its_provider_type_vanishes():
    every = set(load_plugins().registry.of_kind(PROVIDER))
    host = load_plugins(disabled=["mock"])
    assert host.info("mock") is None
    assert set(host.registry.of_kind(PROVIDER)) == every - {"mock"}


def test_plugins_disabled_in_config_removes_the_provider_type():
    text = '[plugins]\ndisabled = ["mock"]\n[providers.m]\ntype = "mock"\n'
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    others = ", ".join(sorted(set(load_plugins().registry.of_kind(PROVIDER)) - {"mock"}))
    assert (problem.path, problem.message) == (
        "providers.m.type",
        f"unknown provider type 'mock'; installed types: {others}",
    )


def test_default_plugin_can_be_disabled():
    host = load_plugins(disabled=["sluicegate.openai_errors"], use_entry_points=False)
    assert [plugin.name for plugin in host.plugins] == [
        name for name, _ in DEFAULT_PLUGINS if name != "sluicegate.openai_errors"
    ]
    host = load_plugins(disabled=[name for name, _ in DEFAULT_PLUGINS], use_entry_points=False)
    assert host.plugins == []
    assert host.pm.hook.gateway_error_body.get_hookimpls() == []


def test_extra_plugin_is_registered_as_in_process():
    host = load_plugins(extra=[("mine", provider_plugin("mine"))], use_entry_points=False)
    assert host.info("mine").distribution == "(in process)"
    assert host.registry.get(PROVIDER, "mine").plugin.name == "mine"


def test_duplicate_component_name_names_both_plugins_and_distributions():
    with pytest.raises(PluginError) as info:
        load_plugins(extra=[("dup", provider_plugin("mock"))])
    message = str(info.value)
    assert "provider 'mock' is registered twice" in message
    assert "plugin 'mock' (distribution sluicegate-mock)" in message
    assert "plugin 'dup' (distribution (in process))" in message


def test_duplicate_component_across_two_installed_distributions(fake_dist):
    fake_dist(
        "sluicegate-clash",
        "2.0.1",
        {"clash": "sg_fake_clash"},
        {
            "sg_fake_clash": """
            from sluicegate import hookimpl
            from sluicegate.provider import Provider, ProviderOptions

            @hookimpl
            def register_providers(register):
                register("openai", Provider, options=ProviderOptions)
            """
        },
    )
    with pytest.raises(PluginError) as info:
        load_plugins()
    message = str(info.value)
    assert "provider 'openai' is registered twice" in message
    assert "plugin 'openai' (distribution sluicegate-openai)" in message
    assert "plugin 'clash' (distribution sluicegate-clash)" in message


def test_fake_distribution_plugin_loads_with_its_name_and_version(fake_dist):
    fake_dist(
        "sluicegate-fine",
        "3.4.5",
        {"fine": "sg_fake_fine"},
        {
            "sg_fake_fine": """
            from sluicegate import hookimpl
            from sluicegate.provider import Provider, ProviderOptions

            @hookimpl
            def register_providers(register):
                register("fine", Provider, options=ProviderOptions)
            """
        },
    )
    host = load_plugins()
    assert host.info("fine") == PluginInfo("fine", "sluicegate-fine", "3.4.5", "sg_fake_fine")
    assert host.registry.get(PROVIDER, "fine").plugin.distribution == "sluicegate-fine"


def test_plugin_that_fails_to_import_names_plugin_and_distribution(fake_dist):
    fake_dist(
        "sluicegate-broken",
        "9.8.7",
        {"broken": "sg_fake_broken"},
        {"sg_fake_broken": "raise RuntimeError('kaboom at import')\n"},
    )
    with pytest.raises(PluginError) as info:
        load_plugins()
    assert str(info.value) == (
        "plugin 'broken' from distribution sluicegate-broken 9.8.7 failed to load "
        "(sg_fake_broken): RuntimeError: kaboom at import"
    )


def test_broken_plugin_can_be_disabled(fake_dist):
    fake_dist("sluicegate-broken2", "1.0", {"broken2": "sg_fake_broken2"}, {"sg_fake_broken2": "1/0\n"})
    host = load_plugins(disabled=["broken2"])
    assert host.info("broken2") is None
    assert host.info("mock") is not None


def test_plugin_name_claimed_by_two_distributions(fake_dist):
    fake_dist("sluicegate-impostor", "0.0.1", {"mock": "sg_fake_impostor"}, {"sg_fake_impostor": ""})
    with pytest.raises(PluginError) as info:
        load_plugins()
    message = str(info.value)
    assert message.startswith("plugin name 'mock' is claimed by two distributions: ")
    assert "sluicegate-impostor" in message and "sluicegate-mock" in message


def test_hookimpl_with_invalid_signature_is_refused():
    def register_providers(register, unexpected):  # 'unexpected' is not in the spec
        return None

    with pytest.raises(PluginError) as info:
        load_plugins(extra=[("bad", plugin(register_providers=register_providers))], use_entry_points=False)
    message = str(info.value)
    assert message.startswith("plugin 'bad' ((in process)) is invalid: ")
    assert "unexpected" in message


def test_same_plugin_name_registered_twice_is_refused():
    extra = [("twin", provider_plugin("a")), ("twin", provider_plugin("b"))]
    with pytest.raises(PluginError, match=r"^plugin 'twin' \(\(in process\)\)"):
        load_plugins(extra=extra, use_entry_points=False)


def test_register_hook_that_raises_names_plugin_and_hook():
    def register_providers(register):
        raise LookupError("nope")

    with pytest.raises(PluginError) as info:
        load_plugins(extra=[("raiser", plugin(register_providers=register_providers))], use_entry_points=False)
    assert str(info.value) == "plugin 'raiser' ((in process)) failed in register_providers: LookupError: nope"


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("", Provider), {}, "registered a provider with an empty or non-string name"),
        (("x", "not callable"), {}, "factory is not callable"),
        (("x", Provider), {"options": dict}, "options must be an attrs class"),
    ],
)
def test_invalid_registrations_are_refused(args, kwargs, expected):
    def register_providers(register):
        register(*args, **kwargs)

    with pytest.raises(PluginError, match=expected):
        load_plugins(extra=[("p", plugin(register_providers=register_providers))], use_entry_points=False)


def test_registration_order_and_always_are_kept():
    def register_middlewares(register):
        register("mw", lambda **_: None, order=250, always=True)

    host = load_plugins(extra=[("p", plugin(register_middlewares=register_middlewares))], use_entry_points=False)
    component = host.registry.get("middleware", "mw")
    assert (component.order, component.always) == (250, True)
    assert host.registry.by_plugin("p") == [component]


def test_an_unknown_register_keyword_names_the_plugin_its_distribution_and_the_keyword_meant():
    def register_middlewares(register):
        register("mw", lambda **_: None, ordr=100)

    with pytest.raises(PluginError) as info:
        load_plugins(extra=[("typo", plugin(register_middlewares=register_middlewares))], use_entry_points=False)
    assert str(info.value) == (
        "plugin 'typo' (distribution (in process)) called register() in register_middlewares with an "
        "unknown keyword 'ordr' (did you mean \"order\"?); it takes options, order, always"
    )


def test_a_keyword_another_kind_takes_is_refused_too():
    # Only the kinds that run in an order take one; a cache backend's would silently mean nothing.
    def register_cache_backends(register):
        register("mine", lambda **_: None, order=1)

    with pytest.raises(PluginError, match=r"register_cache_backends with an unknown keyword 'order'; it takes options$"):
        load_plugins(extra=[("p", plugin(register_cache_backends=register_cache_backends))], use_entry_points=False)


@pytest.mark.parametrize(("call", "expected"), [
    (lambda register: register("mw", lambda **_: None, order="10"), "order must be an integer"),
    (lambda register: register("mw", lambda **_: None, always=1), "always must be true or false"),
    (lambda register: register("mw"), "called register() in register_middlewares wrongly: missing a required"),
])
def test_register_arguments_are_checked(call, expected):
    def register_middlewares(register):
        call(register)

    with pytest.raises(PluginError) as info:
        load_plugins(extra=[("p", plugin(register_middlewares=register_middlewares))], use_entry_points=False)
    assert expected in str(info.value) and "plugin 'p'" in str(info.value)


def _error_body_plugin(result=None, exc=None, **marker):
    def gateway_error_body(error, request_id, api):
        if exc is not None:
            raise exc
        return result

    return types.SimpleNamespace(gateway_error_body=hookimpl(**marker)(gateway_error_body))


def test_first_result_follows_pluggy_order():
    extra = [("first", _error_body_plugin("from-first")), ("second", _error_body_plugin("from-second"))]
    host = load_plugins(extra=extra, use_entry_points=False)
    call = first_result(host.pm, "gateway_error_body")
    error = GatewayError("m")
    expected = host.pm.hook.gateway_error_body(error=error, request_id="r", api="openai")
    assert expected == "from-second"  # pluggy calls the later registration first
    assert call(error=error, request_id="r", api="openai") == expected


def test_first_result_honours_tryfirst():
    extra = [
        ("eager", _error_body_plugin("from-eager", tryfirst=True)),
        ("late", _error_body_plugin("from-late")),
    ]
    host = load_plugins(extra=extra, use_entry_points=False)
    call = first_result(host.pm, "gateway_error_body")
    assert call(error=GatewayError("m"), request_id="r", api="openai") == "from-eager"


def test_first_result_treats_raising_and_none_as_no_answer():
    extra = [
        ("fallback", _error_body_plugin("from-fallback")),
        ("none", _error_body_plugin(None)),
        ("raiser", _error_body_plugin(exc=RuntimeError("bad plugin"))),
    ]
    host = load_plugins(extra=extra, use_entry_points=False)
    call = first_result(host.pm, "gateway_error_body")
    assert call(error=GatewayError("m"), request_id="r", api="openai") == "from-fallback"


def test_first_result_falls_back_to_the_default_body_of_each_api():
    host = load_plugins(extra=[("none", _error_body_plugin(None))], use_entry_points=False)
    call = first_result(host.pm, "gateway_error_body")
    error = GatewayError("boom", status=429, code="c", param="p")
    body = call(error=error, request_id="r", api="openai")
    assert body == {"error": {"message": "boom", "type": "server_error", "param": "p", "code": "c"}}
    body = call(error=error, request_id="r", api="anthropic")
    assert body == {"type": "error", "error": {"type": "rate_limit_error", "message": "boom"}, "request_id": "r"}


def test_first_result_without_implementations_returns_none():
    host = load_plugins(disabled=[name for name, _ in DEFAULT_PLUGINS], use_entry_points=False)
    call = first_result(host.pm, "gateway_error_body")
    assert call(error=GatewayError("m"), request_id="r", api="openai") is None


def test_every_hookspec_has_a_docstring():
    specs = {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }
    assert {
        "register_providers",
        "register_middlewares",
        "register_cache_backends",
        "register_rate_limiters",
        "register_breaker_policies",
        "register_extensions",
        "register_response_stores",
        "register_authenticators",
        "gateway_app_created",
        "gateway_error_body",
    } <= set(specs)
    for name, fn in specs.items():
        doc = inspect.getdoc(fn)
        assert doc and len(doc.split()) >= 10, f"hookspec {name} needs a real docstring"
    assert inspect.getdoc(hookspecs)


def test_hook_with_a_misspelled_name_is_refused():
    class Typo:
        @hookimpl
        def register_provider(self, register):  # missing the final "s"
            raise AssertionError("never called")

    with pytest.raises(PluginError) as excinfo:
        load_plugins(extra=[("typo", Typo())], use_entry_points=False)
    assert "'typo'" in str(excinfo.value)
    assert "register_provider" in str(excinfo.value)


def test_disabling_a_plugin_that_does_not_exist_is_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        load_config_text('[plugins]\ndisabled = ["mokc"]\n', env={})
    assert [(p.path, p.message) for p in excinfo.value.problems] == [
        ("plugins.disabled[0]", "no plugin is named 'mokc' (did you mean \"mock\"?)")
    ]
