"""The demo backend (roles/backend/files/lbstack-backend.py) loaded as a module and run on loopback, for the
tests of the backend itself and of the probes that measure it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "backend" / "files" / "lbstack-backend.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lbstack_backend", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def running(name: str = "app1") -> Iterator[tuple[ModuleType, int, int]]:
    """(the module, its HTTP port, its TCP port) on 127.0.0.1, answering as `name`."""
    backend = load()
    backend.NAME = name
    http, tcp = backend.serve("127.0.0.1", 0, 0)
    try:
        yield backend, http.server_address[1], tcp.server_address[1]
    finally:
        http.shutdown()
        http.server_close()
        tcp.shutdown()
        tcp.server_close()
