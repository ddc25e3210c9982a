# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""VRRP priority matrix for several VIPs over several balancers: pure, typed logic without Ansible.

The filter vrrp_priority_matrix in plugins/filter/vrrp.py is a thin wrapper around priority_matrix here.
Bad input raises only ValueError or TypeError, with a message that names what is wrong.

The matrix: VIP i is mastered by node i mod N (so masters differ by at most one VIP per node). The first backups
of one master's VIPs are the other nodes in turn, those that master fewer VIPs first, so that losing any one node
hands its VIPs to distinct survivors (as many as it has VIPs, up to N - 1) and every survivor then holds the same
number of VIPs, give or take one. Each VIP's later backups continue the same rotation. Rank r (0 = master) of a
VIP gets priority base - r x step.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TypedDict

PRIORITY_MIN = 1
PRIORITY_MAX = 254
"""keepalived takes priorities 1-255; 255 is reserved for the owner of the address, which a VIP never has."""


class VipPriorities(TypedDict):
    """One VIP's row of the matrix."""

    index: int
    master: str
    order: list[str]
    priorities: dict[str, int]


def type_name(value: object) -> str:
    return type(value).__name__


def _integer(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {type_name(value)} {value!r}")
    return int(value)


def _nodes(nodes: object) -> list[str]:
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence):
        raise TypeError(f"nodes must be a list of host names, got {type_name(nodes)}")
    out: list[str] = []
    for index, node in enumerate(nodes):
        if not isinstance(node, str) or not node:
            raise TypeError(f"nodes item {index} must be a non-empty host name, got {type_name(node)} {node!r}")
        if node in out:
            raise ValueError(f"nodes item {index} ({node}) is listed twice")
        out.append(node)
    if len(out) < 2:
        raise ValueError(f"a VIP needs a backup: nodes must list at least 2 balancers, got {len(out)} ({out})")
    return out


def failover_order(nodes: Sequence[str], vips: int) -> list[list[str]]:
    """For each VIP, the nodes in the order they take it: master first, then its backups."""
    count = len(nodes)
    masters = [0] * count
    for i in range(vips):
        masters[i % count] += 1
    orders: list[list[str]] = []
    for i in range(vips):
        master = i % count
        share = i // count  # this VIP's place among its master's VIPs
        # Survivors that master fewer VIPs first, then by distance from the master around the ring.
        others = sorted(
            (node for node in range(count) if node != master),
            key=lambda node, m=master: (masters[node], (node - m) % count),
        )
        start = share % len(others)
        backups = others[start:] + others[:start]
        orders.append([nodes[master]] + [nodes[node] for node in backups])
    return orders


def priority_matrix(nodes: object, vips: object, base: object = 200, step: object = 10) -> list[VipPriorities]:
    """One row per VIP: its master, its failover order and the priority of each node for it.

    nodes: the balancers' host names (at least 2, distinct); vips: how many VIPs (1-255, one VRRP router id each);
    base: the master's priority; step: how much each later rank loses. Every priority must lie in 1-254.
    """
    names = _nodes(nodes)
    count = _integer("vips", vips)
    top = _integer("base", base)
    gap = _integer("step", step)
    if not 1 <= count <= 255:
        raise ValueError(f"vips must be 1-255 (one virtual_router_id each on a network), got {count}")
    if gap < 1:
        raise ValueError(f"step must be at least 1 (priorities of one VIP must differ), got {gap}")
    lowest = top - (len(names) - 1) * gap
    if top > PRIORITY_MAX or lowest < PRIORITY_MIN:
        raise ValueError(
            f"priorities must lie in {PRIORITY_MIN}-{PRIORITY_MAX}: base {top} and step {gap} over {len(names)} nodes"
            f" give {top} down to {lowest}"
        )
    rows: list[VipPriorities] = []
    for index, order in enumerate(failover_order(names, count)):
        rows.append(
            {
                "index": index,
                "master": order[0],
                "order": order,
                "priorities": {node: top - rank * gap for rank, node in enumerate(order)},
            }
        )
    return rows


def demotes(rows: Sequence[VipPriorities], check_weight: int) -> bool:
    """True when a failing check (weight check_weight, 0 = FAULT) drops any holder below every other node of
    each of its VIPs: 0, or a negative weight whose size exceeds each VIP's highest minus lowest priority."""
    if check_weight == 0:
        return True
    if check_weight > 0:
        return False
    spread = max(max(row["priorities"].values()) - min(row["priorities"].values()) for row in rows)
    return -check_weight > spread


def holders_after_loss(rows: Sequence[VipPriorities], lost: set[str] | frozenset[str]) -> dict[int, str | None]:
    """Which node holds each VIP when the nodes in `lost` are gone (None: nobody is left)."""
    out: dict[int, str | None] = {}
    for row in rows:
        alive = [node for node in row["order"] if node not in lost]
        out[row["index"]] = alive[0] if alive else None
    return out
