"""Balancing strategies: try-orders per request, live target stats and config validation."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from attrs import frozen

from sluicegate.config.schema import STRATEGIES as SCHEMA_STRATEGIES
from sluicegate.resilience.balance import STRATEGIES, Balancer, StatsBoard, TargetStats

N = 10_000


@frozen
class Fake:
    """Stands in for exchange.Target: the balancer only reads ``label``."""

    label: str


A, B, C, D = (Fake(f"p/{name}") for name in "abcd")


def make(strategy, targets=(A, B, C), weights=None, board=None, seed=0):
    return Balancer(strategy, targets, weights, board or StatsBoard(), random.Random(seed))


def labels(order):
    return [t.label for t in order]


def test_strategy_names_match_the_config_schema():
    assert STRATEGIES == SCHEMA_STRATEGIES


# --- ordered ---------------------------------------------------------------------------------


def test_ordered_returns_the_configured_order_as_one_shared_tuple():
    balancer = make("ordered")
    first = balancer.order()
    assert list(first) == [A, B, C]
    assert balancer.order() is first


def test_ordered_ignores_load_and_latency():
    board = StatsBoard()
    balancer = make("ordered", board=board)
    board.get("p/a").started()
    board.get("p/b").started()
    board.get("p/b").finished(0.01)
    assert list(balancer.order()) == [A, B, C]


# --- weighted --------------------------------------------------------------------------------


def test_weighted_first_pick_follows_the_weight_share():
    balancer = make("weighted", targets=(A, B), weights=[3, 1], seed=1)
    firsts = Counter(balancer.order()[0] for _ in range(N))
    assert abs(firsts[A] / N - 0.75) <= 0.02
    assert firsts[A] + firsts[B] == N


def test_weighted_is_a_permutation_without_replacement():
    # P(c, b, a) = 7/10 * 2/3; P(a, b, c) = 1/10 * 2/9. Wrong draws (e.g. u * w keys) miss these.
    balancer = make("weighted", weights=[1, 2, 7], seed=2)
    orders = Counter(tuple(labels(balancer.order())) for _ in range(N))
    assert sum(orders.values()) == N
    assert all(sorted(order) == ["p/a", "p/b", "p/c"] for order in orders)
    assert len(orders) == 6  # every permutation occurs
    assert abs(orders[("p/c", "p/b", "p/a")] / N - 0.7 * 2 / 3) <= 0.02
    assert abs(orders[("p/a", "p/b", "p/c")] / N - 0.1 * 2 / 9) <= 0.01
    firsts = Counter(order[0] for order in orders.elements())
    assert abs(firsts["p/a"] / N - 0.1) <= 0.02
    assert abs(firsts["p/b"] / N - 0.2) <= 0.02


def test_weighted_defaults_to_equal_weights():
    balancer = make("weighted", seed=3)
    firsts = Counter(balancer.order()[0] for _ in range(N))
    for target in (A, B, C):
        assert abs(firsts[target] / N - 1 / 3) <= 0.02


def test_zero_weight_targets_come_last_in_configured_order():
    balancer = make("weighted", targets=(A, B, C, D), weights=[0, 2, 0, 1], seed=4)
    seen = Counter()
    for _ in range(1000):
        order = balancer.order()
        assert order[2:] == [A, C]
        assert sorted(labels(order[:2])) == ["p/b", "p/d"]
        seen[order[0]] += 1
    assert seen[B] > 0 and seen[D] > 0


def test_weighted_with_one_positive_weight_is_fixed():
    balancer = make("weighted", weights=[0, 5, 0])
    assert list(balancer.order()) == [B, A, C]
    assert balancer.order() is balancer.order()


def test_weighted_uses_only_the_given_rng():
    one = make("weighted", weights=[1, 1, 1], seed=5)
    two = make("weighted", weights=[1, 1, 1], seed=5)
    first = [labels(one.order()) for _ in range(50)]
    random.seed(12345)  # the module's global RNG must not matter
    assert [labels(two.order()) for _ in range(50)] == first
    other = make("weighted", weights=[1, 1, 1], seed=6)
    assert [labels(other.order()) for _ in range(50)] != first


def test_weighted_stays_fair_for_small_weights():
    # u ** (1/w) keys underflow to 0.0 for w = 0.001 and tie; the log-space keys do not.
    balancer = make("weighted", targets=(A, B), weights=[0.001, 0.001], seed=7)
    firsts = Counter(balancer.order()[0] for _ in range(N))
    assert abs(firsts[A] / N - 0.5) <= 0.02


def test_weighted_handles_a_tiny_weight_next_to_a_huge_one():
    balancer = make("weighted", targets=(A, B), weights=[1e-300, 1e300], seed=7)
    assert all(balancer.order() == [B, A] for _ in range(100))


# --- least-busy ------------------------------------------------------------------------------


def test_least_busy_follows_in_flight_and_keeps_order_on_ties():
    board = StatsBoard()
    balancer = make("least-busy", board=board)
    assert balancer.order() == [A, B, C]
    a, b = board.get("p/a"), board.get("p/b")
    a.started()
    a.started()
    b.started()
    assert balancer.order() == [C, B, A]
    a.finished(0.5)
    assert balancer.order() == [C, A, B]  # a and b tie at 1: configured order
    a.finished(None)
    b.finished(None)
    assert balancer.order() == [A, B, C]


def test_balancers_sharing_a_board_see_the_same_target():
    board = StatsBoard()
    one = make("least-busy", targets=(A, B), board=board)
    two = make("least-busy", targets=(C, A), board=board)
    board.get("p/a").started()
    assert one.order() == [B, A]
    assert two.order() == [C, A]


def test_custom_key_picks_the_stats():
    board = StatsBoard()
    balancer = Balancer("least-busy", ["x", "y"], None, board, random.Random(0), key=str.upper)
    board.get("X").started()
    assert balancer.order() == ["y", "x"]


# --- latency ---------------------------------------------------------------------------------


def test_latency_puts_unsampled_first_then_ascending_ewma():
    board = StatsBoard()
    balancer = make("latency", targets=(A, B, C, D), board=board)
    assert balancer.order() == [A, B, C, D]
    for label, ttfb in (("p/a", 0.3), ("p/c", 0.1)):
        board.get(label).started()
        board.get(label).finished(ttfb)
    assert balancer.order() == [B, D, C, A]
    for label, ttfb in (("p/b", 0.2), ("p/d", 0.1)):
        board.get(label).started()
        board.get(label).finished(ttfb)
    assert balancer.order() == [C, D, B, A]  # c and d tie at 0.1: configured order


def test_latency_ignores_failures():
    board = StatsBoard()
    balancer = make("latency", targets=(A, B), board=board)
    board.get("p/a").started()
    board.get("p/a").finished(0.2)
    board.get("p/b").started()
    board.get("p/b").finished(None)  # a fast failure must not make b look fast
    assert balancer.order() == [A, B]  # b failed before ever answering: last, not first
    assert board.get("p/b").ewma_ttfb is None
    board.get("p/b").started()
    board.get("p/b").finished(0.1)  # once it answers, it is measured like any other
    assert balancer.order() == [B, A]


# --- stats -----------------------------------------------------------------------------------


def test_ewma_math_is_exact():
    stats = TargetStats(alpha=0.3)
    stats.started()
    stats.finished(1.0)
    assert stats.ewma_ttfb == 1.0  # the first sample seeds the average
    stats.started()
    stats.finished(0.0)
    assert stats.ewma_ttfb == 0.7
    stats.started()
    stats.finished(1.7)
    assert stats.ewma_ttfb == pytest.approx(0.7 + 0.3 * 1.0, abs=1e-12)
    assert stats.in_flight == 0


def test_board_alpha_reaches_every_target():
    board = StatsBoard(alpha=0.5)
    stats = board.get("p/a")
    stats.started()
    stats.finished(2.0)
    stats.started()
    stats.finished(0.0)
    assert stats.ewma_ttfb == 1.0


def test_board_isolates_keys():
    board = StatsBoard()
    assert board.get("p/a") is board.get("p/a")
    assert board.get("p/a") is not board.get("p/b")
    board.get("p/a").started()
    assert board.get("p/b").in_flight == 0


def test_snapshot_content():
    board = StatsBoard()
    a = board.get("p/a")
    a.started()
    a.started()
    a.finished(0.1234)
    board.get("p/b")
    assert board.snapshot() == {
        "p/a": {"in_flight": 1, "ewma_ttfb_ms": 123.4, "calls_1m": 0, "errors_1m": 0},
        "p/b": {"in_flight": 0, "ewma_ttfb_ms": None, "calls_1m": 0, "errors_1m": 0},
    }


# --- validation ------------------------------------------------------------------------------


def test_unknown_strategy_names_the_valid_ones():
    with pytest.raises(ValueError) as caught:
        make("round-robin")
    message = str(caught.value)
    assert "'round-robin'" in message
    for name in STRATEGIES:
        assert name in message


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        ([1, 1], "weights has 2 entries for 3 targets"),
        ([1, -1, 1], "weights[1] must be a finite number >= 0; got -1"),
        ([1, float("nan"), 1], "weights[1] must be a finite number >= 0; got nan"),
        ([1, float("inf"), 1], "weights[1] must be a finite number >= 0; got inf"),
        ([0, 0, 0], "weights are all zero"),
    ],
)
def test_bad_weights_are_rejected(weights, fragment):
    with pytest.raises(ValueError) as caught:
        make("weighted", weights=weights)
    assert fragment in str(caught.value)


def test_bad_weights_are_rejected_under_any_strategy():
    with pytest.raises(ValueError, match="all zero"):
        make("ordered", weights=[0, 0, 0])


def test_no_targets_is_rejected():
    with pytest.raises(ValueError, match="at least one target"):
        make("ordered", targets=())


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_bad_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match="alpha"):
        StatsBoard(alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        TargetStats(alpha=alpha)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_target_is_always_that_target(strategy):
    balancer = make(strategy, targets=(A,))
    assert list(balancer.order()) == [A]


def test_stats_board_stays_bounded_and_keeps_busy_targets():
    board = StatsBoard(max_entries=2)
    busy = board.get("p/busy")
    busy.started()
    for index in range(5):
        board.get(f"p/client-{index}")
    snapshot = board.snapshot()
    assert len(snapshot) == 2
    assert snapshot["p/busy"]["in_flight"] == 1
    assert board.get("p/busy") is busy
