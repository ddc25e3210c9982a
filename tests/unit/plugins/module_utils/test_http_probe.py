"""The shared one-shot HTTP request of the measuring modules (plugins/module_utils/_http_probe.py): URL
parsing, naming the backend, error texts, and real requests against loopback servers, among them servers that
never answer, trickle their answer or drop kept-alive connections, to show that no request outlives its
deadline."""

from __future__ import annotations

import errno
import http.client
import importlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

probe = importlib.import_module("ansible_collections.lbstack.ha.plugins.module_utils._http_probe")


# --- pure parts -------------------------------------------------------------------------------------------


def test_target_parses_host_port_and_path() -> None:
    target = probe.Target("http://192.0.2.10:8080/a/b?x=1")
    assert (target.host, target.port, target.path) == ("192.0.2.10", 8080, "/a/b?x=1")
    target = probe.Target("http://lb.example")
    assert (target.host, target.port, target.path) == ("lb.example", 80, "/")
    target = probe.Target("http://[::1]:81/")
    assert (target.host, target.port) == ("::1", 81)


NOT_HTTP = ["https://127.0.0.1/", "127.0.0.1:80", "http:///p", "ftp://h/", "http://h:x/"]


@pytest.mark.parametrize("url", NOT_HTTP)
def test_target_refuses_anything_but_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"only http://host\[:port\]/path URLs are supported"):
        probe.Target(url)


@pytest.mark.parametrize("url", ["http://h/a b", "http://h/caf\u00e9"])  # (urlsplit drops tabs itself)
def test_target_refuses_paths_http_client_would_not_send(url: str) -> None:
    with pytest.raises(ValueError, match="must be printable ASCII without spaces"):
        probe.Target(url)


VALUES = [("web1", True), ("caf\xe9", True), ("a\tb", True), ("a\r\nb", False), ("\u2603", False)]
VALUES += [("\x7f", False)]


@pytest.mark.parametrize(("value", "ok"), VALUES)
def test_header_values(value: str, ok: bool) -> None:
    assert probe.is_header_value(value) is ok


PATHS = [("/a?b=1&c=%20", True), ("a", False), ("/a b", False), ("/\xe9", False)]


@pytest.mark.parametrize(("path", "ok"), PATHS)
def test_request_paths(path: str, ok: bool) -> None:
    assert probe.is_request_path(path) is ok


def headers(**fields: str) -> Message:
    message = http.client.HTTPMessage()
    for name, value in fields.items():
        message[name.replace("_", "-")] = value
    return message


@pytest.mark.parametrize(
    ("fields", "body", "header", "name"),
    [
        ({"X_Backend": "web1"}, b"web1\n", "X-Backend", "web1"),
        ({"X_Backend": " web2 "}, b"other\n", "X-Backend", "web2"),  # the header wins, trimmed
        ({}, b"web3\nmore lines\n", "X-Backend", "web3"),  # no header: the body's first line
        ({"X_Backend": "  "}, b"\n  web4  \n", "X-Backend", "web4"),  # a blank header: the body
        ({"X_Backend": "web1"}, b"web5\n", None, "web5"),  # no header asked for: the body only
        ({"X_Served_By": "web6"}, b"x\n", "X-Served-By", "web6"),
        ({}, b"", "X-Backend", ""),  # neither: the empty name
        ({}, b"\xffweb7\n", "X-Backend", "\ufffdweb7"),  # bytes that are not UTF-8 do not fail it
    ],
)
def test_backend_name_from_header_else_first_body_line(
    fields: dict[str, str], body: bytes, header: str | None, name: str
) -> None:
    assert probe.backend_name(headers(**fields), body, header) == name


def test_backend_names_are_bounded() -> None:
    assert len(probe.backend_name(headers(), b"n" * 10_000, "X-Backend")) == probe.MAX_NAME


@pytest.mark.parametrize(
    ("exc", "connected", "text"),
    [
        (socket.timeout("timed out"), False, "connect timeout"),
        (socket.timeout("timed out"), True, "read timeout"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), False, "connection refused"),
        (http.client.RemoteDisconnected("closed"), True, "closed without response"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), True, "connection reset"),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), True, "broken pipe"),
        (socket.gaierror(-2, "Unknown name"), False, "name resolution failed: Unknown name"),
        (http.client.BadStatusLine("junk"), True, "bad response: BadStatusLine"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), False, "no route to host"),
        (ValueError("odd"), True, "invalid request: odd"),
        (RuntimeError("odd"), True, "RuntimeError"),
    ],
)
def test_failures_get_short_stable_texts(exc: BaseException, connected: bool, text: str) -> None:
    assert probe.classify(exc, connected) == text


