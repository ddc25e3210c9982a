"""lb_gap_probe against loopback servers: real outages (refused connections, then a hung server) measured
against the outage the test caused, timeouts respected, the timeline, start_at; its arguments checked; and
once through Ansible in the background (async, poll 0, async_status) while the test causes an outage."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbstack.ha.plugins.modules import lb_gap_probe as module
from ansible_collections.lbstack.ha.plugins.modules.lb_gap_probe import probe_gaps, wait_until


def run_main(args: dict[str, Any]) -> tuple[int, dict]:
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        module.main()
    return exit_.value.code, json.loads(out.getvalue())


class Outage(threading.Thread):
    """Once the server saw its first request: waits `after` s, then takes the server down for `length` s.

    kind "refuse" closes the listening socket (connections refused), "hang" keeps it but answers nothing.
    Records the wall-clock times the outage surely began and ended, and the times it may have begun and ended.
    """

    def __init__(self, server, after: float, length: float, kind: str = "refuse", wait: float = 30) -> None:
        super().__init__(daemon=True)
        self.server, self.after, self.length, self.kind, self.wait = server, after, length, kind, wait
        self.times: dict[str, float] = {}

    def run(self) -> None:
        if not self.server.first_request.wait(self.wait):
            return
        time.sleep(self.after)
        self.times["down_called"] = time.time()
        if self.kind == "refuse":
            self.server.stop()
        else:
            self.server.mode = "hang"
        self.times["down"] = time.time()
        time.sleep(self.length)
        self.times["up_called"] = time.time()
        if self.kind == "refuse":
            self.server.start()
        else:
            self.server.mode = "answer"
            self.server.released.set()  # ends the hung requests (they already timed out at the client)
        self.times["up"] = time.time()

    @property
    def surely_down(self) -> float:
        return self.times["up_called"] - self.times["down"]

    @property
    def maybe_down(self) -> float:
        return self.times["up"] - self.times["down_called"]


def phases(timeline: list[dict]) -> list[str]:
    events = [event["event"] for event in timeline]
    return [event for i, event in enumerate(events) if i == 0 or event != events[i - 1]]


def test_without_a_fault_the_gap_is_about_the_interval(servers) -> None:
    server = servers(["web1", "web2"])
    before = time.time()
    result = probe_gaps(server.url, duration=0.4, interval=0.01)
    assert result["failures"] == 0 and result["errors"] == {}
    assert 5 <= result["probes"] <= 41 and result["succeeded"] == result["probes"]
    half = result["probes"] // 2
    assert result["counts"] == {"web1": result["probes"] - half, "web2": half}
    assert result["longest_gap"] < 0.15
    assert result["first_success_after"] < 0.1 and result["last_success_before_end"] < 0.1
    assert [event["event"] for event in result["timeline"]] == ["ok"]  # the backend changing is no event
    assert result["timeline"][0]["backend"] == "web1" and result["timeline_truncated"] is False
    assert 0.4 <= result["duration"] < 0.6 and result["waited"] == 0
    assert before <= result["started_at"] <= before + 0.1
    assert result["gap_start_epoch"] == pytest.approx(result["started_at"] + result["gap_start"], abs=1e-3)
    assert result["gap_end_epoch"] == pytest.approx(result["started_at"] + result["gap_end"], abs=1e-3)
    assert 0 < result["slowest_success"] < 0.15


def test_keepalive_probes_on_one_connection(servers) -> None:
    """Kept alive, every probe goes over one connection (what the server closes is counted by the shared
    prober, tests/unit/plugins/module_utils/test_http_probe.py); without, one connection per probe."""
    server = servers(["web1", "web2"])
    kept = probe_gaps(server.url, duration=0.3, interval=0.01, keepalive=True)
    assert kept["failures"] == 0 and kept["probes"] > 10, kept
    assert (kept["connections"], kept["closed_idle"], kept["closed_announced"]) == (1, 0, 0)
    assert len(server.clients()) == 1
    fresh = probe_gaps(server.url, duration=0.2, interval=0.01)
    assert fresh["connections"] == fresh["probes"]


def test_a_refusing_outage_is_measured(servers) -> None:
    """The server's port is closed for 0.5 s: the longest gap is that outage, seen where it happened."""
    server = servers(["web1"])
    outage = Outage(server, after=0.3, length=0.5)
    outage.start()
    result = probe_gaps(server.url, duration=1.3, interval=0.01, timeout=0.2)
    outage.join(5)
    assert 0.4 <= result["longest_gap"] <= 1.0, result
    gap = result["longest_gap"]
    assert outage.surely_down - 0.02 <= gap <= outage.maybe_down + 0.2, (outage.times, result)
    assert result["gap_start_epoch"] == pytest.approx(outage.times["down"], abs=0.1)
    assert result["gap_end_epoch"] == pytest.approx(outage.times["up"], abs=0.1)
    assert set(result["errors"]) <= {"connection refused", "connection reset", "closed without response"}
    assert result["errors"].get("connection refused", 0) >= 5
    assert phases(result["timeline"]) == ["ok", "fail", "ok"], result["timeline"]
    assert result["first_success_after"] < 0.1 and result["last_success_before_end"] < 0.1


