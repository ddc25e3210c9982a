"""lb_hold_connections against loopback servers: connections answered and held at once, a server that closes
them or refuses them counted as failures, the run bounded in time, and its arguments checked."""

from __future__ import annotations

import socket
import threading

import pytest

from ansible_collections.lbstack.ha.plugins.modules.lb_hold_connections import check_arguments, hold_connections


def test_every_connection_answered_and_held_at_once(servers) -> None:
    server = servers(["web1", "web2"])
    result = hold_connections(server.url, 60, window=10, hold=0.3, timeout=20)
    assert (result["answered"], result["held"], result["failures"], result["errors"]) == (60, 60, 0, {})
    assert result["counts"] == {"web1": 30, "web2": 30}
    assert result["peak_open"] == 60
    assert len(server.clients()) == 60  # one request per connection, each on its own connection


def test_a_server_that_refuses_counts_every_connection_failed(refused_url) -> None:
    result = hold_connections(refused_url, 5, hold=0, timeout=5)
    assert (result["answered"], result["held"], result["failures"]) == (0, 0, 5)
    assert result["errors"] == {"refused": 5}


def test_a_server_that_closes_after_answering_is_not_held() -> None:
    """An answer with Connection: close is answered but not held: counted as closed while held."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def serve() -> None:
        for _attempt in range(3):
            conn, _peer = listener.accept()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = hold_connections(f"http://127.0.0.1:{port}/", 3, hold=0.5, timeout=5)
    finally:
        listener.close()
    assert (result["answered"], result["held"], result["failures"], result["closed_while_held"]) == (3, 0, 0, 3)
    assert result["errors"] == {}


def test_an_error_status_is_a_failure(servers) -> None:
    server = servers(["web1"], status=503)
    result = hold_connections(server.url, 4, hold=0, timeout=5)
    assert (result["held"], result["failures"], result["errors"]) == (0, 4, {"status 503": 4})


def test_the_run_is_bounded_by_its_timeout(servers) -> None:
    server = servers(["web1"], mode="hang")
    result = hold_connections(server.url, 3, hold=0, timeout=0.5)
    assert result["errors"] == {"timeout": 3} and result["elapsed"] < 3
    server.released.set()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "https://x/"}, "url must be an http:// URL with a host, got 'https://x/'"),
        ({"connections": 0}, "connections must be 1 to 50000, got 0"),
        ({"connections": 5000}, "connections=5000 needs about 5064 open files, this host allows 1024"),
        ({"window": 0}, "window must be 1 to 10000, got 0"),
        ({"hold": 61}, "hold must be 0 to 60 seconds, got 61"),
        ({"timeout": 0}, "timeout must be above 0 and at most 600 seconds, got 0"),
    ],
)
def test_bad_arguments_are_refused_with_their_name(change: dict, message: str) -> None:
    args = {"url": "http://127.0.0.1/", "connections": 10, "window": 200, "hold": 2.0, "timeout": 120.0}
    assert check_arguments(args | change, 1024) == message
    assert check_arguments(args, 1024) is None
