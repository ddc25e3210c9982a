"""The example inventories in docs/examples/ parse, follow the README's inventory contract and pass what
site.yml checks before it changes anything (the VIP and engine, every role variable against its argument
specs, the engine role's and keepalived's preflight), run through Ansible without reaching a host."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "docs" / "examples"
PLAYBOOK = REPO / "tests" / "playbooks" / "examples" / "preflight.yml"
BIN = Path(sys.executable).parent
ENV = dict(
    os.environ,
    ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
    ANSIBLE_NOCOLOR="1",
    ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
)
# Stand-ins for what the examples keep in a vault, and no connection to any host.
OFFLINE = {
    "ansible_connection": "local",
    "ansible_become": False,
    "ansible_python_interpreter": sys.executable,
    "vault_lbstack_stats_password": "example",
    "vault_keepalived_auth_pass": "example",
}
ENGINES = ["haproxy", "nginx"]


def inventory(engine: str) -> dict:
    run = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(EXAMPLES / f"inventory-{engine}.yml"), "--list"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(run.stdout)


def preflight(tmp_path: Path, engine: str, **extra) -> tuple[int, list[str]]:
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps({**OFFLINE, **extra}))
    run = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(EXAMPLES / f"inventory-{engine}.yml"),
            str(PLAYBOOK),
            "-e",
            f"@{extra_file}",
        ],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(run.stdout)
    failures = [
        outcome.get("msg", "")
        for play in result["plays"]
        for task in play["tasks"]
        for task_result in task["hosts"].values()
        for outcome in task_result.get("results", [task_result])
        if outcome.get("failed")
    ]
    return run.returncode, failures


@pytest.mark.parametrize("engine", ENGINES)
def test_example_follows_the_inventory_contract(engine: str) -> None:
    data = inventory(engine)
    hostvars = data["_meta"]["hostvars"]
    lbs = data["loadbalancers"]["hosts"]
    backends = data["backends"]["hosts"]
    assert len(lbs) >= 2, lbs
    assert len(backends) >= 2, backends
    for host in lbs + backends:
        hv = hostvars[host]
        assert hv["lbstack_engine"] == engine, host
        assert re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}/\d{1,2}", hv["lbstack_vip"]), host
        assert 1 <= int(hv["lbstack_virtual_router_id"]) <= 255, host
        assert hv["lbstack_vip_interface"], host
        assert hv["lbstack_demo_backends"] is False, f"{host}: real servers get no demo backend"
    for host in backends:
        hv = hostvars[host]
        assert re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}", hv["lbstack_backend_address"]), host
        assert 1 <= int(hv["lbstack_backend_port"]) <= 65535, host
        assert hv["lbstack_capacity"] > 0, host
        assert hv.get("lbstack_backend_state", "active") in ["active", "backup", "drain", "down"], host
    # Secrets are only referred to, never written in the example.
    text = (EXAMPLES / f"inventory-{engine}.yml").read_text()
    for line in text.splitlines():
        if re.match(r"\s*(lbstack_stats_password|keepalived_auth_pass):", line):
            assert "{{ vault_" in line, line


def test_the_nginx_example_uses_the_fast_profile_and_unicast_peers() -> None:
    data = inventory("nginx")
    hostvars = data["_meta"]["hostvars"]
    for host in data["loadbalancers"]["hosts"]:
        hv = hostvars[host]
        assert hv["keepalived_vrrp_version"] == 3, host
        assert hv["keepalived_advert_int"] < 1, host
        assert hv["keepalived_unicast"] is True, host
        assert re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}", hv["keepalived_unicast_address"]), host


@pytest.mark.parametrize("engine", ENGINES)
def test_example_passes_the_preflight(tmp_path: Path, engine: str) -> None:
    rc, failures = preflight(tmp_path, engine)
    assert (rc, failures) == (0, [])


def test_the_preflight_run_catches_a_bad_role_variable(tmp_path: Path) -> None:
    rc, failures = preflight(tmp_path, "nginx", keepalived_vrrp_version=4)
    assert rc == 2
    assert failures, "a VRRP version outside the argument spec's choices was accepted"
    assert all("keepalived_vrrp_version" in failure for failure in failures), failures


def test_the_preflight_run_catches_a_cross_field_error(tmp_path: Path) -> None:
    rc, failures = preflight(tmp_path, "haproxy", keepalived_advert_int=0.5)
    assert rc == 2
    assert failures, "a sub-second advert with VRRPv2 was accepted"
    assert all("whole-second advert_int" in failure for failure in failures), failures
