"""A store is a component like a cache backend (``register_stores``): another plugin's store is
chosen by ``[store] backend``, checked against the contract, and its options are its own."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import aiohttp
import pytest

from sluicegate import hookimpl
from sluicegate.errors import ConfigError
from sluicegate.gateway import GatewaySource
from sluicegate_governance.issued import digest, new_id, new_secret, shown_prefix
from sluicegate_governance.model import VirtualKey

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "hooks" / "register_stores.py"

CONFIG = """
[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]

[store]
backend = "{backend}"
url = "sqlite+aiosqlite:///{path}"
"""


def _example():
    spec = importlib.util.spec_from_file_location("register_stores_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_store_from_another_plugin_serves_the_gateway(gateway, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="audited_store")
    server = await gateway(CONFIG.format(backend="audited", path=tmp_path / "s.db"),
                           extra_plugins=[("audited", _example())])
    hub = server.gateway.current.extensions["store"]
    assert type(hub.store).__name__ == "AuditedStore"
    secret = new_secret()
    key = VirtualKey(id=new_id("key"), name="ci", digest=digest(secret), prefix=shown_prefix(secret))
    await hub.put_key(key)
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base_url + "/v1/chat/completions",
                             json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
                             headers={"Authorization": f"Bearer {secret}"}) as response:
            assert response.status == 200
    assert any(key.id in r.getMessage() for r in caplog.records if r.name == "audited_store")
    assert not any(secret in r.getMessage() for r in caplog.records)


def _load(text: str, plugins=()):
    return GatewaySource(text=text, env={}, extra_plugins=tuple(plugins)).load()


def test_an_unknown_store_is_a_config_problem_naming_the_installed_ones(tmp_path):
    from sluicegate.gateway import assemble
    from sluicegate.services import Services

    loaded = _load(CONFIG.format(backend="sqll", path=tmp_path / "s.db"))
    with pytest.raises(ConfigError) as caught:
        assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))
    text = str(caught.value)
    assert "store.backend" in text and "'sqll'" in text and 'did you mean "sql"' in text, text


def test_a_store_missing_contract_methods_is_refused_naming_its_plugin(tmp_path):
    from sluicegate.gateway import assemble
    from sluicegate.services import Services

    class HalfStore:
        async def open(self):
            pass

        async def aclose(self):
            pass

    class Plugin:
        @hookimpl
        def register_stores(self, register):
            register("half", lambda *, options, services: HalfStore())

    loaded = _load(CONFIG.format(backend="half", path=tmp_path / "s.db").replace('url = ', '# url = '),
                   [("half_store", Plugin())])
    with pytest.raises(ConfigError) as caught:
        assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))
    text = str(caught.value)
    assert "store 'half'" in text and "half_store" in text and "snapshot" in text, text


def test_the_sql_store_keys_belong_to_the_sql_backend(tmp_path):
    """``url`` is the SQL store's key: a store that does not declare it refuses it."""

    class Plugin:
        @hookimpl
        def register_stores(self, register):
            register("bare", lambda *, options, services: None)

    with pytest.raises(ConfigError) as caught:
        _load(CONFIG.format(backend="bare", path=tmp_path / "s.db"), [("bare_store", Plugin())])
    assert "store.url" in str(caught.value), str(caught.value)
