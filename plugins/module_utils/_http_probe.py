# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One HTTP request, timed and bounded, that reports which backend answered (standard library only)."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import urlsplit


class Target:
    """A parsed http:// URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host[:port]/path URLs are supported, got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class Result:
    __slots__ = ("backend", "error", "finished", "started", "status")

    def __init__(self, started: float) -> None:
        self.started = started
        self.finished = started
        self.backend: str | None = None
        self.status: int | None = None
        self.error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def backend_name(headers: http.client.HTTPMessage, body: bytes, header: str) -> str:
    """The answering backend: the named response header, else the first line of the body."""
    value = headers.get(header) if header else None
    if value:
        return value.strip()
    return body.decode("utf-8", "replace").strip().splitlines()[0] if body.strip() else ""


def classify(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


class Prober:
    """Sends GET requests to one target: a new TCP connection per request, or one kept alive."""

    def __init__(
        self,
        target: Target,
        timeout: float,
        header: str = "X-Backend",
        host_header: str | None = None,
        headers: dict[str, str] | None = None,
        keepalive: bool = False,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.header = header
        self.headers = dict(headers or {})
        if host_header:
            self.headers["Host"] = host_header
        self.keepalive = keepalive
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self, source: str | None) -> http.client.HTTPConnection:
        if self.keepalive and self._conn is not None:
            return self._conn
        conn = http.client.HTTPConnection(
            self.target.host,
            self.target.port,
            timeout=self.timeout,
            source_address=(source, 0) if source else None,
        )
        if self.keepalive:
            self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, path: str | None = None, source: str | None = None) -> Result:
        result = Result(time.monotonic())
        conn = self._connection(source)
        headers = dict(self.headers)
        if not self.keepalive:
            headers["Connection"] = "close"
        try:
            conn.request("GET", path or self.target.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            result.status = response.status
            if 200 <= response.status < 300:
                result.backend = backend_name(response.headers, body, self.header)
            else:
                result.error = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            result.error = classify(exc)
            if self.keepalive:
                self.close()
        finally:
            if not self.keepalive:
                conn.close()
        result.finished = time.monotonic()
        return result