def test_error_kinds_are_bounded() -> None:
    errors: dict[str, int] = {}
    for i in range(probe.MAX_ERROR_KINDS + 5):
        probe.count_error(errors, f"kind {i}")
    probe.count_error(errors, "kind 0")
    assert len(errors) == probe.MAX_ERROR_KINDS + 1
    assert errors["other"] == 5 and errors["kind 0"] == 2


@pytest.mark.parametrize(("name", "ok"), [("X-Backend", True), ("x_b.1", True), ("X B", False), ("", False)])
def test_header_names(name: str, ok: bool) -> None:
    assert probe.is_header_name(name) is ok


# --- against loopback servers -----------------------------------------------------------------------------


class Server:
    """A loopback HTTP/1.1 server whose handler is `answer(handler)`; records (client, port, Host)."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.seen: list[tuple[str, int, str | None]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                outer.seen.append((self.client_address[0], self.client_address[1], self.headers.get("Host")))
                answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        loop = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        loop.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, name: str | None = "web1") -> None:
    handler.send_response(status)
    if name:
        handler.send_header("X-Backend", name)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], Server]]:
    made: list[Server] = []

    def make(answer: Callable[[BaseHTTPRequestHandler], None]) -> Server:
        made.append(Server(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def get(url: str, timeout: float = 1.0, **kwargs: Any) -> Any:
    return probe.Prober(probe.Target(url), timeout, **kwargs).get()


def test_an_answer_names_its_backend(serve) -> None:
    server = serve(lambda h: send(h, b"web1\n"))
    result = get(server.url)
    assert (result.ok, result.status, result.backend, result.error) == (True, 200, "web1", None)
    assert 0 <= result.elapsed < 1.0


def test_non_2xx_answers_are_failures(serve) -> None:
    server = serve(lambda h: send(h, b"down\n", status=503))
    result = get(server.url)
    assert (result.ok, result.status, result.error, result.backend) == (False, 503, "HTTP 503", None)


def test_refused_connections(serve) -> None:
    server = serve(lambda h: send(h, b"x\n"))
    url = server.url
    server.close()
    result = get(url)
    assert result.error == "connection refused"


def test_a_server_that_never_answers_costs_the_timeout_and_no_more(serve) -> None:
    server = serve(lambda h: server.release.wait(10))
    started = time.monotonic()
    result = get(server.url, timeout=0.3)
    elapsed = time.monotonic() - started
    assert result.error == "read timeout"
    assert 0.28 <= elapsed < 0.7, elapsed


def test_a_trickled_answer_cannot_outlive_the_deadline(serve) -> None:
    """A byte every 0.1 s never trips a per-read timeout of 0.35 s; the request's deadline still ends it."""

    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(100):
            if server.release.wait(0.1):
                return
            h.wfile.write(b"x")
            h.wfile.flush()

    server = serve(trickle)
    started = time.monotonic()
    result = get(server.url, timeout=0.35)
    elapsed = time.monotonic() - started
    assert result.error == "read timeout"
    assert 0.33 <= elapsed < 0.7, elapsed


def test_a_connect_that_is_never_answered_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    try:
        for _ in range(8):  # fill the accept queue: later SYNs are dropped
            sock = socket.socket()
            sock.settimeout(0.2)
            queued.append(sock)
            try:
                sock.connect(("127.0.0.1", port))
            except OSError:
                break
        else:
            pytest.skip("this kernel answers every SYN; no connect timeout to test")
        started = time.monotonic()
        result = get(f"http://127.0.0.1:{port}/", timeout=0.25)
        elapsed = time.monotonic() - started
        assert result.error == "connect timeout"
        assert 0.23 <= elapsed < 0.6, elapsed
    finally:
        for sock in queued:
            sock.close()
        listener.close()


def test_a_deadline_already_past_fails_at_once() -> None:
    started = time.monotonic()
    assert get("http://127.0.0.1:9/", timeout=1e-9).error == "connect timeout"
    assert time.monotonic() - started < 0.2


def test_new_connection_per_request_by_default(serve) -> None:
    server = serve(lambda h: send(h, b"web1\n"))
    prober = probe.Prober(probe.Target(server.url), 1.0)
    results = [prober.get() for _ in range(5)]
    assert all(r.ok and not r.reused for r in results)
    assert prober.connections == 5
    assert len({port for _, port, _ in server.seen}) == 5


def test_keepalive_reuses_one_connection_per_source(serve) -> None:
    server = serve(lambda h: send(h, b"web1\n"))
    prober = probe.Prober(probe.Target(server.url), 1.0, keepalive=True)
    results = [prober.get(source=source) for source in ["127.0.0.2", "127.0.0.3"] * 3]
    prober.close()
    assert all(r.ok for r in results)
    assert [r.reused for r in results] == [False, False, True, True, True, True]
    assert prober.connections == 2
    assert sorted({(client, port) for client, port, _ in server.seen})[0][0] == "127.0.0.2"
    assert len({(client, port) for client, port, _ in server.seen}) == 2


