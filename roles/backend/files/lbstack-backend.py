# Started as `python3 /usr/local/bin/lbstack-backend` by its unit or init script, so it needs no shebang.
# SPDX-License-Identifier: GPL-3.0-or-later
"""Demo backend that behaves like real applications, so clients can count who served them and what arrived.

Standard library only. Every HTTP answer carries the header X-Backend: <name>.

GET  /                     -> "<name>\n"
GET  /slow?seconds=N       -> the same after N seconds (capped by BACKEND_MAX_DELAY), to hold a connection open
GET  /healthz              -> "ok\n"
GET  /health/strict?status=N -> status N (default 200) for an HTTP/1.1 request with a Host header, else 400
GET  /status/<code>        -> that status (200-599), body "<name> <code>\n"
GET  /headers              -> JSON: backend, client (the peer address), method, path, version, headers (pairs)
GET  /download?bytes=N     -> N bytes (capped by BACKEND_MAX_DOWNLOAD), streamed, byte i being i % 251;
                              header X-Content-SHA256 is their sha256
GET  /events?count=N&interval=S -> server-sent events, chunked: "data: <name> <i>" every S seconds
GET  /ws (Upgrade: websocket) -> a WebSocket echo (RFC 6455): text and binary messages come back, pings get pongs
POST or PUT to any path    -> the body is read (Content-Length or chunked, any size) and answered with JSON:
                              backend, bytes, sha256

With BACKEND_TCP_PORT (default 9000, 0 for none) a plain TCP service listens too: it sends "<name>\n" on
connect, then echoes every line it receives.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = os.environ.get("BACKEND_NAME", "backend")
ADDRESS = os.environ.get("BACKEND_ADDRESS", "0.0.0.0")
PORT = int(os.environ.get("BACKEND_PORT", "8080"))
TCP_PORT = int(os.environ.get("BACKEND_TCP_PORT", "9000"))
MAX_DELAY = float(os.environ.get("BACKEND_MAX_DELAY", "60"))
MAX_DOWNLOAD = int(os.environ.get("BACKEND_MAX_DOWNLOAD", str(1 << 30)))

CHUNK = 65536
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_MAX_PAYLOAD = 16 << 20
# 251 is prime: a 64 KiB block of i % 251 repeats every 251 blocks' worth, so any slice is cut from this buffer.
_PATTERN = bytes(i % 251 for i in range(CHUNK + 251))


def pattern(offset: int, size: int) -> bytes:
    """Bytes offset .. offset + size (size <= CHUNK) of the download stream, byte i being i % 251."""
    start = offset % 251
    return _PATTERN[start : start + size]


def pattern_sha256(size: int) -> str:
    """The sha256 of the first `size` bytes of the download stream."""
    digest = hashlib.sha256()
    for offset in range(0, size, CHUNK):
        digest.update(pattern(offset, min(CHUNK, size - offset)))
    return digest.hexdigest()


def _number(query: dict, name: str, default: float) -> float:
    try:
        return float(query.get(name, [default])[0])
    except ValueError:
        return default


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()  # RFC 6455 asks for SHA-1


def ws_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server frame (never masked)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def ws_read_frame(read) -> tuple[bool, int, bytes] | None:
    """(fin, opcode, unmasked payload) of the next frame from read(n), or None at the end of the stream."""
    head = read(2)
    if len(head) < 2:
        return None
    fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
    masked, size = bool(head[1] & 0x80), head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", read(8))[0]
    if size > WS_MAX_PAYLOAD:
        return None
    mask = read(4) if masked else b""
    payload = read(size)
    if len(payload) < size:
        return None
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return fin, opcode, payload


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbstack-backend"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle's algorithm the body waits for the
    # peer's (delayed) ACK of the headers, about 40 ms per answer on a kept-alive connection.
    disable_nagle_algorithm = True

    def _send(self, status: int, body: bytes, send_body: bool = True, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("X-Backend", NAME)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        else:
            body = b""
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def _json(self, data: dict, send_body: bool = True) -> None:
        self._send(200, (json.dumps(data, sort_keys=True) + "\n").encode(), send_body, "application/json")

    def _answer(self, send_body: bool) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
        elif path == "/healthz":
            self._send(200, b"ok\n", send_body)
        elif path == "/health/strict":
            strict = self.request_version == "HTTP/1.1" and bool(self.headers.get("Host"))
            status = int(_number(query, "status", 200)) if strict else 400
            self._send(status if 200 <= status <= 599 else 400, f"{NAME}\n".encode(), send_body)
        elif path.startswith("/status/"):
            code = path[len("/status/") :]
            status = int(code) if code.isdigit() and 200 <= int(code) <= 599 else 400
            self._send(status, f"{NAME} {status}\n".encode(), send_body)
        elif path == "/headers":
            self._json(
                {
                    "backend": NAME,
                    "client": self.client_address[0],
                    "method": self.command,
                    "path": self.path,
                    "version": self.request_version,
                    "headers": [[k, v] for k, v in self.headers.items()],
                },
                send_body,
            )
        elif path == "/download":
            self._download(int(min(max(_number(query, "bytes", 0), 0), MAX_DOWNLOAD)), send_body)
        elif path == "/events":
            self._events(int(min(max(_number(query, "count", 3), 0), 1000)), _number(query, "interval", 0.5))
        else:
            if path == "/slow":
                time.sleep(min(max(_number(query, "seconds", 1.0), 0.0), MAX_DELAY))
            self._send(200, f"{NAME}\n".encode(), send_body)

    def _download(self, size: int, send_body: bool) -> None:
        self.send_response(200)
        self.send_header("X-Backend", NAME)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("X-Content-SHA256", pattern_sha256(size))
        self.end_headers()
        if send_body:
            for offset in range(0, size, CHUNK):
                self.wfile.write(pattern(offset, min(CHUNK, size - offset)))

    def _events(self, count: int, interval: float) -> None:
        self.send_response(200)
        self.send_header("X-Backend", NAME)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(count):
            if i:
                time.sleep(min(max(interval, 0.0), MAX_DELAY))
            event = f"data: {NAME} {i}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _read_body(self):
        """Yields the request body in pieces: Content-Length or chunked transfer coding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                while size:
                    piece = self.rfile.read(min(CHUNK, size))
                    if not piece:
                        raise ConnectionError("the body ended early")
                    size -= len(piece)
                    yield piece
                self.rfile.readline(3)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                piece = self.rfile.read(min(CHUNK, left))
                if not piece:
                    raise ConnectionError("the body ended early")
                left -= len(piece)
                yield piece

    def _upload(self) -> None:
        digest = hashlib.sha256()
        size = 0
        for piece in self._read_body():
            digest.update(piece)
            size += len(piece)
        self._json({"backend": NAME, "bytes": size, "sha256": digest.hexdigest()})

    def _websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        if not key:
            self._send(400, b"no Sec-WebSocket-Key\n")
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.send_header("X-Backend", NAME)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            frame = ws_read_frame(self.rfile.read)
            if frame is None:
                return
            fin, opcode, payload = frame
            if opcode == 0x8:  # close: answer with the same code and end
                self.wfile.write(ws_frame(0x8, payload[:2]))
                return
            if opcode == 0x9:
                self.wfile.write(ws_frame(0xA, payload))
            elif opcode in (0x0, 0x1, 0x2):
                self.wfile.write(ws_frame(opcode, payload, fin))
            self.wfile.flush()

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_POST(self) -> None:
        self._upload()

    def do_PUT(self) -> None:
        self._upload()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class LineEcho(socketserver.StreamRequestHandler):
    """The TCP service: the backend's name on connect, then every line back."""

    def handle(self) -> None:
        self.connection.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        self.wfile.write(f"{NAME}\n".encode())
        for line in self.rfile:
            self.wfile.write(line)


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def serve(address: str, port: int, tcp_port: int | None) -> tuple[Server, TcpServer | None]:
    """Starts both services in threads (no TCP service for tcp_port None; port 0 picks a free one); returns the
    servers (call shutdown() on them to stop)."""
    http = Server((address, port), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    tcp = None
    if tcp_port is not None:
        tcp = TcpServer((address, tcp_port), LineEcho)
        threading.Thread(target=tcp.serve_forever, daemon=True).start()
    return http, tcp


if __name__ == "__main__":
    serve(ADDRESS, PORT, TCP_PORT or None)
    threading.Event().wait()
