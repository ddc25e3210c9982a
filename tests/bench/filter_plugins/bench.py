"""Filters used only by the benchmark playbooks in tests/bench (loaded because they sit beside them)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


def _seconds(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def bench_wrk(output: str) -> dict[str, Any]:
    """The figures of `wrk --latency` output: requests/s, p50 and p99 latency (seconds), errors."""
    result: dict[str, Any] = {"errors": 0, "non_2xx": 0}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            result["p" + words[0].rstrip("%")] = _seconds(words[1])
        elif line.strip().startswith("Socket errors:"):
            result["errors"] = sum(int(n) for n in re.findall(r"\d+", line))
        elif "Non-2xx or 3xx responses:" in line:
            result["non_2xx"] = int(words[-1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
    missing = {"rps", "p50", "p99"} - result.keys()
    if missing:
        raise ValueError(f"wrk output without {sorted(missing)}: {output[-500:]!r}")
    return result


def bench_cycles(order: list[str | None], servers: list[dict[str, Any]]) -> dict[str, Any]:
    """Round robin's promise: each cycle of sum(weights) requests holds exactly weight_i of server i.

    The balancer's cycle may start anywhere in the recorded order, so every alignment is tried and the
    best one is reported: `exact` of `cycles` complete cycles at offset `offset`.
    """
    weights = {s["name"]: int(s["weight"]) for s in servers if int(s.get("weight", 0)) > 0}
    length = sum(weights.values())
    best = {"exact": 0, "cycles": 0, "offset": 0, "length": length}
    if length == 0:
        return best
    want = Counter(weights)
    for offset in range(min(length, len(order))):
        cycles = (len(order) - offset) // length
        exact = sum(1 for k in range(cycles) if Counter(order[offset + k * length : offset + (k + 1) * length]) == want)
        if cycles and (exact / cycles > best["exact"] / max(best["cycles"], 1) or not best["cycles"]):
            best = {"exact": exact, "cycles": cycles, "offset": offset, "length": length}
    return best


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bench_wrk": bench_wrk, "bench_cycles": bench_cycles}
