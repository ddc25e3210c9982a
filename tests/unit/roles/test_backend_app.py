"""The demo backend behaves like real applications: status codes per path, echoed headers, uploads of any size
answered with their size and sha256, streamed downloads, server-sent events, slow answers, a strict health
path, a WebSocket echo and a plain TCP line echo. Each checked with raw clients on loopback."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import time

import pytest
from app_backend import running


@pytest.fixture(scope="module")
def app():
    with running("app1") as (module, port, tcp_port):
        yield module, port, tcp_port


def get(port: int, path: str, headers: dict | None = None, method: str = "GET", body=None, chunked: bool = False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_the_root_names_the_backend(app) -> None:
    _, port, _ = app
    assert get(port, "/")[::2] == (200, b"app1\n")
    assert get(port, "/")[1]["X-Backend"] == "app1"


@pytest.mark.parametrize(("path", "status"), [("/status/503", 503), ("/status/201", 201), ("/status/999", 400)])
def test_a_status_per_path(app, path: str, status: int) -> None:
    _, port, _ = app
    got, headers, body = get(port, path)
    assert (got, headers["X-Backend"]) == (status, "app1")
    assert body == f"app1 {status}\n".encode()


def test_the_request_headers_and_the_peer_come_back(app) -> None:
    _, port, _ = app
    status, _, body = get(port, "/headers", {"X-Forwarded-For": "203.0.113.66", "Host": "shop.example:8080"})
    seen = json.loads(body)
    assert status == 200 and seen["client"] == "127.0.0.1" and seen["backend"] == "app1"
    assert ["X-Forwarded-For", "203.0.113.66"] in seen["headers"] and ["Host", "shop.example:8080"] in seen["headers"]


def test_an_upload_answers_its_size_and_sha256(app) -> None:
    _, port, _ = app
    data = os.urandom(3 << 20)
    status, _, body = get(port, "/upload", method="POST", body=data)
    assert status == 200
    assert json.loads(body) == {"backend": "app1", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_chunked_upload_too(app) -> None:
    _, port, _ = app
    pieces = [b"a" * 70000, b"b" * 5, b"c" * 123456]
    status, _, body = get(port, "/up", method="PUT", body=iter(pieces), chunked=True)
    data = b"".join(pieces)
    assert status == 200
    assert json.loads(body)["bytes"] == len(data) and json.loads(body)["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 250, 65536, 1_000_003])
def test_a_download_of_the_chosen_size_with_its_sha256(app, size: int) -> None:
    _, port, _ = app
    status, headers, body = get(port, f"/download?bytes={size}")
    expected = bytes(i % 251 for i in range(size))
    assert status == 200 and body == expected
    assert headers["X-Content-SHA256"] == hashlib.sha256(expected).hexdigest()


def test_server_sent_events_stream(app) -> None:
    _, port, _ = app
    status, headers, body = get(port, "/events?count=3&interval=0.05")
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert body == b"data: app1 0\n\ndata: app1 1\n\ndata: app1 2\n\n"


def test_slow_answers_wait(app) -> None:
    _, port, _ = app
    started = time.monotonic()
    assert get(port, "/slow?seconds=0.3")[0] == 200
    assert time.monotonic() - started >= 0.3


def raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while piece := sock.recv(65536):
            data += piece
        return data


def test_the_strict_health_path_wants_http_1_1_and_a_host(app) -> None:
    _, port, _ = app
    assert get(port, "/health/strict?status=204")[0] == 204
    http_1_0 = b"GET /health/strict?status=204 HTTP/1.0\r\nHost: x\r\n\r\n"
    no_host = b"GET /health/strict?status=204 HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert raw(port, http_1_0).split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
    assert raw(port, no_host).split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"


def masked(opcode: int, payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    size = len(payload)
    head = bytes([0x80 | opcode]) + (
        bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
    )
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_websocket_echoes_and_pongs(app) -> None:
    _, port, _ = app
    key = base64.b64encode(b"0123456789abcdef").decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        stream = sock.makefile("rb")
        head = []
        while (line := stream.readline()) not in (b"\r\n", b""):
            head.append(line.decode().strip())
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert head[0] == "HTTP/1.1 101 Switching Protocols"
        assert f"Sec-WebSocket-Accept: {accept.decode()}" in head and "X-Backend: app1" in head
        sock.sendall(masked(0x1, b"hello"))
        assert stream.read(7) == b"\x81\x05hello"
        sock.sendall(masked(0x2, b"x" * 300))
        assert stream.read(4 + 300) == b"\x82\x7e\x01\x2c" + b"x" * 300
        sock.sendall(masked(0x9, b"p"))
        assert stream.read(3) == b"\x8a\x01p"
        sock.sendall(masked(0x8, struct.pack("!H", 1000)))
        assert stream.read(4) == b"\x88\x02\x03\xe8"
        assert stream.read(1) == b""  # the backend closed the connection after the close frame


def test_the_tcp_service_names_itself_and_echoes_lines(app) -> None:
    _, _, tcp_port = app
    with socket.create_connection(("127.0.0.1", tcp_port), timeout=10) as sock:
        stream = sock.makefile("rwb")
        assert stream.readline() == b"app1\n"
        for line in (b"one\n", b"two two\n"):
            stream.write(line)
            stream.flush()
            assert stream.readline() == line
