"""Turns the benchmark's records into tables (median and max over the valid trials), findings and docs/benchmarks.md.

Each file in --results is a JSON list of records, or an object {progress, records}, written by the playbooks in
tests/bench (steps/record.yml), by scripts/bench and by bench_filters.py --records. A record is {section,
figure, value, unit} and optionally goal (its text), goal_max or goal_min (the bound), judge (the statistic
the goal is judged on: median, max or min), valid (false: the measurement itself failed, for instance a
failover gap still open when the probe ended; such a trial is left out of the figures and counted apart),
note (why it is invalid), and extra keys some sections use (advert_int, resolution). Files are read in name
order (they are named by time), so figures keep the order in which they were measured.

Goals of the form "0 failed" (failed requests, false failovers, changed tasks) are judged on the max, "every
one" goals (exact cycles, reloads that took effect) on the min: one bad trial fails them. Timing goals are
judged on the median; the max is shown beside it.
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
        "The longest interval between two successful answers at a client probing the VIP continuously "
        "(`lbstack.ha.lb_gap_probe`: a new connection every 10 ms, one at a time) while the VIP holder "
        "(priority 200) suffers the fault; the backup has priority 190. The probe starts before the fault and "
        "is stopped (its `stop_file`) once the backup holds the VIP and the VIP has answered steadily for 1 s, "
        "30 s at most; a trial is invalid (left out, counted apart) when the probe saw no answer before the "
        "fault or the gap was still open at its end. A probe lost while the VIP moves (its SYN reached the old "
        "holder after it let the VIP go) ends only at its deadline, so each figure resolves to about the "
        "probe's deadline plus its interval: {resolutions}. The node is healed between trials. "
        "master_down_interval = 3 x advert_int + skew, skew = (256 - 190) / 256 x advert_int."
    ),
    "Failover profile limit": (
        "The fast profile with shorter adverts, the VIP loaded by wrk: every VRRP transition logged by "
        "keepalived's notify hook while the master is healthy is a false failover (or its failback)."
    ),
    "Balancing accuracy": (
        "Requests through the VIP on new connections (`lbstack.ha.lb_traffic_count`). The shares come from "
        "the requests each figure names, several at a time: the balancer picks once per request whatever the "
        "order they arrive in, so the counts are exact. They are judged by `lbstack.ha.distribution_fit` "
        "against the weights `weight_distribution` computes from the capacities; exact cycles leave at most "
        "one partial cycle, hence the bound. Round robin's per-cycle promise is checked on requests sent "
        "one at a time, whose order on the wire is the order of the picks: a cycle is sum(weights) "
        "consecutive requests at the best alignment."
    ),
    "Proxy overhead": (
        "wrk in the client container (keep-alive connections), through the VIP and directly to the same "
        "backend (the only active one), one after the other in each trial. 'before' opens a new backend "
        "connection per request, set through role variables: for nginx that is its own default (no upstream "
        "`keepalive`, `nginx_upstream_keepalive: 0`); HAProxy's own default keeps and shares backend "
        "connections (keep-alive, `http-reuse safe`), which is what the role ships, so its 'before' adds "
        "`option http-server-close` for the same comparison. 'after' is the roles' shipped defaults, nothing "
        "set. The demo backend is a Python server: it, wrk and the proxy share the same cores, so the figures "
        "compare the configurations on this machine, not the engines' capacity."
    ),
    "Reload under load": (
        "`lbstack.ha.lb_traffic_count` through the VIP (new connection per request, 4 at a time, 2 s "
        "deadline) while the VIP holder's proxy is reloaded 10 times, 0.5 s apart, as the role's handler "
        "does it (`lbstack-haproxy-reload`: SIGUSR2 to the HAProxy master, which keeps its listening sockets; "
        "`service nginx reload`: SIGHUP). Each reload counts only once the master runs a new worker. A trial "
        "is invalid when the load did not reach the proxy before the first reload or ended before the last."
    ),
    "Render, validate and reload": (
        "The engine's role against the second load balancer with one pool of N servers (addresses only), "
        "then the checker and one reload (as the role's handler does it, until the new worker runs) timed "
        "alone."
    ),
    "Filters": (
        "`tests/bench/bench_filters.py --records`: the filters' pure core (no Ansible), inputs from a fixed "
        "seed; one timed run per trial (no best-of), so the spread shows the machine's noise."
    ),
}

NONE = (None, "", "None", "none")


def wrap(text: str, **options: Any) -> list[str]:
    """Lines of at most 110 characters, never broken inside a hyphenated word (a code span stays whole)."""
    return textwrap.wrap(text, 110, break_on_hyphens=False, break_long_words=False, **options)


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


def load(results: Path) -> tuple[list[dict[str, Any]], int]:
    """The records of every file, and how many files there were (trials and steps recorded)."""
    records: list[dict[str, Any]] = []
    files = sorted(results.glob("*.json"))
    for path in files:
        data = json.loads(path.read_text())
        records.extend(data["records"] if isinstance(data, dict) else data)
    return records, len(files)


def is_valid(rec: dict[str, Any]) -> bool:
    return str(rec.get("valid", True)).strip().lower() not in ("false", "0", "no")


def bound(value: Any) -> float | None:
    return None if value in NONE else float(value)


def default_judge(goal_max: float | None, goal_min: float | None) -> str:
    if goal_max is not None and goal_max == 0:
        return "max"
    if goal_min is not None:
        return "min"
    return "median"


def summarise(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by section and figure, in order of first appearance, with their statistics."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        key = (rec["section"], " ".join(str(rec["figure"]).split()))
        goal_max, goal_min = bound(rec.get("goal_max")), bound(rec.get("goal_min"))
        row = rows.setdefault(
            key,
            {
                "section": rec["section"],
                "figure": key[1],
                "unit": rec.get("unit") or "",
                "goal": " ".join(str(rec.get("goal") or "").split()),
                "goal_max": goal_max,
                "goal_min": goal_min,
                "judge": rec.get("judge") or default_judge(goal_max, goal_min),
                "values": [],
                "invalid": [],
                "extra": {k: v for k, v in rec.items() if k in ("advert_int", "resolution")},
            },
        )
        if is_valid(rec):
            row["values"].append(float(rec["value"]))
        else:
            row["invalid"].append(str(rec.get("note") or "invalid measurement"))
    by_section: dict[str, list[dict[str, Any]]] = {}
    for (section, _), row in rows.items():
        values = row["values"]
        row["median"] = statistics.median(values) if values else None
        row["max"] = max(values) if values else None
        row["min"] = min(values) if values else None
        row["met"] = verdict(row)
        by_section.setdefault(section, []).append(row)
    order = list(SECTIONS)
    return dict(sorted(by_section.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


def has_goal(row: dict[str, Any]) -> bool:
    return row["goal_max"] is not None or row["goal_min"] is not None


def verdict(row: dict[str, Any]) -> str:
    """'yes', 'no' or '' (no goal); 'no valid trial' when every trial was invalid."""
    if not has_goal(row):
        return ""
    if not row["values"]:
        return "no valid trial"
    value = row[row["judge"]]
    ok = True
    if row["goal_max"] is not None:
        ok = ok and value <= row["goal_max"] + 1e-9
    if row["goal_min"] is not None:
        ok = ok and value >= row["goal_min"] - 1e-9
    return "yes" if ok else "no"


def trials_text(row: dict[str, Any]) -> str:
    if not row["invalid"]:
        return str(len(row["values"]))
    return f"{len(row['values'])} valid of {len(row['values']) + len(row['invalid'])}"


def stat_text(row: dict[str, Any], stat: str) -> str:
    return "-" if row[stat] is None else number(row[stat], row["unit"])


def met_text(row: dict[str, Any]) -> str:
    return {"yes": "yes", "no": "**no**", "no valid trial": "**no valid trial**"}.get(row["met"], "")


def tables(summary: dict[str, list[dict[str, Any]]], with_text: bool) -> list[str]:
    lines: list[str] = []
    for section, rows in summary.items():
        lines += [f"## {section}", ""]
        if with_text and section in SECTIONS:
            lines += [*wrap(section_text(section, rows)), ""]
        lines += [
            "| figure | trials | median | max | goal | judged on | goal met |",
            "|---|---:|---:|---:|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['figure']} | {trials_text(row)} | {stat_text(row, 'median')} | {stat_text(row, 'max')} "
                f"| {row['goal']} | {row['judge'] if has_goal(row) else ''} | {met_text(row)} |"
            )
        invalid = [row for row in rows if row["invalid"]]
        if invalid:
            lines.append("")
            lines.append("Invalid trials, left out of the figures above:")
            lines.append("")
            for row in invalid:
                lines.append(f"- {row['figure']}: {'; '.join(sorted(set(row['invalid'])))}")
        lines.append("")
    return lines


def section_text(section: str, rows: list[dict[str, Any]]) -> str:
    text = SECTIONS[section]
    if "{resolutions}" in text:
        found: dict[str, float] = {}
        for row in rows:
            if "resolution" in row["extra"]:
                fault = row["figure"].split("): ", 1)[-1]
                found[fault] = float(row["extra"]["resolution"])
        text = text.replace(
            "{resolutions}",
            "; ".join(f"{fault} {value:.2f} s" for fault, value in found.items()) or "not recorded",
        )
    return text


def advert_conclusion(summary: dict[str, list[dict[str, Any]]]) -> str | None:
    rows = [
        row
        for row in summary.get("Failover profile limit", [])
        if "advert_int" in row["extra"] and "false failovers" in row["figure"]
    ]
    if not rows:
        return None
    tried = sorted(rows, key=lambda row: float(row["extra"]["advert_int"]), reverse=True)
    clean = [row for row in tried if row["values"] and row["max"] == 0]
    parts = ", ".join(
        f"{float(row['extra']['advert_int']):g} s: "
        + (f"at most {number(row['max'], '')} in {len(row['values'])} trial(s)" if row["values"] else "no valid trial")
        for row in tried
    )
    if not clean:
        return f"advert_int search: every advert_int tried saw false failovers under load ({parts})."
    lowest = min(clean, key=lambda row: float(row["extra"]["advert_int"]))
    low = float(lowest["extra"]["advert_int"])
    lower_tried = [row for row in tried if float(row["extra"]["advert_int"]) < low]
    text = (
        f"advert_int search: the lowest advert_int with zero false failovers under load is {low:g} s "
        f"(VRRP transitions per trial: {parts})."
    )
    if not lower_tried:
        text += f" {low:g} s was the lowest value tried, so the limit on this machine may lie lower."
    if any(row not in clean for row in tried if float(row["extra"]["advert_int"]) > low):
        text += " A larger advert_int did see false failovers, so the result is noisy, not a clean threshold."
    return text


def overhead_findings(summary: dict[str, list[dict[str, Any]]]) -> list[str]:
    rows = {row["figure"]: row for row in summary.get("Proxy overhead", [])}
    out = []
    for engine in ("haproxy", "nginx"):
        ratio = {}
        p99 = {}
        for figure, row in rows.items():
            if not figure.startswith(f"{engine} ") or row["median"] is None:
                continue
            phase = "before" if f"{engine} before" in figure else "after" if f"{engine} after" in figure else None
            if phase is None:
                continue
            if figure.endswith("requests/s via the VIP ÷ direct"):
                ratio[phase] = row["median"]
            elif figure.endswith("p99 latency via the VIP"):
                p99[phase] = row["median"]
        if len(ratio) == 2:
            text = (
                f"Proxy overhead, {engine}: via the VIP the median run reached {ratio['before']:.0%} of the direct "
                f"requests/s before and {ratio['after']:.0%} after"
            )
            if len(p99) == 2:
                text += f"; p99 latency via the VIP {p99['before']:.1f} ms before, {p99['after']:.1f} ms after"
            out.append(text + ".")
    return out


def findings(summary: dict[str, list[dict[str, Any]]], machine: dict[str, Any], partial: str | None) -> list[str]:
    rows = [row for section in summary.values() for row in section]
    goals = [row for row in rows if has_goal(row)]
    missed = [row for row in goals if row["met"] == "no"]
    unjudged = [row for row in goals if row["met"] == "no valid trial"]
    out: list[str] = []
    if partial:
        out.append(f"This run did not finish ({partial}): the sections after it are missing.")
    out.append(
        f"{len(goals) - len(missed) - len(unjudged)} of {len(goals)} goals met"
        + (f", {len(missed)} missed" if missed else "")
        + (f", {len(unjudged)} without a valid trial" if unjudged else "")
        + "."
    )
    for row in missed:
        out.append(
            f"Goal missed: {row['figure']}: {row['judge']} {stat_text(row, row['judge'])} "
            f"against {row['goal']} (median {stat_text(row, 'median')}, max {stat_text(row, 'max')}, "
            f"{trials_text(row)} trials)."
        )
    for row in unjudged:
        out.append(f"Goal not judged: {row['figure']}: no valid trial ({'; '.join(sorted(set(row['invalid'])))}).")
    for row in rows:
        if row["invalid"] and row not in unjudged:
            out.append(
                f"{len(row['invalid'])} of {len(row['invalid']) + len(row['values'])} trial(s) invalid, left out: "
                f"{row['figure']} ({'; '.join(sorted(set(row['invalid'])))})."
            )
    advert = advert_conclusion(summary)
    if advert:
        out.append(advert)
    out += overhead_findings(summary)
    try:
        cpus = float(machine.get("nproc") or 0)
        load_start = float(machine.get("load_start", "0"))
    except ValueError:
        cpus, load_start = 0, 0.0
    if cpus and load_start > cpus / 2:
        out.append(
            f"The load average was {load_start:g} on {cpus:g} CPUs when the run started: other work shared the "
            "machine, and the timings are noisier (the gaps and latencies likely longer) than on a quiet one."
        )
    others = sorted(
        set(str(machine.get("others_start") or "").split()) | set(str(machine.get("others_end") or "").split())
    )
    if others:
        out.append(
            f"Other containers ran beside the bench lab ({len(others)}: {', '.join(others[:8])}"
            f"{', ...' if len(others) > 8 else ''}): their work shared the cores and disturbed the timings."
        )
    return out


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
        f"| load average (1 min) at the start and at the end (the bench's own load raises the second) "
        f"| {machine.get('load_start', '?')}, {machine.get('load_end', '?')} |",
        f"| other containers at the start, at the end | {machine.get('others_start') or 'none'}; "
        f"{machine.get('others_end') or 'none'} |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--machine", type=Path, required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--doc", type=Path, required=True)
    parser.add_argument("--partial", help="the run stopped early: where and why (the page says so)")
    args = parser.parse_args()

    records, _ = load(args.results)
    summary = summarise(records)
    machine = json.loads(args.machine.read_text()) if args.machine.exists() else {}
    found = findings(summary, machine, args.partial)
    print("\n".join(tables(summary, with_text=False)))
    print("Findings:")
    for line in found:
        print(f"- {line}")

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        f"Every figure on this page comes from one run of `{args.command}` on {date}, which took "
        f"{args.seconds // 60} min {args.seconds % 60} s; nothing here is written by hand. "
        f"`LBSTACK_BENCH_TRIALS` was {args.trials}; some sections run fewer trials to keep the run short "
        "(the trials column gives each figure's count). The tables give the median and the largest value of "
        "the valid trials; each goal is judged on the statistic its row names: the median for timings, the "
        "max for goals of the form '0 failed' and the min for 'every one', so a single bad trial fails those. "
        "A trial whose measurement failed (say, a gap still open when the probe ended) is invalid: it is left "
        "out of the figures and listed under its table. The bench lab (`bench-*` containers on "
        "172.29.70.0/24) is created for the run and removed after it. How each figure is taken: "
        "`scripts/bench` and the playbooks in `tests/bench/`; what the measuring modules report: "
        "`docs/measuring.md`. A load average at the start well above zero, or other containers, below mean "
        "that other work shared the machine and disturbed the timings."
    )
    doc = [
        "<!-- Generated by scripts/bench (`make bench`); do not edit: the next run rewrites this file. -->",
        "# Benchmarks",
        "",
    ]
    if args.partial:
        doc += [
            *wrap(
                f"**Partial run.** The run stopped early ({args.partial}); this page holds what it measured "
                "before that, and `scripts/bench` did not write it to `docs/benchmarks.md`."
            ),
            "",
        ]
    doc += [
        *wrap(intro),
        "",
        "## Findings",
        "",
        *[line for item in found for line in wrap(item, initial_indent="- ", subsequent_indent="  ")],
        "",
        "## Machine",
        "",
        *machine_lines(machine),
        "",
        *tables(summary, with_text=True),
    ]
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(doc).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
