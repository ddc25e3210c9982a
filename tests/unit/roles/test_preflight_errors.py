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
import yaml

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
BGP = {
    "bgp_local_asn": 65010,
    "bgp_router_id": "192.0.2.11",
    "bgp_peers": [{"address": "192.0.2.1", "asn": 65000}],
    "bgp_service_addresses": ["198.51.100.1/32"],
}
HOSTS = ["localhost", "peer", "spare"]
# An instance on the stand-in networks of facts() below, independent of this machine's own addresses.
LAB_INSTANCE = {"name": "VI_1", "interface": "eth0", "virtual_router_id": 51, "vips": ["10.9.0.100/24"]}


def facts(**interfaces: str) -> dict:
    """lbstack_test_facts: stand-ins for a host's network facts, interfaces with one IPv4 address each (given as
    address/prefix); run_preflight.yml sets them as the host's facts, so no host is reached."""
    out: dict = {"interfaces": ["lo", *interfaces]}
    for name, cidr in interfaces.items():
        address, prefix = cidr.split("/")
        out[name] = {"device": name, "ipv4": {"address": address, "prefix": prefix}}
    return {"lbstack_test_facts": out}


def per_host(common: dict, *, both: bool = True, **hosts: dict) -> dict:
    """A row with values per host (read by each host from its own file, below the row's extra vars) and run on
    localhost and peer when `both`; only localhost's failure is asserted."""
    return {**common, "_host_vars": hosts, "_hosts": "localhost:peer" if both else "localhost"}


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
        "maxconn beyond the open files limit",
        with_(HAPROXY, haproxy_maxconn=100_000_000),
        # 2 x maxconn, plus 100 and 2 for each of the bind, the stats listener and the server.
        "haproxy_maxconn=100000000 (maxconn 100000000) needs about 200000106 open files but the hard limit on host "
        "localhost is",
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
        "haproxy",
        "frontend port out of range",
        with_(HAPROXY, haproxy_frontends=[{"name": "web_in", "bind": ["192.0.2.100:70000"], "default_backend": "web"}]),
        "haproxy_frontends item 'web_in' on host localhost needs a non-empty bind list of address:port with ports",
    ),
    (
        "nginx",
        "TLS older than 1.2",
        with_(NGINX, nginx_tls_protocols="TLSv1 TLSv1.2"),
        "nginx_tls_protocols on host localhost may only name TLSv1.2 and TLSv1.3 (got 'TLSv1 TLSv1.2')",
    ),
    (
        "nginx",
        "backup server with random balancing",
        with_(
            NGINX,
            nginx_upstreams=[
                {"name": "web", "balance": "random", "servers": [SERVER, dict(SERVER, name="w2", state="backup")]}
            ],
        ),
        "nginx_upstreams item 'web' on host localhost: nginx cannot combine balance 'random' with backup servers (w2)",
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
        "negative gratuitous ARP refresh",
        with_(KEEPALIVED, keepalived_garp_master_refresh=-5),
        "keepalived_garp_master_refresh on host localhost must be 0 (no refresh) or more seconds (got -5)",
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
        "proxy events file whose name would end the unit's shell command",
        with_(KEEPALIVED, keepalived_proxy_events_file="/run/down'; rm -rf /; '"),
        "keepalived_proxy_events_file on host localhost must be an absolute path of letters, digits and . _ / - only"
        " (got \"/run/down'; rm -rf /; '\")",
    ),
    (
        "keepalived",
        "unicast peer without an address",
        with_(KEEPALIVED, keepalived_unicast=True),
        "unicast VRRP on host localhost: no address known for ['VI_1/localhost', 'VI_1/peer']",
    ),
    (
        "keepalived",
        "VIP with an octet above 255",
        {"keepalived_instances": [with_(INSTANCE, vips=["999.1.1.1/24"])]},
        "keepalived_instances item 'VI_1' on host localhost: needs an interface, virtual_router_id 1-255 (got 51), "
        "vips as address/prefix (got ['999.1.1.1/24']) with octets 0-255 and a prefix 0-32, not 999.1.1.1/24",
    ),
    (
        "keepalived",
        "VIP with a prefix above 32",
        {"keepalived_instances": [with_(INSTANCE, vips=["192.0.2.100/24", "192.0.2.101/40"])]},
        "with octets 0-255 and a prefix 0-32, not 192.0.2.101/40,",
    ),
    (
        "keepalived",
        "two unicast peers with one address",
        with_(KEEPALIVED, keepalived_unicast=True, keepalived_unicast_address="192.0.2.50"),
        "unicast VRRP on host localhost: peers share an address (instance 'VI_1': 192.0.2.50 on localhost, peer)",
    ),
    (
        "keepalived",
        "asymmetric unicast: the peer has it off",
        per_host(
            {"keepalived_instances": [INSTANCE]},
            localhost={"keepalived_unicast": True, "keepalived_unicast_address": "10.9.0.1"},
            peer={"keepalived_unicast": False, "keepalived_unicast_address": "10.9.0.2"},
        ),
        "host localhost disagrees with peer 'peer': instance 'VI_1' unicast (keepalived_unicast) is on for "
        "localhost and off for peer",
    ),
    (
        "keepalived",
        "unicast peer list that is not the peer's source address (interfaces named differently)",
        per_host(
            {"keepalived_unicast": True},
            # Each host looks the other up on its own instance's interface name: the wrong network.
            localhost={
                "keepalived_instances": [LAB_INSTANCE],
                **facts(eth0="10.9.0.1/24", ens3="10.6.0.1/24"),
            },
            peer={
                "keepalived_instances": [with_(LAB_INSTANCE, interface="ens3")],
                **facts(ens3="10.9.0.2/24", eth0="10.7.0.2/24"),
            },
        ),
        "host localhost disagrees with peer 'peer': instance 'VI_1': localhost lists peer as unicast peer 10.7.0.2 "
        "but peer sends from 10.9.0.2; instance 'VI_1': peer lists localhost as unicast peer 10.6.0.1 but "
        "localhost sends from 10.9.0.1",
    ),
    (
        "keepalived",
        "another VRRP version on the peer",
        per_host(
            {"keepalived_instances": [INSTANCE]},
            localhost={"keepalived_vrrp_version": 2},
            peer={"keepalived_vrrp_version": 3, "keepalived_advert_int": 0.1},
        ),
        "host localhost disagrees with peer 'peer': instance 'VI_1' vrrp_version (keepalived_vrrp_version): 2 on "
        "localhost, 3 on peer; instance 'VI_1' advert_int (keepalived_advert_int): 1.0 on localhost, 0.1 on peer",
    ),
    (
        "keepalived",
        "another VRRPv2 password on the peer",
        per_host(
            {"keepalived_instances": [INSTANCE]},
            localhost={"keepalived_auth_pass": "one"},
            peer={"keepalived_auth_pass": "other"},
        ),
        "host localhost disagrees with peer 'peer': keepalived_auth_pass differs (compared as a SHA-256 hash)",
    ),
    (
        "keepalived",
        "priorities computed differently on the peer",
        per_host({"keepalived_instances": [INSTANCE]}, peer={"keepalived_priority_base": 180}),
        "host localhost disagrees with peer 'peer': priority of localhost: 200 on localhost, 180 on peer "
        "(keepalived_priority, keepalived_priority_base or _step); priority of peer: 190 on localhost, 170 on peer",
    ),
    (
        "keepalived",
        "another group on the peer",
        per_host({"keepalived_instances": [INSTANCE]}, peer={"keepalived_group": "vrrp_three"}),
        "host localhost disagrees with peer 'peer': keepalived_group members: localhost, peer (group "
        "'loadbalancers') on localhost, localhost, peer, spare (group 'vrrp_three') on peer",
    ),
    (
        "keepalived",
        "keepalived_unicast_address that is not an address of the host",
        per_host(
            {"keepalived_unicast": True, "keepalived_instances": [LAB_INSTANCE]},
            both=False,
            localhost={"keepalived_unicast_address": "10.9.0.5", **facts(eth0="10.9.0.1/24")},
            peer={"keepalived_unicast_address": "10.9.0.2"},
        ),
        "keepalived_unicast_address 10.9.0.5 on host localhost is not an address of this host: unicast VRRP sends "
        "this host's adverts from it and the peers expect them from it (the host has 10.9.0.1)",
    ),
    # Characters that would end a directive or a line, in every kind of value that reaches a config.
    (
        "haproxy",
        "server name with a line break",
        with_(HAPROXY, haproxy_backends=servers(name="w1\nserver evil 203.0.113.9:80")),
        "haproxy_backends[0].servers[0].name 'w1\\nserver evil 203.0.113.9:80' holds a line break, which starts a "
        "new directive (host localhost): names, addresses, paths and header values must each be one token",
    ),
    (
        "haproxy",
        "server address ending the directive",
        with_(HAPROXY, haproxy_backends=servers(address="192.0.2.21;")),
        "haproxy_backends[0].servers[0].address '192.0.2.21;' holds ';', which ends a directive (host localhost)",
    ),
    (
        "haproxy",
        "health check path with a space",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "health_check": {"path": "/a b"}, "servers": [SERVER]}]),
        "haproxy_backends[0].health_check.path '/a b' holds a space, which splits the token in two (host localhost)",
    ),
    (
        "haproxy",
        "health check Host header with a comment sign",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "health_check": {"host": "a#b"}, "servers": [SERVER]}]),
        "haproxy_backends[0].health_check.host 'a#b' holds '#', which starts a comment (host localhost)",
    ),
    (
        "haproxy",
        "trusted proxy with a quote",
        with_(
            HAPROXY,
            haproxy_frontends=[
                {
                    "name": "web_in",
                    "bind": ["192.0.2.100:80"],
                    "default_backend": "web",
                    "trusted_proxies": ['10.0.0.0/8"'],
                }
            ],
        ),
        "haproxy_frontends[0].trusted_proxies[0] '10.0.0.0/8\"' holds a double quote (host localhost)",
    ),
    (
        "haproxy",
        "stats password with a line break (never printed)",
        with_(HAPROXY, haproxy_stats_password="secret\nstats admin if TRUE"),
        "haproxy_stats_password holds a line break or another control character (host localhost)",
    ),
    (
        "haproxy",
        "stats user with a colon",
        with_(HAPROXY, haproxy_stats_user="ad:min"),
        "haproxy_stats_user 'ad:min' on host localhost must not hold ':', which separates it from the password",
    ),
    (
        "haproxy",
        "unknown pool mode",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "mode": "udp", "servers": [SERVER]}]),
        "haproxy_backends item 'web' on host localhost needs a non-empty servers list with unique names, an address "
        "and a port 1-65535 each (a weight_override 0-256), and mode http or tcp",
    ),
    (
        "haproxy",
        "timeout that is not a duration",
        with_(HAPROXY, haproxy_backends=[{"name": "web", "timeouts": {"tunnel": "1 hour"}, "servers": [SERVER]}]),
        "haproxy_backends item 'web' on host localhost: timeouts may hold connect, server, client, tunnel, each a "
        "number with ms, s, m, h or d (got {'tunnel': '1 hour'})",
    ),
    (
        "nginx",
        "server name that injects directives through its comment line",
        with_(NGINX, nginx_upstreams=[{"name": "web", "servers": [dict(SERVER, name="w1\nserver 203.0.113.9:80;")]}]),
        "nginx_upstreams[0].servers[0].name 'w1\\nserver 203.0.113.9:80;' holds a line break, which starts a new "
        "directive (host localhost): names, addresses, paths and header values must each be one token",
    ),
    (
        "nginx",
        "frontend name opening a block",
        with_(NGINX, nginx_frontends=[{"name": "web{", "listen": ["192.0.2.100:80"], "upstream": "web"}]),
        "nginx_frontends[0].name 'web{' holds '{', which opens a block (host localhost)",
    ),
    (
        "nginx",
        "body limit that is not a size",
        with_(NGINX, nginx_upstreams=[{"name": "web", "body_limit": "1 GB", "servers": [SERVER]}]),
        "nginx_upstreams item 'web' on host localhost: timeouts may hold connect, server, client, tunnel, each a "
        "number with ms, s, m, h or d (got {}), body_limit a size such as 100m (got 1 GB)",
    ),
    (
        "nginx",
        "unknown pool mode",
        with_(NGINX, nginx_upstreams=[{"name": "web", "mode": "udp", "servers": [SERVER]}]),
        "nginx_upstreams item 'web' on host localhost has mode 'udp': it must be http or tcp",
    ),
    (
        "nginx",
        "TLS on a TCP pool",
        with_(
            NGINX,
            nginx_frontends=[
                {
                    "name": "web",
                    "listen": ["192.0.2.100:5432"],
                    "upstream": "web",
                    "tls": {"certificate": "/etc/ssl/db.pem", "key": "/etc/ssl/db.key"},
                }
            ],
            nginx_upstreams=[{"name": "web", "mode": "tcp", "servers": [SERVER]}],
        ),
        "has mode 'tcp': it must be http or tcp, and a tcp pool's frontends take no tls block",
    ),
    (
        "nginx",
        "hash balancing on a TCP pool",
        with_(NGINX, nginx_upstreams=[{"name": "web", "mode": "tcp", "balance": "hash", "servers": [SERVER]}]),
        "nginx_upstreams item 'web' on host localhost: balance hash hashes a request key, which needs mode http",
    ),
    (
        "keepalived",
        "VRRP instance name with a space",
        {"keepalived_instances": [with_(INSTANCE, name="VI 1")]},
        "keepalived_instances[0].name 'VI 1' holds a space, which splits the token in two (host localhost)",
    ),
    (
        "keepalived",
        "VRRPv2 password with a comment sign (never printed)",
        with_(KEEPALIVED, keepalived_auth_pass="pa#ss"),
        "keepalived_auth_pass holds a line break, a space, a quote, a backslash or one of ; { } # ! (host localhost)",
    ),
    (
        "bgp",
        "local ASN out of range",
        with_(BGP, bgp_local_asn=4294967296),
        "bgp_local_asn on host localhost must be an integer 1-4294967295 (got 4294967296)",
    ),
    ("bgp", "local ASN zero", with_(BGP, bgp_local_asn=0), "bgp_local_asn on host localhost must be an integer"),
    (
        "bgp",
        "AS_TRANS as the local ASN",
        with_(BGP, bgp_local_asn=23456),
        "bgp_local_asn on host localhost must not be 23456 (AS_TRANS, reserved by RFC 6793)",
    ),
    (
        "bgp",
        "peer that is not an address",
        with_(BGP, bgp_peers=[{"address": "router1.example", "asn": 65000}]),
        "bgp_peers[0].address on host localhost must be an IPv4 or IPv6 address (got 'router1.example')",
    ),
    (
        "bgp",
        "peer ASN out of range",
        with_(BGP, bgp_peers=[{"address": "192.0.2.1", "asn": -1}]),
        "bgp_peers[0].asn on host localhost must be an integer 1-4294967295 (got -1)",
    ),
    (
        "bgp",
        "peer password with a space",
        with_(BGP, bgp_peers=[{"address": "192.0.2.1", "asn": 65000, "password": "two words"}]),
        "bgp_peers[0].password on host localhost must be 1-80 printable ASCII characters without spaces",
    ),
    (
        "bgp",
        "BFD receive interval below what FRR accepts",
        with_(BGP, bgp_bfd={"receive_interval": 5, "transmit_interval": 300, "detect_multiplier": 3}),
        "bgp_bfd.receive_interval on host localhost must be 10-60000 ms, what FRR's bfdd accepts (got 5)",
    ),
    (
        "bgp",
        "BFD detect multiplier of 1",
        with_(BGP, bgp_bfd={"receive_interval": 300, "transmit_interval": 300, "detect_multiplier": 1}),
        "bgp_bfd.detect_multiplier on host localhost must be 2-255, what FRR's bfdd accepts (got 1)",
    ),
    (
        "bgp",
        "service address that is not a host route",
        with_(BGP, bgp_service_addresses=["198.51.100.0/24"]),
        "bgp_service_addresses on host localhost must list host routes only, address/32 (IPv4) or address/128 "
        "(IPv6): not 198.51.100.0/24",
    ),
    (
        "bgp",
        "router id that is not an IPv4 address",
        with_(BGP, bgp_router_id="2001:db8::1"),
        "bgp_router_id on host localhost must be an IPv4 address other than 0.0.0.0 (got '2001:db8::1')",
    ),
    (
        "bgp",
        "router id duplicated across balancers",
        per_host(BGP, both=False, peer={"bgp_router_id": "192.0.2.11"}),
        "bgp_router_id on host localhost is 192.0.2.11, the router id of peer too: each balancer needs its own",
    ),
]


