#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_app_probe
short_description: Do what a real application does through an address (usually the VIP) and report what arrived
version_added: 0.2.0
author: lbstack maintainers (@lbstack)
description:
  - Talks to O(host) and O(port) the way applications do and reports what arrived, for the demo backend
    (role C(lbstack.ha.backend)) behind a load balancer. O(check) picks the behaviour.
  - C(transfer) POSTs O(size) bytes (streamed with a Content-Length) and compares the byte count and sha256 the
    backend answers; then GETs C(/download?bytes=<size>) and compares the length and sha256 of the stream with
    the backend's C(X-Content-SHA256) and with the known content.
  - C(headers) GETs O(path) (default C(/headers)) with O(headers) and returns what the backend saw, its peer
    address and every request header (repeated fields joined with C(", ")).
  - C(websocket) opens a WebSocket session on O(path) (default C(/ws)), gets one message echoed, stays idle
    O(idle) seconds, gets a second echoed on the same connection. Run it with C(async) to hold the session
    open while other tasks act (a reload).
  - C(tcp) opens O(count) plain TCP connections one after the other; each reads the backend's name (its first
    line), sends a line and reads it back; answers are counted per backend.
  - Network failures are reported (RV(ok) false, an error text), not fatal, unless O(fail_on_error=true).
    Each socket operation times out after O(timeout) seconds.
  - A read-only probe, run on a client host with nothing but Python's standard library; always C(changed=false).
options:
  check:
    description: What to do.
    type: str
    required: true
    choices: [transfer, headers, websocket, tcp]
  host:
    description: Address to talk to, usually the VIP.
    type: str
    required: true
  port:
    description: TCP port, 1-65535.
    type: int
    required: true
  path:
    description: Request path for C(headers) and C(websocket) (printable ASCII starting with C(/)).
    type: str
  host_header:
    description: C(Host) header to send (C(transfer), C(headers), C(websocket)) instead of C(host:port).
    type: str
  headers:
    description: Extra request headers of C(headers), name to value (Latin-1 without control characters).
    type: dict
    default: {}
  size:
    description: Bytes to upload and to download with C(transfer), 0 to 4 GiB.
    type: int
    default: 1048576
  idle:
    description: Seconds the C(websocket) session stays idle between its two messages, 0 to 3600.
    type: float
    default: 0.0
  count:
    description: Connections of C(tcp), 1 to 100,000.
    type: int
    default: 10
  timeout:
    description: Timeout of each socket operation in seconds, above 0, at most 3600.
    type: float
    default: 10.0
  fail_on_error:
    description: Fail the task, with all the figures, when RV(ok) is false.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Probes in check mode too; the demo backend's uploads store nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: lbstack.ha.lb_traffic_count
"""

EXAMPLES = r"""
- name: A 100 MB upload and download through the VIP, checksums compared
  lbstack.ha.lb_app_probe:
    check: transfer
    host: 192.0.2.10
    port: 80
    size: 104857600
    fail_on_error: true

- name: What the backend sees of a client that claims another address
  lbstack.ha.lb_app_probe:
    check: headers
    host: 192.0.2.10
    port: 80
    headers: {X-Forwarded-For: 203.0.113.66}
  register: seen

- name: A WebSocket session idle for a minute, held open in the background
  lbstack.ha.lb_app_probe:
    check: websocket
    host: 192.0.2.10
    port: 80
    idle: 60
    timeout: 90
  async: 120
  poll: 0
  register: ws_job

- name: Weights of a TCP pool
  lbstack.ha.lb_app_probe:
    check: tcp
    host: 192.0.2.10
    port: 5432
    count: 70
"""

RETURN = r"""
ok:
  description: Whether everything arrived as sent (every check).
  type: bool
  returned: always
