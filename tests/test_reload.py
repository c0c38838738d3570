"""Config reload: a good new config is swapped in atomically, a bad one is refused and the old serves."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import start_server

CONFIG = """
[providers.mock]
type = "mock"
[models.{alias}]
targets = ["mock/m"]
"""


async def model_ids(base_url: str) -> list[str]:
    async with aiohttp.ClientSession() as http, http.get(base_url + "/v1/models") as response:
        return [entry["id"] for entry in (await response.json())["data"]]


async def test_reload_swaps_good_config_and_refuses_bad(tmp_path, caplog):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(alias="first"))
    gateway = Gateway(GatewaySource(path=str(path), env={}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    try:
        assert await model_ids(server.base_url) == ["first"]
        path.write_text(CONFIG.format(alias="second"))
        assert await gateway.reload() is True
        assert await model_ids(server.base_url) == ["second"]

        path.write_text(CONFIG.format(alias="third") + "\n[bogus]\n")
        assert await gateway.reload() is False
        assert await model_ids(server.base_url) == ["second"]
        assert "bogus: unknown table" in caplog.text
    finally:
        await server.stop()


async def test_a_reload_never_raises_an_unexpected_error_is_a_refusal(tmp_path, caplog, monkeypatch):
    # Whatever goes wrong before the swap must not escape: the file watch awaits reload() and
    # would stop for good.
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(alias="first"))
    gateway = Gateway(GatewaySource(path=str(path), env={}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    try:
        def broken_load(self):
            raise ValueError("a bug while loading")

        monkeypatch.setattr(GatewaySource, "load", broken_load)
        assert await gateway.reload() is False
        assert gateway.last_reload.problems == ["unexpected ValueError: a bug while loading"]
        assert "config reload failed unexpectedly" in caplog.text
        assert await model_ids(server.base_url) == ["first"]
        monkeypatch.undo()
        path.write_text(CONFIG.format(alias="second"))
        assert await gateway.reload() is True
        assert await model_ids(server.base_url) == ["second"]
    finally:
        await server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(path, port: int, first_alias: str, log=None):
    """``sluicegate serve --config path`` as a process, answering with ``first_alias``; SIGTERM after.

    ``log``: a file for its stderr (discarded otherwise).
    """
    err = await asyncio.to_thread(open, log or os.devnull, "w")
    with err:  # the child holds its own copy once started
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path),
            stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                assert await model_ids(base) == [first_alias]
                break
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline, "server did not start"
                await asyncio.sleep(0.1)
        yield process, base
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP is POSIX")
async def test_sighup_reloads_a_running_server(tmp_path):
    path = tmp_path / "gateway.toml"
    port = free_port()
    # No file watch: only the signal may reload it.
    path.write_text(f"[server]\nport = {port}\nwatch_config = false\n" + CONFIG.format(alias="before"))
    async with serving(path, port, "before") as (process, base):
        path.write_text(f"[server]\nport = {port}\nwatch_config = false\n" + CONFIG.format(alias="after"))
        await asyncio.sleep(0.5)
        assert await model_ids(base) == ["before"]  # unwatched: the change alone does nothing
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while await model_ids(base) != ["after"]:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            await asyncio.sleep(0.05)
        assert process.returncode is None


async def test_serve_does_not_reload_an_unchanged_file_at_start(tmp_path):
    """The file watch compares against the bytes the config was loaded from: a fresh
    ``sluicegate serve`` must not take its own file for a change."""
    path = tmp_path / "gateway.toml"
    port = free_port()
    path.write_text(f"[server]\nport = {port}\n" + CONFIG.format(alias="only"))
    async with serving(path, port, "only") as (_, base):
        await asyncio.sleep(1.5)  # past the watch's first once-a-second look
        async with aiohttp.ClientSession() as http, http.get(base + "/health") as response:
            health = await response.json()
        assert health["config"]["last_reload"] == {"ok": True, "at": None, "problems": 0}


# -- issue 11: a config with no providers (an empty file above all) is refused everywhere ----------

EMPTY_REFUSED = "the config is empty: it has no providers"
NONE_REFUSED = "providers: no providers are configured"


async def test_reload_of_an_empty_or_provider_less_file_is_refused_and_the_old_config_serves(tmp_path, caplog):
    path = tmp_path / "gateway.toml"
    path.write_text("[server]\nwatch_config = false\n" + CONFIG.format(alias="kept"))
    gateway = Gateway(GatewaySource(path=str(path), env={}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    try:
        path.write_text("")
        assert await gateway.reload() is False
        assert EMPTY_REFUSED in caplog.text and "the previous config keeps serving" in caplog.text
        assert await model_ids(server.base_url) == ["kept"]

        path.write_text("[server]\nwatch_config = false\n")
        assert await gateway.reload() is False
        assert gateway.last_reload.problems == [
            'providers: no providers are configured; add at least one [providers.<id>] table (e.g. type = "mock")'
        ]
        assert await model_ids(server.base_url) == ["kept"]
        async with aiohttp.ClientSession() as http:
            body = {"model": "kept", "messages": [{"role": "user", "content": "still here"}]}
            async with http.post(server.base_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200
    finally:
        await server.stop()


async def test_admin_reload_of_an_empty_file_is_refused_with_the_reason(tmp_path):
    admin = "admin-token-reload-0123456789"
    path = tmp_path / "gateway.toml"
    path.write_text(f'[server]\nwatch_config = false\n[admin]\ntoken = "{admin}"\n' + CONFIG.format(alias="kept"))
    gateway = Gateway(GatewaySource(path=str(path), env={}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    try:
        path.write_text("")
        async with aiohttp.ClientSession() as http, http.post(
            server.base_url + "/admin/reload", headers={"Authorization": f"Bearer {admin}"}
        ) as response:
            assert response.status == 422
            body = await response.json()
        assert body["ok"] is False and body["error"]["code"] == "config_invalid"
        assert EMPTY_REFUSED in body["error"]["message"]
        assert await model_ids(server.base_url) == ["kept"]
    finally:
        await server.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP is POSIX")
async def test_sighup_after_writing_an_empty_file_keeps_serving_and_logs_the_refusal(tmp_path):
    path = tmp_path / "gateway.toml"
    log = tmp_path / "serve.log"
    port = free_port()
    good = f"[server]\nport = {port}\nwatch_config = false\n" + CONFIG.format(alias="before")
    path.write_text(good)
    async with serving(path, port, "before", log) as (process, base):
        path.write_text("")
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "config reload refused" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.05)
        assert EMPTY_REFUSED in log.read_text()
        assert await model_ids(base) == ["before"]
        # The next good file is taken as usual.
        path.write_text(good.replace("before", "after"))
        process.send_signal(signal.SIGHUP)
        while await model_ids(base) != ["after"]:
            assert time.monotonic() < deadline + 10, "SIGHUP did not reload"
            await asyncio.sleep(0.05)
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(("text", "problem"), [
    ("", EMPTY_REFUSED),
    ("# nothing yet\n", EMPTY_REFUSED),
    ("[server]\nport = 8899\n", NONE_REFUSED),
    ("[providers]\n", NONE_REFUSED),
])
def test_check_and_serve_refuse_a_config_without_providers(tmp_path, text, problem):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    for command in (["check"], ["serve", "--port", str(free_port())]):
        done = subprocess.run([sys.executable, "-m", "sluicegate.cli", *command, "--config", str(path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert f"error: {path}: 1 problem(s):\n  - {problem}" in done.stderr
        assert "Traceback" not in done.stderr and "listening" not in done.stdout
