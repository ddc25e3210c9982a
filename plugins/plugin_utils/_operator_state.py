# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Operator state as desired state: pure, typed logic without Ansible (filters in plugins/filter/operator_state.py).

The operator's drains, disables, weights and pool maintenance are kept in a state file on the balancers that
the roles own; every run reads it, so a reload, a site.yml run, the rolling update or a reboot keeps them
until an operator changes them. The state:

    {"servers": {SERVER: {POOL or "*": {"state": "drain" | "down" | "active", "weight": 5 | "50%"}}},
     "pools": {POOL: {"maintenance": true}}}

"*" holds what applies to the server in every pool holding it; an entry for one pool wins over it.
Bad input raises only ValueError or TypeError, naming what is wrong.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

ALL_POOLS = "*"
SERVER_STATES = ("active", "drain", "down")
ACTIONS = ("drain", "undrain", "disable", "enable", "weight", "unweight", "maintenance", "unmaintenance", "forget")
_ENTRY_KEYS = ("state", "weight")


def _name(value: Any) -> str:
    return "None" if value is None else repr(value)


def empty_state() -> dict[str, Any]:
    return {"servers": {}, "pools": {}}


def check_state(state: Any) -> dict[str, Any]:
    """The state as a plain dict, after checking its shape; None or {} is the empty state."""
    if state is None or (isinstance(state, Mapping) and not state):
        return empty_state()
    if not isinstance(state, Mapping):
        raise TypeError(f"the operator state must be a mapping with servers and pools, got {type(state).__name__}")
    unknown = sorted(set(state) - {"servers", "pools", "version"})
    if unknown:
        raise ValueError(f"the operator state has unknown keys {unknown}: expected servers, pools")
    servers = state.get("servers") or {}
    pools = state.get("pools") or {}
    if not isinstance(servers, Mapping) or not isinstance(pools, Mapping):
        raise TypeError("the operator state's servers and pools must be mappings")
    out: dict[str, Any] = {"servers": {}, "pools": {}}
    for server, by_pool in servers.items():
        if not isinstance(by_pool, Mapping):
            raise TypeError(f"operator state of server {server!r} must map pool names (or *) to settings")
        for pool, entry in by_pool.items():
            where = f"server {server!r} in pool {pool!r}"
            if not isinstance(entry, Mapping) or set(entry) - set(_ENTRY_KEYS):
                raise ValueError(f"operator state of {where} may only hold state and weight, got {_name(entry)}")
            if "state" in entry and entry["state"] not in SERVER_STATES:
                raise ValueError(
                    f"operator state of {where} has an unknown state {_name(entry['state'])}: "
                    f"expected one of {', '.join(SERVER_STATES)}"
                )
            if "weight" in entry:
                weight = entry["weight"]
                ok = (isinstance(weight, int) and not isinstance(weight, bool) and weight >= 1) or (
                    isinstance(weight, str) and weight.endswith("%") and weight[:-1].isdigit() and int(weight[:-1]) > 0
                )
                if not ok:
                    raise ValueError(
                        f"operator state of {where} has a weight that is neither an integer >= 1 nor a percentage "
                        f"such as 50%: {_name(weight)}"
                    )
            out["servers"].setdefault(str(server), {})[str(pool)] = dict(entry)
    for pool, entry in pools.items():
        if (
            not isinstance(entry, Mapping)
            or set(entry) - {"maintenance"}
            or not isinstance(entry.get("maintenance", False), bool)
        ):
            raise ValueError(f"operator state of pool {pool!r} may only hold maintenance: true, got {_name(entry)}")
        out["pools"][str(pool)] = dict(entry)
    return out


def _pool_list(pools: Any) -> list[Mapping[str, Any]]:
    if isinstance(pools, (str, bytes, Mapping)) or not isinstance(pools, Sequence):
        raise TypeError(f"pools must be a list of pools (mappings with name and servers), got {type(pools).__name__}")
    for index, pool in enumerate(pools):
        if not isinstance(pool, Mapping) or "name" not in pool or not isinstance(pool.get("servers"), Sequence):
            raise TypeError(f"pools[{index}] must be a mapping with a name and a list of servers")
    return list(pools)


def settings_for(state: Mapping[str, Any], server: str, pool: str) -> dict[str, Any]:
    """What the operator set for one server in one pool: the "*" entry, then the pool's own entry over it."""
    by_pool = state.get("servers", {}).get(server, {})
    merged = dict(by_pool.get(ALL_POOLS, {}))
    merged.update(by_pool.get(pool, {}))
    return merged


