"""Circuit breaker state machine, failure-rate window, board and the ``consecutive`` policy plugin."""

from __future__ import annotations

import pytest

from sluicegate.config.resilience import BreakerOptions
from sluicegate.plugins import load_plugins
from sluicegate.registry import BREAKER_POLICY
from sluicegate.resilience import breaker as breakers_plugin
from sluicegate.resilience.breaker import Breaker, BreakerBoard, BreakerState
from sluicegate.services import Services

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **options) -> Breaker:
    return Breaker(BreakerOptions(**options), clock, key="p/m")


def fail(breaker: Breaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.acquire()
        breaker.record_failure()


def succeed(breaker: Breaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.acquire()
        breaker.record_success()


def opened(clock: FakeClock, **options) -> Breaker:
    """A breaker that opened at ``clock.now`` on one failure."""
    breaker = make(clock, failure_threshold=1, **options)
    fail(breaker)
    assert breaker.state is OPEN
    return breaker


# --- consecutive failures -------------------------------------------------------------------


def test_threshold_minus_one_failures_stay_closed_and_the_threshold_opens(clock):
    breaker = make(clock, failure_threshold=3)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.acquire()
    breaker.record_failure()
    assert breaker.state is OPEN
    assert breaker.acquire() is False


def test_a_success_in_between_resets_the_consecutive_count(clock):
    breaker = make(clock, failure_threshold=3)
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.snapshot()["consecutive_failures"] == 2
    fail(breaker)
    assert breaker.state is OPEN


def test_release_in_closed_changes_nothing(clock):
    breaker = make(clock, failure_threshold=2)
    fail(breaker)
    assert breaker.acquire()
    breaker.release()
    assert breaker.snapshot()["consecutive_failures"] == 1
    fail(breaker)
    assert breaker.state is OPEN


# --- cooldown and half-open -----------------------------------------------------------------


def test_cooldown_boundary(clock):
    breaker = opened(clock, cooldown=30.0)
    clock.now += 30.0 - 1e-6
    assert breaker.state is OPEN
    assert breaker.acquire() is False
    assert breaker.retry_in() == pytest.approx(1e-6)
    clock.now = 1030.0
    assert breaker.state is HALF_OPEN
    assert breaker.retry_in() == 0.0


def test_retry_in_counts_down_while_open_and_is_zero_when_closed(clock):
    breaker = make(clock, failure_threshold=1, cooldown=30.0)
    assert breaker.retry_in() == 0.0
    fail(breaker)
    assert breaker.retry_in() == 30.0
    clock.now += 12.5
    assert breaker.retry_in() == 17.5


def test_half_open_admits_exactly_half_open_probes_concurrently(clock):
    breaker = opened(clock, cooldown=10.0, half_open_probes=2)
    clock.now += 10.0
    assert breaker.acquire() is True
    assert breaker.acquire() is True
    assert breaker.acquire() is False
    breaker.release()
    assert breaker.state is HALF_OPEN
    assert breaker.acquire() is True
    assert breaker.acquire() is False


def test_half_open_success_closes_and_resets_every_count(clock):
    breaker = make(clock, failure_threshold=2, cooldown=10.0)
    fail(breaker, 2)
    clock.now += 10.0
    succeed(breaker)
    assert breaker.state is CLOSED
    assert breaker.snapshot() == {"state": "closed", "consecutive_failures": 0, "opened": 1}
    fail(breaker)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_half_open_failure_reopens_with_a_fresh_cooldown(clock):
    breaker = opened(clock, cooldown=10.0)
    clock.now += 15.0  # well past the first cooldown
    fail(breaker)
    assert breaker.state is OPEN
    assert breaker.retry_in() == 10.0
    clock.now += 10.0 - 1e-6
    assert breaker.state is OPEN
    clock.now = 1025.0
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot()["opened"] == 2


def test_a_failed_probe_round_leaves_no_slot_taken_for_the_next_round(clock):
    breaker = opened(clock, cooldown=10.0, half_open_probes=2)
    clock.now += 10.0
    assert breaker.acquire() and breaker.acquire()
    breaker.record_failure()
    breaker.release()  # the other probe ends while open again
    clock.now += 10.0
    assert [breaker.acquire() for _ in range(3)] == [True, True, False]


def test_outcomes_arriving_while_open_change_nothing(clock):
    breaker = opened(clock, cooldown=30.0, max_cooldown=300.0)
    clock.now += 5.0
    breaker.record_success()
    breaker.record_failure(retry_after=200.0)
    breaker.release()
    assert breaker.state is OPEN
    assert breaker.retry_in() == 25.0
    assert breaker.snapshot()["opened"] == 1


# --- retry_after ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "cooldown"),
    [(None, 30.0), (0.0, 30.0), (10.0, 30.0), (60.0, 60.0), (100.0, 100.0), (500.0, 100.0)],
)
def test_retry_after_lengthens_the_cooldown_up_to_max_cooldown(clock, retry_after, cooldown):
    breaker = make(clock, failure_threshold=1, cooldown=30.0, max_cooldown=100.0)
    assert breaker.acquire()
    breaker.record_failure(retry_after=retry_after)
    assert breaker.retry_in() == cooldown


def test_retry_after_of_a_failure_below_threshold_is_not_remembered(clock):
    breaker = make(clock, failure_threshold=2, cooldown=30.0)
    assert breaker.acquire()
    breaker.record_failure(retry_after=90.0)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.retry_in() == 30.0


def test_retry_after_on_a_failed_probe_lengthens_the_new_cooldown(clock):
    breaker = opened(clock, cooldown=10.0)
    clock.now += 10.0
    assert breaker.acquire()
    breaker.record_failure(retry_after=45.0)
    assert breaker.retry_in() == 45.0


# --- failure-rate window --------------------------------------------------------------------


def rated(clock: FakeClock, **options) -> Breaker:
    defaults = {"failure_threshold": 100, "failure_rate": 0.5, "window": 10.0, "min_calls": 4}
    return make(clock, **{**defaults, **options})


def test_failure_rate_needs_min_calls_in_the_window(clock):
    breaker = rated(clock)
    fail(breaker, 3)  # 100% failures, but only 3 calls
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_failure_rate_opens_exactly_at_the_rate(clock):
    breaker = rated(clock)
    succeed(breaker, 3)
    fail(breaker)  # 1/4
    fail(breaker)  # 2/5
    assert breaker.state is CLOSED
    fail(breaker)  # 3/6 = 0.5
    assert breaker.state is OPEN


def test_a_success_never_opens_even_when_the_rate_is_reached(clock):
    breaker = rated(clock)
    fail(breaker, 3)
    succeed(breaker)  # 3/4 over min_calls, but this call worked
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


@pytest.mark.parametrize(("later", "state"), [(9.999, OPEN), (10.0, CLOSED)])
def test_old_failures_age_out_of_the_window(clock, later, state):
    breaker = rated(clock)
    fail(breaker, 3)
    clock.now += later
    fail(breaker)
    assert breaker.state is state


@pytest.mark.parametrize(("later", "state"), [(9.5, CLOSED), (10.0, OPEN)])
def test_old_successes_age_out_of_the_window(clock, later, state):
    breaker = rated(clock, min_calls=2)
    succeed(breaker, 4)
    clock.now += 5.0
    fail(breaker)  # 1/5
    clock.now = 1000.0 + later
    fail(breaker)  # 2/6, or 2/2 once the successes are gone
    assert breaker.state is state


def test_failures_leave_the_window_with_their_calls(clock):
    breaker = rated(clock, failure_rate=0.6, min_calls=2)
    succeed(breaker)
    fail(breaker)  # 1/2
    clock.now += 5.0
    succeed(breaker, 2)
    clock.now += 5.0
    fail(breaker)  # the first second is gone: 1/3 (2/3 if its failure stayed behind)
    assert breaker.state is CLOSED


@pytest.mark.parametrize(("later", "state"), [(0.40, OPEN), (0.56, CLOSED)])
def test_a_sub_second_window_keeps_its_own_slots(clock, later, state):
    breaker = rated(clock, window=0.5, min_calls=2)
    clock.now = 1000.42
    fail(breaker)
    clock.now += later
    fail(breaker)
    assert breaker.state is state


def test_the_window_starts_empty_after_opening(clock):
    breaker = rated(clock, failure_threshold=3, cooldown=10.0, window=60.0)
    succeed(breaker)
    fail(breaker, 3)  # opened by the threshold; the window held 3/4
    clock.now += 10.0
    succeed(breaker)
    assert breaker.state is CLOSED
    fail(breaker)  # 1 call in the window now; 4/5 if the old outcomes were kept
    assert breaker.state is CLOSED


# --- disabled -------------------------------------------------------------------------------


def test_disabled_breaker_never_opens(clock):
    seen = []
    breaker = Breaker(
        BreakerOptions(enabled=False, failure_threshold=1, failure_rate=0.1, min_calls=1),
        clock,
        lambda *t: seen.append(t),
        key="p/m",
    )
    for _ in range(10):
        assert breaker.acquire() is True
        breaker.record_failure(retry_after=60.0)
    assert breaker.state is CLOSED
    assert breaker.retry_in() == 0.0
    assert breaker.snapshot() == {"state": "closed", "consecutive_failures": 0, "opened": 0}
    assert seen == []


# --- board, transitions, snapshot -----------------------------------------------------------


def test_board_returns_one_breaker_per_target(clock):
    board = BreakerBoard(BreakerOptions(), clock)
    assert board.get("a", "x") is board.get("a", "x")
    assert board.get("a", "x") is not board.get("a", "y")
    assert board.get("a", "x").key == "a/x"
    assert board.get("openrouter", "meta/llama").key == "openrouter/meta/llama"


def test_failures_on_one_target_do_not_touch_the_others(clock):
    board = BreakerBoard(BreakerOptions(failure_threshold=2), clock)
    fail(board.get("a", "y"))
    fail(board.get("b", "x"))
    fail(board.get("a", "x"), 2)
    assert board.get("a", "x").state is OPEN
    for provider, model in (("a", "y"), ("b", "x")):
        breaker = board.get(provider, model)
        assert breaker.state is CLOSED
        assert breaker.acquire() is True
        assert breaker.snapshot()["consecutive_failures"] == 1


def test_transitions_are_reported_in_order_with_keys(clock):
    seen = []
    board = BreakerBoard(
        BreakerOptions(failure_threshold=1, cooldown=10.0),
        clock,
        lambda key, old, new: seen.append((key, old, new, board.get(*key.split("/")).state)),
    )
    fail(board.get("a", "x"))
    clock.now += 5.0
    fail(board.get("b", "y"))
    clock.now += 5.0
    assert board.get("a", "x").state is HALF_OPEN
    assert board.get("a", "x").state is HALF_OPEN  # noticed once, reported once
    succeed(board.get("a", "x"))
    clock.now += 5.0
    fail(board.get("b", "y"))  # the probe admitted by acquire() fails
    assert seen == [
        ("a/x", CLOSED, OPEN, OPEN),
        ("b/y", CLOSED, OPEN, OPEN),
        ("a/x", OPEN, HALF_OPEN, HALF_OPEN),
        ("a/x", HALF_OPEN, CLOSED, CLOSED),
        ("b/y", OPEN, HALF_OPEN, HALF_OPEN),
        ("b/y", HALF_OPEN, OPEN, OPEN),
    ]


def test_snapshot_of_each_state_and_of_the_board(clock):
    board = BreakerBoard(BreakerOptions(failure_threshold=2, cooldown=30.0), clock)
    fail(board.get("a", "x"))
    fail(board.get("a", "y"), 2)
    assert board.get("a", "x").snapshot() == {"state": "closed", "consecutive_failures": 1, "opened": 0}
    clock.now += 12.26
    assert board.snapshot() == {
        "a/x": {"state": "closed", "consecutive_failures": 1, "opened": 0},
        "a/y": {"state": "open", "consecutive_failures": 2, "retry_in": 17.7, "opened": 1},
    }
    clock.now += 17.74
    assert board.get("a", "y").snapshot() == {"state": "half_open", "consecutive_failures": 2, "opened": 1}


def test_snapshot_is_plain_json_data(clock):
    breaker = opened(clock)
    state = breaker.snapshot()["state"]
    assert type(state) is str and state == "open"


# --- the plugin -----------------------------------------------------------------------------


def test_consecutive_policy_is_registered_and_builds_a_board_on_the_injected_clock(clock):
    # Disabling the default name keeps this test valid once the module is in DEFAULT_PLUGINS.
    host = load_plugins(
        disabled=["sluicegate.breakers"],
        extra=[("test.breakers", breakers_plugin)],
        use_entry_points=False,
    )
    component = host.registry.get(BREAKER_POLICY, "consecutive")
    assert component is not None
    assert component.plugin.name == "test.breakers"
    assert component.options is BreakerOptions
    board = component.factory(
        options=BreakerOptions(failure_threshold=1, cooldown=10.0),
        services=Services(http=None, config=None, clock=clock),
    )
    assert isinstance(board, BreakerBoard)
    fail(board.get("a", "x"))
    clock.now += 10.0
    assert board.get("a", "x").state is HALF_OPEN


def test_board_stays_bounded_and_keeps_breakers_that_hold_failures():
    now = [0.0]
    board = BreakerBoard(BreakerOptions(failure_threshold=1), lambda: now[0], max_entries=3)
    sick = board.get("p", "sick")
    assert sick.acquire()
    sick.record_failure()
    for index in range(10):
        board.get("p", f"client-named-{index}")
    snapshot = board.snapshot()
    assert len(snapshot) == 3
    assert snapshot["p/sick"]["state"] == "open"
    assert board.get("p", "sick") is sick
