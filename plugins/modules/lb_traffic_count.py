#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_traffic_count
short_description: Send N requests through an address and count which backend answered each
version_added: 0.1.0
author: lbstack maintainers (@lbstack)
description:
  - Sends O(count) HTTP GET requests to O(url), one after the other (or O(concurrency) at a time), and records
    which backend answered each, from a response header (default C(X-Backend)) or, when the response has no
    such header, the first line of the body.
  - A request succeeds when it gets a 2xx answer; a 2xx answer with neither the header nor a body is counted
    under the empty name C("").
  - Each request opens a new TCP connection unless O(keepalive=true). Each request, connect included, ends
    after at most O(timeout) seconds, whatever the server does.
  - Network failures, timeouts and non-2xx answers are counted in RV(failures) and RV(errors), not fatal,
    unless O(fail_on_error=true). Only bad arguments fail the task otherwise.
  - A read-only probe, run on a client host with nothing but Python's standard library; it never changes
    anything and always returns C(changed=false).
  - The number of failed requests is RV(failures), because C(failed) is the task status in Ansible.
options:
  url:
    description:
      - The C(http://) URL to request, usually the VIP, for example C(http://192.0.2.10/).
      - C(https) is not supported.
    type: str
    required: true
  count:
    description: Number of requests to send, 1 to 1,000,000.
    type: int
    required: true
  timeout:
    description: Deadline of each request in seconds, connect and whole answer included; above 0, at most 60.
    type: float
    default: 2.0
  max_time:
    description:
      - Stop sending after this many seconds, even if fewer than O(count) requests went out (RV(total) then
        says how many did and RV(stopped_early) is true). At least one request is always sent.
      - Unset, the time is bounded by O(count) times O(timeout) only.
    type: float
  concurrency:
    description:
      - Requests in flight at once, 1 to 256. Request i is sent by worker C(i % concurrency), each worker
        sending its requests one after the other.
    type: int
    default: 1
  interval:
    description:
      - Seconds each worker waits after a request before its next one, 0 to 10. Lets the balancer see a
        finished request's connection closed before the next arrives (least connections counts it until then).
    type: float
    default: 0.0
  keepalive:
    description:
      - Reuse one connection per worker (and per source address) instead of opening one per request. A kept
        connection the server closed while idle is replaced and the request sent again, once.
    type: bool
    default: false
  backend_header:
    description:
      - Response header naming the backend. When the answer lacks it, the first line of the body is used.
      - The empty string uses the body only.
    type: str
    default: X-Backend
  host_header:
    description: C(Host) header to send instead of the URL's host.
    type: str
  headers:
    description: Extra request headers, name to value (Latin-1 values without control characters).
    type: dict
    default: {}
  paths:
    description:
      - Paths (with an optional query) to cycle over, request i asking for C(paths[i % len(paths)]) on the
        URL's host and port; each must start with C(/) and be printable ASCII without spaces (percent-encode
        the rest). Empty, every request asks for the URL's own path.
      - Used to check URI-hash balancing, where each path must always land on the same backend.
    type: list
    elements: str
    default: []
  key_header:
    description:
      - Request header that carries a key per request, request i sending C(key_values[i % len(key_values)]) in it.
      - Used to check header-hash balancing (a cache keyed on a header), where each key must always land
        on the same backend. Requires O(key_values).
    type: str
  key_values:
    description:
      - Values of O(key_header) to cycle over (Latin-1 without control characters). Requires O(key_header).
    type: list
    elements: str
    default: []
  source_addresses:
    description:
      - Local IP addresses to send from, request i from C(source_addresses[i % len(source_addresses)]).
      - Used to check source-hash balancing; each must be configured on the client (on Linux, any address of
        127.0.0.0/8 works for a loopback URL). Of the URL host's address family when that is an address.
    type: list
    elements: str
    default: []
  record_order:
    description: Return RV(order), the answering backend of each request in order (the first 100,000).
    type: bool
    default: true
  fail_on_error:
    description: Fail the task, with all the figures, when any request failed.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Sends the requests in check mode too; a GET changes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: lbstack.ha.lb_gap_probe
  - module: lbstack.ha.vip_holder
