# Started as `python3 /usr/local/bin/lbstack-backend` by its unit or init script, so it needs no shebang.
# SPDX-License-Identifier: GPL-3.0-or-later
"""Demo backend: answers every request with its own name so clients can count who served them.

GET /                -> "<name>\n", header X-Backend: <name>
GET /slow?seconds=N  -> the same after N seconds (capped by BACKEND_MAX_DELAY), to hold a connection open
GET /healthz         -> "ok\n"
"""

from __future__ import annotations

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = os.environ.get("BACKEND_NAME", "backend")
ADDRESS = os.environ.get("BACKEND_ADDRESS", "0.0.0.0")
PORT = int(os.environ.get("BACKEND_PORT", "8080"))
MAX_DELAY = float(os.environ.get("BACKEND_MAX_DELAY", "60"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbstack-backend"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle's algorithm the body waits for the
    # peer's (delayed) ACK of the headers, about 40 ms per answer on a kept-alive connection.
    disable_nagle_algorithm = True

    def _answer(self, send_body: bool) -> None:
        url = urlsplit(self.path)
        body = b"ok\n" if url.path == "/healthz" else f"{NAME}\n".encode()
        if url.path == "/slow":
            try:
                delay = float(parse_qs(url.query).get("seconds", ["1"])[0])
            except ValueError:
                delay = 1.0
            time.sleep(min(max(delay, 0.0), MAX_DELAY))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", NAME)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


if __name__ == "__main__":
    Server((ADDRESS, PORT), Handler).serve_forever()
