"""A real nginx for the unit tests: Debian's binary, unpacked by scripts/fetch-nginx into .cache/nginx (or the
one LBSTACK_NGINX names), run under a temporary prefix with a minimal nginx.conf. `nginx -t` only reads files
and maps shared memory; the tests that start nginx listen on loopback only. Without the binary a test fails
(never skips), saying what to run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NGINX = Path(os.environ.get("LBSTACK_NGINX") or REPO / ".cache" / "nginx" / "usr" / "sbin" / "nginx")


def require_nginx(binary: Path = NGINX) -> None:
    """Fails (never skips) without an nginx binary, saying what to run."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"no nginx binary at {binary}: run scripts/fetch-nginx (it unpacks Debian's nginx into "
            ".cache/nginx), or point LBSTACK_NGINX at an nginx binary"
        )


def nginx_conf(prefix: Path, http: str, main: str = "worker_processes 1;") -> str:
    """A whole nginx.conf whose pid, logs and temporary files stay under `prefix`, with `http` inside http {}."""
    return f"""
{main}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{http}
}}
"""


def nginx_args(prefix: Path) -> list[str]:
    """The command line that runs nginx on `prefix`/nginx.conf; add -t to only check it."""
    return [str(NGINX), "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf", "-e", f"{prefix}/error.log"]


def nginx_t(prefix: Path, http: str, main: str = "worker_processes 1;") -> subprocess.CompletedProcess[str]:
    """`nginx -t` of nginx_conf(prefix, http, main), written to `prefix`/nginx.conf."""
    require_nginx()
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, http, main))
    return subprocess.run([*nginx_args(prefix), "-t", "-q"], capture_output=True, text=True, timeout=60, check=False)
