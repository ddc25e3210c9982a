"""Micro-benchmark of the weight filters' core: prints Markdown tables of timings (and of the weights' quality
against the baseline) for 10, 1,000 and 10,000 backends, plus the exact search's worst cases at 64.

Run from the repository root:  .venv/bin/python tests/bench/bench_filters.py
In that table mode each figure is the best of several runs (time.perf_counter), so it shows the code's cost,
not the noise of the machine. With `--records FILE --trials N` (what scripts/bench runs) it instead times
each filter exactly once per trial, no best-of, and writes the timings as benchmark records
(tests/bench/report.py gives their median and max, so the spread shows the machine's noise).
Inputs come from a fixed seed: the figures are comparable between runs and commits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.lbstack.ha.plugins.plugin_utils import _weights as core  # noqa: E402

SIZES = (10, 1_000, 10_000)
PICKS = 10_000


def best_of(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The shortest of `repeat` runs, in milliseconds, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0, result


def pool(size: int, seed: int, kind: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    if kind == "vcpus":
        return [{"name": f"b{i}", "capacity": rng.choice([1, 2, 4, 8, 16, 32, 64])} for i in range(size)]
    return [{"name": f"b{i}", "capacity": rng.uniform(1, 100)} for i in range(size)]


def baseline_error(backends: list[dict[str, Any]]) -> float:
    capacities = [b["capacity"] for b in backends]
    return core.max_share_error(core.baseline_weights(capacities, 1, 256), core.shares_of(capacities))


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cpus"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sizes_table() -> None:
    print(
        "| backends | weight_distribution, real capacities | method | largest share error (baseline) "
        "| weight_distribution, vCPUs 1-64 | wrr_schedule, 10,000 picks | distribution_fit |"
    )
    print("|---:|---:|---|---|---:|---:|---:|")
    for size in SIZES:
        repeat = 5 if size < 10_000 else 3
        real = pool(size, size, "real")
        vcpus = pool(size, size + 1, "vcpus")
        real_ms, weighted = best_of(partial(core.weight_distribution, real), repeat)
        solution = core.solve_weights([b["capacity"] for b in real])
        assert [b["weight"] for b in weighted] == solution.weights
        vcpu_ms, weighted_vcpus = best_of(partial(core.weight_distribution, vcpus), repeat)
        wrr_ms, picks = best_of(partial(core.wrr_schedule, weighted_vcpus, PICKS), repeat)
        counts = dict(Counter(picks))
        fit_ms, _ = best_of(partial(core.distribution_fit, counts, weighted_vcpus, 1.0, 0.0), repeat)
        error = f"{solution.error:.3g} ({baseline_error(real):.3g})"
        print(
            f"| {size:,} | {real_ms:.1f} ms | {solution.method} | {error} "
            f"| {vcpu_ms:.1f} ms | {wrr_ms:.1f} ms | {fit_ms:.1f} ms |"
        )


def exact_table() -> None:
    print("| capacities | bounds | time | total | largest share error | fallback instead: total, error |")
    print("|---|---|---:|---:|---:|---|")
    rng = random.Random(64)
    cases = {
        "uniform 1-100": [rng.uniform(1, 100) for _ in range(64)],
        "integers 1-16": [float(rng.randint(1, 16)) for _ in range(64)],
        "spanning 1-4096 (2^U(0,12))": [2.0 ** rng.uniform(0, 12) for _ in range(64)],
        "all equal": [7.0] * 64,
    }
    for name, capacities in cases.items():
        for min_weight, max_weight in ((1, 256), (50, 256)):
            ms, solution = best_of(partial(core.solve_weights, capacities, max_weight, min_weight), 3)
            assert solution.method == "exact"
            fallback = core.solve_weights(capacities, max_weight, min_weight, exact_max_items=0)
            print(
                f"| {name} | {min_weight}..{max_weight} | {ms:.1f} ms | {solution.total:,} "
                f"| {solution.error:.3g} | {fallback.total:,}, {fallback.error:.3g} |"
            )


def records(trials: int) -> list[dict[str, Any]]:
    """One timing per trial of each filter at each size, as benchmark records."""
    out: list[dict[str, Any]] = []
    for size in SIZES:
        real = pool(size, size, "real")
        weighted = core.weight_distribution(real)
        counts = dict(Counter(core.wrr_schedule(weighted, PICKS)))
        cases = {
            "weight_distribution, real capacities": partial(core.weight_distribution, real),
            f"wrr_schedule, {PICKS:,} picks": partial(core.wrr_schedule, weighted, PICKS),
            "distribution_fit": partial(core.distribution_fit, counts, weighted, 1.0, 0.0),
        }
        for name, func in cases.items():
            for _ in range(trials):
                ms, _ = best_of(func, 1)  # one run: a trial's figure, not a best-of
                out.append({"section": "Filters", "figure": f"{name}, {size:,} backends", "value": ms, "unit": "ms"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, help="write benchmark records (JSON) here instead of tables")
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    if args.records:
        args.records.write_text(json.dumps(records(args.trials), indent=1) + "\n")
        return
    print(f"Python {platform.python_version()}, {cpu()}")
    print()
    sizes_table()
    print()
    print("Exact search, 64 backends (the largest group it serves), capacities drawn from a fixed seed:")
    print()
    exact_table()


if __name__ == "__main__":
    main()
