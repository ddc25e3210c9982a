# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Weight distributions for weighted round robin balancers: pure, typed logic without Ansible.

The filters in plugins/filter/weights.py are thin wrappers around the public functions here:
weight_distribution, wrr_schedule and distribution_fit. Bad input raises only ValueError or TypeError, with a
message that names the item (by index and name) and what is wrong with it.
"""

from __future__ import annotations

import heapq
import math
import numbers
import operator
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

STATES = ("active", "backup", "drain", "down")
WEIGHT_LIMIT = 256
"""The largest weight weight_distribution gives by default (HAProxy's largest weight)."""

ENGINE_WEIGHT_LIMITS = {"haproxy": 256, "nginx": 1_000_000}
"""The largest weight each engine takes: HAProxy's is 256; nginx has none of its own (its weights are plain
integers), so the bound here only keeps the numbers sane."""

SERVER_ID_SPACE = 1_000_000
"""HAProxy places a server's ring points at hash(id * 4096 + n) in 32 bits: ids below 2**20 keep every
server's points apart. Stable ids are taken from 1..SERVER_ID_SPACE."""

EXACT_MAX_ITEMS = 64
"""Groups of up to this many backends get the exact search; larger groups get the fallback."""

EXACT_BUDGET = 1_500_000
"""Work units (about 0.7 us each) the exact search may spend, about a second: one per item looked at when a
total is rejected, n per total checked, 4 n per best vector computed. A search that would need more stops
and keeps the best of its partial result and the fallback (reported as method 'fallback'). Its worst case
is about 5 x 64 x 16,321 = 5.2 million units; the hardest inputs tried (64 backends with min_weight 128)
needed 0.45 million."""

MAX_SCHEDULE = 10_000_000
"""The largest `count` wrr_schedule takes."""

MAX_SCHEDULE_WORK = 200_000_000
"""wrr_schedule simulates min(count, total weight) picks, each costing one step per backend taking part, or
16 per distinct weight when that is fewer; it refuses more steps than this (a few seconds' work)."""

# Two largest share errors are taken as equal when they differ by no more than this (relative, absolute):
# float rounding must not decide which total wins a tie.
_REL_TIE = 1e-12
_ABS_TIE = 1e-15

# Widening, in weight units, of the interval each item must keep its weight in during the exact search.
_SLACK = 1e-9

# A share error counts as within the tolerance up to this much above it (55 of 100 against 0.5 is an error
# of 0.05000000000000004 in floats).
_SHARE_SLACK = 1e-12

_GAMMA_EPS = 1e-15
_GAMMA_TINY = 1e-300


class Solution(NamedTuple):
    """The weights chosen for one group of capacities and how they were found."""

    weights: list[int]
    total: int
    error: float
    """The largest |weight_i / total - capacity_i / sum of capacities|."""
    method: str
    """'exact' (provably optimal) or 'fallback' (never worse than the baseline)."""


# ----------------------------------------------------------------------------------------------------------
# Validation helpers


_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (bytes, "bytes"),
    (Mapping, "dict"),
    ((list, tuple), "list"),
    (type(None), "None"),
)


def type_name(value: Any) -> str:
    """The YAML-ish name of a value's type (Ansible hands over subclasses such as _AnsibleTaggedInt)."""
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _got(value: Any) -> str:
    """What a bad value was, for a message: its type and its value (just None for None)."""
    return "None" if value is None else f"{type_name(value)} {value!r}"


