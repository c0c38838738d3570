"""A real PostgreSQL server for tests: its own cluster in a temp dir, a free port on 127.0.0.1,
nothing synced to disk, stoppable and restartable mid-test.

The binaries come from the Debian ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``, the
newest major). PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user the package creates and every server process runs as that user.

Clients connect over TCP with a password (``url``: ``postgresql+asyncpg://...``), as a deployed
gateway would; the admin commands here (``create_database``, ``sql``) use the Unix socket in the
temp dir, which trusts its local user. Like the Redis helper, it needs no client library.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PACKAGE_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
SERVER_USER = "postgres"  # the superuser inside the cluster, and the system user under root
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_bin_dir() -> Path:
    """The newest installed major version's ``bin`` directory; ``FileNotFoundError`` when none."""
    found = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            major = candidate.parent.name
            found.append((int(major) if major.isdigit() else -1, candidate))
    if not found:
        raise FileNotFoundError(
            f"PostgreSQL is not installed (no postgres/initdb in {PACKAGE_BIN_GLOB}); "
            "install the Debian package: apt-get install postgresql"
        )
    return max(found)[1]


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1. ``stop()``/``start()`` keep the port and the data, so
    clients reconnect to the same databases after an outage."""

    def __init__(self, bin_dir: str | os.PathLike[str] | None = None) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else find_bin_dir()
        for tool in ("initdb", "postgres", "psql", "pg_isready"):
            if not (self.bin_dir / tool).is_file():
                raise FileNotFoundError(f"{tool} is missing from {self.bin_dir}")
        self.password = secrets.token_urlsafe(18)  # URL-safe: goes into the URL unquoted
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._initialised = False
        self._owner = self._system_user() if os.geteuid() == 0 else None
        self._root = Path(tempfile.mkdtemp(prefix="sg-postgres-"))
        self.data_dir = self._root / "data"
        self.socket_dir = self._root / "socket"
        self._log_path = self._root / "server.log"
        self.socket_dir.mkdir()
        if self._owner is not None:
            # The server must own its directories (and may not write to root's).
            for path in (self._root, self.socket_dir):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    # -- addresses ------------------------------------------------------------------------------

    def url_for(self, database: str) -> str:
        """The async SQLAlchemy URL of ``database`` on this server, with the password."""
        return f"postgresql+asyncpg://{SERVER_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster on the first start; start (or restart on the same port) and return
        once it accepts connections."""
        if self.running:
            return self
        if not self._initialised:
            self._initdb()
        # A new port only on the first start; a port taken in between gets one more try.
        for attempt in range(3):
            if not self.port or attempt:
                self.port = _free_port()
            self._spawn()
            if self._wait_ready():
                return self
            self._halt(signal.SIGQUIT)
        raise RuntimeError(f"postgres did not start on 127.0.0.1:{self.port}: {self._log_tail()}")

    def stop(self) -> None:
        """Stop now (immediate shutdown, no checkpoint), as a crash or an outage would; the next
        ``start()`` recovers the data."""
        self._halt(signal.SIGQUIT)

    def close(self) -> None:
        """Stop (fast shutdown) and delete the cluster."""
        self._halt(signal.SIGINT)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- administration ---------------------------------------------------------------------------

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser over the Unix socket; its output (tuples only)."""
        result = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
             "-U", SERVER_USER, "-d", database, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t",
             "-c", statement],
            capture_output=True, timeout=COMMAND_TIMEOUT, env=self._env(), cwd=self._root,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode()

    def create_database(self, name: str) -> str:
        """Create an empty database; its URL."""
        self._check_name(name)
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        self._check_name(name)
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _system_user() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise FileNotFoundError(
                "running as root, PostgreSQL needs the 'postgres' system user "
                "(the Debian postgresql package creates it)"
            ) from None

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"database names here are lower-case identifiers: {name!r}")

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
                "HOME": str(self._root), "PGTZ": "UTC"}

    def _as_owner(self) -> dict[str, object]:
        """Popen arguments that drop root for the server's own user (no-op when not root)."""
        if self._owner is None:
            return {}
        return {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        password_file = self._root / "password"
        password_file.write_text(self.password)
        if self._owner is not None:
            os.chown(password_file, self._owner.pw_uid, self._owner.pw_gid)
        try:
            result = subprocess.run(
                [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SERVER_USER,
                 f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
                 "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
                capture_output=True, timeout=COMMAND_TIMEOUT, env=self._env(), cwd=self._root,
                **self._as_owner(),
            )
        finally:
            password_file.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.decode(errors='replace').strip()}")
        self._initialised = True

    def _spawn(self) -> None:
        log = open(self._log_path, "ab")  # the child keeps its own copy of the descriptor
        try:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-k", str(self.socket_dir),
                 # No fsync: only an OS crash could lose data. Commits still write the WAL (to the
                 # page cache), so an immediate stop (an outage) keeps what was committed.
                 "-F", "-c", "full_page_writes=off",
                 "-c", "max_connections=200", "-c", "log_min_messages=warning"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self._env(), cwd=self._root,
                **self._as_owner(),
            )
        finally:
            log.close()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False  # exited: most likely the port was taken
            ready = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-q", "-h", str(self.socket_dir),
                 "-p", str(self.port), "-t", "2"],
                env=self._env(), cwd=self._root, timeout=COMMAND_TIMEOUT,
            )
            if ready.returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def _halt(self, how: signal.Signals) -> None:
        """SIGINT: fast shutdown; SIGQUIT: immediate. SIGKILL only if it will not stop, since a
        killed postmaster leaves its backends behind."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(how)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self._log_path.read_text(errors="replace")[-2000:].strip()
        return "(no server log)"


@pytest.fixture(scope="session")
def postgres_server():
    """A started ``PostgresServer`` shared by the session (a cluster takes seconds to create);
    give each test its own database with ``create_database``."""
    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    with server:
        yield server