def plain_copy(value: Any) -> Any:
    """A copy of nested mappings and lists, rebuilt item by item.

    Not copy.deepcopy: the pools Ansible 2.19 hands a filter are lazy containers, and deep-copying them renders
    their templates where a filter named by its FQCN fails to load (a pool default such as
    "{{ lbstack_vip | ansible.builtin.split('/') | first }}" raised "'dict' object is not callable"), and it is
    slow: 4.7-8.7 s per call for 20 pools after a role's preflight (profile_tasks), twice per operator action,
    which made it the slowest task of the suite. Reading each item renders it as any template is rendered.
    """
    if isinstance(value, Mapping):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_copy(item) for item in value]
    return value


def apply_state(pools: Any, state: Any) -> list[dict[str, Any]]:
    """The pools with the operator state applied: each server's `state` (default active) replaced by the operator's, an
    `operator_weight` for lbstack.ha.pool_weights, and `maintenance: true` on pools in maintenance.
    Entries naming a server or pool that is not in the pools are ignored (the inventory may have dropped it)."""
    checked = check_state(state)
    out = []
    for pool in _pool_list(pools):
        check_sorry_server(pool)
        new = plain_copy(pool)
        servers = []
        for given in new["servers"]:
            # Every server carries its state, "active" when the inventory gives none (as the weights read it).
            server = {"state": "active", **dict(given)}
            settings = settings_for(checked, str(server.get("name")), str(new["name"]))
            if "state" in settings:
                server["state"] = settings["state"]
            if "weight" in settings:
                server["operator_weight"] = settings["weight"]
            servers.append(server)
        new["servers"] = servers
        new["maintenance"] = bool(checked["pools"].get(str(new["name"]), {}).get("maintenance", False))
        out.append(new)
    return out


_ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]*$|^\[[0-9A-Fa-f:.]+\]$")


def check_sorry_server(pool: Mapping[str, Any]) -> None:
    """A pool's sorry_server (answers while the pool is in maintenance): {address, port}, nothing else."""
    if "sorry_server" not in pool:
        return
    sorry = pool["sorry_server"]
    address = sorry.get("address") if isinstance(sorry, Mapping) else None
    port = sorry.get("port") if isinstance(sorry, Mapping) else None
    if (
        not isinstance(sorry, Mapping)
        or set(sorry) - {"address", "port"}
        or not isinstance(address, str)
        or not _ADDRESS.match(address)
        or not isinstance(port, int)
        or isinstance(port, bool)
        or not 1 <= port <= 65535
    ):
        raise ValueError(
            f"pool {pool.get('name')!r} has a sorry_server that is not {{address, port}} with a host name or IP "
            f"address and a port 1-65535: {_name(sorry)}"
        )


def _prune(state: dict[str, Any]) -> dict[str, Any]:
    for server in list(state["servers"]):
        by_pool = state["servers"][server]
        for pool in list(by_pool):
            if not by_pool[pool]:
                del by_pool[pool]
        if not by_pool:
            del state["servers"][server]
    for pool in list(state["pools"]):
        if not state["pools"][pool].get("maintenance"):
            del state["pools"][pool]
    return state


