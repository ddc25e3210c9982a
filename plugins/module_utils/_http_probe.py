# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One HTTP request, timed and bounded, that reports which backend answered (standard library only).

Shared by the modules lb_traffic_count and lb_gap_probe. It runs on the target (a client host with nothing but
Python >= 3.9), so it imports nothing outside the standard library.

Every request has a deadline: ``timeout`` seconds after it starts, whatever the server does. The socket's
timeout is set to the time left before each connect, send and receive, so neither a server that never answers
nor one that trickles a byte at a time can hold a request past its deadline.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import time
from urllib.parse import urlsplit

MAX_BODY = 65536  # bytes of a body read at most; the name is on its first line
MAX_NAME = 256  # characters of a backend name kept
MAX_ERROR_KINDS = 20  # distinct error texts counted; further kinds are counted as "other"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)


class Target:
    """A parsed http:// URL: host, port and the path (with query) to request."""

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:  # a port that is not a number or out of range
            raise ValueError(f"only http://host[:port]/path URLs are supported, got {url!r}: {exc}") from exc
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host[:port]/path URLs are supported, got {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not is_request_path(self.path):
            raise ValueError(f"the path of {url!r} must be printable ASCII without spaces (percent-encoded)")


def is_header_name(name: str) -> bool:
    return bool(_TOKEN.match(name))


def is_header_value(value: str) -> bool:
    """Sendable as a header value: Latin-1, no line break or other control character but tab."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value)


def is_request_path(path: str) -> bool:
    """Sendable as a request target: starts with /, printable ASCII without spaces."""
    return path.startswith("/") and all(33 <= ord(c) <= 126 for c in path)


class Result:
    """The outcome of one request: times (time.monotonic), status, answering backend or error text."""

    __slots__ = ("backend", "error", "finished", "reused", "started", "status")

    def __init__(self, started: float) -> None:
        self.started = started
        self.finished = started
        self.backend: str | None = None
        self.status: int | None = None
        self.error: str | None = None
        self.reused = False  # sent on a connection kept alive from an earlier request

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


def backend_name(headers: http.client.HTTPMessage, body: bytes, header: str | None) -> str:
    """The answering backend: the named response header, else the first line of the body ("" if neither)."""
    value = headers.get(header) if header else None
    if value and value.strip():
        return value.strip()[:MAX_NAME]
    lines = body.decode("utf-8", "replace").strip().splitlines()
    return lines[0].strip()[:MAX_NAME] if lines else ""


def classify(exc: BaseException, connected: bool) -> str:
    """A short, stable text for a failure, suitable as a key of the errors counter."""
    if isinstance(exc, socket.timeout):
        return "read timeout" if connected else "connect timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):  # before ConnectionResetError, its base class
        return "closed without response"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, BrokenPipeError):
        return "broken pipe"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"bad response: {type(exc).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, ValueError):
        return f"invalid request: {exc}"[:200]
    return type(exc).__name__


def count_error(errors: dict[str, int], text: str) -> None:
    """Counts one failure by its text, keeping at most MAX_ERROR_KINDS kinds (the rest go to "other")."""
    if text not in errors and len(errors) >= MAX_ERROR_KINDS:
        text = "other"
    errors[text] = errors.get(text, 0) + 1


class _DeadlineSocket(socket.socket):
    """A socket whose every blocking call may only use the time left before its deadline."""

    deadline = float("inf")

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.settimeout(left)

    def connect(self, address):  # type: ignore[override]
        self._arm()
        return super().connect(address)

    def sendall(self, data, flags=0):  # type: ignore[override]
        self._arm()
        return super().sendall(data, flags)

    def send(self, data, flags=0):  # type: ignore[override]
        self._arm()
        return super().send(data, flags)

    def recv(self, bufsize, flags=0):  # type: ignore[override]
        self._arm()
        return super().recv(bufsize, flags)

    def recv_into(self, buffer, nbytes=0, flags=0):  # type: ignore[override]
        self._arm()  # what http.client's response file reads through
        return super().recv_into(buffer, nbytes, flags)


def open_socket(host: str, port: int, deadline: float, source: str | None = None) -> _DeadlineSocket:
    """A connected TCP socket bound by `deadline` (time.monotonic), sent from `source` if given.

    Name resolution is not bounded by the deadline; use IP addresses where that matters.
    """
    last: OSError | None = None
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = _DeadlineSocket(family, kind, proto)
        sock.deadline = deadline
        try:
            if source:
                sock.bind((source, 0))
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"no address for {host}")


class _Connection(http.client.HTTPConnection):
    """http.client's connection on a deadline socket; `arm` sets the deadline before each request."""

    def __init__(self, host: str, port: int, source: str | None, on_open) -> None:
        super().__init__(host, port)
        self.source = source
        self.deadline = float("inf")
        self.connected = False  # the current request got past connect
        self._on_open = on_open

    def connect(self) -> None:
        self.sock = open_socket(self.host, self.port, self.deadline, self.source)
        self.connected = True
        self._on_open()

    def arm(self, deadline: float) -> None:
        self.deadline = deadline
        self.connected = self.sock is not None
        if self.sock is not None:
            self.sock.deadline = deadline


# Failures of a kept-alive connection the server closed while it was idle; the request is sent again once.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def closed_by_peer(sock: socket.socket | None) -> bool:
    """Whether an idle kept-alive socket can no longer carry a request: readable means the server closed it (or
    sent what nobody asked for). What urllib3 checks before it reuses a pooled connection."""
    if sock is None:
        return True
    try:
        readable = select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):  # closed under us
        return True
    return bool(readable)