def test_a_hanging_outage_is_measured_and_each_probe_keeps_to_its_timeout(servers) -> None:
    server = servers(["web1"])
    outage = Outage(server, after=0.2, length=0.6, kind="hang")
    outage.start()
    result = probe_gaps(server.url, duration=1.3, interval=0.01, timeout=0.2)
    outage.join(5)
    assert 0.5 <= result["longest_gap"] <= 1.0, result
    gap = result["longest_gap"]
    assert outage.surely_down - 0.02 <= gap <= outage.maybe_down + 0.3, (outage.times, result)
    assert 2 <= result["errors"].get("read timeout", 0) <= 4, result["errors"]
    assert result["duration"] < 1.3 + 0.2 + 0.1


def test_a_server_that_never_answers(servers) -> None:
    server = servers(["web1"], mode="hang")
    started = time.monotonic()
    result = probe_gaps(server.url, duration=0.5, interval=0.01, timeout=0.2)
    elapsed = time.monotonic() - started
    assert result["succeeded"] == 0 and result["errors"] == {"read timeout": result["probes"]}
    assert 3 <= result["probes"] <= 4  # one every 0.2 s: each probe ends at its timeout
    assert elapsed < 0.5 + 0.2 + 0.1, elapsed
    # no two successes bound a gap: the whole probing period is the gap
    assert result["longest_gap"] == result["duration"] == result["first_success_after"]
    assert result["last_success_before_end"] == result["duration"]
    assert result["timeline"] == [{"t": result["timeline"][0]["t"], "event": "fail", "error": "read timeout"}]


def test_connect_timeouts(unanswered_url: str) -> None:
    result = probe_gaps(unanswered_url, duration=0.3, timeout=0.1)
    assert result["errors"] == {"connect timeout": result["probes"]} and 3 <= result["probes"] <= 4


def test_refused_all_along(refused_url: str) -> None:
    result = probe_gaps(refused_url, duration=0.2, interval=0.02)
    assert result["succeeded"] == 0 and result["errors"] == {"connection refused": result["probes"]}
    assert 4 <= result["probes"] <= 11 and phases(result["timeline"]) == ["fail"]


def test_a_single_success_bounds_no_gap(servers) -> None:
    server = servers(["web1"])
    result = probe_gaps(server.url, duration=0.2, interval=1.0)
    assert result["probes"] == result["succeeded"] == 1
    assert result["longest_gap"] == result["duration"] and result["gap_start"] == 0


