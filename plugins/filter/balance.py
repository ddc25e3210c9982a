# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters balance_directives and sequence_periods (documented in the .yml files beside).

A thin wrapper: the vocabulary and its checks live in plugin_utils/_balance.py, which raises only
ValueError and TypeError; here those become AnsibleFilterError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.lbstack.ha.plugins.plugin_utils._balance import balance_directives, sequence_periods
from ansible_collections.lbstack.ha.plugins.plugin_utils._filter_errors import run_filter


def balance_directives_filter(pool: Any, engine: Any) -> dict[str, Any]:
    return run_filter(balance_directives, pool, engine)


def sequence_periods_filter(order: Any, max_period: Any) -> list[int]:
    return run_filter(sequence_periods, order, max_period)


class FilterModule:
    """lbstack.ha balancing filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"balance_directives": balance_directives_filter, "sequence_periods": sequence_periods_filter}
