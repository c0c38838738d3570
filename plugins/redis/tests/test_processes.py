"""Real ``sluicegate serve`` processes sharing one real Redis: one rate limit, one cache, no 500s
when Redis goes away."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sluicegate_redis.link import COOLDOWN

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process tests run on Linux")

CONFIG = """
[server]
host = "127.0.0.1"
port = 1
shutdown_grace = 1

[auth]
tokens = ["tok-limit", "tok-cache", "tok-many"]

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]

[ratelimit]
backend = "redis"
url = "{url}"
requests_per_minute = {rpm}
redis_timeout = 5.0

[cache]
backend = "redis"
url = "{url}"
redis_timeout = 5.0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, body: dict, token: str, timeout: float = 10) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(), headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}",
        })
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def chat(text: str) -> dict:
    return {"model": "echo", "messages": [{"role": "user", "content": text}]}


class Gateways:
    """``sluicegate serve`` processes on their own ports with one config; all killed at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, config: str) -> int:
        name = f"gateway-{len(self.procs)}"
        path = self.tmp_path / f"{name}.toml"
        path.write_text(config)
        log = self.tmp_path / f"{name}.log"  # a file, not a pipe: nobody has to drain it
        port = free_port()
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path), "--port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.procs.append((proc, log))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return port
            except OSError:
                time.sleep(0.05)
            finally:
                conn.close()
        raise AssertionError("serve did not answer within 15 s")

    def stop(self) -> list[str]:
        """Stop every process (SIGTERM, then SIGKILL); what each logged, for assertions."""
        logs = []
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            logs.append(log.read_text())
        return logs


@pytest.fixture
def gateways(tmp_path):
    running = Gateways(tmp_path)
    yield running
    running.stop()


def test_two_processes_share_one_rate_limit_and_one_cache(redis_server, gateways):
    config = CONFIG.format(url=redis_server.url, rpm=5)
    a, b = gateways.start(config), gateways.start(config)

    # Eight requests, alternating between the processes, one client token, a budget of five a
    # minute: exactly five pass, wherever they land. Each asks something new (no cache hits).
    statuses = []
    for index in range(8):
        status, raw, headers = request((a, b)[index % 2], chat(f"limited {index}"), "tok-limit")
        statuses.append(status)
        if status == 429:
            assert json.loads(raw)["error"]["code"] == "rate_limit_exceeded"
            assert float(headers["retry-after"]) > 0
    assert statuses == [200] * 5 + [429] * 3, statuses

    # Stored through A, found through B: the same answer byte for byte, with A's request id in it
    # (a fresh mock answer would carry B's).
    status, first, headers = request(a, chat("cache me"), "tok-cache")
    assert status == 200 and headers["x-sluicegate-cache"] == "miss"
    status, second, headers = request(b, chat("cache me"), "tok-cache")
    assert status == 200 and headers["x-sluicegate-cache"] == "hit"
    assert second == first
    assert json.loads(second)["choices"][0]["message"]["content"] == "cache me"

    keys = redis_server.command("KEYS", "*")
    assert b"sg:rl:{" in keys and b"{sg:cache:" in keys
    assert all("Traceback" not in err for err in gateways.stop())


def test_a_process_keeps_serving_while_redis_is_down(redis_server, gateways):
    port = gateways.start(CONFIG.format(url=redis_server.url, rpm=10_000))
    for index in range(3):
        assert request(port, chat(f"up {index}"), "tok-many")[0] == 200
    status, _, headers = request(port, chat("up 0"), "tok-many")
    assert status == 200 and headers["x-sluicegate-cache"] == "hit"

    redis_server.stop()
    for index in range(10):
        started = time.monotonic()
        status, raw, headers = request(port, chat(f"down {index}"), "tok-many")
        assert status == 200, raw
        assert time.monotonic() - started < 1.0
        assert json.loads(raw)["choices"][0]["message"]["content"] == f"down {index}"
    # The cache misses rather than failing.
    status, _, headers = request(port, chat("up 0"), "tok-many")
    assert status == 200 and headers["x-sluicegate-cache"] == "miss"

    redis_server.start()
    for index in range(3):
        assert request(port, chat(f"back {index}"), "tok-many")[0] == 200
    # Once the cooldown is over the process uses Redis again: an answer is stored and found.
    time.sleep(COOLDOWN + 0.2)
    assert request(port, chat("back 0"), "tok-many")[2]["x-sluicegate-cache"] == "miss"
    assert request(port, chat("back 0"), "tok-many")[2]["x-sluicegate-cache"] == "hit"
    errors = gateways.stop()
    assert "Traceback" not in errors[0]
    assert "unavailable" in errors[0]  # the outage was reported (once per cooldown)
