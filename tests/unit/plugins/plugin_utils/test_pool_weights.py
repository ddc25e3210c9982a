"""pool_weights, the one place a server's rendered weight is decided: ring pools stable whichever server
joins or leaves (hypothesis over random capacity sets, weights and HAProxy ids alike, and keys on a simulated
ring), fixed and operator weights, no silent cap on nginx, runtime percentages that halve instead of draining.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lbstack.ha.plugins.plugin_utils import _weights as core


def pool(*capacities: float) -> list[dict[str, Any]]:
    return [{"name": f"web{i + 1}", "capacity": c} for i, c in enumerate(capacities)]


def rendered(servers: list[dict[str, Any]], engine: str = "haproxy", ring: bool = True) -> dict[str, tuple]:
    out = core.pool_weights(servers, engine, ring)["servers"]
    return {s["name"]: (s["weight"], s.get("id")) for s in out}


def old_ring_scaling(capacities: list[float]) -> list[int]:
    """What roles/*/tasks/preflight.yml rendered before: weight_distribution, then 256 // largest."""
    weights = [s["weight"] for s in core.weight_distribution(pool(*capacities))]
    return [w * max(1, 256 // max(weights)) for w in weights]


@pytest.mark.parametrize(
    ("capacities", "without_last"),
    [([6, 4, 3], [6, 4]), ([7, 4, 9], [7, 4]), ([8, 4, 2], [8, 4])],
)
def test_ring_weights_follow_each_capacity_alone(capacities: list[int], without_last: list[int]) -> None:
    before = rendered(pool(*capacities))
    after = rendered(pool(*without_last))
    assert [w for w, _unused in before.values()] == [16 * c for c in capacities]
    assert all(before[name] == after[name] for name in after)


def test_the_old_scaling_moved_the_servers_that_stayed() -> None:
    # The counterexamples of the issue: the old rendering changed the weights of servers that stayed.
    assert old_ring_scaling([6, 4, 3]) == [252, 168, 126]
    assert old_ring_scaling([6, 4]) == [255, 170]
    assert old_ring_scaling([7, 4]) == [252, 144]
    assert old_ring_scaling([7, 4, 9]) == [196, 112, 252]


capacity_sets = st.lists(
    st.one_of(st.integers(0, 40), st.floats(0.05, 16, allow_nan=False, allow_infinity=False)),
    min_size=2,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(capacities=capacity_sets, position=st.integers(0, 100), engine=st.sampled_from(["haproxy", "nginx"]))
def test_removing_a_ring_server_changes_no_other_server(capacities: list[float], position: int, engine: str) -> None:
    servers = pool(*capacities)
    if not any(c > 0 for i, c in enumerate(capacities) if i != position % len(capacities)):
        return  # nothing active left to balance
    removed = servers.pop(position % len(servers))
    before = rendered(pool(*capacities), engine)
    after = rendered(servers, engine)
    assert removed["name"] not in after
    assert all(after[name] == before[name] for name in after)


@settings(max_examples=300, deadline=None)
@given(capacities=capacity_sets, joining=st.floats(0.05, 40), engine=st.sampled_from(["haproxy", "nginx"]))
def test_adding_a_ring_server_changes_no_other_server(capacities: list[float], joining: float, engine: str) -> None:
    if not any(c > 0 for c in capacities):
        return
    before = rendered(pool(*capacities), engine)
    after = rendered([*pool(*capacities), {"name": "joiner", "capacity": joining}], engine)
    assert all(after[name] == before[name] for name in before)


def ring_owner(servers: dict[str, tuple], keys: list[int]) -> dict[int, str]:
    """Keys on a consistent-hash ring built like HAProxy's: each server has weight x 16 points placed by a
    hash of its id and the point's number (md5 stands in for HAProxy's hash)."""
    points = sorted(
        (int.from_bytes(hashlib.md5(f"{sid}:{n}".encode()).digest()[:4], "big"), name)
        for name, (weight, sid) in servers.items()
        for n in range(weight * 16)
    )
    hashes = [p for p, _unused in points]
    return {k: points[bisect.bisect_left(hashes, k) % len(points)][1] for k in keys}


@settings(max_examples=40, deadline=None)
@given(capacities=st.lists(st.integers(1, 9), min_size=2, max_size=6), position=st.integers(0, 100))
def test_on_the_ring_only_the_removed_servers_keys_move(capacities: list[int], position: int) -> None:
    servers = pool(*capacities)
    removed = servers.pop(position % len(servers))["name"]
    keys = [int.from_bytes(hashlib.md5(str(k).encode()).digest()[:4], "big") for k in range(500)]
    before = ring_owner(rendered(pool(*capacities)), keys)
    after = ring_owner(rendered(servers), keys)
    assert all(after[k] == before[k] for k in keys if before[k] != removed)


def test_haproxy_ids_come_from_the_name_or_the_server() -> None:
    out = core.pool_weights([{"name": "a", "capacity": 1}, {"name": "b", "capacity": 1, "id": 7}])["servers"]
    assert out[0]["id"] == core.stable_server_id("a")
    assert 1 <= out[0]["id"] <= core.SERVER_ID_SPACE
    assert out[1]["id"] == 7
    assert "id" not in core.pool_weights(pool(1, 2), "nginx")["servers"][0]


def test_two_servers_with_one_id_are_refused() -> None:
    clash = [{"name": "a", "capacity": 1, "id": 5}, {"name": "b", "capacity": 1, "id": 5}]
    with pytest.raises(ValueError, match=r"backends\[1\] 'b' has the same server id 5 as 'a': give one of them"):
        core.pool_weights(clash)
    with pytest.raises(ValueError, match=r"backends\[0\] 'a' has an id that is not an integer within 1..1000000"):
        core.pool_weights([{"name": "a", "capacity": 1, "id": 0}])


def test_nginx_keeps_lopsided_shares_and_haproxy_reports_the_drift() -> None:
    servers = [{"name": "big", "capacity": 1000}] + [{"name": f"s{i}", "capacity": 1} for i in range(100)]
    nginx = core.pool_weights(servers, "nginx", False, 10000)
    assert nginx["servers"][0]["weight"] == 1000
    assert nginx["servers"][0]["share"] == pytest.approx(1000 / 1100)
    assert nginx["drift"] == pytest.approx(0.0, abs=1e-12)
    haproxy = core.pool_weights(servers, "haproxy", False, 256)
    assert haproxy["servers"][0]["weight"] == 256
    assert haproxy["servers"][0]["share"] == pytest.approx(256 / 356)  # 72 %, not 91 %: reported as drift
    assert haproxy["drift"] == pytest.approx(1000 / 1100 - 256 / 356)
    assert haproxy["drift_server"] == "big"
    with pytest.raises(ValueError, match=r"max_weight must be an integer within 1..256, got 1000"):
        core.pool_weights(servers, "haproxy", False, 1000)


def test_fixed_override_and_operator_weights() -> None:
    servers = [
        {"name": "a", "weight": 10},
        {"name": "b", "weight": 5},
        {"name": "c", "capacity": 2, "weight_override": 7},
        {"name": "d", "capacity": 1, "operator_weight": "50%"},
    ]
    out = core.pool_weights(servers)["servers"]
    assert [s["weight"] for s in out] == [10, 5, 7, 1]
    assert sum(s["share"] for s in out) == pytest.approx(1)
    with pytest.raises(ValueError, match=r"backends\[0\] 'a' has a weight_override that is not an integer within"):
        core.pool_weights([{"name": "a", "capacity": 1, "weight_override": 300}])


@pytest.mark.parametrize(
    ("computed", "request_", "expected"),
    [(1, "50%", 1), (2, "50%", 1), (7, "50%", 4), (100, "50%", 50), (10, "200%", 20), (200, "200%", 256), (3, 9, 9)],
)
def test_runtime_weights_halve_instead_of_draining(computed: int, request_: Any, expected: int) -> None:
    assert core.runtime_weight(computed, request_) == expected


@pytest.mark.parametrize(
    ("computed", "request_", "message"),
    [
        (0, "50%", "50% of a weight of 0 (a drained server) is still 0: give an absolute weight 1..256"),
        (4, 0, "a weight must be an integer within 1..256 or a percentage such as 50%, got int 0"),
        (4, "x%", "a weight percentage must be a whole number above 0 followed by %, got 'x%'"),
        (4, 300, "a weight must be an integer within 1..256"),
    ],
)
def test_bad_runtime_weights_are_refused(computed: int, request_: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        core.runtime_weight(computed, request_)
    assert message in str(caught.value)


@given(computed=st.integers(1, 256), percent=st.integers(1, 100))
def test_a_percentage_never_drains(computed: int, percent: int) -> None:
    assert 1 <= core.runtime_weight(computed, f"{percent}%") <= computed