class Prober:
    """Sends GET requests to one target: a new TCP connection per request, or kept alive (one per source).

    Kept alive, a connection the server closed while it was idle is replaced before the next request (checked as
    urllib3 does, counted in `closed_idle`); one that fails under a request is tried again once on a new
    connection, unless `retry_stale` is false: then that request fails, as it does for a client without retries.
    """

    def __init__(
        self,
        target: Target,
        timeout: float,
        header: str | None = "X-Backend",
        host_header: str | None = None,
        headers: dict[str, str] | None = None,
        keepalive: bool = False,
        retry_stale: bool = True,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.header = header
        self.headers = {str(k): str(v) for k, v in (headers or {}).items()}
        if host_header:
            self.headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            self.headers["Host"] = host_header
        if not keepalive:
            self.headers["Connection"] = "close"
        self.keepalive = keepalive
        self.retry_stale = retry_stale
        self.connections = 0  # TCP connections opened so far
        self.closed_idle = 0  # kept-alive connections the server had closed before the next request
        self.closed_announced = 0  # kept-alive answers that said "Connection: close"
        self._kept: dict[str | None, _Connection] = {}

    def _opened(self) -> None:
        self.connections += 1

    def close(self) -> None:
        for conn in self._kept.values():
            conn.close()
        self._kept.clear()

    def get(self, path: str | None = None, source: str | None = None, extra: dict[str, str] | None = None) -> Result:
        """One GET (`extra`: headers of this request only); never raises for network or HTTP failures, which
        land in `Result.error`."""
        headers = {**self.headers, **extra} if extra else self.headers
        result = Result(time.monotonic())
        deadline = result.started + self.timeout
        conn = self._kept.pop(source, None)
        if conn is not None and closed_by_peer(conn.sock):
            conn.close()
            conn = None
            self.closed_idle += 1
        may_retry = conn is not None and self.retry_stale
        if conn is None:
            conn = _Connection(self.target.host, self.target.port, source, self._opened)
        while True:
            conn.arm(deadline)
            result.reused = conn.sock is not None
            answered = False
            try:
                conn.request("GET", path or self.target.path, headers=headers)
                response = conn.getresponse()
                answered = True
                body = response.read(MAX_BODY)
                complete = response.isclosed()  # the whole body was read: the connection may serve again
                response.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a refused request
                conn.close()
                if may_retry and result.reused and not answered and isinstance(exc, _STALE):
                    may_retry = False
                    conn = _Connection(self.target.host, self.target.port, source, self._opened)
                    continue
                result.error = classify(exc, conn.connected)
                break
            result.status = response.status
            if 200 <= response.status < 300:
                result.backend = backend_name(response.headers, body, self.header)
            else:
                result.error = f"HTTP {response.status}"
            if self.keepalive and complete and conn.sock is not None and not response.will_close:
                self._kept[source] = conn
            else:
                if self.keepalive and response.will_close:
                    self.closed_announced += 1
                conn.close()
            break
        result.finished = time.monotonic()
        return result