def _is_number(value: Any) -> bool:
    """A real number; bool is not a number here (YAML's yes/no must not become a capacity of 1 or 0)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _label(index: int, item: Any) -> str:
    """backends[2] 'web3', or backends[2] when the item has no usable name."""
    name = item.get("name") if isinstance(item, Mapping) else None
    if isinstance(name, str) and name.strip():
        return f"backends[{index}] '{name}'"
    return f"backends[{index}]"


def _check_list(backends: Any, what: str = "backends") -> list[Any]:
    if isinstance(backends, (str, bytes, Mapping)) or not isinstance(backends, Sequence):
        raise TypeError(f"{what} must be a list of mappings, got {type_name(backends)}")
    if len(backends) == 0:
        raise ValueError(f"{what} is empty: at least one backend is needed")
    return list(backends)


def _check_items(backends: Any) -> list[tuple[Mapping[str, Any], str, str]]:
    """(item, name, state) for every item: mappings, unique non-empty names, known states."""
    rows = []
    seen: dict[str, int] = {}
    for index, item in enumerate(_check_list(backends)):
        if not isinstance(item, Mapping):
            raise TypeError(f"backends[{index}] must be a mapping with a name, got {_got(item)}")
        if "name" not in item:
            raise ValueError(f"backends[{index}] has no name: every backend needs a unique, non-empty name")
        name = item["name"]
        if not isinstance(name, str):
            raise TypeError(f"backends[{index}] has a name that is not a string: {_got(name)}")
        if not name.strip():
            raise ValueError(f"backends[{index}] has an empty name: names must be unique and non-empty")
        name = str(name)
        if name in seen:
            first = f"backends[{seen[name]}]"
            raise ValueError(f"{_label(index, item)} has the same name as {first}: names must be unique")
        seen[name] = index
        state = item.get("state", "active")
        if not isinstance(state, str) or state not in STATES:
            raise ValueError(
                f"{_label(index, item)} has an unknown state {state!r}: expected one of {', '.join(STATES)}"
            )
        rows.append((item, name, str(state)))
    return rows


def _check_bounds(max_weight: Any, min_weight: Any, limit: int = WEIGHT_LIMIT) -> tuple[int, int]:
    for what, value in (("max_weight", max_weight), ("min_weight", min_weight)):
        if not _is_int(value):
            raise TypeError(f"{what} must be an integer within 1..{limit}, got {_got(value)}")
        if not 1 <= value <= limit:
            raise ValueError(f"{what} must be an integer within 1..{limit}, got {value}")
    if min_weight > max_weight:
        raise ValueError(f"min_weight ({min_weight}) must not exceed max_weight ({max_weight})")
    return int(min_weight), int(max_weight)


def _fixed_weight(index: int, item: Mapping[str, Any], max_weight: int) -> int | None:
    """The weight a backend gives instead of a capacity (a weight is a weight, not a capacity), or None."""
    if "capacity" in item or "weight" not in item:
        return None
    value = item["weight"]
    if not _is_int(value) or not 0 <= value <= max_weight:
        raise ValueError(
            f"{_label(index, item)} has a weight that is not an integer within 0..{max_weight}: {_got(value)} "
            "(a weight given without a capacity is used as it is)"
        )
    return int(value)


def _capacity(index: int, item: Mapping[str, Any]) -> float:
    key = "capacity"
    if key not in item:
        raise ValueError(f"{_label(index, item)} has no capacity and no weight")
    value = item[key]
    if not _is_number(value):
        raise TypeError(
            f"{_label(index, item)} has a {key} that is not a number: {_got(value)} "
            "(capacities must be finite numbers >= 0)"
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{_label(index, item)} has a {key} that is not finite: {value!r}")
    if number < 0:
        raise ValueError(f"{_label(index, item)} has a negative {key}: {value!r} (capacities must be >= 0)")
    return number


# ----------------------------------------------------------------------------------------------------------
# The weights of one group


def _tie(error: float) -> float:
    """The largest error still taken as equal to `error`."""
    return error + error * _REL_TIE + _ABS_TIE


def shares_of(capacities: Sequence[float]) -> list[float]:
    """Each capacity's part of the sum (scaled by the largest first, so no sum overflows, and added with
    math.fsum, so the sum itself is correctly rounded)."""
    top = max(capacities)
    scaled = [c / top for c in capacities]
    total = math.fsum(scaled)
    return [c / total for c in scaled]


def max_share_error(weights: Sequence[int], shares: Sequence[float]) -> float:
    """The largest |weight_i / sum(weights) - shares_i|: the single measure every candidate is judged by."""
    total = sum(weights)
    return max(abs(w / total - p) for w, p in zip(weights, shares))


def baseline_weights(
    capacities: Sequence[float],
    min_weight: int,
    max_weight: int,
    *,
    half_even: bool = False,
) -> list[int]:
    """The baseline: the largest capacity scaled to max_weight, the others in proportion, rounded (half up,
    or half to even like Python's round) and clamped to [min_weight, max_weight]."""
    top = max(capacities)
    scaled = [c / top * max_weight for c in capacities]
    rounded = [round(x) for x in scaled] if half_even else [math.floor(x + 0.5) for x in scaled]
    return [min(max_weight, max(min_weight, w)) for w in rounded]


def _add_units(weights: list[int], targets: Sequence[float], units: int, ceiling: int) -> None:
    """Adds `units` units to `weights` (none above `ceiling`), each where the resulting deviation
    weight - target is smallest (ties to the earlier item). Every weight starts at or above its target
    rounded, so each further unit of one item costs more than its previous one.

    All units whose deviation is at most some integer level k come first, in bulk: the largest k whose units
    number no more than `units` is found by bisection. The fewer than len(weights) units left go one by one.
    """
    if units > len(weights):

        def count(level: int) -> int:
            return sum(max(0, min(ceiling, math.floor(t + level)) - w) for w, t in zip(weights, targets))

        low, high = 0, math.ceil(ceiling - min(targets)) + 1
        while low < high:
            middle = (low + high + 1) // 2
            if count(middle) <= units:
                low = middle
            else:
                high = middle - 1
        for i, t in enumerate(targets):
            step = max(0, min(ceiling, math.floor(t + low)) - weights[i])
            weights[i] += step
            units -= step
    heap = [(w + 1 - t, i) for i, (w, t) in enumerate(zip(weights, targets)) if w < ceiling]
    heapq.heapify(heap)
    for _unused in range(units):
        _unused, i = heapq.heappop(heap)
        weights[i] += 1
        if weights[i] < ceiling:
            heapq.heappush(heap, (weights[i] + 1 - targets[i], i))


def best_for_total(shares: Sequence[float], total: int, min_weight: int, max_weight: int) -> list[int] | None:
    """The integer vector within the bounds summing to exactly `total` that minimises the largest share
    error, or None when no vector within the bounds has that sum.

    Each weight starts at its own best value, its target shares_i x total rounded (half down) and clamped.
    When their sum is off, units are added (or removed) where the resulting deviation |w_i - target_i| is
    smallest. Every deviation only grows as a weight moves away from its start, so the cheapest units first
    give the smallest largest deviation; they also give the smallest sum of squared deviations, which decides
    between vectors of equal largest error (ties go to the earlier item).
    """
    n = len(shares)
    if not n * min_weight <= total <= n * max_weight:
        return None
    targets = [p * total for p in shares]
    weights = [min(max_weight, max(min_weight, math.ceil(t - 0.5))) for t in targets]
    gap = total - sum(weights)
    if gap > 0:
        _add_units(weights, targets, gap, max_weight)
    elif gap < 0:  # removing units is adding them to the negated weights and targets
        negated = [-w for w in weights]
        _add_units(negated, [-t for t in targets], -gap, -min_weight)
        weights = [-w for w in negated]
    return weights


def _pick(candidates: list[list[int]], shares: Sequence[float]) -> tuple[list[int], float]:
    """The candidate with the smallest largest error; among equal ones, the smallest total, then the first."""
    scored = [(max_share_error(w, shares), w) for w in candidates]
    best_error = min(error for error, _unused in scored)
    limit = _tie(best_error)
    error, weights = min(
        ((error, w) for error, w in scored if error <= limit),
        key=lambda pair: sum(pair[1]),
    )
    return weights, error


def _exact(
    shares: Sequence[float], min_weight: int, max_weight: int, upper: float, budget: int
) -> tuple[int | None, bool]:
    """The smallest total whose best vector reaches the smallest largest error, and whether the search ended.

    Walks the totals T downwards (large totals have small errors, which prunes the rest quickly). A total is
    rejected as soon as one item alone cannot come within the best error e so far - no integer weight within
    the bounds lies in [(p_i - e) T, (p_i + e) T] (the item that rejected the previous total is tried first) -
    or when those intervals cannot add up to T; otherwise its best vector (best_for_total) is computed, and
    its error may lower e. `upper`, the error of a known vector (the best fallback candidate), bounds the
    totals worth trying: the largest item needs T <= max_weight / (p_max - e), the smallest
    T >= min_weight / (p_min + e). Errors within _tie of each other are equal: the smallest such total wins.
    """
    n = len(shares)
    p_max, p_min = max(shares), min(shares)
    limit = _tie(upper)
    top = n * max_weight
    if p_max > limit:
        top = min(top, math.floor(max_weight / (p_max - limit)) + 1)
    bottom = max(n * min_weight, math.ceil(min_weight / (p_min + limit)) - 1)
    order = list(range(n))
    reached: list[tuple[int, float]] = []
    best = upper
    spent = 0
    total = top
    while total >= bottom:
        if spent > budget:
            return (min(reached, key=lambda r: (r[1], r[0]))[0] if reached else None), False
        # Item i can stay within `limit` only with a weight in [lo_i, hi_i]; the total is possible only when
        # every interval is non-empty and their bounds enclose it. The intervals are widened by _SLACK so
        # float rounding never rejects a total that reaches `limit`; the vector decides in the end.
        lo_sum = hi_sum = 0
        rejected = False
        for position, i in enumerate(order):
            p = shares[i]
            lo = max(min_weight, math.ceil((p - limit) * total - _SLACK))
            hi = min(max_weight, math.floor((p + limit) * total + _SLACK))
            if lo > hi:
                if position:
                    order[0], order[position] = i, order[0]
                spent += position + 1
                rejected = True
                break
            lo_sum += lo
            hi_sum += hi
        if not rejected:
            spent += n
            if lo_sum <= total <= hi_sum:
                weights = best_for_total(shares, total, min_weight, max_weight)
                spent += 4 * n  # the heap and bisection of best_for_total, roughly
                if weights is not None:
                    error = max_share_error(weights, shares)
                    if error <= limit:
                        reached.append((total, error))
                        if error < best:
                            best = error
                            limit = _tie(best)
                            bottom = max(bottom, math.ceil(min_weight / (p_min + limit)) - 1)
        total -= 1
    if not reached:
        return None, True
    smallest = min(error for _unused, error in reached)
    return min(t for t, error in reached if error <= _tie(smallest)), True


def _fallback_candidates(
    capacities: Sequence[float], shares: Sequence[float], min_weight: int, max_weight: int
) -> list[list[int]]:
    """The baseline and a few vectors that can only improve on it (see solve_weights)."""
    baseline = baseline_weights(capacities, min_weight, max_weight)
    candidates = [baseline, baseline_weights(capacities, min_weight, max_weight, half_even=True)]
    base_total = sum(baseline)
    # The largest total at which the largest item's target still rounds to max_weight or less.
    cap_total = math.floor((max_weight + 0.5) / max(shares))
    totals = {base_total + d for d in range(-2, 3)} | {cap_total - d for d in range(3)}
    for total in sorted(totals):
        weights = best_for_total(shares, total, min_weight, max_weight)
        if weights is not None:
            candidates.append(weights)
    if all(float(c).is_integer() for c in capacities):
        ints = [int(c) for c in capacities]
        divisor = math.gcd(*ints)
        reduced = [c // divisor for c in ints]
        if min(reduced) >= min_weight and max(reduced) <= max_weight:
            candidates.append(reduced)
    for weights in list(candidates):
        # The same shares with a smaller total: the smallest multiple of weights / gcd within the bounds.
        divisor = math.gcd(*weights)
        reduced = [w // divisor for w in weights]
        factor = -(-min_weight // min(reduced))
        if factor < divisor and max(reduced) * factor <= max_weight:
            candidates.append([w * factor for w in reduced])
    return candidates


def _is_smallest_exact(weights: Sequence[int], min_weight: int) -> bool:
    """True when `weights` is the smallest multiple of its own reduced proportions with every weight at least
    min_weight: every vector with error 0 is a multiple of those proportions, so none has a smaller total."""
    divisor = math.gcd(*weights)
    reduced = [w // divisor for w in weights]
    factor = -(-min_weight // min(reduced))
    return divisor == factor


def solve_weights(
    capacities: Sequence[float],
    max_weight: int = WEIGHT_LIMIT,
    min_weight: int = 1,
    *,
    exact_max_items: int = EXACT_MAX_ITEMS,
    budget: int = EXACT_BUDGET,
    limit: int = WEIGHT_LIMIT,
) -> Solution:
    """Integer weights within [min_weight, max_weight] for capacities > 0.

    Exact (groups of up to `exact_max_items`): among all integer vectors within the bounds, the ones with the
    smallest largest |w_i / sum(w) - c_i / sum(c)|, and among those the ones with the smallest total; among
    those, the smallest sum of squared deviations from the targets (ties to the earlier item).

    Fallback (larger groups, or when the exact search exceeds its budget): the best, by the same ordering,
    of these candidates: the baseline (largest capacity scaled to max_weight, the others in proportion,
    rounded half up, and also rounded half to even); the best vector (best_for_total) for each total within
    2 of the half-up baseline's total and for the 3 totals up to floor((max_weight + 0.5) / largest share),
    where the largest backend's target reaches max_weight; the capacities divided by their greatest common
    divisor when they are all integers and that lands within the bounds (error 0); for each of these, the
    smallest multiple of it divided by its greatest common divisor that lies within the bounds (same shares,
    smaller total); and, after an unfinished exact search, its best vector. The baselines
    are candidates, so the fallback is never worse than them; the best vector for the baseline's own total
    is at least as good as the baseline too, and is usually strictly better.
    """
    min_weight, max_weight = _check_bounds(max_weight, min_weight, limit)
    caps = [float(c) for c in capacities]
    if not caps:
        raise ValueError("no capacities: at least one is needed")
    for index, c in enumerate(caps):
        if not (math.isfinite(c) and c > 0):
            raise ValueError(f"capacities[{index}] must be a finite number > 0, got {c!r}")
    shares = shares_of(caps)
    if len(caps) == 1:
        return Solution([min_weight], min_weight, 0.0, "exact")
    candidates = _fallback_candidates(caps, shares, min_weight, max_weight)
    if len(caps) <= exact_max_items:
        best, upper = _pick(candidates, shares)
        if upper == 0.0 and _is_smallest_exact(best, min_weight):
            # No error and no smaller multiple of the same proportions within the bounds: optimal, and the
            # search need not walk the totals (with large bounds, such as nginx's, that is most of the work).
            return Solution(best, sum(best), 0.0, "exact")
        total, finished = _exact(shares, min_weight, max_weight, upper, budget)
        if total is not None:
            weights = best_for_total(shares, total, min_weight, max_weight)
            if weights is None:  # _exact only reports a total that has weights
                raise AssertionError(f"no weights for the total {total} that the exact search reported")
            if finished:
                return Solution(weights, total, max_share_error(weights, shares), "exact")
            candidates.append(weights)
    weights, error = _pick(candidates, shares)
    return Solution(weights, sum(weights), error, "fallback")


def weight_distribution(
    backends: Any,
    max_weight: Any = WEIGHT_LIMIT,
    min_weight: Any = 1,
    limit: int = WEIGHT_LIMIT,
) -> list[dict[str, Any]]:
    """Each backend as given (a copy) plus `state` (capacity or weight 0 turns active and backup into drain),
    `weight` (int) and `share` (float; the shares of the active backends sum to 1, all others are 0).

    A backend with a `capacity` gets a weight computed from it, among the capacities of its group (active or
    backup); a backend with a `weight` and no `capacity` keeps that weight as it is (a weight is a weight).
    `limit` is the largest max_weight allowed (ENGINE_WEIGHT_LIMITS)."""
    min_weight, max_weight = _check_bounds(max_weight, min_weight, limit)
    rows = _check_items(backends)
    fixed = [_fixed_weight(index, item, max_weight) for index, (item, _unused, _unused) in enumerate(rows)]
    capacities = [
        float(weight) if weight is not None else _capacity(index, item)
        for index, ((item, _unused, _unused), weight) in enumerate(zip(rows, fixed))
    ]
    states = [
        "drain" if capacity == 0 and state in ("active", "backup") else state
        for (_unused, _unused, state), capacity in zip(rows, capacities)
    ]
    if "active" not in states:
        described = [
            f"{name} {state}" + (" (capacity 0)" if capacity == 0 else "")
            for (_unused, name, _unused), state, capacity in zip(rows, states, capacities)
        ]
        more = f", and {len(described) - 5} more" if len(described) > 5 else ""
        raise ValueError(
            "no active backend with a capacity above 0: at least one backend must take traffic "
            f"(got {', '.join(described[:5])}{more})"
        )
    weights = [0] * len(rows)
    for group in ("active", "backup"):
        members = [i for i, state in enumerate(states) if state == group]
        for i in members:
            if fixed[i] is not None:
                weights[i] = fixed[i]
        solved = [i for i in members if fixed[i] is None]
        if solved:
            solution = solve_weights([capacities[i] for i in solved], max_weight, min_weight, limit=limit)
            for i, weight in zip(solved, solution.weights):
                weights[i] = weight
    active_total = sum(w for w, state in zip(weights, states) if state == "active")
    result = []
    for (item, _unused, _unused), state, weight in zip(rows, states, weights):
        out = dict(item)
        out["state"] = state
        out["weight"] = weight
        out["share"] = weight / active_total if state == "active" else 0.0
        result.append(out)
    return result


# ----------------------------------------------------------------------------------------------------------
# The weights a pool renders: ring weights, fixed weights, runtime weights, stable server ids


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def ring_weight(capacity: float, per_capacity: int, max_weight: int) -> int:
    """A ring (consistent-hash) server's weight: its capacity times per_capacity, rounded, within
    1..max_weight. It depends on the server's own capacity only, so no other server joining or leaving the
    pool changes it (scaling the largest weight to a maximum would: 6/4/3 gives 252/168/126, 6/4 255/170)."""
    return min(max_weight, max(1, _round_half_up(capacity * per_capacity)))


def stable_server_id(name: str) -> int:
    """A server id derived from the server's name alone (CRC-32, within 1..SERVER_ID_SPACE): HAProxy places
    a server's ring points by its id, and the ids it numbers itself shift when an earlier server leaves."""
    return zlib.crc32(name.encode("utf-8")) % SERVER_ID_SPACE + 1


def runtime_weight(computed: Any, request: Any, limit: int = WEIGHT_LIMIT) -> int:
    """The absolute weight a runtime change asks for: an integer 1..limit as it is, or "N%" of the computed
    weight rounded half up and never below 1, so a percentage halves a weight-1 server instead of draining it
    (HAProxy's own `set weight 50%` gives 0 there). A weight of 0 is a drain: ask for a drain instead."""
    if not _is_int(computed) or computed < 0:
        raise ValueError(f"the computed weight must be an integer >= 0, got {_got(computed)}")
    if isinstance(request, str) and request.strip().endswith("%"):
        text = request.strip()[:-1].strip()
        if not text.isdigit() or not 1 <= int(text) <= 100 * limit:
            raise ValueError(f"a weight percentage must be a whole number above 0 followed by %, got {request!r}")
        if computed == 0:
            raise ValueError(
                f"{request} of a weight of 0 (a drained server) is still 0: give an absolute weight 1..{limit}"
            )
        return min(limit, max(1, _round_half_up(computed * int(text) / 100)))
    if isinstance(request, str) and request.strip().isdigit():
        request = int(request.strip())
    if not _is_int(request) or not 1 <= request <= limit:
        raise ValueError(
            f"a weight must be an integer within 1..{limit} or a percentage such as 50%, got {_got(request)} "
            "(to stop sending traffic to a server, drain it)"
        )
    return int(request)


def _server_id(index: int, item: Mapping[str, Any]) -> int:
    if "id" not in item:
        return stable_server_id(str(item["name"]))
    value = item["id"]
    if not _is_int(value) or not 1 <= value <= SERVER_ID_SPACE:
        raise ValueError(
            f"{_label(index, item)} has an id that is not an integer within 1..{SERVER_ID_SPACE}: {_got(value)}"
        )
    return int(value)


def pool_weights(
    servers: Any,
    engine: Any = "haproxy",
    ring: Any = False,
    max_weight: Any = None,
    ring_per_capacity: Any = 16,
) -> dict[str, Any]:
    """The one place that decides the weight each server of a pool renders with; templates only print it.

    Returns {"servers": [...], "drift": float, "drift_server": str}: every server as weight_distribution
    returns it, its `weight` final. Ring pools (ring true) give each server a weight from its own capacity
    alone (ring_weight), other pools the optimal weights of weight_distribution within max_weight (which may
    go up to the engine's limit, ENGINE_WEIGHT_LIMITS). A `weight` without `capacity` is used as it is, a
    `weight_override` replaces the computed weight, an `operator_weight` (an integer or "N%", from the
    operator's state) replaces it at the end (runtime_weight). HAProxy servers also get a stable `id`
    (their own `id`, or stable_server_id of the name), unique within the pool. `drift` is the largest
    |weight share - capacity share| among the active servers weighted from capacities: how far rounding and
    the weight limit move their traffic from the capacities."""
    if engine not in ENGINE_WEIGHT_LIMITS:
        raise ValueError(f"engine must be one of {', '.join(ENGINE_WEIGHT_LIMITS)}, got {engine!r}")
    if not isinstance(ring, bool):
        raise TypeError(f"ring must be a boolean, got {_got(ring)}")
    limit = ENGINE_WEIGHT_LIMITS[engine]
    if max_weight is None:
        max_weight = WEIGHT_LIMIT
    if not _is_int(ring_per_capacity) or not 1 <= ring_per_capacity <= limit:
        raise ValueError(f"ring_per_capacity must be an integer within 1..{limit}, got {_got(ring_per_capacity)}")
    weighted = weight_distribution(servers, max_weight, 1, limit)
    _unused, max_weight = _check_bounds(max_weight, 1, limit)
    from_capacity: list[int] = []
    ids: dict[int, str] = {}
    for index, out in enumerate(weighted):
        by_capacity = "capacity" in out
        if ring and by_capacity and out["state"] in ("active", "backup"):
            out["weight"] = ring_weight(float(out["capacity"]), int(ring_per_capacity), max_weight)
        if "weight_override" in out:
            override = out["weight_override"]
            if not _is_int(override) or not 0 <= override <= limit:
                raise ValueError(
                    f"{_label(index, out)} has a weight_override that is not an integer within 0..{limit}: "
                    f"{_got(override)}"
                )
            out["weight"] = int(override)
            by_capacity = False
        if "operator_weight" in out and out["state"] in ("active", "backup"):
            try:
                out["weight"] = runtime_weight(out["weight"], out["operator_weight"], limit)
            except ValueError as exc:
                raise ValueError(f"{_label(index, out)}: {exc}") from exc
            by_capacity = False
        if by_capacity and out["state"] == "active":
            from_capacity.append(index)
        if engine == "haproxy":
            server_id = _server_id(index, out)
            if server_id in ids:
                raise ValueError(
                    f"{_label(index, out)} has the same server id {server_id} as '{ids[server_id]}'"
                    + ("" if "id" in out else " (derived from its name)")
                    + ": give one of them an id of its own"
                )
            ids[server_id] = str(out["name"])
            out["id"] = server_id
    active_total = sum(out["weight"] for out in weighted if out["state"] == "active")
    for out in weighted:
        out["share"] = out["weight"] / active_total if out["state"] == "active" and active_total else 0.0
    drift, drift_server = 0.0, ""
    if len(from_capacity) > 1:
        capacity_shares = shares_of([float(weighted[i]["capacity"]) for i in from_capacity])
        weight_total = sum(weighted[i]["weight"] for i in from_capacity)
        for i, share in zip(from_capacity, capacity_shares):
            error = abs(weighted[i]["weight"] / weight_total - share)
            if error > drift:
                drift, drift_server = error, str(weighted[i]["name"])
    return {"servers": weighted, "drift": drift, "drift_server": drift_server}


# ----------------------------------------------------------------------------------------------------------
# nginx's smooth weighted round robin


def _swrr_dense(weights: Sequence[int], total: int, steps: int) -> list[int]:
    """nginx's loop itself: every step adds each weight to its current weight (in C, through map)."""
    current = [0] * len(weights)
    add = operator.add
    picks: list[int] = []
    for _unused in range(steps):
        current = list(map(add, current, weights))
        best = current.index(max(current))
        current[best] -= total
        picks.append(best)
    return picks


def _swrr_by_class(weights: Sequence[int], total: int, steps: int) -> list[int]:
    """The same picks, in O(distinct weights) per step instead of O(backends).

    Before step t (1, 2, ...) is picked, peer i's current weight is w_i * t - total * k_i, where k_i counts
    its picks so far. Among peers of equal weight the largest current weight is the one picked least (the
    first in list order on ties), the top of a heap of (k_i, i) per weight; the winner is the best of those
    tops, the first in list order on ties - exactly nginx's choice.
    """
    heaps: dict[int, list[tuple[int, int]]] = {}
    for index, weight in enumerate(weights):
        heaps.setdefault(weight, []).append((0, index))  # (0, ascending index): already a heap
    classes = sorted(heaps)
    picks: list[int] = []
    for step in range(1, steps + 1):
        best_key = best_index = best_picked = best_weight = -1
        for weight in classes:
            picked, index = heaps[weight][0]
            key = weight * step - total * picked
            if best_weight < 0 or key > best_key or (key == best_key and index < best_index):
                best_key, best_index, best_picked, best_weight = key, index, picked, weight
        heapq.heapreplace(heaps[best_weight], (best_picked + 1, best_index))
        picks.append(best_index)
    return picks


def smooth_wrr(weights: Sequence[int], count: int) -> list[int]:
    """Indices of the first `count` picks of nginx's smooth weighted round robin (ngx_http_upstream_get_peer):
    every peer's current weight grows by its weight, the largest current weight wins (the first one in list
    order on ties: nginx compares with a strict >), and the winner's current weight drops by the total.

    In sum(weights) picks every peer is picked exactly its weight times, which brings every current weight
    back to 0: one period is simulated and repeated. The cost is min(count, sum(weights)) steps of
    O(backends), or of O(distinct weights) when there are more than 16 backends per distinct weight.
    """
    if not weights or any(not _is_int(w) or w <= 0 for w in weights):
        raise ValueError(f"weights must be integers > 0, got {list(weights)!r}")
    if not _is_int(count) or count < 0:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")
    total = sum(weights)
    steps = min(count, total)
    distinct = len(set(weights))
    # A step of _swrr_by_class costs about 16 times a backend's share of a step of _swrr_dense (which runs
    # in C): the cheaper one runs, and the work is counted in dense steps.
    by_class = 16 * distinct < len(weights)
    work = steps * (16 * distinct if by_class else len(weights))
    if work > MAX_SCHEDULE_WORK:
        raise ValueError(
            f"{steps} picks among {len(weights)} backends ({distinct} distinct weights) is too much work "
            f"({work:,} steps, at most {MAX_SCHEDULE_WORK:,}): ask for a smaller count"
        )
    picks = (_swrr_by_class if by_class else _swrr_dense)(weights, total, steps)
    if count <= total:
        return picks
    if Counter(picks) != dict(enumerate(weights)):  # never true (the period is proven); stays correct if so
        return _swrr_dense(weights, total, count)
    repeats, rest = divmod(count, total)
    return picks * repeats + picks[:rest]


def wrr_schedule(backends: Any, count: Any) -> list[str]:
    """The names of the first `count` picks nginx (one worker) makes among the active backends with a
    weight above 0, in order."""
    if not _is_int(count):
        raise TypeError(f"count must be an integer within 0..{MAX_SCHEDULE:,}, got {_got(count)}")
    if not 0 <= count <= MAX_SCHEDULE:
        raise ValueError(f"count must be an integer within 0..{MAX_SCHEDULE:,}, got {count}")
    names: list[str] = []
    weights: list[int] = []
    for index, (item, name, state) in enumerate(_check_items(backends)):
        if "weight" not in item:
            raise ValueError(f"{_label(index, item)} has no weight (pass the output of weight_distribution)")
        weight = item["weight"]
        if not _is_int(weight) or weight < 0:
            raise ValueError(f"{_label(index, item)} has a weight that is not an integer >= 0: {weight!r}")
        if state == "active" and weight > 0:
            names.append(name)
            weights.append(int(weight))
    if not names:
        raise ValueError("no active backend with a weight above 0: nothing to schedule")
    return [names[i] for i in smooth_wrr(weights, count)]


# ----------------------------------------------------------------------------------------------------------
# Chi-square survival function (regularized upper incomplete gamma function, Numerical Recipes style)


def _iterations(a: float) -> int:
    # Both expansions converge within a few multiples of sqrt(a) terms; leave ample room.
    return 1000 + 20 * math.isqrt(math.ceil(a))


def _gamma_p_series(a: float, x: float) -> float:
    """P(a, x) by its series; converges quickly for x < a + 1."""
    term = total = 1.0 / a
    denominator = a
    for _unused in range(_iterations(a)):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _GAMMA_EPS:
            return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    raise ValueError(f"the incomplete gamma series did not converge for a={a}, x={x}")


def _gamma_q_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); converges quickly for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _GAMMA_TINY
    d = 1.0 / b
    h = d
    for i in range(1, _iterations(a)):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _GAMMA_TINY:
            d = _GAMMA_TINY
        c = b + an / c
        if abs(c) < _GAMMA_TINY:
            c = _GAMMA_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _GAMMA_EPS:
            return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h
    raise ValueError(f"the incomplete gamma continued fraction did not converge for a={a}, x={x}")


def gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a), for a > 0, x >= 0."""
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"a must be a finite number > 0, got {a!r}")
    if math.isnan(x) or x < 0:
        raise ValueError(f"x must be a number >= 0, got {x!r}")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return min(1.0, max(0.0, 1.0 - _gamma_p_series(a, x)))
    return min(1.0, max(0.0, _gamma_q_fraction(a, x)))


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X chi-square distributed with `dof` degrees of freedom: Q(dof/2, statistic/2)."""
    if not _is_int(dof) or dof < 1:
        raise ValueError(f"degrees of freedom must be an integer >= 1, got {dof!r}")
    if math.isnan(statistic) or statistic < 0:
        raise ValueError(f"the chi-square statistic must be a number >= 0, got {statistic!r}")
    return gamma_q(dof / 2.0, statistic / 2.0)


# ----------------------------------------------------------------------------------------------------------
# Judging observed counts


def _expected_shares(rows: list[tuple[Mapping[str, Any], str, str]]) -> dict[str, float]:
    """name -> expected share (> 0) of every backend expected to receive traffic."""
    active = [(index, item, name) for index, (item, name, state) in enumerate(rows) if state == "active"]
    with_share = [index for index, item, _unused in active if "share" in item]
    if with_share and len(with_share) != len(active):
        missing = next(_label(index, item) for index, item, _unused in active if "share" not in item)
        raise ValueError(
            f"{missing} has no share while other active backends have one: give every active backend a "
            "share (as weight_distribution returns) or none (shares then come from the weights)"
        )
    key = "share" if with_share else "weight"
    values: dict[str, float] = {}
    for index, item, name in active:
        if key not in item:
            raise ValueError(f"{_label(index, item)} has neither a share nor a weight")
        value = item[key]
        if key == "share":
            ok = _is_number(value) and math.isfinite(float(value)) and 0 <= value <= 1
            wanted = "a number within 0..1"
        else:
            ok = _is_int(value) and value >= 0
            wanted = "an integer >= 0"
        if not ok:
            raise ValueError(f"{_label(index, item)} has a {key} that is not {wanted}: {value!r}")
        if value > 0:
            values[name] = float(value)
    if not values:
        raise ValueError(f"no active backend with a {key} above 0: no backend is expected to receive traffic")
    return dict(zip(values, shares_of(list(values.values()))))


def _check_fraction(what: str, value: Any) -> float:
    if not _is_number(value):
        raise TypeError(f"{what} must be a number within 0..1, got {_got(value)}")
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError(f"{what} must be a number within 0..1, got {value!r}")
    return number


def distribution_fit(
    observed: Any,
    backends: Any,
    tolerance: Any = 0.05,
    alpha: Any = 0.001,
) -> dict[str, Any]:
    """Observed request counts per backend name judged against the backends' expected shares."""
    if not isinstance(observed, Mapping):
        raise TypeError(f"observed must be a mapping of backend name to count, got {type_name(observed)}")
    tolerance = _check_fraction("tolerance", tolerance)
    alpha = _check_fraction("alpha", alpha)
    counts: dict[str, int] = {}
    for name, count in observed.items():
        if not isinstance(name, str):
            raise TypeError(f"observed has a key that is not a backend name (string): {_got(name)}")
        if not _is_int(count):
            raise TypeError(f"observed count of '{name}' must be an integer >= 0, got {_got(count)}")
        if count < 0:
            raise ValueError(f"observed count of '{name}' must be an integer >= 0, got {count}")
        counts[str(name)] = int(count)
    rows = _check_items(backends)
    shares = _expected_shares(rows)
    states = {name: state for _unused, name, state in rows}

    total = sum(counts.values())
    if total == 0:
        raise ValueError("the observed counts sum to 0: nothing to judge")
    unexpected = {name: count for name, count in counts.items() if name not in shares and count > 0}
    observed_counts = {name: counts.get(name, 0) for name in shares}
    observed_counts.update(unexpected)
    observed_shares = {name: count / total for name, count in observed_counts.items()}
    expected = {name: share * total for name, share in shares.items()}

    errors = {name: abs(observed_shares[name] - shares.get(name, 0.0)) for name in observed_counts}
    worst = max(errors, key=lambda name: errors[name])
    max_error = errors[worst]
    chi_square = math.fsum((observed_counts[n] - e) ** 2 / e for n, e in expected.items())
    dof = len(shares) - 1
    p_value = chi2_sf(chi_square, dof) if dof > 0 else 1.0

    worst_text = f"{worst} observed {observed_shares[worst]:.4f} expected {shares.get(worst, 0.0):.4f}"
    share_ok = max_error <= tolerance + _SHARE_SLACK
    share_sign = "<=" if share_ok else ">"
    share_text = f"largest share error {max_error:.4f} ({worst_text}) {share_sign} tolerance {tolerance:g}"
    chi_ok = dof == 0 or p_value >= alpha
    chi_sign = ">=" if chi_ok else "<"
    freedom = f"{dof} degree{'' if dof == 1 else 's'} of freedom"
    chi_text = (
        f"chi-square {chi_square:.3f} with {freedom}: p = {p_value:.3g} {chi_sign} alpha {alpha:g}"
        if dof > 0
        else "one backend expected, so no chi-square test"
    )
    ok = share_ok and chi_ok and not unexpected
    scope = f"{total} requests over {len(shares)} backend{'' if len(shares) == 1 else 's'}"
    if ok:
        reason = f"ok: {scope}; {share_text}; {chi_text}"
    else:
        failures = []
        if unexpected:
            described = ", ".join(
                f"{name} ({states[name] if name in states else 'not a backend'}) {count}"
                for name, count in unexpected.items()
            )
            failures.append(f"traffic reached backends that should get none: {described}")
        failures += [text for good, text in ((share_ok, share_text), (chi_ok, chi_text)) if not good]
        reason = f"FAILED ({scope}): " + "; ".join(failures)
    return {
        "total": total,
        "expected": expected,
        "observed": observed_counts,
        "shares": observed_shares,
        "expected_shares": shares,
        "unexpected": unexpected,
        "max_share_error": max_error,
        "chi_square": chi_square,
        "degrees_of_freedom": dof,
        "p_value": p_value,
        "tolerance": tolerance,
        "alpha": alpha,
        "ok": ok,
        "reason": reason,
    }