def test_keepalive_survives_a_server_that_drops_idle_connections(serve) -> None:
    """The server answers as if it kept the connection, then closes it: the next request is sent again once,
    on a new connection, and counts as one success."""

    def answer_and_hang_up(h: BaseHTTPRequestHandler) -> None:
        send(h, b"web1\n")
        h.close_connection = True

    server = serve(answer_and_hang_up)
    prober = probe.Prober(probe.Target(server.url), 1.0, keepalive=True)
    results = []
    for _ in range(4):
        results.append(prober.get())
        time.sleep(0.02)  # let the close arrive, as it would for an idle connection
    prober.close()
    assert [r.error for r in results] == [None] * 4
    assert prober.connections == 4
    assert len(server.seen) == 4


def test_keepalive_replaces_a_connection_closed_while_idle_without_resending(serve) -> None:
    """A connection the server closed while idle is seen before the next request (urllib3's check) and
    replaced: no request is lost or sent twice, even without retries."""

    def answer_and_hang_up(h: BaseHTTPRequestHandler) -> None:
        send(h, b"web1\n")
        h.close_connection = True

    server = serve(answer_and_hang_up)
    prober = probe.Prober(probe.Target(server.url), 1.0, keepalive=True, retry_stale=False)
    results = []
    for _ in range(3):
        results.append(prober.get())
        time.sleep(0.05)  # the server's FIN arrives while the connection is idle
    prober.close()
    assert [r.error for r in results] == [None] * 3
    assert (prober.connections, prober.closed_idle, len(server.seen)) == (3, 2, 3)


def test_keepalive_counts_answers_that_announce_the_close(serve) -> None:
    def answer_with_close(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "5")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"web1\n")
        h.close_connection = True

    server = serve(answer_with_close)
    prober = probe.Prober(probe.Target(server.url), 1.0, keepalive=True, retry_stale=False)
    results = [prober.get() for _ in range(3)]
    prober.close()
    assert [r.backend for r in results] == ["web1"] * 3
    assert (prober.connections, prober.closed_announced, prober.closed_idle) == (3, 3, 0)


def test_without_retries_a_kept_alive_connection_that_closes_under_a_request_fails_it(serve) -> None:
    """The second request of each connection is read and dropped unanswered, as an old worker that shuts
    down under it would: without retries it fails, with them it is sent once more on a new connection."""
    served: dict[int, int] = {}

    def drop_the_second(h: BaseHTTPRequestHandler) -> None:
        port = h.client_address[1]
        served[port] = served.get(port, 0) + 1
        if served[port] == 2:
            h.close_connection = True
            return
        send(h, b"web1\n")

    server = serve(drop_the_second)
    strict = probe.Prober(probe.Target(server.url), 1.0, keepalive=True, retry_stale=False)
    assert [strict.get().error for _ in range(2)] == [None, "closed without response"]
    strict.close()
    lenient = probe.Prober(probe.Target(server.url), 1.0, keepalive=True)
    assert [lenient.get().error for _ in range(2)] == [None, None]
    lenient.close()
    assert lenient.connections == 2


def test_keepalive_drops_a_connection_whose_answer_was_not_read_whole(serve) -> None:
    big = b"web1\n" + b"x" * (probe.MAX_BODY * 2)
    server = serve(lambda h: send(h, big))
    prober = probe.Prober(probe.Target(server.url), 2.0, keepalive=True)
    results = [prober.get() for _ in range(3)]
    prober.close()
    assert [r.backend for r in results] == ["web1"] * 3
    assert prober.connections == 3


def test_source_address_and_host_header(serve) -> None:
    server = serve(lambda h: send(h, b"web1\n"))
    target = probe.Target(server.url)
    prober = probe.Prober(target, 1.0, host_header="www.example", headers={"host": "ignored"})
    assert prober.get(source="127.0.0.7").ok
    client, _, host = server.seen[0]
    assert (client, host) == ("127.0.0.7", "www.example")


def test_a_source_address_not_on_the_host_is_a_counted_failure(serve) -> None:
    server = serve(lambda h: send(h, b"web1\n"))
    result = probe.Prober(probe.Target(server.url), 0.5).get(source="203.0.113.254")
    # bind() refuses it, or with net.ipv4.ip_nonlocal_bind=1 the connect from it to loopback does
    assert result.error in ("cannot assign requested address", "network is unreachable")
    assert server.seen == []
