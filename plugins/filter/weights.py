# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters weight_distribution, pool_weights, wrr_schedule and distribution_fit (documented in the .yml files beside).

Thin wrappers: the logic and the input checks live in plugin_utils/_weights.py, which raises only
ValueError and TypeError; here those become AnsibleFilterError (Ansible puts the filter's name in front).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.lbstack.ha.plugins.plugin_utils._filter_errors import run_filter
from ansible_collections.lbstack.ha.plugins.plugin_utils._weights import (
    distribution_fit,
    pool_weights,
    type_name,
    weight_distribution,
    wrr_schedule,
)


def _require_list(what: str, value: Any) -> None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise AnsibleFilterError(f"{what} must be a list of mappings, got {type_name(value)}")


def weight_distribution_filter(
    backends: Any,
    max_weight: Any = 256,
    min_weight: Any = 1,
) -> list[dict[str, Any]]:
    _require_list("backends", backends)
    return run_filter(weight_distribution, backends, max_weight, min_weight)


def pool_weights_filter(
    servers: Any,
    engine: Any = "haproxy",
    ring: Any = False,
    max_weight: Any = None,
    ring_per_capacity: Any = 16,
) -> dict[str, Any]:
    _require_list("servers", servers)
    return run_filter(pool_weights, servers, engine, ring, max_weight, ring_per_capacity)


def wrr_schedule_filter(backends: Any, count: Any) -> list[str]:
    _require_list("backends", backends)
    return run_filter(wrr_schedule, backends, count)


def distribution_fit_filter(
    observed: Any,
    backends: Any,
    tolerance: Any = 0.05,
    alpha: Any = 0.001,
) -> dict[str, Any]:
    if not isinstance(observed, Mapping):
        kind = type_name(observed)
        raise AnsibleFilterError(f"observed must be a mapping of backend name to count, got {kind}")
    _require_list("backends", backends)
    return run_filter(distribution_fit, observed, backends, tolerance, alpha)


class FilterModule:
    """lbstack.ha weight filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "weight_distribution": weight_distribution_filter,
            "pool_weights": pool_weights_filter,
            "wrr_schedule": wrr_schedule_filter,
            "distribution_fit": distribution_fit_filter,
        }
