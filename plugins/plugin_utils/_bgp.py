# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The BGP anycast contract of one balancer, checked: pure, typed logic without Ansible.

bgp_problems() is behind the filter lbstack.ha.bgp_problems (plugins/filter/bgp.py). It returns one sentence per
problem, each naming the variable and the host, so the bgp role's preflight can refuse the input with them
before anything changes. The limits are FRR 8.4's (Debian 12): what `vtysh --dryrun` refuses is refused here
first, with a message that says why, and clashes between balancers (which no single config check sees) too.
"""

from __future__ import annotations

import ipaddress
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

ASN_MIN = 1
ASN_MAX = 4_294_967_295
"""4-byte ASNs (RFC 6793); 0 is reserved and FRR refuses it."""

AS_TRANS = 23456
"""RFC 6793's AS_TRANS stands in for 4-byte ASNs on old speakers; no router may use it as its own."""

BFD_INTERVAL_MIN = 10
BFD_INTERVAL_MAX = 60_000
"""FRR 8.4 bfdd's receive-interval and transmit-interval range, milliseconds."""

BFD_MULTIPLIER_MIN = 2
BFD_MULTIPLIER_MAX = 255
"""FRR 8.4 bfdd's detect-multiplier range."""

PASSWORD_MAX = 80
"""TCP MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)."""

_PASSWORD_PATTERN = re.compile(r"^[\x21-\x7e]+$")
"""Printable ASCII without spaces: the password ends up as one word on a line of frr.conf."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _asn_problem(value: Any) -> str | None:
    if not _is_int(value) or not ASN_MIN <= value <= ASN_MAX:
        return f"must be an integer {ASN_MIN}-{ASN_MAX} (got {value!r})"
    if value == AS_TRANS:
        return f"must not be {AS_TRANS} (AS_TRANS, reserved by RFC 6793)"
    return None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _router_id(value: Any) -> ipaddress.IPv4Address | None:
    address = _address(value)
    if not isinstance(address, ipaddress.IPv4Address) or address == ipaddress.IPv4Address(0):
        return None
    return address


def _host_prefix(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An address/32 (IPv4) or address/128 (IPv6) as a host network; else None (a bare address too: the prefix
    length goes into frr.conf and the watcher's checks as written)."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None
    return network if network.prefixlen == network.max_prefixlen else None


def bgp_problems(host: str, node: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every problem of one balancer's BGP settings, one sentence each naming the variable and `host`.

    node: this host's bgp_local_asn, bgp_router_id, bgp_peers (list of {address, asn, password?}),
    bgp_service_addresses (list of address/32 or address/128) and bgp_bfd ({receive_interval,
    transmit_interval, detect_multiplier}, milliseconds). others: the other balancers by name, each with at
    least its bgp_router_id, to refuse a router id used twice. An empty list means the input is good.
    """
    if not isinstance(node, Mapping):
        raise TypeError(f"node must be a mapping, got {type(node).__name__}")
    if not isinstance(others, Mapping):
        raise TypeError(f"others must be a mapping, got {type(others).__name__}")
    problems: list[str] = []

    def refuse(variable: str, why: str) -> None:
        problems.append(f"{variable} on host {host} {why}")

    asn = node.get("bgp_local_asn")
    why = _asn_problem(asn)
    if why:
        refuse("bgp_local_asn", why)

    router_id = node.get("bgp_router_id")
    if _router_id(router_id) is None:
        refuse("bgp_router_id", f"must be an IPv4 address other than 0.0.0.0 (got {router_id!r})")
    else:
        clashes = sorted(
            name for name, other in others.items() if name != host and other.get("bgp_router_id") == router_id
        )
        if clashes:
            refuse(
                "bgp_router_id",
                f"is {router_id}, the router id of {', '.join(clashes)} too: each balancer needs its own "
                "(a router drops a BGP session whose router id is its own or a current peer's)",
            )

    services = node.get("bgp_service_addresses")
    service_networks = []
    if isinstance(services, str) or not isinstance(services, Sequence) or not services:
        refuse("bgp_service_addresses", f"must be a non-empty list of address/32 or address/128 (got {services!r})")
    else:
        bad = [s for s in services if _host_prefix(s) is None]
        service_networks = [n for n in (_host_prefix(s) for s in services) if n is not None]
        if bad:
            refuse(
                "bgp_service_addresses",
                f"must list host routes only, address/32 (IPv4) or address/128 (IPv6): not {', '.join(map(str, bad))}",
            )
        elif len(set(service_networks)) != len(service_networks):
            refuse("bgp_service_addresses", f"lists an address twice ({', '.join(map(str, services))})")

    peers = node.get("bgp_peers")
    if isinstance(peers, (str, Mapping)) or not isinstance(peers, Sequence) or not peers:
        refuse("bgp_peers", f"must list at least one upstream router (got {peers!r})")
    else:
        seen: dict[str, int] = {}
        for index, peer in enumerate(peers):
            label = f"bgp_peers[{index}]"
            if not isinstance(peer, Mapping):
                refuse(label, f"must be a mapping with address and asn (got {peer!r})")
                continue
            address = _address(peer.get("address"))
            if address is None:
                refuse(f"{label}.address", f"must be an IPv4 or IPv6 address (got {peer.get('address')!r})")
            else:
                if str(address) in seen:
                    refuse(f"{label}.address", f"{address} is bgp_peers[{seen[str(address)]}] too")
                seen.setdefault(str(address), index)
                if any(address in network for network in service_networks):
                    refuse(f"{label}.address", f"{address} is one of bgp_service_addresses, not a router")
            why = _asn_problem(peer.get("asn"))
            if why:
                refuse(f"{label}.asn", why)
            password = peer.get("password")
            if password is not None and (
                not isinstance(password, str)
                or not _PASSWORD_PATTERN.match(password)
                or len(password.encode()) > PASSWORD_MAX
            ):
                refuse(
                    f"{label}.password",
                    f"must be 1-{PASSWORD_MAX} printable ASCII characters without spaces (TCP MD5 key)",
                )

    bfd = node.get("bgp_bfd")
    if not isinstance(bfd, Mapping):
        refuse("bgp_bfd", f"must be a mapping of receive_interval, transmit_interval, detect_multiplier (got {bfd!r})")
    else:
        for key in ("receive_interval", "transmit_interval"):
            value = bfd.get(key)
            if not _is_int(value) or not BFD_INTERVAL_MIN <= value <= BFD_INTERVAL_MAX:
                refuse(
                    f"bgp_bfd.{key}",
                    f"must be {BFD_INTERVAL_MIN}-{BFD_INTERVAL_MAX} ms, what FRR's bfdd accepts (got {value!r})",
                )
        value = bfd.get("detect_multiplier")
        if not _is_int(value) or not BFD_MULTIPLIER_MIN <= value <= BFD_MULTIPLIER_MAX:
            refuse(
                "bgp_bfd.detect_multiplier",
                f"must be {BFD_MULTIPLIER_MIN}-{BFD_MULTIPLIER_MAX}, what FRR's bfdd accepts (got {value!r})",
            )
    return problems
