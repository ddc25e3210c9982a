# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What real applications do through a balancer, measured from a client (standard library only).

Used by the module lb_app_probe; it runs on the target (a client host with nothing but Python >= 3.9).
Each function talks to one address and port and returns plain data; network failures are reported in the
result (``ok`` false and ``error``), never raised. Every socket operation has a timeout.

- transfer: an upload of N bytes (streamed) and a download of N bytes, their sha256 compared with what the
  other end reports;
- request_headers: what the backend saw of a request (its peer address and the headers), from its /headers;
- websocket: a WebSocket session that echoes, stays idle, and echoes again;
- tcp_count: N plain TCP connections, each reading the backend's name and an echoed line.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import time

from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import classify, count_error

CHUNK = 65536
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The demo backend's download stream: byte i is i % 251 (roles/backend/files/lbstack-backend.py).
_PATTERN = bytes(i % 251 for i in range(CHUNK + 251))


def pattern(offset: int, size: int) -> bytes:
    """Bytes offset .. offset + size (size <= CHUNK) of the stream whose byte i is i % 251."""
    start = offset % 251
    return _PATTERN[start : start + size]


def _connection(host: str, port: int, timeout: float) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(host, port, timeout=timeout)


def upload(host: str, port: int, size: int, timeout: float, path: str = "/upload", host_header: str | None = None):
    """POSTs `size` bytes of the pattern, streamed with a Content-Length; compares the backend's JSON answer
    (bytes, sha256) with what was sent."""
    digest = hashlib.sha256()
    started = time.monotonic()
    out: dict = {"bytes_sent": 0, "status": None, "backend": None}
    conn = _connection(host, port, timeout)
    try:
        conn.putrequest("POST", path, skip_host=host_header is not None)
        if host_header is not None:
            conn.putheader("Host", host_header)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        try:
            for offset in range(0, size, CHUNK):
                piece = pattern(offset, min(CHUNK, size - offset))
                conn.send(piece)
                digest.update(piece)
                out["bytes_sent"] += len(piece)
        except OSError as exc:
            # A server may answer before the body is in (HAProxy's 413 of a too large Content-Length) and close:
            # the answer it sent is read as a client like curl reads it; without one the send error stands.
            out["send_error"] = classify(exc, True)
        response = conn.getresponse()
        body = response.read(1 << 20)
        out["status"] = response.status
        out["backend"] = response.getheader("X-Backend")
        if response.status != 200:
            out["error"] = f"HTTP {response.status}"
        else:
            answer = json.loads(body.decode("utf-8", "replace"))
            out["bytes_received"] = answer.get("bytes")
            out["sha256_received"] = answer.get("sha256")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        out["error"] = out.get("send_error") or classify(exc, True)
    finally:
        conn.close()
    out["sha256_sent"] = digest.hexdigest()
    out["seconds"] = round(time.monotonic() - started, 3)
    out["ok"] = (
        "error" not in out and out.get("bytes_received") == size and out.get("sha256_received") == out["sha256_sent"]
    )
    return out


def download(host: str, port: int, size: int, timeout: float, path: str = "/download", host_header: str | None = None):
    """GETs `path`?bytes=`size` and hashes the stream as it arrives; compares length and sha256 with the
    backend's X-Content-SHA256 and with the pattern's own sha256."""
    digest = hashlib.sha256()
    expected = hashlib.sha256()
    started = time.monotonic()
    out: dict = {"bytes_received": 0, "status": None, "backend": None}
    conn = _connection(host, port, timeout)
    try:
        headers = {"Host": host_header} if host_header is not None else {}
        conn.request("GET", f"{path}?bytes={size}", headers=headers)
        response = conn.getresponse()
        out["status"] = response.status
        out["backend"] = response.getheader("X-Backend")
        out["sha256_announced"] = response.getheader("X-Content-SHA256")
        while True:
            piece = response.read(CHUNK)
            if not piece:
                break
            expected.update(pattern(out["bytes_received"], len(piece)))  # read(CHUNK): never longer
            digest.update(piece)
            out["bytes_received"] += len(piece)
        if response.status != 200:
            out["error"] = f"HTTP {response.status}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        out["error"] = classify(exc, True)
    finally:
        conn.close()
    out["sha256_received"] = digest.hexdigest()
    out["sha256_expected"] = expected.hexdigest()
    out["seconds"] = round(time.monotonic() - started, 3)
    out["ok"] = (
        "error" not in out
        and out["bytes_received"] == size
        and out["sha256_received"] == out["sha256_announced"] == out["sha256_expected"]
    )
    return out


def transfer(host: str, port: int, size: int, timeout: float, host_header: str | None = None) -> dict:
    """An upload and a download of `size` bytes; ``ok`` when both arrived whole."""
    up = upload(host, port, size, timeout, host_header=host_header)
    down = download(host, port, size, timeout, host_header=host_header)
    return {"upload": up, "download": down, "ok": up["ok"] and down["ok"]}


