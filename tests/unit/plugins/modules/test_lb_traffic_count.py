"""lb_traffic_count against loopback servers: who answered, in which order, from which source and for which
path; failures counted, not fatal; keepalive and concurrency; its arguments checked; and once through
Ansible."""

from __future__ import annotations

import contextlib
import io
import json
import time
import zlib
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbstack.ha.plugins.modules import lb_traffic_count as module
from ansible_collections.lbstack.ha.plugins.modules.lb_traffic_count import count_traffic

WEIGHTED = ["web1", "web1", "web1", "web2", "web2", "web3"]  # weights 3, 2, 1 in one cycle


def run_main(args: dict[str, Any]) -> tuple[int, dict]:
    """The module's main() in this process: (exit code, the JSON it printed)."""
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        module.main()
    return exit_.value.code, json.loads(out.getvalue())


def test_counts_and_order_follow_a_weighted_cycle(servers) -> None:
    server = servers(WEIGHTED)
    result = count_traffic(server.url, 60)
    assert result["counts"] == {"web1": 30, "web2": 20, "web3": 10}
    assert result["order"] == WEIGHTED * 10
    assert (result["total"], result["succeeded"], result["failures"], result["errors"]) == (60, 60, 0, {})
    assert result["connections"] == 60 and len(server.clients()) == 60  # a new connection per request
    assert result["stopped_early"] is False and result["order_truncated"] is False
    assert result["requests_per_second"] > 0 and result["elapsed"] > 0


def test_the_body_names_the_backend_when_the_header_is_absent(servers) -> None:
    server = servers(["x", "y"], header=None)
    assert count_traffic(server.url, 4)["counts"] == {"x": 2, "y": 2}


def test_another_header_can_name_the_backend(servers) -> None:
    server = servers(["by-header"], header="X-Served-By", body=False)
    assert count_traffic(server.url, 2, backend_header="X-Served-By")["counts"] == {"by-header": 2}
    assert count_traffic(server.url, 2)["counts"] == {"": 2}  # neither X-Backend nor a body: the empty name


def test_wrong_names_show_up_as_they_are(servers) -> None:
    """A server that is not a demo backend (a default page) is counted under its first line, not hidden."""
    server = servers(["<!DOCTYPE html>"], header=None)
    unexpected = servers(["web9"])
    assert count_traffic(server.url, 3)["counts"] == {"<!DOCTYPE html>": 3}
    assert count_traffic(unexpected.url, 3)["counts"] == {"web9": 3}


def test_refused_connections_are_counted_not_fatal(refused_url: str) -> None:
    result = count_traffic(refused_url, 3, timeout=0.5)
    assert (result["total"], result["succeeded"], result["failures"]) == (3, 0, 3)
    assert result["errors"] == {"connection refused": 3}
    assert result["order"] == [None, None, None] and result["counts"] == {}


def test_error_statuses_are_failures(servers) -> None:
    server = servers(["web1"], status=503)
    result = count_traffic(server.url, 4)
    assert result["errors"] == {"HTTP 503": 4} and result["failures"] == 4


def test_each_request_keeps_to_its_timeout(servers) -> None:
    server = servers(["slow"], mode="hang")
    started = time.monotonic()
    result = count_traffic(server.url, 3, timeout=0.2)
    elapsed = time.monotonic() - started
    assert result["errors"] == {"read timeout": 3}
    assert 0.55 <= elapsed < 1.2, elapsed


def test_connect_timeouts_are_told_apart(unanswered_url: str) -> None:
    result = count_traffic(unanswered_url, 2, timeout=0.1)
    assert result["errors"] == {"connect timeout": 2}


def test_concurrency_overlaps_requests(servers) -> None:
    server = servers(WEIGHTED, delay=0.05)
    started = time.monotonic()
    result = count_traffic(server.url, 48, concurrency=8)
    elapsed = time.monotonic() - started
    assert result["succeeded"] == 48 and len(result["order"]) == 48
    assert result["counts"] == {"web1": 24, "web2": 16, "web3": 8}
    assert server.max_in_flight >= 4  # requests overlapped at the server
    assert elapsed < 48 * 0.05, elapsed  # one at a time would take 2.4 s; about 0.3 s on an idle machine


def test_keepalive_reuses_one_connection(servers) -> None:
    server = servers(WEIGHTED)
    result = count_traffic(server.url, 30, keepalive=True)
    assert result["counts"] == {"web1": 15, "web2": 10, "web3": 5}
    assert result["connections"] == 1 and len(server.clients()) == 1
    result = count_traffic(server.url, 32, keepalive=True, concurrency=4)
    assert result["succeeded"] == 32 and result["connections"] == 4


