"""balance_directives maps the shared algorithm vocabulary to each engine and refuses what an engine cannot do;
sequence_periods tells round robin answers from random ones. The nginx directives are also checked by a real
nginx (`nginx -t`, the binary unpacked by scripts/fetch-nginx), so a rendered pool is one nginx accepts."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import real_nginx
from ansible.errors import AnsibleFilterError

from ansible_collections.lbstack.ha.plugins.filter import balance as plugin
from ansible_collections.lbstack.ha.plugins.plugin_utils import _balance as core

FILTERS: dict[str, Callable[..., Any]] = plugin.FilterModule().filters()
balance_directives = FILTERS["balance_directives"]
sequence_periods = FILTERS["sequence_periods"]


def pool(**fields: Any) -> dict[str, Any]:
    return {"name": "web", **fields}


RENDERED = [
    # (pool fields, HAProxy lines, HAProxy ring, nginx lines, nginx ring)
    ({}, ["balance roundrobin"], False, [], False),
    ({"balance": "random"}, ["balance random"], True, ["random"], False),
    ({"balance": "leastconn"}, ["balance leastconn"], False, ["least_conn"], False),
    (
        {"balance": "source"},
        ["balance source", "hash-type consistent"],
        True,
        ["hash $remote_addr consistent"],
        True,
    ),
    (
        {"balance": "hash"},
        ["balance uri whole", "hash-type consistent"],
        True,
        ["hash $request_uri consistent"],
        True,
    ),
    (
        {"balance": "hash", "hash_key": "header:X-Tenant-Id"},
        ["balance hdr(X-Tenant-Id)", "hash-type consistent"],
        True,
        ["hash $http_x_tenant_id consistent"],
        True,
    ),
    (
        {"balance": "hash", "hash_key": "arg:user_id", "hash_consistent": False},
        ["balance url_param user_id", "hash-type map-based"],
        False,
        ["hash $arg_user_id"],
        False,
    ),
    (
        {"balance": "hash", "hash_key": "cookie:session"},
        ["balance hash req.cook(session)", "hash-type consistent"],
        True,
        ["hash $cookie_session consistent"],
        True,
    ),
]


@pytest.mark.parametrize(("fields", "haproxy", "haproxy_ring", "nginx", "nginx_ring"), RENDERED)
def test_each_algorithm_renders_for_both_engines(
    fields: dict, haproxy: list[str], haproxy_ring: bool, nginx: list[str], nginx_ring: bool
) -> None:
    expected_algorithm = fields.get("balance", "roundrobin")
    assert balance_directives(pool(**fields), "haproxy") == {
        "algorithm": expected_algorithm,
        "lines": haproxy,
        "ring": haproxy_ring,
    }
    assert balance_directives(pool(**fields), "nginx") == {
        "algorithm": expected_algorithm,
        "lines": nginx,
        "ring": nginx_ring,
    }


@pytest.mark.parametrize(
    ("fields", "lines", "ring"),
    [
        ({"balance": "static-rr"}, ["balance static-rr"], False),
        ({"balance": "first"}, ["balance first"], False),
        ({"balance": "hdr(Host)", "hash_type": "consistent"}, ["balance hdr(Host)", "hash-type consistent"], True),
        ({"balance": "url_param id", "hash_type": "map-based"}, ["balance url_param id", "hash-type map-based"], False),
        ({"balance": "source", "hash_type": "map-based"}, ["balance source", "hash-type map-based"], False),
        ({"balance": "random(3)"}, ["balance random(3)"], True),
    ],
)
def test_haproxy_takes_its_own_algorithms_as_written(fields: dict, lines: list[str], ring: bool) -> None:
    result = balance_directives(pool(**fields), "haproxy")
    assert (result["lines"], result["ring"]) == (lines, ring)


REFUSED = [
    ("nginx", {"balance": "static-rr"}, "pool 'web': balance 'static-rr' is HAProxy's own; nginx does roundrobin"),
    ("nginx", {"balance": "hdr(Host)"}, "pool 'web': balance 'hdr(Host)' is HAProxy's own"),
    ("nginx", {"balance": "random(3)"}, "pool 'web': balance 'random(3)' is HAProxy's own"),
    (
        "nginx",
        {"balance": "hash", "hash_type": "consistent"},
        "hash_type is HAProxy's own; with nginx use hash_consistent",
    ),
    (
        "haproxy",
        {"balance": "wrr"},
        "pool 'web': balance 'wrr' is not one of roundrobin, random, leastconn, source, hash",
    ),
    ("nginx", {"balance": "ip_hash"}, "pool 'web': balance 'ip_hash' is not one of"),
    ("haproxy", {"hash_key": "uri"}, "pool 'web': hash_key is only used with balance hash, not 'roundrobin'"),
    ("nginx", {"balance": "source", "hash_key": "uri"}, "hash_key is only used with balance hash, not 'source'"),
    ("nginx", {"balance": "random", "hash_consistent": False}, "hash_consistent is only used with balance hash"),
    (
        "haproxy",
        {"balance": "hash", "hash_key": "path"},
        "hash_key must be uri, header:<name>, arg:<name> or cookie:<name>",
    ),
    ("nginx", {"balance": "hash", "hash_key": "header:"}, "hash_key must be uri, header:<name>"),
    ("nginx", {"balance": "hash", "hash_key": "uri:x"}, "hash_key must be uri, header:<name>"),
    (
        "nginx",
        {"balance": "hash", "hash_key": "header:X Bad"},
        "the header name in hash_key 'header:X Bad' may hold only",
    ),
    ("haproxy", {"balance": "hash", "hash_key": "arg:a-b"}, "may hold only letters, digits and underscores"),
    ("haproxy", {"balance": "hash", "mode": "tcp"}, "balance hash hashes a request key, which needs mode http"),
    ("haproxy", {"balance": "source", "hash_type": "ring"}, "hash_type must start with map-based or consistent"),
    (
        "haproxy",
        {"balance": "hash", "hash_type": "consistent", "hash_consistent": True},
        "give hash_type or hash_consistent, not both",
    ),
    ("haproxy", {"balance": 3}, "pool 'web': balance must be a string, got int"),
    ("nginx", {"balance": "hash", "hash_consistent": "yes"}, "hash_consistent must be true or false, got str"),
    ("apache", {}, "pool 'web': engine must be one of haproxy, nginx, got 'apache'"),
    (
        "nginx",
        {"balance": "random", "servers": [{"name": "a", "state": "active"}, {"name": "b", "state": "backup"}]},
        "pool 'web': nginx cannot combine balance 'random' with backup servers (b); it can with roundrobin",
    ),
    (
        "nginx",
        {"balance": "hash", "servers": [{"name": "a", "state": "backup"}]},
        "nginx cannot combine balance 'hash' with backup servers (a)",
    ),
]


@pytest.mark.parametrize("balance", ["roundrobin", "leastconn"])
def test_backup_servers_are_kept_where_nginx_takes_them(balance: str) -> None:
    servers = [{"name": "a", "state": "active"}, {"name": "b", "state": "backup"}]
    assert balance_directives(pool(balance=balance, servers=servers), "nginx")["algorithm"] == balance
    assert balance_directives(pool(balance="random", servers=servers), "haproxy")["lines"] == ["balance random"]


@pytest.mark.parametrize(("engine", "fields", "message"), REFUSED)
def test_what_an_engine_cannot_do_is_refused_with_the_pool_named(engine: str, fields: dict, message: str) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        balance_directives(pool(**fields), engine)
    assert message in str(caught.value)


def test_a_pool_must_be_a_mapping() -> None:
    with pytest.raises(AnsibleFilterError, match="a pool must be a mapping, got list"):
        balance_directives([], "nginx")


def test_core_raises_only_value_and_type_errors() -> None:
    with pytest.raises(ValueError):
        core.balance_directives(pool(balance="nope"), "nginx")
    with pytest.raises(TypeError):
        core.balance_directives(pool(balance=None), "nginx")


def test_sequence_periods_finds_the_round_robin_cycle_and_its_multiples() -> None:
    cycle = ["a", "b", "a", "c", "a", "b", "a"]
    assert sequence_periods(cycle * 4, 14) == [7, 14]
    assert sequence_periods(["a"] * 10, 3) == [1, 2, 3]


def test_sequence_periods_finds_none_in_random_answers() -> None:
    rng = random.Random(7)
    answers = rng.choices(["a", "b", "c"], weights=[4, 2, 1], k=700)
    assert sequence_periods(answers, 14) == []


@pytest.mark.parametrize(
    ("order", "max_period", "message"),
    [
        ("abab", 1, "order must be a list, got str"),
        (["a", "b"], 0, "max_period must be an integer of at least 1, got 0"),
        (["a", "b"], True, "max_period must be an integer of at least 1, got True"),
        (["a", "b", "a"], 2, "order holds 3 answers; judging periods up to 2 needs at least 4"),
    ],
)
def test_sequence_periods_refuses_bad_input(order: Any, max_period: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        sequence_periods(order, max_period)
    assert message in str(caught.value)


def nginx_t(tmp_path: Path, lines: list[str], servers: str) -> subprocess.CompletedProcess:
    """`nginx -t` of a config whose upstream holds these balancing lines and server lines."""
    directives = "".join(f"        {line};\n" for line in lines)
    return real_nginx.nginx_t(
        tmp_path,
        f"""    upstream web {{
        zone web 64k;
{directives}{servers}
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:1;
        location / {{ proxy_pass http://web; }}
    }}""",
    )


@pytest.mark.parametrize(("fields", "_haproxy", "_haproxy_ring", "_nginx", "_nginx_ring"), RENDERED)
def test_a_real_nginx_accepts_every_rendered_pool(
    tmp_path: Path, fields: dict, _haproxy: Any, _haproxy_ring: Any, _nginx: Any, _nginx_ring: Any
) -> None:
    lines = balance_directives(pool(**fields), "nginx")["lines"]
    run = nginx_t(tmp_path, lines, "        server 127.0.0.1:1 weight=4;\n        server 127.0.0.1:2 weight=2;")
    assert run.returncode == 0, f"nginx -t refused {lines!r}:\n{run.stderr}"


@pytest.mark.parametrize("balance", ["random", "source", "hash"])
def test_a_real_nginx_refuses_backup_servers_where_the_filter_does(tmp_path: Path, balance: str) -> None:
    lines = balance_directives(pool(balance=balance), "nginx")["lines"]
    run = nginx_t(tmp_path, lines, "        server 127.0.0.1:1;\n        server 127.0.0.1:2 backup;")
    assert run.returncode != 0 and 'does not support parameter "backup"' in run.stderr, run.stderr
