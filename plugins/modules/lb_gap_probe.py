#!/usr/bin/python
# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_gap_probe
short_description: Probe an address continuously and report the longest gap between successful responses
version_added: 0.1.0
author: lbstack maintainers
description:
  - Sends an HTTP GET to O(url) every O(interval) seconds for O(duration) seconds, each on a new TCP connection
    with its own O(timeout), and reports the longest interval between two consecutive successful responses,
    what a client sees of a failover.
  - Meant to run in the background with C(async) and C(poll=0) while a fault is injected, then collected with
    M(ansible.builtin.async_status).
  - A read-only probe, run on a client host; it never changes anything.
options:
  url:
    description: The C(http://) URL to probe, usually the VIP.
    type: str
    required: true
  duration:
    description: Seconds to probe, up to 600.
    type: float
    required: true
  interval:
    description: Seconds between the starts of two probes (a slow probe delays the next one).
    type: float
    default: 0.01
  timeout:
    description: Timeout of each probe (connect and read), in seconds.
    type: float
    default: 0.5
  backend_header:
    description: Response header naming the backend; when absent the first body line is used.
    type: str
    default: X-Backend
  max_events:
    description: Longest timeline returned.
    type: int
    default: 200
attributes:
  check_mode:
    support: full
    details: Probes in check mode too; it changes nothing.
  diff_mode:
    support: none
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

- name: Show the gap
  ansible.builtin.debug:
    msg: "longest gap {{ probe.longest_gap }} s"
"""

RETURN = r"""
probes:
  description: Probes sent.
  type: int
  returned: always
succeeded:
  description: Probes answered with a 2xx status.
  type: int
  returned: always
failures:
  description: Probes that failed.
  type: int
  returned: always
longest_gap:
  description:
    - Longest interval in seconds between the completions of two consecutive successful probes; the probing
      period itself when fewer than two probes succeeded.
    - With no fault it is about O(interval) plus one request's time.
  type: float
  returned: always
gap_start:
  description: Seconds after the start when the longest gap began (the last success before it).
  type: float
  returned: always
gap_end:
  description: Seconds after the start when the longest gap ended (the first success after it).
  type: float
  returned: always
first_success_after:
  description: Seconds from the start to the first success (the whole duration when none succeeded).
  type: float
  returned: always
last_success_before_end:
  description: Seconds from the last success to the end of probing (the whole duration when none succeeded).
  type: float
  returned: always
counts:
  description: Answers per backend name.
  type: dict
  returned: always
errors:
  description: Failures by kind.
  type: dict
  returned: always
timeline:
  description:
    - Transitions with C(t) in seconds from the start. C(ok) with the answering C(backend) when answers start
      or return after failures, C(fail) with the C(error) when failures start or their kind changes.
  type: list
  elements: dict
  returned: always
duration:
  description: Seconds actually spent probing.
  type: float
  returned: always
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbstack.ha.plugins.module_utils._http_probe import Prober, Target

MAX_DURATION = 600.0


def probe_gaps(
    url: str,
    duration: float,
    interval: float = 0.01,
    timeout: float = 0.5,
    backend_header: str = "X-Backend",
    max_events: int = 200,
) -> dict:
    prober = Prober(Target(url), timeout, backend_header)
    start = time.monotonic()
    deadline = start + duration
    successes: list[float] = []
    counts: dict = {}
    errors: dict = {}
    timeline: list[dict] = []
    last_event: tuple | None = None
    probes = 0
    next_at = start
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if now < next_at:
            time.sleep(min(next_at - now, deadline - now))
            continue
        next_at += interval
        next_at = max(next_at, now)
        result = prober.get()
        probes += 1
        if result.ok:
            successes.append(result.finished - start)
            counts[result.backend] = counts.get(result.backend, 0) + 1
            event = ("ok", None)
        else:
            errors[result.error] = errors.get(result.error, 0) + 1
            event = ("fail", result.error)
        if event != last_event and len(timeline) < max_events:
            detail = {"backend": result.backend} if result.ok else {"error": result.error}
            timeline.append({"t": round(result.finished - start, 3), "event": event[0], **detail})
        last_event = event
    spent = time.monotonic() - start

    gap, gap_start, gap_end = spent, 0.0, spent
    if len(successes) >= 2:
        gap, gap_start, gap_end = max((b - a, a, b) for a, b in zip(successes, successes[1:]))
    return {
        "probes": probes,
        "succeeded": len(successes),
        "failures": probes - len(successes),
        "longest_gap": round(gap, 4),
        "gap_start": round(gap_start, 4),
        "gap_end": round(gap_end, 4),
        "first_success_after": round(successes[0] if successes else spent, 4),
        "last_success_before_end": round(spent - successes[-1] if successes else spent, 4),
        "counts": counts,
        "errors": errors,
        "timeline": timeline,
        "duration": round(spent, 4),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "duration": {"type": "float", "required": True},
            "interval": {"type": "float", "default": 0.01},
            "timeout": {"type": "float", "default": 0.5},
            "backend_header": {"type": "str", "default": "X-Backend"},
            "max_events": {"type": "int", "default": 200},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not 0 < p["duration"] <= MAX_DURATION:
        module.fail_json(msg=f"duration must lie within 0..{MAX_DURATION:g} seconds, got {p['duration']}")
    if not 0.001 <= p["interval"] <= 60:
        module.fail_json(msg=f"interval must lie within 0.001..60 seconds, got {p['interval']}")
    if not 0 < p["timeout"] <= 60:
        module.fail_json(msg=f"timeout must lie within 0..60 seconds, got {p['timeout']}")
    if p["max_events"] < 0:
        module.fail_json(msg=f"max_events must be >= 0, got {p['max_events']}")
    try:
        result = probe_gaps(p["url"], p["duration"], p["interval"], p["timeout"], p["backend_header"], p["max_events"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
