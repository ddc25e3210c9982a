"""The nginx role's upstream `zone` holds every server of its pool: a real `nginx -t` accepts the role's
upstreams.conf for pools of 1 to 1,000 servers (the largest with long IPv6 addresses), and refuses the same
1,000-server pool with the 64 KiB zone the template once hard-coded (ngx_slab_alloc() failed: no memory in
upstream zone). An upstream keepalive of 0 renders no `keepalive` directive (nginx refuses `keepalive 0`).

upstreams.conf.j2 is rendered as the role renders it: Jinja2 with Ansible's template settings and filters,
the pool weighted by lbstack.ha.pool_weights and its directives from lbstack.ha.balance_directives,
the role's defaults as variables. It is checked inside a minimal nginx.conf under a temporary prefix by the
nginx binary scripts/fetch-nginx unpacks into .cache/nginx (or LBSTACK_NGINX). Without it the test fails, as
test_wrr_matches_nginx does: it must not pass by skipping. `nginx -t` only reads files and maps shared
memory; it listens nowhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule as AnsibleCoreFilters
from real_nginx import nginx_t

from ansible_collections.lbstack.ha.plugins.filter.balance import FilterModule as BalanceFilters
from ansible_collections.lbstack.ha.plugins.filter.weights import FilterModule as WeightFilters

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "nginx"
# Only what the template needs from Ansible: its `default`, `map` and the like expect its own templating.
FILTERS = {
    "comment": AnsibleCoreFilters().filters()["comment"],
    **WeightFilters().filters(),
    **BalanceFilters().filters(),
}


def servers(count: int, ipv6: bool = False) -> list[dict[str, Any]]:
    """`count` servers of unequal capacity, the last ones backup and drain as pools have them."""
    out = []
    for i in range(count):
        v6 = f"[2001:db8:ffff:ffff:ffff:ffff:{i // 65536:x}:{i % 65536:x}]"
        address = v6 if ipv6 else f"10.1.{i // 250}.{i % 250 + 1}"
        state = "backup" if count > 2 and i == count - 1 else "drain" if count > 3 and i == count - 2 else "active"
        out.append({"name": f"s{i}", "address": address, "port": 65535, "capacity": 1 + i % 7, "state": state})
    return out


def render(pool_servers: list[dict[str, Any]], **overrides: Any) -> str:
    """lbstack/upstreams.conf as the role renders it for one pool "web" with these servers."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = {**defaults, **overrides}
    pool = {"name": "web", "balance": "roundrobin", "servers": pool_servers}
    weighted = FILTERS["pool_weights"](pool_servers, "nginx", False, variables["nginx_max_weight"])["servers"]
    directives = FILTERS["balance_directives"](pool, "nginx")
    assert not directives["ring"]
    upstream = {**pool, "servers": weighted, "balance_lines": directives["lines"]}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        trim_blocks=True,  # what ansible.builtin.template does
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    template = env.get_template("lbstack/upstreams.conf.j2")
    return template.render(**variables, ansible_managed="Ansible managed", __nginx_weighted_upstreams=[upstream])


def nginx_test(tmp_path: Path, upstreams: str) -> subprocess.CompletedProcess[str]:
    """`nginx -t` of a minimal nginx.conf (two workers) that includes `upstreams` and proxies one port to it."""
    (tmp_path / "upstreams.conf").write_text(upstreams)
    http = """    include upstreams.conf;
    server {
        listen 127.0.0.1:9;
        location / { proxy_pass http://web; }
    }"""
    return nginx_t(tmp_path, http, main="worker_processes 2;")


def zone_line(config: str) -> str:
    lines = [line.strip() for line in config.splitlines() if line.strip().startswith("zone ")]
    assert len(lines) == 1, config[:2000]
    return lines[0]


@pytest.mark.parametrize(
    ("count", "ipv6", "zone"),
    [
        pytest.param(1, False, "64k", id="1"),
        pytest.param(3, False, "64k", id="3"),
        pytest.param(64, True, "96k", id="64 IPv6 (a 64k zone fails from about 56)"),
        pytest.param(200, False, "232k", id="200"),
        pytest.param(1000, False, "1032k", id="1000"),
        pytest.param(1000, True, "1032k", id="1000 IPv6"),
    ],
)
def test_the_automatic_zone_holds_the_pool(tmp_path: Path, count: int, ipv6: bool, zone: str) -> None:
    config = render(servers(count, ipv6))
    assert zone_line(config) == f"zone web {zone};"
    assert len(re.findall(r"^\s*server ", config, re.MULTILINE)) == count
    run = nginx_test(tmp_path, config)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_old_64k_zone_fails_for_1000_servers(tmp_path: Path) -> None:
    """The same 1,000-server pool with the size the template hard-coded: nginx -t refuses it."""
    config = render(servers(1000), nginx_upstream_zone_size="64k")
    assert zone_line(config) == "zone web 64k;"
    run = nginx_test(tmp_path, config)
    assert run.returncode != 0
    assert "no memory in upstream zone" in run.stderr, run.stderr[-2000:]


def test_a_fixed_zone_size_is_rendered_as_given(tmp_path: Path) -> None:
    config = render(servers(1000), nginx_upstream_zone_size="2m")
    assert zone_line(config) == "zone web 2m;"
    assert nginx_test(tmp_path, config).returncode == 0


def test_keepalive_0_renders_no_keepalive(tmp_path: Path) -> None:
    with_keepalive = render(servers(3))
    assert "    keepalive 32;\n" in with_keepalive
    without = render(servers(3), nginx_upstream_keepalive=0)
    assert "keepalive" not in without
    run = nginx_test(tmp_path, without)
    assert run.returncode == 0, run.stderr[-2000:]
