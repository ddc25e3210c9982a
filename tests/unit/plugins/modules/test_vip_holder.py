"""vip_holder: parsing `ip -o addr show`, exact matching, waiting with a deadline (fake clock), and the real
module on this host (127.0.0.1 is held on lo, 127.0.0.254 is not) in this process and through Ansible."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbstack.ha.plugins.modules import vip_holder as module
from ansible_collections.lbstack.ha.plugins.modules.vip_holder import holders, look, parse_ip_addr

needs_ip = pytest.mark.skipif(shutil.which("ip") is None, reason="no ip command (iproute2) on this host")

# Captured from a keepalived master (Debian 12 container) and edited to carry the odd forms too.
IP_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
29: eth0    inet 172.29.20.11/24 brd 172.29.20.255 scope global eth0\\       valid_lft forever preferred_lft 0
29: eth0    inet 172.29.20.100/32 scope global eth0\\       valid_lft forever preferred_lft forever
29: eth0    inet6 fd00:0:0:0::64/64 scope global nodad \\       valid_lft forever preferred_lft forever
29: eth0    inet6 fe80::42:acff:fe1d:140b/64 scope link \\       valid_lft forever preferred_lft forever
30: eth1@if31    inet 10.0.0.5/8 scope global eth1\\       valid_lft forever preferred_lft forever
31: tun0    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0\\       valid_lft forever preferred_lft forever
"""


def run_main(args: dict[str, Any]) -> tuple[int, dict]:
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        module.main()
    return exit_.value.code, json.loads(out.getvalue())


def test_parse_ip_addr() -> None:
    assert parse_ip_addr(IP_ADDR) == {
        "lo": ["127.0.0.1/8", "::1/128"],
        "eth0": ["172.29.20.11/24", "172.29.20.100/32", "fd00:0:0:0::64/64", "fe80::42:acff:fe1d:140b/64"],
        "eth1": ["10.0.0.5/8"],
        "tun0": ["10.8.0.1"],
    }
    assert parse_ip_addr("") == {}
    assert parse_ip_addr("2: eth0    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff\n") == {}


@pytest.mark.parametrize(
    ("address", "interface", "found"),
    [
        ("172.29.20.100", None, ["eth0"]),
        ("172.29.20.100/24", None, ["eth0"]),  # a prefix length is ignored
        ("172.29.20.100", "eth0", ["eth0"]),
        ("172.29.20.100", "eth1", []),
        ("172.29.20.101", None, []),  # inside 172.29.20.11/24, but not configured
        ("127.0.0.2", None, []),  # inside 127.0.0.1/8, but not configured
        ("127.0.0.1", None, ["lo"]),
        ("::1", None, ["lo"]),
        ("FD00::64", None, ["eth0"]),  # IPv6 compared as addresses, not as text
        ("10.8.0.1", None, ["tun0"]),  # a point-to-point address, no prefix
        ("10.8.0.2", None, []),  # its peer is not held
        ("10.0.0.5", "eth1@if31", []),  # interfaces by name only
    ],
)
def test_holding_is_an_exact_match(address: str, interface: str | None, found: list[str]) -> None:
    assert holders(parse_ip_addr(IP_ADDR), address, interface) == found


def test_an_address_on_two_interfaces_is_reported_on_both() -> None:
    assert holders({"eth0": ["192.0.2.10/24"], "eth1": ["192.0.2.10/32"]}, "192.0.2.10") == ["eth0", "eth1"]


class FakeHost:
    """A host whose addresses change at given looks, and a clock that moves only when the module sleeps."""

    def __init__(self, states: list[dict[str, list[str]]]) -> None:
        self.states = states
        self.reads = 0
        self.now = 100.0
        self.slept: list[float] = []

    def read(self) -> dict[str, list[str]]:
        self.reads += 1
        return self.states[min(self.reads, len(self.states)) - 1]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


WITHOUT = {"eth0": ["192.0.2.11/24"]}
WITH = {"eth0": ["192.0.2.11/24", "192.0.2.10/32"]}


def wait(host: FakeHost, wait_for: str, timeout: float = 2.0, interval: float = 0.5) -> tuple[dict, Any]:
    vip = "192.0.2.10"
    return look(host.read, vip, None, wait_for, timeout, interval, clock=host.clock, sleep=host.sleep)


def test_waiting_for_the_vip_to_appear() -> None:
    host = FakeHost([WITHOUT, WITHOUT, WITH])
    result, missed = wait(host, "present")
    assert missed is None and result["holds"] is True and result["interfaces"] == ["eth0"]
    assert result["looks"] == 3 and result["waited"] == 1.0 and host.slept == [0.5, 0.5]


def test_waiting_for_the_vip_to_go() -> None:
    host = FakeHost([WITH, WITHOUT])
    result, missed = wait(host, "absent")
    assert missed is None and result["holds"] is False and result["looks"] == 2


def test_a_missed_deadline_says_so() -> None:
    host = FakeHost([WITHOUT])
    result, missed = wait(host, "present", timeout=1.2)
    assert missed == "192.0.2.10 was not held within 1.2 s"
    assert result["holds"] is False and result["waited"] == 1.2
    assert host.slept == [0.5, 0.5, pytest.approx(0.2)]
    result, missed = wait(FakeHost([WITH]), "absent", timeout=1)
    assert missed == "192.0.2.10 was still held on eth0 after 1 s" and result["holds"] is True


def test_waiting_is_bounded_in_looks_even_if_the_clock_stands_still() -> None:
    host = FakeHost([WITHOUT])
    frozen = 5.0
    result, missed = look(host.read, "192.0.2.10", None, "present", 1.0, 0.25, lambda: frozen, host.sleep)
    assert missed is not None and result["looks"] == host.reads == 6  # timeout / interval + 2


