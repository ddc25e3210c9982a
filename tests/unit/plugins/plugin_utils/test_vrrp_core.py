"""The pure core of vrrp_priority_matrix: known answers, the exact messages of bad input, and hypothesis
properties (distinct priorities per VIP, balanced masters, the loss of any node spread over distinct survivors,
keepalived's 1-254 range, and the check weight that demotes a failing master below its backups)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lbstack.ha.plugins.plugin_utils import _vrrp as core


def names(count: int) -> list[str]:
    return [f"lb{i + 1}" for i in range(count)]


# ----------------------------------------------------------------------------------------------------------
# Known answers


def test_four_vips_over_three_nodes() -> None:
    rows = core.priority_matrix(names(3), 4)
    assert [row["order"] for row in rows] == [
        ["lb1", "lb2", "lb3"],
        ["lb2", "lb3", "lb1"],
        # lb3 masters one VIP; its first backup is lb2 (one VIP) rather than lb1 (two).
        ["lb3", "lb2", "lb1"],
        ["lb1", "lb3", "lb2"],
    ]
    assert rows[0]["priorities"] == {"lb1": 200, "lb2": 190, "lb3": 180}
    assert core.holders_after_loss(rows, {"lb1"}) == {0: "lb2", 1: "lb2", 2: "lb3", 3: "lb3"}


def test_one_vip_over_two_nodes_is_todays_pair() -> None:
    rows = core.priority_matrix(["a", "b"], 1)
    assert rows == [{"index": 0, "master": "a", "order": ["a", "b"], "priorities": {"a": 200, "b": 190}}]


def test_base_and_step() -> None:
    rows = core.priority_matrix(names(3), 3, 254, 100)
    assert [sorted(row["priorities"].values()) for row in rows] == [[54, 154, 254]] * 3


def test_check_weight_demotion() -> None:
    rows = core.priority_matrix(names(3), 3)  # spread 20
    assert core.demotes(rows, 0)
    assert core.demotes(rows, -21)
    assert not core.demotes(rows, -20)
    assert not core.demotes(rows, 5)


@pytest.mark.parametrize(
    ("nodes", "vips", "base", "step", "error", "message"),
    [
        (["a"], 1, 200, 10, ValueError, "a VIP needs a backup: nodes must list at least 2 balancers, got 1 (['a'])"),
        (["a", "a"], 1, 200, 10, ValueError, "nodes item 1 (a) is listed twice"),
        ("ab", 1, 200, 10, TypeError, "nodes must be a list of host names, got str"),
        (["a", ""], 1, 200, 10, TypeError, "nodes item 1 must be a non-empty host name, got str ''"),
        (["a", 3], 1, 200, 10, TypeError, "nodes item 1 must be a non-empty host name, got int 3"),
        (["a", "b"], 0, 200, 10, ValueError, "vips must be 1-255 (one virtual_router_id each on a network), got 0"),
        (["a", "b"], 256, 200, 10, ValueError, "vips must be 1-255 (one virtual_router_id each on a network), got 256"),
        (["a", "b"], True, 200, 10, TypeError, "vips must be an integer, got bool True"),
        (["a", "b"], "2", 200, 10, TypeError, "vips must be an integer, got str '2'"),
        (["a", "b"], 1, 200, 0, ValueError, "step must be at least 1 (priorities of one VIP must differ), got 0"),
        (
            ["a", "b"],
            1,
            255,
            10,
            ValueError,
            "priorities must lie in 1-254: base 255 and step 10 over 2 nodes give 255 down to 245",
        ),
        (
            names(21),
            1,
            200,
            10,
            ValueError,
            "priorities must lie in 1-254: base 200 and step 10 over 21 nodes give 200 down to 0",
        ),
    ],
)
def test_bad_input(nodes: object, vips: object, base: object, step: object, error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        core.priority_matrix(nodes, vips, base, step)
    assert str(caught.value) == message


# ----------------------------------------------------------------------------------------------------------
# Properties

shapes = st.integers(min_value=2, max_value=12).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=1, max_value=min(255, 6 * n)))
)


@settings(max_examples=300, deadline=None)
@given(shapes)
def test_matrix_properties(shape: tuple[int, int]) -> None:
    count, vips = shape
    nodes = names(count)
    rows = core.priority_matrix(nodes, vips)
    assert len(rows) == vips
    for row in rows:
        # Every node has a priority for every VIP, distinct within the VIP, in keepalived's range; the master is
        # the highest and the order follows the priorities.
        assert sorted(row["priorities"]) == sorted(nodes)
        assert len(set(row["priorities"].values())) == count
        assert all(core.PRIORITY_MIN <= p <= core.PRIORITY_MAX for p in row["priorities"].values())
        assert row["order"] == sorted(nodes, key=lambda node, r=row: -r["priorities"][node])
        assert row["master"] == row["order"][0]
    # Masters balanced: every node masters floor(V/N) or ceil(V/N) VIPs.
    masters = Counter(row["master"] for row in rows)
    shares = [masters.get(node, 0) for node in nodes]
    assert max(shares) - min(shares) <= 1
    # The loss of any one node: its VIPs go to distinct survivors (as many as possible), the survivors receive
    # counts differing by at most one, and afterwards hold counts differing by at most one.
    for lost in nodes:
        after = core.holders_after_loss(rows, {lost})
        moved = [after[row["index"]] for row in rows if row["master"] == lost]
        assert lost not in after.values()
        assert len(set(moved)) == min(len(moved), count - 1)
        received = Counter(moved)
        got = [received.get(node, 0) for node in nodes if node != lost]
        assert max(got) - min(got) <= 1
        held = Counter(after.values())
        totals = [held.get(node, 0) for node in nodes if node != lost]
        assert max(totals) - min(totals) <= 1
        # VIPs of the nodes still alive stay where they are (no needless move).
        assert all(after[row["index"]] == row["master"] for row in rows if row["master"] != lost)


@settings(max_examples=200, deadline=None)
@given(shapes, st.integers(min_value=1, max_value=254), st.integers(min_value=1, max_value=60))
def test_priorities_in_range_or_refused(shape: tuple[int, int], base: int, step: int) -> None:
    count, vips = shape
    lowest = base - (count - 1) * step
    if lowest < 1:
        with pytest.raises(ValueError, match="priorities must lie in 1-254"):
            core.priority_matrix(names(count), vips, base, step)
        return
    rows = core.priority_matrix(names(count), vips, base, step)
    values = [p for row in rows for p in row["priorities"].values()]
    assert min(values) == lowest
    assert max(values) == base


@settings(max_examples=200, deadline=None)
@given(shapes, st.integers(min_value=-253, max_value=0))
def test_check_weight_demotes_a_failing_master_below_its_backups(shape: tuple[int, int], weight: int) -> None:
    count, vips = shape
    rows = core.priority_matrix(names(count), vips)
    # Simulate: the master's check fails (weight added to its priority; 0 = FAULT, it leaves the election).
    for row in rows:
        backups = [row["priorities"][node] for node in row["order"][1:]]
        failing = None if weight == 0 else row["priorities"][row["master"]] + weight
        demoted = failing is None or failing < min(backups)
        if core.demotes(rows, weight):
            assert demoted
    if weight != 0 and not core.demotes(rows, weight):
        # The role refuses such a weight: some master would keep a VIP above a healthy backup.
        assert any(
            row["priorities"][row["master"]] + weight >= min(row["priorities"][n] for n in row["order"][1:])
            for row in rows
        )
