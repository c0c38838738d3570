"""A real ``redis-server`` for tests: a free port, no persistence, stoppable and restartable mid-test.

The kit talks to it with raw RESP over a socket, so the core keeps no dependency on redis-py.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 45_000)
        try:
            with socket.socket() as one, socket.socket() as bus:
                one.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; ``stop()``/``start()`` keep the port, so clients reconnect."""

    def __init__(self, executable: str | None = None, extra_args: tuple[str, ...] = (),
                 pick_port=_free_port) -> None:
        found = executable or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError("redis-server is not installed (scripts/test.sh installs it)")
        self.executable = found
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_args = extra_args
        self._pick_port = pick_port
        self._dir = tempfile.TemporaryDirectory(prefix="sg-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> RedisServer:
        """Start (or restart, on the same port) and return once it answers PING."""
        if self.running:
            return self
        # A new port only on the first start; a port taken in between gets one more try.
        for attempt in range(3):
            if not self.port or attempt:
                self.port = self._pick_port()
            self.process = subprocess.Popen(
                [
                    self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                    # Nothing on disk: an empty database at every start, nothing left behind.
                    "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                    "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
                    *self.extra_args,
                ],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        """Kill the server now (no shutdown save), as a crash or an outage would."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            # A paused server ignores SIGTERM until continued; SIGKILL needs no cooperation.
            process.kill()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, commands never answered; a slow Redis."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def command(self, *args: str | bytes | int) -> bytes:
        """Send one command and return the raw RESP reply (for tests that need no client library)."""
        parts = [str(arg).encode() if not isinstance(arg, bytes) else arg for arg in args]
        payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(payload)
            return sock.recv(65536)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False  # exited: most likely the port was taken
            try:
                if self.command("PING") == b"+PONG\r\n":
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False


class RedisCluster:
    """A Redis Cluster of ``size`` masters (no replicas) on 127.0.0.1, made with ``redis-cli --cluster create``.

    ``url`` is the ``redis+cluster://`` URL the ``sluicegate-redis`` backends take.
    """

    def __init__(self, size: int = 3) -> None:
        self.cli = shutil.which("redis-cli")
        if self.cli is None:
            raise FileNotFoundError("redis-cli is not installed (it comes with redis-server)")
        cluster_args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", "2000")
        self.nodes = [RedisServer(extra_args=cluster_args, pick_port=_free_cluster_port) for _ in range(size)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> RedisCluster:
        try:
            return self._start()
        except BaseException:
            self.close()  # nodes already started must not outlive a failed start
            raise

    def _start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not all(b"cluster_state:ok" in node.command("CLUSTER", "INFO") for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not become ready")
            time.sleep(0.05)
        return self

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module")
def redis_cluster():
    """A started three-master ``RedisCluster``, shared by a module's tests (making one takes seconds)."""
    try:
        cluster = RedisCluster()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    with cluster:
        yield cluster


@pytest.fixture
def redis_server():
    """A started ``RedisServer`` for one test, killed afterwards; ``stop()``/``start()`` inside."""
    try:
        server = RedisServer()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    with server:
        yield server
