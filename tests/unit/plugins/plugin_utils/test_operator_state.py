"""The operator state core: actions recorded as desired state, applied to the pools the same way for both
engines, and bad input refused with a message naming the variable."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.lbstack.ha.plugins.plugin_utils import _operator_state as core
from ansible_collections.lbstack.ha.plugins.plugin_utils import _weights

POOLS: list[dict[str, Any]] = [
    {"name": "web", "servers": [{"name": "web1", "capacity": 2}, {"name": "web2", "capacity": 1}]},
    {"name": "api", "servers": [{"name": "web2", "capacity": 1}, {"name": "web3", "capacity": 1, "state": "drain"}]},
]
# The same with a second active server in api, so web2 may be drained in every pool.
WIDE: list[dict[str, Any]] = [
    POOLS[0],
    {"name": "api", "servers": [*POOLS[1]["servers"], {"name": "web4", "capacity": 1}]},
]


def states(pools: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {p["name"]: {s["name"]: s.get("state", "active") for s in p["servers"]} for p in pools}


def test_a_drain_applies_to_every_pool_holding_the_server() -> None:
    state = core.update_state({}, WIDE, "drain", "web2")
    assert state == {"servers": {"web2": {"*": {"state": "drain"}}}, "pools": {}}
    assert states(core.apply_state(WIDE, state)) == {
        "web": {"web1": "active", "web2": "drain"},
        "api": {"web2": "drain", "web3": "drain", "web4": "active"},
    }


def test_a_drain_that_leaves_a_pool_without_an_active_server_is_refused_before_it_is_recorded() -> None:
    pools = [
        *POOLS,
        {
            "name": "one",
            "servers": [{"name": "web1", "capacity": 1}, {"name": "web2", "state": "backup", "capacity": 1}],
        },
    ]
    for action in ("drain", "disable"):
        with pytest.raises(
            ValueError, match=rf"^lbstack_action={action} of web1 would leave pool one without an active server"
        ):
            core.update_state({}, pools, action, "web1")
    assert (
        states(core.apply_state(pools, core.update_state({}, pools, "drain", "web1", "web")))["one"]["web1"] == "active"
    )


def test_a_drain_in_one_pool_and_undrain() -> None:
    state = core.update_state({}, WIDE, "drain", "web2", "api")
    assert states(core.apply_state(WIDE, state))["web"]["web2"] == "active"
    assert states(core.apply_state(WIDE, state))["api"]["web2"] == "drain"
    assert core.update_state(state, WIDE, "undrain", "web2", "api") == core.empty_state()


def test_undrain_of_a_server_the_inventory_drains_records_active() -> None:
    state = core.update_state({}, POOLS, "undrain", "web3")
    assert state["servers"]["web3"]["*"] == {"state": "active"}
    applied = core.apply_state(POOLS, state)
    assert states(applied)["api"]["web3"] == "active"
    # and it gets its computed weight again, not 0
    weights = _weights.pool_weights(applied[1]["servers"])["servers"]
    assert [s["weight"] for s in weights] == [1, 1]
    assert core.update_state(state, POOLS, "forget", "web3") == core.empty_state()


def test_disable_weight_and_maintenance() -> None:
    state = core.update_state({}, POOLS, "disable", "web1")
    state = core.update_state(state, POOLS, "weight", "web2", "*", "50%")
    state = core.update_state(state, POOLS, "maintenance", None, "api")
    applied = core.apply_state(POOLS, state)
    assert applied[0]["servers"][0]["state"] == "down"
    assert applied[0]["servers"][1]["operator_weight"] == "50%"
    assert [p["maintenance"] for p in applied] == [False, True]
    assert core.describe(state) == [
        "pool api - maintenance",
        "server web1 in every pool - state down",
        "server web2 in every pool - weight 50%",
    ]
    state = core.update_state(state, POOLS, "unmaintenance", None, "api")
    state = core.update_state(state, POOLS, "unweight", "web2")
    state = core.update_state(state, POOLS, "enable", "web1")
    assert state == core.empty_state()


def test_a_setting_for_every_pool_replaces_the_single_pools_ones() -> None:
    state = core.update_state({}, POOLS, "weight", "web2", "api", 3)
    state = core.update_state(state, POOLS, "weight", "web2", "*", "7")
    assert state["servers"]["web2"] == {"*": {"weight": 7}}


def test_every_applied_server_has_a_state() -> None:
    # Servers listed in the inventory without a state are active; backend_state.yml reads every server's state
    # (an undrain of a server listed so in a second pool failed: "dict has no attribute state").
    applied = core.apply_state(POOLS, core.update_state({}, POOLS, "undrain", "web1"))
    assert [[s["state"] for s in p["servers"]] for p in applied] == [["active", "active"], ["active", "drain"]]


def test_apply_leaves_the_pools_as_given() -> None:
    before = repr(POOLS)
    core.apply_state(POOLS, core.update_state({}, POOLS, "drain", "web1"))
    assert repr(POOLS) == before


def test_apply_copies_nested_values_without_deepcopy() -> None:
    pools = [{"name": "web", "health_check": {"path": "/", "expect_status": [200]}, "servers": [{"name": "web1"}]}]
    applied = core.apply_state(pools, {})
    applied[0]["health_check"]["expect_status"].append(204)
    assert pools[0]["health_check"] == {"path": "/", "expect_status": [200]}
    assert core.plain_copy(({"a": (1, 2)},)) == [{"a": [1, 2]}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reboot", "web1"), "lbstack_action must be one of drain, undrain, disable, enable, weight"),
        (("drain", "web9"), "lbstack_backend must be a server of any pool, one of web1, web2, web3; got 'web9'"),
        (("drain", "web1", "api"), "lbstack_backend must be a server of pool api, one of web2, web3; got 'web1'"),
        (("drain", "web1", "nope"), "lbstack_pool must be * (every pool) or one of web, api, got 'nope'"),
        (("maintenance", None), "lbstack_action=maintenance needs one pool in lbstack_pool, one of web, api"),
        (("weight", "web1", "*", 0), "has a weight that is neither an integer >= 1 nor a percentage such as 50%: 0"),
        (("weight", "web1", "*", "half"), "nor a percentage such as 50%: 'half'"),
    ],
)
def test_bad_actions_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        core.update_state({}, POOLS, *args)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"servers": {"web1": {"*": {"state": "gone"}}}}, "has an unknown state 'gone': expected one of active"),
        ({"servers": {"web1": {"*": {"color": 1}}}}, "may only hold state and weight"),
        ({"pools": {"web": {"maintenance": "yes"}}}, "pool 'web' may only hold maintenance: true"),
        ({"other": 1}, "the operator state has unknown keys ['other']"),
    ],
)
def test_a_bad_state_file_is_refused(state: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        core.apply_state(POOLS, state)
    assert message in str(caught.value)


def test_a_bad_sorry_server_is_refused() -> None:
    pools = [{**POOLS[0], "sorry_server": {"address": "10.0.0.9; return", "port": 80}}]
    with pytest.raises(ValueError, match="pool 'web' has a sorry_server that is not"):
        core.apply_state(pools, {})
    ok = [{**POOLS[0], "sorry_server": {"address": "10.0.0.9", "port": 8080}}]
    assert core.apply_state(ok, {})[0]["sorry_server"] == {"address": "10.0.0.9", "port": 8080}


actions = st.sampled_from(["drain", "undrain", "disable", "enable", "weight", "unweight", "forget"])


@given(
    steps=st.lists(st.tuples(actions, st.sampled_from(["web1", "web2", "web3"]), st.sampled_from(["*", "web", "api"])))
)
def test_any_sequence_of_actions_gives_a_state_that_applies(steps: list[tuple[str, str, str]]) -> None:
    state: dict[str, Any] = core.empty_state()
    for action, server, pool in steps:
        try:
            state = core.update_state(state, POOLS, action, server, pool, "50%")
        except ValueError as exc:
            assert "lbstack_backend must be a server of pool" in str(exc) or "without an active server" in str(exc)
    assert core.check_state(state) == state
    applied = core.apply_state(POOLS, state)
    assert {s.get("state", "active") for p in applied for s in p["servers"]} <= {"active", "drain", "down"}


# What a drain, disable or maintenance waits for (drain_targets), from the pools with the new state applied.
ADDRESSED: list[dict[str, Any]] = [
    {
        "name": "web",
        "servers": [
            {"name": "web1", "address": "10.0.0.1", "port": 8080, "capacity": 2},
            {"name": "web2", "address": "fd00::2", "port": 8080, "capacity": 1},
        ],
    },
    {
        "name": "api",
        "servers": [
            {"name": "web2", "address": "fd00::2", "port": 9000, "capacity": 1},
            {"name": "web3", "address": "10.0.0.3", "port": 9000, "capacity": 1},
        ],
    },
]


def targets(action: str, server: str | None = None, pool: str = "*") -> dict[str, Any]:
    state = core.update_state({}, ADDRESSED, action, server, pool)
    return core.drain_targets(core.apply_state(ADDRESSED, state), action, server, pool)


def test_a_drain_in_every_pool_waits_for_the_server_ipv6_in_brackets() -> None:
    assert targets("drain", "web2") == {
        "wait": [{"name": "web2", "target": "[fd00::2]:9000"}],
        "still_serving": [],
    }


def test_a_drain_in_one_pool_does_not_wait_for_a_server_another_pool_still_uses() -> None:
    assert targets("drain", "web2", "web") == {"wait": [], "still_serving": ["web2 (pool api)"]}


def test_maintenance_waits_for_every_server_of_the_pool_no_other_pool_uses() -> None:
    assert targets("maintenance", None, "web") == {
        "wait": [{"name": "web1", "target": "10.0.0.1:8080"}],
        "still_serving": ["web2 (pool api)"],
    }


@pytest.mark.parametrize("action", ["weight", "undrain", "enable"])
def test_actions_that_take_nothing_out_wait_for_nothing(action: str) -> None:
    state = core.update_state({}, ADDRESSED, "disable", "web1")
    if action == "weight":
        state = core.update_state(state, ADDRESSED, "weight", "web2", "*", "50%")
    applied = core.apply_state(ADDRESSED, state)
    assert core.drain_targets(applied, action, "web2")["wait"] == []
