"""Change gateway.toml safely: one writer at a time, validate before writing, atomic replace, reload.

All file work and config validation run in the default executor, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from collections.abc import Callable
from typing import Any

from attrs import define, field

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError, GatewayError, PluginError
from sluicegate.gateway import Gateway
from sluicegate_admin.toml_edit import EditError
from sluicegate_admin.view import problem_dicts

log = logging.getLogger("sluicegate.admin")

SUPERVISOR_PID = "SLUICEGATE_SUPERVISOR_PID"


class ConfigRefused(Exception):
    """The change (or reload) was refused; ``problems`` are ``{"path", "message"}`` items."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in problems))
        self.problems = problems


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` in one step: a reader (or a file watch) sees the old file or the new one."""
    target = os.path.realpath(path)  # through a symlink: keep the link, replace what it points at
    directory = os.path.dirname(target) or "."
    stat = os.stat(target)
    fd, temp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, stat.st_mode & 0o7777)
        with contextlib.suppress(PermissionError, AttributeError):
            os.chown(temp, stat.st_uid, stat.st_gid)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def notify_supervisor() -> None:
    """Under ``sluicegate serve --workers N``: SIGHUP the supervisor so every worker reloads."""
    pid = os.environ.get(SUPERVISOR_PID)
    if not pid:
        return
    try:
        os.kill(int(pid), signal.SIGHUP)
    except (ValueError, OSError) as exc:
        log.warning("could not signal the supervisor (%s=%s): %s", SUPERVISOR_PID, pid, exc)


@define
class ConfigStore:
    """The admin API's access to the config file of one gateway."""

    gateway: Gateway
    lock: asyncio.Lock = field(factory=asyncio.Lock)

    @property
    def path(self) -> str:
        return self.gateway.source.path or "gateway.toml"

    @property
    def editable(self) -> bool:
        return self.gateway.source.text is None

    def env(self) -> Any:
        return self.gateway.source.env if self.gateway.source.env is not None else os.environ

    def _validate(self, text: str) -> None:
        source = self.gateway.source
        try:
            load_config_text(text, source=self.path, env=source.env, extra_plugins=source.extra_plugins,
                             use_entry_points=source.use_entry_points)
        except ConfigError as exc:
            raise ConfigRefused([{"path": p.path, "message": p.message} for p in exc.problems]) from None
        except PluginError as exc:  # a plugin the new config turns on failed to load
            raise ConfigRefused([{"path": "plugins", "message": str(exc)}]) from None

    def _prepare(self, edit: Callable[[str], str]) -> tuple[bytes, bytes]:
        try:
            with open(self.path, "rb") as handle:
                old = handle.read()
        except OSError as exc:
            raise GatewayError(f"cannot read the config file: {exc.strerror}", status=500,
                               code="config_unreadable") from None
        try:
            text = old.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigRefused([{"path": "", "message": "the config file is not UTF-8 text"}]) from None
        new = edit(text)
        self._validate(new)
        return old, new.encode("utf-8")

    async def change(self, edit: Callable[[str], str]) -> None:
        """Apply ``edit`` (text -> text) to the file and reload.

        Raises ``ConfigRefused`` when the result is not a valid config (the file is left as it
        was, byte for byte) or when the gateway refuses to build it (the old bytes are put back).
        """
        if not self.editable:
            raise GatewayError(
                "This gateway runs from an in-memory config, not a file: there is nothing to edit.",
                status=409, type="invalid_request_error", code="config_not_editable")
        # Shielded: an operator who closes the tab mid-change must not leave a written file
        # the gateway never loaded (or a refused one never put back). The work is bounded.
        await asyncio.shield(self._change(edit))

    async def _change(self, edit: Callable[[str], str]) -> None:
        loop = asyncio.get_running_loop()
        async with self.lock:
            try:
                old, new = await loop.run_in_executor(None, self._prepare, edit)
            except EditError as exc:
                raise GatewayError(exc.message, status=exc.status, type="invalid_request_error",
                                   code=exc.code) from None
            if new == old:
                return
            try:
                await loop.run_in_executor(None, write_atomically, self.path, new)
            except OSError as exc:
                raise GatewayError(f"cannot write the config file: {exc.strerror}", status=500,
                                   code="config_unwritable") from None
            if not await self.gateway.reload():
                # Valid TOML the gateway still could not build (a provider refused its options):
                # put the old file back, so file and serving config agree.
                await loop.run_in_executor(None, write_atomically, self.path, old)
                raise ConfigRefused(problem_dicts(self.gateway.last_reload.problems))
            log.info("admin: config file %s changed and reloaded", self.path)
            if not self.gateway.config.server.watch_config:
                notify_supervisor()  # other workers would not see the file change otherwise

    async def reload(self) -> bool:
        # Shielded like a change: a reload asked for completes even if the asker leaves.
        return await asyncio.shield(self._reload())

    async def _reload(self) -> bool:
        ok = await self.gateway.reload()
        if ok:
            notify_supervisor()
        return ok
