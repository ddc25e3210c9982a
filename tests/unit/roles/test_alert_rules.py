"""The alert rules of lbstack.ha.monitoring, rendered from the role's template with its defaults, pass
`promtool check rules`, and `promtool test rules` runs monitoring/lbstack.rules.test.yml against them: every
alert has a case where it fires and one where it does not.

promtool is Debian's, unpacked by scripts/fetch-promtool into .cache/prometheus (or the binary LBSTACK_PROMTOOL
names); without it the tests fail, never skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import comment

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "monitoring"
TESTS = Path(__file__).parent / "monitoring" / "lbstack.rules.test.yml"
PROMTOOL = Path(os.environ.get("LBSTACK_PROMTOOL") or REPO / ".cache" / "prometheus" / "usr" / "bin" / "promtool")


def render_rules(overrides: dict | None = None) -> str:
    """The rules file the role writes, from its template and defaults (plus `overrides`)."""
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables.update(overrides or {})
    variables["ansible_managed"] = "Ansible managed"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    env.filters["comment"] = comment
    # Ansible renders templates with trim_blocks.
    env.trim_blocks = True
    return env.get_template("lbstack.rules.yml.j2").render(**variables)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL.is_file():
        pytest.fail(f"no promtool at {PROMTOOL}: run scripts/fetch-promtool (it unpacks Debian's prometheus package)")
    return subprocess.run([str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "lbstack.rules.yml").write_text(render_rules())
    shutil.copy(TESTS, tmp_path / TESTS.name)
    return tmp_path


def _alerts(text: str) -> list[str]:
    return [r["alert"] for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_promtool_checks_the_rules(rules_dir: Path) -> None:
    run = promtool("check", "rules", "lbstack.rules.yml", cwd=rules_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(_alerts(render_rules()))} rules found" in run.stdout + run.stderr


def test_promtool_runs_the_rule_tests(rules_dir: Path) -> None:
    run = promtool("test", "rules", TESTS.name, cwd=rules_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr


def test_promtool_fails_a_rule_that_does_not_fire(rules_dir: Path) -> None:
    # The tests can fail: with the split-brain rule asking for three holders, the case that expects it fails.
    rules = rules_dir / "lbstack.rules.yml"
    rules.write_text(rules.read_text().replace('state="MASTER"} == 1) > 1', 'state="MASTER"} == 1) > 2'))
    run = promtool("test", "rules", TESTS.name, cwd=rules_dir)
    assert run.returncode != 0
    assert "alertname: LbstackVipSplitBrain" in run.stdout + run.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    alerts = _alerts(render_rules())
    assert sorted(cases) == sorted(alerts)
    assert {name: sorted(kinds) for name, kinds in cases.items()} == {name: [False, True] for name in alerts}


def test_the_rules_select_the_jobs_they_are_given() -> None:
    text = render_rules({"monitoring_haproxy_job": "edge-haproxy", "monitoring_node_job": "edge-node"})
    assert 'haproxy_server_status{job="edge-haproxy", state="DOWN"} == 1' in text
    assert 'lbstack_reload_success{job="edge-node"} == 0' in text
    assert "lbstack-haproxy" not in text and "lbstack-node" not in text
