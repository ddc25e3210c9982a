"""lb_app_probe against the demo backend on loopback: transfers whose checksums must match (and a corrupted one
that must not), what the backend saw of a request, a WebSocket session idle between two echoes (and one the
far end drops), TCP connections counted per backend; arguments checked; and once through Ansible."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from app_backend import running

from ansible_collections.lbstack.ha.plugins.module_utils import _app_probe as probe
from ansible_collections.lbstack.ha.plugins.modules import lb_app_probe as module


@pytest.fixture
def app():
    with running("app1") as started:
        yield started


def test_a_transfer_arrives_whole_both_ways(app) -> None:
    _, port, _ = app
    result = probe.transfer("127.0.0.1", port, 5_000_001, 10)
    assert result["ok"], result
    up, down = result["upload"], result["download"]
    assert up["bytes_received"] == up["bytes_sent"] == 5_000_001 and up["sha256_received"] == up["sha256_sent"]
    assert down["bytes_received"] == 5_000_001 and down["sha256_received"] == down["sha256_announced"]
    assert up["backend"] == down["backend"] == "app1"


def test_a_corrupted_download_is_caught(app) -> None:
    backend, port, _ = app
    backend.pattern = lambda offset, size: b"x" * size  # the backend now sends other bytes (and their sha256)
    result = probe.transfer("127.0.0.1", port, 100_000, 10)
    assert result["upload"]["ok"] and not result["download"]["ok"] and not result["ok"]
    assert result["download"]["sha256_received"] != result["download"]["sha256_expected"]


def test_a_refused_transfer_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = probe.transfer("127.0.0.1", port, 10, 2)
    assert not result["ok"] and result["upload"]["error"] == "connection refused"


def test_an_answer_before_the_body_is_read_like_curl_reads_it() -> None:
    # HAProxy denies a too large Content-Length with 413 as soon as the headers are in, and closes.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def answer_early() -> None:
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.shutdown(socket.SHUT_WR)
                time.sleep(0.5)

        thread = threading.Thread(target=answer_early)
        thread.start()
        result = probe.upload("127.0.0.1", port, 50_000_000, 5)
        thread.join()
    assert result["status"] == 413 and result["error"] == "HTTP 413" and not result["ok"], result
    assert result["bytes_sent"] < 50_000_000


def test_what_the_backend_saw(app) -> None:
    _, port, _ = app
    result = probe.request_headers("127.0.0.1", port, 5, headers={"X-Forwarded-For": "203.0.113.66"}, host_header="h")
    assert result["ok"] and result["client"] == "127.0.0.1" and result["backend"] == "app1"
    assert result["headers"]["x-forwarded-for"] == "203.0.113.66" and result["headers"]["host"] == "h"


def test_a_websocket_session_echoes_across_its_idle_time(app) -> None:
    _, port, _ = app
    result = probe.websocket("127.0.0.1", port, 5, idle=0.5)
    assert result["ok"] and result["echoes"] == 2 and result["backend"] == "app1" and result["seconds"] >= 0.5


def test_a_websocket_the_far_end_drops_while_idle_fails() -> None:
    """A stand-in for a proxy with a short timeout: upgrades, echoes once, then closes while the client idles."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            request = conn.recv(65536).decode()
            key = next(line.split(":", 1)[1].strip() for line in request.split("\r\n") if line.startswith("Sec-"))
            accept = probe.base64.b64encode(probe.hashlib.sha1((key + probe.WS_GUID).encode()).digest()).decode()
            conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode())
            opcode, payload = probe.ws_read(conn)
            conn.sendall(bytes([0x80 | opcode, len(payload)]) + payload)
            time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    result = probe.websocket("127.0.0.1", server.getsockname()[1], 5, idle=0.5)
    thread.join(5)
    server.close()
    assert result["upgraded"] and result["echoes"] == 1 and not result["ok"]
    assert result["error"] in ("connection reset", "broken pipe")


def test_tcp_connections_are_counted_per_backend(app) -> None:
    _, _, tcp_port = app
    result = probe.tcp_count("127.0.0.1", tcp_port, 5, 5)
    assert result["ok"] and result["counts"] == {"app1": 5} and result["order"] == ["app1"] * 5


def test_refused_tcp_connections_are_failures() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = probe.tcp_count("127.0.0.1", port, 3, 2)
    assert (result["ok"], result["failures"], result["errors"]) == (False, 3, {"connection refused": 3})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"port": 0}, "port must lie within 1..65535, got 0"),
        ({"timeout": 0}, "timeout must be above 0"),
        ({"size": -1}, "size must lie within 0.."),
        ({"idle": 4000}, "idle must lie within 0..3600 seconds"),
        ({"count": 0}, "count must lie within 1..100000"),
        ({"path": "/a b"}, "path must start with / and be printable ASCII"),
        ({"headers": {"X-A": "a\nb"}}, "headers: the value of X-A must be Latin-1 without control characters"),
        ({"headers": {"X A": "a"}}, "headers: 'X A' is not an HTTP header name"),
    ],
)
def test_bad_arguments_are_refused(changes: dict, message: str) -> None:
    args = {"check": "tcp", "host": "127.0.0.1", "port": 80, "path": None, "host_header": None, "headers": {}}
    args.update(size=1, idle=0.0, count=1, timeout=1.0, fail_on_error=False)
    args.update(changes)
    assert message in (module.check_arguments(args) or "")


def test_through_ansible_with_its_documentation(app, playbook, documentation) -> None:
    _, port, tcp_port = app
    _, got = playbook(
        [
            {
                "name": "A transfer",
                "lbstack.ha.lb_app_probe": {"check": "transfer", "host": "127.0.0.1", "port": port, "size": 300000},
                "register": "transfer",
            },
            {
                "name": "TCP",
                "lbstack.ha.lb_app_probe": {"check": "tcp", "host": "127.0.0.1", "port": tcp_port, "count": 3},
                "register": "tcp",
            },
            {
                "name": "A refused port fails the task when asked to",
                "lbstack.ha.lb_app_probe": {"check": "tcp", "host": "127.0.0.1", "port": 1, "fail_on_error": True},
                "register": "refused",
                "ignore_errors": True,
            },
        ]
    )
    assert got["transfer"]["ok"] and got["transfer"]["changed"] is False
    assert got["tcp"]["counts"] == {"app1": 3}
    assert got["refused"]["failed"] and got["refused"]["msg"] == "tcp through 127.0.0.1:1 failed"
    documentation(module, got["tcp"])
    documentation(module, got["transfer"])
