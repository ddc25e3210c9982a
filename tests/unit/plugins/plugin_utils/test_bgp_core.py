"""The pure core of the bgp_problems filter: a good balancer passes, each bad input gives exactly its message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ansible_collections.lbstack.ha.plugins.plugin_utils._bgp import bgp_problems

GOOD: dict[str, Any] = {
    "bgp_local_asn": 65010,
    "bgp_router_id": "10.0.0.11",
    "bgp_peers": [
        {"address": "10.0.0.1", "asn": 65000},
        {"address": "2001:db8::1", "asn": 4200000000, "password": "s3cr-t"},
    ],
    "bgp_service_addresses": ["192.0.2.1/32", "2001:db8:1::1/128"],
    "bgp_bfd": {"receive_interval": 10, "transmit_interval": 60000, "detect_multiplier": 255},
}


def changed(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(GOOD)
    out.update(changes)
    return out


def test_good_input_has_no_problem() -> None:
    assert bgp_problems("lb1", GOOD, {"lb2": {"bgp_router_id": "10.0.0.12"}}) == []


@pytest.mark.parametrize(
    ("node", "others", "message"),
    [
        (changed(bgp_local_asn=True), {}, "bgp_local_asn on host lb1 must be an integer 1-4294967295 (got True)"),
        (changed(bgp_local_asn="65010"), {}, "bgp_local_asn on host lb1 must be an integer 1-4294967295 (got '65010')"),
        (changed(bgp_router_id="0.0.0.0"), {}, "bgp_router_id on host lb1 must be an IPv4 address other than 0.0.0.0"),
        (
            GOOD,
            {"lb1": {"bgp_router_id": "10.0.0.11"}, "lb3": {"bgp_router_id": "10.0.0.11"}},
            "bgp_router_id on host lb1 is 10.0.0.11, the router id of lb3 too",
        ),
        (changed(bgp_peers=[]), {}, "bgp_peers on host lb1 must list at least one upstream router (got [])"),
        (changed(bgp_peers=["10.0.0.1"]), {}, "bgp_peers[0] on host lb1 must be a mapping with address and asn"),
        (
            changed(bgp_peers=[{"address": "10.0.0.1", "asn": 65000}, {"address": "10.0.0.1", "asn": 65001}]),
            {},
            "bgp_peers[1].address on host lb1 10.0.0.1 is bgp_peers[0] too",
        ),
        (
            changed(bgp_peers=[{"address": "192.0.2.1", "asn": 65000}]),
            {},
            "bgp_peers[0].address on host lb1 192.0.2.1 is one of bgp_service_addresses, not a router",
        ),
        (
            changed(bgp_peers=[{"address": "10.0.0.1", "asn": 65000, "password": "x" * 81}]),
            {},
            "bgp_peers[0].password on host lb1 must be 1-80 printable ASCII characters",
        ),
        (
            changed(bgp_service_addresses=["192.0.2.1"]),
            {},
            "bgp_service_addresses on host lb1 must list host routes only, address/32 (IPv4) or address/128 (IPv6): "
            "not 192.0.2.1",
        ),
        (
            changed(bgp_service_addresses=["192.0.2.1/32", "192.0.2.1/32"]),
            {},
            "bgp_service_addresses on host lb1 lists an address twice",
        ),
        (
            changed(bgp_service_addresses="192.0.2.1/32"),
            {},
            "bgp_service_addresses on host lb1 must be a non-empty list",
        ),
        (
            changed(bgp_bfd={"receive_interval": 300, "transmit_interval": 60001, "detect_multiplier": 3}),
            {},
            "bgp_bfd.transmit_interval on host lb1 must be 10-60000 ms, what FRR's bfdd accepts (got 60001)",
        ),
        (
            changed(bgp_bfd={"receive_interval": 300, "transmit_interval": 300, "detect_multiplier": 256}),
            {},
            "bgp_bfd.detect_multiplier on host lb1 must be 2-255, what FRR's bfdd accepts (got 256)",
        ),
    ],
)
def test_each_bad_input_gives_its_message(node: dict, others: dict, message: str) -> None:
    problems = bgp_problems("lb1", node, others)
    assert len(problems) == 1, problems
    assert message in problems[0], problems[0]


def test_several_problems_are_all_reported() -> None:
    problems = bgp_problems("lb1", changed(bgp_local_asn=0, bgp_peers=[{"address": "x", "asn": 0}]), {})
    assert [p.split(" on host")[0] for p in problems] == ["bgp_local_asn", "bgp_peers[0].address", "bgp_peers[0].asn"]


def test_input_that_is_no_mapping_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="node must be a mapping, got list"):
        bgp_problems("lb1", [], {})  # type: ignore[arg-type]
