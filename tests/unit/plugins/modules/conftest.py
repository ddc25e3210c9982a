"""Loopback HTTP servers for the measuring modules' tests, and a way to run a module through Ansible.

The servers answer like lbstack's demo backends (the name in an X-Backend header and as the body's first
line) or misbehave on purpose: a weighted cycle of names, a name per path, an error status, no answer at all,
an answer trickled a byte at a time, an outage on the same port. Every server listens on 127.0.0.1 on a free
port; every wait is bounded.

tests/unit/conftest.py makes `ansible_collections.lbstack.ha` importable.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
VENV_BIN = Path(sys.executable).parent


HANG_LIMIT = 10.0  # seconds a hanging or trickling handler lasts at most, whatever the test does


class FakeBackend:
    """A ThreadingHTTPServer on 127.0.0.1 that answers GETs like a backend (or a balancer in front of some).

    names          the names answered in turn (a weighted cycle: ["a", "a", "b"] gives a twice as often as b)
    name_for_path  a function of the request path giving the name instead (consistent hashing by URI)
    name_for_headers  a function of the request's headers giving the name instead (hashing on a header)
    header         the response header carrying the name (None: body only)
    body           whether the body carries the name
    status         the status code of every answer
    delay          seconds to wait before answering
    mode           "answer", "hang" (read the request, never answer) or "trickle" (headers, then one body
                   byte every 0.1 s)
    """

    def __init__(
        self,
        names: list[str] | tuple[str, ...] = ("web1",),
        *,
        name_for_path: Callable[[str], str] | None = None,
        name_for_headers: Callable[[Any], str] | None = None,
        header: str | None = "X-Backend",
        body: bool = True,
        status: int = 200,
        delay: float = 0.0,
        mode: str = "answer",
    ) -> None:
        self.names = list(names)
        self.name_for_path = name_for_path
        self.name_for_headers = name_for_headers
        self.header = header
        self.body = body
        self.status = status
        self.delay = delay
        self.mode = mode
        self.lock = threading.Lock()
        self.calls = 0
        self.requests: list[tuple[str, int, str, str | None]] = []  # (client address, port, path, Host)
        self.in_flight = 0
        self.max_in_flight = 0
        self.first_request = threading.Event()
        self.released = threading.Event()  # ends hangs and trickles
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections alive unless the client says close
            disable_nagle_algorithm = True  # no delayed-ACK stalls between headers and body

            def do_GET(self) -> None:
                with outer.lock:
                    if outer.name_for_path:
                        name = outer.name_for_path(self.path)
                    elif outer.name_for_headers:
                        name = outer.name_for_headers(self.headers)
                    else:
                        name = outer.names[outer.calls % len(outer.names)]
                    outer.calls += 1
                    outer.requests.append(
                        (self.client_address[0], self.client_address[1], self.path, self.headers.get("Host"))
                    )
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                outer.first_request.set()
                try:
                    self._answer(name)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

            def _answer(self, name: str) -> None:
                if outer.delay:
                    outer.released.wait(outer.delay)
                if outer.mode == "hang":
                    outer.released.wait(HANG_LIMIT)
                    self.close_connection = True
                    return
                body = f"{name}\n".encode() if outer.body else b""
                self.send_response(outer.status)
                if outer.header:
                    self.send_header(outer.header, name)
                if outer.mode == "trickle":
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        if outer.released.wait(0.1):
                            break
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        return Handler

    def start(self) -> None:
        """Listens (again, on the same port after stop, so the URL stays the same)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Closes the listening socket: new connections are refused until start."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def close(self) -> None:
        self.released.set()
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def clients(self) -> set[tuple[str, int]]:
        with self.lock:
            return {(address, port) for address, port, _, _ in self.requests}


