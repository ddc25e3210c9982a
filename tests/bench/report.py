"""Turns the benchmark's records into a table (median and max over the trials) and docs/benchmarks.md.

Each file in --results is a JSON list of records {section, figure, value, unit, goal, goal_max, goal_min,
valid}, written by the playbooks in tests/bench (steps/record.yml), by scripts/bench and by
bench_filters.py --records. Files are read in name order (they are named by time), so figures keep the
order in which they were measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SECTIONS = {
    "Converge": "`playbooks/site.yml` on the bench lab: 2 load balancers, 3 demo backends.",
    "Failover gap": (
        "The longest interval without a successful answer at a client probing the VIP continuously "
        "(`lbstack.ha.lb_gap_probe`: a new connection every 10 ms, 0.2 s deadline) while the VIP holder "
        "(priority 200) suffers the fault; the backup has priority 190. The node is healed between trials. "
        "master_down_interval = 3 x advert_int + skew, skew = (256 - 190) / 256 x advert_int."
    ),
    "Failover profile limit": (
        "The fast profile with shorter adverts, the VIP loaded by wrk: every VRRP transition logged by "
        "keepalived's notify hook while the master is healthy is a false failover (or its failback)."
    ),
    "Balancing accuracy": (
        "Requests one at a time on new connections through the VIP (`lbstack.ha.lb_traffic_count`), judged "
        "by `lbstack.ha.distribution_fit` against the weights `weight_distribution` computes; a cycle is "
        "sum(weights) consecutive requests at the best alignment."
    ),
    "Proxy overhead": (
        "wrk in the client container, through the VIP and directly to the same backend (the only active "
        "one), one after the other in each trial. The demo backend is a Python server: it, wrk and the "
        "proxy share the same cores."
    ),
    "Reload under load": (
        "`lbstack.ha.lb_traffic_count` through the VIP (new connection per request, 4 at a time, 2 s "
        "deadline) while `service <engine> reload` runs 10 times, 0.5 s apart, on the VIP holder."
    ),
    "Render, validate and reload": (
        "The engine's role against the second load balancer with one pool of N servers (addresses only), "
        "then the checker and a reload timed alone."
    ),
    "Filters": (
        "`tests/bench/bench_filters.py --records`: the filters' pure core (no Ansible), inputs from a fixed "
        "seed; each trial one run."
    ),
}


def number(value: float, unit: str) -> str:
    if unit in ("", "%", "points of %") and float(value).is_integer():
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def load(results: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(results.glob("*.json")):
        records.extend(json.loads(path.read_text()))
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by section and figure, in order of first appearance, with median and max."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        key = (rec["section"], rec["figure"])
        row = rows.setdefault(
            key,
            {
                "figure": rec["figure"],
                "unit": rec.get("unit") or "",
                "goal": rec.get("goal") or "",
                "goal_max": rec.get("goal_max"),
                "goal_min": rec.get("goal_min"),
                "values": [],
                "invalid": 0,
            },
        )
        if str(rec.get("valid", True)).lower() in ("false", "0"):
            row["invalid"] += 1
        row["values"].append(float(rec["value"]))
    by_section: dict[str, list[dict[str, Any]]] = {}
    for (section, _), row in rows.items():
        values = row["values"]
        row["median"] = statistics.median(values)
        row["max"] = max(values)
        row["met"] = verdict(row)
        by_section.setdefault(section, []).append(row)
    order = list(SECTIONS)
    return dict(sorted(by_section.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


def verdict(row: dict[str, Any]) -> str:
    goal_max, goal_min = row["goal_max"], row["goal_min"]
    if goal_max in (None, "", "None") and goal_min in (None, "", "None"):
        return ""
    ok = True
    if goal_max not in (None, "", "None"):
        ok = ok and row["median"] <= float(goal_max) + 1e-9
    if goal_min not in (None, "", "None"):
        ok = ok and row["median"] >= float(goal_min) - 1e-9
    text = "yes" if ok else "**no**"
    if row["invalid"]:
        text += f" ({row['invalid']} trial(s) never recovered)"
    return text


def tables(summary: dict[str, list[dict[str, Any]]], with_text: bool) -> list[str]:
    lines: list[str] = []
    for section, rows in summary.items():
        lines += [f"## {section}", ""]
        if with_text and section in SECTIONS:
            lines += [*textwrap.wrap(SECTIONS[section], 110), ""]
        lines += ["| figure | trials | median | max | goal | goal met (median) |", "|---|---:|---:|---:|---|---|"]
        for row in rows:
            lines.append(
                f"| {row['figure']} | {len(row['values'])} | {number(row['median'], row['unit'])} "
                f"| {number(row['max'], row['unit'])} | {row['goal']} | {row['met']} |"
            )
        lines.append("")
    return lines


def machine_lines(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{name} {version}" for name, version in sorted(machine.get("packages", {}).items()))
    return [
        "| | |",
        "|---|---|",
        f"| CPUs (nproc) | {machine.get('nproc')} ({machine.get('cpu')}) |",
        f"| memory | {machine.get('memory')} |",
        f"| kernel | {machine.get('kernel')} |",
        f"| docker engine | {machine.get('docker')} |",
        f"| container image | {machine.get('image')} |",
        f"| packages in the load balancers | {packages} |",
        f"| controller | {machine.get('python')}, ansible-core {machine.get('ansible_core')} |",
        f"| load average (1 min) at the start and at the end | {machine.get('load_start', '?')}, "
        f"{machine.get('load_end', '?')} |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--machine", type=Path, required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--doc", type=Path, required=True)
    args = parser.parse_args()

    summary = summarise(load(args.results))
    machine = json.loads(args.machine.read_text())
    print("\n".join(tables(summary, with_text=False)))

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        f"Every figure on this page comes from one run of `{args.command}` on {date}, which took "
        f"{args.seconds // 60} min {args.seconds % 60} s; nothing here is written by hand. "
        f"`LBSTACK_BENCH_TRIALS` was {args.trials} (the trials column gives each figure's count); "
        "the tables give the median and the largest value, and judge the median against the goal. "
        "The bench lab (`bench-*` containers on 172.29.70.0/24) is created for the run and removed "
        "after it. How each figure is taken: `scripts/bench` and the playbooks in `tests/bench/`; "
        "what the measuring modules report: `docs/measuring.md`. A load average well above the "
        "number of CPUs below means other work shared the machine and disturbed the timings."
    )
    doc = [
        "<!-- Generated by scripts/bench (`make bench`); do not edit: the next run rewrites this file. -->",
        "# Benchmarks",
        "",
        *textwrap.wrap(intro, 110),
        "",
        "## Machine",
        "",
        *machine_lines(machine),
        "",
        *tables(summary, with_text=True),
    ]
    args.doc.write_text("\n".join(doc).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
