# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters operator_state_apply, operator_state_update, operator_state_describe and operator_state_drain_targets
(documented in the .yml files beside). Thin wrappers around plugin_utils/_operator_state.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.lbstack.ha.plugins.plugin_utils._filter_errors import run_filter
from ansible_collections.lbstack.ha.plugins.plugin_utils._operator_state import (
    apply_state,
    describe,
    drain_targets,
    update_state,
)


def operator_state_apply(pools: Any, state: Any) -> list[dict[str, Any]]:
    return run_filter(apply_state, pools, state)


def operator_state_update(
    state: Any, pools: Any, action: Any, server: Any = None, pool: Any = "*", weight: Any = None
) -> dict[str, Any]:
    return run_filter(update_state, state, pools, action, server, pool, weight)


def operator_state_describe(state: Any) -> list[str]:
    return run_filter(describe, state)


def operator_state_drain_targets(applied: Any, action: Any, server: Any = None, pool: Any = "*") -> dict[str, Any]:
    return run_filter(drain_targets, applied, action, server, pool)


class FilterModule:
    """lbstack.ha operator state filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "operator_state_apply": operator_state_apply,
            "operator_state_update": operator_state_update,
            "operator_state_describe": operator_state_describe,
            "operator_state_drain_targets": operator_state_drain_targets,
        }