upload:
  description:
    - C(transfer) upload figures; C(bytes_sent), C(sha256_sent), C(bytes_received) and C(sha256_received) (the
      backend's answer), C(status), C(backend), C(seconds), C(ok), C(error) on failure, C(send_error) when the
      server closed before the body was sent (its answer, such as a 413, is still read and reported).
  type: dict
  returned: when O(check=transfer)
download:
  description:
    - C(transfer) download figures; C(bytes_received), C(sha256_received), C(sha256_announced) (the backend's
      header), C(sha256_expected) (of the known content), C(status), C(backend), C(seconds), C(ok), C(error).
  type: dict
  returned: when O(check=transfer)
source:
  description: The client's own address of the request (C(headers)), to compare with C(X-Forwarded-For).
  type: str
  returned: when O(check=headers) and the connection opened
opened_at:
  description: Epoch time the WebSocket handshake completed (C(websocket)).
  type: float
  returned: when O(check=websocket) and the session opened
last_echo_at:
  description: Epoch time the second echo arrived (C(websocket)), after the idle time.
  type: float
  returned: when O(check=websocket) and both echoes came back
client:
  description: The peer address the backend saw (C(headers)).
  type: str
  returned: when O(check=headers) and the backend answered
headers:
  description: Request headers as the backend saw them, lower-case names, repeated fields joined (C(headers)).
  type: dict
  returned: when O(check=headers) and the backend answered
  sample: {host: shop.example, x-forwarded-for: 192.0.2.31, x-forwarded-proto: http}
backend:
  description: The backend that answered (C(headers), C(websocket)).
  type: str
  returned: when O(check) is headers or websocket
upgraded:
  description: Whether the WebSocket handshake succeeded (C(websocket)).
  type: bool
  returned: when O(check=websocket)
echoes:
  description: Messages echoed on the WebSocket session, 2 when it survived its idle time (C(websocket)).
  type: int
  returned: when O(check=websocket)
seconds:
  description: How long the session lasted (C(websocket)).
  type: float
  returned: when O(check=websocket)
counts:
  description: Connections answered per backend (C(tcp)).
  type: dict
  returned: when O(check=tcp)
  sample: {web1: 40, web2: 20, web3: 10}
order:
  description: The backend of each connection in order, null for a failure (C(tcp)).
  type: list
  elements: str
  returned: when O(check=tcp)
failures:
  description: Connections that failed (C(tcp)).
  type: int
  returned: when O(check=tcp)
errors:
  description: Failed connections by kind (C(tcp)).
  type: dict
  returned: when O(check=tcp)
status:
  description: HTTP status of the answer (C(headers); C(websocket) 101 once upgraded).
  type: int
  returned: when O(check) is headers or websocket
total:
  description: Connections opened (C(tcp)).
  type: int
  returned: when O(check=tcp)
succeeded:
  description: Connections that read the name and the echoed line (C(tcp)).
  type: int
  returned: when O(check=tcp)
elapsed:
  description: Seconds all connections took (C(tcp)).
  type: float
  returned: when O(check=tcp)
error:
  description: Why the check failed (C(transfer) reports it in RV(upload) and RV(download)).
  type: str
  returned: on failure
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbstack.ha.plugins.module_utils._app_probe import (
    request_headers,
    tcp_count,
    transfer,
    websocket,
)
from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import (
    is_header_name,
    is_header_value,
    is_request_path,
)

ARGUMENT_SPEC = {
    "check": {"type": "str", "required": True, "choices": ["transfer", "headers", "websocket", "tcp"]},
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "path": {"type": "str"},
    "host_header": {"type": "str"},
    "headers": {"type": "dict", "default": {}},
    "size": {"type": "int", "default": 1 << 20},
    "idle": {"type": "float", "default": 0.0},
    "count": {"type": "int", "default": 10},
    "timeout": {"type": "float", "default": 10.0},
    "fail_on_error": {"type": "bool", "default": False},
}


def check_arguments(p: dict) -> str | None:
    """The first problem with the module's arguments, or None."""
    if not 1 <= p["port"] <= 65535:
        return f"port must lie within 1..65535, got {p['port']}"
    if not 0 < p["timeout"] <= 3600:
        return f"timeout must be above 0 and at most 3600 seconds, got {p['timeout']}"
    if not 0 <= p["size"] <= 1 << 32:
        return f"size must lie within 0..{1 << 32} bytes, got {p['size']}"
    if not 0 <= p["idle"] <= 3600:
        return f"idle must lie within 0..3600 seconds, got {p['idle']}"
    if not 1 <= p["count"] <= 100_000:
        return f"count must lie within 1..100000, got {p['count']}"
    if p["path"] is not None and not is_request_path(p["path"]):
        return f"path must start with / and be printable ASCII without spaces, got {p['path']!r}"
    if p["host_header"] is not None and not (p["host_header"] and is_header_value(p["host_header"])):
        return f"host_header must be a non-empty header value, got {p['host_header']!r}"
    for name, value in p["headers"].items():
        if not is_header_name(str(name)):
            return f"headers: {name!r} is not an HTTP header name"
        if not is_header_value(str(value)):
            return f"headers: the value of {name} must be Latin-1 without control characters"
    return None


def probe(p: dict) -> dict:
    host, port, timeout = p["host"], p["port"], p["timeout"]
    if p["check"] == "transfer":
        return transfer(host, port, p["size"], timeout, p["host_header"])
    if p["check"] == "headers":
        return request_headers(host, port, timeout, p["path"] or "/headers", p["headers"], p["host_header"])
    if p["check"] == "websocket":
        return websocket(host, port, timeout, p["idle"], p["path"] or "/ws", p["host_header"])
    return tcp_count(host, port, p["count"], timeout)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    problem = check_arguments(p)
    if problem:
        module.fail_json(msg=problem)
    result = probe(p)
    if p["fail_on_error"] and not result["ok"]:
        module.fail_json(msg=f"{p['check']} through {p['host']}:{p['port']} failed", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
