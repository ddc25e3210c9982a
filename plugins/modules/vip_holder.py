#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vip_holder
short_description: Report whether this host holds a VIP, optionally waiting until it does or does not
version_added: 0.1.0
author: lbstack maintainers
description:
  - Reads the host's addresses with C(ip -o addr show) (iproute2) and reports whether O(address) is configured
    on one of its interfaces (an exact address match; C(127.0.0.2) is not held because C(127.0.0.1/8) is).
  - With O(wait_for=present) or O(wait_for=absent) it polls every O(interval) seconds until the VIP is held or
    released, and fails when O(timeout) passes first, so a playbook waits with a deadline, never a blind sleep.
  - Run it on every load balancer and count the holders to check that exactly one holds the VIP.
  - A read-only probe; it never changes anything.
options:
  address:
    description: The VIP, an IPv4 or IPv6 address without prefix length.
    type: str
    required: true
  interface:
    description: Only look at this interface.
    type: str
  wait_for:
    description: C(any) reports at once; C(present) or C(absent) poll until the VIP is held or released.
    type: str
    choices: [any, present, absent]
    default: any
  timeout:
    description: Deadline in seconds for O(wait_for).
    type: float
    default: 30
  interval:
    description: Seconds between two looks while waiting.
    type: float
    default: 0.1
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Which load balancers hold the VIP
  lbstack.ha.vip_holder:
    address: 192.0.2.10
  register: vip

- name: Wait until the backup has taken the VIP
  lbstack.ha.vip_holder:
    address: 192.0.2.10
    wait_for: present
    timeout: 10
"""

RETURN = r"""
holds:
  description: Whether the host holds the address.
  type: bool
  returned: always
interfaces:
  description: Interfaces the address is configured on.
  type: list
  elements: str
  returned: always
addresses:
  description: Every address of the host, by interface (C(address/prefix)).
  type: dict
  returned: always
waited:
  description: Seconds spent waiting.
  type: float
  returned: always
"""

import ipaddress
import time

from ansible.module_utils.basic import AnsibleModule


def parse_ip_addr(output: str) -> dict[str, list[str]]:
    """`ip -o addr show` lines into {interface: [address/prefix, ...]}."""
    addresses: dict[str, list[str]] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        interface = fields[1].split("@", 1)[0]
        addresses.setdefault(interface, []).append(fields[3])
    return addresses


def holders(addresses: dict[str, list[str]], address: str, interface: str | None = None) -> list[str]:
    wanted = ipaddress.ip_address(address)
    found = []
    for name, cidrs in addresses.items():
        if interface and name != interface:
            continue
        if any(ipaddress.ip_interface(cidr).ip == wanted for cidr in cidrs):
            found.append(name)
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "str", "required": True},
            "interface": {"type": "str"},
            "wait_for": {"type": "str", "choices": ["any", "present", "absent"], "default": "any"},
            "timeout": {"type": "float", "default": 30.0},
            "interval": {"type": "float", "default": 0.1},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        ipaddress.ip_address(p["address"])
    except ValueError:
        module.fail_json(msg=f"address must be an IPv4 or IPv6 address without prefix, got {p['address']!r}")
    if not 0 < p["timeout"] <= 3600 or not 0 < p["interval"] <= 60:
        module.fail_json(
            msg=f"timeout must lie within 0..3600 and interval within 0..60 s, got {p['timeout']}, {p['interval']}"
        )
    ip_cmd = module.get_bin_path("ip")
    if not ip_cmd:
        module.fail_json(msg="the ip command (iproute2) is missing on this host")

    start = time.monotonic()
    while True:
        rc, out, err = module.run_command([ip_cmd, "-o", "addr", "show"])
        if rc != 0:
            module.fail_json(msg=f"ip -o addr show failed (rc {rc}): {err.strip()}")
        addresses = parse_ip_addr(out)
        found = holders(addresses, p["address"], p["interface"])
        waited = time.monotonic() - start
        result = {"holds": bool(found), "interfaces": found, "addresses": addresses, "waited": round(waited, 3)}
        done = p["wait_for"] == "any" or (p["wait_for"] == "present") == bool(found)
        if done:
            module.exit_json(changed=False, **result)
        if waited >= p["timeout"]:
            state = "held" if p["wait_for"] == "present" else "released"
            module.fail_json(msg=f"{p['address']} was not {state} within {p['timeout']:g} s", **result)
        time.sleep(p["interval"])


if __name__ == "__main__":
    main()
