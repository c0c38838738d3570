"""``serve --workers 2``: a reload through the admin API (or SIGHUP) reaches every worker."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT workers run on Linux")

ADMIN = "admin-token-0123456789abcdef"
CONFIG = """
[server]
watch_config = false
shutdown_grace = 1
[admin]
token = "{admin}"
[providers.mock]
type = "mock"
[models.{alias}]
targets = ["mock/m"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port: int, method: str, path: str, token: str | None = None) -> tuple[int, dict]:
    # A new connection each time, so the kernel spreads them over the workers.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def aliases_seen(port: int, connections: int = 24) -> set[str]:
    return {call(port, "GET", "/v1/models")[1]["data"][0]["id"] for _ in range(connections)}


@pytest.fixture
def workers(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(admin=ADMIN, alias="before"))
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path), "--port", str(port),
             "--workers", "2"], stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            # Both workers up: 24 fresh connections all answered.
            if aliases_seen(port) == {"before"}:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield proc, port, path
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, log.read_text()


def test_admin_reload_reaches_every_worker(workers):
    proc, port, path = workers
    path.write_text(CONFIG.format(admin=ADMIN, alias="after"))
    time.sleep(0.5)
    assert aliases_seen(port) == {"before"}  # no watch: nothing changed yet
    status, body = call(port, "POST", "/admin/reload", ADMIN)
    assert (status, body["ok"]) == (200, True)
    # The worker that answered reloaded itself and signalled the supervisor, which forwards
    # SIGHUP to every worker; one worker alone would leave about half the answers "before".
    deadline = time.monotonic() + 10
    while (seen := aliases_seen(port)) != {"after"}:
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