def test_backend_changes_on_request_and_a_bounded_timeline(servers) -> None:
    server = servers(["a", "a", "b"])
    result = probe_gaps(server.url, duration=0.3, interval=0.01, timeline_backend_changes=True)
    backends = [event["backend"] for event in result["timeline"]]
    assert backends[:4] == ["a", "b", "a", "b"] and len(backends) >= 4
    result = probe_gaps(server.url, duration=0.3, interval=0.01, timeline_backend_changes=True, max_events=2)
    assert len(result["timeline"]) == 2 and result["timeline_truncated"] is True


def test_start_at_waits_for_the_given_wall_clock_time(servers) -> None:
    server = servers(["web1"])
    start_at = time.time() + 0.3
    result = probe_gaps(server.url, duration=0.05, start_at=start_at)
    assert 0.25 <= result["waited"] < 0.45 and start_at - 0.005 <= result["started_at"] < start_at + 0.1
    result = probe_gaps(server.url, duration=0.05, start_at=time.time() - 10)  # past: at once
    assert result["waited"] < 0.05


def test_waiting_is_bounded_even_for_a_far_start() -> None:
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    assert wait_until(1e12, clock=lambda: now[0], sleep=sleep) == module.MAX_START_AHEAD
    assert max(slept) <= 1.0 and len(slept) == int(module.MAX_START_AHEAD)
    assert wait_until(None) == 0.0


def test_stop_file_ends_probing_early(servers, tmp_path) -> None:
    """A file appearing at the stop_file path ends probing before the next probe; duration bounds it."""
    server = servers(["web1"])
    stop = tmp_path / "stop"
    timer = threading.Timer(0.3, stop.touch)
    timer.start()
    started = time.monotonic()
    result = probe_gaps(server.url, duration=10, interval=0.01, stop_file=str(stop))
    elapsed = time.monotonic() - started
    timer.join(5)
    assert result["stopped_by_file"] is True
    assert 0.28 <= result["duration"] < 0.6 and elapsed < 0.8, (result["duration"], elapsed)
    assert result["failures"] == 0 and result["succeeded"] == result["probes"] >= 10
    assert result["last_success_before_end"] < 0.1  # the end is the file, not a gap


def test_without_the_stop_file_the_duration_holds(servers, tmp_path) -> None:
    server = servers(["web1"])
    result = probe_gaps(server.url, duration=0.3, interval=0.01, stop_file=str(tmp_path / "never"))
    assert result["stopped_by_file"] is False and 0.3 <= result["duration"] < 0.5
    result = probe_gaps(server.url, duration=0.2, interval=0.01)
    assert result["stopped_by_file"] is False


def test_a_stop_file_already_there_ends_probing_at_once(servers, tmp_path) -> None:
    server = servers(["web1"])
    stop = tmp_path / "stop"
    stop.touch()
    result = probe_gaps(server.url, duration=5, stop_file=str(stop))
    assert result["stopped_by_file"] is True and result["probes"] == 0 and result["duration"] < 0.1


def test_stop_file_ends_an_outage_measurement_after_the_recovery(servers, tmp_path) -> None:
    """What the benchmark does: the fault's outage is measured, then the file ends probing soon after."""
    server = servers(["web1"])
    outage = Outage(server, after=0.2, length=0.4)
    outage.start()
    stop = tmp_path / "stop"
    timer = threading.Timer(1.0, stop.touch)
    timer.start()
    result = probe_gaps(server.url, duration=30, interval=0.01, timeout=0.2, stop_file=str(stop))
    outage.join(5)
    timer.join(5)
    assert result["stopped_by_file"] is True and result["duration"] < 1.5
    assert outage.surely_down - 0.02 <= result["longest_gap"] <= outage.maybe_down + 0.2, (outage.times, result)
    assert result["last_success_before_end"] < 0.1


