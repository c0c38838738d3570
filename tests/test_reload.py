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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(path, port: int, first_alias: str):
    """``sluicegate serve --config path`` as a process, answering with ``first_alias``; SIGTERM after."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
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
