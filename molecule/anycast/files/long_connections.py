#!/usr/bin/python3
"""Holds COUNT keep-alive HTTP connections to HOST:PORT for DURATION s, one request on each every INTERVAL s.

    long-connections HOST PORT COUNT DURATION INTERVAL PORTS_FILE

Writes the local port of each connection to PORTS_FILE (JSON) once all are open, so the balancer that holds each
one can be read with ss. Prints JSON: for each local port, when it broke (seconds since the epoch) and how, or
null. A connection that breaks is not opened again: what is measured is which established connections survive.
"""

import http.client
import json
import sys
import time


def main() -> int:
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    duration, interval, ports_file = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    conns = {}
    for _ in range(count):
        conn = http.client.HTTPConnection(host, port, timeout=2)
        conn.connect()
        conn.request("GET", "/")
        conn.getresponse().read()
        conns[conn.sock.getsockname()[1]] = conn
    with open(ports_file, "w") as stream:
        json.dump(sorted(conns), stream)
    broken = {p: None for p in conns}
    started = time.time()
    while time.time() - started < duration:
        round_start = time.time()
        for local_port, conn in conns.items():
            if broken[local_port] is not None:
                continue
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException) as exc:
                broken[local_port] = {"at": time.time(), "error": type(exc).__name__}
        time.sleep(max(0.0, interval - (time.time() - round_start)))
    print(json.dumps({"started_at": started, "broken": {str(p): b for p, b in broken.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
