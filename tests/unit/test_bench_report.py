"""tests/bench/report.py judges each goal on the statistic it names: "0 failed" goals on the max, "every one"
goals on the min, timings on the median; invalid trials are left out of the figures, counted and named, also
for figures without a goal; the findings name every missed goal and state the advert_int search's result; a
partial run says so and still writes its page."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "bench" / "report.py"
_spec = importlib.util.spec_from_file_location("bench_report", SCRIPT)
assert _spec and _spec.loader
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)


def rec(figure: str, value: float, section: str = "Reload under load", **extra: Any) -> dict[str, Any]:
    return {"section": section, "figure": figure, "value": value, "unit": extra.pop("unit", ""), **extra}


def rows(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["figure"]: row for section in report.summarise(records).values() for row in section}


def test_a_zero_goal_is_judged_on_the_max() -> None:
    """Four clean trials and one with 3 failed requests: the median is 0, the goal is missed."""
    got = rows([rec("failed", v, goal="0", goal_max=0) for v in (0, 0, 3, 0, 0)])["failed"]
    assert got["judge"] == "max" and got["median"] == 0 and got["max"] == 3
    assert got["met"] == "no"


def test_an_every_one_goal_is_judged_on_the_min() -> None:
    got = rows([rec("exact", v, goal="100 %", goal_min=100) for v in (100, 100, 95)])["exact"]
    assert got["judge"] == "min" and got["met"] == "no"


def test_a_timing_goal_is_judged_on_the_median_as_its_record_says() -> None:
    records = [
        rec("gap", v, section="Failover gap", goal="≤ 0.5 s", goal_max=0.5, judge="median") for v in (0.3, 0.4, 0.9)
    ]
    got = rows(records)["gap"]
    assert got["median"] == 0.4 and got["max"] == 0.9 and got["met"] == "yes"


def test_invalid_trials_are_left_out_and_named() -> None:
    records = [
        rec("gap", 0.3, section="Failover gap", goal_max=0.5, judge="median"),
        rec("gap", 30.0, section="Failover gap", goal_max=0.5, judge="median", valid=False, note="gap still open"),
        rec("no goal", 1.0, valid="False", note="load ended early"),
        rec("no goal", 2.0),
    ]
    got = rows(records)
    assert got["gap"]["values"] == [0.3] and got["gap"]["invalid"] == ["gap still open"]
    assert got["gap"]["met"] == "yes" and report.trials_text(got["gap"]) == "1 valid of 2"
    assert got["no goal"]["values"] == [2.0] and got["no goal"]["met"] == ""
    found = report.findings(report.summarise(records), {}, None)
    assert any("gap still open" in line and "1 of 2" in line for line in found)
    assert any("load ended early" in line for line in found)


def test_a_goal_without_a_valid_trial_is_not_met() -> None:
    records = [rec("failed", 0, goal="0", goal_max=0, valid=False, note="the load ended before the last reload")]
    got = rows(records)["failed"]
    assert got["met"] == "no valid trial" and got["median"] is None
    lines = report.tables(report.summarise(records), with_text=False)
    assert any("**no valid trial**" in line for line in lines)
    assert any("Goal not judged" in line for line in report.findings(report.summarise(records), {}, None))


def test_missed_goals_are_findings() -> None:
    records = [rec("failed", v, goal="0", goal_max=0) for v in (0, 2)]
    machine = {"nproc": "2", "load_start": "1.5", "load_end": "4", "others_start": "zero-lb1 zero-lb2"}
    found = report.findings(report.summarise(records), machine, None)
    assert found[0] == "0 of 1 goals met, 1 missed."
    assert any(line.startswith("Goal missed: failed: max 2") for line in found)
    assert any("load average was 1.5 on 2 CPUs" in line for line in found)
    assert any("Other containers ran beside the bench lab (2: zero-lb1, zero-lb2)" in line for line in found)
    quiet = report.findings(report.summarise(records), {"nproc": "2", "load_start": "0.2", "load_end": "4"}, None)
    assert not any("load average" in line or "Other containers" in line for line in quiet)


@pytest.mark.parametrize(
    ("transitions", "expected"),
    [
        ({0.1: [0, 0], 0.05: [0, 0], 0.02: [2, 0]}, "lowest advert_int with zero false failovers under load is 0.05 s"),
        ({0.1: [0], 0.05: [0], 0.02: [0]}, "0.02 s was the lowest value tried"),
        ({0.1: [1], 0.05: [3]}, "every advert_int tried saw false failovers"),
    ],
)
def test_the_advert_int_search_is_concluded(transitions: dict[float, list[int]], expected: str) -> None:
    records = [
        rec(
            f"VRRPv3 advert_int {advert}: VRRP transitions (false failovers)",
            n,
            section="Failover profile limit",
            goal="0",
            goal_max=0,
            advert_int=advert,
        )
        for advert, counts in transitions.items()
        for n in counts
    ]
    text = report.advert_conclusion(report.summarise(records))
    assert text and expected in text


def test_the_page_is_written_and_a_partial_one_says_so(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "1.json").write_text(json.dumps({"progress": "x", "records": [rec("failed", 0, goal="0", goal_max=0)]}))
    (results / "2.json").write_text(json.dumps([rec("sent", 100)]))
    machine = tmp_path / "machine.json"
    machine.write_text(json.dumps({"nproc": "2", "image": "lbstack/debian:bookworm-0123456789ab (id abc)"}))
    doc = tmp_path / "out" / "benchmarks.md"
    args = [sys.executable, str(SCRIPT), "--results", str(results), "--machine", str(machine), "--trials", "5"]
    args += ["--command", "make bench", "--seconds", "61", "--doc", str(doc)]
    run = subprocess.run(
        [*args, "--partial", "stopped during: reload, exit code 1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    page = doc.read_text()
    assert "**Partial run.**" in page and "stopped during: reload" in page
    assert "| failed | 1 | 0 | 0 | 0 | max | yes |" in page
    assert "lbstack/debian:bookworm-0123456789ab" in page and "## Findings" in page
    run = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0 and "Partial run" not in doc.read_text()
