#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_hold_connections
short_description: Hold many client connections open at once through an address and count how many it kept
version_added: 0.2.0
author: lbstack maintainers (@lbstack)
description:
  - Opens O(connections) TCP connections to O(url), all of them before the first request, then sends one
    HTTP/1.1 keep-alive C(GET) on each, at most O(window) requests awaiting their answer at a time, and keeps
    every answered connection open. Every connection answered means the server accepted and kept all of them
    open at the same time. Once every connection has answered or failed, it watches them for O(hold) seconds
    (RV(held) still open at the end, RV(closed_while_held) closed by the server's keep-alive timeout), then
    closes them.
  - What it measures is a proxy's capacity for concurrent client connections, its open-files limit
    first (a worker that reaches it cannot accept, and the client's connection is reset or never answered),
    not throughput.
  - Everything is bounded by O(timeout) seconds; a connection without an answer by then counts as failed.
  - A read-only client run with nothing but Python's standard library; it raises its own soft open-files limit
    to the hard one and refuses more connections than that allows. Always returns C(changed=false); failed
    connections are counted in RV(failures), never fatal.
options:
  url:
    description: The C(http://) URL to request on every connection, usually the VIP. C(https) is not supported.
    type: str
    required: true
  connections:
    description: Connections to open and hold, 1 to 50,000.
    type: int
    required: true
  window:
    description: Requests awaiting their answer at a time, 1 to 10,000 (connections beyond it wait to send).
    type: int
    default: 200
  hold:
    description: Seconds, 0 to 60, to keep every answered connection open and watch for the server closing one.
    type: float
    default: 2.0
  timeout:
    description: Upper bound of the whole run in seconds, above 0, at most 600.
    type: float
    default: 120.0
  backend_header:
    description: Response header naming the backend that answered (counted in RV(counts)).
    type: str
    default: X-Backend
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Connects in check mode too; a GET changes nothing.
"""

EXAMPLES = r"""
- name: Hold 4200 client connections through the VIP
  lbstack.ha.lb_hold_connections:
    url: http://172.29.30.100/
    connections: 4200
  register: held

- name: Every connection was answered and held
  ansible.builtin.assert:
    that:
      - held.failures == 0
      - held.held == 4200
"""

RETURN = r"""
answered:
  description: Connections that got a 2xx answer.
  type: int
  returned: always
held:
  description: Answered connections still open, all at the same time, after O(hold) seconds.
  type: int
  returned: always
closed_while_held:
  description:
    - Answered connections the server closed after answering, before the end of O(hold) (its idle keep-alive
      timeout, or a C(Connection) C(close) header); not failures.
  type: int
  returned: always
failures:
  description: Connections without an answer (refused, reset, closed before the answer, timed out, non-2xx).
  type: int
  returned: always
errors:
  description: Failed connections by kind (C(refused), C(reset), C(closed), C(timeout), C(status 503), ...).
  type: dict
  returned: always
counts:
  description: Answers per backend, named by O(backend_header).
  type: dict
  returned: always
peak_open:
  description: Most connections open at the same time.
  type: int
  returned: always
elapsed:
  description: Seconds the run took.
  type: float
  returned: always
"""

import errno
import resource
import selectors
import socket
import time
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

_KINDS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.EPIPE: "reset",
    errno.ETIMEDOUT: "timeout",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
}


class _Conn:
    __slots__ = ("buf", "need", "sock", "state")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.state = "connecting"  # connecting, waiting (to send), sent, answered, failed
        self.buf = b""
        self.need = -1  # bytes of the whole answer, once its headers are in


def _parse(buf: bytes) -> tuple[int, int, dict[str, str]] | None:
    """(status, length of the whole answer, headers) once the headers are complete, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        name, _sep, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    return status, end + 4 + length, headers


def check_arguments(p: dict, limit: int) -> str | None:
    """The first problem with the arguments, or None."""
    url = urlsplit(p["url"])
    if url.scheme != "http" or not url.hostname:
        return f"url must be an http:// URL with a host, got {p['url']!r}"
    if not 1 <= p["connections"] <= 50000:
        return f"connections must be 1 to 50000, got {p['connections']}"
    if p["connections"] + 64 > limit:
        return (
            f"connections={p['connections']} needs about {p['connections'] + 64} open files, this host allows {limit}"
        )
    if not 1 <= p["window"] <= 10000:
        return f"window must be 1 to 10000, got {p['window']}"
    if not 0 <= p["hold"] <= 60:
        return f"hold must be 0 to 60 seconds, got {p['hold']}"
    if not 0 < p["timeout"] <= 600:
        return f"timeout must be above 0 and at most 600 seconds, got {p['timeout']}"
    return None


def raise_open_files_limit() -> int:
    """Raises the soft open-files limit to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def hold_connections(
    url: str,
    connections: int,
    *,
    window: int = 200,
    hold: float = 2.0,
    timeout: float = 120.0,
    backend_header: str = "X-Backend",
    clock=time.monotonic,
) -> dict:
    """Opens, answers and holds the connections; see DOCUMENTATION."""
    parts = urlsplit(url)
    address = (parts.hostname, parts.port or 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: lbstack-hold\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    header = backend_header.lower()
    start = clock()
    deadline = start + timeout
    sel = selectors.DefaultSelector()
    conns: list[_Conn] = []
    errors: dict[str, int] = {}
    counts: dict[str, int] = {}
    open_now = peak = in_flight = 0
    waiting: list[_Conn] = []

    closed_early = 0

    def fail(conn: _Conn, kind: str) -> None:
        nonlocal open_now, in_flight
        if conn.state == "sent":
            in_flight -= 1
        errors[kind] = errors.get(kind, 0) + 1
        if conn.state != "failed":
            try:
                sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()
            open_now -= 1
        conn.state = "failed"

    def send(conn: _Conn) -> None:
        nonlocal in_flight
        if conn.state != "waiting":
            return  # failed while it waited
        try:
            conn.sock.send(request)
        except OSError as e:
            fail(conn, _KINDS.get(e.errno, f"errno {e.errno}"))
            return
        conn.state = "sent"
        in_flight += 1
        sel.modify(conn.sock, selectors.EVENT_READ, conn)

    for _index in range(connections):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        conn = _Conn(sock)
        conns.append(conn)
        rc = sock.connect_ex(address)
        open_now += 1
        peak = max(peak, open_now)
        if rc not in (0, errno.EINPROGRESS):
            conn.state = "connecting"
            sel.register(sock, selectors.EVENT_WRITE, conn)
            fail(conn, _KINDS.get(rc, f"errno {rc}"))
            continue
        sel.register(sock, selectors.EVENT_WRITE, conn)

    def pending() -> bool:
        return any(c.state in ("connecting", "waiting", "sent") for c in conns)

    def connecting() -> bool:
        return any(c.state == "connecting" for c in conns)

    # Every connection is open before the first request: all of them at the same time, each then answered on the
    # connection it was opened on, so the server accepted and kept every one.
    while pending() and clock() < deadline:
        while waiting and in_flight < window and not connecting():
            send(waiting.pop())
        for key, events in sel.select(timeout=min(0.5, max(0.0, deadline - clock()))):
            conn = key.data
            if conn.state == "connecting" and events & selectors.EVENT_WRITE:
                rc = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if rc:
                    fail(conn, _KINDS.get(rc, f"errno {rc}"))
                    continue
                conn.state = "waiting"
                sel.modify(conn.sock, selectors.EVENT_READ, conn)  # a reset while waiting shows as readable
                waiting.append(conn)
            elif events & selectors.EVENT_READ:
                try:
                    data = conn.sock.recv(65536)
                except OSError as e:
                    fail(conn, _KINDS.get(e.errno, f"errno {e.errno}"))
                    continue
                if not data:
                    if conn.state == "answered":
                        # Answered, then closed by the server (Connection: close, or its keep-alive timeout
                        # while others are still answered): not a failure, but not held either.
                        conn.state = "closed"
                        closed_early += 1
                        sel.unregister(conn.sock)
                        conn.sock.close()
                    else:
                        fail(conn, "closed")
                    continue
                if conn.state == "waiting":
                    fail(conn, "answer before the request")
                    continue
                conn.buf += data
                parsed = _parse(conn.buf)
                if parsed is None or len(conn.buf) < parsed[1]:
                    continue
                status, _reason, headers = parsed
                in_flight -= 1
                if not 200 <= status < 300:
                    conn.state = "sent"
                    in_flight += 1
                    fail(conn, f"status {status}")
                    continue
                conn.state = "answered"
                conn.buf = b""
                name = headers.get(header, "")
                counts[name] = counts.get(name, 0) + 1
    for conn in conns:
        if conn.state in ("connecting", "waiting", "sent"):
            fail(conn, "timeout")
    answered = sum(1 for c in conns if c.state in ("answered", "closed"))

    # Then held open for `hold` seconds: a server may close idle keep-alive connections (its own timeout).
    closed_while_held = closed_early
    hold_end = min(clock() + hold, deadline)
    while clock() < hold_end:
        for key, _events in sel.select(timeout=max(0.0, hold_end - clock())):
            conn = key.data
            try:
                data = conn.sock.recv(65536)
            except OSError as e:
                fail(conn, _KINDS.get(e.errno, f"errno {e.errno}") + " while held")
                continue
            if not data:
                conn.state = "closed"
                closed_while_held += 1
                sel.unregister(conn.sock)
                conn.sock.close()
    held = sum(1 for c in conns if c.state == "answered")
    for conn in conns:
        if conn.state not in ("failed", "closed"):
            conn.sock.close()
    sel.close()
    return {
        "answered": answered,
        "held": held,
        "closed_while_held": closed_while_held,
        "failures": connections - answered,
        "errors": errors,
        "counts": counts,
        "peak_open": peak,
        "elapsed": round(clock() - start, 3),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "connections": {"type": "int", "required": True},
            "window": {"type": "int", "default": 200},
            "hold": {"type": "float", "default": 2.0},
            "timeout": {"type": "float", "default": 120.0},
            "backend_header": {"type": "str", "default": "X-Backend"},
        },
        supports_check_mode=True,
    )
    p = module.params
    limit = raise_open_files_limit()
    problem = check_arguments(p, limit)
    if problem:
        module.fail_json(msg=problem)
    result = hold_connections(
        p["url"],
        p["connections"],
        window=p["window"],
        hold=p["hold"],
        timeout=p["timeout"],
        backend_header=p["backend_header"],
    )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
