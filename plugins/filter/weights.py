# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters weight_distribution, wrr_schedule and distribution_fit (documented in the .yml files beside)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.lbstack.ha.plugins.plugin_utils import _weights


def _plain(value: Any) -> Any:
    """Ansible hands over its own container types; the core wants plain lists and dicts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _call(name: str, func, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()})
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{name}: {exc}") from exc


def weight_distribution(backends: Any, max_weight: Any = 256, min_weight: Any = 1) -> list[dict[str, Any]]:
    return _call("weight_distribution", _weights.weight_distribution, backends, max_weight, min_weight)


def wrr_schedule(backends: Any, count: Any) -> list[str]:
    return _call("wrr_schedule", _weights.wrr_schedule, backends, count)


def distribution_fit(observed: Any, backends: Any, tolerance: Any = 0.05, alpha: Any = 0.001) -> dict[str, Any]:
    return _call("distribution_fit", _weights.distribution_fit, observed, backends, tolerance, alpha)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "weight_distribution": weight_distribution,
            "wrr_schedule": wrr_schedule,
            "distribution_fit": distribution_fit,
        }