def test_source_addresses_round_robin(servers, loopback_sources: list[str]) -> None:
    server = servers(WEIGHTED)
    result = count_traffic(server.url, 12, source_addresses=loopback_sources)
    assert {s: sum(c.values()) for s, c in result["by_source"].items()} == dict.fromkeys(loopback_sources, 4)
    assert [address for address, _, _, _ in server.requests] == loopback_sources * 4
    assert result["by_source"]["127.0.0.2"] == {"web1": 2, "web2": 2}  # requests 0, 3, 6, 9 of the cycle
    result = count_traffic(server.url, 12, source_addresses=loopback_sources, keepalive=True)
    assert result["succeeded"] == 12 and result["connections"] == 3


def test_paths_cycle_and_map_to_their_backend(servers) -> None:
    def by_hash(path: str) -> str:  # a balancer hashing the URI
        return f"web{zlib.crc32(path.encode()) % 3 + 1}"

    server = servers(name_for_path=by_hash)
    paths = ["/a", "/b?x=1", "/c", "/d"]
    result = count_traffic(server.url, 10, paths=paths)
    assert [path for _, _, path, _ in server.requests] == (paths * 3)[:10]
    assert result["by_path"] == {path: by_hash(path) for path in paths}
    times = [3, 3, 2, 2]  # 10 requests over 4 paths
    assert result["by_path_counts"] == {path: {by_hash(path): n} for path, n in zip(paths, times)}


def test_key_values_cycle_in_the_key_header_and_map_to_their_backend(servers) -> None:
    def by_hash(headers) -> str:  # a balancer hashing a request header
        key = headers.get("X-Cache-Key")
        return f"web{zlib.crc32(key.encode()) % 3 + 1}" if key else "no-key"

    server = servers(name_for_headers=by_hash, header="X-Backend")
    keys = ["tenant-a", "tenant-b", "tenant-c"]
    result = count_traffic(server.url, 7, key_header="X-Cache-Key", key_values=keys, headers={"X-Other": "1"})
    expected = {key: f"web{zlib.crc32(key.encode()) % 3 + 1}" for key in keys}
    assert result["by_key"] == expected
    assert result["by_key_counts"] == {key: {expected[key]: n} for key, n in zip(keys, [3, 2, 2])}
    assert count_traffic(server.url, 2)["counts"] == {"no-key": 2}  # no key header without key_values


def test_host_header_and_extra_headers(servers) -> None:
    server = servers(["web1"])
    count_traffic(server.url, 1, host_header="www.example", headers={"X-Test": 1})
    assert server.requests[0][3] == "www.example"


