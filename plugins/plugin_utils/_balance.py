# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared balancing vocabulary of a pool, and what each engine renders for it.

Pure and typed: raises ValueError or TypeError with a message that names the pool; the filter wrapper
(plugins/filter/balance.py) turns them into AnsibleFilterError. A combination an engine cannot do is
refused, never replaced by something close.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

ENGINES = ("haproxy", "nginx")

#: The shared vocabulary, every engine does each of these.
ALGORITHMS = ("roundrobin", "random", "leastconn", "source", "hash")

#: HAProxy's own algorithms, passed through as written (with hash_type when given); nginx refuses them.
HAPROXY_NATIVE = ("static-rr", "first", "uri", "url_param", "hdr", "rdp-cookie")

#: Keys a hash pool can hash on: kind -> (HAProxy balance line, nginx variable); {} is the key's name.
HASH_KEYS = {
    "uri": ("balance uri whole", "$request_uri"),
    "header": ("balance hdr({})", "$http_{}"),
    "arg": ("balance url_param {}", "$arg_{}"),
    "cookie": ("balance hash req.cook({})", "$cookie_{}"),
}

_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_ARG_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_HASH_TYPES = ("map-based", "consistent")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(pool: str, field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"pool '{pool}': {field} must be a string, got {_type_name(value)}")
    return value.strip()


def parse_hash_key(pool: str, hash_key: Any) -> tuple[str, str]:
    """Split a hash key such as ``uri``, ``header:X-Tenant``, ``arg:id`` or ``cookie:session``."""
    text = _text(pool, "hash_key", hash_key)
    kind, _separator, name = text.partition(":")
    if kind not in HASH_KEYS or (kind == "uri") != (name == ""):
        raise ValueError(
            f"pool '{pool}': hash_key must be uri, header:<name>, arg:<name> or cookie:<name>, got '{text}'"
        )
    pattern = _HEADER_NAME if kind == "header" else _ARG_NAME
    if name and not pattern.match(name):
        allowed = "letters, digits and dashes" if kind == "header" else "letters, digits and underscores"
        raise ValueError(f"pool '{pool}': the {kind} name in hash_key '{text}' may hold only {allowed}")
    return kind, name


def _consistent(pool: str, spec: Mapping[str, Any], algorithm: str) -> bool:
    value = spec.get("hash_consistent", True)
    if not isinstance(value, bool):
        raise TypeError(f"pool '{pool}': hash_consistent must be true or false, got {_type_name(value)}")
    if "hash_consistent" in spec and algorithm != "hash":
        raise ValueError(f"pool '{pool}': hash_consistent is only used with balance hash, not '{algorithm}'")
    return value


