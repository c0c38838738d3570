"""``register_response_stores`` end to end: the ``[responses]`` table picks a registered store, the
running gateway exposes it as ``Assembly.responses``, reloads keep stored responses, and retired
stores are closed."""

from __future__ import annotations

import pytest

import sluicegate
from sluicegate.config.loader import load_config_text
from sluicegate.config.responses import ResponsesConfig
from sluicegate.errors import ConfigError, ConfigProblem, PluginError
from sluicegate.features.memory_response_store import MemoryResponseStore
from sluicegate.features.response_store import NullResponseStore, StoredResponse
from sluicegate.gateway import assemble

MOCK = """
[server]
shutdown_grace = 0
[providers.mock]
type = "mock"
"""


def item(response_id: str, previous: str | None = None) -> StoredResponse:
    return StoredResponse({"id": response_id, "output": []}, [{"id": f"in_{response_id}", "type": "message"}], previous)


class DictStore:
    """A store kept in a dict, counting how often it is closed."""

    def __init__(self, options: ResponsesConfig, services) -> None:
        self.options = options
        self.services = services
        self.items: dict[tuple[str | None, str], StoredResponse] = {}
        self.closed = 0

    async def put(self, tenant, item):
        self.items[(tenant, item.id)] = item

    async def get(self, tenant, response_id):
        return self.items.get((tenant, response_id))

    async def delete(self, tenant, response_id):
        return self.items.pop((tenant, response_id), None) is not None

    async def history(self, tenant, response_id, *, max_links=None):
        found = self.items.get((tenant, response_id))
        return None if found is None else [found]

    async def aclose(self):
        self.closed += 1


class DictStorePlugin:
    def __init__(self, refuse: bool = False) -> None:
        self.made: list[DictStore] = []
        self.refuse = refuse

    @sluicegate.hookimpl
    def register_response_stores(self, register):
        register("dict", self.factory)

    def factory(self, *, options, services):
        if self.refuse:
            raise ConfigError([ConfigProblem("url", "is not where a dict lives")])
        store = DictStore(options, services)
        self.made.append(store)
        return store


def build(text: str, plugins=()):
    from sluicegate.services import Services

    loaded = load_config_text(text, env={}, extra_plugins=plugins)
    return assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))


async def test_the_responses_table_picks_a_plugin_store_that_the_running_gateway_exposes(gateway):
    plugin = DictStorePlugin()
    server = await gateway(MOCK + '[responses]\nstore = "dict"\nttl = 42\nmax_chain = 7\n',
                           extra_plugins=[("dicts", plugin)])
    store = server.gateway.current.responses
    assert plugin.made == [store]
    assert store.options.ttl == 42 and store.options.max_chain == 7
    assert store.services.registry is not None  # the assembly's own services
    await store.put("t-1", item("resp_1"))
    assert await server.gateway.current.responses.get("t-1", "resp_1") == item("resp_1")

    assert await server.gateway.reload()
    second = server.gateway.current.responses
    assert plugin.made == [store, second] and second is not store
    await server.stop()
    # The retired store is closed (after the grace), and so is the last one at shutdown.
    assert (store.closed, second.closed) == (1, 1)


async def test_without_a_table_the_memory_store_serves_and_a_reload_keeps_its_responses(gateway):
    server = await gateway(MOCK)
    first = server.gateway.current.responses
    assert isinstance(first, MemoryResponseStore)
    await first.put("t-1", item("resp_1"))
    await first.put("t-1", item("resp_2", "resp_1"))
    assert await server.gateway.reload()
    after = server.gateway.current.responses
    assert after is not first
    assert [entry.id for entry in await after.history("t-1", "resp_2")] == ["resp_1", "resp_2"]
    await server.stop()  # closing the retired and the current store keeps the entries too
    assert await after.get("t-1", "resp_1") == item("resp_1")


def test_enabled_false_stores_nothing_and_builds_no_store():
    plugin = DictStorePlugin()
    assembly = build(MOCK + '[responses]\nenabled = false\nstore = "dict"\n', [("dicts", plugin)])
    assert isinstance(assembly.responses, NullResponseStore) and plugin.made == []


def test_an_unknown_store_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError) as caught:
        build(MOCK + '[responses]\nstore = "dcit"\n', [("dicts", DictStorePlugin())])
    [problem] = caught.value.problems
    assert problem.path == "responses.store"
    assert "unknown response store 'dcit'" in problem.message and '(did you mean "dict"?)' in problem.message
    assert "dict" in problem.message.split("installed: ")[1] and "memory" in problem.message


def test_a_factory_refusing_its_options_refuses_the_config_at_the_tables_path():
    with pytest.raises(ConfigError) as caught:
        build(MOCK + '[responses]\nstore = "dict"\n[retry]\nattempts = 0\n', [("dicts", DictStorePlugin(refuse=True))])
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["retry.attempts"]  # the schema's problems come first, alone
    with pytest.raises(ConfigError) as caught:
        build(MOCK + '[responses]\nstore = "dict"\n', [("dicts", DictStorePlugin(refuse=True))])
    assert [str(p) for p in caught.value.problems] == ["responses.url: is not where a dict lives"]


def test_a_second_memory_store_is_a_start_up_error_naming_both_plugins():
    class Twin:
        @sluicegate.hookimpl
        def register_response_stores(self, register):
            register("memory", lambda **_: None)

    with pytest.raises(PluginError) as caught:
        build(MOCK, [("twin", Twin())])
    message = str(caught.value)
    assert "response_store 'memory' is registered twice" in message
    assert "sluicegate.response_stores" in message and "'twin'" in message


def test_with_the_default_plugin_disabled_the_memory_store_is_unknown_unless_storing_is_off():
    off = '[plugins]\ndisabled = ["sluicegate.response_stores"]\n'
    with pytest.raises(ConfigError) as caught:
        build(MOCK + off)
    assert caught.value.problems[0].path == "responses.store"
    assert "unknown response store 'memory'" in caught.value.problems[0].message
    assembly = build(MOCK + off + "[responses]\nenabled = false\n")
    assert isinstance(assembly.responses, NullResponseStore)


@pytest.mark.parametrize(("table", "path", "words"), [
    ("ttl = 0", "responses.ttl", "greater than 0"),
    ("max_entries = 0", "responses.max_entries", "at least 1"),
    ("max_mb = -1", "responses.max_mb", "greater than 0"),
    ("max_chain = 0", "responses.max_chain", "at least 1"),
    ('ttl = "1d"', "responses.ttl", ""),
    ("max_entires = 5", "responses.max_entires", 'did you mean "max_entries"'),
])
def test_the_table_is_strict(table, path, words):
    with pytest.raises(ConfigError) as caught:
        build(MOCK + f"[responses]\n{table}\n")
    [problem] = caught.value.problems
    assert problem.path == path and words in problem.message