# A host whose service manager the roles cannot drive is refused by every role's preflight, naming the host.
CASES += [
    (
        role,
        f"{role} on a host run by OpenRC",
        {**variables, "lbstack_test_facts": {"service_mgr": "openrc"}},
        "host localhost runs its services with 'openrc', which the lbstack roles do not support: they need systemd, "
        "or Debian's SysV init scripts on a host without it",
    )
    for role, variables in (("haproxy", HAPROXY), ("nginx", NGINX), ("keepalived", KEEPALIVED), ("backend", {}))
]
# An open-files limit too low for nginx's connections is refused before anything changes (HAProxy's row is
# "maxconn beyond the open files limit"; this machine's hard limit is far below what 10 million need).
CASES += [
    (
        "nginx",
        "worker_connections above the open files limit",
        with_(NGINX, nginx_worker_connections=10000000),
        "nginx_worker_connections=10000000 needs worker_rlimit_nofile 20000100 (2 open files per proxied "
        "connection, plus 100) but the hard limit of open files for nginx on host localhost is",
    ),
]


def test_the_table_covers_at_least_fifteen_bad_inputs() -> None:
    assert len(CASES) >= 15


def run_playbook(tmp_path: Path, role: str, variables: dict, *options: str) -> tuple[int, dict]:
    """Runs run_preflight.yml for one row; returns the exit status and the JSON callback's output."""
    variables = dict(variables)
    host_vars = variables.pop("_host_vars", None)
    hosts = variables.pop("_hosts", "localhost")
    extra_vars = {"lbstack_test_role": role, "lbstack_test_hosts": hosts, **variables}
    if host_vars is not None:
        directory = tmp_path / "host_vars"
        directory.mkdir()
        for host in HOSTS:
            (directory / f"{host}.json").write_text(json.dumps(host_vars.get(host, {})))
        extra_vars["lbstack_test_host_vars_dir"] = str(directory)
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(extra_vars))
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
            *options,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.stdout.startswith("{"), (
        f"no JSON output (rc {run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    )
    result = json.loads(run.stdout)
    # `peer` and `spare` have no connection: a task that tried to reach one would leave it unreachable.
    unreachable = {host: stats["unreachable"] for host, stats in result["stats"].items() if stats.get("unreachable")}
    assert unreachable == {}, f"a task tried to reach a host: {unreachable}"
    return run.returncode, result


def localhost_results(result: dict) -> list[tuple[str, dict]]:
    """(task name, result) of every task that ran on localhost, in order."""
    return [
        (task["task"]["name"], task["hosts"]["localhost"])
        for play in result["plays"]
        for task in play["tasks"]
        if "localhost" in task["hosts"]
    ]


@pytest.mark.parametrize(("role", "name", "variables", "message"), CASES, ids=[c[1] for c in CASES])
def test_preflight_refuses_bad_input(tmp_path: Path, role: str, name: str, variables: dict, message: str) -> None:
    rc, result = run_playbook(tmp_path, role, variables)
    assert rc == 2, f"{name}: the preflight accepted it (rc {rc}):\n{json.dumps(result)[-2000:]}"
    # Only localhost's checks count: in a row run on both hosts, the peer refuses the same disagreement.
    failed_tasks = [
        [outcome.get("msg", "") for outcome in task_result.get("results", [task_result]) if outcome.get("failed")]
        for _, task_result in localhost_results(result)
    ]
    failed_tasks = [msgs for msgs in failed_tasks if msgs]
    # A refusal by the filters is rescued and reported again, naming the variable and the host: the rescued
    # task's own error is not a second check.
    rescued = result["stats"]["localhost"].get("rescued", 0)
    failures = [msg for msgs in failed_tasks[rescued:] for msg in msgs]
    assert len(failures) == 1, f"{name}: expected one failed check, got {failures}"
    assert message in failures[0], f"{name}: {failures[0]!r}"


def preflight_task_names() -> set[str]:
    tasks_dir = REPO / "roles" / "keepalived" / "tasks"
    names = set()
    for path in tasks_dir.glob("preflight*.yml"):
        names |= {task["name"] for task in yaml.safe_load(path.read_text())}
    return names


# The first, a middle and the last of keepalived's checks, one of them on both hosts.
NO_CHANGE_CASES = [
    "VIP with an octet above 255",
    "asymmetric unicast: the peer has it off",
    "keepalived_unicast_address that is not an address of the host",
]


@pytest.mark.parametrize("name", NO_CHANGE_CASES)
def test_the_role_refuses_bad_input_before_it_changes_anything(tmp_path: Path, name: str) -> None:
    """The role's main entry (in check mode, so a check that let the input pass changes nothing here either) fails
    in a preflight task, and no task before it reported a change."""
    role, _, variables, message = next(case for case in CASES if case[1] == name)
    rc, result = run_playbook(tmp_path, role, {**variables, "lbstack_test_tasks_from": "main"}, "--check")
    assert rc == 2, f"{name}: the role accepted it (rc {rc})"
    ran = localhost_results(result)
    failed = [i for i, (_, task_result) in enumerate(ran) if task_result.get("failed")]
    assert failed, f"{name}: nothing failed"
    task_name, task_result = ran[failed[0]]
    assert task_name.split(" : ", 1)[-1] in preflight_task_names(), f"{name}: failed in {task_name!r}, not preflight"
    messages = [
        outcome.get("msg", "") for outcome in task_result.get("results", [task_result]) if outcome.get("failed")
    ]
    assert any(message in msg for msg in messages), messages
    changed = [task for task, task_result in ran[: failed[0]] if task_result.get("changed")]
    assert changed == [], f"{name}: changed before the preflight failed: {changed}"
    # Every task of the role that ran before is a preflight task too (after the argument spec validation).
    role_tasks = [task.split(" : ", 1)[1] for task, _ in ran[: failed[0]] if " : " in task]
    assert role_tasks[0].startswith("Validating arguments against arg spec 'main'"), role_tasks
    assert set(role_tasks[1:]) <= preflight_task_names(), f"{name}: {set(role_tasks[1:]) - preflight_task_names()}"