"""

EXAMPLES = r"""
- name: Send 10 weight cycles through the VIP
  lbstack.ha.lb_traffic_count:
    url: http://192.0.2.10/
    count: 70
  register: traffic

- name: Show who answered
  ansible.builtin.debug:
    var: traffic.counts

- name: The same from three source addresses (source-hash balancing)
  lbstack.ha.lb_traffic_count:
    url: http://192.0.2.10/
    count: 30
    source_addresses: [192.0.2.31, 192.0.2.32, 192.0.2.33]
  register: by_source

- name: Each URI always lands on the same backend (URI-hash balancing)
  lbstack.ha.lb_traffic_count:
    url: http://192.0.2.10/
    count: 100
    paths: [/a, /b, /c, /d]
  register: by_uri

- name: One backend per path
  ansible.builtin.assert:
    that: by_uri.by_path_counts.values() | map('length') | max == 1

- name: A load test for a minute at most, 16 requests in flight on kept-alive connections
  lbstack.ha.lb_traffic_count:
    url: http://192.0.2.10/
    host_header: www.example.com
    count: 100000
    concurrency: 16
    keepalive: true
    max_time: 60
    record_order: false
"""

RETURN = r"""
total:
  description: Requests sent (O(count) unless O(max_time) stopped the run early).
  type: int
  returned: always
  sample: 70
succeeded:
  description: Requests answered with a 2xx status.
  type: int
  returned: always
  sample: 70
failures:
  description: Requests that failed (network error, timeout or non-2xx status); RV(total) - RV(succeeded).
  type: int
  returned: always
  sample: 0
counts:
  description: Successful answers per backend name.
  type: dict
  returned: always
  sample: {web1: 40, web2: 20, web3: 10}
order:
  description:
    - The backend that answered each request, in the order the requests were numbered (null for a failure).
    - With O(concurrency) above 1 neighbouring requests overlap in time.
  type: list
  elements: str
  returned: when O(record_order=true)
  sample: [web1, web2, web1, web3, web1, web2, web1]
order_truncated:
  description: Whether RV(order) holds only the first 100,000 requests.
  type: bool
  returned: when O(record_order=true)
errors:
  description: Failures by kind (at most 20 kinds, the rest as C(other)).
  type: dict
  returned: always
  sample: {connection refused: 2, read timeout: 1, HTTP 503: 4}
by_path:
  description: For each of O(paths), the backend that answered its last successful request.
  type: dict
  returned: when O(paths) is given
  sample: {/a: web2, /b: web1}
by_path_counts:
  description: For each of O(paths), successful answers per backend name.
  type: dict
  returned: when O(paths) is given
  sample: {/a: {web2: 25}, /b: {web1: 25}}
by_key:
  description: For each of O(key_values), the backend that answered its last successful request.
  type: dict
  returned: when O(key_values) is given
  sample: {tenant-a: web2, tenant-b: web1}
by_key_counts:
  description: For each of O(key_values), successful answers per backend name.
  type: dict
  returned: when O(key_values) is given
  sample: {tenant-a: {web2: 25}, tenant-b: {web1: 25}}
by_source:
  description: For each of O(source_addresses), successful answers per backend name.
  type: dict
  returned: when O(source_addresses) is given
  sample: {192.0.2.31: {web1: 10}, 192.0.2.32: {web3: 10}}
connections:
  description: TCP connections opened (RV(total) without O(keepalive), fewer with it).
  type: int
  returned: always
stopped_early:
  description: Whether O(max_time) ended the run before O(count) requests were sent.
  type: bool
  returned: always
elapsed:
  description: Seconds the requests took, all of them.
  type: float
  returned: always
  sample: 0.214
requests_per_second:
  description: RV(total) / RV(elapsed).
  type: float
  returned: always
  sample: 327.1
