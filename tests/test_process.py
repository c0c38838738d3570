"""``sluicegate serve`` as a real process: start, graceful SIGTERM, bad config, several workers."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals and ps/ss as on Linux")

SLOW_CONFIG = """
[server]
host = "127.0.0.1"
port = 1
shutdown_grace = 10

[providers.mock]
type = "mock"

[providers.slow]
type = "mock"
latency = 1.0

[models.echo]
targets = ["mock/echo-1"]

[models.slow]
targets = ["slow/echo-1"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tmp_path: Path, *args: str, config: str = SLOW_CONFIG) -> tuple[subprocess.Popen, int]:
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if request(port, "GET", "/health")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not answer within 15 s")


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


def chat(text: str, model: str = "echo") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def test_serve_answers_on_its_port(tmp_path):
    proc, port = start(tmp_path)
    try:
        status, raw, headers = request(port, "POST", "/v1/chat/completions", chat("from a process"))
        assert status == 200
        assert json.loads(raw)["choices"][0]["message"]["content"] == "from a process"
        assert headers["x-request-id"].startswith("req_")
        status, raw, _ = request(port, "GET", "/health")
        slow = json.loads(raw)["providers"]["slow"]
        assert (slow["type"], slow["configured"], slow["breaker"]) == ("mock", True, "closed")
    finally:
        stop(proc)
    out = proc.stdout.read()
    assert f"sluicegate listening on http://127.0.0.1:{port}" in out


