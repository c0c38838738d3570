"""``sluicegate serve --workers 2`` as a real process: a worker killed with SIGKILL is logged,
replaced, and the service keeps answering; the supervisor's exit code then reports the crash."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT workers, ps and ss as on Linux")

CONFIG = """
[server]
watch_config = false
shutdown_grace = 1

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chat(port: int, text: str) -> tuple[int, str]:
    # A new connection each time, so the kernel spreads the calls over the workers.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read())
        return response.status, data["choices"][0]["message"]["content"] if response.status == 200 else ""
    finally:
        conn.close()


def workers_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-ww", "--ppid", str(pid), "-o", "pid=,args="],
                         capture_output=True, text=True).stdout
    return {int(line.split(None, 1)[0]) for line in out.splitlines() if "spawn_main" in line}


def listening_pids(port: int) -> set[int]:
    out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return {int(chunk.split(",")[0]) for chunk in out.split("pid=")[1:]}


def shown(log: Path) -> str:
    """The log's last lines for an assertion message, without the access log's JSON lines."""
    lines = [line for line in log.read_text().splitlines() if not line.startswith("{")]
    return "\n".join(lines[-40:])


def wait_for(predicate, what: str, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}; log:\n{shown(log)}"
        time.sleep(0.05)


@pytest.fixture
def supervisor(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(config), "--port", str(port),
             "--workers", "2"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            for pid in workers_of(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(10)


def test_a_killed_worker_is_logged_replaced_and_the_exit_code_reports_it(supervisor):
    proc, port, log = supervisor
    wait_for(lambda: len(workers_of(proc.pid)) == 2 and listening_pids(port) == workers_of(proc.pid),
             "two workers listening", log)
    first = workers_of(proc.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in listening_pids(port), "the killed worker's socket closed", log)

    # The survivor answers while the replacement starts: every call succeeds.
    answered = 0
    deadline = time.monotonic() + 30
    while not (len(now := workers_of(proc.pid)) == 2 and now != first and listening_pids(port) == now):
        assert time.monotonic() < deadline, f"no replacement worker; log:\n{shown(log)}"
        assert chat(port, f"during {answered}") == (200, f"during {answered}")
        answered += 1
    replacement = workers_of(proc.pid) - first
    assert len(replacement) == 1 and victim not in workers_of(proc.pid)
    for index in range(20):  # both workers, the new one too, share the port again
        assert chat(port, f"after {index}") == (200, f"after {index}")

    text = log.read_text()
    assert f"worker {victim} was killed by SIGKILL" in text
    assert f"started worker {replacement.pop()}" in text

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 1  # the crash is not hidden behind a clean stop
    assert "Traceback" not in log.read_text()