@pytest.fixture
def servers() -> Iterator[Callable[..., FakeBackend]]:
    """A factory of FakeBackend, every one closed after the test."""
    made: list[FakeBackend] = []

    def make(*args: Any, **kwargs: Any) -> FakeBackend:
        server = FakeBackend(*args, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


@pytest.fixture
def unanswered_url() -> Iterator[str]:
    """A loopback port whose SYNs go unanswered: a listener with a full accept queue, so connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued: list[socket.socket] = []
    try:
        for _ in range(8):
            sock = socket.socket()
            sock.settimeout(0.2)
            queued.append(sock)
            try:
                sock.connect(("127.0.0.1", port))
            except OSError:
                break  # the queue is full: this connect was never answered
        else:
            pytest.skip("this kernel answers every SYN; no connect timeout to test")
        yield f"http://127.0.0.1:{port}/"
    finally:
        for sock in queued:
            sock.close()
        listener.close()


@pytest.fixture
def loopback_sources() -> list[str]:
    """Three loopback addresses a client can send from (any of 127.0.0.0/8 is bindable on Linux)."""
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    for address in addresses:
        with socket.socket() as sock:
            try:
                sock.bind((address, 0))
            except OSError:
                pytest.skip(f"cannot send from {address} on this host")
    return addresses


Completed = subprocess.CompletedProcess


def run_playbook(
    tasks: list[dict], tmp_path: Path, timeout: float = 90, interpreter: str | None = None
) -> tuple[Completed, dict]:
    """Runs `tasks` on localhost with the venv's ansible-playbook and returns what each registered.

    Every task should `register` a variable; a final task writes them all as JSON. Modules run under
    `interpreter`, by default the system's /usr/bin/python3 (standard library only, like a client container)
    when it exists.
    """
    registered = [task["register"] for task in tasks if "register" in task]
    out = tmp_path / "registered.json"
    play = {
        "name": "lbstack measuring modules under test",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            *tasks,
            {
                "name": "Save what the tasks registered",
                "ansible.builtin.copy": {
                    "content": "{{ {" + ", ".join(f"'{r}': {r}" for r in registered) + "} | to_json }}",
                    "dest": str(out),
                    "mode": "0600",
                },
            },
        ],
    }
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(json.dumps([play], indent=1))  # JSON is YAML
    if interpreter is None:
        interpreter = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={interpreter}\n")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_ASYNC_DIR=str(tmp_path / "ansible-async"),
    )
    run = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if not out.is_file():
        output = f"{run.stdout}\n{run.stderr}"
        raise AssertionError(f"the playbook wrote no results (rc {run.returncode}):\n{output}")
    return run, json.loads(out.read_text())


@pytest.fixture
def playbook(tmp_path: Path) -> Callable[..., tuple[Completed, dict]]:
    """run_playbook in the test's temporary directory: playbook(tasks) -> (completed process, registered)."""

    def run(tasks: list[dict], timeout: float = 90, interpreter: str | None = None) -> tuple[Completed, dict]:
        return run_playbook(tasks, tmp_path, timeout, interpreter)

    return run


def check_documentation(module: Any, result: dict | None = None) -> None:
    """DOCUMENTATION agrees with ARGUMENT_SPEC and EXAMPLES parse; a `result` of the module has every RETURN
    key marked always, and no key RETURN does not document."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    for key in ("module", "short_description", "description", "version_added", "author", "options"):
        assert doc.get(key), f"DOCUMENTATION lacks {key}"
    spec = module.ARGUMENT_SPEC
    assert set(doc["options"]) == set(spec)
    for name, option in doc["options"].items():
        documented = {key: option.get(key) for key in ("type", "required", "default", "choices", "elements")}
        coded = {key: spec[name].get(key) for key in ("type", "required", "default", "choices", "elements")}
        documented["required"] = bool(documented["required"])
        coded["required"] = bool(coded["required"])
        assert documented == coded, name
        assert option.get("description"), f"option {name} has no description"
    assert yaml.safe_load(module.EXAMPLES)
    returns = yaml.safe_load(module.RETURN)
    assert all(value.get("description") and value.get("type") for value in returns.values())
    if result is not None:
        extra = set(result) - set(returns) - {"changed", "invocation", "failed", "msg"}
        assert not extra, f"undocumented return values: {sorted(extra)}"
        always = {key for key, value in returns.items() if value.get("returned") == "always"}
        assert always <= set(result), f"missing return values: {sorted(always - set(result))}"


@pytest.fixture
def documentation() -> Callable[..., None]:
    return check_documentation
