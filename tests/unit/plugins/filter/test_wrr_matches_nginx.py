"""wrr_schedule predicts a REAL nginx: for several weight sets, an nginx with one worker proxies to tiny HTTP
servers on 127.0.0.1 that answer their own names, and the order of the names of sequential requests (a new
connection each) must equal lbstack.ha.wrr_schedule.

The nginx binary is Debian's, unpacked by scripts/fetch-nginx into .cache/nginx (or the one LBSTACK_NGINX
names). Without it the test fails: it must not pass by skipping. Everything listens on 127.0.0.1 only; every
wait is bounded by count and time; nginx and the servers are stopped by the fixture's finalizer.
"""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from real_nginx import NGINX, nginx_args, nginx_conf, require_nginx

from ansible_collections.lbstack.ha.plugins.filter.weights import FilterModule

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
REQUEST_TIMEOUT = 5.0
MAX_REQUESTS = 500

FILTERS = FilterModule().filters()


class _NameHandler(BaseHTTPRequestHandler):
    """Answers every GET with the server's name."""

    server: _NamedServer

    def do_GET(self) -> None:
        body = f"{self.server.name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _NamedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__((HOST, 0), _NameHandler)
        self.name = name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Lab:
    """Backends and nginx processes started by one test; stop() undoes all of it."""

    servers: list[_NamedServer] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)

    def backend(self, name: str) -> int:
        server = _NamedServer(name)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.servers.append(server)
        return int(server.server_address[1])

    def nginx(self, server_lines: list[str]) -> int:
        """Starts nginx (one worker) with an upstream of these `server` lines; returns its port."""
        prefix = Path(tempfile.mkdtemp(prefix="lbstack-nginx-"))
        self.directories.append(prefix)
        prefix.chmod(0o755)  # workers run as nobody when the tests run as root
        for attempt in range(3):  # another process may take the free port before nginx binds it
            port = _free_port()
            upstream = "\n".join(f"        {line};" for line in server_lines)
            http = f"""    upstream pool {{
{upstream}
    }}
    server {{
        listen {HOST}:{port};
        location / {{
            proxy_pass http://pool;
            proxy_next_upstream off;
        }}
    }}"""
            (prefix / "nginx.conf").write_text(
                nginx_conf(prefix, http, main="worker_processes 1;\ndaemon off;\nmaster_process on;")
            )
            stderr = (prefix / f"stderr-{attempt}.log").open("wb")
            process = subprocess.Popen(
                nginx_args(prefix),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
            stderr.close()
            self.processes.append(process)
            if self._wait_until_listening(process, port):
                return port
            self._stop(process)
            error_log = prefix / "error.log"
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            if "Address already in use" not in log:
                break
        pytest.fail(f"nginx did not listen on {HOST}:{port} within {START_TIMEOUT} s:\n{log[-2000:]}")

    @staticmethod
    def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(1000):
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            try:
                with socket.create_connection((HOST, port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # fast shutdown: the master stops its worker
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def stop(self) -> None:
        for process in self.processes:
            self._stop(process)
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    require_nginx(NGINX)
    started = Lab()
    request.addfinalizer(started.stop)
    yield started


def ask(port: int, count: int) -> list[str]:
    """`count` sequential GETs, each on a new connection; the names that answered, in order."""
    assert count <= MAX_REQUESTS
    names = []
    for _ in range(count):
        connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("GET", "/", headers={"Connection": "close"})
            response = connection.getresponse()
            body = response.read().decode().strip()
            assert response.status == 200, f"nginx answered {response.status}: {body}"
            names.append(body)
        finally:
            connection.close()
    return names


def server_line(port: int, item: dict[str, Any]) -> str:
    """A server line as roles/nginx renders it: weight when above 0, backup, and down for drain and down."""
    line = f"server {HOST}:{port}"
    if item["weight"] > 0:
        line += f" weight={item['weight']}"
    state = item.get("state", "active")
    if state == "backup":
        line += " backup"
    elif state in ("drain", "down"):
        line += " down"
    return line


def observe(lab: Lab, backends: list[dict[str, Any]], cycles: int) -> tuple[list[str], list[str]]:
    """nginx's order for `cycles` whole cycles of these backends, and wrr_schedule's."""
    lines = [server_line(lab.backend(item["name"]), item) for item in backends]
    port = lab.nginx(lines)
    active = sum(item["weight"] for item in backends if item.get("state", "active") == "active")
    count = cycles * active
    return ask(port, count), FILTERS["wrr_schedule"](backends, count)


def weighted(*weights: int) -> list[dict[str, Any]]:
    return [{"name": f"s{i}", "weight": w} for i, w in enumerate(weights)]


@pytest.mark.parametrize(
    ("backends", "cycles"),
    [
        pytest.param(weighted(5, 1, 1), 3, id="5-1-1"),
        pytest.param(weighted(3, 2, 1), 3, id="3-2-1"),
        pytest.param(weighted(8, 4, 2), 3, id="8-4-2"),
        pytest.param(weighted(1, 1, 1, 1), 3, id="equal"),
        pytest.param(weighted(2, 2, 3), 3, id="2-2-3 ties go to the first"),
        pytest.param(weighted(7, 3, 11, 1, 5, 2, 9), 2, id="seven uneven"),
    ],
)
def test_nginx_order_equals_wrr_schedule(lab: Lab, backends: list[dict[str, Any]], cycles: int) -> None:
    observed, predicted = observe(lab, backends, cycles)
    assert observed == predicted


def test_nginx_order_with_backup_drain_and_down(lab: Lab) -> None:
    """The whole chain: capacities -> weight_distribution -> nginx config -> the order nginx picks."""
    backends = FILTERS["weight_distribution"](
        [
            {"name": "big", "capacity": 6},
            {"name": "spare", "capacity": 4, "state": "backup"},
            {"name": "mid", "capacity": 4},
            {"name": "gone", "capacity": 8, "state": "down"},
            {"name": "leaving", "capacity": 2, "state": "drain"},
            {"name": "empty", "capacity": 0},
            {"name": "small", "capacity": 2},
        ]
    )
    assert [(b["name"], b["weight"], b["state"]) for b in backends] == [
        ("big", 3, "active"),
        ("spare", 1, "backup"),
        ("mid", 2, "active"),
        ("gone", 0, "down"),
        ("leaving", 0, "drain"),
        ("empty", 0, "drain"),
        ("small", 1, "active"),
    ]
    observed, predicted = observe(lab, backends, 4)
    assert observed == predicted
    assert set(observed) == {"big", "mid", "small"}


def test_weights_from_capacities_predict_nginx(lab: Lab) -> None:
    backends: list[dict[str, Any]] = FILTERS["weight_distribution"](
        [{"name": f"host{i}", "capacity": vcpus} for i, vcpus in enumerate([16, 8, 8, 4, 2, 12])]
    )
    observed, predicted = observe(lab, backends, 3)
    assert observed == predicted
    fit: dict[str, Any] = FILTERS["distribution_fit"](
        {name: observed.count(name) for name in set(observed)}, backends, 0.0, 0.999
    )
    assert fit["ok"], fit["reason"]


def test_missing_nginx_fails_with_instructions(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="run scripts/fetch-nginx"):
        require_nginx(tmp_path / "nginx")