"""

import ipaddress
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import (
    Prober,
    Target,
    count_error,
    is_header_name,
    is_header_value,
    is_request_path,
)

MAX_COUNT = 1_000_000
MAX_ORDER = 100_000
MAX_CONCURRENCY = 256
MAX_TIMEOUT = 60.0


ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "count": {"type": "int", "required": True},
    "timeout": {"type": "float", "default": 2.0},
    "max_time": {"type": "float"},
    "concurrency": {"type": "int", "default": 1},
    "interval": {"type": "float", "default": 0.0},
    "keepalive": {"type": "bool", "default": False},
    "backend_header": {"type": "str", "default": "X-Backend"},
    "host_header": {"type": "str"},
    "headers": {"type": "dict", "default": {}},
    "paths": {"type": "list", "elements": "str", "default": []},
    "key_header": {"type": "str", "no_log": False},
    "key_values": {"type": "list", "elements": "str", "default": [], "no_log": False},
    "source_addresses": {"type": "list", "elements": "str", "default": []},
    "record_order": {"type": "bool", "default": True},
    "fail_on_error": {"type": "bool", "default": False},
}


def count_traffic(
    url: str,
    count: int,
    timeout: float = 2.0,
    concurrency: int = 1,
    keepalive: bool = False,
    backend_header: str | None = "X-Backend",
    host_header: str | None = None,
    headers: dict | None = None,
    paths: list | None = None,
    source_addresses: list | None = None,
    key_header: str | None = None,
    key_values: list | None = None,
    record_order: bool = True,
    max_time: float | None = None,
    interval: float = 0.0,
) -> dict:
    """Sends the requests and returns the module's figures; raises ValueError for a bad URL only."""
    target = Target(url)
    paths = list(paths or [])
    sources = list(source_addresses or [])
    keys = list(key_values or []) if key_header else []
    concurrency = max(1, min(concurrency, count))
    answers: list = [None] * count  # backend name per request, None for a failure
    sent = [False] * count
    errors: dict = {}
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + max_time if max_time else None

    def worker(indices: range) -> int:
        prober = Prober(target, timeout, backend_header, host_header, headers, keepalive)
        try:
            for n, i in enumerate(indices):
                if n > 0 and interval > 0:
                    time.sleep(interval)
                if stop_at is not None and i > 0 and time.monotonic() >= stop_at:
                    break
                result = prober.get(
                    paths[i % len(paths)] if paths else None,
                    sources[i % len(sources)] if sources else None,
                    {key_header: keys[i % len(keys)]} if keys else None,
                )
                sent[i] = True
                if result.ok:
                    answers[i] = result.backend
                else:
                    with lock:
                        count_error(errors, result.error)
        finally:
            prober.close()
        return prober.connections

    if concurrency == 1:
        connections = worker(range(count))
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            connections = sum(pool.map(worker, [range(k, count, concurrency) for k in range(concurrency)]))
    elapsed = time.monotonic() - started

    total = sum(sent)
    counts: dict = {}
    for name in answers:
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    by_path, by_path_counts = tally_by(paths, answers)
    by_source = tally_by(sources, answers)[1]
    by_key, by_key_counts = tally_by(keys, answers)
    succeeded = sum(counts.values())
    result = {
        "total": total,
        "succeeded": succeeded,
        "failures": total - succeeded,
        "counts": counts,
        "errors": errors,
        "connections": connections,
        "stopped_early": total < count,
        "elapsed": round(elapsed, 4),
        "requests_per_second": round(total / elapsed, 1) if elapsed > 0 else 0.0,
    }
    if record_order:
        # Requests never sent (max_time) are left out; with concurrency they are the last of some workers.
        result["order"] = [name for i, name in enumerate(answers[:MAX_ORDER]) if sent[i]]
        result["order_truncated"] = total > MAX_ORDER
    if paths:
        result["by_path"] = by_path
        result["by_path_counts"] = by_path_counts
    if sources:
        result["by_source"] = by_source
    if keys:
        result["by_key"] = by_key
        result["by_key_counts"] = by_key_counts
    return result


