"""The harness works: each backend container serves its own name at its fixed address, reachable from
its neighbour across the scenario's docker network."""

from __future__ import annotations

import os

import testinfra.utils.ansible_runner

ADDRESSES = {"default-web1": "172.29.10.21", "default-web2": "172.29.10.22"}
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(
    "backends"
)


def test_fixed_address(host):
    name = host.backend.get_hostname()
    assert f"inet {ADDRESSES[name]}/24" in host.check_output("ip -o -4 addr show")


def test_backend_runs_as_unprivileged_user(host):
    procs = host.process.filter(comm="python3")
    servers = [p for p in procs if "lbstack-backend" in p.args]
    assert len(servers) == 1, servers
    assert servers[0].user == "lbstack-backend"


def test_neighbour_answers_with_its_name(host):
    name = host.backend.get_hostname()
    for other, address in ADDRESSES.items():
        if other == name:
            continue
        out = host.run(f"curl -fsS -D - --max-time 5 http://{address}:8080/")
        assert out.rc == 0, out.stderr
        assert out.stdout.rstrip().splitlines()[-1] == other
        assert f"X-Backend: {other}" in out.stdout