def request_headers(
    host: str, port: int, timeout: float, path: str = "/headers", headers: dict | None = None, host_header=None
) -> dict:
    """What the backend saw: its peer address (``client``) and the request headers, each name (lower case)
    with its values joined by ", " as RFC 9110 combines repeated fields."""
    out: dict = {"status": None}
    conn = _connection(host, port, timeout)
    try:
        sent = dict(headers or {})
        if host_header is not None:
            sent["Host"] = host_header
        conn.request("GET", path, headers=sent)
        out["source"] = conn.sock.getsockname()[0]
        response = conn.getresponse()
        body = response.read(1 << 20)
        out["status"] = response.status
        if response.status != 200:
            out["error"] = f"HTTP {response.status}"
        else:
            answer = json.loads(body.decode("utf-8", "replace"))
            joined: dict = {}
            for name, value in answer.get("headers", []):
                key = name.lower()
                joined[key] = f"{joined[key]}, {value}" if key in joined else value
            out.update(backend=answer.get("backend"), client=answer.get("client"), headers=joined)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        out["error"] = classify(exc, True)
    finally:
        conn.close()
    out["ok"] = "error" not in out
    return out


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            raise ConnectionResetError("closed by the peer")
        data += piece
    return data


def ws_client_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: final, masked (RFC 6455 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, payload) of the next server frame."""
    head = _recv_exact(sock, 2)
    size = head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", _recv_exact(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _recv_exact(sock, 8))[0]
    mask = _recv_exact(sock, 4) if head[1] & 0x80 else b""
    payload = _recv_exact(sock, size)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head[0] & 0x0F, payload


def websocket(
    host: str, port: int, timeout: float, idle: float = 0.0, path: str = "/ws", host_header: str | None = None
) -> dict:
    """Opens a WebSocket session, sends a message and reads its echo, stays idle `idle` seconds, sends a second
    and reads its echo, then closes. ``ok`` when both echoes came back on the one connection."""
    out: dict = {"upgraded": False, "echoes": 0, "backend": None}
    started = time.monotonic()
    sock = None
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header or f'{host}:{port}'}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            piece = sock.recv(4096)
            if not piece:
                raise ConnectionResetError("closed before the handshake ended")
            head += piece
            if len(head) > 65536:
                raise ValueError("handshake answer too long")
        text, rest = head.partition(b"\r\n\r\n")[::2]
        lines = text.decode("latin-1").split("\r\n")
        out["status"] = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, v in (line.partition(":")[::2] for line in lines[1:])}
        out["backend"] = fields.get("x-backend")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if out["status"] != 101 or fields.get("sec-websocket-accept") != accept:
            raise ValueError(f"no upgrade: {lines[0]}")
        out["upgraded"] = True
        out["opened_at"] = time.time()
        if rest:
            raise ValueError("data before the first message")
        for n, pause in enumerate((0.0, idle)):
            if pause:
                time.sleep(pause)
            message = f"lbstack-{n}-{time.time():.3f}".encode()
            sock.sendall(ws_client_frame(0x1, message))
            opcode, payload = ws_read(sock)
            if (opcode, payload) != (0x1, message):
                raise ValueError(f"echo {n} was opcode {opcode} {payload[:40]!r}")
            out["echoes"] += 1
        out["last_echo_at"] = time.time()
        sock.sendall(ws_client_frame(0x8, struct.pack("!H", 1000)))
    except socket.timeout:
        out["error"] = "read timeout" if out["upgraded"] else "connect timeout"
    except (OSError, ValueError, IndexError, struct.error) as exc:
        out["error"] = classify(exc, True) if isinstance(exc, OSError) else f"bad answer: {exc}"[:200]
    finally:
        if sock is not None:
            sock.close()
    out["seconds"] = round(time.monotonic() - started, 3)
    out["ok"] = "error" not in out and out["echoes"] == 2
    return out


def tcp_count(host: str, port: int, count: int, timeout: float) -> dict:
    """`count` TCP connections one after the other: each reads the backend's name (the first line), sends a
    line and reads it back. Counts answers per backend; a connection that fails is counted by its error."""
    counts: dict = {}
    order: list = []
    errors: dict = {}
    started = time.monotonic()
    for i in range(count):
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                stream = sock.makefile("rwb")
                name = stream.readline(256).decode("utf-8", "replace").strip()
                if not name:
                    raise ConnectionResetError("closed without a name")
                line = f"lbstack {i}\n".encode()
                stream.write(line)
                stream.flush()
                if stream.readline(256) != line:
                    raise ValueError("the line did not come back")
                stream.close()
            counts[name] = counts.get(name, 0) + 1
            order.append(name)
        except socket.timeout:
            count_error(errors, "timeout")
            order.append(None)
        except (OSError, ValueError) as exc:
            count_error(errors, classify(exc, True) if isinstance(exc, OSError) else str(exc))
            order.append(None)
    succeeded = sum(counts.values())
    return {
        "total": count,
        "succeeded": succeeded,
        "failures": count - succeeded,
        "counts": counts,
        "order": order,
        "errors": errors,
        "elapsed": round(time.monotonic() - started, 4),
        "ok": succeeded == count,
    }
