"""The pure core of the weight filters: tables of known answers, the exact messages of bad input, and
hypothesis properties (optimality against brute force, the fallback never worse than the baseline,
nginx's round robin against a literal transcription, the chi-square survival function against closed forms).
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.lbstack.ha.plugins.plugin_utils import _weights as core

# ----------------------------------------------------------------------------------------------------------
# Helpers


def tie(error: float) -> float:
    """The same tolerance the core uses to call two largest errors equal."""
    return error + error * 1e-12 + 1e-15


def backends(*capacities: float, **states: str) -> list[dict[str, Any]]:
    """backends(8, 4, 2, c="backup") -> a, b, c with those capacities."""
    names = "abcdefghijklmnopqrstuvwxyz"
    out: list[dict[str, Any]] = []
    for name, capacity in zip(names, capacities):
        item: dict[str, Any] = {"name": name, "capacity": capacity}
        if name in states:
            item["state"] = states[name]
        out.append(item)
    return out


def weights_of(result: list[dict[str, Any]]) -> list[int]:
    return [item["weight"] for item in result]


def brute_force(
    capacities: Sequence[float],
    min_weight: int,
    max_weight: int,
) -> tuple[float, int, list[tuple]]:
    """Every integer vector within the bounds: the smallest largest error, the smallest total reaching it,
    and the vectors with both."""
    shares = core.shares_of(capacities)
    scored = [
        (core.max_share_error(w, shares), sum(w), w)
        for w in itertools.product(range(min_weight, max_weight + 1), repeat=len(capacities))
    ]
    best = min(error for error, _, _ in scored)
    optimal = [(total, w) for error, total, w in scored if error <= tie(best)]
    smallest = min(total for total, _ in optimal)
    return best, smallest, [w for total, w in optimal if total == smallest]


def squared_deviation(weights: Sequence[int], shares: Sequence[float]) -> float:
    total = sum(weights)
    return math.fsum((w - p * total) ** 2 for w, p in zip(weights, shares))


def nginx_reference(weights: Sequence[int], count: int) -> list[int]:
    """ngx_http_upstream_get_peer transcribed literally (no failures, so effective_weight == weight)."""
    peers = [{"weight": w, "effective_weight": w, "current_weight": 0} for w in weights]
    picks = []
    for _ in range(count):
        best = None
        total = 0
        for index, peer in enumerate(peers):
            peer["current_weight"] += peer["effective_weight"]
            total += peer["effective_weight"]
            if peer["effective_weight"] < peer["weight"]:
                peer["effective_weight"] += 1
            if best is None or peer["current_weight"] > peers[best]["current_weight"]:
                best = index
        assert best is not None
        peers[best]["current_weight"] -= total
        picks.append(best)
    return picks


def sf_closed_form(x: float, dof: int) -> float:
    """The chi-square survival function in closed form: a Poisson sum (even dof), erfc plus a sum (odd)."""
    half = x / 2.0
    if half == 0:
        return 1.0
    if dof % 2 == 0:
        terms = [math.exp(-half + j * math.log(half) - math.lgamma(j + 1)) for j in range(dof // 2)]
        return math.fsum(terms)
    value = math.erfc(math.sqrt(half))
    orders = range(1, (dof + 1) // 2)
    terms = [math.exp(-half + (j - 0.5) * math.log(half) - math.lgamma(j + 0.5)) for j in orders]
    return value + math.fsum(terms)


capacity_values = st.one_of(
    st.integers(min_value=1, max_value=40),
    st.floats(min_value=0.01, max_value=1e4, allow_nan=False, allow_infinity=False),
)


@st.composite
def bounds(draw: st.DrawFn, largest: int) -> tuple[int, int]:
    max_weight = draw(st.integers(min_value=1, max_value=largest))
    min_weight = draw(st.integers(min_value=1, max_value=max_weight))
    return min_weight, max_weight


# ----------------------------------------------------------------------------------------------------------
# weight_distribution: known answers


@pytest.mark.parametrize(
    ("capacities", "kwargs", "expected"),
    [
        pytest.param((8, 4, 2), {}, [4, 2, 1], id="8-4-2 gives 4-2-1"),
        pytest.param((5, 1, 1), {}, [5, 1, 1], id="5-1-1"),
        pytest.param((3, 2, 1), {}, [3, 2, 1], id="3-2-1"),
        pytest.param((7, 7, 7, 7), {}, [1, 1, 1, 1], id="equal capacities give 1s"),
        pytest.param((4,), {}, [1], id="one backend"),
        pytest.param((4,), {"min_weight": 10, "max_weight": 20}, [10], id="one backend takes min_weight"),
        pytest.param((0.5, 1.0, 1.5), {}, [1, 2, 3], id="fractions"),
        pytest.param((0.1, 0.2, 0.3), {}, [1, 2, 3], id="float noise is a tie"),
        pytest.param((2, 2, 1), {"min_weight": 2}, [4, 4, 2], id="min_weight doubles"),
        pytest.param((1000, 1), {}, [256, 1], id="clamped at max_weight"),
        pytest.param((1000, 1), {"max_weight": 10}, [10, 1], id="smaller max_weight"),
        pytest.param((3, 1), {"max_weight": 2}, [2, 1], id="best within tight bounds"),
        pytest.param((1, 1000), {"min_weight": 5, "max_weight": 5}, [5, 5], id="min equals max"),
        pytest.param((2, 1, 1, 1, 1, 1, 1), {}, [2, 1, 1, 1, 1, 1, 1], id="one double"),
        pytest.param((10**6, 10**6 + 1), {}, [1, 1], id="almost equal"),
    ],
)
def test_known_weights(capacities: tuple[float, ...], kwargs: dict[str, int], expected: list[int]) -> None:
    result = core.weight_distribution(backends(*capacities), **kwargs)
    assert weights_of(result) == expected
    total = sum(expected)
    assert [item["share"] for item in result] == pytest.approx([w / total for w in expected])


def test_output_items_are_copies_with_state_weight_and_share() -> None:
    given_items = [
        {"name": "web1", "capacity": 6, "address": "192.0.2.1", "port": 8080},
        {"name": "web2", "capacity": 3},
        {"name": "web3", "capacity": 3, "state": "drain"},
        {"name": "spare", "capacity": 2, "state": "backup"},
        {"name": "gone", "capacity": 9, "state": "down"},
        {"name": "empty", "capacity": 0},
        {"name": "empty-spare", "capacity": 0, "state": "backup"},
    ]
    before = copy.deepcopy(given_items)
    result = core.weight_distribution(given_items)
    assert given_items == before, "the input must not be mutated"
    assert all(out is not item for out, item in zip(result, given_items))
    assert result == [
        {
            "name": "web1",
            "capacity": 6,
            "address": "192.0.2.1",
            "port": 8080,
            "state": "active",
            "weight": 2,
            "share": pytest.approx(2 / 3),
        },
        {"name": "web2", "capacity": 3, "state": "active", "weight": 1, "share": pytest.approx(1 / 3)},
        {"name": "web3", "capacity": 3, "state": "drain", "weight": 0, "share": 0.0},
        {"name": "spare", "capacity": 2, "state": "backup", "weight": 1, "share": 0.0},
        {"name": "gone", "capacity": 9, "state": "down", "weight": 0, "share": 0.0},
        {"name": "empty", "capacity": 0, "state": "drain", "weight": 0, "share": 0.0},
        {"name": "empty-spare", "capacity": 0, "state": "drain", "weight": 0, "share": 0.0},
    ]
    assert isinstance(result[0]["weight"], int)
    assert isinstance(result[0]["share"], float)


def test_backups_are_weighted_among_themselves() -> None:
    result = core.weight_distribution(backends(5, 1, 8, 4, 2, c="backup", d="backup", e="backup"))
    assert weights_of(result) == [5, 1, 4, 2, 1]
    assert [item["share"] for item in result] == pytest.approx([5 / 6, 1 / 6, 0, 0, 0])


def test_a_weight_without_a_capacity_is_a_weight() -> None:
    result = core.weight_distribution([{"name": "a", "weight": 10}, {"name": "b", "weight": 5}])
    assert weights_of(result) == [10, 5]
    assert [item["share"] for item in result] == pytest.approx([2 / 3, 1 / 3])
    # beside servers weighted from capacities, it stays as given; a weight of 0 drains
    mixed = [
        {"name": "a", "capacity": 8},
        {"name": "b", "capacity": 4},
        {"name": "c", "weight": 3},
        {"name": "d", "weight": 0},
    ]
    assert weights_of(core.weight_distribution(mixed)) == [2, 1, 3, 0]
    assert core.weight_distribution(mixed)[3]["state"] == "drain"
    # capacity wins over weight when both are given
    both = [{"name": "a", "capacity": 1, "weight": 9}, {"name": "b", "capacity": 1}]
    result = core.weight_distribution(both)
    assert weights_of(result) == [1, 1]


def test_running_it_again_on_its_output_changes_nothing() -> None:
    first = core.weight_distribution(backends(13, 7, 5, 2.5, 1, c="backup"))
    assert core.weight_distribution(first) == first


# ----------------------------------------------------------------------------------------------------------
# weight_distribution: bad input, with the exact message


NAN = float("nan")
INF = float("inf")


@pytest.mark.parametrize(
    ("given_backends", "kwargs", "error", "message"),
    [
        pytest.param(
            {"name": "a"},
            {},
            TypeError,
            "backends must be a list of mappings, got dict",
            id="dict",
        ),
        pytest.param("web1", {}, TypeError, "backends must be a list of mappings, got str", id="string"),
        pytest.param(None, {}, TypeError, "backends must be a list of mappings, got None", id="none"),
        pytest.param([], {}, ValueError, "backends is empty: at least one backend is needed", id="empty"),
        pytest.param(
            [5],
            {},
            TypeError,
            "backends[0] must be a mapping with a name, got int 5",
            id="not mapping",
        ),
        pytest.param(
            [{"capacity": 1}],
            {},
            ValueError,
            "backends[0] has no name: every backend needs a unique, non-empty name",
            id="no name",
        ),
        pytest.param(
            [{"name": " ", "capacity": 1}],
            {},
            ValueError,
            "backends[0] has an empty name: names must be unique and non-empty",
            id="empty name",
        ),
        pytest.param(
            [{"name": 3, "capacity": 1}],
            {},
            TypeError,
            "backends[0] has a name that is not a string: int 3",
            id="name not string",
        ),
        pytest.param(
            [{"name": "a", "capacity": 1}, {"name": "a", "capacity": 2}],
            {},
            ValueError,
            "backends[1] 'a' has the same name as backends[0]: names must be unique",
            id="duplicate",
        ),
        pytest.param(
            backends(1, -1),
            {},
            ValueError,
            "backends[1] 'b' has a negative capacity: -1 (capacities must be >= 0)",
            id="negative",
        ),
        pytest.param(
            backends(1, NAN),
            {},
            ValueError,
            "backends[1] 'b' has a capacity that is not finite: nan",
            id="nan",
        ),
        pytest.param(
            backends(INF, 1),
            {},
            ValueError,
            "backends[0] 'a' has a capacity that is not finite: inf",
            id="inf",
        ),
        pytest.param(
            backends(10**400),
            {},
            ValueError,
            "backends[0] 'a' has a capacity that is not finite: 1000",
            id="huge",
        ),
        pytest.param(
            backends("4"),
            {},
            TypeError,
            "backends[0] 'a' has a capacity that is not a number: str '4' (capacities must be finite",
            id="string capacity",
        ),
        pytest.param(
            backends(True),
            {},
            TypeError,
            "backends[0] 'a' has a capacity that is not a number: bool True",
            id="bool capacity",
        ),
        pytest.param(
            backends(None),
            {},
            TypeError,
            "backends[0] 'a' has a capacity that is not a number: None (",
            id="null capacity",
        ),
        pytest.param(
            [{"name": "a"}],
            {},
            ValueError,
            "backends[0] 'a' has no capacity and no weight",
            id="no capacity",
        ),
        pytest.param(
            [{"name": "a", "weight": -2}],
            {},
            ValueError,
            "backends[0] 'a' has a weight that is not an integer within 0..256: int -2 (a weight given "
            "without a capacity is used as it is)",
            id="negative weight",
        ),
        pytest.param(
            backends(1, 2, b="up"),
            {},
            ValueError,
            "backends[1] 'b' has an unknown state 'up': expected one of active, backup, drain, down",
            id="unknown state",
        ),
        pytest.param(
            backends(1, a=None),
            {},
            ValueError,
            "backends[0] 'a' has an unknown state None",
            id="null state",
        ),
        pytest.param(
            backends(0, 0),
            {},
            ValueError,
            "no active backend with a capacity above 0: at least one backend must take traffic "
            "(got a drain (capacity 0), b drain (capacity 0))",
            id="all zero",
        ),
        pytest.param(
            backends(3, 1, a="backup", b="down"),
            {},
            ValueError,
            "no active backend with a capacity above 0: at least one backend must take traffic (got a",
            id="no active",
        ),
        pytest.param(
            backends(1, 1, 1, 1, 1, 1, 1, **dict.fromkeys("abcdefg", "drain")),
            {},
            ValueError,
            "(got a drain, b drain, c drain, d drain, e drain, and 2 more)",
            id="summary is bounded",
        ),
        pytest.param(
            backends(1),
            {"max_weight": 257},
            ValueError,
            "max_weight must be an integer within 1..256, got 257",
            id="max too big",
        ),
        pytest.param(
            backends(1),
            {"max_weight": 0},
            ValueError,
            "max_weight must be an integer within 1..256, got 0",
            id="max zero",
        ),
        pytest.param(
            backends(1),
            {"min_weight": 0},
            ValueError,
            "min_weight must be an integer within 1..256, got 0",
            id="min zero",
        ),
        pytest.param(
            backends(1),
            {"max_weight": "10"},
            TypeError,
            "max_weight must be an integer within 1..256, got str '10'",
            id="max string",
        ),
        pytest.param(
            backends(1),
            {"min_weight": True},
            TypeError,
            "min_weight must be an integer within 1..256, got bool True",
            id="min bool",
        ),
        pytest.param(
            backends(1),
            {"min_weight": 10, "max_weight": 5},
            ValueError,
            "min_weight (10) must not exceed max_weight (5)",
            id="min above max",
        ),
    ],
)
def test_bad_input_is_named(
    given_backends: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        core.weight_distribution(given_backends, **kwargs)
    assert message in str(caught.value)


# ----------------------------------------------------------------------------------------------------------
# Optimality: exact search against brute force


@settings(max_examples=300, deadline=None)
@given(capacities=st.lists(capacity_values, min_size=1, max_size=3), weight_bounds=bounds(12))
@example(capacities=[8, 4, 2], weight_bounds=(1, 12))
@example(capacities=[5, 1, 1], weight_bounds=(1, 12))
@example(capacities=[1, 3], weight_bounds=(2, 3))
@example(capacities=[1, 1000], weight_bounds=(1, 12))
def test_exact_search_is_optimal(capacities: list[float], weight_bounds: tuple[int, int]) -> None:
    min_weight, max_weight = weight_bounds
    solution = core.solve_weights(capacities, max_weight, min_weight)
    best, smallest, optimal = brute_force(capacities, min_weight, max_weight)
    assert solution.method == "exact"
    assert all(min_weight <= w <= max_weight for w in solution.weights)
    assert solution.error <= tie(best), f"error {solution.error} but {best} is possible"
    assert solution.total == smallest, f"total {solution.total} but {smallest} reaches the same error"
    assert tuple(solution.weights) in optimal
    # Among the optimal vectors of that total: the one closest to the exact proportions.
    shares = core.shares_of(capacities)
    closest = min(squared_deviation(w, shares) for w in optimal)
    assert squared_deviation(solution.weights, shares) <= closest + 1e-9


@settings(max_examples=60, deadline=None)
@given(capacities=st.lists(capacity_values, min_size=4, max_size=4), weight_bounds=bounds(6))
def test_exact_search_is_optimal_for_four(capacities: list[float], weight_bounds: tuple[int, int]) -> None:
    min_weight, max_weight = weight_bounds
    solution = core.solve_weights(capacities, max_weight, min_weight)
    best, smallest, optimal = brute_force(capacities, min_weight, max_weight)
    assert solution.error <= tie(best)
    assert solution.total == smallest
    assert tuple(solution.weights) in optimal


@settings(max_examples=60, deadline=None)
@given(
    capacities=st.lists(capacity_values, min_size=2, max_size=64),
    weight_bounds=bounds(256),
)
def test_exact_search_beats_or_equals_the_fallback(
    capacities: list[float],
    weight_bounds: tuple[int, int],
) -> None:
    min_weight, max_weight = weight_bounds
    exact = core.solve_weights(capacities, max_weight, min_weight)
    fallback = core.solve_weights(capacities, max_weight, min_weight, exact_max_items=0)
    assert exact.method == "exact"
    assert fallback.method == "fallback"
    assert exact.error <= tie(fallback.error)
    if exact.error >= fallback.error:  # same error: the exact one has the smallest total
        assert exact.total <= fallback.total


# ----------------------------------------------------------------------------------------------------------
# The fallback


def baseline_errors(capacities: Sequence[float], min_weight: int, max_weight: int) -> float:
    shares = core.shares_of(capacities)
    return min(
        core.max_share_error(baseline, shares)
        for baseline in (
            core.baseline_weights(capacities, min_weight, max_weight),
            core.baseline_weights(capacities, min_weight, max_weight, half_even=True),
        )
    )


@settings(max_examples=40, deadline=None)
@given(
    capacities=st.lists(capacity_values, min_size=65, max_size=400),
    weight_bounds=bounds(256),
)
def test_fallback_is_never_worse_than_the_baseline(
    capacities: list[float],
    weight_bounds: tuple[int, int],
) -> None:
    min_weight, max_weight = weight_bounds
    solution = core.solve_weights(capacities, max_weight, min_weight)
    assert solution.method == "fallback"
    assert all(min_weight <= w <= max_weight for w in solution.weights)
    assert solution.error == core.max_share_error(solution.weights, core.shares_of(capacities))
    assert solution.error <= tie(baseline_errors(capacities, min_weight, max_weight))


@settings(max_examples=100, deadline=None)
@given(capacities=st.lists(capacity_values, min_size=1, max_size=3), weight_bounds=bounds(12))
def test_forced_fallback_on_small_inputs(capacities: list[float], weight_bounds: tuple[int, int]) -> None:
    """The fallback, run where brute force can judge it: never better than optimal, never worse than the
    baseline (with both roundings), and within the bounds."""
    min_weight, max_weight = weight_bounds
    solution = core.solve_weights(capacities, max_weight, min_weight, exact_max_items=0)
    best, _, _ = brute_force(capacities, min_weight, max_weight)
    assert solution.error >= best - 1e-15
    assert solution.error <= tie(baseline_errors(capacities, min_weight, max_weight))
    assert all(min_weight <= w <= max_weight for w in solution.weights)


def test_an_exhausted_budget_still_gives_a_good_answer() -> None:
    capacities = [2.0 ** (i / 3) for i in range(40)]
    exact = core.solve_weights(capacities)
    cut = core.solve_weights(capacities, budget=0)
    assert (exact.method, cut.method) == ("exact", "fallback")
    assert cut.error <= tie(baseline_errors(capacities, 1, 256))
    assert exact.error <= tie(cut.error)


def test_fallback_finds_exact_integer_proportions() -> None:
    capacities = [4, 8, 12, 4, 16] * 200  # 1,000 backends, gcd 4
    solution = core.solve_weights(capacities)
    assert solution.method == "fallback"
    assert solution.error == 0
    assert solution.weights[:5] == [1, 2, 3, 1, 4]


@pytest.mark.parametrize("count", [10, 1_000, 10_000])
def test_large_inputs_are_fast(count: int) -> None:
    rng = random.Random(count)
    items = [{"name": f"b{i}", "capacity": rng.uniform(1, 64)} for i in range(count)]
    start = time.perf_counter()
    result = core.weight_distribution(items)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{count} backends took {elapsed:.3f} s"
    assert math.fsum(item["share"] for item in result) == pytest.approx(1.0)
    assert all(1 <= item["weight"] <= 256 for item in result)


@settings(max_examples=50, deadline=None)
@given(
    capacities=st.lists(st.one_of(st.just(0), capacity_values), min_size=1, max_size=80),
    states=st.lists(st.sampled_from(core.STATES), min_size=80, max_size=80),
    weight_bounds=bounds(256),
)
def test_weight_distribution_invariants(
    capacities: list[float], states: list[str], weight_bounds: tuple[int, int]
) -> None:
    min_weight, max_weight = weight_bounds
    items = [
        {"name": f"n{i}", "capacity": c, "state": s, "extra": i}
        for i, (c, s) in enumerate(zip(capacities, states), start=0)
    ]
    if not any(c > 0 and s == "active" for c, s in zip(capacities, states)):
        with pytest.raises(ValueError, match="no active backend with a capacity above 0"):
            core.weight_distribution(items, max_weight, min_weight)
        return
    result = core.weight_distribution(items, max_weight, min_weight)
    assert [r["name"] for r in result] == [i["name"] for i in items]
    assert [r["extra"] for r in result] == [i["extra"] for i in items]
    for given_item, out in zip(items, result):
        if out["state"] in ("active", "backup"):
            assert min_weight <= out["weight"] <= max_weight
            assert given_item["capacity"] > 0
        else:
            assert out["weight"] == 0
            assert out["share"] == 0.0
        if given_item["capacity"] == 0 and given_item["state"] in ("active", "backup"):
            assert out["state"] == "drain"
        else:
            assert out["state"] == given_item["state"]
        if out["state"] != "active":
            assert out["share"] == 0.0
    assert math.fsum(r["share"] for r in result) == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------------------
# best_for_total


@settings(max_examples=200, deadline=None)
@given(
    capacities=st.lists(capacity_values, min_size=1, max_size=3),
    weight_bounds=bounds(10),
    total=st.integers(min_value=1, max_value=30),
)
def test_best_for_total_is_optimal_for_its_total(
    capacities: list[float], weight_bounds: tuple[int, int], total: int
) -> None:
    min_weight, max_weight = weight_bounds
    shares = core.shares_of(capacities)
    weights = core.best_for_total(shares, total, min_weight, max_weight)
    every = itertools.product(range(min_weight, max_weight + 1), repeat=len(capacities))
    candidates = [w for w in every if sum(w) == total]
    if not candidates:
        assert weights is None
        return
    assert weights is not None
    assert sum(weights) == total
    best = min(core.max_share_error(w, shares) for w in candidates)
    assert core.max_share_error(weights, shares) <= tie(best)


def one_unit_at_a_time(shares: Sequence[float], total: int, min_weight: int, max_weight: int) -> list[int]:
    """best_for_total without the bulk step: every unit through the heap."""
    targets = [p * total for p in shares]
    weights = [min(max_weight, max(min_weight, math.ceil(t - 0.5))) for t in targets]
    step = 1 if total > sum(weights) else -1
    for _ in range(abs(total - sum(weights))):
        movable = [i for i, w in enumerate(weights) if min_weight <= w + step <= max_weight]
        i = min(movable, key=lambda i: (abs(weights[i] + step - targets[i]), i))
        weights[i] += step
    return weights


@settings(max_examples=100, deadline=None)
@given(
    capacities=st.lists(capacity_values, min_size=2, max_size=30),
    weight_bounds=bounds(256),
    fraction=st.floats(min_value=0, max_value=1),
)
@example(capacities=[1.0] * 20 + [500.0, 900.0, 1200.0, 2000.0], weight_bounds=(50, 256), fraction=0.3)
def test_bulk_steps_agree_with_single_steps(
    capacities: list[float], weight_bounds: tuple[int, int], fraction: float
) -> None:
    # A large min_weight forces small backends far above their targets: many units come off the large
    # ones, through the bulk step of _add_units.
    min_weight, max_weight = weight_bounds
    n = len(capacities)
    total = n * min_weight + round(fraction * n * (max_weight - min_weight))
    shares = core.shares_of(capacities)
    bulk = core.best_for_total(shares, total, min_weight, max_weight)
    single = one_unit_at_a_time(shares, total, min_weight, max_weight)
    assert bulk is not None
    assert sum(bulk) == total
    assert core.max_share_error(bulk, shares) <= tie(core.max_share_error(single, shares))
    assert squared_deviation(bulk, shares) <= squared_deviation(single, shares) + 1e-6


# ----------------------------------------------------------------------------------------------------------
# wrr_schedule


@pytest.mark.parametrize(
    ("weights", "count", "expected"),
    [
        pytest.param([5, 1, 1], 7, "a a b a c a a", id="nginx comment: 5-1-1"),
        pytest.param([5, 1, 1], 14, "a a b a c a a a a b a c a a", id="two cycles"),
        pytest.param([4, 2, 1], 7, "a b a c a b a", id="4-2-1"),
        pytest.param([3, 2, 1], 6, "a b a c b a", id="3-2-1"),
        pytest.param([1, 1, 1], 5, "a b c a b", id="equal"),
        pytest.param([2], 3, "a a a", id="one backend"),
        pytest.param([5, 1, 1], 0, "", id="none"),
    ],
)
def test_known_schedules(weights: list[int], count: int, expected: str) -> None:
    items = [{"name": name, "weight": w} for name, w in zip("abc", weights)]
    assert core.wrr_schedule(items, count) == expected.split()


def test_only_active_backends_with_weight_take_part() -> None:
    items = [
        {"name": "a", "weight": 2},
        {"name": "spare", "weight": 5, "state": "backup"},
        {"name": "b", "weight": 1, "state": "active"},
        {"name": "old", "weight": 3, "state": "drain"},
        {"name": "dead", "weight": 3, "state": "down"},
        {"name": "zero", "weight": 0},
    ]
    assert core.wrr_schedule(items, 6) == ["a", "b", "a", "a", "b", "a"]


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=8),
    extra=st.integers(min_value=0, max_value=200),
)
def test_schedule_matches_nginx_transcription(weights: list[int], extra: int) -> None:
    count = 2 * sum(weights) + extra
    assert core.smooth_wrr(weights, count) == nginx_reference(weights, count)


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10))
def test_each_cycle_serves_each_backend_weight_times(weights: list[int]) -> None:
    total = sum(weights)
    picks = core.smooth_wrr(weights, 3 * total)
    for cycle in range(3):
        assert Counter(picks[cycle * total : (cycle + 1) * total]) == dict(enumerate(weights))


@pytest.mark.parametrize(
    ("given_backends", "count", "error", "message"),
    [
        pytest.param(
            [{"name": "a", "weight": 1}],
            -1,
            ValueError,
            "count must be an integer within 0..10,000,000, got -1",
            id="negative count",
        ),
        pytest.param(
            [{"name": "a", "weight": 1}],
            10_000_001,
            ValueError,
            "got 10000001",
            id="count too big",
        ),
        pytest.param([{"name": "a", "weight": 1}], 2.0, TypeError, "got float 2.0", id="float count"),
        pytest.param([{"name": "a", "weight": 1}], True, TypeError, "got bool True", id="bool count"),
        pytest.param([{"name": "a", "weight": 1}], "7", TypeError, "got str '7'", id="string count"),
        pytest.param(
            {"a": 1},
            1,
            TypeError,
            "backends must be a list of mappings, got dict",
            id="not a list",
        ),
        pytest.param([], 1, ValueError, "backends is empty", id="empty"),
        pytest.param(
            [{"name": "a"}],
            1,
            ValueError,
            "backends[0] 'a' has no weight (pass the output of weight_distribution)",
            id="no weight",
        ),
        pytest.param(
            [{"name": "a", "weight": 1.5}],
            1,
            ValueError,
            "backends[0] 'a' has a weight that is not an integer >= 0: 1.5",
            id="float weight",
        ),
        pytest.param(
            [{"name": "a", "weight": -1}],
            1,
            ValueError,
            "backends[0] 'a' has a weight that is not an integer >= 0: -1",
            id="negative weight",
        ),
        pytest.param(
            [{"name": "a", "weight": True}],
            1,
            ValueError,
            "not an integer >= 0: True",
            id="bool weight",
        ),
        pytest.param(
            [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}],
            1,
            ValueError,
            "backends[1] 'a' has the same name as backends[0]",
            id="duplicate",
        ),
        pytest.param(
            [{"name": "a", "weight": 1, "state": "on"}],
            1,
            ValueError,
            "unknown state 'on'",
            id="state",
        ),
        pytest.param(
            [{"name": "a", "weight": 0}, {"name": "b", "weight": 3, "state": "backup"}],
            1,
            ValueError,
            "no active backend with a weight above 0: nothing to schedule",
            id="nothing to schedule",
        ),
    ],
)
def test_schedule_bad_input(given_backends: Any, count: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        core.wrr_schedule(given_backends, count)
    assert message in str(caught.value)


def test_schedule_work_is_bounded() -> None:
    many = [{"name": f"b{i}", "weight": i % 256 + 1} for i in range(10_000)]
    with pytest.raises(ValueError, match=r"among 10000 backends \(256 distinct weights\) is too much work"):
        core.wrr_schedule(many, 10_000_000)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=4),
    picks=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=120),
)
def test_schedule_by_weight_class_is_nginx_too(values: list[int], picks: list[int]) -> None:
    """Many backends sharing few weights take the O(distinct weights) path; it must pick the same."""
    weights = [values[p % len(values)] for p in picks]
    count = 2 * sum(weights) + 3
    expected = nginx_reference(weights, count)
    assert core.smooth_wrr(weights, count) == expected
    assert core._swrr_by_class(weights, sum(weights), count) == expected
    assert core._swrr_dense(weights, sum(weights), count) == expected


def test_long_schedules_repeat_the_cycle() -> None:
    items = [{"name": "a", "weight": 5}, {"name": "b", "weight": 1}, {"name": "c", "weight": 1}]
    picks = core.wrr_schedule(items, 10_000_000)  # the largest count: 1,428,571 cycles and 3 picks
    assert len(picks) == 10_000_000
    assert picks[:7] == picks[-10:-3] == "a a b a c a a".split()
    assert picks[-3:] == ["a", "a", "b"]
    assert Counter(picks) == {"a": 5 * 1_428_571 + 2, "b": 1_428_571 + 1, "c": 1_428_571}


# ----------------------------------------------------------------------------------------------------------
# Chi-square survival function


@pytest.mark.parametrize(
    ("statistic", "dof", "expected", "tolerance"),
    [
        pytest.param(3.84, 1, 0.0500, 1e-4, id="3.84 with 1 dof is about 0.05"),
        pytest.param(3.841458820694124, 1, 0.05, 1e-12, id="the 5% critical value"),
        pytest.param(10.0, 3, 0.018566135463043, 1e-12, id="10 with 3 dof"),
        pytest.param(2.0, 2, math.exp(-1.0), 1e-14, id="2 dof is exp(-x/2)"),
        pytest.param(0.0, 1, 1.0, 0.0, id="0 with 1 dof"),
        pytest.param(0.0, 7, 1.0, 0.0, id="0 with 7 dof"),
        pytest.param(6.634896601021214, 1, 0.01, 1e-12, id="the 1% critical value"),
        pytest.param(18.307038053275146, 10, 0.05, 1e-12, id="10 dof, 5%"),
        pytest.param(124.34211340400407, 100, 0.05, 1e-10, id="100 dof, 5%"),
        pytest.param(1e6, 3, 0.0, 0.0, id="far tail underflows to 0"),
        pytest.param(math.inf, 3, 0.0, 0.0, id="infinite statistic"),
    ],
)
def test_chi2_sf_known_values(statistic: float, dof: int, expected: float, tolerance: float) -> None:
    assert core.chi2_sf(statistic, dof) == pytest.approx(expected, abs=tolerance)


@settings(max_examples=400, deadline=None)
@given(
    statistic=st.floats(min_value=0, max_value=400, allow_nan=False),
    dof=st.integers(min_value=1, max_value=120),
)
def test_chi2_sf_matches_closed_forms(statistic: float, dof: int) -> None:
    expected = sf_closed_form(statistic, dof)
    assert core.chi2_sf(statistic, dof) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(
    a=st.floats(min_value=0.5, max_value=5000),
    x1=st.floats(min_value=0, max_value=20000),
    x2=st.floats(min_value=0, max_value=20000),
)
def test_gamma_q_is_a_decreasing_probability(a: float, x1: float, x2: float) -> None:
    low, high = sorted((x1, x2))
    q_low, q_high = core.gamma_q(a, low), core.gamma_q(a, high)
    assert 0.0 <= q_high <= q_low + 1e-12 <= 1.0 + 1e-12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: core.chi2_sf(1.0, 0),
            "degrees of freedom must be an integer >= 1, got 0",
            id="dof 0",
        ),
        pytest.param(
            lambda: core.chi2_sf(1.0, 1.5),
            "degrees of freedom must be an integer >= 1, got 1.5",
            id="dof",
        ),
        pytest.param(
            lambda: core.chi2_sf(-1.0, 2),
            "must be a number >= 0, got -1.0",
            id="negative statistic",
        ),
        pytest.param(lambda: core.chi2_sf(math.nan, 2), "must be a number >= 0, got nan", id="nan statistic"),
        pytest.param(lambda: core.gamma_q(0.0, 1.0), "a must be a finite number > 0, got 0.0", id="a 0"),
    ],
)
def test_chi2_sf_bad_input(call: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        call()
    assert message in str(caught.value)


# ----------------------------------------------------------------------------------------------------------
# distribution_fit


# a 4, b 2, c 1; d backup; e drain
POOL = core.weight_distribution(backends(8, 4, 2, 3, 1, d="backup", e="drain"))


def test_exact_counts_fit_perfectly() -> None:
    fit = core.distribution_fit({"a": 400, "b": 200, "c": 100}, POOL)
    assert fit["ok"] is True
    assert fit["total"] == 700
    assert fit["expected"] == pytest.approx({"a": 400, "b": 200, "c": 100})
    assert fit["observed"] == {"a": 400, "b": 200, "c": 100}
    assert fit["shares"] == pytest.approx({"a": 4 / 7, "b": 2 / 7, "c": 1 / 7})
    assert fit["expected_shares"] == pytest.approx({"a": 4 / 7, "b": 2 / 7, "c": 1 / 7})
    assert fit["unexpected"] == {}
    assert fit["max_share_error"] == pytest.approx(0, abs=1e-12)
    assert fit["chi_square"] == pytest.approx(0, abs=1e-9)
    assert fit["degrees_of_freedom"] == 2
    assert fit["p_value"] == pytest.approx(1.0)
    assert (fit["tolerance"], fit["alpha"]) == (0.05, 0.001)
    assert fit["reason"].startswith("ok: 700 requests over 3 backends; largest share error 0.0000")


def test_even_counts_against_4_2_1_fail_both_checks() -> None:
    fit = core.distribution_fit({"a": 100, "b": 100, "c": 100}, POOL)
    assert fit["ok"] is False
    assert fit["max_share_error"] == pytest.approx(4 / 7 - 1 / 3)
    expected = {"a": 1200 / 7, "b": 600 / 7, "c": 300 / 7}
    assert fit["chi_square"] == pytest.approx(sum((100 - e) ** 2 / e for e in expected.values()))
    assert fit["p_value"] < 1e-10
    assert fit["reason"] == (
        "FAILED (300 requests over 3 backends): largest share error 0.2381 "
        "(a observed 0.3333 expected 0.5714) "
        f"> tolerance 0.05; chi-square {fit['chi_square']:.3f} with 2 degrees of freedom: "
        f"p = {fit['p_value']:.3g} < alpha 0.001"
    )


def test_traffic_to_backends_that_should_get_none_fails() -> None:
    fit = core.distribution_fit({"a": 400, "b": 200, "c": 100, "d": 3, "e": 0, "zzz": 1}, POOL)
    assert fit["ok"] is False
    assert fit["unexpected"] == {"d": 3, "zzz": 1}
    assert fit["observed"] == {"a": 400, "b": 200, "c": 100, "d": 3, "zzz": 1}
    assert fit["total"] == 704
    expected = "traffic reached backends that should get none: d (backup) 3, zzz (not a backend) 1"
    assert expected in fit["reason"]


def test_missing_names_count_as_zero() -> None:
    fit = core.distribution_fit({"a": 400, "b": 200}, POOL)
    assert fit["observed"]["c"] == 0
    assert fit["ok"] is False
    assert "c observed 0.0000 expected 0.1429" in fit["reason"]


def test_one_expected_backend_checks_only_the_tolerance() -> None:
    pool = core.weight_distribution(backends(3, 1, b="backup"))
    fit = core.distribution_fit({"a": 10}, pool)
    assert (fit["ok"], fit["degrees_of_freedom"], fit["p_value"], fit["chi_square"]) == (True, 0, 1.0, 0.0)
    assert fit["reason"].endswith("one backend expected, so no chi-square test")


def test_shares_come_from_weights_when_absent() -> None:
    fit = core.distribution_fit({"x": 30, "y": 10}, [{"name": "x", "weight": 3}, {"name": "y", "weight": 1}])
    assert fit["expected_shares"] == pytest.approx({"x": 0.75, "y": 0.25})
    assert fit["ok"] is True


@pytest.mark.parametrize(
    ("counts", "tolerance", "alpha", "ok"),
    [
        pytest.param({"x": 55, "y": 45}, 0.05, 0.0, True, id="error equal to the tolerance passes"),
        pytest.param({"x": 3, "y": 1}, 0.25, 0.0, True, id="exactly representable"),
        pytest.param({"x": 56, "y": 44}, 0.05, 0.0, False, id="just above the tolerance fails"),
        pytest.param({"x": 5200, "y": 4800}, 0.05, 0.001, False, id="small error, yet significant"),
        pytest.param({"x": 5200, "y": 4800}, 0.05, 0.0, True, id="alpha 0 turns the test off"),
        pytest.param({"x": 5200, "y": 4800}, 0.01, 0.0, False, id="tighter tolerance"),
    ],
)
def test_verdict_thresholds(counts: dict[str, int], tolerance: float, alpha: float, ok: bool) -> None:
    pool = [{"name": "x", "weight": 1}, {"name": "y", "weight": 1}]
    assert core.distribution_fit(counts, pool, tolerance, alpha)["ok"] is ok


@settings(max_examples=100, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=6),
    cycles=st.integers(min_value=1, max_value=50),
)
def test_whole_round_robin_cycles_always_fit(weights: list[int], cycles: int) -> None:
    pool = [{"name": f"s{i}", "weight": w} for i, w in enumerate(weights)]
    counts = Counter(core.wrr_schedule(pool, cycles * sum(weights)))
    fit = core.distribution_fit(dict(counts), pool, 0.0, 0.999)
    assert fit["ok"], fit["reason"]
    assert fit["max_share_error"] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    ("observed", "pool", "kwargs", "error", "message"),
    [
        pytest.param(
            [1, 2],
            POOL,
            {},
            TypeError,
            "observed must be a mapping of backend name to count, got list",
            id="observed list",
        ),
        pytest.param(
            {"a": -1},
            POOL,
            {},
            ValueError,
            "observed count of 'a' must be an integer >= 0, got -1",
            id="negative count",
        ),
        pytest.param(
            {"a": 1.5},
            POOL,
            {},
            TypeError,
            "observed count of 'a' must be an integer >= 0, got float 1.5",
            id="float count",
        ),
        pytest.param({"a": True}, POOL, {}, TypeError, "got bool True", id="bool count"),
        pytest.param({"a": "3"}, POOL, {}, TypeError, "got str '3'", id="string count"),
        pytest.param(
            {1: 3},
            POOL,
            {},
            TypeError,
            "observed has a key that is not a backend name (string): int 1",
            id="int key",
        ),
        pytest.param({}, POOL, {}, ValueError, "the observed counts sum to 0: nothing to judge", id="empty"),
        pytest.param({"a": 0, "d": 0}, POOL, {}, ValueError, "the observed counts sum to 0", id="all zero"),
        pytest.param(
            {"a": 1},
            POOL,
            {"tolerance": 1.5},
            ValueError,
            "tolerance must be a number within 0..1, got 1.5",
            id="tolerance",
        ),
        pytest.param(
            {"a": 1},
            POOL,
            {"alpha": -0.1},
            ValueError,
            "alpha must be a number within 0..1, got -0.1",
            id="alpha",
        ),
        pytest.param(
            {"a": 1},
            POOL,
            {"alpha": math.nan},
            ValueError,
            "alpha must be a number within 0..1, got nan",
            id="alpha nan",
        ),
        pytest.param(
            {"a": 1},
            POOL,
            {"tolerance": "0.1"},
            TypeError,
            "tolerance must be a number within 0..1, got str",
            id="tolerance string",
        ),
        pytest.param(
            {"a": 1},
            "pool",
            {},
            TypeError,
            "backends must be a list of mappings, got str",
            id="pool",
        ),
        pytest.param(
            {"a": 1},
            [{"name": "a", "share": 0.5}, {"name": "b", "weight": 1}],
            {},
            ValueError,
            "backends[1] 'b' has no share while other active backends have one",
            id="mixed",
        ),
        pytest.param(
            {"a": 1},
            [{"name": "a", "share": 1.5}],
            {},
            ValueError,
            "backends[0] 'a' has a share that is not a number within 0..1: 1.5",
            id="share too big",
        ),
        pytest.param(
            {"a": 1},
            [{"name": "a", "weight": 1.5}],
            {},
            ValueError,
            "backends[0] 'a' has a weight that is not an integer >= 0: 1.5",
            id="float weight",
        ),
        pytest.param(
            {"a": 1},
            [{"name": "a"}],
            {},
            ValueError,
            "backends[0] 'a' has neither a share nor a weight",
            id="no share nor weight",
        ),
        pytest.param(
            {"a": 1},
            [{"name": "a", "weight": 0}, {"name": "b", "weight": 2, "state": "down"}],
            {},
            ValueError,
            "no active backend with a weight above 0: no backend is expected to receive traffic",
            id="nothing expected",
        ),
    ],
)
def test_fit_bad_input(
    observed: Any,
    pool: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        core.distribution_fit(observed, pool, **kwargs)
    assert message in str(caught.value)