def update_state(
    state: Any,
    pools: Any,
    action: Any,
    server: Any = None,
    pool: Any = ALL_POOLS,
    weight: Any = None,
) -> dict[str, Any]:
    """The new operator state after one action.

    drain / disable: the server's state becomes drain / down (in `pool`, or in every pool holding it with "*");
    undrain / enable: the server takes traffic again - its operator state is dropped, or recorded as active
    where the inventory itself says drain or down; weight: an integer >= 1 or "N%" of the computed weight;
    unweight: the computed weight again; forget: every operator setting of the server dropped (the inventory
    decides again); maintenance / unmaintenance: a whole pool (`pool`, not "*") out of service and back.
    """
    new = copy.deepcopy(check_state(state))
    listed = _pool_list(pools)
    names = [str(p["name"]) for p in listed]
    if action not in ACTIONS:
        raise ValueError(f"lbstack_action must be one of {', '.join(ACTIONS)}, got {_name(action)}")
    if not isinstance(pool, str) or (pool != ALL_POOLS and pool not in names):
        raise ValueError(f"lbstack_pool must be * (every pool) or one of {', '.join(names)}, got {_name(pool)}")
    if action in ("maintenance", "unmaintenance"):
        if pool == ALL_POOLS:
            raise ValueError(f"lbstack_action={action} needs one pool in lbstack_pool, one of {', '.join(names)}")
        if action == "maintenance":
            new["pools"][pool] = {"maintenance": True}
        else:
            new["pools"].pop(pool, None)
        return _prune(new)
    holding = [p for p in listed if any(s.get("name") == server for s in p["servers"])]
    scope = holding if pool == ALL_POOLS else [p for p in holding if p["name"] == pool]
    if not isinstance(server, str) or not scope:
        offered = listed if pool == ALL_POOLS else [p for p in listed if p["name"] == pool]
        known = sorted({str(s.get("name")) for p in offered for s in p["servers"]})
        where = "any pool" if pool == ALL_POOLS else f"pool {pool}"
        raise ValueError(f"lbstack_backend must be a server of {where}, one of {', '.join(known)}; got {_name(server)}")
    by_pool = new["servers"].setdefault(server, {})
    if action == "forget":
        if pool == ALL_POOLS:
            by_pool.clear()
        else:
            by_pool.pop(pool, None)
        return _prune(new)
    if pool == ALL_POOLS:  # one setting for every pool: entries of single pools no longer say otherwise
        for entry in by_pool.values():
            entry.pop("weight" if action in ("weight", "unweight") else "state", None)
    entry = by_pool.setdefault(pool, {})
    if action in ("drain", "disable"):
        entry["state"] = "drain" if action == "drain" else "down"
    elif action in ("undrain", "enable"):
        entry.pop("state", None)
        inventory = {str(s.get("state", "active")) for p in scope for s in p["servers"] if s.get("name") == server}
        if inventory & {"drain", "down"}:
            entry["state"] = "active"
    elif action == "weight":
        if isinstance(weight, str) and weight.strip().isdigit():
            weight = int(weight.strip())
        if isinstance(weight, str):
            weight = weight.strip()
        entry["weight"] = weight
    else:  # unweight
        entry.pop("weight", None)
    result = _prune(new)
    check_state(result)  # a bad weight is refused with the same message as a bad state file
    if action in ("drain", "disable"):
        # Refused here, before the state file is written: a pool left without an active server fails every later
        # render (the weights refuse it), so the drain would be recorded and every run after it would fail.
        for applied in apply_state(scope, result):
            if not any(s["state"] == "active" for s in applied["servers"]):
                raise ValueError(
                    f"lbstack_action={action} of {server} would leave pool {applied['name']} without an active server "
                    f"(a pool needs one): {action} it in the other pools with lbstack_pool, or put pool "
                    f"{applied['name']} in maintenance"
                )
    return result


def describe(state: Any) -> list[str]:
    """One line per setting, for status.yml and the playbook's report."""
    checked = check_state(state)
    lines = []
    for pool, entry in sorted(checked["pools"].items()):
        if entry.get("maintenance"):
            lines.append(f"pool {pool} - maintenance")
    for server, by_pool in sorted(checked["servers"].items()):
        for pool, entry in sorted(by_pool.items()):
            where = "every pool" if pool == ALL_POOLS else f"pool {pool}"
            parts = [f"{key} {entry[key]}" for key in _ENTRY_KEYS if key in entry]
            lines.append(f"server {server} in {where} - {', '.join(parts)}")
    return lines


WAITING_ACTIONS = ("drain", "disable", "maintenance")


def drain_targets(applied: Any, action: Any, server: Any = None, pool: Any = ALL_POOLS) -> dict[str, Any]:
    """What a drain, disable or maintenance waits for, from the pools with the new state applied (apply_state).

    The servers the action takes out of the pools it names: every server of a pool in maintenance, or `server`
    where it is now drain or down. A server that another pool still sends traffic to is not waited for: its
    connections cannot be told apart. Returns {"wait": [{"name", "target"}] (target "address:port", an IPv6
    address in brackets, as ss takes it), "still_serving": ["NAME (pool POOL)", ...]}; "wait" is empty for an
    action that does not wait.
    """
    pools = _pool_list(applied)
    out: dict[str, str] = {}
    for entry in pools:
        if pool not in (ALL_POOLS, entry["name"]):
            continue
        for s in entry["servers"]:
            if entry.get("maintenance") or (s.get("name") == server and s.get("state") in ("drain", "down")):
                if "address" not in s or "port" not in s:
                    raise ValueError(f"server {s.get('name')!r} of pool {entry['name']!r} needs an address and a port")
                address = str(s["address"])
                host = f"[{address}]" if ":" in address and not address.startswith("[") else address
                out[str(s["name"])] = f"{host}:{s['port']}"
    still_serving = [
        f"{s['name']} (pool {entry['name']})"
        for entry in pools
        if not entry.get("maintenance")
        for s in entry["servers"]
        if s.get("name") in out and s.get("state") not in ("drain", "down")
    ]
    serving = {label.split(" (pool ", 1)[0] for label in still_serving}
    wait = [
        {"name": name, "target": target}
        for name, target in out.items()
        if action in WAITING_ACTIONS and name not in serving
    ]
    return {"wait": wait, "still_serving": still_serving}