def test_any_looks_once() -> None:
    host = FakeHost([WITHOUT, WITH])
    result, missed = wait(host, "any")
    assert missed is None and result["holds"] is False and host.reads == 1 and host.slept == []


# --- the real module on this host -------------------------------------------------------------------------


@needs_ip
def test_this_host_holds_127_0_0_1_on_lo_and_not_127_0_0_254() -> None:
    code, result = run_main({"address": "127.0.0.1"})
    assert code == 0 and result["changed"] is False
    assert result["holds"] is True and result["interfaces"] == ["lo"]
    assert "127.0.0.1/8" in result["addresses"]["lo"]
    code, result = run_main({"address": "127.0.0.254", "_ansible_check_mode": True})
    assert code == 0 and result["holds"] is False and result["interfaces"] == []
    code, result = run_main({"address": "127.0.0.1", "interface": "eth9"})
    assert code == 0 and result["holds"] is False


@needs_ip
def test_documentation_matches_the_code(documentation) -> None:
    code, result = run_main({"address": "127.0.0.1"})
    assert code == 0
    documentation(module, result)


@needs_ip
def test_a_real_wait_fails_at_its_deadline() -> None:
    args = {"address": "127.0.0.254", "wait_for": "present", "timeout": 0.3, "interval": 0.05}
    code, result = run_main(args)
    assert code == 1 and result["msg"] == "127.0.0.254 was not held within 0.3 s"
    assert 0.3 <= result["waited"] < 0.5 and result["looks"] >= 3
    code, result = run_main({"address": "127.0.0.1", "wait_for": "absent", "timeout": 0.2})
    assert code == 1 and result["msg"] == "127.0.0.1 was still held on lo after 0.2 s"
    code, result = run_main({"address": "127.0.0.1", "wait_for": "present", "timeout": 0.2})
    assert code == 0 and result["holds"] is True and result["looks"] == 1


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"address": "192.0.2.300"}, "address must be an IPv4 or IPv6 address, got '192.0.2.300'"),
        ({"address": "lb1"}, "address must be an IPv4 or IPv6 address, got 'lb1'"),
        ({"timeout": 0}, "timeout must be above 0 and at most 3600 s, got 0.0"),
        ({"interval": 61}, "interval must be above 0 and at most 60 s, got 61.0"),
        ({"wait_for": "held"}, "value of wait_for must be one of: any, present, absent, got: held"),
        ({"address": None}, "missing required arguments: address"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(args: dict[str, Any], msg: str) -> None:
    full = {"address": "127.0.0.1", **args}
    code, result = run_main({k: v for k, v in full.items() if v is not None})
    assert code == 1 and result["msg"] == msg


def test_a_host_without_ip_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    code, result = run_main({"address": "127.0.0.1"})
    assert code == 1 and result["msg"] == "the ip command is missing on this host; vip_holder needs iproute2"


def test_a_failing_ip_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/sbin/ip")
    failing = (1, "", "Cannot open netlink\n")
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, args, **k: failing)
    code, result = run_main({"address": "127.0.0.1"})
    assert code == 1 and result["msg"] == "ip -o addr show failed (rc 1): Cannot open netlink"


# --- through Ansible --------------------------------------------------------------------------------------


@needs_ip
def test_through_ansible(playbook) -> None:
    run, got = playbook(
        [
            {"lbstack.ha.vip_holder": {"address": "127.0.0.1"}, "register": "held"},
            {"lbstack.ha.vip_holder": {"address": "127.0.0.254"}, "register": "not_held", "check_mode": True},
            {
                "lbstack.ha.vip_holder": {"address": "127.0.0.254", "wait_for": "present", "timeout": 0.3},
                "register": "deadline",
                "ignore_errors": True,
            },
        ]
    )
    assert run.returncode == 0, run.stdout + run.stderr
    held, deadline = got["held"], got["deadline"]
    assert held["holds"] is True and held["interfaces"] == ["lo"] and held["changed"] is False
    assert got["not_held"]["holds"] is False
    assert deadline["failed"] is True and deadline["msg"] == "127.0.0.254 was not held within 0.3 s"


def oldest_python() -> str | None:
    """A Python 3.9 interpreter (the oldest the modules support) on this machine, if there is one."""
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.9.*/bin/python3.9"))]
    candidates += [shutil.which("python3.9") or ""]
    for python in filter(None, candidates):
        check = [python, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 9))"]
        if subprocess.run(check, capture_output=True, timeout=30, check=False).returncode == 0:
            return python
    return None


@needs_ip
def test_all_three_modules_run_under_python_3_9(playbook, servers) -> None:
    """The modules and their module_utils run on the oldest Python they promise, through Ansible."""
    python = oldest_python()
    if python is None:
        pytest.skip("no Python 3.9 on this machine")
    server = servers(["web1", "web2"])
    run, got = playbook(
        [
            {"lbstack.ha.vip_holder": {"address": "127.0.0.1"}, "register": "holder"},
            {
                "lbstack.ha.lb_traffic_count": {"url": server.url, "count": 4, "keepalive": True},
                "register": "count",
            },
            {"lbstack.ha.lb_gap_probe": {"url": server.url, "duration": 0.2}, "register": "gap"},
            {"ansible.builtin.setup": {"gather_subset": ["!all", "!min", "python"]}, "register": "facts"},
        ],
        interpreter=python,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert got["facts"]["ansible_facts"]["ansible_python"]["version"]["minor"] == 9
    assert got["holder"]["holds"] is True
    assert got["count"]["counts"] == {"web1": 2, "web2": 2} and got["count"]["connections"] == 1
    assert got["gap"]["failures"] == 0 and got["gap"]["succeeded"] > 5