# --- main(): arguments and check mode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"duration": 0}, "duration must be above 0 and at most 600 seconds, got 0.0"),
        ({"duration": 601}, "duration must be above 0 and at most 600 seconds, got 601.0"),
        ({"interval": 0.0001}, "interval must lie within 0.001..60 seconds, got 0.0001"),
        ({"timeout": 0}, "timeout must be above 0 and at most 60 seconds, got 0.0"),
        ({"max_events": -1}, "max_events must lie within 0..10000, got -1"),
        ({"start_at": time.time() + 3600}, "start_at is 3"),  # 3599.x s from now
        ({"url": "http://127.0.0.1:x/"}, "url: only http://host[:port]/path URLs are supported"),
        ({"backend_header": "X:B"}, "backend_header must be an HTTP header name, got 'X:B'"),
        ({"host_header": "caf\u00e9\u2603"}, "host_header must be Latin-1 without control characters"),
        ({"duration": "long"}, "argument 'duration' is of type str and we were unable to convert to float"),
        ({"duration": None}, "missing required arguments: duration"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(args: dict[str, Any], msg: str) -> None:
    full = {"url": "http://127.0.0.1:9/", "duration": 1, **args}
    code, result = run_main({k: v for k, v in full.items() if v is not None})
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith(msg), result["msg"]


def test_a_start_too_far_ahead_is_explained() -> None:
    code, result = run_main({"url": "http://127.0.0.1:9/", "duration": 1, "start_at": 60.0 + 2e9})
    assert code == 1 and result["msg"].endswith(
        "s from now; it must be at most 600 s ahead (seconds since the epoch, not a delay)"
    )


def test_documentation_matches_the_code(servers, documentation) -> None:
    code, result = run_main({"url": servers(["web1"]).url, "duration": 0.05})
    assert code == 0
    documentation(module, result)


def test_check_mode_probes_and_changes_nothing(servers) -> None:
    server = servers(["web1"])
    code, result = run_main({"url": server.url, "duration": 0.1, "_ansible_check_mode": True})
    assert code == 0 and result["changed"] is False and result["succeeded"] > 0 and result["failures"] == 0


# --- through Ansible, in the background -------------------------------------------------------------------


def test_in_the_background_through_ansible(servers, playbook) -> None:
    """async + poll 0, then async_status, as the verifiers run it; the server goes down meanwhile."""
    server = servers(["web1", "web2"])
    quiet = servers(["web3"])
    outage = Outage(server, after=0.3, length=0.5, wait=60)
    outage.start()
    run, got = playbook(
        [
            {
                "name": "Probe in the background",
                "lbstack.ha.lb_gap_probe": {"url": server.url, "duration": 1.5, "timeout": 0.2},
                "async": 30,
                "poll": 0,
                "register": "job",
            },
            {
                "name": "A short probe in check mode meanwhile",
                "lbstack.ha.lb_gap_probe": {"url": quiet.url, "duration": 0.2},
                "check_mode": True,
                "register": "checked",
            },
            {
                "name": "A refused argument",
                "lbstack.ha.lb_gap_probe": {"url": quiet.url, "duration": 700},
                "register": "bad",
                "ignore_errors": True,
            },
            {
                "name": "Collect the probe",
                "ansible.builtin.async_status": {"jid": "{{ job.ansible_job_id }}"},
                "register": "probe",
                "until": "probe.finished",
                "retries": 30,
                "delay": 1,
            },
        ]
    )
    outage.join(5)
    assert run.returncode == 0, run.stdout + run.stderr
    probe, checked, bad = got["probe"], got["checked"], got["bad"]
    assert got["job"]["started"] == 1 and probe["finished"] == 1
    assert probe["changed"] is False and probe.get("failed") is False
    assert 0.4 <= probe["longest_gap"] <= 1.0, (outage.times, probe)
    assert probe["gap_start_epoch"] == pytest.approx(outage.times["down"], abs=0.1)
    assert probe["errors"].get("connection refused", 0) > 0 and set(probe["counts"]) == {"web1", "web2"}
    assert checked["changed"] is False and checked["counts"] == {"web3": checked["succeeded"]}
    assert bad["failed"] is True
    assert bad["msg"] == "duration must be above 0 and at most 600 seconds, got 700.0"
