"""``sluicegate serve --workers 2`` as real processes: a scrape of any worker adds up every
worker's metrics (prometheus-client multiprocess mode, in a directory the supervisor makes and
removes), a dead worker's live gauges are dropped, and a directory the user set is respected."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from sluicegate import __version__
from sluicegate.extensions.metrics_families import FLUSH_EVERY

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process tests run on Linux (/proc, ps)")

CONFIG = """
[server]
host = "127.0.0.1"
port = 1
shutdown_grace = 1

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
"""
CHAT = "/v1/chat/completions"
ENV = "PROMETHEUS_MULTIPROC_DIR"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    # A new connection each time, so the kernel spreads them over the workers.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def counts(text: str, name: str = "sluicegate_requests_total") -> dict[frozenset, float]:
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def chat_total(text: str) -> float:
    return sum(value for labels, value in counts(text).items() if ("route", CHAT) in labels)


def scrape(port: int) -> str:
    status, body = request(port, "GET", "/metrics")
    assert status == 200, body
    return body.decode()


def workers_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-ww", "--ppid", str(pid), "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line]


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def wait_for(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def chat_count_in(files: list[Path], scratch: Path) -> float:
    """What one worker's own metric files hold, read as a scrape would (a fresh directory)."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for file in files:
        shutil.copy(file, scratch / file.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(scratch))
    return chat_total(generate_latest(registry).decode())


class Serve:
    """One ``sluicegate serve --workers 2`` supervisor, killed with its workers at the end."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        path = tmp_path / "gateway.toml"
        path.write_text(CONFIG)
        self.log = tmp_path / "serve.log"
        self.port = free_port()
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path), "--port", str(self.port),
                 "--workers", "2"],
                stdout=out, stderr=subprocess.STDOUT, env={**env, "PYTHONUNBUFFERED": "1"},
            )
        self.workers: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            self.workers = workers_of(self.proc.pid)
            try:
                if len(self.workers) == 2 and request(self.port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("serve --workers 2 did not answer within 20 s: " + self.log.read_text())
        # Both workers listen before the test counts on them sharing the load.
        assert wait_for(lambda: all(self._listening(pid) for pid in self.workers)), self.workers

    def _listening(self, pid: int) -> bool:
        out = subprocess.run(["ss", "-Htlnp", f"sport = :{self.port}"], capture_output=True, text=True).stdout
        return f"pid={pid}," in out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        for pid in [self.proc.pid, *self.workers]:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        return self.proc.wait(5)


@pytest.fixture
def serve(tmp_path):
    started: list[Serve] = []

    def start(env: dict[str, str]) -> Serve:
        started.append(Serve(tmp_path, env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.upper() != ENV}


def test_any_worker_reports_the_requests_of_all(serve, tmp_path):
    server = serve(clean_env())
    metrics_dir = Path(environ_of(server.workers[0])[ENV])
    assert environ_of(server.workers[1])[ENV] == str(metrics_dir)
    assert metrics_dir.is_dir() and metrics_dir.name.startswith("sluicegate-metrics-")

    n = 24
    for index in range(n):
        status, body = request(server.port, "POST", CHAT, {"model": "echo", "messages": [
            {"role": "user", "content": f"n{index}"}]})
        assert status == 200, body
    # Each worker served some of them, as its own files show once it flushed its counts (every
    # FLUSH_EVERY seconds) ...
    def per_worker() -> list[float]:
        return [chat_count_in(sorted(metrics_dir.glob(f"*_{pid}.db")), tmp_path / "one") for pid in server.workers]

    assert wait_for(lambda: sum(per_worker()) == n, timeout=5 * FLUSH_EVERY), per_worker()
    assert all(count > 0 for count in per_worker()), per_worker()
    # ... and every scrape, whichever worker answers it, shows all of them.
    for _ in range(6):
        text = scrape(server.port)
        assert chat_total(text) == n
        assert counts(text)[frozenset({("route", CHAT), ("model", "echo"), ("provider", "mock"),
                                       ("status_class", "2xx")})] == n
        in_flight = counts(text, "sluicegate_requests_in_flight")
        assert in_flight[frozenset({("route", CHAT)})] == 0
        assert in_flight[frozenset({("route", "/metrics")})] == 1  # this scrape, in one worker
        assert counts(text, "sluicegate_build_info") == {frozenset({("version", __version__)}): 1}

    # A worker that dies: its live gauges go at once, its counts stay in the total.
    dead = server.workers[0]
    os.kill(dead, signal.SIGKILL)
    assert wait_for(lambda: not list(metrics_dir.glob(f"gauge_live*_{dead}.db"))), sorted(metrics_dir.iterdir())
    assert (metrics_dir / f"counter_{dead}.db").exists()
    assert chat_total(scrape(server.port)) == n

    server.stop()
    assert not metrics_dir.exists()  # the supervisor made it, the supervisor removed it
    assert "Traceback" not in server.log.read_text()


def test_a_directory_the_user_chose_is_used_and_kept(serve, tmp_path):
    chosen = tmp_path / "my-metrics"  # not there yet: made for the user
    server = serve({**clean_env(), ENV: str(chosen)})
    assert environ_of(server.workers[1])[ENV] == str(chosen)
    for index in range(6):
        assert request(server.port, "POST", CHAT, {"model": "echo", "messages": [
            {"role": "user", "content": f"u{index}"}]})[0] == 200
    # The other worker's counts arrive with its next flush.
    assert wait_for(lambda: chat_total(scrape(server.port)) == 6, timeout=5 * FLUSH_EVERY)
    workers = list(server.workers)
    server.stop()
    assert chosen.is_dir()
    # The workers' counts are kept there (which worker took which request is the kernel's choice:
    # one may have taken all six).
    kept = {p.name for p in chosen.glob("counter_*.db")}
    assert kept and kept <= {f"counter_{pid}.db" for pid in workers}
    # Exited workers were marked dead: no live gauge of theirs is left behind.
    assert not list(chosen.glob("gauge_live*"))
