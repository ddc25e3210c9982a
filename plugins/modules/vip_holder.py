#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vip_holder
short_description: Report whether this host holds a VIP, optionally waiting until it does or does not
version_added: 0.1.0
author: lbstack maintainers (@lbstack)
description:
  - Reads the host's addresses with C(ip -o addr show) (iproute2) and reports whether O(address) is configured
    on one of its interfaces.
  - Holding means an exact address match. A prefix does not count; C(127.0.0.2) is not held although
    C(127.0.0.1/8) routes it to C(lo), and C(192.0.2.11) is not held because C(192.0.2.10/24) is.
  - With O(wait_for=present) or O(wait_for=absent) it looks again every O(interval) seconds until the VIP is
    held or released, and fails when O(timeout) passes first, so a playbook waits with a deadline, never a
    blind sleep.
  - Run it on every load balancer and count the holders to check that exactly one holds the VIP.
  - A read-only probe; it never changes anything and always returns C(changed=false).
requirements:
  - the C(ip) command of iproute2 on the host
options:
  address:
    description:
      - The VIP, an IPv4 or IPv6 address. A prefix length (C(192.0.2.10/24), as keepalived's
        C(virtual_ipaddress) takes it) is accepted and ignored.
    type: str
    required: true
  interface:
    description: Only look at this interface (an interface that does not exist holds nothing).
    type: str
  wait_for:
    description:
      - C(any) reports at once.
      - C(present) looks until the host holds the VIP, C(absent) until it does not; both fail after
        O(timeout).
    type: str
    choices: [any, present, absent]
    default: any
  timeout:
    description: Deadline in seconds for O(wait_for); above 0, at most 3600.
    type: float
    default: 30
  interval:
    description: Seconds between two looks while waiting; above 0, at most 60.
    type: float
    default: 0.1
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads only; it runs in check mode too.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: lbstack.ha.lb_gap_probe
"""

EXAMPLES = r"""
- name: Which load balancers hold the VIP
  lbstack.ha.vip_holder:
    address: 192.0.2.10
  register: vip
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"

- name: Exactly one holds it
  ansible.builtin.assert:
    that: vip.results | selectattr('holds') | list | length == 1

- name: Wait until the backup has taken the VIP
  lbstack.ha.vip_holder:
    address: 192.0.2.10
    interface: eth0
    wait_for: present
    timeout: 10
  delegate_to: lb2
"""

RETURN = r"""
holds:
  description: Whether the host holds the address (exact match, on O(interface) if given).
  type: bool
  returned: always
  sample: true
interfaces:
  description: Interfaces the address is configured on.
  type: list
  elements: str
  returned: always
  sample: [eth0]
addresses:
  description: Every IPv4 and IPv6 address of the host, by interface, as C(address/prefix).
  type: dict
  returned: always
  sample: {lo: [127.0.0.1/8, "::1/128"], eth0: [192.0.2.11/24, 192.0.2.10/32]}
waited:
  description: Seconds spent waiting (0 without O(wait_for)).
  type: float
  returned: always
  sample: 1.52
looks:
  description: Times the addresses were read.
  type: int
  returned: always
  sample: 16
"""

import ipaddress
import time

from ansible.module_utils.basic import AnsibleModule

MAX_TIMEOUT = 3600.0


ARGUMENT_SPEC = {
    "address": {"type": "str", "required": True},
    "interface": {"type": "str"},
    "wait_for": {"type": "str", "choices": ["any", "present", "absent"], "default": "any"},
    "timeout": {"type": "float", "default": 30.0},
    "interval": {"type": "float", "default": 0.1},
}


def parse_ip_addr(output: str) -> dict[str, list[str]]:
    """`ip -o addr show` lines into {interface: [address/prefix, ...]}."""
    addresses: dict[str, list[str]] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        interface = fields[1].split("@", 1)[0].rstrip(":")
        addresses.setdefault(interface, []).append(fields[3])
    return addresses


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address of `text`, a prefix length allowed and ignored; ValueError when it is not one."""
    return ipaddress.ip_interface(text.strip()).ip


def holders(addresses: dict[str, list[str]], address: str, interface: str | None = None) -> list[str]:
    """Interfaces on which `address` is configured, exactly (not merely inside a configured prefix)."""
    wanted = parse_address(address)
    found = []
    for name, cidrs in addresses.items():
        if interface and name != interface:
            continue
        for cidr in cidrs:
            try:
                held = ipaddress.ip_interface(cidr).ip
            except ValueError:  # a form this parser does not know: never a match
                continue
            if held == wanted:
                found.append(name)
                break
    return found


def look(
    read,
    address: str,
    interface: str | None,
    wait_for: str,
    timeout: float,
    interval: float,
    clock=time.monotonic,
    sleep=time.sleep,
) -> tuple[dict, str | None]:
    """Reads the addresses with `read()` until `wait_for` holds or `timeout` passes.

    Returns the figures and None, or the figures and the message of a missed deadline. Bounded in time by
    `timeout` and in count by timeout / interval + 2 looks.
    """
    start = clock()
    max_looks = int(timeout / interval) + 2
    looks = 0
    while True:
        addresses = read()
        looks += 1
        found = holders(addresses, address, interface)
        waited = clock() - start
        result = {
            "holds": bool(found),
            "interfaces": found,
            "addresses": addresses,
            "waited": round(waited, 3),
            "looks": looks,
        }
        if wait_for == "any" or (wait_for == "present") == bool(found):
            return result, None
        if waited >= timeout or looks >= max_looks:
            where = f" on {interface}" if interface else ""
            if wait_for == "present":
                return result, f"{address} was not held{where} within {timeout:g} s"
            return result, f"{address} was still held on {', '.join(found)} after {timeout:g} s"
        sleep(max(0.0, min(interval, timeout - waited)))


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        parse_address(p["address"])
    except ValueError:
        module.fail_json(msg=f"address must be an IPv4 or IPv6 address, got {p['address']!r}")
    if not 0 < p["timeout"] <= MAX_TIMEOUT:
        module.fail_json(msg=f"timeout must be above 0 and at most {MAX_TIMEOUT:g} s, got {p['timeout']}")
    if not 0 < p["interval"] <= 60:
        module.fail_json(msg=f"interval must be above 0 and at most 60 s, got {p['interval']}")
    ip_cmd = module.get_bin_path("ip")
    if not ip_cmd:
        module.fail_json(msg="the ip command is missing on this host; vip_holder needs iproute2")

    def read() -> dict[str, list[str]]:
        rc, out, err = module.run_command([ip_cmd, "-o", "addr", "show"])
        if rc != 0:
            module.fail_json(msg=f"ip -o addr show failed (rc {rc}): {err.strip()}")
        return parse_ip_addr(out)

    result, missed = look(read, p["address"], p["interface"], p["wait_for"], p["timeout"], p["interval"])
    if missed:
        module.fail_json(msg=missed, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
