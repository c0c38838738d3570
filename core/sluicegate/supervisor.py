"""``sluicegate serve --workers N``: keep N worker processes serving; replace the ones that die.

The supervisor only starts, watches and signals processes; the workers bind the port themselves
(SO_REUSEPORT). A worker that exits without being asked to is logged with its pid and its exit
code or signal, and a new one is started after a back-off that doubles while workers keep dying
young, so a crash loop shows in the log at a bounded rate instead of forking as fast as it can.
SIGTERM and SIGINT stop the restarts and are forwarded; SIGHUP (a reload) is forwarded. The
supervisor exits non-zero when any worker died abnormally during the run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from attrs import define, field

log = logging.getLogger("sluicegate")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: A worker's exit code when it could not start at all (config refused, port taken).
STARTUP_FAILED = 3


@define
class RestartBackoff:
    """How long to wait before replacing a worker of one slot that died.

    ``initial`` seconds after the first death, doubling with each further one up to ``maximum``;
    a worker that had been up for ``reset_after`` seconds was healthy, so its death starts the
    series again.
    """

    clock: Callable[[], float] = time.monotonic
    initial: float = 0.5
    maximum: float = 30.0
    reset_after: float = 60.0
    _next: float = field(init=False)
    _since: float = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._next = self.initial
        self._since = self.clock()

    def started(self) -> None:
        self._since = self.clock()

    def uptime(self) -> float:
        return self.clock() - self._since

    def died(self) -> float:
        """The delay before the replacement starts; call once per death."""
        if self.uptime() >= self.reset_after:
            self._next = self.initial
        delay = self._next
        self._next = min(delay * 2, self.maximum)
        return delay


def describe_exit(exitcode: int | None) -> str:
    """``exited with code 1`` or ``was killed by SIGKILL`` (multiprocessing's negative codes)."""
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


@define
class _Slot:
    index: int
    backoff: RestartBackoff
    process: BaseProcess | None = None
    # 0 for the workers started with the supervisor: one of them failing to start is a failed
    # start of `sluicegate serve`, not a crash to retry.
    generation: int = 0
    restart_at: float | None = None


class Supervisor:
    """Runs ``workers`` processes made by ``spawn(index)`` until SIGTERM or SIGINT.

    ``on_exit(pid)`` runs for every worker that exited (its metrics files are settled there).
    """

    def __init__(
        self,
        spawn: Callable[[int], BaseProcess],
        workers: int,
        *,
        on_exit: Callable[[int], None] = lambda pid: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spawn = spawn
        self._on_exit = on_exit
        self._clock = clock
        self._slots = [_Slot(index, RestartBackoff(clock)) for index in range(workers)]
        self._signals: list[int] = []
        self._stopping = False
        #: True once a worker died abnormally: killed by a signal or a non-zero exit code.
        self.abnormal = False

    def run(self) -> int:
        """Start the workers and supervise them; returns the exit code for the supervisor."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)

        def on_signal(signum: int, _frame: object) -> None:
            # Only note it and wake the loop: forwarding and logging happen there, never inside
            # a handler that may interrupt the loop halfway through reaping a worker.
            self._signals.append(signum)
            with contextlib.suppress(OSError):  # the pipe is full: the loop is awake already
                os.write(wake_write, b"\0")

        previous = {signum: signal.signal(signum, on_signal) for signum in FORWARDED}
        try:
            for slot in self._slots:
                self._start(slot)
            self._loop(wake_read)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(wake_read)
            os.close(wake_write)
        return 1 if self.abnormal else 0

    def _loop(self, wake_read: int) -> None:
        while True:
            self._handle_signals()
            live = {slot.process.sentinel: slot for slot in self._slots if slot.process is not None}
            pending = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
            if not live and not pending:
                return
            timeout = max(0.0, min(pending) - self._clock()) if pending else None
            ready = multiprocessing.connection.wait([*live, wake_read], timeout)
            if wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 512)
            for sentinel in ready:
                if sentinel in live:
                    self._reap(live[sentinel])
            now = self._clock()
            for slot in self._slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    slot.restart_at = None
                    slot.generation += 1
                    self._start(slot)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in STOP_SIGNALS:
                self._stop(f"{signal.Signals(signum).name} received", signum)
            else:
                self._forward(signum)

    def _stop(self, reason: str, signum: int = signal.SIGTERM, level: int = logging.INFO) -> None:
        if not self._stopping:
            log.log(level, "supervisor: %s; stopping the workers", reason)
        self._stopping = True
        for slot in self._slots:
            slot.restart_at = None  # a worker waiting to be replaced stays down
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # exited, not reaped yet
                    os.kill(slot.process.pid, signum)

    def _start(self, slot: _Slot) -> None:
        process = self._spawn(slot.index)
        # SIGHUP is ignored across the fork (SIG_IGN survives exec), so a reload forwarded while
        # the new interpreter boots does not kill it; its event loop installs the reload handler.
        # It is blocked meanwhile so one sent to the supervisor in this window is delivered after
        # rather than lost; the worker unblocks it first thing (see sluicegate.cli).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        handler = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGHUP, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        slot.process = process
        slot.backoff.started()
        if slot.generation:
            log.info("supervisor: started worker %d in slot %d", process.pid, slot.index)

    def _reap(self, slot: _Slot) -> None:
        process = slot.process
        assert process is not None
        process.join()
        slot.process = None
        pid, code = process.pid, process.exitcode
        if pid is not None:
            self._on_exit(pid)
        what = describe_exit(code)
        if self._stopping:
            # The stop signal itself may end a worker still booting (default action): asked for.
            if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                self.abnormal = True
                log.error("supervisor: worker %s %s while stopping", pid, what)
            return
        if code != 0:
            self.abnormal = True
        if slot.generation == 0 and code == STARTUP_FAILED:
            self._stop(f"worker {pid} could not start", level=logging.ERROR)
            return
        uptime = slot.backoff.uptime()
        delay = slot.backoff.died()
        slot.restart_at = self._clock() + delay
        log.log(logging.ERROR if code != 0 else logging.WARNING,
                "supervisor: worker %s %s after %.1fs up; starting a new one in %gs", pid, what, uptime, delay)