def balance_directives(pool: Any, engine: Any) -> dict[str, Any]:
    """What ``engine`` renders for the pool's ``balance``, ``hash_key``, ``hash_consistent``, ``hash_type``.

    Returns ``algorithm`` (the pool's balance), ``lines`` (the directives, in order) and ``ring`` (true when
    the engine places servers on a hash ring, where HAProxy needs large weights for exact shares).
    """
    if not isinstance(pool, Mapping):
        raise TypeError(f"a pool must be a mapping, got {_type_name(pool)}")
    name = pool.get("name", "?")
    if engine not in ENGINES:
        raise ValueError(f"pool '{name}': engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    algorithm = _text(name, "balance", pool.get("balance", "roundrobin"))
    base = re.sub(r"\(.*$", "", algorithm.split(" ")[0])
    if base not in ALGORITHMS and base not in HAPROXY_NATIVE:
        raise ValueError(
            f"pool '{name}': balance '{algorithm}' is not one of {', '.join(ALGORITHMS)}"
            f" (HAProxy also takes its own {', '.join(HAPROXY_NATIVE)})"
        )
    if "hash_key" in pool and algorithm != "hash":
        raise ValueError(f"pool '{name}': hash_key is only used with balance hash, not '{algorithm}'")
    consistent = _consistent(name, pool, algorithm)
    hash_type = pool.get("hash_type")
    if engine == "nginx":
        return _nginx(name, pool, algorithm, base, consistent, hash_type)
    return _haproxy(name, pool, algorithm, base, consistent, hash_type)


def _nginx(name: str, pool: Mapping[str, Any], algorithm: str, base: str, consistent: bool, hash_type: Any) -> dict:
    if base in HAPROXY_NATIVE or algorithm != base:
        raise ValueError(f"pool '{name}': balance '{algorithm}' is HAProxy's own; nginx does {', '.join(ALGORITHMS)}")
    if hash_type is not None:
        raise ValueError(f"pool '{name}': hash_type is HAProxy's own; with nginx use hash_consistent")
    servers = pool.get("servers") or []
    backups = [s.get("name", "?") for s in servers if isinstance(s, Mapping) and s.get("state") == "backup"]
    if backups and algorithm in ("random", "source", "hash"):
        raise ValueError(
            f"pool '{name}': nginx cannot combine balance '{algorithm}' with backup servers ({', '.join(backups)});"
            " it can with roundrobin and leastconn"
        )
    # Not ip_hash: it keys on the first three octets of an IPv4 client, so a whole /24 lands on one server.
    lines = {
        "roundrobin": [],
        "random": ["random"],
        "leastconn": ["least_conn"],
        "source": ["hash $remote_addr consistent"],
    }.get(algorithm)
    if lines is None:
        if pool.get("mode", "http") != "http":
            raise ValueError(f"pool '{name}': balance hash hashes a request key, which needs mode http")
        kind, key = parse_hash_key(name, pool.get("hash_key", "uri"))
        variable = HASH_KEYS[kind][1].format(key.lower().replace("-", "_"))
        lines = [f"hash {variable}" + (" consistent" if consistent else "")]
    return {"algorithm": algorithm, "lines": lines, "ring": algorithm in ("source", "hash") and consistent}


def _haproxy(name: str, pool: Mapping[str, Any], algorithm: str, base: str, consistent: bool, hash_type: Any) -> dict:
    if hash_type is not None:
        hash_type = _text(name, "hash_type", hash_type)
        if hash_type.split(" ")[0] not in _HASH_TYPES:
            raise ValueError(f"pool '{name}': hash_type must start with map-based or consistent, got '{hash_type}'")
        if "hash_consistent" in pool:
            raise ValueError(f"pool '{name}': give hash_type or hash_consistent, not both")
    if algorithm == "hash":
        if pool.get("mode", "http") != "http":
            raise ValueError(f"pool '{name}': balance hash hashes a request key, which needs mode http")
        kind, key = parse_hash_key(name, pool.get("hash_key", "uri"))
        hash_type = hash_type or ("consistent" if consistent else "map-based")
        lines = [HASH_KEYS[kind][0].format(key), f"hash-type {hash_type}"]
    elif algorithm == "source":
        hash_type = hash_type or "consistent"
        lines = ["balance source", f"hash-type {hash_type}"]
    else:
        lines = [f"balance {algorithm}"] + ([f"hash-type {hash_type}"] if hash_type else [])
    # random draws on the consistent-hash ring whatever hash-type says.
    ring = base == "random" or (hash_type or "").startswith("consistent")
    return {"algorithm": algorithm, "lines": lines, "ring": ring}


def sequence_periods(order: Any, max_period: Any) -> list[int]:
    """The periods p (1..max_period) with order[i] == order[i + p] for every i: round robin answers have one
    (the cycle of the weights), random answers none."""
    if isinstance(order, (str, bytes, Mapping)) or not isinstance(order, Sequence):
        raise TypeError(f"order must be a list, got {_type_name(order)}")
    if isinstance(max_period, bool) or not isinstance(max_period, int) or max_period < 1:
        raise ValueError(f"max_period must be an integer of at least 1, got {max_period!r}")
    if len(order) < 2 * max_period:
        raise ValueError(
            f"order holds {len(order)} answers; judging periods up to {max_period} needs at least {2 * max_period}"
        )
    return [p for p in range(1, max_period + 1) if all(order[i] == order[i + p] for i in range(len(order) - p))]
