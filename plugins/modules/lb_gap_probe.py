#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_gap_probe
short_description: Probe an address continuously and report the longest gap between successful responses
version_added: 0.1.0
author: lbstack maintainers (@lbstack)
description:
  - Sends an HTTP GET to O(url) every O(interval) seconds for O(duration) seconds, each on a new TCP
    connection (or, with O(keepalive), on one kept alive) that may take at most O(timeout) seconds, connect and
    whole answer included, and reports the
    longest interval between two consecutive successful responses, what a client sees of a failover.
  - A probe succeeds when it gets a 2xx answer. The answering backend is named by a response header (default
    C(X-Backend)) or, without it, by the first line of the body.
  - Probes run one at a time; a probe slower than O(interval) delays the next one, which then starts at once.
    The last probe, started before O(duration) ends, may end up to O(timeout) later.
  - Meant to run in the background with C(async) and C(poll=0) while a fault is injected, then collected with
    M(ansible.builtin.async_status). O(start_at) lets several probes, or a probe and a fault, start together.
  - A read-only probe, run on a client host with nothing but Python's standard library; it never changes
    anything and always returns C(changed=false). Failed probes are counted, never fatal.
  - The number of failed probes is RV(failures), because C(failed) is the task status in Ansible.
options:
  url:
    description: The C(http://) URL to probe, usually the VIP. C(https) is not supported.
    type: str
    required: true
  duration:
    description: Seconds to probe; above 0, at most 600.
    type: float
    required: true
  interval:
    description: Seconds between the starts of two probes, 0.001 to 60.
    type: float
    default: 0.01
  timeout:
    description: Deadline of each probe in seconds, connect and whole answer included; above 0, at most 60.
    type: float
    default: 0.5
  backend_header:
    description:
      - Response header naming the backend. When the answer lacks it, the first line of the body is used.
      - The empty string uses the body only.
    type: str
    default: X-Backend
  host_header:
    description: C(Host) header to send instead of the URL's host.
    type: str
  start_at:
    description:
      - Wall-clock time (seconds since the epoch, as C(date +%s.%N) prints it) to start probing at; the
        module waits until then. A time in the past starts at once; more than 600 s ahead is refused.
      - Lets a playbook start the probe with C(async) and inject the fault at a known moment.
    type: float
  max_events:
    description:
      - Longest RV(timeline) returned, 0 to 10,000. Later events are dropped and RV(timeline_truncated) set.
    type: int
    default: 200
  timeline_backend_changes:
    description:
      - Also add an event to RV(timeline) whenever the answering backend changes between two successes.
      - Off by default, because behind a round-robin balancer the backend changes at every probe.
    type: bool
    default: false
  keepalive:
    description:
      - Send every probe on one HTTP/1.1 connection kept alive, as a browser or an API client does, instead of a
        new connection per probe.
      - A connection the server closed while it was idle is replaced before the next probe (checked as urllib3
        checks a pooled connection, counted in RV(closed_idle)); one whose answer announces its close (header
        C(Connection) C(close)) is replaced after that answer (RV(closed_announced)).
      - A probe is never sent twice. A kept-alive connection that closes or resets under a probe fails that probe,
        which is what a client without retries sees across a reload.
    type: bool
    default: false
  stop_file:
    description:
      - Path on the probing host; probing ends before the next probe once a file exists there (looked for
        before every probe), and RV(stopped_by_file) is set. O(duration) stays the upper bound.
      - Lets a playbook end a background probe as soon as the fault is over (the new holder answers) instead
        of waiting out a window long enough for the slowest case. A file already there when probing starts
        ends it before the first probe; remove it first.
    type: path
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Probes in check mode too; a GET changes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: lbstack.ha.lb_traffic_count
  - module: lbstack.ha.vip_holder
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Probe the VIP for 10 s in the background
  lbstack.ha.lb_gap_probe:
    url: http://192.0.2.10/
    duration: 10
  async: 60
  poll: 0
  register: probe_job

- name: Kill the master here
  community.docker.docker_container:
    name: lb1
    state: stopped
    force_kill: true
  delegate_to: localhost

- name: Collect the probe
  ansible.builtin.async_status:
    jid: "{{ probe_job.ansible_job_id }}"
  register: probe
  until: probe.finished
  retries: 60
  delay: 1

- name: The clients saw less than 3 s without an answer, and answers came back
  ansible.builtin.assert:
    that:
      - probe.longest_gap < 3
      - probe.last_success_before_end < 1
    fail_msg: "longest gap {{ probe.longest_gap }} s; timeline {{ probe.timeline }}"

- name: Start probing from two clients at the same moment, 5 s from now
  lbstack.ha.lb_gap_probe:
    url: http://192.0.2.10/
    duration: 10
    start_at: "{{ now().timestamp() + 5 }}"
  async: 60
  poll: 0
  register: probe_jobs
  delegate_to: "{{ item }}"
  loop: [client1, client2]
"""

RETURN = r"""
probes:
  description: Probes sent.
  type: int
  returned: always
  sample: 812
succeeded:
  description: Probes answered with a 2xx status.
  type: int
  returned: always
  sample: 790
failures:
  description: Probes that failed (network error, timeout or non-2xx status); RV(probes) - RV(succeeded).
  type: int
  returned: always
  sample: 22
longest_gap:
  description:
    - Longest interval in seconds between the ends of two consecutive successful probes. With no fault it is
      about O(interval) plus one request's time; a fault shows as the time the clients got no answer.
    - The edges (start to first success, last success to end) are not part of it; see
      RV(first_success_after) and RV(last_success_before_end).
    - With fewer than two successful probes there is no such interval, and it is the whole RV(duration).
    - Probes run one at a time, so a probe that hangs while the service comes back ends the gap late; the
      figure may overstate an outage by up to O(timeout).
  type: float
  returned: always
  sample: 1.284
gap_start:
  description: Seconds after the start when the longest gap began (the end of the success before it).
  type: float
  returned: always
  sample: 3.021
gap_end:
  description: Seconds after the start when the longest gap ended (the end of the first success after it).
  type: float
  returned: always
  sample: 4.305
gap_start_epoch:
  description: RV(gap_start) as wall-clock time, seconds since the epoch.
  type: float
  returned: always
gap_end_epoch:
  description: RV(gap_end) as wall-clock time, seconds since the epoch.
  type: float
  returned: always
started_at:
  description: Wall-clock time probing started, seconds since the epoch; RV(timeline) times count from it.
  type: float
  returned: always
waited:
  description: Seconds waited for O(start_at) before probing.
  type: float
  returned: always
first_success_after:
  description: Seconds from the start to the end of the first success (the whole duration if none succeeded).
  type: float
  returned: always
last_success_before_end:
  description: Seconds from the end of the last success to the end of probing (the whole duration when none
    succeeded). Well above O(interval) means the service had not come back when probing stopped.
  type: float
  returned: always
slowest_success:
  description: Seconds the slowest successful probe took (0 when none succeeded).
  type: float
  returned: always
counts:
  description: Successful answers per backend name.
  type: dict
  returned: always
  sample: {web1: 400, web2: 390}
errors:
  description: Failures by kind (at most 20 kinds, the rest as C(other)).
  type: dict
  returned: always
  sample: {connection refused: 20, connect timeout: 2}
timeline:
  description:
    - Transitions, each with C(t) in seconds from the start, in order.
    - C(event=ok) with the answering C(backend) when answers start or come back after failures (and, with
      O(timeline_backend_changes), when the backend changes); its C(t) is the end of that successful probe.
    - C(event=fail) with the C(error) when failures start or their kind changes; its C(t) is the start of that
      failing probe (a probe that times out is known to fail only O(timeout) later).
  type: list
  elements: dict
  returned: always
  sample: [{t: 0.003, event: ok, backend: web1}, {t: 3.03, event: fail, error: connect timeout},
           {t: 4.305, event: ok, backend: web2}]
timeline_truncated:
  description: Whether events were dropped because RV(timeline) reached O(max_events).
  type: bool
  returned: always
duration:
  description: Seconds actually spent probing (O(duration) plus at most one probe's time, or less with O(stop_file)).
  type: float
  returned: always
stopped_by_file:
  description: Whether O(stop_file) appeared and ended probing before O(duration).
  type: bool
  returned: always
connections:
  description: TCP connections opened (one per probe without O(keepalive)).
  type: int
  returned: always
closed_idle:
  description: With O(keepalive), connections the server had closed while idle, replaced before the next probe.
  type: int
  returned: always
closed_announced:
  description: With O(keepalive), answers that announced their close (C(Connection) C(close)); a new one followed.
  type: int
  returned: always
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import (
    Prober,
    Target,
    count_error,
    is_header_name,
    is_header_value,
)

MAX_DURATION = 600.0
MAX_START_AHEAD = 600.0
MAX_EVENTS = 10_000


ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "duration": {"type": "float", "required": True},
    "interval": {"type": "float", "default": 0.01},
    "timeout": {"type": "float", "default": 0.5},
    "backend_header": {"type": "str", "default": "X-Backend"},
    "host_header": {"type": "str"},
    "start_at": {"type": "float"},
    "max_events": {"type": "int", "default": 200},
    "timeline_backend_changes": {"type": "bool", "default": False},
    "stop_file": {"type": "path"},
    "keepalive": {"type": "bool", "default": False},
}


def wait_until(start_at: float | None, clock=time.time, sleep=time.sleep) -> float:
    """Sleeps until the wall-clock time `start_at` (at most MAX_START_AHEAD); returns the seconds waited."""
    if start_at is None:
        return 0.0
    began = clock()
    limit = began + MAX_START_AHEAD  # even if the clock is stepped back meanwhile
    waits = 0
    while waits < 100_000:
        now = clock()
        if now >= start_at or now >= limit:
            break
        sleep(min(start_at - now, 1.0))
        waits += 1
    return max(0.0, clock() - began)


def probe_gaps(
    url: str,
    duration: float,
    interval: float = 0.01,
    timeout: float = 0.5,
    backend_header: str | None = "X-Backend",
    max_events: int = 200,
    host_header: str | None = None,
    start_at: float | None = None,
    timeline_backend_changes: bool = False,
    stop_file: str | None = None,
    keepalive: bool = False,
) -> dict:
    """Probes and returns the module's figures; raises ValueError for a bad URL only."""
    prober = Prober(Target(url), timeout, backend_header, host_header, keepalive=keepalive, retry_stale=False)
    waited = wait_until(start_at)
    wall_start = time.time()
    start = time.monotonic()
    deadline = start + duration
    counts: dict = {}
    errors: dict = {}
    timeline: list = []
    truncated = False
    last_state: tuple | None = None
    probes = succeeded = 0
    first_ok = last_ok = None
    gap, gap_start, gap_end = -1.0, 0.0, 0.0
    slowest = 0.0
    next_at = start
    stopped_by_file = False
    while probes < 10_000_000:  # bounded by the deadline; the count is a second guard
        now = time.monotonic()
        if now >= deadline:
            break
        if now < next_at:
            time.sleep(min(next_at - now, deadline - now))
            continue
        if stop_file and os.path.exists(stop_file):
            stopped_by_file = True
            break
        next_at = max(next_at + interval, now)
        result = prober.get()
        probes += 1
        t = result.finished - start
        if result.ok:
            succeeded += 1
            counts[result.backend] = counts.get(result.backend, 0) + 1
            slowest = max(slowest, result.elapsed)
            if last_ok is None:
                first_ok = t
            elif t - last_ok > gap:
                gap, gap_start, gap_end = t - last_ok, last_ok, t
            last_ok = t
            state = ("ok", result.backend if timeline_backend_changes else None)
        else:
            count_error(errors, result.error)
            state = ("fail", result.error)
        if state != last_state:
            if len(timeline) < max_events:
                if result.ok:  # answers are seen when they end, failures from when the failing probe began
                    event = {"t": round(t, 4), "event": "ok", "backend": result.backend}
                else:
                    event = {"t": round(result.started - start, 4), "event": "fail", "error": result.error}
                timeline.append(event)
            else:
                truncated = True
        last_state = state
    spent = time.monotonic() - start
    prober.close()

    if succeeded < 2:
        gap, gap_start, gap_end = spent, 0.0, spent
    return {
        "probes": probes,
        "succeeded": succeeded,
        "failures": probes - succeeded,
        "longest_gap": round(gap, 4),
        "gap_start": round(gap_start, 4),
        "gap_end": round(gap_end, 4),
        "gap_start_epoch": round(wall_start + gap_start, 4),
        "gap_end_epoch": round(wall_start + gap_end, 4),
        "started_at": round(wall_start, 4),
        "waited": round(waited, 4),
        "first_success_after": round(spent if first_ok is None else first_ok, 4),
        "last_success_before_end": round(spent if last_ok is None else spent - last_ok, 4),
        "slowest_success": round(slowest, 4),
        "counts": counts,
        "errors": errors,
        "timeline": timeline,
        "timeline_truncated": truncated,
        "duration": round(spent, 4),
        "stopped_by_file": stopped_by_file,
        "connections": prober.connections,
        "closed_idle": prober.closed_idle,
        "closed_announced": prober.closed_announced,
    }


def check_arguments(p: dict, now: float) -> str | None:
    """The first problem with the module's arguments, or None."""
    if not 0 < p["duration"] <= MAX_DURATION:
        return f"duration must be above 0 and at most {MAX_DURATION:g} seconds, got {p['duration']}"
    if not 0.001 <= p["interval"] <= 60:
        return f"interval must lie within 0.001..60 seconds, got {p['interval']}"
    if not 0 < p["timeout"] <= 60:
        return f"timeout must be above 0 and at most 60 seconds, got {p['timeout']}"
    if not 0 <= p["max_events"] <= MAX_EVENTS:
        return f"max_events must lie within 0..{MAX_EVENTS}, got {p['max_events']}"
    if p["start_at"] is not None and p["start_at"] > now + MAX_START_AHEAD:
        return (
            f"start_at is {p['start_at'] - now:.1f} s from now; it must be at most"
            f" {MAX_START_AHEAD:g} s ahead (seconds since the epoch, not a delay)"
        )
    if p["backend_header"] and not is_header_name(p["backend_header"]):
        return f"backend_header must be an HTTP header name, got {p['backend_header']!r}"
    if p["host_header"] is not None and not is_header_value(p["host_header"]):
        return f"host_header must be Latin-1 without control characters, got {p['host_header']!r}"
    try:
        Target(p["url"])
    except ValueError as exc:
        return f"url: {exc}"
    return None


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    problem = check_arguments(p, time.time())
    if problem:
        module.fail_json(msg=problem)
    result = probe_gaps(
        p["url"],
        p["duration"],
        interval=p["interval"],
        timeout=p["timeout"],
        backend_header=p["backend_header"] or None,
        max_events=p["max_events"],
        host_header=p["host_header"],
        start_at=p["start_at"],
        timeline_backend_changes=p["timeline_backend_changes"],
        stop_file=p["stop_file"],
        keepalive=p["keepalive"],
    )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
