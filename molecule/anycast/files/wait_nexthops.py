#!/usr/bin/python3
"""Polls the router's RIB (vtysh) until the installed route of PREFIX has exactly the next hops EXPECT.

    wait-nexthops PREFIX EXPECT[,EXPECT...]|none TIMEOUT [READY_FILE]

Prints JSON: met (bool), met_at (epoch of the first poll that saw the set), started_at, polls, last (next hops
seen last). READY_FILE is created once the first poll is done, so a fault is injected only while this watches.
"""

import json
import subprocess
import sys
import time
from pathlib import Path


def nexthops(prefix: str) -> list[str]:
    out = subprocess.run(
        ["vtysh", "-c", f"show ip route {prefix} json"], capture_output=True, text=True, check=False
    ).stdout
    try:
        routes = json.loads(out or "{}").get(prefix, [])
    except ValueError:
        return []
    found = []
    for route in routes:
        if route.get("protocol") == "bgp" and route.get("installed"):
            found += [hop["ip"] for hop in route.get("nexthops", []) if hop.get("fib") and "ip" in hop]
    return sorted(found)


def main() -> int:
    prefix, expect, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ready = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    want = [] if expect == "none" else sorted(expect.split(","))
    started = time.time()
    polls = 0
    last: list[str] = []
    met_at = None
    while time.time() - started < timeout:
        seen_at = time.time()
        last = nexthops(prefix)
        polls += 1
        if ready is not None and polls == 1:
            ready.touch()
        if last == want:
            met_at = seen_at
            break
        time.sleep(0.01)
    print(
        json.dumps({"met": met_at is not None, "met_at": met_at, "started_at": started, "polls": polls, "last": last})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
