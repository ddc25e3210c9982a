"""The measuring modules against real HTTP servers on loopback: counting who answered, timing a real
outage, and reading which addresses a host holds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import Prober, Target
from ansible_collections.lbstack.ha.plugins.modules.lb_gap_probe import probe_gaps
from ansible_collections.lbstack.ha.plugins.modules.lb_traffic_count import count_traffic
from ansible_collections.lbstack.ha.plugins.modules.vip_holder import holders, parse_ip_addr

REPO = Path(__file__).resolve().parents[4]


class Backend:
    """A loopback HTTP server that answers with the next name of a cycle, like a balancer would."""

    def __init__(self, names: list[str], delay: float = 0.0, header: bool = True) -> None:
        self.names = names
        self.calls = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer.lock:
                    name = outer.names[outer.calls % len(outer.names)]
                    outer.calls += 1
                time.sleep(delay)
                body = f"{name}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                if header:
                    self.send_header("X-Backend", name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend(["a", "a", "b", "a", "c", "a", "a"])
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_counts_and_order_of_answers(backend: Backend) -> None:
    result = count_traffic(backend.url, 70)
    assert result["counts"] == {"a": 50, "b": 10, "c": 10}
    assert result["order"][:7] == list("aabacaa")
    assert result["failures"] == 0 and result["succeeded"] == 70


def test_body_names_the_backend_when_the_header_is_absent() -> None:
    server = Backend(["x", "y"], header=False)
    try:
        assert count_traffic(server.url, 4)["counts"] == {"x": 2, "y": 2}
    finally:
        server.stop()


def test_concurrency_keepalive_paths_and_sources(backend: Backend) -> None:
    result = count_traffic(backend.url, 70, concurrency=4)
    assert sum(result["counts"].values()) == 70 and result["counts"]["a"] == 50
    result = count_traffic(backend.url, 14, keepalive=True)
    assert result["failures"] == 0 and sum(result["counts"].values()) == 14
    result = count_traffic(backend.url, 6, paths=["/k1", "/k2"], source_addresses=["127.0.0.2", "127.0.0.3"])
    assert set(result["by_path"]) == {"/k1", "/k2"}
    assert sum(sum(t.values()) for t in result["by_source"].values()) == 6


def test_refused_connections_are_counted_not_fatal() -> None:
    result = count_traffic(f"http://127.0.0.1:{free_port()}/", 3, timeout=0.5)
    assert result["failures"] == 3
    assert result["errors"] == {"connection refused": 3}
    assert result["order"] == [None, None, None]


def test_a_hanging_server_costs_no_more_than_the_timeout() -> None:
    server = Backend(["slow"], delay=2.0)
    try:
        started = time.monotonic()
        result = Prober(Target(server.url), timeout=0.3).get()
        assert time.monotonic() - started < 1.0
        assert result.error == "timeout"
    finally:
        server.stop()


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="only http://host"):
        Target("https://127.0.0.1/")


def test_gap_probe_measures_a_real_outage() -> None:
    names = ["a"]
    server = Backend(names)
    port = server.port
    outage = 0.6

    def restart_on_same_port() -> None:
        time.sleep(0.5)
        server.stop()
        time.sleep(outage)
        handler = server.server.RequestHandlerClass
        revived = ThreadingHTTPServer(("127.0.0.1", port), handler)  # the same port: the same URL
        revived.daemon_threads = True
        threading.Thread(target=revived.serve_forever, daemon=True).start()
        holder.append(revived)

    holder: list[ThreadingHTTPServer] = []
    threading.Thread(target=restart_on_same_port, daemon=True).start()
    try:
        result = probe_gaps(f"http://127.0.0.1:{port}/", duration=2.0, interval=0.01, timeout=0.2)
    finally:
        for revived in holder:
            revived.shutdown()
            revived.server_close()
    assert outage - 0.1 <= result["longest_gap"] <= outage + 0.5, result
    assert 0.4 <= result["gap_start"] <= 0.7
    assert result["failures"] > 0 and result["errors"].get("connection refused", 0) > 0
    assert result["first_success_after"] < 0.2 and result["last_success_before_end"] < 0.2
    events = [e["event"] for e in result["timeline"]]
    phases = [event for i, event in enumerate(events) if i == 0 or event != events[i - 1]]
    assert phases == ["ok", "fail", "ok"], result["timeline"]


def test_gap_probe_without_fault_sees_only_the_probe_interval(backend: Backend) -> None:
    result = probe_gaps(backend.url, duration=0.5, interval=0.02)
    assert result["failures"] == 0
    assert result["longest_gap"] < 0.2
    assert [e["event"] for e in result["timeline"]] == ["ok"]


IP_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
29: eth0    inet 172.29.20.11/24 brd 172.29.20.255 scope global eth0\\       valid_lft forever preferred_lft forever
29: eth0    inet 172.29.20.100/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever
30: eth1@if31    inet 10.0.0.5/8 scope global eth1\\       valid_lft forever preferred_lft forever
"""


def test_parse_ip_addr_and_exact_holders() -> None:
    addresses = parse_ip_addr(IP_ADDR)
    assert addresses == {
        "lo": ["127.0.0.1/8", "::1/128"],
        "eth0": ["172.29.20.11/24", "172.29.20.100/24"],
        "eth1": ["10.0.0.5/8"],
    }
    assert holders(addresses, "172.29.20.100") == ["eth0"]
    assert holders(addresses, "172.29.20.100", "eth1") == []
    assert holders(addresses, "127.0.0.2") == []  # inside 127.0.0.1/8 but not configured
    assert holders(addresses, "::1") == ["lo"]


def run_module(name: str, args: str) -> tuple[int, dict]:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_NOCOLOR="1",
    )
    ansible = str(Path(sys.executable).with_name("ansible"))
    run = subprocess.run(
        [ansible, "localhost", "-m", f"lbstack.ha.{name}", "-a", args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return run.returncode, result


def test_modules_through_ansible(backend: Backend) -> None:
    rc, result = run_module("lb_traffic_count", f"url={backend.url} count=14")
    assert rc == 0 and result["counts"] == {"a": 10, "b": 2, "c": 2} and result["changed"] is False
    rc, result = run_module("lb_gap_probe", f"url={backend.url} duration=0.3")
    assert rc == 0 and result["failures"] == 0 and result["succeeded"] > 5
    rc, result = run_module("vip_holder", "address=127.0.0.1")
    assert rc == 0 and result["holds"] is True and "lo" in result["interfaces"]
    rc, result = run_module("vip_holder", "address=127.0.0.254 wait_for=present timeout=0.3")
    assert rc != 0 and result["msg"] == "127.0.0.254 was not held within 0.3 s"
    rc, result = run_module("lb_traffic_count", f"url={backend.url} count=0")
    assert rc != 0 and result["msg"] == "count must lie within 1..1000000, got 0"