def test_one_connection_takes_api_calls_and_other_requests_under_serve(tmp_path):
    """The API connections' hand-off to aiohttp's server on the loop ``serve`` runs (uvloop; the
    in-process tests run on asyncio's): an API call, a GET, an API call, a chunked one, and a
    call and a GET pipelined, on one connection each way."""
    proc, port = start(tmp_path)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for method, path, body in [("POST", "/v1/chat/completions", chat("one")),
                                       ("GET", "/health/live", None),
                                       ("POST", "/v1/chat/completions", chat("two"))]:
                data = json.dumps(body).encode() if body is not None else None
                conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                answer = json.loads(resp.read())
                assert resp.status == 200
                if body is None:
                    assert answer == {"status": "ok"}
                else:
                    assert answer["choices"][0]["message"]["content"] == body["messages"][0]["content"]
            conn.request("POST", "/v1/chat/completions", body=iter([json.dumps(chat("three")).encode()]),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["choices"][0]["message"]["content"] == "three"
        finally:
            conn.close()
        body = json.dumps(chat("four")).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                         + b"GET /health/live HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.count(b"HTTP/1.1 200 OK") == 2
        assert b'"four"' in received and received.endswith(b'{"status":"ok"}')
    finally:
        stop(proc)


def test_sigterm_drains_in_flight_request_then_exits_0(tmp_path):
    proc, port = start(tmp_path)
    try:
        result: dict = {}

        def slow_call():
            started = time.monotonic()
            try:
                result["response"] = request(port, "POST", "/v1/chat/completions", chat("slow one", "slow"))
            except Exception as exc:  # reported by the assertion below
                result["error"] = exc
            result["elapsed"] = time.monotonic() - started

        worker = threading.Thread(target=slow_call)
        worker.start()
        # Once the server process owns the connection, the request is inside the mock's 1 s wait.
        assert wait_for(lambda: socket_pids(port, "established") == [proc.pid])
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Draining: the listening socket is closed, the in-flight request is not.
        assert proc.poll() is None
        assert refused(port)
        worker.join(10)
        assert "error" not in result, result.get("error")
        status, raw, _ = result["response"]
        assert status == 200
        assert json.loads(raw)["choices"][0]["message"]["content"] == "slow one"
        assert result["elapsed"] >= 0.9
        assert proc.wait(10) == 0
        assert refused(port)
    finally:
        stop(proc)
    assert "Traceback" not in proc.stderr.read()


def test_bad_config_exits_1_listing_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("""
[servr]
port = 1

[server]
port = "eighty"
max_body_mb = -1

[providers.a]
type = "opnai"

[models.chat]
targets = ["nowhere/gpt"]
""")
    done = subprocess.run(
        [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path), "--port", str(free_port())],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 1
    err = done.stderr
    assert "Traceback" not in err + done.stdout
    assert f"{path}: 5 problem(s):" in err
    for line in (
        'servr: unknown table (did you mean "server"?)',
        "server.port: expected an integer, got a string",
        "server.max_body_mb: must be greater than 0, got -1",
        "providers.a.type: unknown provider type 'opnai' (did you mean \"openai\"?)",
        "models.chat.targets[0]: unknown provider 'nowhere'",
    ):
        assert f"  - {line}" in err, err
    assert "listening" not in done.stdout

    # The installed console script, not just the module.
    script = Path(sys.executable).with_name("sluicegate")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sluicegate.cli"]
    missing = subprocess.run(
        [*command, "serve", "--config", str(tmp_path / "absent.toml")],
        capture_output=True, text=True, timeout=30,
    )
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_port_in_use_exits_1_without_traceback(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(SLOW_CONFIG)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(path), "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert "address already in use" in done.stderr.lower()


def children(pid: int) -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-ww", "--ppid", str(pid), "-o", "pid=,args="], capture_output=True, text=True).stdout
    rows = [line.strip().split(None, 1) for line in out.splitlines() if line.strip()]
    return [(int(p), args) for p, args in rows]


def socket_pids(port: int, state: str) -> list[int]:
    """The pid owning each socket on the server side of ``port`` in ``state`` (as ss reports)."""
    out = subprocess.run(["ss", "-Htnp", "state", state, f"sport = :{port}"],
                         capture_output=True, text=True).stdout
    return sorted(int(chunk.split(",")[0]) for chunk in out.split("pid=")[1:])


def wait_for(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_two_workers_share_the_port_and_stop_together(tmp_path):
    proc, port = start(tmp_path, "--workers", "2")
    workers = [pid for pid, args in children(proc.pid) if "spawn_main" in args]
    try:
        assert len(workers) == 2, children(proc.pid)
        # Both workers hold their own listening socket on the port (SO_REUSEPORT).
        assert wait_for(lambda: socket_pids(port, "listening") == sorted(workers))
        for index in range(20):
            status, raw, _ = request(port, "POST", "/v1/chat/completions", chat(f"n{index}"))
            assert status == 200
            assert json.loads(raw)["choices"][0]["message"]["content"] == f"n{index}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert refused(port)
        for pid in workers:  # the supervisor joined them: exited and reaped
            assert not Path(f"/proc/{pid}").exists()
    finally:
        for pid in workers:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        stop(proc)
    assert "Traceback" not in proc.stderr.read()


NOTICE_CONFIG = SLOW_CONFIG.replace("shutdown_grace = 10", "shutdown_grace = 10\ndrain_delay = 3")


def ready_status(port: int) -> int | None:
    """/health/ready's status on a new connection; None once the listener refuses."""
    try:
        return request(port, "GET", "/health/ready", timeout=5)[0]
    except ConnectionRefusedError:
        return None


def test_sigterm_keeps_the_listener_open_for_drain_delay_with_ready_503(tmp_path):
    proc, port = start(tmp_path, config=NOTICE_CONFIG)
    try:
        assert ready_status(port) == 200
        proc.send_signal(signal.SIGTERM)
        seen: list[int | None] = []

        def not_ready() -> bool:
            seen.append(ready_status(port))
            return seen[-1] != 200

        # Balancers are told first (a 503 on a new connection), the listener closes after.
        assert wait_for(not_ready)
        assert seen[-1] == 503, seen
        status, raw, headers = request(port, "POST", "/v1/chat/completions", chat("in the window"))
        assert status == 200 and headers["connection"] == "close"
        assert json.loads(raw)["choices"][0]["message"]["content"] == "in the window"
        assert wait_for(lambda: refused(port))
        assert proc.wait(15) == 0
    finally:
        stop(proc)
    assert "Traceback" not in proc.stderr.read()


def test_sigint_skips_the_drain_delay(tmp_path):
    config = SLOW_CONFIG.replace("shutdown_grace = 10", "shutdown_grace = 60\ndrain_delay = 60")
    proc, port = start(tmp_path, config=config)
    try:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: no balancer to tell, no window
        assert proc.wait(15) == 0
        assert refused(port)
    finally:
        stop(proc)
    assert "Traceback" not in proc.stderr.read()
