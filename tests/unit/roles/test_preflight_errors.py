"""Bad input is refused before it touches a host: each role's preflight fails with one clear message that
names the variable (or the item) and the host. One table row per bad input, each run through Ansible."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "tests" / "playbooks" / "preflight" / "run_preflight.yml"
INVENTORY = REPO / "tests" / "playbooks" / "preflight" / "inventory.yml"

SERVER = {"name": "w1", "address": "192.0.2.21", "port": 8080, "capacity": 2}
HAPROXY = {
    "haproxy_frontends": [{"name": "web_in", "bind": ["192.0.2.100:80"], "default_backend": "web"}],
    "haproxy_backends": [{"name": "web", "servers": [SERVER]}],
    "haproxy_stats_password": "secret",
}
NGINX = {
    "nginx_frontends": [{"name": "web", "listen": ["192.0.2.100:80"], "upstream": "web"}],
    "nginx_upstreams": [{"name": "web", "servers": [SERVER]}],
}
INSTANCE = {"name": "VI_1", "interface": "eth0", "virtual_router_id": 51, "vips": ["192.0.2.100/24"]}
KEEPALIVED = {"keepalived_instances": [INSTANCE]}


def with_(base: dict, **changes) -> dict:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


def servers(**changes) -> list[dict]:
    return [{"name": "web", "servers": [with_(SERVER, **changes)]}]


CASES = [
    (
        "haproxy",
        "no frontends",
        with_(HAPROXY, haproxy_frontends=[]),
        "haproxy_frontends and haproxy_backends must each list at least one item (host localhost",
    ),
    (
        "haproxy",
        "duplicate backend names",
        with_(HAPROXY, haproxy_backends=HAPROXY["haproxy_backends"] * 2),
        "haproxy_frontends and haproxy_backends need unique names (host localhost",
    ),
    (
        "haproxy",
        "frontend pointing at no backend",
        with_(HAPROXY, haproxy_frontends=[{"name": "web_in", "bind": ["192.0.2.100:80"], "default_backend": "nope"}]),
        "haproxy_frontends item 'web_in' on host localhost needs",
    ),
    (
        "haproxy",
        "backend without servers",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "servers": []}]),
        "haproxy_backends item 'web' on host localhost needs a non-empty servers list",
    ),
    ("haproxy", "port out of range", with_(HAPROXY, haproxy_backends=servers(port=70000)), "and a port 1-65535 each"),
    (
        "haproxy",
        "duplicate server names",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "servers": [SERVER, SERVER]}]),
        "haproxy_backends item 'web' on host localhost needs a non-empty servers list with unique names",
    ),
    (
        "haproxy",
        "stats page without credentials",
        with_(HAPROXY, haproxy_stats_password=""),
        "haproxy_stats_enabled is true on host localhost but haproxy_stats_user or haproxy_stats_password is empty",
    ),
    (
        "haproxy",
        "negative capacity",
        with_(HAPROXY, haproxy_backends=servers(capacity=-3)),
        "haproxy_backends item 'web' on host localhost: backends[0] 'w1' has a negative capacity: -3",
    ),
    (
        "haproxy",
        "unknown server state",
        with_(HAPROXY, haproxy_backends=servers(state="paused")),
        "haproxy_backends item 'web' on host localhost: backends[0] 'w1' has an unknown state 'paused'",
    ),
    (
        "haproxy",
        "unknown balance algorithm for HAProxy",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "balance": "fastest", "servers": [SERVER]}]),
        "haproxy_backends item 'web' on host localhost: balance 'fastest' is not one of roundrobin, random, "
        "leastconn, source, hash (HAProxy also takes its own static-rr, first",
    ),
    (
        "nginx",
        "TLS certificate without its key",
        with_(
            NGINX,
            nginx_frontends=[
                {
                    "name": "web",
                    "listen": ["192.0.2.100:443"],
                    "upstream": "web",
                    "tls": {"certificate": "/etc/ssl/web.pem"},
                }
            ],
        ),
        "and a tls block with both certificate and key when it terminates TLS",
    ),
    (
        "nginx",
        "unknown balance algorithm",
        with_(NGINX, nginx_upstreams=[{"name": "web", "balance": "fastest", "servers": [SERVER]}]),
        "nginx_upstreams item 'web' on host localhost: balance 'fastest' is not one of roundrobin, random, "
        "leastconn, source, hash",
    ),
    (
        "nginx",
        "HAProxy's own algorithm asked of nginx",
        with_(NGINX, nginx_upstreams=[{"name": "web", "balance": "static-rr", "servers": [SERVER]}]),
        "nginx_upstreams item 'web' on host localhost: balance 'static-rr' is HAProxy's own; nginx does roundrobin",
    ),
    (
        "haproxy",
        "hash key of an unknown kind",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "balance": "hash", "hash_key": "body", "servers": [SERVER]}]),
        "haproxy_backends item 'web' on host localhost: hash_key must be uri, header:<name>, arg:<name> or "
        "cookie:<name>, got 'body'",
    ),
    (
        "keepalived",
        "virtual_router_id out of range",
        {"keepalived_instances": [with_(INSTANCE, virtual_router_id=300)]},
        "keepalived_instances item 'VI_1' on host localhost: needs an interface, virtual_router_id 1-255 (got 300)",
    ),
    (
        "keepalived",
        "VIP not an address",
        {"keepalived_instances": [with_(INSTANCE, vips=["not-an-ip"])]},
        "vips as address/prefix (got ['not-an-ip'])",
    ),
    (
        "keepalived",
        "sub-second adverts with VRRPv2",
        with_(KEEPALIVED, keepalived_advert_int=0.5),
        "with VRRPv2 a whole-second advert_int (got 0.5",
    ),
    (
        "keepalived",
        "the same virtual_router_id twice on one interface",
        {"keepalived_instances": [INSTANCE, with_(INSTANCE, name="VI_2", vips=["192.0.2.101/24"])]},
        "keepalived_instances on host localhost: 'VI_1' and 'VI_2' both use virtual_router_id 51 on interface eth0",
    ),
    (
        "keepalived",
        "VIP outside every subnet of its interface",
        {"keepalived_instances": [with_(INSTANCE, interface="lo")]},
        "keepalived_instances item 'VI_1' on host localhost: VIP 192.0.2.100 lies outside every subnet of "
        "interface lo (127.0.0.1/8)",
    ),
    (
        "keepalived",
        "VIP interface missing on the host",
        {"keepalived_instances": [with_(INSTANCE, interface="lbstack-none0")]},
        "keepalived_instances item 'VI_1': interface lbstack-none0 does not exist on host localhost",
    ),
    (
        "keepalived",
        "equal priorities on two nodes",
        with_(KEEPALIVED, keepalived_priority_step=0),
        "keepalived priorities {'localhost': 200, 'peer': 200} (host localhost) must lie in 1-254 and differ",
    ),
    (
        "keepalived",
        "priority out of range",
        with_(KEEPALIVED, keepalived_priority_base=300),
        "keepalived priorities {'localhost': 300, 'peer': 290} (host localhost) must lie in 1-254",
    ),
    (
        "keepalived",
        "check weight that leaves a failing master above a backup",
        with_(KEEPALIVED, keepalived_check_weight=-5),
        "keepalived_check_weight=-5 must be 0 (FAULT on failure) or negative with an absolute value above 10",
    ),
    (
        "keepalived",
        "VRRPv2 password too long",
        with_(KEEPALIVED, keepalived_auth_pass="much-too-long"),
        "keepalived_auth_pass on host localhost is longer than the 8 characters VRRPv2 carries",
    ),
    (
        "keepalived",
        "unicast peer without an address",
        with_(KEEPALIVED, keepalived_unicast=True),
        "unicast VRRP on host localhost: no address known for ['VI_1/localhost', 'VI_1/peer']",
    ),
]


def test_the_table_covers_at_least_fifteen_bad_inputs() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize(("role", "name", "variables", "message"), CASES, ids=[c[1] for c in CASES])
def test_preflight_refuses_bad_input(tmp_path: Path, role: str, name: str, variables: dict, message: str) -> None:
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"lbstack_test_role": role, **variables}))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(INVENTORY),
            str(PLAYBOOK),
            "-e",
            f"@{extra}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2, f"{name}: the preflight accepted it (rc {run.returncode}):\n{run.stdout[-2000:]}"
    result = json.loads(run.stdout)
    failed_tasks = [
        [outcome.get("msg", "") for outcome in task_result.get("results", [task_result]) if outcome.get("failed")]
        for play in result["plays"]
        for task in play["tasks"]
        for task_result in task["hosts"].values()
    ]
    failed_tasks = [msgs for msgs in failed_tasks if msgs]
    # A refusal by the filters is rescued and reported again, naming the variable and the host: the rescued
    # task's own error is not a second check.
    rescued = sum(stats.get("rescued", 0) for stats in result["stats"].values())
    failures = [msg for msgs in failed_tasks[rescued:] for msg in msgs]
    assert len(failures) == 1, f"{name}: expected one failed check, got {failures}"
    assert message in failures[0], f"{name}: {failures[0]!r}"
