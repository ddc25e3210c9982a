"""The bind check of lbstack-haproxy-reload: a listener the kernel would not let HAProxy bind (a port another
process holds, an address this host does not have) is refused before the reload (HAProxy's own bind retry would
pause the old workers' listeners for about a second)."""

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[3] / "roles/haproxy/files/lbstack-haproxy-reload"


def _prebind(tmp_path: Path, config: str) -> subprocess.CompletedProcess:
    code = re.search(r"<<'PY' \|\| exit 1\n(.*?)\nPY\n", SCRIPT.read_text(), re.S).group(1)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config)
    return subprocess.run(
        [sys.executable, "-c", code, str(cfg)], check=False, capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def held_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def free_port():
    """A port the kernel just handed out and nothing listens on (held_port + 1 was not always free in CI)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "bind",
    ["127.0.0.1:{held}", "127.0.0.1:{free},127.0.0.1:{held}", "ipv4@127.0.0.1:{held} name a"],
)
def test_a_port_another_process_holds_is_refused(tmp_path, held_port, free_port, bind):
    done = _prebind(tmp_path, f"frontend a\n    bind {bind.format(held=held_port, free=free_port)}\n")
    assert done.returncode == 1
    assert f"cannot bind socket (Address already in use) for [127.0.0.1:{held_port}]: held by" in done.stderr
    assert "not reloading" in done.stderr


def _nonlocal_bind() -> bool:
    return Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text().strip() == "1"


@pytest.mark.skipif(_nonlocal_bind(), reason="net.ipv4.ip_nonlocal_bind=1 here lets any address be bound")
def test_an_address_this_host_does_not_have_is_refused(tmp_path, free_port):
    done = _prebind(tmp_path, f"frontend a\n    bind 192.0.2.1:{free_port}\n")
    assert done.returncode == 1
    assert f"cannot bind socket (Cannot assign requested address) for [192.0.2.1:{free_port}]: not reloading" in (
        done.stderr
    )


@pytest.mark.parametrize("option", ["freebind", "transparent", "interface eth9", "namespace other"])
def test_an_address_this_host_does_not_have_binds_as_haproxy_would_with(tmp_path, free_port, option):
    done = _prebind(tmp_path, f"frontend a\n    bind 192.0.2.1:{free_port} {option}\n")
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    "bind",
    ["127.0.0.1:0", "unix@/run/x.sock", "/run/x.sock", ":8000-8010", "nosuchhost.invalid:80", "[::1]:0"],
)
def test_what_it_cannot_judge_is_left_to_haproxy(tmp_path, bind):
    done = _prebind(tmp_path, f"frontend a\n    bind {bind}\n")
    assert (done.returncode, done.stderr) == (0, "")
