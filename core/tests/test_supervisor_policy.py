"""The ``--workers`` supervisor: the restart back-off exactly (injected clock), how an exit is
described, and the supervising loop with real (trivial) processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time

import pytest

from sluicegate.supervisor import STARTUP_FAILED, RestartBackoff, Supervisor, describe_exit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_backoff_doubles_from_half_a_second_to_thirty_seconds():
    clock = FakeClock()
    backoff = RestartBackoff(clock)
    delays = []
    for _ in range(9):
        backoff.started()
        clock.now += 1.0  # every worker dies young: a crash loop
        delays.append(backoff.died())
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_worker_that_stayed_up_resets_the_backoff():
    clock = FakeClock()
    backoff = RestartBackoff(clock, reset_after=60.0)
    for _ in range(4):
        backoff.started()
        clock.now += 2.0
        backoff.died()
    backoff.started()
    clock.now += 59.9  # not quite long enough: still the crash loop's series
    assert backoff.died() == 8.0
    backoff.started()
    clock.now += 60.0
    assert backoff.died() == 0.5
    backoff.started()
    clock.now += 1.0
    assert backoff.died() == 1.0
    assert backoff.uptime() == 1.0


@pytest.mark.parametrize(("exitcode", "text"), [
    (-signal.SIGKILL, "was killed by SIGKILL"),
    (-signal.SIGSEGV, "was killed by SIGSEGV"),
    (-99, "was killed by signal 99"),
    (1, "exited with code 1"),
    (0, "exited with code 0"),
])
def test_an_exit_is_described_by_its_signal_name_or_code(exitcode, text):
    assert describe_exit(exitcode) == text


# -- the loop, with processes that exit at once or sleep until signalled --------------------------

pytestmark_linux = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals as on Linux")
SPAWN = multiprocessing.get_context("spawn")


def stop_me() -> None:
    """SIGTERM to this process, as an operator would send to the supervisor."""
    os.kill(os.getpid(), signal.SIGTERM)


@pytestmark_linux
def test_a_dead_worker_is_logged_and_replaced_and_the_run_then_fails(caplog):
    spawned: list[int] = []
    exited: list[int] = []

    def spawn(index: int):
        spawned.append(index)
        if len(spawned) == 1:
            return SPAWN.Process(target=os._exit, args=(7,))  # dies at once
        stop_me()  # the replacement is being started: enough seen, stop
        return SPAWN.Process(target=time.sleep, args=(60,))

    caplog.set_level(logging.INFO, "sluicegate")
    assert Supervisor(spawn, 1, on_exit=exited.append).run() == 1
    assert spawned == [0, 0]
    assert len(exited) == 2  # both settled (metrics files), the replacement after the stop
    assert f"worker {exited[0]} exited with code 7 after" in caplog.text
    assert "starting a new one in 0.5s" in caplog.text
    assert f"started worker {exited[1]} in slot 0" in caplog.text


@pytestmark_linux
def test_a_stop_signal_ends_a_clean_run_with_0_even_while_workers_boot(caplog):
    spawned: list[int] = []

    def spawn(index: int):
        spawned.append(index)
        if index == 2:
            stop_me()
        return SPAWN.Process(target=time.sleep, args=(60,))

    caplog.set_level(logging.INFO, "sluicegate")
    assert Supervisor(spawn, 3).run() == 0
    assert spawned == [0, 1, 2]  # none replaced: the stop signal asked them to end
    assert "SIGTERM received; stopping the workers" in caplog.text
    assert "killed by" not in caplog.text


@pytestmark_linux
def test_a_first_worker_that_cannot_start_stops_the_others_and_the_run_fails(caplog):
    spawned: list[int] = []

    def spawn(index: int):
        spawned.append(index)
        if index == 0:
            return SPAWN.Process(target=os._exit, args=(STARTUP_FAILED,))
        return SPAWN.Process(target=time.sleep, args=(60,))

    assert Supervisor(spawn, 2).run() == 1
    assert spawned == [0, 1]  # no retry of a start that cannot work (port taken, config refused)
    assert "could not start; stopping the workers" in caplog.text


@pytestmark_linux
def test_a_reload_signal_forwarded_to_a_booting_worker_does_not_kill_it(caplog):
    """Workers start with SIGHUP ignored until their event loop handles it. These do what a
    real worker does first (unblock SIGHUP) and never install a handler, as if still booting;
    then they ask the supervisor to stop."""
    worker = ("import os, signal, time; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP}); "
              "os.kill(os.getppid(), signal.SIGTERM); time.sleep(60)")
    reloads: list[int] = []

    def spawn(index: int):
        if index == 1 and not reloads:
            reloads.append(index)
            # A reload while the workers boot: forwarded before either can have unblocked it.
            os.kill(os.getpid(), signal.SIGHUP)
        return SPAWN.Process(target=exec, args=(worker,))

    caplog.set_level(logging.INFO, "sluicegate")
    assert Supervisor(spawn, 2).run() == 0
    assert "SIGHUP" not in caplog.text and "SIGTERM received" in caplog.text


def test_the_supervisor_restores_the_signal_handlers():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def spawn(index: int):
        stop_me()
        return SPAWN.Process(target=time.sleep, args=(60,))

    Supervisor(spawn, 1).run()
    assert {signum: signal.getsignal(signum) for signum in before} == before
