#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_traffic_count
short_description: Send N requests through an address and count which backend answered each
version_added: 0.1.0
author: lbstack maintainers
description:
  - Sends O(count) HTTP GET requests to O(url), one after the other (or O(concurrency) at a time), and records
    which backend answered each, from a response header (default C(X-Backend)) or the first line of the body.
  - Each request opens a new TCP connection unless O(keepalive=true).
  - Network failures are counted, not fatal, unless O(fail_on_error=true).
  - A read-only probe, run on a client host; it never changes anything.
options:
  url:
    description: The C(http://) URL to request, usually the VIP.
    type: str
    required: true
  count:
    description: Number of requests, 1..1,000,000.
    type: int
    required: true
  timeout:
    description: Timeout of each request (connect and read), in seconds.
    type: float
    default: 2.0
  concurrency:
    description: Requests in flight at once. With more than one the order is the order of completion.
    type: int
    default: 1
  keepalive:
    description: Reuse one connection per worker instead of opening one per request.
    type: bool
    default: false
  backend_header:
    description: Response header naming the backend; when absent the first body line is used.
    type: str
    default: X-Backend
  host_header:
    description: Host header to send.
    type: str
  headers:
    description: Extra request headers.
    type: dict
    default: {}
  paths:
    description: Paths (with query) to cycle over, request i getting C(paths[i % len(paths)]); default the URL's own.
    type: list
    elements: str
    default: []
  source_addresses:
    description: Local addresses to send from, request i from C(source_addresses[i % len]) (source-hash tests).
    type: list
    elements: str
    default: []
  record_order:
    description: Return the answering backend of every request in order (up to 100,000 requests).
    type: bool
    default: true
  fail_on_error:
    description: Fail the task when any request failed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Sends the requests in check mode too; they change nothing.
  diff_mode:
    support: none
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

- name: The same from three source addresses
  lbstack.ha.lb_traffic_count:
    url: http://192.0.2.10/
    count: 30
    source_addresses: [192.0.2.31, 192.0.2.32, 192.0.2.33]
  register: by_source
"""

RETURN = r"""
total:
  description: Requests sent.
  type: int
  returned: always
succeeded:
  description: Requests answered with a 2xx status.
  type: int
  returned: always
failures:
  description: Requests that failed (network error, timeout or non-2xx status).
  type: int
  returned: always
counts:
  description: Answers per backend name.
  type: dict
  returned: always
  sample: {web1: 40, web2: 20, web3: 10}
order:
  description: The backend that answered each request, in order (null for a failure).
  type: list
  elements: str
  returned: when O(record_order=true) and O(count) <= 100,000
errors:
  description: Failures by kind.
  type: dict
  returned: always
  sample: {connection refused: 2}
by_path:
  description: For each of O(paths), the backend that answered it last.
  type: dict
  returned: when O(paths) is given
by_source:
  description: For each of O(source_addresses), answers per backend name.
  type: dict
  returned: when O(source_addresses) is given
elapsed:
  description: Seconds the requests took.
  type: float
  returned: always
requests_per_second:
  description: Requests per second.
  type: float
  returned: always
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import Prober, Target

MAX_COUNT = 1_000_000
MAX_ORDER = 100_000


def count_traffic(
    url: str,
    count: int,
    timeout: float = 2.0,
    concurrency: int = 1,
    keepalive: bool = False,
    backend_header: str = "X-Backend",
    host_header: str | None = None,
    headers: dict | None = None,
    paths: list | None = None,
    source_addresses: list | None = None,
    record_order: bool = True,
) -> dict:
    target = Target(url)
    paths = list(paths or [])
    sources = list(source_addresses or [])
    order: list = [None] * count
    counts: dict = {}
    errors: dict = {}
    by_path: dict = {}
    by_source: dict = {source: {} for source in sources}
    lock = threading.Lock()

    def tally(result, path: str | None, source: str | None) -> None:
        with lock:
            if not result.ok:
                errors[result.error] = errors.get(result.error, 0) + 1
                return
            if path is not None:
                by_path[path] = result.backend
            if source is not None:
                by_source[source][result.backend] = by_source[source].get(result.backend, 0) + 1

    def worker(indices: range) -> None:
        prober = Prober(target, timeout, backend_header, host_header, headers, keepalive)
        try:
            for i in indices:
                path = paths[i % len(paths)] if paths else None
                source = sources[i % len(sources)] if sources else None
                result = prober.get(path, source)
                order[i] = result.backend if result.ok else None
                tally(result, path, source)
        finally:
            prober.close()

    started = time.monotonic()
    if concurrency <= 1:
        worker(range(count))
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(worker, [range(k, count, concurrency) for k in range(concurrency)]))
    elapsed = time.monotonic() - started
    for name in order:
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    succeeded = sum(counts.values())
    result = {
        "total": count,
        "succeeded": succeeded,
        "failures": count - succeeded,
        "counts": counts,
        "errors": errors,
        "elapsed": round(elapsed, 4),
        "requests_per_second": round(count / elapsed, 1) if elapsed > 0 else 0.0,
    }
    if record_order and count <= MAX_ORDER:
        result["order"] = order
    if paths:
        result["by_path"] = by_path
    if sources:
        result["by_source"] = by_source
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "count": {"type": "int", "required": True},
            "timeout": {"type": "float", "default": 2.0},
            "concurrency": {"type": "int", "default": 1},
            "keepalive": {"type": "bool", "default": False},
            "backend_header": {"type": "str", "default": "X-Backend"},
            "host_header": {"type": "str"},
            "headers": {"type": "dict", "default": {}},
            "paths": {"type": "list", "elements": "str", "default": []},
            "source_addresses": {"type": "list", "elements": "str", "default": []},
            "record_order": {"type": "bool", "default": True},
            "fail_on_error": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not 1 <= p["count"] <= MAX_COUNT:
        module.fail_json(msg=f"count must lie within 1..{MAX_COUNT}, got {p['count']}")
    if not 1 <= p["concurrency"] <= 256:
        module.fail_json(msg=f"concurrency must lie within 1..256, got {p['concurrency']}")
    if not 0 < p["timeout"] <= 60:
        module.fail_json(msg=f"timeout must lie within 0..60 seconds, got {p['timeout']}")
    try:
        result = count_traffic(
            p["url"],
            p["count"],
            timeout=p["timeout"],
            concurrency=p["concurrency"],
            keepalive=p["keepalive"],
            backend_header=p["backend_header"],
            host_header=p["host_header"],
            headers=p["headers"],
            paths=p["paths"],
            source_addresses=p["source_addresses"],
            record_order=p["record_order"],
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if p["fail_on_error"] and result["failures"]:
        module.fail_json(msg=f"{result['failures']} of {result['total']} requests failed: {result['errors']}", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
