# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Weight distributions for weighted round robin: pure logic, no Ansible.

Raises only ValueError and TypeError, with messages that name the offending item.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import Any

STATES = ("active", "backup", "drain", "down")
MAX_SCHEDULE = 10_000_000
# Exact search evaluates every total from n*min to n*max, each in O(n log n); above this many item-totals
# the documented fallback is used instead.
EXACT_BUDGET = 60_000
_EPS = 1e-12


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label(item: Any, index: int) -> str:
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        return f"backend '{item['name']}' (item {index})"
    return f"item {index}"


def _check_bounds(max_weight: Any, min_weight: Any) -> tuple[int, int]:
    for name, value in (("max_weight", max_weight), ("min_weight", min_weight)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if not 1 <= value <= 256:
            raise ValueError(f"{name} must lie within 1..256, got {value}")
    if min_weight > max_weight:
        raise ValueError(f"min_weight ({min_weight}) must not exceed max_weight ({max_weight})")
    return min_weight, max_weight


def _check_items(backends: Any) -> list[Mapping[str, Any]]:
    if isinstance(backends, (str, bytes, Mapping)) or not isinstance(backends, Sequence):
        raise TypeError(f"backends must be a list of mappings, got {type(backends).__name__}")
    if len(backends) == 0:
        raise ValueError("backends is empty: at least one backend is needed")
    seen: dict[str, int] = {}
    for index, item in enumerate(backends):
        if not isinstance(item, Mapping):
            raise TypeError(f"item {index} must be a mapping with a name, got {type(item).__name__} {item!r}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"item {index} has no name (a non-empty string is required)")
        if name in seen:
            raise ValueError(f"backend '{name}' appears twice (items {seen[name]} and {index}): names must be unique")
        seen[name] = index
        state = item.get("state", "active")
        if state not in STATES:
            raise ValueError(f"{_label(item, index)} has unknown state {state!r}; expected one of {', '.join(STATES)}")
    return list(backends)


def _capacity(item: Mapping[str, Any], index: int) -> float:
    key = "capacity" if "capacity" in item else "weight"
    if key not in item:
        raise ValueError(f"{_label(item, index)} has neither a capacity nor a weight")
    value = item[key]
    if not _is_number(value):
        raise TypeError(f"{_label(item, index)} has a non-numeric {key}: {value!r}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{_label(item, index)} has a {key} that is not finite: {value!r}")
    if value < 0:
        raise ValueError(f"{_label(item, index)} has a negative {key}: {value!r}")
    return float(value)


def max_share_error(weights: Sequence[int], capacities: Sequence[float]) -> float:
    """Largest |w_i / sum(w) - c_i / sum(c)|."""
    total_w = sum(weights)
    total_c = sum(capacities)
    return max(abs(w / total_w - c / total_c) for w, c in zip(weights, capacities))


def _best_for_total(targets: Sequence[float], total: int, lo: int, hi: int) -> tuple[float, list[int]]:
    """Integer vector within [lo, hi] summing to `total` that minimises max |w_i - targets_i|.

    Start from each target rounded (and clamped); every further step away from that start only increases an
    item's deviation, so taking the cheapest steps first (a heap) is optimal for the largest deviation.
    """
    weights = [min(hi, max(lo, math.floor(t + 0.5))) for t in targets]
    missing = total - sum(weights)
    step = 1 if missing > 0 else -1
    heap = []
    for i, t in enumerate(targets):
        nxt = weights[i] + step
        if lo <= nxt <= hi:
            heap.append((abs(nxt - t), i))
    heapq.heapify(heap)
    for _ in range(abs(missing)):
        _, i = heapq.heappop(heap)
        weights[i] += step
        nxt = weights[i] + step
        if lo <= nxt <= hi:
            heapq.heappush(heap, (abs(nxt - targets[i]), i))
    deviation = max(abs(w - t) for w, t in zip(weights, targets))
    return deviation / total, weights


def _better(candidate: tuple[float, list[int]], best: tuple[float, list[int]] | None) -> bool:
    if best is None:
        return True
    error, weights = candidate
    best_error, best_weights = best
    if error < best_error - _EPS * max(1.0, best_error):
        return True
    return abs(error - best_error) <= _EPS * max(1.0, best_error) and sum(weights) < sum(best_weights)


def scaled_weights(capacities: Sequence[float], lo: int, hi: int) -> list[int]:
    """The baseline: the largest capacity scaled to `hi`, the others in proportion, rounded and clamped."""
    top = max(capacities)
    return [min(hi, max(lo, math.floor(c / top * hi + 0.5))) for c in capacities]


def optimal_weights(capacities: Sequence[float], lo: int = 1, hi: int = 256) -> list[int]:
    """Integer weights in [lo, hi] whose shares are closest (largest error) to the capacities' shares.

    Exact when len(capacities) * len(totals) is within EXACT_BUDGET: every feasible total is tried and, among
    the vectors with the smallest largest error, the one with the smallest total wins. Otherwise: the best of
    the scaled baseline, the baseline divided by its gcd, and the optimal vectors for totals around the
    baseline's total; never worse than the baseline.
    """
    n = len(capacities)
    if n == 0:
        return []
    total_capacity = sum(capacities)
    shares = [c / total_capacity for c in capacities]
    best: tuple[float, list[int]] | None = None
    if n * n * (hi - lo + 1) <= EXACT_BUDGET:
        for total in range(n * lo, n * hi + 1):
            candidate = _best_for_total([s * total for s in shares], total, lo, hi)
            if _better(candidate, best):
                best = candidate
        assert best is not None
        return best[1]

    baseline = scaled_weights(capacities, lo, hi)
    candidates = [baseline]
    divisor = math.gcd(*baseline)
    if divisor > 1 and all(w // divisor >= lo for w in baseline):
        candidates.append([w // divisor for w in baseline])
    base_total = sum(baseline)
    for total in {base_total, base_total - n, base_total + n, n * hi, max(n * lo, base_total // 2)}:
        if n * lo <= total <= n * hi:
            candidates.append(_best_for_total([s * total for s in shares], total, lo, hi)[1])
    for weights in candidates:
        candidate = (max_share_error(weights, capacities), weights)
        if _better(candidate, best):
            best = candidate
    assert best is not None
    return best[1]


def weight_distribution(backends: Any, max_weight: Any = 256, min_weight: Any = 1) -> list[dict[str, Any]]:
    """Each backend as given plus `state`, `weight` and `share`; see the filter's documentation."""
    lo, hi = _check_bounds(max_weight, min_weight)
    items = _check_items(backends)
    capacities = [_capacity(item, index) for index, item in enumerate(items)]
    states = []
    for item, capacity in zip(items, capacities):
        state = item.get("state", "active")
        states.append("drain" if capacity == 0 and state in ("active", "backup") else state)
    if not any(state == "active" for state in states):
        summary = ", ".join(f"{item['name']}={state}" for item, state in zip(items, states))
        raise ValueError(
            f"no active backend with a capacity above 0: at least one backend must take traffic (states: {summary})"
        )
    weights = [0] * len(items)
    for group in ("active", "backup"):
        members = [i for i, state in enumerate(states) if state == group]
        if members:
            for i, w in zip(members, optimal_weights([capacities[i] for i in members], lo, hi)):
                weights[i] = w
    active_total = sum(w for w, state in zip(weights, states) if state == "active")
    result = []
    for item, state, weight in zip(items, states, weights):
        out = dict(item)
        out["state"] = state
        out["weight"] = weight
        out["share"] = weight / active_total if state == "active" else 0.0
        result.append(out)
    return result


def wrr_schedule(backends: Any, count: Any) -> list[str]:
    """The first `count` picks of nginx's smooth weighted round robin (ngx_http_upstream_get_peer)."""
    if not isinstance(count, int) or isinstance(count, bool):
        raise TypeError(f"count must be an integer, got {type(count).__name__} {count!r}")
    if not 0 <= count <= MAX_SCHEDULE:
        raise ValueError(f"count must lie within 0..{MAX_SCHEDULE}, got {count}")
    items = _check_items(backends)
    names: list[str] = []
    weights: list[int] = []
    for index, item in enumerate(items):
        if "weight" not in item:
            raise ValueError(f"{_label(item, index)} has no weight (use weight_distribution first)")
        weight = item["weight"]
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise ValueError(f"{_label(item, index)} has a weight that is not an integer >= 0: {weight!r}")
        if item.get("state", "active") == "active" and weight > 0:
            names.append(item["name"])
            weights.append(weight)
    if not names:
        raise ValueError("no active backend with a weight above 0: nothing to schedule")
    total = sum(weights)
    current = [0] * len(weights)
    picks = []
    for _ in range(count):
        best = 0
        for i, weight in enumerate(weights):
            current[i] += weight
            if current[i] > current[best]:
                best = i
        current[best] -= total
        picks.append(names[best])
    return picks


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution: Q(dof / 2, statistic / 2)."""
    if dof <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {dof}")
    if statistic <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, statistic / 2.0)


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function (series or continued fraction, Numerical Recipes)."""
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        for _ in range(10_000):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def distribution_fit(observed: Any, backends: Any, tolerance: Any = 0.05, alpha: Any = 0.001) -> dict[str, Any]:
    """Observed counts per name against the backends' expected shares; see the filter's documentation."""
    if not isinstance(observed, Mapping):
        raise TypeError(f"observed must be a mapping of backend name to count, got {type(observed).__name__}")
    for name, value in (("tolerance", tolerance), ("alpha", alpha)):
        if not _is_number(value) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number within 0..1, got {value!r}")
    items = _check_items(backends)
    for name, count in observed.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"observed count of '{name}' must be an integer >= 0, got {count!r}")

    if all("share" in item for item in items):
        shares = {}
        for index, item in enumerate(items):
            share = item["share"]
            if not _is_number(share) or not 0 <= share <= 1:
                raise ValueError(f"{_label(item, index)} has a share outside 0..1: {share!r}")
            shares[item["name"]] = float(share) if item.get("state", "active") == "active" else 0.0
    else:
        weights = {}
        for index, item in enumerate(items):
            weight = item.get("weight")
            if not _is_number(weight) or weight < 0:
                raise ValueError(f"{_label(item, index)} needs a share or a weight >= 0, got {weight!r}")
            weights[item["name"]] = float(weight) if item.get("state", "active") == "active" else 0.0
        weight_total = sum(weights.values())
        if weight_total <= 0:
            raise ValueError("no active backend with a weight above 0: no share is expected anywhere")
        shares = {name: weight / weight_total for name, weight in weights.items()}
    share_total = sum(shares.values())
    if not math.isclose(share_total, 1.0, rel_tol=1e-6):
        raise ValueError(f"the expected shares sum to {share_total}, not 1")

    total = sum(observed.values())
    if total == 0:
        raise ValueError("observed holds no request at all: nothing to judge")
    counts = {name: int(observed.get(name, 0)) for name in shares}
    unexpected = {name: count for name, count in observed.items() if shares.get(name, 0.0) == 0.0 and count > 0}
    expected = {name: share * total for name, share in shares.items()}
    observed_shares = {name: count / total for name, count in counts.items()}
    max_error = max(abs(observed_shares[name] - shares[name]) for name in shares)
    for name, count in unexpected.items():
        observed_shares[name] = count / total
        max_error = max(max_error, count / total)

    receiving = [name for name, share in shares.items() if share > 0]
    chi_square = sum((counts[name] - expected[name]) ** 2 / expected[name] for name in receiving)
    dof = len(receiving) - 1
    p_value = chi2_sf(chi_square, dof) if dof > 0 else 1.0

    reasons = []
    if unexpected:
        reasons.append(f"backends that should get no traffic got some: {unexpected}")
    if max_error > tolerance:
        reasons.append(f"largest share error {max_error:.4f} exceeds the tolerance {tolerance}")
    if dof > 0 and p_value < alpha:
        reasons.append(f"chi-square {chi_square:.3f} with {dof} degrees of freedom has p = {p_value:.3g} < {alpha}")
    ok = not reasons
    if ok:
        reasons.append(
            f"largest share error {max_error:.4f} <= {tolerance}"
            + (f", chi-square p = {p_value:.3g} >= {alpha}" if dof > 0 else "")
        )
    return {
        "total": total,
        "expected": expected,
        "observed": {**counts, **unexpected},
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
        "reason": "; ".join(reasons),
    }