def test_the_order_can_be_left_out_or_bounded(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    server = servers(WEIGHTED)
    assert "order" not in count_traffic(server.url, 3, record_order=False)
    monkeypatch.setattr(module, "MAX_ORDER", 4)
    result = count_traffic(servers(WEIGHTED).url, 6)
    assert result["order"] == WEIGHTED[:4] and result["order_truncated"] is True


def test_max_time_stops_a_long_run(servers) -> None:
    server = servers(["web1"], delay=0.05)
    started = time.monotonic()
    result = count_traffic(server.url, 1000, max_time=0.3)
    elapsed = time.monotonic() - started
    assert result["stopped_early"] is True
    assert 3 <= result["total"] <= 8 and result["total"] == result["succeeded"] == len(result["order"])
    assert elapsed < 0.8, elapsed


def test_interval_spaces_each_workers_requests(servers) -> None:
    server = servers(["web1"])
    started = time.monotonic()
    result = count_traffic(server.url, 5, interval=0.1)
    elapsed = time.monotonic() - started
    assert result["succeeded"] == 5
    assert 0.4 <= elapsed < 1.5, elapsed


# --- main(): arguments, check mode, fail_on_error ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"count": 0}, "count must lie within 1..1000000, got 0"),
        ({"count": 1_000_001}, "count must lie within 1..1000000, got 1000001"),
        ({"concurrency": 0}, "concurrency must lie within 1..256, got 0"),
        ({"timeout": 0}, "timeout must be above 0 and at most 60 seconds, got 0.0"),
        ({"timeout": 61}, "timeout must be above 0 and at most 60 seconds, got 61.0"),
        ({"max_time": -1}, "max_time must be above 0 seconds, got -1.0"),
        ({"interval": 11}, "interval must lie within 0..10 seconds, got 11.0"),
        (
            {"url": "https://127.0.0.1/"},
            "url: only http://host[:port]/path URLs are supported, got 'https://127.0.0.1/'",
        ),
        ({"backend_header": "X Backend"}, "backend_header must be an HTTP header name, got 'X Backend'"),
        ({"headers": {"Bad: name": "x"}}, "headers: 'Bad: name' is not an HTTP header name"),
        ({"key_header": "X-Key"}, "key_header and key_values go together: give both or neither"),
        ({"key_values": ["a"]}, "key_header and key_values go together: give both or neither"),
        ({"key_header": "X Key", "key_values": ["a"]}, "key_header must be an HTTP header name, got 'X Key'"),
        ({"key_header": "X-Key", "key_values": ["a\nb"]}, "key_values: each must be Latin-1 without control"),
        ({"paths": ["a"]}, "paths: each must start with / and be printable ASCII without spaces, got 'a'"),
        ({"paths": ["/a b"]}, "paths: each must start with / and be printable ASCII without spaces, got '/a"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, "headers: the value of X-A must be Latin-1 without control"),
        ({"host_header": "a\nb"}, "host_header must be Latin-1 without control characters, got 'a\\nb'"),
        ({"url": "http://127.0.0.1/a b"}, "url: the path of 'http://127.0.0.1/a b' must be printable ASCII"),
        ({"source_addresses": ["client1"]}, "source_addresses: 'client1' is not an IP address"),
        ({"source_addresses": ["::1"]}, "source_addresses: ::1 is IPv6, the URL's host IPv4"),
        ({"count": "many"}, "argument 'count' is of type str and we were unable to convert to int"),
        ({"url": None}, "missing required arguments: url"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(args: dict[str, Any], msg: str) -> None:
    full = {"url": "http://127.0.0.1:9/", "count": 1, **args}
    code, result = run_main({k: v for k, v in full.items() if v is not None})
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith(msg), result["msg"]


def test_documentation_matches_the_code(servers, documentation) -> None:
    server = servers(WEIGHTED)
    args = {"url": server.url, "count": 4, "paths": ["/a"], "source_addresses": ["127.0.0.2"]}
    args |= {"key_header": "X-Key", "key_values": ["k1"]}
    code, result = run_main(args)
    assert code == 0
    documentation(module, result)


def test_check_mode_probes_and_changes_nothing(servers) -> None:
    server = servers(WEIGHTED)
    code, result = run_main({"url": server.url, "count": 6, "_ansible_check_mode": True})
    assert code == 0 and result["changed"] is False and result["counts"] == {"web1": 3, "web2": 2, "web3": 1}


def test_fail_on_error_fails_with_the_figures(refused_url: str) -> None:
    code, result = run_main({"url": refused_url, "count": 3, "timeout": 0.5})
    assert code == 0 and result["failures"] == 3 and "failed" not in result
    code, result = run_main({"url": refused_url, "count": 3, "timeout": 0.5, "fail_on_error": True})
    assert code == 1 and result["msg"] == "3 of 3 requests failed (connection refused: 3)"
    assert result["errors"] == {"connection refused": 3} and result["total"] == 3


# --- through Ansible --------------------------------------------------------------------------------------


def test_through_ansible(servers, refused_url: str, playbook) -> None:
    server = servers(WEIGHTED)
    run, got = playbook(
        [
            {"lbstack.ha.lb_traffic_count": {"url": server.url, "count": 12}, "register": "plain"},
            {
                "lbstack.ha.lb_traffic_count": {
                    "url": server.url,
                    "count": 12,
                    "keepalive": True,
                    "concurrency": 2,
                    "source_addresses": ["127.0.0.2", "127.0.0.3"],
                    "paths": ["/x", "/y"],
                },
                "register": "options",
                "check_mode": True,
            },
            {
                "lbstack.ha.lb_traffic_count": {"url": refused_url, "count": 2, "fail_on_error": True},
                "register": "refused",
                "ignore_errors": True,
            },
            {
                "lbstack.ha.lb_traffic_count": {"url": server.url, "count": 0},
                "register": "bad",
                "ignore_errors": True,
            },
        ]
    )
    assert run.returncode == 0, run.stdout + run.stderr
    plain, options, refused, bad = got["plain"], got["options"], got["refused"], got["bad"]
    assert plain["changed"] is False and plain.get("failed") is False
    assert plain["counts"] == {"web1": 6, "web2": 4, "web3": 2} and plain["order"] == WEIGHTED * 2
    assert options["succeeded"] == 12 and options["connections"] == 2
    assert set(options["by_source"]) == {"127.0.0.2", "127.0.0.3"} and set(options["by_path"]) == {"/x", "/y"}
    assert refused["failed"] is True and refused["msg"] == "2 of 2 requests failed (connection refused: 2)"
    assert bad["failed"] is True and bad["msg"] == "count must lie within 1..1000000, got 0"