def tally_by(cycle: list, answers: list) -> tuple[dict, dict]:
    """Request i was sent with cycle[i % len(cycle)] (a path, a source address, a key): for each value, the
    backend that answered it last and how often each backend answered it."""
    last: dict = {}
    per_value: dict = {value: {} for value in cycle}
    for i, name in enumerate(answers):
        if name is None or not cycle:
            continue
        value = cycle[i % len(cycle)]
        last[value] = name
        per_value[value][name] = per_value[value].get(name, 0) + 1
    return last, per_value


def check_arguments(p: dict) -> str | None:
    """The first problem with the module's arguments, or None."""
    if not 1 <= p["count"] <= MAX_COUNT:
        return f"count must lie within 1..{MAX_COUNT}, got {p['count']}"
    if not 1 <= p["concurrency"] <= MAX_CONCURRENCY:
        return f"concurrency must lie within 1..{MAX_CONCURRENCY}, got {p['concurrency']}"
    if not 0 < p["timeout"] <= MAX_TIMEOUT:
        return f"timeout must be above 0 and at most {MAX_TIMEOUT:g} seconds, got {p['timeout']}"
    if not 0 <= p["interval"] <= 10:
        return f"interval must lie within 0..10 seconds, got {p['interval']}"
    if p["max_time"] is not None and not p["max_time"] > 0:
        return f"max_time must be above 0 seconds, got {p['max_time']}"
    try:
        target = Target(p["url"])
    except ValueError as exc:
        return f"url: {exc}"
    if p["backend_header"] and not is_header_name(p["backend_header"]):
        return f"backend_header must be an HTTP header name, got {p['backend_header']!r}"
    for name, value in p["headers"].items():
        if not is_header_name(str(name)):
            return f"headers: {name!r} is not an HTTP header name"
        if not is_header_value(str(value)):
            return f"headers: the value of {name} must be Latin-1 without control characters, got {value!r}"
    if p["host_header"] is not None and not is_header_value(p["host_header"]):
        return f"host_header must be Latin-1 without control characters, got {p['host_header']!r}"
    if bool(p["key_header"]) != bool(p["key_values"]):
        return "key_header and key_values go together: give both or neither"
    if p["key_header"] and not is_header_name(p["key_header"]):
        return f"key_header must be an HTTP header name, got {p['key_header']!r}"
    for value in p["key_values"]:
        if not is_header_value(value):
            return f"key_values: each must be Latin-1 without control characters, got {value!r}"
    for path in p["paths"]:
        if not is_request_path(path):
            return f"paths: each must start with / and be printable ASCII without spaces, got {path!r}"
    try:
        host = ipaddress.ip_address(target.host)
    except ValueError:
        host = None  # a name: its family is known only once resolved
    for source in p["source_addresses"]:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return f"source_addresses: {source!r} is not an IP address"
        if host is not None and address.version != host.version:
            return f"source_addresses: {source} is IPv{address.version}, the URL's host IPv{host.version}"
    return None


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    problem = check_arguments(p)
    if problem:
        module.fail_json(msg=problem)
    result = count_traffic(
        p["url"],
        p["count"],
        timeout=p["timeout"],
        concurrency=p["concurrency"],
        keepalive=p["keepalive"],
        backend_header=p["backend_header"] or None,
        host_header=p["host_header"],
        headers=p["headers"],
        paths=p["paths"],
        source_addresses=p["source_addresses"],
        key_header=p["key_header"],
        key_values=p["key_values"],
        record_order=p["record_order"],
        interval=p["interval"],
        max_time=p["max_time"],
    )
    if p["fail_on_error"] and result["failures"]:
        kinds = sorted(result["errors"].items(), key=lambda item: -item[1])
        errors = ", ".join(f"{kind}: {n}" for kind, n in kinds)
        msg = f"{result['failures']} of {result['total']} requests failed ({errors})"
        module.fail_json(msg=msg, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
